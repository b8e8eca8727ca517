//! Serving over NATS: one queue subscription per served function (in the
//! host's queue group, so one replica takes each call), following the plan
//! served — a function a changed plan adds is subscribed to before the
//! plan is applied further than the broker, one it removes is unsubscribed
//! from (its calls go to replicas that still serve it). Each accepted
//! invocation is bound to the generation current when it arrived and joins
//! `listen`'s dispatch like a framed call.

use super::fair::PeerKey;
use super::generation::Current;
use super::listen::{bind_error, run_dispatch, Dispatch, Invocations, Peer, Reply, Target};
use super::ServeError;
use crate::runtime::BoxError;
use crate::wrpc::client::NATS_SUBSCRIPTION_CAPACITY;
use crate::wrpc::nats;
use crate::wrpc::nats_auth::NatsAuth;
use futures::{Stream, StreamExt as _};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The results side of a NATS call. It holds one of the server's call
/// slots (`--max-connections`, shared with TCP and Unix) from the
/// invocation until the call ends, so calls waiting for their parameters
/// are bounded as open connections are.
pub(super) struct NatsReply {
    results: nats::Results,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Reply for NatsReply {
    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.results.send(bytes).await
    }
    async fn close(&mut self) -> std::io::Result<()> {
        self.results.close().await
    }
}

type NatsInvocations = Invocations<NatsReply, nats::Params>;

/// Connects to the broker at `url` with the host's credentials and serves
/// until `shutdown`.
pub(super) async fn serve(
    (url, prefix, auth): (&str, Option<&str>, &NatsAuth),
    endpoint: &crate::wrpc::Endpoint,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&crate::wrpc::Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let bind_err = bind_error(endpoint);
    // Invocations, accepts and results on one connection (a second one for
    // invocations alone added a task hop to every call: NATS `add` 0.70× →
    // 0.83× of the floor); the inbox, where the rest of large parameters
    // arrives, on its own. So everything the first receives is an
    // invocation (but each `settle`'s one echo), and what it received less
    // what weld took is exactly what its client dropped. The client
    // reports each drop with an event, which may itself be lost: logged
    // here, counted exactly at the end.
    let report = Arc::clone(&dispatch.report);
    let calls = connect(url, auth, move |event| {
        let report = Arc::clone(&report);
        async move {
            if let async_nats::Event::SlowConsumer(_) = event {
                report.flooded();
            }
        }
    })
    .await
    .map_err(bind_err)?;
    let params = connect(url, auth, |_| async {}).await.map_err(bind_err)?;
    let inbox = Arc::new(nats::Inbox::open(&params, &calls).await.map_err(bind_err)?);
    let subjects = Arc::new(Subjects {
        calls: calls.clone(),
        inbox,
        prefix: prefix.unwrap_or_default().to_string(),
        dispatch: dispatch.clone(),
        seen: Arc::default(),
        settles: Arc::default(),
    });
    let (more, added) = tokio::sync::mpsc::unbounded_channel();
    let mut held = HashMap::new();
    // Told of every plan swapped in from here on, before the first
    // subscriptions read the plan: none slips between them.
    let mut changes = dispatch.current.changes();
    changes.borrow_and_update();
    let follower = dispatch.current.follow();
    let first = subjects.follow(&mut held).await.map_err(bind_err)?;
    let invocations: NatsInvocations = Box::pin(Growing {
        all: futures::stream::select_all(first),
        more: added,
    });
    let following =
        tokio::spawn(Arc::clone(&subjects).keep_following(held, more, (changes, follower)));
    on_ready(endpoint);
    let report = Arc::clone(&dispatch.report);
    let served = run_dispatch(invocations, dispatch, shutdown, grace).await;
    following.abort();
    // Every invocation received but never seen by weld was dropped by the
    // client (or left queued at shutdown): unanswered.
    let received = calls.statistics().in_messages.load(Ordering::Relaxed);
    let invocations = received.saturating_sub(subjects.settles.load(Ordering::Relaxed));
    report.lost(invocations.saturating_sub(subjects.seen.load(Ordering::Relaxed)));
    served
}

/// A connection of the NATS server side, with the host's credentials: a
/// bounded queue per subscription (a flood is dropped by the client,
/// reported through `events`).
async fn connect<F, Fut>(
    url: &str,
    auth: &NatsAuth,
    events: F,
) -> Result<async_nats::Client, BoxError>
where
    F: Fn(async_nats::Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + Sync + 'static,
{
    Ok(auth
        .options(url)?
        .connection_timeout(Duration::from_secs(5))
        .subscription_capacity(NATS_SUBSCRIPTION_CAPACITY)
        .event_callback(events)
        .connect(url)
        .await?)
}

/// What subscribing needs, shared by the first subscriptions and those a
/// changed plan adds.
struct Subjects {
    calls: async_nats::Client,
    inbox: Arc<nats::Inbox>,
    prefix: String,
    dispatch: Dispatch,
    /// Invocations weld took from its subscriptions.
    seen: Arc<AtomicU64>,
    /// Messages the connection received that were no invocation: one
    /// echo per `settle`.
    settles: Arc<AtomicU64>,
}

/// A served function's name: (instance, function).
type Name = (String, String);

/// The subscriptions held, each with what ends it.
/// The subscriptions held: what ends each, and what says its subscriber
/// was dropped (its unsubscribe sent).
type Held = HashMap<
    Name,
    (
        tokio::sync::oneshot::Sender<()>,
        tokio::sync::oneshot::Receiver<()>,
    ),
>;

/// How long a follower waits for the subscriptions it ended to be dropped
/// by the dispatch loop (it drops one at its next poll).
const UNSUBSCRIBE_BOUND: Duration = Duration::from_secs(2);

impl Subjects {
    /// Brings the subscriptions in line with the generation serving now:
    /// subscribes to what it serves that `held` lacks (returned as
    /// streams), ends what it no longer serves.
    ///
    /// # Errors
    /// The broker refused a subscription.
    async fn follow(&self, held: &mut Held) -> Result<Vec<NatsInvocations>, BoxError> {
        let names: Vec<Name> = self.dispatch.current.get().map_or_else(Vec::new, |g| {
            g.served
                .iter()
                .map(|s| (s.instance.clone(), s.function.clone()))
                .collect()
        });
        // Dropping a subscription's sender ends its stream; the dispatch
        // loop then drops it, and its subscriber unsubscribes.
        let removed: Vec<Name> = held
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        let mut dropped = Vec::new();
        for name in &removed {
            if let Some((end, gone)) = held.remove(name) {
                drop(end);
                dropped.push(gone);
            }
        }
        let unsubscribed = !dropped.is_empty();
        if unsubscribed {
            let all = futures::future::join_all(dropped);
            let _ = tokio::time::timeout(UNSUBSCRIBE_BOUND, all).await;
        }
        let mut streams = Vec::new();
        let mut added = Vec::new();
        for name in names {
            if held.contains_key(&name) {
                continue;
            }
            let (end, ended) = tokio::sync::oneshot::channel::<()>();
            let (dropped, gone) = tokio::sync::oneshot::channel::<()>();
            match self.subscribe(name.clone(), ended, dropped).await {
                Ok(stream) => streams.push(stream),
                Err(e) => {
                    // None of this round is held: the next plan tries
                    // them again.
                    for name in added {
                        held.remove(&name);
                    }
                    return Err(e);
                }
            }
            held.insert(name.clone(), (end, gone));
            added.push(name);
        }
        if !streams.is_empty() || unsubscribed {
            // Every subscription (and unsubscription) is in place at the
            // broker before the server says it is ready, or a plan is
            // applied (a flush only writes the socket).
            self.settles.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = nats::settle(&self.calls).await {
                tracing::warn!(
                    "the broker did not confirm new subscriptions: {}",
                    crate::diagnostic::chain(&*e)
                );
            }
        }
        Ok(streams)
    }

    /// Follows every plan applied from now on.
    async fn keep_following(
        self: Arc<Self>,
        mut held: Held,
        more: tokio::sync::mpsc::UnboundedSender<NatsInvocations>,
        (mut changes, follower): (
            tokio::sync::watch::Receiver<u64>,
            super::generation::Follower,
        ),
    ) {
        while changes.changed().await.is_ok() {
            let version = *changes.borrow_and_update();
            let followed = self.follow(&mut held).await;
            // An apply waits for this before it returns.
            follower.caught_up(version);
            match followed {
                Ok(streams) => {
                    for s in streams {
                        if more.send(s).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::error!(
                    "a function of the plan applied cannot be subscribed to on NATS: {}; its calls go to other replicas or time out",
                    crate::diagnostic::chain(&*e)
                ),
            }
        }
    }

    /// The invocations of one served function, until `ended` resolves.
    async fn subscribe(
        &self,
        name: Name,
        ended: tokio::sync::oneshot::Receiver<()>,
        dropped: tokio::sync::oneshot::Sender<()>,
    ) -> Result<NatsInvocations, BoxError> {
        let subject = wrpc_transport_nats::invocation_subject(&self.prefix, &name.0, &name.1);
        let sub = self
            .calls
            .queue_subscribe(subject, self.dispatch.queue_group.to_string())
            .await?;
        let (inbox, slots, report, seen, current) = (
            Arc::clone(&self.inbox),
            Arc::clone(&self.dispatch.connections),
            Arc::clone(&self.dispatch.report),
            Arc::clone(&self.seen),
            Arc::clone(&self.dispatch.current),
        );
        let name = Arc::new(name);
        let stream = sub.take_until(ended).filter_map(move |message| {
            seen.fetch_add(1, Ordering::Relaxed);
            let (inbox, slots, report, current, name) = (
                Arc::clone(&inbox),
                Arc::clone(&slots),
                Arc::clone(&report),
                Arc::clone(&current),
                Arc::clone(&name),
            );
            async move {
                // Past the cap, an invocation is dropped before it is
                // accepted (its caller times out): waiting would only
                // let the broker's backlog grow.
                let Ok(slot) = slots.try_acquire_owned() else {
                    report.dropped("the server holds as many calls as its connection cap allows");
                    return None;
                };
                Some(accept(&inbox, &current, &name, message, slot).await)
            }
        });
        Ok(Box::pin(Tracked {
            inner: Box::pin(stream),
            _dropped: dropped,
        }))
    }
}

/// Accepts one invocation of `name`: bound to the generation serving when
/// it arrived; one that no longer serves it refuses it.
async fn accept(
    inbox: &nats::Inbox,
    current: &Current,
    name: &Name,
    mut message: async_nats::Message,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> super::listen::Invocation<NatsReply, nats::Params> {
    let named = || Some(name.clone());
    let headers = message.headers.take();
    match inbox.accept(message).await {
        Ok(Some((results, params))) => {
            let peer = Peer::new(
                format!("NATS caller {}", results.caller()),
                PeerKey::Anonymous,
            );
            match Target::find(current, &name.0, &name.1) {
                Some(target) => {
                    // Read only for a traced function: nothing else of
                    // what a caller sends is kept.
                    let carried = headers.as_ref().filter(|_| target.traced());
                    let peer = peer.with_carried(carried.and_then(carried_by));
                    let reply = NatsReply {
                        results,
                        _slot: slot,
                    };
                    (peer, Ok((target, reply, params)))
                }
                None => (
                    peer,
                    Err((named(), "it is no longer served here".to_string())),
                ),
            }
        }
        Ok(None) => (
            Peer::new("a NATS publisher", PeerKey::Anonymous),
            Err((named(), "the invocation names no reply subject".to_string())),
        ),
        Err(e) => (
            Peer::new("a NATS caller", PeerKey::Anonymous),
            Err((named(), format!("accepting the invocation failed: {e}"))),
        ),
    }
}

/// The trace context an invocation's `headers` carry (see
/// [`crate::observe::trace::carried`]).
fn carried_by(headers: &async_nats::HeaderMap) -> Option<Arc<[(String, String)]>> {
    crate::observe::trace::carried(|name| Some(headers.get(name)?.as_str())).map(Into::into)
}

/// A stream that says when it is dropped (its sender goes with it).
struct Tracked<S> {
    inner: S,
    _dropped: tokio::sync::oneshot::Sender<()>,
}

impl<S: Stream + Unpin> Stream for Tracked<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The invocations of every subscription, joined by those a changed plan
/// adds, without a task between a subscription and the dispatch loop.
struct Growing {
    all: futures::stream::SelectAll<NatsInvocations>,
    more: tokio::sync::mpsc::UnboundedReceiver<NatsInvocations>,
}

impl Stream for Growing {
    type Item = super::listen::Invocation<NatsReply, nats::Params>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        while let Poll::Ready(Some(s)) = self.more.poll_recv(cx) {
            self.all.push(s);
        }
        match self.all.poll_next_unpin(cx) {
            // No subscription left (a plan that serves nothing over NATS
            // yet): more may come; the dispatch loop ends at shutdown.
            Poll::Ready(None) => Poll::Pending,
            other => other,
        }
    }
}
