//! `weld plan --costs http://HOST:PORT/metrics`: a running host's metrics
//! read where it serves them, instead of from a saved scrape.

use super::{CostError, MAX_SCRAPE_BYTES};
use std::io::Read as _;
use std::time::Duration;

/// How long reading a host's metrics may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `source` names a URL to read rather than a file.
pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The body `url` answers a `GET` with, at most [`MAX_SCRAPE_BYTES`],
/// read as it arrives (a length the server declares reserves nothing),
/// within [`FETCH_TIMEOUT`].
///
/// # Errors
/// [`CostError::Fetch`]: a URL that is not `http://`, no answer in time, a
/// status other than 2xx, or a body past the cap.
pub(super) fn fetch(url: &str) -> Result<Vec<u8>, CostError> {
    let fail = |problem: String| CostError::Fetch {
        url: url.to_string(),
        problem,
    };
    if !url.starts_with("http://") {
        return Err(fail(
            "is not an http:// URL (a host serves its metrics over plain HTTP)".into(),
        ));
    }
    // On a thread of its own: reqwest's blocking client runs a runtime,
    // which may be neither made nor dropped inside another (an embedder
    // calling this from async code).
    let url_owned = url.to_string();
    let read = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(&url_owned)
            .send()
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let mut body = Vec::new();
        response
            .take(MAX_SCRAPE_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the answer failed: {e}"))?;
        if body.len() as u64 > MAX_SCRAPE_BYTES {
            return Err(format!("answered more than {MAX_SCRAPE_BYTES} bytes"));
        }
        Ok(body)
    });
    read.join()
        .unwrap_or_else(|_| Err("the reading thread panicked".into()))
        .map_err(fail)
}
