//! Outgoing HTTP as the manifest grants it (`http-out`): a handler reaches
//! a granted upstream on loopback, is denied any other before a connection
//! is made, waits for a stalled upstream no longer than its deadline, and
//! a component that imports outgoing HTTP without a grant does not plan.

use crate::http::{request, serve_host};
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weld_linker::input::InputLimits;
use weld_linker::{Deployment, DiagnosticKind, PlanOptions};

/// A loopback HTTP/1.1 server on its own thread: answers each request
/// with `hi from upstream <path>`, or, when `stall`, reads it and never
/// answers. Counts the connections it accepts.
struct Upstream {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Upstream {
    fn start(stall: bool) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let mut head = [0u8; 4096];
                let n = stream.read(&mut head).unwrap_or(0);
                if stall {
                    held.push(stream);
                    continue;
                }
                let head = String::from_utf8_lossy(&head[..n]);
                let path = head.split(' ').nth(1).unwrap_or("?").to_string();
                let body = format!("hi from upstream {path}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Upstream { address, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The two handlers that fetch: WASI 0.2's `outgoing-handler` and 0.3's
/// `client`.
const FETCHERS: [&str; 2] = ["http-fetch", "http-fetch-p3"];

/// A manifest of the `fixture` handler as `fetch`, with `keys` in its table.
fn manifest_of(dir: &std::path::Path, fixture: &str, keys: &str) -> std::path::PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!("[components.fetch]\npath = \"{{{fixture}}}\"\n{keys}\n"),
    )
}

/// A manifest of the `http-fetch` handler with `keys` in its table.
fn fetch_manifest(dir: &std::path::Path, keys: &str) -> std::path::PathBuf {
    manifest_of(dir, "http-fetch", keys)
}

#[test]
fn a_granted_upstream_is_reached_and_any_other_denied_before_a_connection() {
    for fixture in FETCHERS {
        let granted = Upstream::start(false);
        let other = Upstream::start(false);
        let dir = tempfile::tempdir().unwrap();
        let keys = format!("http-out = [\"{}\"]", granted.address);
        let server = serve_host(manifest_of(dir.path(), fixture, &keys), "default", |_| {});
        let fetch = |target: String| {
            request(
                server.address,
                "GET",
                &format!("/fetch/{target}"),
                b"",
                None,
            )
        };
        let (status, _, body) = fetch(format!("{}/hi", granted.address));
        assert_eq!(
            (status, body.as_str()),
            (200, "upstream said: 200 hi from upstream /hi"),
            "{fixture}"
        );
        // Another port of the same address, the same port by another
        // name, and another address: each denied, and nothing connects.
        for target in [
            format!("{}/x", other.address),
            format!("localhost:{}/x", granted.address.port()),
            format!("127.0.0.2:{}/x", granted.address.port()),
        ] {
            let (status, _, body) = fetch(target.clone());
            assert_eq!(
                (status, body.as_str()),
                (403, "denied by the host"),
                "{fixture}: {target}"
            );
        }
        assert_eq!(other.accepted(), 0, "{fixture}");
        assert_eq!(granted.accepted(), 1, "{fixture}");
        let stats = server.stop();
        assert_eq!((stats.answered, stats.failed), (4, 0), "{fixture}: {stats}");
    }
}

#[test]
fn a_stalled_upstream_costs_the_handler_its_deadline_not_a_worker() {
    for fixture in FETCHERS {
        let stalled = Upstream::start(true);
        let dir = tempfile::tempdir().unwrap();
        let keys = format!("http-out = [\"{}\"]\ndeadline-ms = 500", stalled.address);
        let server = serve_host(manifest_of(dir.path(), fixture, &keys), "default", |_| {});
        let started = Instant::now();
        let path = format!("/fetch/{}/slow", stalled.address);
        let (status, _, body) = request(server.address, "GET", &path, b"", None);
        let took = started.elapsed();
        // wasmtime-wasi-http would wait ten minutes for the first byte;
        // the wait is capped at the component's deadline.
        assert_eq!(status, 502, "{fixture}: {body}");
        assert!(body.contains("ConnectionReadTimeout"), "{fixture}: {body}");
        assert!(took < Duration::from_secs(5), "{fixture}: {took:?}");
        assert_eq!(stalled.accepted(), 1, "{fixture}");
        let (status, _, _) = request(server.address, "GET", "/other", b"", None);
        assert_eq!(status, 404, "{fixture}");
        server.stop();
    }
}

fn plan(manifest: &std::path::Path) -> Result<Deployment, weld_linker::Diagnostics> {
    Deployment::open(
        &[manifest.to_path_buf()],
        &PlanOptions::default(),
        &InputLimits::default(),
    )
}

#[test]
fn outgoing_http_without_a_grant_does_not_plan_and_a_grant_without_it_warns() {
    let dir = tempfile::tempdir().unwrap();
    let e = plan(&fetch_manifest(dir.path(), "")).expect_err("refused");
    let refused: Vec<_> =
        e.0.iter()
            .filter(|d| d.kind == DiagnosticKind::NotGranted)
            .collect();
    assert_eq!(refused.len(), 1, "{e}");
    assert!(
        refused[0]
            .message
            .starts_with("component `fetch` imports `wasi:http/outgoing-handler@0.2"),
        "{e}"
    );
    assert!(
        refused[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("http-out = ["),
        "{e}"
    );
    // An empty list grants nothing, so it is refused the same way.
    let e = plan(&fetch_manifest(dir.path(), "http-out = []")).expect_err("refused");
    assert!(
        e.0.iter().any(|d| d.kind == DiagnosticKind::NotGranted),
        "{e}"
    );

    let manifest = weld_fixtures::write_manifest(
        dir.path(),
        "[components.hello]\npath = \"{http-hello}\"\nhttp-out = [\"api.example.com\"]\n",
    );
    let d = plan(&manifest).unwrap();
    let warnings: Vec<_> = d
        .plan
        .warnings
        .iter()
        .map(|w| (w.kind, w.message.clone()))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].0, DiagnosticKind::UnusedSetting);
    assert!(
        warnings[0].1.contains("`http-out` has no effect"),
        "{warnings:?}"
    );
}

#[test]
fn an_http_out_entry_that_is_not_a_host_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fetch_manifest(dir.path(), "http-out = [\"https://api.example.com\"]");
    let e = plan(&manifest).expect_err("refused");
    let text = e.to_string();
    assert!(text.contains("is a URL: write the host alone"), "{text}");
    assert!(
        e.0[0].location.as_ref().is_some_and(|l| l.line == 3),
        "{text}"
    );
}

#[test]
fn grants_belong_to_each_handler_store_not_to_the_host() {
    let (x, y) = (Upstream::start(false), Upstream::start(false));
    let dir = tempfile::tempdir().unwrap();
    let manifest = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            "[components.a]\npath = \"{{http-fetch}}\"\nroute = \"/a\"\nhttp-out = [\"{}\"]\n\
             [components.b]\npath = \"{{http-fetch-p3}}\"\nroute = \"/b\"\nhttp-out = [\"{}\"]\n",
            x.address, y.address
        ),
    );
    let server = serve_host(manifest, "default", |_| {});
    let get = |path: String| request(server.address, "GET", &path, b"", None).0;
    assert_eq!(get(format!("/a/fetch/{}/", x.address)), 200);
    assert_eq!(get(format!("/b/fetch/{}/", y.address)), 200);
    // Each handler's store holds its own grant, not the host's union.
    assert_eq!(get(format!("/a/fetch/{}/", y.address)), 403);
    assert_eq!(get(format!("/b/fetch/{}/", x.address)), 403);
    assert_eq!((x.accepted(), y.accepted()), (1, 1));
    server.stop();
}
