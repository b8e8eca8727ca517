//! The I/O side of serving: bind the endpoint, take invocations, read and
//! decode parameters, hand calls to the workers, write the results.

use super::worker::{Counters, Job};
use super::{ServeError, Served};
use crate::manifest::InstancePolicy;
use crate::runtime::BoxError;
use crate::wrpc::client::read_values;
use crate::wrpc::codec::{self, Limits};
use crate::wrpc::Endpoint;
use futures::{Stream, StreamExt as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use wrpc_transport::Serve;

/// Shared by every call task.
#[derive(Clone)]
pub(super) struct Dispatch {
    pub served: Arc<Vec<Served>>,
    pub shared: mpsc::Sender<Job>,
    pub pool: mpsc::Sender<Job>,
    pub stats: Arc<Counters>,
    pub limits: Limits,
    pub read_timeout: Duration,
    pub permits: Arc<tokio::sync::Semaphore>,
    /// Interrupted when the grace period ends with calls in flight.
    pub runtime: crate::runtime::Runtime,
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
pub(super) async fn serve_endpoint(
    endpoint: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let bind_err = |source: BoxError| ServeError::Bind {
        endpoint: endpoint.to_string(),
        source,
    };
    match endpoint {
        Endpoint::Tcp { address } => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .map_err(|e| bind_err(e.into()))?;
            let bound = Endpoint::Tcp {
                address: listener
                    .local_addr()
                    .map_err(|e| bind_err(e.into()))?
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
            let listener = tokio::net::UnixListener::bind(path).map_err(|e| bind_err(e.into()))?;
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
                .map_err(|e| bind_err(e.into()))?;
            let client =
                wrpc_transport_nats::Client::new(nats, prefix.clone().unwrap_or_default(), None)
                    .await
                    .map_err(|e| bind_err(e.into()))?;
            let invocations = register(&client, &dispatch.served)
                .await
                .map_err(|e| bind_err(e.into()))?;
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
            source: e.into(),
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
    joined.map_err(|_| ServeError::Panicked)?
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
            // Cut what is left: running guests trap at their next epoch
            // check; the call tasks are dropped.
            let cut = calls.len() as u64;
            dispatch.stats.cut.fetch_add(cut, Ordering::Relaxed);
            tracing::warn!(
                cut,
                "in-flight calls did not finish within the grace period; cutting them"
            );
            dispatch.runtime.interrupt();
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
