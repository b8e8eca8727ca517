//! HTTP ingress: a host's `wasi:http/incoming-handler` handlers (WASI 0.2)
//! served on a TCP address with hyper's HTTP/1 server, each request routed
//! to the handler whose path prefix it falls under (the plan's
//! [`Ingress`](crate::plan::Ingress); outside every route: `404`).
//!
//! * `admit`: the connection side of a request: route, body cap, admission,
//!   the status weld answers when the handler does not;
//! * `worker`: the threads that call handlers, one fresh instance each;
//! * `accept`: the accept loop, the head limits, the drain at shutdown.
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
//! * a path with a `.` or `..` segment (plain or percent-encoded) is
//!   answered `400`, so which handler it reaches cannot depend on who
//!   normalises it;
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

mod accept;
mod admit;
mod worker;

use super::live::{after_grace, ApplyError, HttpApply, Live};
use super::{ServeError, ServeOptions};
use crate::deployment::Deployment;
use crate::observe::ServedKey;
use crate::plan::Route;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::wrpc::client::io_runtime;
use admit::Ingress;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;
use worker::{Job, Target, Worker};

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
    /// A handle that applies changed plans to this server while it runs
    /// (see [`Live`]); `None`: the plan it started with, for its life.
    pub live: Option<Live>,
    /// Counts every call the handlers make across their links (none:
    /// nothing is counted).
    pub observer: Option<crate::observe::Observer>,
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
            live: None,
            observer: None,
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
            live: serve.live.clone(),
            observer: serve.observer.clone(),
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
    /// Answered 404: no route serves the path.
    pub not_found: u64,
    /// Answered 400: the path has a `.` or `..` segment.
    pub bad_path: u64,
}

impl std::fmt::Display for HttpStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered, {} failed (500), {} past the deadline (504), {} busy (503), {} too large (413), {} outside every route (404), {} with a dot segment (400)",
            self.answered, self.failed, self.timed_out, self.busy, self.too_large, self.not_found, self.bad_path
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
    not_found: AtomicU64,
    bad_path: AtomicU64,
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
            not_found: get(&self.not_found),
            bad_path: get(&self.bad_path),
        }
    }
}

/// One plan's HTTP side: the routes, the runtime their handlers run on,
/// and each route's handler.
pub(super) struct HttpPlan {
    runtime: Runtime,
    routes: Vec<Route>,
    /// By route.
    targets: Vec<Target>,
}

impl HttpPlan {
    /// The host's handlers in `deployment`'s plan, compiled.
    fn new(deployment: &Deployment, options: &HttpOptions) -> Result<HttpPlan, ServeError> {
        let host = deployment.plan.choose_host(Some(&options.host))?;
        let Some(ingress) = deployment.plan.ingress_of(&host) else {
            return Err(ServeError::NoHttpHandler { host });
        };
        let routes = ingress.routes.clone();
        let runtime = Runtime::new(
            deployment,
            &RuntimeOptions {
                deadline: options.deadline,
                interruptible: true,
                pool_stores: u32::try_from(options.workers + 1).ok(),
                host: Some(host),
                progress: options.progress.clone(),
                observer: options.observer.clone(),
                ..RuntimeOptions::default()
            },
        )?;
        // A request is a served call of its route's handler: counted (and
        // traced) with the served calls, by the plan's names only.
        let targets = routes
            .iter()
            .map(|r| Target {
                component: r.component.clone(),
                function: format!("{}#handle", r.handler),
                release: r.release,
                cells: options.observer.as_ref().map(|o| {
                    o.served(ServedKey {
                        component: r.component.clone(),
                        interface: r.handler.clone(),
                        function: r.prefix.clone(),
                        transport: "http".to_string(),
                    })
                }),
            })
            .collect();
        Ok(HttpPlan {
            runtime,
            routes,
            targets,
        })
    }
}

/// The plan an HTTP server serves now, and those it replaced whose
/// requests may still run. A request takes the plan current when it is
/// routed and holds it until its handler returns.
pub(super) struct HttpCurrent {
    plan: RwLock<Arc<HttpPlan>>,
    replaced: Mutex<Vec<Weak<HttpPlan>>>,
}

impl HttpCurrent {
    fn new(plan: HttpPlan) -> HttpCurrent {
        HttpCurrent {
            plan: RwLock::new(Arc::new(plan)),
            replaced: Mutex::default(),
        }
    }

    /// The plan new requests go to.
    pub(super) fn get(&self) -> Arc<HttpPlan> {
        Arc::clone(&self.plan.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves `next` from now on; guests of the plan replaced still
    /// running a grace period later are interrupted.
    fn swap(&self, next: HttpPlan, grace: Duration) {
        let old = std::mem::replace(
            &mut *self.plan.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(next),
        );
        let mut replaced = self.replaced.lock().unwrap_or_else(|e| e.into_inner());
        replaced.retain(|w| w.strong_count() > 0);
        replaced.push(Arc::downgrade(&old));
        drop(replaced);
        after_grace(&old, grace, |plan| plan.runtime.interrupt());
    }

    /// Interrupts the guests of every plan, current and replaced.
    fn interrupt(&self) {
        self.get().runtime.interrupt();
        for old in self
            .replaced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            if let Some(plan) = old.upgrade() {
                plan.runtime.interrupt();
            }
        }
    }
}

/// A host's HTTP handlers, ready to serve.
pub struct HttpServer {
    current: Arc<HttpCurrent>,
    /// The routes of the plan it starts with.
    routes: Vec<Route>,
    /// The HTTP address the plan it starts with gives the host.
    plan_address: Option<SocketAddr>,
    options: HttpOptions,
}

impl HttpServer {
    /// Prepares the host's components for its HTTP ingress: the handlers
    /// the plan routes requests to (see [`crate::plan::Ingress`]).
    ///
    /// # Errors
    /// [`ServeError::NoHttpHandler`] when no component of the host exports
    /// a handler; [`RuntimeError`](crate::runtime::RuntimeError) when the
    /// host's components cannot be prepared.
    pub fn new(deployment: &Deployment, options: HttpOptions) -> Result<HttpServer, ServeError> {
        let plan = HttpPlan::new(deployment, &options)?;
        let routes = plan.routes.clone();
        let plan_address = deployment
            .plan
            .ingress_of(&options.host)
            .and_then(|i| i.address);
        if let Some(live) = &options.live {
            live.prepared_http(
                deployment,
                &options.host,
                &format!("http://{}", options.address),
            );
        }
        Ok(HttpServer {
            current: Arc::new(HttpCurrent::new(plan)),
            routes,
            plan_address,
            options,
        })
    }

    /// The handlers served, by path prefix (of the plan it started with).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The event of a server ready on `bound` (its `Display` is the text
    /// for people).
    pub fn ready(&self, bound: SocketAddr) -> super::ServeEvent<'_> {
        super::ServeEvent::HttpReady {
            host: &self.options.host,
            endpoint: format!("http://{bound}"),
            routes: &self.routes,
        }
    }

    /// How a live apply prepares this server's side of a plan: the same
    /// HTTP address, the handlers compiled; the swap then cannot fail.
    fn live_apply(&self) -> HttpApply {
        let current = Arc::clone(&self.current);
        let options = self.options.clone();
        let address = self.plan_address;
        Box::new(move |deployment: &Deployment| {
            let host = &options.host;
            if deployment.plan.ingress_of(host).and_then(|i| i.address) != address {
                return Err(ApplyError::HostChanged {
                    host: host.clone(),
                    what: "HTTP address",
                });
            }
            let next = HttpPlan::new(deployment, &options)?;
            let current = Arc::clone(&current);
            let grace = options.grace;
            Ok(Box::new(move || current.swap(next, grace)) as Box<dyn FnOnce() + Send>)
        })
    }

    /// Serves until `shutdown` completes, then stops accepting, lets
    /// in-flight requests finish (up to the grace period) and returns.
    /// `on_ready` receives the address actually bound. With
    /// [`HttpOptions::live`], changed plans are applied meanwhile.
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
            current: Arc::clone(&self.current),
            jobs: Mutex::new(jobs),
            permits: Arc::new(Semaphore::new(self.options.workers.max(1))),
            waiting: Semaphore::new(4 * self.options.workers.max(1)),
            queue_timeout: self.options.queue_timeout,
            counters: Arc::clone(&counters),
            max_body_bytes: self.options.max_body_bytes,
        };
        if let Some(live) = &self.options.live {
            live.attach_http(self.live_apply());
        }
        let served = io_runtime().block_on(accept::serve(
            Arc::new(ingress),
            &self.options,
            on_ready,
            shutdown,
        ));
        if let Some(live) = &self.options.live {
            live.detach_http();
        }
        // Past the grace period: stop guests still running, then let the
        // workers go (the job channel closed with the ingress).
        self.current.interrupt();
        for w in workers {
            let _ = w.join();
        }
        served.map(|()| counters.stats())
    }
}
