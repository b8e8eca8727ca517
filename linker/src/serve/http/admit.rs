//! The connection side of a request: its route, the body cap, a worker's
//! permit (or 503), the hand-over to a worker, and the status weld answers
//! when the handler does not.

use super::worker::{Answer, Job, Outcome};
use super::{Counters, HttpCurrent, HttpPlan};
use crate::observe::{trace, Ended};
use crate::runtime::RuntimeError;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use opentelemetry::KeyValue;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use wasmtime_wasi_http::Error as HttpError;

/// The request body as the handler reads it: cut at the size limit.
pub(super) type RequestBody = UnsyncBoxBody<Bytes, HttpError>;
/// What weld sends back.
pub(super) type Response = hyper::Response<UnsyncBoxBody<Bytes, HttpError>>;

/// The shared side of the listener: routes, admission and the workers'
/// queue.
pub(super) struct Ingress {
    /// The plan requests are routed by (swapped by a live apply).
    pub(super) current: Arc<HttpCurrent>,
    pub(super) jobs: Mutex<mpsc::Sender<Job>>,
    /// One per worker: held from admission until the handler returns.
    pub(super) permits: Arc<Semaphore>,
    /// The waiting room: requests waiting for a worker.
    pub(super) waiting: Semaphore,
    pub(super) queue_timeout: Duration,
    pub(super) counters: Arc<Counters>,
    pub(super) max_body_bytes: u64,
}

impl Ingress {
    /// Answers one request: 404 outside every route, 413 for a body
    /// declared too large, 503 when no worker frees up in time, else what
    /// the handler answers (or 500/504 when it does not).
    pub(super) async fn handle(&self, request: hyper::Request<Incoming>) -> Response {
        if has_dot_segment(request.uri().path()) {
            // Which handler a path reaches must not depend on who
            // normalises `..` (a proxy in front, or the handler).
            self.counters.bad_path.fetch_add(1, Ordering::Relaxed);
            return plain(400, "the path has a `.` or `..` segment\n");
        }
        // Outside every route: answered before it waits for a worker (and
        // counted nowhere but the stats: it names no handler).
        let Some((plan, route)) = self.route(request.uri().path()) else {
            self.counters.not_found.fetch_add(1, Ordering::Relaxed);
            return plain(404, "no handler serves this path\n");
        };
        let Some(cells) = plan.targets[route].cells.clone() else {
            return self.routed(request, None).await.0;
        };
        drop(plan);
        let call = cells.start_served(
            || {
                let headers = request.headers();
                trace::carried(|name| headers.get(name)?.to_str().ok())
                    .map_or_else(opentelemetry::Context::new, |c| trace::extract(&c))
            },
            |attributes| {
                attributes.push(KeyValue::new(
                    "http.request.method",
                    method(request.method()),
                ));
            },
        );
        let (response, weld_cause) = self.routed(request, call.context().cloned()).await;
        let status = response.status().as_u16();
        call.set_attribute(|| KeyValue::new("http.response.status_code", i64::from(status)));
        let ended = match weld_cause {
            Some(cause @ ("busy" | "too-large")) => Ended::Refused(cause),
            Some(cause) => Ended::Failed(cause),
            None if status >= 500 => Ended::Failed("status-5xx"),
            None => Ended::Ok,
        };
        cells.end(call, ended, 0, 0);
        response
    }

    /// [`Ingress::handle`] of a request its path routes: the response, and
    /// why weld answered it when the handler did not.
    async fn routed(
        &self,
        request: hyper::Request<Incoming>,
        trace: Option<opentelemetry::Context>,
    ) -> (Response, Option<&'static str>) {
        let declared = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            self.counters.too_large.fetch_add(1, Ordering::Relaxed);
            let r = plain(413, "the request body is larger than this server accepts\n");
            return (r, Some("too-large"));
        }
        let Some(permit) = self.admit().await else {
            self.counters.busy.fetch_add(1, Ordering::Relaxed);
            let mut r = plain(503, "every worker is busy; retry\n");
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return (r, Some("busy"));
        };
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let request = request.map(|b| Limited::new(b, limit).map_err(body_error).boxed_unsync());
        let (answer, answered) = oneshot::channel();
        let (outcome, ended) = oneshot::channel();
        // Routed by the plan current once it has a worker, and run on it
        // to its end: a swap while it waited does not leave it on a plan
        // whose grace is running out; one after does not move it.
        let Some((plan, route)) = self.route(request.uri().path()) else {
            self.counters.not_found.fetch_add(1, Ordering::Relaxed);
            let r = plain(404, "no handler serves this path\n");
            return (r, Some("no-route"));
        };
        let component = plan.routes[route].component.clone();
        let job = Job {
            plan,
            route,
            request,
            answer,
            outcome,
            permit,
            trace,
        };
        let sent = self
            .jobs
            .lock()
            .map(|jobs| jobs.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return (plain(503, "the server is stopping\n"), Some("stopping"));
        }
        self.answer(&component, answered, ended).await
    }

    /// The plan current and the index of its route serving `path`, if
    /// one does.
    fn route(&self, path: &str) -> Option<(Arc<HttpPlan>, usize)> {
        let plan = self.current.get();
        let route = plan.routes.iter().position(|r| r.matches(path))?;
        Some((plan, route))
    }

    /// The handler's response once it sets one; otherwise the status its
    /// call's outcome calls for, and its cause.
    async fn answer(
        &self,
        component: &str,
        answered: oneshot::Receiver<Answer>,
        ended: oneshot::Receiver<Outcome>,
    ) -> (Response, Option<&'static str>) {
        match answered.await {
            Ok(Ok(response)) => {
                self.counters.answered.fetch_add(1, Ordering::Relaxed);
                return (response, None);
            }
            Ok(Err(code)) => {
                tracing::warn!("`{component}`: the handler answered with an error: {code:?}");
            }
            Err(_) => {}
        }
        match ended.await {
            Ok(Err(RuntimeError::DeadlineExceeded { .. })) => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                let r = plain(504, "the handler ran past its deadline\n");
                (r, Some("deadline"))
            }
            outcome => {
                if let Ok(Err(e)) = &outcome {
                    tracing::warn!("{}", crate::diagnostic::chain(e));
                }
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                let r = plain(500, "the handler failed before it answered\n");
                (r, Some("trap"))
            }
        }
    }

    /// A worker's permit: at once, or after waiting in the room (when
    /// there is a place) up to the queue timeout.
    async fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if let Ok(p) = Arc::clone(&self.permits).try_acquire_owned() {
            return Some(p);
        }
        let _place = self.waiting.try_acquire().ok()?;
        let waited = tokio::time::timeout(
            self.queue_timeout,
            Arc::clone(&self.permits).acquire_owned(),
        );
        waited.await.ok()?.ok()
    }
}

/// A request's method as a span names it: one of HTTP's own, else
/// `_OTHER` (OpenTelemetry's convention: a method is any token a client
/// makes up).
fn method(m: &hyper::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .iter()
        .find(|k| **k == m.as_str())
        .copied()
        .unwrap_or("_OTHER")
}

/// Whether a request path has a `.` or `..` segment, written plainly or
/// percent-encoded (`%2e`).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

/// What reading a request body failed with, as wasi-http names it.
fn body_error(e: Box<dyn std::error::Error + Send + Sync>) -> HttpError {
    match e.downcast::<hyper::Error>() {
        Ok(e) => HttpError::Hyper(*e),
        Err(_) => HttpError::HttpRequestBodySize(None),
    }
}

/// A response with a text body.
fn plain(status: u16, text: &'static str) -> Response {
    let body = Full::new(Bytes::from_static(text.as_bytes()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut r = hyper::Response::new(body);
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments_are_found_plain_and_encoded() {
        for path in ["/a/../b", "/..", "/a/.", "/a/%2e%2E/b", "/%2e", "/a/./b"] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/",
            "/a/b",
            "/a..b",
            "/.well-known/x",
            "/a/...",
            "/%2e%2e%2e",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
