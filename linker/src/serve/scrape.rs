//! The metrics endpoint (`weld serve --metrics ADDR`): an
//! [`Observer`]'s counters in Prometheus' text format, answered to
//! `GET /metrics` by hyper's HTTP/1 server on a thread of its own, so a
//! scrape never waits for the host's calls, nor they for it.
//!
//! Whoever reaches the address reads what the host runs (component,
//! interface and function names, call counts), and nothing else: bind it
//! where only the scraper reaches. Each connection answers one request:
//! its head must arrive within [`HEAD_TIMEOUT`] and the whole exchange end
//! within [`CONNECTION_TIMEOUT`]; at most [`MAX_CONNECTIONS`] are open at
//! once, further clients wait in the kernel's backlog. Nothing a client
//! sends is read past the head (a body is refused), so a client cannot make
//! the endpoint hold more than hyper's head buffer per connection.

use crate::observe::{Observer, CONTENT_TYPE};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last, from accept to the last byte.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Why the metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The address could not be bound.
    #[error("cannot serve metrics on {address}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint's thread could not be started.
    #[error("cannot start the metrics endpoint's thread")]
    Thread(#[source] std::io::Error),
}

/// A running metrics endpoint; stopped when dropped (within
/// [`CONNECTION_TIMEOUT`], the longest a scrape can take).
pub struct MetricsServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `address` and answers scrapes of `observer` until dropped.
    ///
    /// # Errors
    /// [`ScrapeError::Bind`] when the address cannot be bound (taken, not
    /// this host's), [`ScrapeError::Thread`] when no thread can be made.
    pub fn start(address: SocketAddr, observer: Observer) -> Result<MetricsServer, ScrapeError> {
        let bind = |source| ScrapeError::Bind { address, source };
        let listener = std::net::TcpListener::bind(address).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ScrapeError::Thread)?;
        let thread = std::thread::Builder::new()
            .name("weld-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => accept(listener, observer, stopped).await,
                        Err(e) => tracing::warn!("the metrics endpoint cannot listen: {e}"),
                    }
                });
            })
            .map_err(ScrapeError::Thread)?;
        Ok(MetricsServer {
            address: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address bound (a port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stopped`; open ones end within their
/// timeout (the runtime drops them when this returns).
async fn accept(
    listener: tokio::net::TcpListener,
    observer: Observer,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&connections).acquire_owned() => p,
            _ = &mut stopped => return,
        };
        let Ok(permit) = permit else { return };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, say: try again shortly, not in a loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let observer = observer.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(8192);
            let service = hyper::service::service_fn(move |request| {
                let response = answer(&request, &observer);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await;
        });
    }
}

/// The answer to one request: the text for `GET /metrics` (and `HEAD`),
/// 404 elsewhere, 405 for another method, 400 with a body.
fn answer(request: &Request<Incoming>, observer: &Observer) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *r.status_mut() = status;
        r
    };
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    let has_body = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|l| l.as_bytes() != b"0")
        || request
            .headers()
            .contains_key(hyper::header::TRANSFER_ENCODING);
    if has_body {
        return plain(StatusCode::BAD_REQUEST, "a scrape has no body\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET reads metrics\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            "GET, HEAD".parse().expect("a valid header"),
        );
        return r;
    }
    let mut r = Response::new(Full::new(Bytes::from(observer.prometheus_text())));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        CONTENT_TYPE.parse().expect("a valid header"),
    );
    r
}
