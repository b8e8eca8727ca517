//! `weld serve`: the exports of one host served to remote callers over wRPC.
//!
//! Only what the plan names is served: for every `wrpc` link whose callee is
//! placed on the host, the functions of the linked interface, under the
//! instance name the caller imports. Nothing else on the host is reachable.
//!
//! Threads: I/O runs on weld's wRPC runtime ([`io_runtime`]); guest code runs
//! on worker threads, because calls into wasmtime block. Components with the
//! `shared` policy live in one store on one worker (calls are serialised and
//! state is kept); `per-call` components get a fresh store from the
//! pre-linked `InstancePre`s for every call, on a pool of workers.
//!
//! wRPC 0.29's framing has no error channel, so when a guest returns the
//! `error` of a wRPC-safe function, or traps, the server logs the cause and
//! closes the call without a result; the caller's stub reports that as a
//! failed call.

use super::client::{io_runtime, read_values};
use super::codec::{self, Limits};
use crate::diagnostic::quoted;
use crate::manifest::{Endpoint, InstancePolicy};
use crate::plan::{Deployment, Transport};
use crate::runtime::host::WrpcError;
use crate::runtime::{Deployed, Runtime, RuntimeError, RuntimeOptions};
use crate::wit;
use futures::{Stream, StreamExt as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use wasmtime::component::{Func, Type, Val};
use wrpc_transport::Serve;

/// Errors of `weld serve`.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The host has nothing to serve, or cannot run.
    #[error("{0}")]
    Setup(String),
    /// The host's components could not be prepared.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The endpoint could not be bound or subscribed.
    #[error("cannot serve on {endpoint}: {cause}")]
    Bind {
        /// Where.
        endpoint: String,
        /// Why.
        cause: String,
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
    /// Most calls handled at once; more wait.
    pub max_concurrency: usize,
    /// Cap on the parameters of one call.
    pub limits: Limits,
    /// How long in-flight calls may take to finish after shutdown begins.
    pub grace: Duration,
    /// How long a caller may take to send its parameters.
    pub read_timeout: Duration,
}

impl ServeOptions {
    /// Defaults for `host`: the manifest's endpoint, 64 concurrent calls,
    /// 16 MiB messages, 30 s grace, 30 s to send parameters.
    pub fn new(host: &str) -> ServeOptions {
        ServeOptions {
            host: host.to_string(),
            endpoint: None,
            max_concurrency: 64,
            limits: Limits::DEFAULT,
            grace: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
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
    #[serde(skip)]
    params: Vec<Type>,
    #[serde(skip)]
    wire_results: Vec<Type>,
}

/// What a server did, reported when it stops.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ServeStats {
    /// Calls answered with a result.
    pub answered: u64,
    /// Calls closed without a result (bad parameters, guest error, trap).
    pub failed: u64,
}

/// A host's exports, ready to serve.
pub struct Server {
    runtime: Runtime,
    endpoint: Endpoint,
    served: Vec<Served>,
    options: ServeOptions,
}

impl Server {
    /// Prepares the components of `options.host` and works out what to
    /// serve.
    pub fn new(deployment: &Deployment, options: ServeOptions) -> Result<Server, ServeError> {
        let plan = &deployment.plan;
        let host = options.host.as_str();
        if !plan.components.iter().any(|c| c.host == host) {
            return Err(ServeError::Setup(format!(
                "no component is placed on host `{host}` (hosts: {})",
                quoted(plan.hosts())
            )));
        }
        // (instance, function, component, export, safe)
        let mut wanted: Vec<(String, String, String, String, bool)> = Vec::new();
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
            for (name, f) in &info.resolve.interfaces[iface].functions {
                if !wanted.iter().any(|w| w.0 == r.import && &w.1 == name) {
                    wanted.push((
                        r.import.clone(),
                        name.clone(),
                        peer.clone(),
                        export.clone(),
                        wit::is_wrpc_safe(&info.resolve, f),
                    ));
                }
            }
        }
        if wanted.is_empty() {
            return Err(ServeError::Setup(format!(
                "no wrpc link of the plan calls into host `{host}`: there is nothing to serve (`weld plan` shows the links)"
            )));
        }
        let runtime = Runtime::new(
            deployment,
            &RuntimeOptions {
                host: Some(host.to_string()),
                ..RuntimeOptions::default()
            },
        )?;
        // Types come from the real exports (a probe store, dropped after).
        let mut served = Vec::new();
        {
            let mut probe = runtime.instantiate()?;
            for (instance, function, component, export, safe) in wanted {
                let (func, _) = probe.func(&component, &format!("{export}#{function}"))?;
                let ty = func.ty(probe.store());
                let params: Vec<Type> = ty.params().map(|(_, t)| t).collect();
                let results: Vec<Type> = ty.results().collect();
                let wire_results = super::wire_results(safe, results).ok_or_else(|| {
                    ServeError::Setup(format!(
                        "`{component}` `{export}#{function}` does not return a result"
                    ))
                })?;
                let policy = deployment.manifest.components[&component]
                    .get_ref()
                    .instances;
                served.push(Served {
                    instance,
                    function,
                    component,
                    export,
                    safe,
                    policy,
                    params,
                    wire_results,
                });
            }
        }
        let endpoint = options
            .endpoint
            .clone()
            .unwrap_or_else(|| deployment.manifest.endpoint_of(host));
        Ok(Server {
            runtime,
            endpoint,
            served,
            options,
        })
    }

    /// What this server serves, in plan order.
    pub fn served(&self) -> &[Served] {
        &self.served
    }

    /// Where it serves (as configured; see `run`'s `on_ready` for the bound
    /// address).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Serves until `shutdown` completes, then stops taking calls, lets
    /// in-flight calls finish (up to the grace period) and returns.
    /// `on_ready` receives the endpoint actually bound (a TCP port 0 is
    /// resolved) once calls are accepted.
    pub fn run(
        &self,
        on_ready: impl FnOnce(&Endpoint),
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<ServeStats, ServeError> {
        let (shared_tx, shared_rx) = mpsc::channel::<Job>();
        let (pool_tx, pool_rx) = mpsc::channel::<Job>();
        let pool_rx = Arc::new(Mutex::new(pool_rx));
        let stats = Arc::new(Counters::default());
        std::thread::scope(|scope| {
            let runtime = &self.runtime;
            let served = &self.served;
            let shared = std::thread::Builder::new()
                .name("weld-serve-shared".into())
                .spawn_scoped(scope, move || shared_worker(runtime, served, shared_rx))
                .map_err(|e| ServeError::Setup(format!("cannot start a worker: {e}")))?;
            let workers = self.options.max_concurrency.clamp(1, 4);
            let mut pool = Vec::new();
            for i in 0..workers {
                let rx = Arc::clone(&pool_rx);
                pool.push(
                    std::thread::Builder::new()
                        .name(format!("weld-serve-{i}"))
                        .spawn_scoped(scope, move || pool_worker(runtime, served, rx))
                        .map_err(|e| ServeError::Setup(format!("cannot start a worker: {e}")))?,
                );
            }
            let dispatch = Dispatch {
                served: Arc::new(self.served.clone()),
                shared: shared_tx,
                pool: pool_tx,
                stats: Arc::clone(&stats),
                limits: self.options.limits,
                read_timeout: self.options.read_timeout,
                permits: Arc::new(tokio::sync::Semaphore::new(
                    self.options.max_concurrency.max(1),
                )),
            };
            let result = io_runtime().block_on(serve_endpoint(
                &self.endpoint,
                dispatch,
                on_ready,
                shutdown,
                self.options.grace,
            ));
            // The dispatcher's senders are gone: the workers finish.
            let _ = shared.join();
            for w in pool {
                let _ = w.join();
            }
            result
        })?;
        Ok(ServeStats {
            answered: stats.answered.load(Ordering::Relaxed),
            failed: stats.failed.load(Ordering::Relaxed),
        })
    }
}

#[derive(Default)]
struct Counters {
    answered: AtomicU64,
    failed: AtomicU64,
}

/// A call handed to a worker.
struct Job {
    index: usize,
    args: Vec<Val>,
    reply: tokio::sync::oneshot::Sender<Result<Vec<Val>, String>>,
}

/// Runs jobs of `shared` components in one store, re-instantiating it if a
/// trap poisons it.
fn shared_worker(runtime: &Runtime, served: &[Served], rx: mpsc::Receiver<Job>) {
    let mut deployed: Option<Deployed<'_>> = None;
    let mut funcs: Vec<Option<Func>> = vec![None; served.len()];
    while let Ok(job) = rx.recv() {
        if deployed.is_none() {
            match runtime.instantiate() {
                Ok(d) => {
                    deployed = Some(d);
                    funcs.iter_mut().for_each(|f| *f = None);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(format!("cannot instantiate: {e}")));
                    continue;
                }
            }
        }
        let d = deployed.as_mut().expect("instantiated above");
        let result = execute(d, &served[job.index], &mut funcs[job.index], job.args);
        if result.is_err() && d.is_poisoned() {
            tracing::warn!("a trap poisoned the shared instance; the next call gets a fresh one");
            deployed = None;
        }
        let _ = job.reply.send(result);
    }
}

/// Runs jobs of `per-call` components, each in a fresh store.
fn pool_worker(runtime: &Runtime, served: &[Served], rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let result = match runtime.instantiate() {
            Ok(mut d) => execute(&mut d, &served[job.index], &mut None, job.args),
            Err(e) => Err(format!("cannot instantiate: {e}")),
        };
        let _ = job.reply.send(result);
    }
}

/// Calls one served function; returns what travels back (the ok value of a
/// wRPC-safe function) or why nothing does.
fn execute(
    d: &mut Deployed<'_>,
    s: &Served,
    func: &mut Option<Func>,
    args: Vec<Val>,
) -> Result<Vec<Val>, String> {
    let full = format!("{}#{}", s.export, s.function);
    let f = match func {
        Some(f) => *f,
        None => {
            let (f, _) = d.func(&s.component, &full).map_err(|e| e.to_string())?;
            *func = Some(f);
            f
        }
    };
    let mut results = d
        .invoke(&s.component, &full, f, &args)
        .map_err(|e| e.to_string())?;
    if !s.safe {
        return Ok(results);
    }
    match results.pop() {
        Some(Val::Result(Ok(v))) => Ok(v.map(|v| vec![*v]).unwrap_or_default()),
        Some(Val::Result(Err(Some(e)))) => {
            let message = match *e {
                Val::Resource(any) => {
                    let store = d.store();
                    any.try_into_resource::<WrpcError>(&mut *store)
                        .and_then(|r| store.data_mut().take_wrpc_error(r))
                        .unwrap_or_else(|e| format!("(unreadable error: {e})"))
                }
                other => format!("{other:?}"),
            };
            Err(format!(
                "`{}` `{full}` returned an error: {message}",
                s.component
            ))
        }
        other => Err(format!(
            "`{}` `{full}` returned {other:?}, not a result",
            s.component
        )),
    }
}

/// Shared by every call task.
#[derive(Clone)]
struct Dispatch {
    served: Arc<Vec<Served>>,
    shared: mpsc::Sender<Job>,
    pool: mpsc::Sender<Job>,
    stats: Arc<Counters>,
    limits: Limits,
    read_timeout: Duration,
    permits: Arc<tokio::sync::Semaphore>,
}

type Invocation<O, I> = (usize, anyhow::Result<(O, I)>);
type Invocations<O, I> = Pin<Box<dyn Stream<Item = Invocation<O, I>> + Send>>;

/// Registers every served function with `srv`: one stream of invocations.
async fn register<S>(
    srv: &S,
    served: &[Served],
) -> anyhow::Result<Invocations<S::Outgoing, S::Incoming>>
where
    S: Serve,
    S::Context: Send,
{
    let mut streams: Vec<Invocations<S::Outgoing, S::Incoming>> = Vec::new();
    for (index, s) in served.iter().enumerate() {
        let paths: Arc<[Box<[Option<usize>]>]> = Arc::from(Vec::new());
        let stream = srv.serve(&s.instance, &s.function, paths).await?;
        streams.push(Box::pin(
            stream.map(move |r| (index, r.map(|(_, tx, rx)| (tx, rx)))),
        ));
    }
    Ok(Box::pin(futures::stream::select_all(streams)))
}

/// Binds the endpoint and serves until `shutdown`.
async fn serve_endpoint(
    endpoint: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let bind_err = |cause: String| ServeError::Bind {
        endpoint: endpoint.to_string(),
        cause,
    };
    match endpoint {
        Endpoint::Tcp { address } => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| bind_err(e.to_string()))?;
            let bound = Endpoint::Tcp {
                address: listener
                    .local_addr()
                    .map_err(|e| bind_err(e.to_string()))?
                    .to_string(),
            };
            let listener = Arc::new(listener);
            let accept = move || {
                let listener = Arc::clone(&listener);
                async move {
                    let (s, _) = listener.accept().await?;
                    let _ = s.set_nodelay(true);
                    let (rx, tx) = s.into_split();
                    Ok((boxed_write(tx), boxed_read(rx)))
                }
            };
            serve_framed(accept, &bound, dispatch, on_ready, shutdown, grace).await
        }
        Endpoint::Unix { path } => {
            // A socket file nobody listens on is left from a crash: replace
            // it. One somebody listens on is a second server: refuse.
            if path.exists() {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(bind_err("another server is listening there".into()));
                }
                let _ = std::fs::remove_file(path);
            }
            let listener =
                tokio::net::UnixListener::bind(path).map_err(|e| bind_err(e.to_string()))?;
            let listener = Arc::new(listener);
            let accept = move || {
                let listener = Arc::clone(&listener);
                async move {
                    let (s, _) = listener.accept().await?;
                    let (rx, tx) = s.into_split();
                    Ok((boxed_write(tx), boxed_read(rx)))
                }
            };
            let r = serve_framed(accept, endpoint, dispatch, on_ready, shutdown, grace).await;
            let _ = std::fs::remove_file(path);
            r
        }
        Endpoint::Nats { url, prefix } => {
            let nats = async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(5))
                .connect(url.as_str())
                .await
                .map_err(|e| bind_err(e.to_string()))?;
            let client =
                wrpc_transport_nats::Client::new(nats, prefix.clone().unwrap_or_default(), None)
                    .await
                    .map_err(|e| bind_err(format!("{e:#}")))?;
            let invocations = register(&client, &dispatch.served)
                .await
                .map_err(|e| bind_err(format!("{e:#}")))?;
            on_ready(endpoint);
            run_dispatch(invocations, dispatch, shutdown, grace).await
        }
    }
}

/// Serves the framed transports (TCP, Unix): connections from `accept`.
async fn serve_framed<F, Fut>(
    accept: F,
    bound: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<(BoxWrite, BoxRead)>> + Send + 'static,
{
    let srv = Arc::new(FramedServer::new());
    let invocations = register(&*srv, &dispatch.served)
        .await
        .map_err(|e| ServeError::Bind {
            endpoint: bound.to_string(),
            cause: format!("{e:#}"),
        })?;
    let stop = tokio::sync::watch::channel(false).0;
    let acceptor = tokio::spawn(accept_loop(srv, stop.clone(), accept));
    on_ready(bound);
    let r = run_dispatch(invocations, dispatch, shutdown, grace).await;
    stop.send_replace(true);
    let _ = acceptor.await;
    r
}

type BoxRead = Box<dyn AsyncRead + Send + Sync + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Sync + Unpin>;
type FramedServer = wrpc_transport::frame::Server<(), BoxRead, BoxWrite>;

fn boxed_read(r: impl AsyncRead + Send + Sync + Unpin + 'static) -> BoxRead {
    Box::new(r)
}

fn boxed_write(w: impl AsyncWrite + Send + Sync + Unpin + 'static) -> BoxWrite {
    Box::new(w)
}

/// One accepted connection, handed to the framed server's header parser.
struct OneConnection(Mutex<Option<(BoxWrite, BoxRead)>>);

impl wrpc_transport::frame::Accept for OneConnection {
    type Context = ();
    type Outgoing = BoxWrite;
    type Incoming = BoxRead;

    async fn accept(&self) -> std::io::Result<((), BoxWrite, BoxRead)> {
        let conn = self.0.lock().ok().and_then(|mut c| c.take());
        conn.map(|(tx, rx)| ((), tx, rx))
            .ok_or_else(|| std::io::Error::other("connection already taken"))
    }
}

/// Accepts connections until `stop`; each connection's header is read in
/// its own task (with a timeout), so a slow or silent client blocks nobody.
async fn accept_loop<F, Fut>(
    srv: Arc<FramedServer>,
    stop: tokio::sync::watch::Sender<bool>,
    accept: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = std::io::Result<(BoxWrite, BoxRead)>>,
{
    let mut stopped = stop.subscribe();
    loop {
        let conn = tokio::select! {
            c = accept() => c,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let srv = Arc::clone(&srv);
        tokio::spawn(async move {
            let one = OneConnection(Mutex::new(Some(conn)));
            match tokio::time::timeout(Duration::from_secs(10), srv.accept(one)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("refused a wRPC connection: {e}"),
                Err(_) => tracing::warn!("a wRPC client sent no complete header within 10 s"),
            }
        });
    }
}

/// Runs [`dispatch_loop`] as a task on the I/O runtime's worker, where the
/// transport's own tasks run: a call then wakes no other thread until it
/// reaches a guest worker.
async fn run_dispatch<O, I>(
    invocations: Invocations<O, I>,
    dispatch: Dispatch,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError>
where
    O: AsyncWrite + Send + Unpin + 'static,
    I: AsyncRead + Send + Unpin + 'static,
{
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let mut task = tokio::spawn(dispatch_loop(
        invocations,
        dispatch,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
        grace,
    ));
    let joined = tokio::select! {
        r = &mut task => r,
        _ = shutdown => {
            let _ = stop.send(true);
            task.await
        }
    };
    joined.map_err(|e| ServeError::Setup(format!("the dispatcher failed: {e}")))?
}

/// Takes invocations until `shutdown`, then waits for in-flight calls.
async fn dispatch_loop<O, I>(
    mut invocations: Invocations<O, I>,
    dispatch: Dispatch,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError>
where
    O: AsyncWrite + Send + Unpin + 'static,
    I: AsyncRead + Send + Unpin + 'static,
{
    let mut calls = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            next = invocations.next() => match next {
                Some((index, Ok((tx, rx)))) => {
                    calls.spawn(handle(dispatch.clone(), index, tx, rx));
                }
                Some((index, Err(e))) => {
                    tracing::warn!("invocation of `{}` failed before its parameters: {e:#}", dispatch.served[index].function);
                }
                None => break,
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    drop(invocations);
    if !calls.is_empty() {
        tracing::info!(
            in_flight = calls.len(),
            "shutting down: waiting for in-flight calls"
        );
        let drain = async { while calls.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(
                "in-flight calls did not finish within the grace period; abandoning them"
            );
            calls.abort_all();
        }
    }
    Ok(())
}

/// One call: read and decode the parameters, run the function on a worker,
/// write the results, close.
async fn handle<O, I>(d: Dispatch, index: usize, mut tx: O, mut rx: I)
where
    O: AsyncWrite + Send + Unpin + 'static,
    I: AsyncRead + Send + Unpin + 'static,
{
    let s = &d.served[index];
    let what = format!("`{}.{}` (`{}`)", s.instance, s.function, s.component);
    let Ok(_permit) = d.permits.acquire().await else {
        return;
    };
    let outcome = async {
        let args =
            match tokio::time::timeout(d.read_timeout, read_values(&mut rx, &s.params, &d.limits))
                .await
            {
                Ok(Ok(args)) => args,
                Ok(Err(e)) => return Err(format!("bad parameters: {e}")),
                Err(_) => return Err("the parameters did not arrive in time".to_string()),
            };
        let (reply, result) = tokio::sync::oneshot::channel();
        let job = Job { index, args, reply };
        let queue = match s.policy {
            InstancePolicy::Shared => &d.shared,
            InstancePolicy::PerCall => &d.pool,
        };
        queue
            .send(job)
            .map_err(|_| "the server is stopping".to_string())?;
        let results = result
            .await
            .map_err(|_| "the worker stopped".to_string())??;
        codec::encode_values(&results, &s.wire_results)
            .map_err(|e| format!("cannot encode the results: {e}"))
    }
    .await;
    match outcome {
        Ok(bytes) => {
            let written = async {
                tx.write_all(&bytes).await?;
                tx.shutdown().await
            }
            .await;
            match written {
                Ok(()) => {
                    d.stats.answered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    d.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("{what}: sending the results failed: {e}");
                }
            }
        }
        Err(e) => {
            d.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{what}: {e}; closing the call without a result");
            let _ = tx.shutdown().await;
        }
    }
}

/// A server running on its own thread, for tests, benches and `weld bench`:
/// stopped (gracefully) by [`Background::stop`] or on drop.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<ServeStats, ServeError>>>,
    bound: Endpoint,
}

impl Server {
    /// Starts serving on a new thread; returns once calls are accepted.
    pub fn spawn(self) -> Result<Background, ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("weld-serve".into())
            .spawn(move || {
                self.run(
                    |b| {
                        let _ = ready.send(b.clone());
                    },
                    async {
                        let _ = stopped.await;
                    },
                )
            })
            .map_err(|e| ServeError::Setup(format!("cannot start the server thread: {e}")))?;
        match bound.recv() {
            Ok(bound) => Ok(Background {
                stop: Some(stop),
                thread: Some(thread),
                bound,
            }),
            // The thread ended before it was ready: its error says why.
            Err(_) => Err(thread
                .join()
                .map_err(|_| ServeError::Setup("the server thread panicked".into()))?
                .err()
                .unwrap_or_else(|| {
                    ServeError::Setup("the server stopped before it was ready".into())
                })),
        }
    }
}

impl Background {
    /// Where it listens (a TCP port 0 resolved).
    pub fn endpoint(&self) -> &Endpoint {
        &self.bound
    }

    /// Stops taking calls, lets in-flight ones finish, returns the counts.
    pub fn stop(mut self) -> Result<ServeStats, ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<ServeStats, ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| ServeError::Setup("the server thread panicked".into()))?,
            None => Ok(ServeStats::default()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
