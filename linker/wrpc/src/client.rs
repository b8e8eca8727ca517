//! The calling side of wRPC: one [`Remote`] per endpoint, carrying encoded
//! parameters to a server and decoding its reply.
//!
//! TCP and Unix open one connection per call (that is how wRPC 0.29's framed
//! transports work) and speak its framing through [`super::bounded`], so a
//! reply can cost no more memory than the message cap; NATS goes through
//! `wrpc-transport-nats`, whose client is made once per endpoint and reused;
//! QUIC keeps one connection per endpoint, under mutual TLS, and makes each
//! call a bidirectional stream of it (wrpc-transport-quic's wire), framed
//! and bounded as TCP is.
//!
//! Every failure is a [`CallError`] that names the endpoint and says what
//! happened, so a stub can hand it to the guest as a `wrpc:rpc/error` value.

use super::bounded::{self, Frames};
use super::codec::{self, CodecError, Limits};
use super::nats_auth::NatsAuth;
use super::tls::{Fingerprint, Identity, IdentityFiles, TlsError};
use super::Endpoint;
use bytes::{BufMut as _, Bytes};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use wasmtime::component::{Type, Val};

impl CallError {
    /// The failure's kind, as metrics name its cause: `encode`, `connect`,
    /// `timeout`, `no-result`, `truncated`, `too-large`, `bad-reply` or
    /// `io`.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Encode(_) => "encode",
            CallError::Connect { .. } => "connect",
            CallError::Timeout { .. } => "timeout",
            CallError::NoResult { .. } => "no-result",
            CallError::Truncated { .. } => "truncated",
            CallError::TooLarge { .. } => "too-large",
            CallError::BadReply { .. } => "bad-reply",
            CallError::Io { .. } => "io",
        }
    }
}

/// Per-call timeout of a wrpc link when the manifest gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a remote call failed. Every message names the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The parameters could not be encoded (a value wRPC cannot carry).
    #[error("cannot encode the arguments")]
    Encode(#[source] CodecError),
    /// No connection to the endpoint (refused, unreachable, no NATS server).
    #[error("cannot connect to {endpoint}")]
    Connect {
        /// Where.
        endpoint: String,
        /// The transport's reason.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// No complete reply within the link's timeout.
    #[error("no reply from {endpoint} within {ms} ms")]
    Timeout {
        /// Where.
        endpoint: String,
        /// The timeout.
        ms: u128,
    },
    /// The stream ended before any result byte arrived: the server closed
    /// the call (the function failed there, or the server went away).
    #[error("{endpoint} closed the call without a result (the remote function failed or the server stopped; see its log)")]
    NoResult {
        /// Where.
        endpoint: String,
    },
    /// The stream ended in the middle of the result.
    #[error(
        "the reply from {endpoint} ended after {received} bytes, before the result was complete"
    )]
    Truncated {
        /// Where.
        endpoint: String,
        /// Bytes received.
        received: usize,
    },
    /// The reply exceeds the size cap.
    #[error("the reply from {endpoint} exceeds the {max_bytes}-byte message cap")]
    TooLarge {
        /// Where.
        endpoint: String,
        /// The cap.
        max_bytes: usize,
    },
    /// The reply is not a value of the result type.
    #[error("the reply from {endpoint} is not a valid result")]
    BadReply {
        /// Where.
        endpoint: String,
        /// The decoder's reason.
        #[source]
        source: CodecError,
    },
    /// The connection failed mid-call (reset, broken pipe).
    #[error("the connection to {endpoint} failed")]
    Io {
        /// Where.
        endpoint: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Messages a NATS subscription may queue before the client drops them
/// (async-nats' default is 65 536, each up to the server's payload cap).
/// Used by callers and by `weld serve`.
pub const NATS_SUBSCRIPTION_CAPACITY: usize = 256;

/// The tokio runtime that drives weld's wRPC I/O. Host functions are
/// synchronous (the store is not async), so stubs block on this runtime;
/// its worker thread keeps sockets and NATS connections moving meanwhile.
pub fn io_runtime() -> &'static tokio::runtime::Runtime {
    static IO: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weld-wrpc-io")
            .enable_all()
            .build()
            .expect("cannot start the wRPC I/O runtime")
    })
}

thread_local! {
    /// A single-threaded runtime per calling thread, for TCP and Unix calls:
    /// the connection's tasks run on the thread that waits for the reply, so
    /// a call crosses no threads on the calling side.
    static LOCAL: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok();
}

/// A wRPC endpoint to call.
pub struct Remote {
    endpoint: Endpoint,
    label: String,
    nats: tokio::sync::OnceCell<super::nats::Caller>,
    /// What the caller's NATS connection presents to the broker.
    nats_auth: NatsAuth,
    /// The caller's side of QUIC: its identity and its one connection.
    quic: Option<QuicCaller>,
}

/// What a calling host presents where the transport asks.
#[derive(Debug, Default)]
pub struct Credentials {
    /// QUIC's client certificate.
    pub quic: Option<QuicIdentity>,
    /// Its NATS credentials.
    pub nats: NatsAuth,
}

/// The identity a caller's QUIC connections present: read from its files,
/// and read again, for the next connection made, when they change (open
/// connections keep theirs).
#[derive(Debug)]
pub struct QuicIdentity {
    config: quinn::ClientConfig,
    /// The files, and what they were when last read.
    files: (IdentityFiles, Fingerprint),
}

impl QuicIdentity {
    /// The identity in `files`.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that cannot be read or used.
    pub fn load(files: IdentityFiles) -> Result<QuicIdentity, TlsError> {
        let seen = files.fingerprint();
        let config = Identity::load(&files)?.client_config()?;
        Ok(QuicIdentity {
            config,
            files: (files, seen),
        })
    }

    /// The configuration for a new connection: read again first when the
    /// files changed since they were last read. One that cannot be used
    /// (half rotated, a key others may read) keeps the one in use, logged.
    fn current(&mut self) -> quinn::ClientConfig {
        let (files, seen) = &mut self.files;
        let now = files.fingerprint();
        if now != *seen {
            *seen = now;
            match Identity::load(files).and_then(|i| i.client_config()) {
                Ok(config) => {
                    tracing::info!("reloaded the host's TLS identity for its QUIC calls");
                    self.config = config;
                }
                Err(e) => tracing::warn!(
                    "kept the TLS identity in use for QUIC calls: the new one cannot be used: {e}"
                ),
            }
        }
        self.config.clone()
    }
}

impl Remote {
    /// A client for `endpoint`. Nothing connects until the first call.
    /// A QUIC endpoint called without an identity fails each call with
    /// [`CallError::Connect`] (see [`Remote::with_credentials`]).
    pub fn new(endpoint: Endpoint) -> Remote {
        Remote::with_credentials(endpoint, Credentials::default())
    }

    /// A client for `endpoint` presenting `credentials` where the
    /// transport asks: QUIC's client certificate, NATS's credentials.
    pub fn with_credentials(endpoint: Endpoint, credentials: Credentials) -> Remote {
        Remote {
            label: endpoint.to_string(),
            quic: credentials.quic.map(QuicCaller::new),
            nats_auth: credentials.nats,
            endpoint,
            nats: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether calls to this endpoint can carry headers beside wRPC's
    /// bytes (NATS messages can; TCP, Unix and QUIC streams cannot).
    pub fn carries_headers(&self) -> bool {
        matches!(self.endpoint, Endpoint::Nats { .. })
    }

    /// The endpoint, as shown in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// [`Remote::call`] from synchronous code (a host function): blocks the
    /// calling thread until the reply, the failure or the timeout.
    ///
    /// When the caller is itself inside a tokio runtime (an embedder calling
    /// a deployment from async code), blocking on another runtime there
    /// would panic, so the call is made from a helper thread instead.
    ///
    /// # Errors
    /// As [`Remote::call`].
    pub fn call_blocking(
        &self,
        instance: &str,
        func: &str,
        params: Bytes,
        results: &[Type],
        limits: &Limits,
        timeout: Duration,
    ) -> Result<Vec<Val>, CallError> {
        self.call_blocking_with(
            instance,
            func,
            params,
            &[],
            timeout,
            Message::values(results, limits),
        )
    }

    /// [`Remote::call_blocking`] reading the reply as `reply` says (the
    /// typed fast paths' decoder, or [`Message::values`]), and sending
    /// `carried` with the invocation where the transport has room for it:
    /// as NATS message headers (which a wRPC 0.17 server reads as the
    /// call's context). TCP, Unix sockets and QUIC streams carry wRPC's
    /// bytes and nothing else: there it is not sent.
    ///
    /// # Errors
    /// As [`Remote::call`].
    pub fn call_blocking_with<T: Send>(
        &self,
        instance: &str,
        func: &str,
        params: Bytes,
        carried: &[(String, String)],
        timeout: Duration,
        reply: Message<'_, impl FnMut(&[u8]) -> Result<T, CodecError> + Send>,
    ) -> Result<T, CallError> {
        let call =
            || self.block_on(self.call_with(instance, func, params, carried, timeout, reply));
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|scope| {
                scope.spawn(call).join().unwrap_or_else(|_| {
                    Err(CallError::Io {
                        endpoint: self.label.clone(),
                        source: std::io::Error::other("the call's helper thread panicked"),
                    })
                })
            });
        }
        call()
    }

    /// Drives `fut` to completion on the runtime this endpoint's calls use.
    fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        match &self.endpoint {
            // The NATS client's and the QUIC connection's tasks must keep
            // running between calls (pings, keep-alives, demultiplexing):
            // the shared runtime.
            Endpoint::Nats { .. } | Endpoint::Quic { .. } => io_runtime().block_on(fut),
            _ => LOCAL.with(|local| match local {
                Some(rt) => rt.block_on(fut),
                None => io_runtime().block_on(fut),
            }),
        }
    }

    /// Calls `func` of `instance` with already encoded `params`, and decodes
    /// the reply as one value per type of `results`, within `timeout`. The
    /// reply may not exceed `limits.max_bytes`.
    ///
    /// # Errors
    /// [`CallError`] naming the endpoint: no connection, no reply within
    /// `timeout`, a reply that ends early, is too large or does not decode.
    pub async fn call(
        &self,
        instance: &str,
        func: &str,
        params: Bytes,
        results: &[Type],
        limits: &Limits,
        timeout: Duration,
    ) -> Result<Vec<Val>, CallError> {
        self.call_with(
            instance,
            func,
            params,
            &[],
            timeout,
            Message::values(results, limits),
        )
        .await
    }

    /// [`Remote::call`] reading the reply as `reply` says, with `carried`
    /// as NATS headers (see [`Remote::call_blocking_with`]).
    async fn call_with<T>(
        &self,
        instance: &str,
        func: &str,
        params: Bytes,
        carried: &[(String, String)],
        timeout: Duration,
        reply: Message<'_, impl FnMut(&[u8]) -> Result<T, CodecError>>,
    ) -> Result<T, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let call = async {
            match &self.endpoint {
                Endpoint::Tcp { address } => {
                    let stream = tokio::net::TcpStream::connect(address.as_str())
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    bounded::one_message(&stream);
                    let (rx, tx) = stream.into_split();
                    self.invoke_framed(tx, rx, instance, func, &params, reply)
                        .await
                }
                Endpoint::Unix { path } => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    let (rx, tx) = stream.into_split();
                    self.invoke_framed(tx, rx, instance, func, &params, reply)
                        .await
                }
                Endpoint::Quic {
                    address,
                    server_name,
                } => {
                    let quic = self.quic.as_ref().ok_or_else(|| CallError::Connect {
                        endpoint: self.label.clone(),
                        source: "the calling host has no TLS identity to present".into(),
                    })?;
                    let (conn, tx, rx) =
                        quic.open(address, server_name.as_deref())
                            .await
                            .map_err(|source| CallError::Connect {
                                endpoint: self.label.clone(),
                                source,
                            })?;
                    let (heard, started) = (conn.stats().udp_rx.datagrams, Instant::now());
                    let call = self.invoke_framed(tx, rx, instance, func, &params, reply);
                    match tokio::time::timeout_at(deadline, call).await {
                        Ok(r) => r,
                        Err(_) => {
                            forget_if_silent(&conn, heard, started.elapsed());
                            Err(self.timeout_error(timeout))
                        }
                    }
                }
                Endpoint::Nats { url, prefix } => {
                    let client = self
                        .nats
                        .get_or_try_init(|| {
                            nats_client(url, prefix.as_deref().unwrap_or(""), &self.nats_auth)
                        })
                        .await
                        .map_err(|source| CallError::Connect {
                            endpoint: self.label.clone(),
                            source,
                        })?;
                    self.invoke_nats(client, (instance, func), params, carried, reply)
                        .await
                }
            }
        };
        match tokio::time::timeout_at(deadline, call).await {
            Ok(r) => r,
            Err(_) => Err(self.timeout_error(timeout)),
        }
    }

    fn timeout_error(&self, timeout: Duration) -> CallError {
        CallError::Timeout {
            endpoint: self.label.clone(),
            ms: timeout.as_millis(),
        }
    }

    fn connect_error(&self, e: std::io::Error) -> CallError {
        CallError::Connect {
            endpoint: self.label.clone(),
            source: Box::new(e),
        }
    }

    /// One invocation over a framed transport (TCP, Unix) with weld's own
    /// bounded framing: write the invocation, close the send side, read
    /// the reply through [`Frames`], which may bring at most the message
    /// cap plus [`bounded::HEADER_CAP`] bytes.
    #[allow(clippy::too_many_arguments)]
    async fn invoke_framed<T>(
        &self,
        mut tx: impl AsyncWrite + Unpin,
        rx: impl AsyncRead + Unpin,
        instance: &str,
        func: &str,
        params: &[u8],
        reply: Message<'_, impl FnMut(&[u8]) -> Result<T, CodecError>>,
    ) -> Result<T, CallError> {
        let io = |source: std::io::Error| CallError::Io {
            endpoint: self.label.clone(),
            source,
        };
        let invocation = bounded::invocation(instance, func, params).map_err(io)?;
        tx.write_all(&invocation).await.map_err(io)?;
        tx.shutdown().await.map_err(io)?;
        let mut frames = Frames::new(rx, bounded::budget_for(reply.limits.max_bytes));
        read_with(&mut frames, reply)
            .await
            .map(|(v, _)| v)
            .map_err(|e| e.at(&self.label))
    }

    /// One invocation over NATS: publish the parameters, read the results
    /// as they are routed back (see [`super::nats::Caller`]).
    async fn invoke_nats<T>(
        &self,
        caller: &super::nats::Caller,
        (instance, func): (&str, &str),
        params: Bytes,
        headers: &[(String, String)],
        reply: Message<'_, impl FnMut(&[u8]) -> Result<T, CodecError>>,
    ) -> Result<T, CallError> {
        let mut rx = caller
            .invoke(instance, func, params, headers)
            .await
            .map_err(|source| CallError::Connect {
                endpoint: self.label.clone(),
                source,
            })?;
        read_with(&mut rx, reply)
            .await
            .map(|(v, _)| v)
            .map_err(|e| match e {
                // NATS found nobody subscribed: nothing was called.
                ReadError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                    CallError::Connect {
                        endpoint: self.label.clone(),
                        source: Box::new(io),
                    }
                }
                e => e.at(&self.label),
            })
    }
}

/// The calling side of one QUIC endpoint: a client endpoint (a UDP
/// socket) and one connection to the peer, made at the first call and again
/// once it has closed; every call is a stream of it.
struct QuicCaller {
    identity: std::sync::Mutex<QuicIdentity>,
    /// Made on the I/O runtime at the first call (quinn's driver runs
    /// there).
    socket: tokio::sync::OnceCell<quinn::Endpoint>,
    /// Held while connecting, so concurrent first calls share one
    /// handshake.
    connection: tokio::sync::Mutex<Option<quinn::Connection>>,
}

/// After a call on `conn` timed out: when the peer sent nothing at all
/// while the call ran (`heard` datagrams before it), though it ran for
/// `ran`, well past a round trip and the peer's delay in acknowledging,
/// the peer is taken for gone — a server that crashed sends no close, and
/// one restarted cannot reset a connection it never knew — and the
/// connection is closed, so the next call makes a new one instead of
/// waiting out the idle timeout. A slow callee still acknowledges what it
/// receives, so its connection stays.
fn forget_if_silent(conn: &quinn::Connection, heard: u64, ran: Duration) {
    // QUIC's default largest acknowledgement delay.
    const ACK_DELAY: Duration = Duration::from_millis(25);
    if conn.stats().udp_rx.datagrams == heard && ran > 3 * conn.rtt() + ACK_DELAY {
        conn.close(0u32.into(), b"the peer went silent");
    }
}

/// A QUIC failure, boxed for [`CallError::Connect`].
type QuicError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl QuicCaller {
    fn new(identity: QuicIdentity) -> QuicCaller {
        QuicCaller {
            identity: std::sync::Mutex::new(identity),
            socket: tokio::sync::OnceCell::new(),
            connection: tokio::sync::Mutex::new(None),
        }
    }

    /// A new stream for one call, and its connection. A connection that
    /// turns out closed is replaced once: no stream was opened on it, so
    /// nothing was sent.
    async fn open(
        &self,
        address: &str,
        server_name: Option<&str>,
    ) -> Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), QuicError> {
        let conn = self.connection(address, server_name, false).await?;
        match conn.open_bi().await {
            Ok((tx, rx)) => Ok((conn, tx, rx)),
            Err(_) => {
                let conn = self.connection(address, server_name, true).await?;
                let (tx, rx) = conn.open_bi().await?;
                Ok((conn, tx, rx))
            }
        }
    }

    /// The live connection, or a new one (`fresh`: always a new one).
    async fn connection(
        &self,
        address: &str,
        server_name: Option<&str>,
        fresh: bool,
    ) -> Result<quinn::Connection, QuicError> {
        let mut held = self.connection.lock().await;
        if let Some(conn) = held
            .as_ref()
            .filter(|c| !fresh && c.close_reason().is_none())
        {
            return Ok(conn.clone());
        }
        let peer = tokio::net::lookup_host(address)
            .await?
            .next()
            .ok_or_else(|| format!("`{address}` resolves to no address"))?;
        let socket = self
            .socket
            .get_or_try_init(|| async {
                let local: std::net::SocketAddr = if peer.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                quinn::Endpoint::client(local)
            })
            .await?;
        let name = server_name.map_or_else(|| peer.ip().to_string(), str::to_string);
        let config = self
            .identity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current();
        let conn = socket.connect_with(config, peer, &name)?.await?;
        *held = Some(conn.clone());
        Ok(conn)
    }
}

/// How a message (a reply, or a served call's parameters) is read: its
/// cap, whether no bytes is a complete message, and the decoder (the
/// dynamic codec, or a typed fast path).
pub struct Message<'a, D> {
    limits: &'a Limits,
    empty: bool,
    decode: D,
}

impl<'a, D> Message<'a, D> {
    /// A message read by `decode` within `limits`; `empty` says whether no
    /// bytes at all is a complete message (a function with no results).
    pub fn new(limits: &'a Limits, empty: bool, decode: D) -> Self {
        Message {
            limits,
            empty,
            decode,
        }
    }
}

impl<'a> Message<'a, ()> {
    /// One value per type of `types`, with the dynamic codec.
    ///
    /// # Errors
    /// [`CodecError`] when the bytes are not one value of each type.
    pub fn values(
        types: &'a [Type],
        limits: &'a Limits,
    ) -> Message<'a, impl FnMut(&[u8]) -> Result<Vec<Val>, CodecError> + Send + 'a> {
        Message::new(limits, types.is_empty(), move |buf: &[u8]| {
            codec::decode_values(types, buf, limits)
        })
    }
}

/// Connects to NATS once, and subscribes to the caller's reply inbox.
async fn nats_client(
    url: &str,
    prefix: &str,
    auth: &NatsAuth,
) -> Result<super::nats::Caller, async_nats::Error> {
    let nats = auth
        .options(url)?
        .connection_timeout(Duration::from_secs(5))
        .subscription_capacity(NATS_SUBSCRIPTION_CAPACITY)
        .connect(url)
        .await?;
    super::nats::Caller::open(nats, prefix).await
}

/// Why reading a message failed, before the endpoint is known.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing arrived before the stream ended.
    Empty,
    /// The stream ended mid-value.
    Truncated(usize),
    /// Over the cap.
    TooLarge(usize),
    /// Not a value of the expected types.
    Bad(CodecError),
    /// The framed connection brought or declared more than its budget.
    OverBudget {
        /// The message cap.
        max_bytes: usize,
        /// What the bounded reader said.
        cause: std::io::Error,
    },
    /// The stream failed.
    Io(std::io::Error),
}

impl ReadError {
    fn at(self, endpoint: &str) -> CallError {
        let endpoint = endpoint.to_string();
        match self {
            ReadError::Empty => CallError::NoResult { endpoint },
            ReadError::Truncated(received) => CallError::Truncated { endpoint, received },
            ReadError::TooLarge(max_bytes) => CallError::TooLarge {
                endpoint,
                max_bytes,
            },
            ReadError::Bad(source) => CallError::BadReply { endpoint, source },
            ReadError::OverBudget { max_bytes, .. } => CallError::TooLarge {
                endpoint,
                max_bytes,
            },
            ReadError::Io(source) => CallError::Io { endpoint, source },
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Empty => write!(f, "the stream ended before any value"),
            ReadError::Truncated(n) => write!(f, "the stream ended after {n} bytes, mid-value"),
            ReadError::TooLarge(max) => write!(f, "the message exceeds the {max}-byte cap"),
            ReadError::Bad(e) => write!(f, "{e}"),
            ReadError::OverBudget { max_bytes, cause } => {
                write!(f, "the message exceeds the {max_bytes}-byte cap: {cause}")
            }
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Reads one message from `rx` as `reply` says: decoded as bytes arrive, so
/// a peer that keeps its stream open after the values is still answered,
/// and a malformed message is refused without waiting for the rest.
/// Returns the decoded message and its size in bytes.
///
/// # Errors
/// [`ReadError`]: the stream fails or ends early, brings more than its budget,
/// or the message does not decode.
pub async fn read_with<T>(
    rx: &mut (impl AsyncRead + Unpin),
    reply: Message<'_, impl FnMut(&[u8]) -> Result<T, CodecError>>,
) -> Result<(T, usize), ReadError> {
    let Message {
        limits,
        empty,
        mut decode,
    } = reply;
    // Read straight into the message, at most 64 KiB and never past the
    // cap at a time: no scratch buffer to zero per message.
    const STEP: usize = 64 * 1024;
    let mut buf: Vec<u8> = Vec::new();
    // Decoding is retried only once the bytes the last attempt lacked have
    // arrived, so a large message is not re-scanned on every chunk.
    let mut ready_at = 1;
    loop {
        // A call with no results is complete when the peer closes the
        // stream, not before: the function must have run.
        if !buf.is_empty() && buf.len() >= ready_at {
            match decode(&buf) {
                Ok(vals) => return Ok((vals, buf.len())),
                Err(CodecError::Truncated { offset, needed, .. }) => {
                    ready_at = offset.saturating_add(needed);
                    // A declared length past the cap can never fit.
                    if ready_at > limits.max_bytes {
                        return Err(ReadError::TooLarge(limits.max_bytes));
                    }
                }
                Err(CodecError::LimitExceeded { max_bytes, .. }) => {
                    return Err(ReadError::TooLarge(max_bytes))
                }
                Err(e) => return Err(ReadError::Bad(e)),
            }
        }
        let room = (limits.max_bytes - buf.len()).saturating_add(1).min(STEP);
        buf.reserve(room.min(ready_at.saturating_sub(buf.len()).max(512)));
        let n = rx
            .read_buf(&mut (&mut buf).limit(room))
            .await
            .map_err(|cause| {
                if bounded::wire_error(&cause).is_some_and(|w| w.is_over_budget()) {
                    ReadError::OverBudget {
                        max_bytes: limits.max_bytes,
                        cause,
                    }
                } else {
                    ReadError::Io(cause)
                }
            })?;
        if n == 0 {
            if empty && buf.is_empty() {
                return decode(&buf).map(|v| (v, 0)).map_err(ReadError::Bad);
            }
            return Err(if buf.is_empty() {
                ReadError::Empty
            } else {
                ReadError::Truncated(buf.len())
            });
        }
        if buf.len() > limits.max_bytes {
            return Err(ReadError::TooLarge(limits.max_bytes));
        }
    }
}
