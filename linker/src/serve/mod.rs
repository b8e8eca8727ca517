//! `weld serve`: the exports of one host served to remote callers over wRPC.
//!
//! Only what the plan names is served: for every `wrpc` link whose callee is
//! placed on the host, the functions of the linked interface, under the
//! instance name the caller imports; and every interface the host
//! `expose`s, under its exact name (a caller importing another version of
//! it does not match). Nothing else on the host is reachable.
//!
//! Threads: I/O runs on weld's wRPC runtime ([`io_runtime`]); guest code runs
//! on worker threads, because calls into wasmtime block. Components with the
//! `shared` policy live in one store on one worker (calls are serialised and
//! state is kept); `per-call` components get a fresh store from the
//! pre-linked `InstancePre`s for every call, on a pool of workers.
//!
//! Guests are bounded: a call into a component without its own
//! `deadline-ms` gets the largest `timeout-ms` of the links served (past it
//! every caller has given up). At shutdown, calls still running after the
//! grace period are cut: the runtime is interrupted (looping guests trap
//! within 10 ms), and workers still busy a moment later (blocked in a host
//! call) are left behind rather than joined, so the server returns.
//!
//! wRPC 0.29's framing has no error channel, so when a guest returns the
//! `error` of a wRPC-safe function, or traps, the server logs the cause and
//! closes the call without a result; the caller's stub reports that as a
//! failed call.

mod background;
mod budget;
mod fair;
mod fds;
mod follow;
mod generation;
mod http;
mod inbound;
mod lanes;
mod listen;
mod live;
mod moves;
mod quic;
mod report;
mod scrape;
mod status;
mod subjects;
mod together;
mod typed_exports;
mod watch;
mod worker;

pub use background::{Background, HttpBackground, Spawned};
pub use follow::{follow, PlanSource, Revision, HEARTBEAT};
pub use http::{HttpOptions, HttpServer, HttpStats};
pub use listen::{clear_stale_socket, SocketPathError};
pub use live::{Applied, ApplyError, Live};
pub use quic::RELOAD_POLL;
pub use report::{Cause, FailedCall, FailureHook, ServeEvent, ServeStats};
pub use scrape::{MetricsServer, ScrapeError};
pub use status::{unix_now, ComponentDigest, Outcome, Status, StatusError, MAX_STATUS_BYTES};
pub use together::{run_together, Together};
pub use watch::{watch, WatchEvent, WatchHook, WatchOptions, Watcher, WATCH_POLL};

use crate::deployment::Deployment;
use crate::manifest::InstancePolicy;
use crate::observe::{CallCells, Observer, ServedKey};
use crate::plan::{Callers, HostChoiceError, Transport};
use crate::runtime::{BoxError, Runtime, RuntimeError, RuntimeOptions};
use crate::wit;
use crate::wrpc::client::io_runtime;
use crate::wrpc::codec::Limits;
use crate::wrpc::nats_auth::NatsAuth;
use crate::wrpc::Endpoint;
use report::Reporter;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::Type;

/// Errors of `weld serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The host to serve has no component.
    #[error(transparent)]
    Host(#[from] HostChoiceError),
    /// No remote link of the plan calls into the host.
    #[error("no wrpc link of the plan calls into host `{host}` and it exposes nothing: there is nothing to serve (`weld plan` shows the links)")]
    NothingToServe {
        /// The host.
        host: String,
    },
    /// A served function is not what the plan says it is.
    #[error("`{component}` `{export}#{function}` {problem}")]
    Export {
        /// The component.
        component: String,
        /// Its exported interface.
        export: String,
        /// The function.
        function: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The host's components could not be prepared.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A thread could not be started.
    #[error("cannot start a server thread")]
    Thread(#[source] std::io::Error),
    /// A server thread panicked.
    #[error("a server thread panicked")]
    Panicked,
    /// The server stopped before it accepted calls, without saying why.
    #[error("the server stopped before it was ready")]
    NotReady,
    /// The host has nothing to serve over wRPC, and HTTP handlers but no
    /// address to serve them on.
    #[error("host `{host}` has nothing to serve over wRPC, and HTTP handlers but no address to serve them on: give the host `http = {{ address = \"IP:PORT\" }}`")]
    NoHttpAddress {
        /// The host.
        host: String,
    },
    /// An HTTP server was asked of a host with no HTTP handler.
    #[error("no component of host `{host}` exports an HTTP handler ({}): there is nothing to serve over HTTP", wit::HTTP_HANDLERS)]
    NoHttpHandler {
        /// The host.
        host: String,
    },
    /// The endpoint could not be bound or subscribed.
    /// A QUIC endpoint on a host without a TLS identity.
    #[error(
        "host `{host}` has no TLS identity to serve QUIC with: give it `tls = {{ cert, key, ca }}`"
    )]
    NoIdentity {
        /// The host.
        host: String,
    },
    /// The host's identity cannot be read or used.
    #[error("host `{host}`: its TLS identity cannot be used")]
    Identity {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: crate::wrpc::tls::TlsError,
    },
    /// The host's NATS credentials cannot be read or used.
    #[error("host `{host}`: its NATS credentials cannot be used")]
    NatsAuth {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: crate::wrpc::nats_auth::NatsAuthError,
    },
    #[error("cannot serve on {endpoint}")]
    Bind {
        /// Where.
        endpoint: String,
        /// Why.
        #[source]
        source: BoxError,
    },
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The host whose components to serve.
    pub host: String,
    /// Serve here instead of the host's endpoint in the manifest (tests use
    /// port 0).
    pub endpoint: Option<Endpoint>,
    /// Most calls of one served component handled at once; more wait
    /// (up to four times as many, within the call's deadline), then are
    /// refused as [`Cause::Busy`]. Each component has its own, so one
    /// component's stuck calls cannot hold another's.
    pub max_concurrency: usize,
    /// Cap on the parameters of one call.
    pub limits: Limits,
    /// How long in-flight calls may take to finish after shutdown begins.
    pub grace: Duration,
    /// How long a caller may take to send its invocation header, and then
    /// its parameters (each).
    pub read_timeout: Duration,
    /// Most TCP or Unix connections open at once; further clients wait in
    /// the kernel's backlog.
    pub max_connections: usize,
    /// Told of every failed call (besides the `warn` log line).
    pub on_failure: Option<FailureHook>,
    /// Most memory the decoded parameters of all calls in flight may hold
    /// together (see [`codec::footprint`](crate::wrpc::codec::footprint));
    /// a call waits (within the read timeout) for its share.
    pub max_in_flight_bytes: usize,
    /// Deadline of calls into components whose manifest sets no
    /// `deadline-ms` (default: the largest `timeout-ms` of the links
    /// served).
    pub deadline: Option<Duration>,
    /// Progress of the host's compile (see [`RuntimeOptions::progress`]).
    pub progress: Option<crate::runtime::engine::CompileProgress>,
    /// Told to reload the host's TLS identity now (on SIGHUP, say); it is
    /// also reloaded when its files change.
    pub reload: Option<Reload>,
    /// Takes changed plans while the server runs ([`Live::apply`]); its
    /// per-call stores are then sized for two plans' workers at once.
    pub live: Option<Live>,
    /// Counts every served call, every call the host's components make
    /// across their links, and each served component's calls in flight,
    /// waiting and refused (none: nothing is counted, and calls pay
    /// nothing for it).
    pub observer: Option<Observer>,
}

/// Asks a serving host to read its TLS identity again, at once: new
/// connections are then made with it, open ones keep theirs. A reload that
/// fails (a file missing, a key others may read) keeps the identity in use
/// and is logged.
#[derive(Clone, Default)]
pub struct Reload(Arc<tokio::sync::Notify>);

impl Reload {
    /// A new signal, not yet given.
    pub fn new() -> Reload {
        Reload::default()
    }

    /// Reloads now (or at the server's next chance, if it is busy
    /// reloading).
    pub fn now(&self) {
        self.0.notify_one();
    }

    /// Returns when [`Reload::now`] is called.
    pub(crate) async fn requested(&self) {
        self.0.notified().await;
    }
}

impl std::fmt::Debug for Reload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reload(..)")
    }
}

impl ServeOptions {
    /// Defaults for `host`: the manifest's endpoint, 64 concurrent calls,
    /// 1024 open connections, 16 MiB messages, 30 s grace, 10 s for a
    /// header and 10 s for parameters.
    pub fn new(host: &str) -> ServeOptions {
        ServeOptions {
            host: host.to_string(),
            endpoint: None,
            max_concurrency: 64,
            limits: Limits::DEFAULT,
            grace: Duration::from_secs(30),
            read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            on_failure: None,
            max_in_flight_bytes: 256 << 20,
            deadline: None,
            progress: None,
            reload: None,
            live: None,
            observer: None,
        }
    }
}

/// One served function.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Served {
    /// wRPC instance name (the caller's import).
    pub instance: String,
    /// wRPC function name.
    pub function: String,
    /// The component that implements it.
    pub component: String,
    /// The component's export.
    pub export: String,
    /// Whether it is wRPC-safe (only the ok value travels).
    pub safe: bool,
    /// `shared` or `per-call`.
    pub policy: InstancePolicy,
    /// Who may call it, as the plan decided; a caller it does not admit
    /// is refused before its parameters are read.
    #[serde(skip_serializing_if = "is_anyone")]
    pub callers: Callers,
    #[serde(skip)]
    pub(crate) params: Vec<Type>,
    #[serde(skip)]
    pub(crate) wire_results: Vec<Type>,
    /// The typed way through a call, when the function's shape has one;
    /// serialized as `typed`, whether it does.
    #[serde(rename = "typed", serialize_with = "has_shape")]
    pub(crate) shape: Option<Shape>,
    /// Where its calls are counted, when the server is observed.
    #[serde(skip)]
    pub(crate) cells: Option<Arc<CallCells>>,
    /// The plan's links into it, named by its calls' spans.
    #[serde(skip)]
    pub(crate) links: inbound::InboundLinks,
}

impl Served {
    /// Whether calls take the typed fast path (no `Val` trees; see the
    /// `typed_exports` module), by the function's shape.
    pub fn typed(&self) -> bool {
        self.shape.is_some()
    }
}

fn is_anyone(c: &Callers) -> bool {
    *c == Callers::Anyone
}

fn has_shape<S: serde::Serializer>(shape: &Option<Shape>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(shape.is_some())
}

/// A served function's typed way through a call.
#[derive(Clone)]
pub(crate) struct Shape(pub(crate) Arc<dyn typed_exports::TypedCall>);

impl std::fmt::Debug for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shape(..)")
    }
}

/// A QUIC server configuration, the identity files it was read from, and
/// what they were before.
type ServerIdentity = (
    quinn::ServerConfig,
    crate::wrpc::tls::IdentityFiles,
    crate::wrpc::tls::Fingerprint,
);

/// A host's exports, ready to serve.
pub struct Server {
    /// The deployment's plan for the host, compiled.
    prepared: Prepared,
    /// The QUIC server side of the host's identity, and its files (QUIC
    /// endpoints only).
    identity: Option<ServerIdentity>,
    /// What the host's NATS connections present (NATS endpoints only).
    nats_auth: NatsAuth,
    endpoint: Endpoint,
    options: ServeOptions,
    /// The host's queue group and credentials: what a changed plan may not
    /// change (a live server).
    settings: live::HostSettings,
}

/// One plan of a host, compiled, and what it serves: what a server starts
/// with and what [`Live::apply`] swaps in.
pub(crate) struct Prepared {
    runtime: Runtime,
    served: Vec<Served>,
    /// The deadline of calls into each served component that sets its own
    /// (`deadline-ms`).
    deadlines: std::collections::HashMap<String, Duration>,
    /// The deadline of calls into the others.
    default_deadline: Duration,
    /// What each crew's key is made from, read from the deployment.
    keys: generation::KeyInputs,
}

impl Prepared {
    /// Compiles `host`'s part of `deployment` and works out what to serve.
    ///
    /// # Errors
    /// As [`Server::new`].
    pub(crate) fn new(
        deployment: &Deployment,
        host: &str,
        options: &ServeOptions,
    ) -> Result<Prepared, ServeError> {
        let wanted = wanted(deployment, host);
        if wanted.is_empty() {
            if deployment.plan.ingress_of(host).is_some() {
                return Err(ServeError::NoHttpAddress {
                    host: host.to_string(),
                });
            }
            return Err(ServeError::NothingToServe {
                host: host.to_string(),
            });
        }
        let deadline = options
            .deadline
            .unwrap_or_else(|| default_deadline(deployment, host));
        let runtime = Runtime::new(
            deployment,
            &RuntimeOptions {
                deadline: Some(deadline),
                interruptible: true,
                pool_stores: pool_stores(deployment, host, &wanted, options),
                host: Some(host.to_string()),
                progress: options.progress.clone(),
                observer: options.observer.clone(),
                ..RuntimeOptions::default()
            },
        )?;
        let transport = options
            .endpoint
            .clone()
            .unwrap_or_else(|| deployment.manifest.endpoint_of(host))
            .kind();
        let observe = options.observer.as_ref().map(|o| (o, transport));
        let served = wanted
            .into_iter()
            .map(|w| w.typed(&runtime, deployment, host, observe))
            .collect::<Result<Vec<_>, _>>()?;
        let deadlines = served
            .iter()
            .filter_map(|s| {
                let ms = deployment.manifest.components[&s.component]
                    .get_ref()
                    .deadline_ms
                    .as_ref()?;
                Some((s.component.clone(), Duration::from_millis(*ms.get_ref())))
            })
            .collect();
        let keys = generation::KeyInputs::new(deployment, host);
        Ok(Prepared {
            runtime,
            served,
            deadlines,
            default_deadline: deadline,
            keys,
        })
    }

    /// The deadline of a call into `component`.
    fn deadline_of(&self, component: &str) -> Duration {
        self.deadlines
            .get(component)
            .copied()
            .unwrap_or(self.default_deadline)
    }

    /// The generation `version` of this plan: the crews of `previous`
    /// whose key is unchanged are kept, the others started with `spawn`.
    fn generation(
        &self,
        version: u64,
        previous: Option<&generation::Generation>,
        options: &ServeOptions,
        spawn: &mut lanes::Spawn<'_>,
    ) -> Result<generation::Generation, ServeError> {
        let deadline = |c: &str| self.deadline_of(c);
        let settings = lanes::LaneSettings {
            concurrency: options.max_concurrency,
            per_call_workers: per_call_workers(options),
            deadline: &deadline,
            observer: options.observer.as_ref(),
        };
        let key = |names: &[&str], served: &[Served]| {
            self.keys.key(&self.runtime, names, served, &deadline)
        };
        let keep = |k: u64| previous.and_then(|p| p.crew(k));
        let crews = lanes::crews(&self.runtime, &self.served, &settings, &key, &keep, spawn)?;
        Ok(generation::Generation::new(
            version,
            Arc::new(self.served.clone()),
            crews,
        ))
    }
}

impl Server {
    /// Prepares the components of `options.host` and works out what to
    /// serve.
    ///
    /// # Errors
    /// [`RuntimeError`] naming the unit and import: no such host, a unit that
    /// does not compile, an import that cannot be defined.
    pub fn new(deployment: &Deployment, options: ServeOptions) -> Result<Server, ServeError> {
        let host = deployment.plan.choose_host(Some(&options.host))?;
        let prepared = Prepared::new(deployment, &host, &options)?;
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| deployment.manifest.endpoint_of(&options.host));
        let identity = match &endpoint {
            Endpoint::Quic { .. } => Some(server_identity(deployment, &options.host)?),
            _ => None,
        };
        let nats_auth = match &endpoint {
            Endpoint::Nats { .. } => {
                deployment
                    .manifest
                    .nats_auth(&options.host)
                    .map_err(|source| ServeError::NatsAuth {
                        host: options.host.clone(),
                        source,
                    })?
            }
            _ => NatsAuth::default(),
        };
        if let Some(live) = &options.live {
            live.prepared(deployment, &host, &endpoint, &prepared.served);
        }
        Ok(Server {
            prepared,
            identity,
            nats_auth,
            endpoint,
            settings: live::HostSettings::of(deployment, &options.host),
            options,
        })
    }

    /// The prepared host: its engine settings say whether per-call stores
    /// come from a pool, and how large.
    pub fn runtime(&self) -> &Runtime {
        &self.prepared.runtime
    }

    /// What this server serves, in plan order (as first prepared; a plan
    /// applied since is in [`Live::status`]).
    pub fn served(&self) -> &[Served] {
        &self.prepared.served
    }

    /// Where it serves (as configured; see `run`'s `on_ready` for the bound
    /// address).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves until `shutdown` completes, then stops taking calls, lets
    /// in-flight calls finish (up to the grace period) and returns.
    /// `on_ready` receives the endpoint actually bound (a TCP port 0 is
    /// resolved) once calls are accepted. With [`ServeOptions::live`],
    /// plans applied meanwhile are served from the moment each is applied.
    ///
    /// # Errors
    /// [`ServeError`] when the endpoint cannot be bound or the server fails
    /// before it stops.
    pub fn run(
        &self,
        on_ready: impl FnOnce(&Endpoint),
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<ServeStats, ServeError> {
        let report = Arc::new(Reporter::new(
            self.options.on_failure.clone(),
            self.options.observer.clone(),
        ));
        let workers = Arc::new(Workers::default());
        let first = self
            .prepared
            .generation(1, None, &self.options, &mut |name, f| {
                workers.spawn(name, f)
            })?;
        let current = Arc::new(generation::Current::new(first));
        // Whatever way `run` ends (a panic included), no plan is applied
        // any more and every crew closes its queues.
        let closing = Closing {
            live: self.options.live.as_ref(),
            current: &current,
        };
        let (move_to, moves) = tokio::sync::mpsc::unbounded_channel();
        if let Some(live) = &self.options.live {
            live.attach(live::Running {
                current: Arc::clone(&current),
                workers: Arc::clone(&workers),
                options: self.options.clone(),
                endpoint: self.endpoint.clone(),
                settings: self.settings.clone(),
                move_to,
            });
        }
        let dispatch = listen::Dispatch {
            current: Arc::clone(&current),
            report: Arc::clone(&report),
            limits: self.options.limits,
            read_timeout: self.options.read_timeout,
            connections: Arc::new(tokio::sync::Semaphore::new(fds::connection_cap(
                self.options.max_connections.max(1),
            ))),
            queue_group: Arc::from(self.settings.queue_group.as_str()),
            budget: Arc::new(budget::Budget::new(self.options.max_in_flight_bytes)),
            in_flight: Arc::default(),
            moved: Arc::default(),
        };
        let result = io_runtime().block_on(moves::serve(self, dispatch, on_ready, shutdown, moves));
        // No plan is applied from here on, and every crew closes its
        // queues: the workers finish their job and end. One blocked in a
        // host call (a wRPC stub, WASI I/O) is not reached by the
        // interrupt; it is left behind, not joined.
        drop(closing);
        let abandoned = workers.wait(current.interrupted());
        if abandoned > 0 {
            tracing::warn!(
                workers = abandoned,
                "worker(s) still busy in a host call after the grace period; leaving them behind"
            );
        }
        result?;
        let mut stats = report.stats();
        stats.abandoned_workers = abandoned as u64;
        Ok(stats)
    }
}

impl Server {
    /// Serves on `endpoint` until `shutdown`.
    async fn serve_at(
        &self,
        endpoint: &Endpoint,
        dispatch: listen::Dispatch,
        on_ready: impl FnOnce(&Endpoint),
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let grace = self.options.grace;
        match (endpoint, &self.identity) {
            (
                Endpoint::Quic {
                    address,
                    server_name,
                },
                Some((config, files, seen)),
            ) => {
                let at = (address.as_str(), server_name.as_deref());
                let identity = quic::Identity {
                    config: config.clone(),
                    files: files.clone(),
                    seen: seen.clone(),
                    reload: self.options.reload.clone().unwrap_or_default(),
                };
                quic::serve(at, identity, dispatch, on_ready, shutdown, grace).await
            }
            (Endpoint::Quic { .. }, None) => Err(ServeError::NoIdentity {
                host: self.options.host.clone(),
            }),
            (Endpoint::Nats { url, prefix }, _) => {
                let at = (url.as_str(), prefix.as_deref(), &self.nats_auth);
                subjects::serve(at, endpoint, dispatch, on_ready, shutdown, grace).await
            }
            (endpoint, _) => {
                listen::serve_endpoint(endpoint, dispatch, on_ready, shutdown, grace).await
            }
        }
    }
}

/// The QUIC server side of `host`'s TLS identity, its files (read again
/// when they change) and what they were before it was read.
fn server_identity(deployment: &Deployment, host: &str) -> Result<ServerIdentity, ServeError> {
    let files = deployment
        .manifest
        .identity_files(host)
        .ok_or_else(|| ServeError::NoIdentity {
            host: host.to_string(),
        })?;
    let seen = files.fingerprint();
    let config = quic::load(&files).map_err(|source| ServeError::Identity {
        host: host.to_string(),
        source,
    })?;
    Ok((config, files, seen))
}

/// Guest worker threads making a store per call: more would only queue for
/// the same cores.
fn per_call_workers(options: &ServeOptions) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    options.max_concurrency.clamp(1, (2 * cores).max(4))
}

/// How many stores a server keeps live at once, when any served component
/// is `per-call` (then its stores come from a pool sized for them; see
/// [`PoolLimits`](crate::runtime::engine::PoolLimits)): a store per group
/// of `shared` components (at most one per served component), and for
/// each worker of each per-call component one store in use and one ready.
fn pool_stores(
    deployment: &Deployment,
    host: &str,
    wanted: &[Wanted],
    options: &ServeOptions,
) -> Option<u32> {
    let per_call = deployment
        .plan
        .components
        .iter()
        .filter(|c| c.host == host)
        .filter(|c| {
            deployment.manifest.components[&c.name]
                .get_ref()
                .instances()
                == InstancePolicy::PerCall
        })
        .filter(|c| wanted.iter().any(|w| w.component == c.name))
        .count();
    if per_call == 0 {
        return None;
    }
    let shared = wanted
        .iter()
        .map(|w| w.component.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        .saturating_sub(per_call);
    let stores = shared.max(1) + 2 * per_call_workers(options) * per_call;
    // A live server runs two plans' crews at once while a swap drains.
    let plans = if options.live.is_some() { 2 } else { 1 };
    u32::try_from(stores * plans).ok()
}

/// Ends a server's plans when dropped: its live handle takes no plan any
/// more (an apply under way finishes first), and every generation closes
/// its crews' queues.
struct Closing<'a> {
    live: Option<&'a Live>,
    current: &'a generation::Current,
}

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        if let Some(live) = self.live {
            live.detach();
        }
        self.current.close();
    }
}

/// A server's guest worker threads, counted while they run, so shutdown
/// can wait for them with a bound instead of joining one stuck in a host
/// call forever. Crews started by a plan applied later count too.
#[derive(Default)]
pub(crate) struct Workers {
    running: std::sync::Mutex<usize>,
    ended: std::sync::Condvar,
}

/// Counts a worker out when dropped: its thread has ended (even by
/// panicking).
struct CountedOut(Arc<Workers>);

impl Drop for CountedOut {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.0.ended.notify_all();
    }
}

impl Workers {
    /// Starts worker thread `name` running `f`.
    ///
    /// # Errors
    /// [`ServeError::Thread`] when the thread cannot be started.
    fn spawn(
        self: &Arc<Self>,
        name: String,
        f: Box<dyn FnOnce() + Send>,
    ) -> Result<(), ServeError> {
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let running = CountedOut(Arc::clone(self));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let _running = running;
                f()
            })
            .map(drop)
            .map_err(ServeError::Thread)
    }

    /// Waits for every worker to end; without a bound unless calls were
    /// cut (then a worker still running is stuck and waiting could be
    /// forever). Returns how many did not end.
    fn wait(&self, interrupted: bool) -> usize {
        let until = std::time::Instant::now() + WORKER_LINGER;
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *running > 0 {
            if interrupted {
                let left = until.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                running = self
                    .ended
                    .wait_timeout(running, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            } else {
                running = self.ended.wait(running).unwrap_or_else(|e| e.into_inner());
            }
        }
        *running
    }
}

/// How long an interrupted server waits for its workers: an interrupted
/// guest traps within 10 ms, so a worker not done by then is in a host call.
const WORKER_LINGER: Duration = Duration::from_secs(1);

/// The deadline of served calls by default: the largest `timeout-ms` of the
/// links into `host` (past it, every caller has given up).
fn default_deadline(deployment: &Deployment, host: &str) -> Duration {
    let plan = &deployment.plan;
    plan.resolutions
        .iter()
        .filter(|r| r.transport == Transport::Wrpc)
        .filter(|r| r.peer.as_deref().and_then(|p| plan.host_of(p)) == Some(host))
        .map(|r| {
            r.timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(crate::wrpc::client::DEFAULT_TIMEOUT)
        })
        .max()
        .unwrap_or(crate::wrpc::client::DEFAULT_TIMEOUT)
}

/// A function to serve, before its wasmtime types are known.
struct Wanted {
    instance: String,
    function: String,
    component: String,
    export: String,
    safe: bool,
}

/// What remote links into `host` call: each function of each linked
/// interface, once, under the caller's import name; then each function of
/// each interface the host exposes, under the interface's own name.
fn wanted(deployment: &Deployment, host: &str) -> Vec<Wanted> {
    let plan = &deployment.plan;
    let mut wanted: Vec<Wanted> = linked(deployment, host);
    for e in plan.exposed.iter().filter(|e| e.host == host) {
        let info = &deployment.components[&e.component];
        let Some(iface) = info
            .exports()
            .into_iter()
            .find(|x| x.name == e.interface)
            .and_then(|x| x.interface)
        else {
            continue; // the planner checked it
        };
        add_functions(
            &mut wanted,
            info,
            iface,
            &e.interface,
            &e.component,
            &e.interface,
        );
    }
    wanted
}

/// What the `wrpc` links into `host` call.
fn linked(deployment: &Deployment, host: &str) -> Vec<Wanted> {
    let plan = &deployment.plan;
    let mut wanted: Vec<Wanted> = Vec::new();
    for r in &plan.resolutions {
        if r.transport != Transport::Wrpc {
            continue;
        }
        let (Some(peer), Some(export)) = (&r.peer, &r.export) else {
            continue;
        };
        if plan.host_of(peer) != Some(host) {
            continue;
        }
        let info = &deployment.components[&r.component];
        let Some(iface) = info.import_interface(&r.import) else {
            continue;
        };
        add_functions(&mut wanted, info, iface, &r.import, peer, export);
    }
    wanted
}

/// Adds each function of `iface` (of `info`'s WIT) served as `instance`
/// by `component`'s `export`, unless it is there already.
fn add_functions(
    wanted: &mut Vec<Wanted>,
    info: &crate::introspect::ComponentInfo,
    iface: wit_parser::InterfaceId,
    instance: &str,
    component: &str,
    export: &str,
) {
    for (name, f) in &info.resolve.interfaces[iface].functions {
        if !wanted
            .iter()
            .any(|w| w.instance == instance && &w.function == name)
        {
            wanted.push(Wanted {
                instance: instance.to_string(),
                function: name.clone(),
                component: component.to_string(),
                export: export.to_string(),
                safe: wit::is_wrpc_safe(&info.resolve, f),
            });
        }
    }
}

impl Wanted {
    /// With its parameter and wire result types, read from the compiled
    /// unit; counted in `observe`'s observer, served over its transport,
    /// when given.
    fn typed(
        self,
        runtime: &Runtime,
        deployment: &Deployment,
        host: &str,
        observe: Option<(&Observer, &str)>,
    ) -> Result<Served, ServeError> {
        let problem = |problem| ServeError::Export {
            component: self.component.clone(),
            export: self.export.clone(),
            function: self.function.clone(),
            problem,
        };
        let ty = runtime
            .func_type(&self.component, &self.export, &self.function)
            .ok_or_else(|| problem("is not exported"))?;
        let params: Vec<Type> = ty.params().map(|(_, t)| t).collect();
        let wire_results = crate::wrpc::wire_results(self.safe, ty.results().collect())
            .ok_or_else(|| problem("does not return a result"))?;
        let policy = deployment.manifest.components[&self.component]
            .get_ref()
            .instances();
        let shape = typed_exports::shape(&params, &wire_results, self.safe).map(Shape);
        let callers = deployment.plan.callers_of(host, &self.instance);
        let cells = observe.map(|(observer, transport)| {
            observer.served(ServedKey {
                component: self.component.clone(),
                interface: self.instance.clone(),
                function: self.function.clone(),
                transport: transport.to_string(),
            })
        });
        let links = match &cells {
            Some(c) if c.traced() => {
                inbound::InboundLinks::of(&deployment.plan, &self.component, &self.instance)
            }
            _ => inbound::InboundLinks::default(),
        };
        Ok(Served {
            cells,
            links,
            instance: self.instance,
            function: self.function,
            component: self.component,
            export: self.export,
            safe: self.safe,
            policy,
            callers,
            params,
            wire_results,
            shape,
        })
    }
}
