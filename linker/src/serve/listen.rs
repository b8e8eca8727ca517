//! The I/O side of serving: bind the endpoint, take invocations, read and
//! decode parameters, hand calls to the workers, write the results.

use super::budget::{Budget, PastBudget};
use super::fair::PeerKey;
use super::generation::{Current, Generation};
use super::report::{Cause, FailedCall, Reporter};
use super::worker::{Answer, Args, Job, Outcome};
use super::{ServeError, Served};
use crate::observe::{trace, Call, CallCells, Ended};
use crate::runtime::BoxError;
use crate::wrpc::bounded::{self, Frames};
use crate::wrpc::client::{read_with, Message, ReadError};
use crate::wrpc::codec::{self, CodecError, Limits};
use crate::wrpc::Endpoint;
use futures::{Stream, StreamExt as _};
use opentelemetry::KeyValue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

/// Where a reply goes: a framed socket half (weld writes the frames) or a
/// transport's own outgoing stream (NATS).
pub(super) trait Reply: Send + Unpin + 'static {
    /// Sends the encoded results.
    fn send(&mut self, bytes: &[u8]) -> impl Future<Output = std::io::Result<()>> + Send;
    /// Closes the call.
    fn close(&mut self) -> impl Future<Output = std::io::Result<()>> + Send;
}

/// A framed socket's write half: the results as one root-path frame. It
/// holds its connection's slot until the call ends.
pub(super) struct Framed {
    tx: BoxWrite,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Reply for Framed {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        bounded::write_frame(&mut self.tx, bytes).await
    }
    async fn close(&mut self) -> std::io::Result<()> {
        self.tx.shutdown().await
    }
}

/// Shared by every call task.
#[derive(Clone)]
pub(super) struct Dispatch {
    /// What is served: the generation each call is bound to.
    pub current: Arc<Current>,
    pub report: Arc<Reporter>,
    pub limits: Limits,
    pub read_timeout: Duration,
    /// One per open connection (TCP, Unix): taken before accepting, given
    /// back when the call ends.
    pub connections: Arc<tokio::sync::Semaphore>,
    /// The NATS queue group the host's replicas share.
    pub queue_group: Arc<str>,
    /// The memory decoded parameters of calls in flight may hold.
    pub budget: Arc<Budget>,
    /// Calls handed to a worker and not yet answered (this endpoint's).
    pub in_flight: Arc<InFlight>,
    /// Set when this endpoint stops because the plan moved the host, not
    /// because the server stops: calls still running after the grace
    /// period are cut without interrupting guests the new endpoint's calls
    /// run on.
    pub moved: Arc<std::sync::atomic::AtomicBool>,
}

/// Counts calls between their hand-off to a worker and their reply, so
/// shutdown can wait for them; the worker answers without waking the I/O
/// thread, so nothing else tracks them.
#[derive(Default)]
pub(super) struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One call in flight, until dropped.
pub(super) struct Ticket(Arc<InFlight>);

impl InFlight {
    fn ticket(self: &Arc<Self>) -> Ticket {
        self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ticket(Arc::clone(self))
    }

    fn len(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Returns once no call is in flight.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a last ticket dropped in
            // between still wakes this.
            notified.as_mut().enable();
            if self.len() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

/// Who called: as logs name them, their turn for permits, and the
/// identity an authenticating transport proved.
#[derive(Clone)]
pub(super) struct Peer {
    name: Arc<str>,
    key: PeerKey,
    identity: Option<Arc<str>>,
    /// The trace context the caller sent (W3C headers, over NATS).
    carried: Option<Arc<[(String, String)]>>,
}

impl Peer {
    pub(super) fn new(name: impl Into<Arc<str>>, key: PeerKey) -> Peer {
        Peer {
            name: name.into(),
            key,
            identity: None,
            carried: None,
        }
    }

    /// A caller whose certificate names `identity`.
    pub(super) fn with_identity(mut self, identity: Option<Arc<str>>) -> Peer {
        self.identity = identity;
        self
    }

    /// A caller that sent the trace context `carried`.
    pub(super) fn with_carried(mut self, carried: Option<Arc<[(String, String)]>>) -> Peer {
        self.carried = carried;
        self
    }

    /// Starts `s`'s call from this peer in `cells`: under the trace
    /// context it sent, naming it and, as far as the plan tells, the link
    /// it calls across.
    fn start(&self, s: &Served, cells: &CallCells) -> Call {
        let parent = || {
            self.carried
                .as_deref()
                .map_or_else(opentelemetry::Context::new, trace::extract)
        };
        cells.start_served(parent, |attributes| {
            attributes.push(KeyValue::new("weld.peer", self.name.to_string()));
            if let Some(identity) = &self.identity {
                attributes.push(KeyValue::new("weld.peer_identity", identity.to_string()));
            }
            s.links.describe(self.identity.as_deref(), attributes);
        })
    }
}

/// A served function of a generation: a call holds its generation until
/// it is answered.
pub(super) struct Target {
    generation: Arc<Generation>,
    index: usize,
}

impl Target {
    /// `instance#function` of the generation serving now, if it serves it.
    pub(super) fn find(current: &Current, instance: &str, function: &str) -> Option<Target> {
        let generation = current.get()?;
        let index = generation.find(instance, function)?;
        Some(Target { generation, index })
    }

    fn served(&self) -> &Served {
        &self.generation.served[self.index]
    }

    /// Whether its calls make spans.
    pub(super) fn traced(&self) -> bool {
        self.served().cells.as_ref().is_some_and(|c| c.traced())
    }
}

/// A call refused before its parameters: which function, when known, and
/// why.
pub(super) type Refusal = (Option<(String, String)>, String);

/// The caller, and the call's target and streams or why it is refused.
pub(super) type Invocation<O, I> = (Peer, Result<(Target, O, I), Refusal>);
pub(super) type Invocations<O, I> = Pin<Box<dyn Stream<Item = Invocation<O, I>> + Send>>;

/// [`ServeError::Bind`] for `endpoint`, around a source.
pub(super) fn bind_error(endpoint: &Endpoint) -> impl Fn(BoxError) -> ServeError + Copy + '_ {
    move |source| ServeError::Bind {
        endpoint: endpoint.to_string(),
        source,
    }
}

/// Binds the endpoint and serves until `shutdown`.
pub(super) async fn serve_endpoint(
    endpoint: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let bind_err = bind_error(endpoint);
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
                    let (s, peer) = listener.accept().await?;
                    bounded::one_message(&s);
                    let (rx, tx) = s.into_split();
                    let peer = Peer::new(peer.to_string(), PeerKey::Ip(peer.ip()));
                    Ok((peer, boxed_write(tx), boxed_read(rx)))
                }
            };
            serve_framed(accept, &bound, dispatch, on_ready, shutdown, grace).await
        }
        // Served by `serve::quic`, which builds on the framed path here.
        Endpoint::Quic { .. } => Err(bind_err(
            "a QUIC endpoint is not served by the framed listeners".into(),
        )),
        Endpoint::Unix { path } => {
            serve_unix(path, endpoint, dispatch, on_ready, shutdown, grace).await
        }
        // Served by `serve::subjects`, which builds on the dispatch here.
        Endpoint::Nats { .. } => Err(bind_err(
            "a NATS endpoint is not served by the framed listeners".into(),
        )),
    }
}

/// Serves on the Unix socket `path`: a stale socket there (left by a
/// crash) is replaced, and the socket this server made is removed at the
/// end, nothing that replaced it meanwhile.
async fn serve_unix(
    path: &std::path::Path,
    endpoint: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let bind_err = bind_error(endpoint);
    clear_stale_socket(path).map_err(|e| bind_err(e.into()))?;
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| bind_err(e.into()))?;
    // The file this server made, so that the clean-up at the end
    // removes it and nothing that replaced it meanwhile.
    let made = socket_identity(path);
    let listener = Arc::new(listener);
    let accept = move || {
        let listener = Arc::clone(&listener);
        async move {
            let (s, _) = listener.accept().await?;
            let peer = match s.peer_cred() {
                Ok(c) => Peer::new(
                    match c.pid() {
                        Some(pid) => format!("unix peer pid {pid} uid {}", c.uid()),
                        None => format!("unix peer uid {}", c.uid()),
                    },
                    PeerKey::Uid(c.uid()),
                ),
                Err(_) => Peer::new("unix peer", PeerKey::Anonymous),
            };
            let (rx, tx) = s.into_split();
            Ok((peer, boxed_write(tx), boxed_read(rx)))
        }
    };
    let r = serve_framed(accept, endpoint, dispatch, on_ready, shutdown, grace).await;
    if made.is_some() && socket_identity(path) == made {
        let _ = std::fs::remove_file(path);
    }
    r
}

/// Serves the framed transports (TCP, Unix, QUIC's streams): connections
/// from `accept`.
pub(super) async fn serve_framed<F, Fut>(
    accept: F,
    bound: &Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<Connection>> + Send + 'static,
{
    let (calls, invocations) = tokio::sync::mpsc::channel(1024);
    let invocations: Invocations<Framed, Frames<BoxRead>> = Box::pin(tokio_stream_of(invocations));
    let stop = tokio::sync::watch::channel(false).0;
    let acceptor = tokio::spawn(accept_loop(dispatch.clone(), calls, stop.clone(), accept));
    on_ready(bound);
    let r = run_dispatch(invocations, dispatch, shutdown, grace).await;
    stop.send_replace(true);
    let _ = acceptor.await;
    r
}

/// The receiving end of a channel as a stream.
fn tokio_stream_of<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) })
}

type BoxRead = Box<dyn AsyncRead + Send + Sync + Unpin>;
type BoxWrite = Box<dyn AsyncWrite + Send + Sync + Unpin>;
/// An accepted connection: the peer and its two halves.
pub(super) type Connection = (Peer, BoxWrite, BoxRead);

pub(super) fn boxed_read(r: impl AsyncRead + Send + Sync + Unpin + 'static) -> BoxRead {
    Box::new(r)
}

pub(super) fn boxed_write(w: impl AsyncWrite + Send + Sync + Unpin + 'static) -> BoxWrite {
    Box::new(w)
}

/// Accepts connections until `stop`, at most `max_connections` open at
/// once; each connection's header is read in its own task within the read
/// timeout, so a slow or silent client blocks nobody.
/// Every connection may bring at most `max_bytes` plus
/// [`bounded::HEADER_CAP`] bytes, read through weld's bounded framing.
async fn accept_loop<F, Fut>(
    d: Dispatch,
    calls: tokio::sync::mpsc::Sender<Invocation<Framed, Frames<BoxRead>>>,
    stop: tokio::sync::watch::Sender<bool>,
    accept: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = std::io::Result<Connection>>,
{
    let mut stopped = stop.subscribe();
    loop {
        // At the connection cap, wait for a call to end before accepting:
        // further clients wait in the kernel's backlog, not in weld's memory.
        let slot = tokio::select! {
            slot = Arc::clone(&d.connections).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
            _ = stopped.wait_for(|s| *s) => return,
        };
        let conn = tokio::select! {
            c = accept() => c,
            _ = stopped.wait_for(|s| *s) => return,
        };
        let (peer, tx, rx) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let d = d.clone();
        let calls = calls.clone();
        tokio::spawn(async move {
            let refuse = |message: String| {
                d.report.failed(FailedCall {
                    function: None,
                    component: None,
                    peer: peer.name.to_string(),
                    cause: Cause::Refused,
                    message,
                })
            };
            let mut frames = Frames::new(rx, bounded::budget_for(d.limits.max_bytes));
            let (instance, function) =
                match tokio::time::timeout(d.read_timeout, frames.read_header()).await {
                    Ok(Ok(names)) => names,
                    Ok(Err(e)) => {
                        return refuse(format!("refused a wRPC connection from {}: {e}", peer.name))
                    }
                    Err(_) => {
                        return refuse(format!(
                            "{} sent no complete wRPC header within {} ms",
                            peer.name,
                            d.read_timeout.as_millis()
                        ))
                    }
                };
            let Some(target) = Target::find(&d.current, &instance, &function) else {
                return refuse(format!(
                    "refused a wRPC connection from {}: `{instance}#{function}` is not served here",
                    peer.name
                ));
            };
            let served = target.served();
            if !served.callers.admits(peer.identity.as_deref()) {
                if let Some(cells) = &served.cells {
                    cells.record(Duration::ZERO, Cause::Unauthorized.ended(), 0, 0);
                }
                return d.report.failed(FailedCall {
                    function: Some(format!("{instance}#{function}")),
                    component: Some(served.component.clone()),
                    peer: peer.name.to_string(),
                    cause: Cause::Unauthorized,
                    message: format!(
                        "refused: {} is not among the callers allowed ({})",
                        peer.identity.as_deref().map_or_else(
                            || "a caller whose certificate names no identity".to_string(),
                            |i| format!("identity `{i}`")
                        ),
                        served.callers
                    ),
                });
            }
            let _ = calls
                .send((peer, Ok((target, Framed { tx, _slot: slot }, frames))))
                .await;
        });
    }
}

/// Runs [`dispatch_loop`] as a task on the I/O runtime's worker, where the
/// transport's own tasks run: a call then wakes no other thread until it
/// reaches a guest worker.
pub(super) async fn run_dispatch<O, I>(
    invocations: Invocations<O, I>,
    dispatch: Dispatch,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError>
where
    O: Reply,
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
    O: Reply,
    I: AsyncRead + Send + Unpin + 'static,
{
    let mut calls = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            next = invocations.next() => match next {
                Some((peer, Ok((target, tx, rx)))) => {
                    calls.spawn(handle(dispatch.clone(), target, peer, tx, rx));
                }
                Some((peer, Err((function, e)))) => {
                    let component = function.as_ref().and_then(|(i, f)| {
                        let g = dispatch.current.get()?;
                        Some(g.served[g.find(i, f)?].component.clone())
                    });
                    dispatch.report.failed(FailedCall {
                        function: function.map(|(i, f)| format!("{i}.{f}")),
                        component,
                        peer: peer.name.to_string(),
                        cause: Cause::Refused,
                        message: format!("the invocation failed before its parameters: {e}"),
                    });
                }
                None => break,
            },
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
            _ = &mut shutdown => break,
        }
    }
    drop(invocations);
    let in_flight = &dispatch.in_flight;
    if !calls.is_empty() || in_flight.len() > 0 {
        tracing::info!(
            in_flight = calls.len().max(in_flight.len()),
            "shutting down: waiting for in-flight calls"
        );
        let drain = async {
            while calls.join_next().await.is_some() {}
            in_flight.idle().await;
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            // Cut what is left: running guests trap at their next epoch
            // check; the call tasks are dropped.
            let cut = calls.len().max(in_flight.len()) as u64;
            dispatch.report.cut(cut);
            tracing::warn!(
                cut,
                "in-flight calls did not finish within the grace period; cutting them"
            );
            if !dispatch.moved.load(std::sync::atomic::Ordering::Relaxed) {
                dispatch.current.interrupt();
            }
            calls.abort_all();
        }
    }
    Ok(())
}

/// Messages from this size on are decoded off the I/O thread.
const DECODE_ASIDE: usize = 256 * 1024;

/// Runs `decode` of a `len`-byte message; a large one with the I/O
/// worker's other tasks handed to another thread meanwhile, so one peer's
/// large message (up to the footprint cap's worth of values, ~100 ms)
/// does not stall every other connection. Small messages, most calls, pay
/// nothing for it.
fn off_io_thread<T>(len: usize, decode: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if len >= DECODE_ASIDE && multi_thread {
        tokio::task::block_in_place(decode)
    } else {
        decode()
    }
}

/// One call: read and decode the parameters, hand the function to a
/// worker, which runs it and answers ([`finish`]). A concurrency permit is
/// taken only once the parameters have arrived, so clients that stall
/// before sending them hold no permit and delay nobody else's call.
async fn handle<O, I>(d: Dispatch, target: Target, peer: Peer, tx: O, rx: I)
where
    O: Reply,
    I: AsyncRead + Send + Unpin + 'static,
{
    let s = target.served();
    let index = target.index;
    // Timed only when counted: an unobserved call reads no clock for it.
    let started = s.cells.as_ref().map(|cells| peer.start(s, cells));
    // Every byte of the parameters is reserved in the budget before it is
    // read: parameters held half-sent count too.
    let mut rx = d.budget.meter(rx);
    let prepared = async {
        let read = async {
            match &s.shape {
                // The typed path: Rust values, sized by their bytes.
                Some(shape) => {
                    let message = Message::new(&d.limits, s.params.is_empty(), |b: &[u8]| {
                        shape.0.decode(b, &d.limits)
                    });
                    read_with(&mut rx, message)
                        .await
                        .map(|(params, size)| ((Args::Typed(params), size), size))
                }
                // The dynamic path decodes only within what the budget has
                // left (and the per-call cap): the values are built inside
                // the budget, not past it while waiting for a share.
                None => {
                    let message = Message::new(&d.limits, s.params.is_empty(), |b: &[u8]| {
                        let limits = Limits {
                            max_footprint: d.limits.max_footprint.min(d.budget.available()),
                            ..d.limits
                        };
                        off_io_thread(b.len(), || {
                            codec::decode_values_measured(&s.params, b, &limits)
                        })
                    });
                    read_with(&mut rx, message)
                        .await
                        .map(|((args, footprint), size)| ((Args::Vals(args), footprint), size))
                }
            }
        };
        let ((args, size), received) = match tokio::time::timeout(d.read_timeout, read).await {
            Ok(Ok(args)) => args,
            Ok(Err(ReadError::Bad(e @ CodecError::FootprintExceeded { .. }))) => {
                return Err((
                    Cause::OverBudget,
                    format!("bad parameters: {e} (the per-call cap, or what the server's in-flight budget had left)"),
                ))
            }
            Ok(Err(ReadError::Io(e))) if e.get_ref().is_some_and(|e| e.is::<PastBudget>()) => {
                return Err((Cause::OverBudget, e.to_string()))
            }
            Ok(Err(e)) => return Err((Cause::BadParameters, format!("bad parameters: {e}"))),
            Err(_) => {
                return Err((
                    Cause::LateParameters,
                    format!(
                        "the parameters did not arrive within {} ms",
                        d.read_timeout.as_millis()
                    ),
                ))
            }
        };
        // The call's deadline counts from here: waiting for the budget, a
        // permit of its component and a worker is part of it.
        let arrived = std::time::Instant::now();
        // The bytes are gone once decoded: their reservation becomes the
        // values' share (taken at once: nothing ran in between).
        rx.release();
        let share = d.budget.take(size, d.read_timeout).await?;
        let permit = target.generation.lane(index).admit(arrived, peer.key).await?;
        Ok((args, arrived, (share, permit), received))
    }
    .await;
    drop(rx);
    let (args, arrived, held, received) = match prepared {
        Ok(p) => p,
        Err(failure) => {
            let ending = d.ending(&target, peer.name, started, 0);
            return ending.finish(tx, Err(failure)).await;
        }
    };
    let ticket = d.in_flight.ticket();
    let trace = started.as_ref().and_then(Call::context).cloned();
    let ending = d.ending(&target, peer.name, started, received);
    let (local, deadline) = (
        target.generation.local(index),
        target.generation.lane(index).deadline,
    );
    // The answer holds what the call holds, its generation among them
    // (what it runs on lives until it is answered), and nothing of the
    // queues: a reply still being written does not keep a worker's queue
    // open.
    let generation = Arc::clone(&target.generation);
    let answer = Answer::new(move |outcome| {
        Box::pin(async move {
            ending.finish(tx, outcome).await;
            drop((held, ticket, generation));
        })
    });
    let lane = target.generation.lane(index);
    let job = Job {
        index: local,
        args,
        answer,
        arrived,
        deadline,
        trace,
    };
    // A closed queue drops the job, and its answer ends the call as
    // `stopping`.
    lane.submit(job);
}

impl Dispatch {
    /// What ending a call of `target` from `peer` needs: when it started
    /// (if it is counted) and the bytes of its parameters.
    fn ending(
        &self,
        target: &Target,
        peer: Arc<str>,
        started: Option<Call>,
        received: usize,
    ) -> Ending {
        Ending {
            served: Arc::clone(&target.generation.served),
            index: target.index,
            peer,
            report: Arc::clone(&self.report),
            timeout: self.read_timeout,
            started,
            received,
        }
    }
}

/// The end of one call: which it is, who called, where to report.
struct Ending {
    served: Arc<Vec<Served>>,
    index: usize,
    peer: Arc<str>,
    report: Arc<Reporter>,
    /// How long the caller may take to take the reply: one that stops
    /// reading holds its call's permits no longer than this.
    timeout: Duration,
    /// When the call started (and its span), when it is counted.
    started: Option<Call>,
    /// The bytes of its parameters.
    received: usize,
}

impl Ending {
    /// Sends the results (or closes the call without them) and reports.
    async fn finish<O: Reply>(self, mut tx: O, outcome: Outcome) {
        let s = &self.served[self.index];
        let mut sent = 0;
        let outcome = match outcome {
            Ok(bytes) => {
                let send = async {
                    tx.send(&bytes).await?;
                    tx.close().await
                };
                match tokio::time::timeout(self.timeout, send).await {
                    Ok(r) => r
                        .map(|()| sent = bytes.len())
                        .map_err(|e| (Cause::Reply, format!("sending the results failed: {e}"))),
                    Err(_) => Err((
                        Cause::Reply,
                        format!(
                            "the caller did not take the results within {} ms",
                            self.timeout.as_millis()
                        ),
                    )),
                }
            }
            Err(failure) => {
                let _ = tokio::time::timeout(self.timeout, tx.close()).await;
                Err(failure)
            }
        };
        if let (Some(cells), Some(started)) = (&s.cells, self.started) {
            let ended = match &outcome {
                Ok(()) => Ended::Ok,
                Err((cause, _)) => cause.ended(),
            };
            cells.end(started, ended, sent, self.received);
        }
        match outcome {
            Ok(()) => self.report.answered(),
            Err((cause, message)) => self.report.failed(FailedCall {
                function: Some(format!("{}.{}", s.instance, s.function)),
                component: Some(s.component.clone()),
                peer: self.peer.to_string(),
                cause,
                message: format!("{message}; the call was closed without a result"),
            }),
        }
    }
}

/// Why a Unix socket path cannot be bound, checked before binding: weld
/// removes a file there only when it is a socket that nobody listens on
/// (left by a crash), never a file of the user's.
#[derive(Debug, thiserror::Error)]
pub enum SocketPathError {
    /// Something other than a socket is at the path.
    #[error("`{path}` is a {kind}, not a socket: weld removes only a stale socket; choose another path or remove it")]
    NotASocket {
        /// The path.
        path: String,
        /// What is there: "regular file", "directory", "symbolic link", …
        kind: &'static str,
    },
    /// A live server answers on the socket.
    #[error("another server is listening on `{path}`")]
    InUse {
        /// The path.
        path: String,
    },
    /// The path could not be inspected or the stale socket removed.
    #[error("cannot prepare `{path}`")]
    Io {
        /// The path.
        path: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Makes `path` free for a new socket: nothing there is fine; a stale
/// socket (one nobody answers on) is removed.
///
/// # Errors
/// [`SocketPathError::NotASocket`] for any other kind of file (a symbolic
/// link is not followed: it is refused, whatever it points at),
/// [`SocketPathError::InUse`] for a socket a server answers on.
pub fn clear_stale_socket(path: &std::path::Path) -> Result<(), SocketPathError> {
    use std::os::unix::fs::FileTypeExt as _;
    let shown = || path.display().to_string();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketPathError::Io {
                path: shown(),
                source,
            })
        }
    };
    let ft = meta.file_type();
    if !ft.is_socket() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_symlink() {
            "symbolic link"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_file() {
            "regular file"
        } else {
            "device or other special file"
        };
        return Err(SocketPathError::NotASocket {
            path: shown(),
            kind,
        });
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(SocketPathError::InUse { path: shown() });
    }
    std::fs::remove_file(path).map_err(|source| SocketPathError::Io {
        path: shown(),
        source,
    })
}

/// The device and inode of the socket at `path`, if a socket is there.
fn socket_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_stale_socket_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let at = |n: &str| dir.path().join(n);
        assert!(clear_stale_socket(&at("none")).is_ok());

        std::fs::write(at("data"), "keep me").unwrap();
        std::fs::create_dir(at("dir")).unwrap();
        // A link to a stale socket is still a link: not followed.
        let stale = at("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        std::os::unix::fs::symlink(&stale, at("link")).unwrap();
        let fifo = std::ffi::CString::new(at("fifo").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        for (name, what) in [
            ("data", "regular file"),
            ("dir", "directory"),
            ("link", "symbolic link"),
            ("fifo", "FIFO"),
        ] {
            let e = clear_stale_socket(&at(name)).unwrap_err();
            assert!(
                matches!(e, SocketPathError::NotASocket { kind, .. } if kind == what),
                "{name}: {e}"
            );
            assert!(at(name).symlink_metadata().is_ok(), "{name} was removed");
        }
        assert_eq!(std::fs::read_to_string(at("data")).unwrap(), "keep me");

        clear_stale_socket(&stale).unwrap();
        assert!(!stale.exists());

        let live = at("live.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
        let e = clear_stale_socket(&live).unwrap_err();
        assert!(matches!(e, SocketPathError::InUse { .. }), "{e}");
        assert!(live.exists());
    }
}
