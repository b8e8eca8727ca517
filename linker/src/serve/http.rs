//! HTTP ingress: a host's `wasi:http/incoming-handler` (WASI 0.2) served on
//! a TCP address with hyper's HTTP/1 server.
//!
//! Every request gets an instance of its own, made from the host's
//! pre-linked `InstancePre`s (from the pooling allocator when the host's
//! components can be pooled), so nothing one request leaves in guest memory
//! reaches the next; the handler's imports are linked as any component's
//! (fused, host-linked, wRPC). Guest code runs on worker threads, because
//! calls into wasmtime block; connections run on weld's I/O runtime.
//!
//! What a request may cost is bounded, and overload is answered, never
//! queued without end:
//!
//! * at most `workers` requests run at once; as many again times four may
//!   wait for a worker, each up to `queue_timeout`; a request past either
//!   is answered `503 Service Unavailable` with `Retry-After: 1`;
//! * headers: at most `max_headers` of them, within `max_header_bytes`,
//!   read within `header_timeout` (hyper answers or closes otherwise);
//! * a body declared longer than `max_body_bytes` is answered
//!   `413 Content Too Large` before any guest runs; a streamed one is cut
//!   at that size (the guest's read fails);
//! * a handler that traps, or sets an error, before it answers is answered
//!   `500`; one still running at its deadline is stopped and answered
//!   `504`; the next request gets a fresh instance either way;
//! * at most `max_connections` connections are open; more wait in the
//!   kernel's backlog;
//! * at shutdown no connection is accepted, open ones finish the request
//!   in flight within `grace`, then running guests are interrupted.

use super::{ServeError, ServeOptions};
use crate::deployment::Deployment;
use crate::introspect::ItemKind;
use crate::runtime::{Deployed, Runtime, RuntimeError, RuntimeOptions};
use crate::wit;
use crate::wrpc::client::io_runtime;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, Semaphore};
use wasmtime::component::Resource;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};
use wasmtime_wasi_http::{Error as HttpError, WasiHttpView};

/// The WASI 0.2 handler interface, before its version.
const HANDLER: &str = "wasi:http/incoming-handler";

/// How to serve HTTP.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The host whose handler to serve.
    pub host: String,
    /// Where to listen (port 0: any free port, see `run`'s `on_ready`).
    pub address: SocketAddr,
    /// Requests run at once, each on its own worker thread and instance.
    /// Four times as many may wait for a worker; more are answered 503.
    pub workers: usize,
    /// How long a request may wait for a worker before it is answered 503.
    pub queue_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Most request headers.
    pub max_headers: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// How long a client may take to send a request's head.
    pub header_timeout: Duration,
    /// How long a handler may run (default: none, as `wasmtime serve`).
    pub deadline: Option<Duration>,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub grace: Duration,
    /// Progress of the host's compile (see [`RuntimeOptions::progress`]).
    pub progress: Option<crate::runtime::engine::CompileProgress>,
}

impl HttpOptions {
    /// Defaults for `host` on `address`: 16 workers (a request waits up to
    /// 1 s for one), 1024 connections,
    /// 16 MiB bodies, 100 headers in 64 KiB, 10 s for a request's head,
    /// 30 s grace, no deadline.
    pub fn new(host: &str, address: SocketAddr) -> HttpOptions {
        HttpOptions {
            host: host.to_string(),
            address,
            workers: 16,
            queue_timeout: Duration::from_secs(1),
            max_connections: 1024,
            max_body_bytes: 16 << 20,
            max_headers: 100,
            max_header_bytes: 64 << 10,
            header_timeout: Duration::from_secs(10),
            deadline: None,
            grace: Duration::from_secs(30),
            progress: None,
        }
    }
}

impl HttpOptions {
    /// The HTTP server of the host `serve` serves, on `address`, with the
    /// same bounds: `max_concurrency` workers, the connection cap, the
    /// message cap for bodies, the read timeout for request heads, the
    /// grace period and the deadline (none: handlers run until they
    /// return).
    pub fn from_serve(serve: &ServeOptions, address: SocketAddr) -> HttpOptions {
        HttpOptions {
            workers: serve.max_concurrency,
            max_connections: serve.max_connections,
            max_body_bytes: serve.limits.max_bytes as u64,
            header_timeout: serve.read_timeout,
            grace: serve.grace,
            deadline: serve.deadline,
            progress: serve.progress.clone(),
            ..HttpOptions::new(&serve.host, address)
        }
    }
}

/// What an HTTP server answered, by outcome.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct HttpStats {
    /// Requests the handler answered (any status it chose).
    pub answered: u64,
    /// Answered 500: the handler trapped or failed before answering.
    pub failed: u64,
    /// Answered 504: the handler ran past its deadline.
    pub timed_out: u64,
    /// Answered 503: every worker stayed busy, or too many requests waited.
    pub busy: u64,
    /// Answered 413: the body was declared larger than allowed.
    pub too_large: u64,
}

impl std::fmt::Display for HttpStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered, {} failed (500), {} past the deadline (504), {} busy (503), {} too large (413)",
            self.answered, self.failed, self.timed_out, self.busy, self.too_large
        )
    }
}

#[derive(Default)]
struct Counters {
    answered: AtomicU64,
    failed: AtomicU64,
    timed_out: AtomicU64,
    busy: AtomicU64,
    too_large: AtomicU64,
}

impl Counters {
    fn stats(&self) -> HttpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HttpStats {
            answered: get(&self.answered),
            failed: get(&self.failed),
            timed_out: get(&self.timed_out),
            busy: get(&self.busy),
            too_large: get(&self.too_large),
        }
    }
}

/// A host's HTTP handler, ready to serve.
pub struct HttpServer {
    runtime: Runtime,
    /// The handler's component.
    component: String,
    /// Its `wasi:http/incoming-handler@0.2.x` export.
    export: String,
    options: HttpOptions,
}

impl HttpServer {
    /// Prepares the host's components and finds its handler: the one
    /// component of `options.host` that exports
    /// `wasi:http/incoming-handler@0.2.x`.
    ///
    /// # Errors
    /// [`ServeError::NoHttpHandler`] or [`ServeError::SeveralHttpHandlers`];
    /// [`RuntimeError`] when the host's components cannot be prepared.
    pub fn new(deployment: &Deployment, options: HttpOptions) -> Result<HttpServer, ServeError> {
        let host = deployment.plan.choose_host(Some(&options.host))?;
        let mut handlers = Vec::new();
        for c in deployment.plan.components.iter().filter(|c| c.host == host) {
            let info = &deployment.components[&c.name];
            if let Some(e) = info.exports().into_iter().find(|e| {
                let (base, version) = wit::split_version(&e.name);
                e.kind == ItemKind::Interface
                    && base == HANDLER
                    && version.and_then(wit::WasiRelease::of_version) == Some(wit::WasiRelease::P2)
            }) {
                handlers.push((c.name.clone(), e.name));
            }
        }
        let (component, export) = match handlers.len() {
            0 => return Err(ServeError::NoHttpHandler { host }),
            1 => handlers.remove(0),
            _ => {
                return Err(ServeError::SeveralHttpHandlers {
                    host,
                    components: handlers.into_iter().map(|(c, _)| c).collect(),
                })
            }
        };
        let runtime = Runtime::new(
            deployment,
            &RuntimeOptions {
                deadline: options.deadline,
                interruptible: true,
                pool_stores: u32::try_from(options.workers + 1).ok(),
                host: Some(host),
                progress: options.progress.clone(),
                ..RuntimeOptions::default()
            },
        )?;
        Ok(HttpServer {
            runtime,
            component,
            export,
            options,
        })
    }

    /// The component whose handler is served, and its export.
    pub fn handler(&self) -> (&str, &str) {
        (&self.component, &self.export)
    }

    /// The event of a server ready on `bound` (its `Display` is the line
    /// for people).
    pub fn ready(&self, bound: SocketAddr) -> super::ServeEvent<'_> {
        super::ServeEvent::HttpReady {
            host: &self.options.host,
            endpoint: format!("http://{bound}"),
            component: &self.component,
            export: &self.export,
        }
    }

    /// Serves until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish (up to the grace period) and returns.
    /// `on_ready` receives the address actually bound.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the address cannot be bound;
    /// [`ServeError::Thread`] when a worker cannot be started.
    pub fn run(
        &self,
        on_ready: impl FnOnce(SocketAddr),
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<HttpStats, ServeError> {
        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut workers = Vec::new();
        for i in 0..self.options.workers.max(1) {
            let worker = Worker {
                runtime: self.runtime.clone(),
                component: self.component.clone(),
                function: format!("{}#handle", self.export),
                queue: Arc::clone(&queue),
            };
            let handle = io_runtime().handle().clone();
            workers.push(
                std::thread::Builder::new()
                    .name(format!("weld-http-{i}"))
                    .spawn(move || {
                        // wasi-http's synchronous host functions block on
                        // the I/O runtime's futures (its bodies).
                        let _entered = handle.enter();
                        worker.run();
                    })
                    .map_err(ServeError::Thread)?,
            );
        }
        let ingress = Ingress {
            jobs: Mutex::new(jobs),
            permits: Arc::new(Semaphore::new(self.options.workers.max(1))),
            waiting: Semaphore::new(4 * self.options.workers.max(1)),
            queue_timeout: self.options.queue_timeout,
            counters: Arc::clone(&counters),
            max_body_bytes: self.options.max_body_bytes,
            component: self.component.clone(),
        };
        let served =
            io_runtime().block_on(serve(Arc::new(ingress), &self.options, on_ready, shutdown));
        // Past the grace period: stop guests still running, then let the
        // workers go (the job channel closed with the ingress).
        self.runtime.interrupt();
        for w in workers {
            let _ = w.join();
        }
        served.map(|()| counters.stats())
    }
}

/// The request body as the handler reads it: cut at the size limit.
type RequestBody = UnsyncBoxBody<Bytes, HttpError>;
/// What the handler sets: its response, or an error code.
type Answer = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;
/// What weld sends back.
type Response = hyper::Response<UnsyncBoxBody<Bytes, HttpError>>;

/// One request handed to a worker: where the handler's answer goes, and
/// where the call's outcome goes (read when there is no answer).
struct Job {
    request: hyper::Request<RequestBody>,
    answer: oneshot::Sender<Answer>,
    outcome: oneshot::Sender<Result<(), RuntimeError>>,
    /// Held until the handler returns: a worker is busy until then, even
    /// after its response has gone.
    permit: tokio::sync::OwnedSemaphorePermit,
}

/// The shared side of the listener: admission and the workers' queue.
struct Ingress {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// One per worker: held from admission until the handler returns.
    permits: Arc<Semaphore>,
    /// The waiting room: requests waiting for a worker.
    waiting: Semaphore,
    queue_timeout: Duration,
    counters: Arc<Counters>,
    max_body_bytes: u64,
    component: String,
}

impl Ingress {
    async fn handle(&self, request: hyper::Request<Incoming>) -> Response {
        let declared = request
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body_bytes) {
            self.counters.too_large.fetch_add(1, Ordering::Relaxed);
            return plain(413, "the request body is larger than this server accepts\n");
        }
        let Some(permit) = self.admit().await else {
            self.counters.busy.fetch_add(1, Ordering::Relaxed);
            let mut r = plain(503, "every worker is busy; retry\n");
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return r;
        };
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let request = request.map(|b| Limited::new(b, limit).map_err(body_error).boxed_unsync());
        let (answer, answered) = oneshot::channel();
        let (outcome, ended) = oneshot::channel();
        let job = Job {
            request,
            answer,
            outcome,
            permit,
        };
        let sent = self
            .jobs
            .lock()
            .map(|jobs| jobs.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return plain(503, "the server is stopping\n");
        }
        match answered.await {
            Ok(Ok(response)) => {
                self.counters.answered.fetch_add(1, Ordering::Relaxed);
                return response;
            }
            Ok(Err(code)) => {
                tracing::warn!(
                    "`{}`: the handler answered with an error: {code:?}",
                    self.component
                );
            }
            Err(_) => {}
        }
        match ended.await {
            Ok(Err(RuntimeError::DeadlineExceeded { .. })) => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                plain(504, "the handler ran past its deadline\n")
            }
            outcome => {
                if let Ok(Err(e)) = &outcome {
                    tracing::warn!("{}", crate::diagnostic::chain(e));
                }
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                plain(500, "the handler failed before it answered\n")
            }
        }
    }
}

impl Ingress {
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

/// A worker thread: takes requests one at a time, each into a fresh
/// instance of the handler's unit.
struct Worker {
    runtime: Runtime,
    component: String,
    function: String,
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl Worker {
    fn run(&self) {
        loop {
            let job = match self.queue.lock() {
                Ok(queue) => queue.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let Job {
                request,
                answer,
                outcome,
                permit,
            } = job;
            let ended = self.call(request, answer);
            // Free before the outcome is told: a client answered from it
            // may come back at once.
            drop(permit);
            let _ = outcome.send(ended);
        }
    }

    /// Instantiates the handler and calls it with `request`; its answer
    /// goes to `answer` as soon as it sets one (the body streams while the
    /// handler runs on).
    fn call(
        &self,
        request: hyper::Request<RequestBody>,
        answer: oneshot::Sender<Answer>,
    ) -> Result<(), RuntimeError> {
        let mut deployed: Deployed = self.runtime.instantiate_for(&self.component)?;
        let (func, full) = deployed.func(&self.component, &self.function)?;
        let mut http = deployed.store().data_mut().http();
        let handed = http
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, http.new_response_outparam(answer)?)));
        let (req, out) = handed.map_err(|e| RuntimeError::Store(e.into()))?;
        deployed.invoke_typed::<(
            Resource<HostIncomingRequest>,
            Resource<HostResponseOutparam>,
        ), ()>(&self.component, &full, func, (req, out))
    }
}

/// Accepts connections until `shutdown`, then drains them within the
/// grace period.
async fn serve(
    ingress: Arc<Ingress>,
    options: &HttpOptions,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let bind = |source: std::io::Error| ServeError::Bind {
        endpoint: format!("http://{}", options.address),
        source: Box::new(source),
    };
    let listener = tokio::net::TcpListener::bind(options.address)
        .await
        .map_err(bind)?;
    on_ready(listener.local_addr().map_err(bind)?);
    let connections = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&connections).acquire_owned() => p,
            () = &mut shutdown => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        // A response is written in pieces (head, body chunks, the last
        // chunk): with Nagle's algorithm each piece after the first waits
        // for the client's delayed ACK, ~40 ms here.
        let _ = stream.set_nodelay(true);
        let ingress = Arc::clone(&ingress);
        let mut stopping = stopping.clone();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .max_headers(options.max_headers)
            .max_buf_size(options.max_header_bytes.max(8192));
        tasks.spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |request| {
                let ingress = Arc::clone(&ingress);
                async move { Ok::<_, std::convert::Infallible>(ingress.handle(request).await) }
            });
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}
