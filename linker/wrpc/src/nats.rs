//! The serving side of wRPC's NATS protocol (as `wrpc-transport-nats` 0.31
//! and so wrpc 0.17 speak it), written over `async-nats` directly.
//!
//! One invocation: the caller publishes the parameters to
//! `[prefix.]wrpc.0.0.1.<instance>.<function>` with a reply subject `R`;
//! the server answers with an empty *accept* to `R` whose reply subject
//! `S` is where the rest of the parameters (when they did not fit the first
//! message) and their end go, as `S.params`; the results go to `R.results`
//! in messages of at most the server's payload cap, then an empty message
//! ends them.
//!
//! What weld does differently from `wrpc-transport-nats`'s server, on the
//! same wire:
//! * no flush after the accept: the accept leaves with the connection's
//!   next write, not after a round trip to the connection task;
//! * invocations are taken as they come, not one at a time behind that
//!   flush;
//! * parameters that came whole in the first message (the caller puts as
//!   many as fit there) are not waited on: nothing is subscribed for them,
//!   and the caller's end-of-parameters message is dropped by the broker's
//!   routing to a subject nobody reads. A zero-parameter call is answered
//!   without waiting for the caller's reply to the accept: one round trip,
//!   not two.
//!
//! The rest of a message too large for one NATS message arrives through
//! one wildcard subscription on the server's inbox, routed by subject to
//! the call reading it, at most [`CONTINUATION_QUEUE`] messages queued per
//! call (a caller flooding past that loses its call, not the server's
//! memory).

use bytes::Bytes;
use futures::StreamExt as _;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Messages of one call's parameters that may wait to be read.
pub const CONTINUATION_QUEUE: usize = 16;

type Routes<T> = Arc<Mutex<HashMap<u64, tokio::sync::mpsc::Sender<T>>>>;

/// How long [`settle`] waits for the broker's echo.
pub const SETTLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Returns once the broker has processed everything `nats` sent before the
/// call: a message to a fresh subject of the connection's own comes back
/// (exactly one message received, which a caller counting what the
/// connection received subtracts).
/// async-nats's `flush` only writes the socket, and the broker reads each
/// connection on its own: a subscription merely flushed may not be in its
/// interest graph yet, and a call published meanwhile on another
/// connection is told "no responders".
///
/// # Errors
/// The subscription or the publish fails, the connection ends, or no echo
/// arrives within [`SETTLE_TIMEOUT`].
pub async fn settle(nats: &async_nats::Client) -> Result<(), async_nats::Error> {
    // The whole exchange under one bound: a reconnecting client may hold
    // the subscribe or the publish too.
    let echoed = async {
        let subject = nats.new_inbox();
        let mut echo = nats.subscribe(subject.clone()).await?;
        nats.publish(subject, Bytes::new()).await?;
        match echo.next().await {
            Some(_) => Ok(()),
            None => Err("the NATS connection ended before the broker echoed".into()),
        }
    };
    tokio::time::timeout(SETTLE_TIMEOUT, echoed)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the NATS broker did not echo within {} s",
                SETTLE_TIMEOUT.as_secs()
            )
            .into())
        })
}

/// One subscription on a fresh inbox of a connection: each message whose
/// subject is `<inbox>.<key>[.<rest>]` goes to the call of `key`, as `read`
/// makes it of the message, through a queue of at most
/// [`CONTINUATION_QUEUE`] messages. A call that does not keep up (a peer
/// flooding it) is cut off, not buffered for.
///
/// A call's key is unguessable: SipHash, under the process's secret random
/// keys (`RandomState`), of a counter. A third party that learns the inbox
/// from a call of its own (it is in every accept) cannot name the subject
/// of anyone else's call: with sequential numbers it could, and truncate
/// their parameters by publishing an empty message there.
struct Router<T> {
    inbox: String,
    next: AtomicU64,
    secret: std::hash::RandomState,
    routes: Routes<T>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> Drop for Router<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Send + 'static> Router<T> {
    /// Subscribes. A subject of the inbox handed out on the same connection
    /// (a caller's reply subject) is safe at once: the broker reads one
    /// connection in order. One handed out on another connection needs
    /// [`settle`] first (as [`Inbox::open`] does). Must run on a tokio runtime
    /// whose tasks keep running: it spawns the routing task.
    async fn open(
        nats: &async_nats::Client,
        read: impl Fn(Option<&str>, async_nats::Message) -> Option<T> + Send + 'static,
    ) -> Result<Router<T>, async_nats::Error> {
        let inbox = nats.new_inbox();
        let mut sub = nats.subscribe(format!("{inbox}.>")).await?;
        let routes: Routes<T> = Arc::default();
        let task = tokio::spawn({
            let (routes, skip) = (Arc::clone(&routes), inbox.len() + 1);
            async move {
                while let Some(m) = sub.next().await {
                    // The subject is a cheap handle; a copy frees `m`.
                    let subject = m.subject.clone();
                    let Some(tail) = subject.get(skip..) else {
                        continue;
                    };
                    let (n, rest) = match tail.split_once('.') {
                        Some((n, rest)) => (n, Some(rest)),
                        None => (tail, None),
                    };
                    let Ok(n) = u64::from_str_radix(n, 16) else {
                        continue;
                    };
                    let Some(item) = read(rest, m) else {
                        continue;
                    };
                    let mut routes = routes.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(tx) = routes.get(&n) {
                        if tx.try_send(item).is_err() {
                            routes.remove(&n);
                        }
                    }
                }
            }
        });
        Ok(Router {
            inbox,
            next: AtomicU64::new(0),
            secret: std::hash::RandomState::new(),
            routes,
            task,
        })
    }

    /// A fresh subject of the inbox, `<inbox>.<key>` (16 hex digits), and
    /// the call's key.
    fn subject(&self) -> (String, u64) {
        use std::hash::BuildHasher as _;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let key = self.secret.hash_one(n);
        (format!("{}.{key:016x}", self.inbox), key)
    }

    /// Routes call `n`'s messages to the returned queue, until it drops.
    fn route(&self, n: u64) -> Route<T> {
        let (tx, rx) = tokio::sync::mpsc::channel(CONTINUATION_QUEUE);
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n, tx);
        Route {
            rx,
            n,
            routes: Arc::clone(&self.routes),
        }
    }
}

/// One call's queue of routed messages; unrouted when dropped.
struct Route<T> {
    rx: tokio::sync::mpsc::Receiver<T>,
    n: u64,
    routes: Routes<T>,
}

impl<T> Drop for Route<T> {
    fn drop(&mut self) {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.n);
    }
}

/// The server's inbox: where callers send the rest of their parameters.
pub struct Inbox {
    nats: async_nats::Client,
    router: Router<Bytes>,
}

impl Inbox {
    /// Subscribes to a fresh inbox of `listen` and routes what arrives there
    /// (`<subject>.params`); accepts and results go out on `publish`. Must
    /// run on a tokio runtime.
    ///
    /// With two connections, everything `publish`'s connection receives is
    /// an invocation (but [`settle`]'s one echo): what its client drops is
    /// exactly the invocations dropped. The inbox is [`settle`]d before this
    /// returns: callers send to it on their own connections. On one connection the broker's no-responder notices (an
    /// accept sent to a caller that has left comes back as one to the
    /// inbox) and parameters queued at shutdown counted as invocations too.
    ///
    /// # Errors
    /// The broker's error when a subscription cannot be made.
    pub async fn open(
        listen: &async_nats::Client,
        publish: &async_nats::Client,
    ) -> Result<Inbox, async_nats::Error> {
        let router = Router::open(listen, |rest, m| {
            (rest == Some("params")).then_some(m.payload)
        })
        .await?;
        settle(listen).await?;
        Ok(Inbox {
            nats: publish.clone(),
            router,
        })
    }

    /// Accepts the invocation `message`: publishes the accept and returns
    /// where its results go and a reader of its parameters. `None` when the
    /// message names no reply subject (it is not a wRPC invocation).
    ///
    /// # Errors
    /// The broker's error when the accept cannot be published.
    pub async fn accept(
        &self,
        message: async_nats::Message,
    ) -> Result<Option<(Results, Params)>, async_nats::Error> {
        let Some(reply) = message.reply else {
            return Ok(None);
        };
        let (here, n) = self.router.subject();
        // The caller sends in the first message as many parameter bytes as
        // fit beside its reply subject: less than that is all of them.
        let room = self
            .nats
            .server_info()
            .max_payload
            .saturating_sub(reply.len());
        let more = (message.payload.len() >= room).then(|| self.router.route(n));
        // Registered before the accept goes out: nothing sent after it is
        // missed.
        self.nats
            .publish_with_reply(reply.clone(), here, Bytes::new())
            .await?;
        Ok(Some((
            Results {
                nats: self.nats.clone(),
                subject: format!("{reply}.results"),
                caller: reply.to_string(),
            },
            Params {
                first: message.payload,
                more,
            },
        )))
    }
}

/// Where a call's results go.
pub struct Results {
    nats: async_nats::Client,
    subject: String,
    caller: String,
}

impl Results {
    /// The caller's reply subject (it names the caller in logs).
    pub fn caller(&self) -> &str {
        &self.caller
    }

    /// Publishes `bytes`, in messages of at most the server's payload cap.
    ///
    /// # Errors
    /// The broker's error when a message cannot be published.
    pub async fn send(&self, bytes: &[u8]) -> std::io::Result<()> {
        let max = self.nats.server_info().max_payload.max(1);
        for chunk in bytes.chunks(max) {
            self.nats
                .publish(self.subject.clone(), Bytes::copy_from_slice(chunk))
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    /// Ends the results: an empty message.
    ///
    /// # Errors
    /// The broker's error when the message cannot be published.
    pub async fn close(&self) -> std::io::Result<()> {
        self.nats
            .publish(self.subject.clone(), Bytes::new())
            .await
            .map_err(std::io::Error::other)
    }
}

/// A call's parameters: the invocation's payload, then (when it was full)
/// what arrives at the call's subject until an empty message.
pub struct Params {
    first: Bytes,
    more: Option<Route<Bytes>>,
}

/// Moves what of `bytes` fits into `buf`; whether there was any.
fn hand_over(bytes: &mut Bytes, buf: &mut ReadBuf<'_>) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let n = bytes.len().min(buf.remaining());
    buf.put_slice(&bytes.split_to(n));
    true
}

impl AsyncRead for Params {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if hand_over(&mut self.first, buf) {
                return Poll::Ready(Ok(()));
            }
            let Some(more) = &mut self.more else {
                return Poll::Ready(Ok(()));
            };
            match more.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // An empty message ends the parameters; so does a caller
                // cut off for flooding (what was read is then truncated).
                Poll::Ready(None) => self.more = None,
                Poll::Ready(Some(chunk)) if chunk.is_empty() => self.more = None,
                Poll::Ready(Some(chunk)) => self.first = chunk,
            }
        }
    }
}

/// What the caller's inbox routes to one call.
enum Delivery {
    /// The server's accept (or the broker's status instead of one): where
    /// the rest of the parameters go.
    Accept {
        to: Option<async_nats::Subject>,
        status: Option<async_nats::StatusCode>,
    },
    /// Part of the results; empty at their end.
    Results(Bytes),
}

/// The calling side: one connection and one inbox subscription for every
/// call to an endpoint, each call's accept and results routed to it by the
/// call's unguessable key in its reply subject `<inbox>.<key>`.
///
/// Against `wrpc-transport-nats`'s client, on the same wire: no flush
/// after the invocation, and the results read from the router's queue
/// directly, without a second demultiplexing task in between.
pub struct Caller {
    nats: async_nats::Client,
    prefix: String,
    router: Router<Delivery>,
}

impl Caller {
    /// A caller of the functions under `prefix` over `nats`. Must run on a
    /// tokio runtime whose tasks keep running between calls.
    ///
    /// # Errors
    /// The broker's error when a subscription cannot be made.
    pub async fn open(nats: async_nats::Client, prefix: &str) -> Result<Caller, async_nats::Error> {
        let router = Router::open(&nats, |rest, m| match rest {
            None => Some(Delivery::Accept {
                to: m.reply,
                status: m.status,
            }),
            Some("results") => Some(Delivery::Results(m.payload)),
            Some(_) => None,
        })
        .await?;
        Ok(Caller {
            nats,
            prefix: prefix.to_string(),
            router,
        })
    }

    /// Invokes `function` of `instance` with the encoded `params`, and
    /// `headers` as the invocation's message headers (a wRPC server reads
    /// them as the call's context; none makes a message without headers);
    /// the results are read from what is returned.
    ///
    /// # Errors
    /// The broker's error when the invocation cannot be published, or no server
    /// subscribes to it.
    pub async fn invoke(
        &self,
        instance: &str,
        function: &str,
        params: Bytes,
        headers: &[(String, String)],
    ) -> Result<Reply, async_nats::Error> {
        let (reply, n) = self.router.subject();
        let route = self.router.route(n);
        // As many parameter bytes as fit beside the reply subject (and the
        // headers, which count against the payload cap) go with the
        // invocation; the rest after the accept.
        let room = self
            .nats
            .server_info()
            .max_payload
            .saturating_sub(reply.len() + headers_len(headers))
            .max(1);
        let mut first = params;
        let rest = if first.len() > room {
            first.split_off(room)
        } else {
            Bytes::new()
        };
        let subject = wrpc_transport_nats::invocation_subject(&self.prefix, instance, function);
        if headers.is_empty() {
            self.nats.publish_with_reply(subject, reply, first).await?;
        } else {
            let mut map = async_nats::HeaderMap::new();
            for (k, v) in headers {
                map.insert(k.as_str(), v.as_str());
            }
            self.nats
                .publish_with_reply_and_headers(subject, reply, map, first)
                .await?;
        }
        Ok(Reply {
            route,
            rest: Some(rest),
            nats: self.nats.clone(),
            results: Bytes::new(),
            done: false,
        })
    }
}

/// The bytes `headers` take in a message (`NATS/1.0` line, one line per
/// header, the blank line): they count against the broker's payload cap.
fn headers_len(headers: &[(String, String)]) -> usize {
    if headers.is_empty() {
        return 0;
    }
    12 + headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 4)
        .sum::<usize>()
}

/// One call's results, read as they arrive. Reading also answers the
/// server's accept: the rest of the parameters, then their end, go to
/// where the accept says (a wRPC server reads its parameters to that end).
pub struct Reply {
    route: Route<Delivery>,
    /// Parameters still to send once the accept comes; `None` once sent.
    rest: Option<Bytes>,
    nats: async_nats::Client,
    results: Bytes,
    done: bool,
}

impl Reply {
    /// Sends `rest` and the end of the parameters to `to`, in messages of
    /// at most the server's payload cap, on a task of its own: the caller
    /// goes on reading results meanwhile.
    fn send_rest(&self, to: async_nats::Subject, rest: Bytes) {
        let nats = self.nats.clone();
        let subject = format!("{to}.params");
        tokio::spawn(async move {
            let max = nats.server_info().max_payload.max(1);
            let mut rest = rest;
            while !rest.is_empty() {
                let chunk = rest.split_to(rest.len().min(max));
                if nats.publish(subject.clone(), chunk).await.is_err() {
                    return;
                }
            }
            let _ = nats.publish(subject, Bytes::new()).await;
        });
    }
}

impl AsyncRead for Reply {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        loop {
            if hand_over(&mut self.results, buf) {
                return Poll::Ready(Ok(()));
            }
            if self.done {
                return Poll::Ready(Ok(()));
            }
            match self.route.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                // Cut off (a flood) or never answered: what was read is
                // all there is.
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Delivery::Results(chunk))) if chunk.is_empty() => self.done = true,
                Poll::Ready(Some(Delivery::Results(chunk))) => self.results = chunk,
                Poll::Ready(Some(Delivery::Accept { status, to })) => {
                    if status == Some(async_nats::StatusCode::NO_RESPONDERS) {
                        return Poll::Ready(Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionRefused,
                            "no server is subscribed to the function (NATS: no responders)",
                        )));
                    }
                    match (to, self.rest.take()) {
                        (Some(to), Some(rest)) => self.send_rest(to, rest),
                        (None, Some(_)) => {
                            return Poll::Ready(Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                "the server's accept names no subject for the parameters",
                            )))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}
