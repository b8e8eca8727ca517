//! A live server's endpoints: it serves on the host's endpoint, and when a
//! changed plan moves the host (another address on the same transport),
//! on the new one too — bound before the plan is swapped in, told to the
//! apply waiting for it — while the one before stops taking calls and
//! lets its own finish within the grace period (without interrupting the
//! guests the new endpoint's calls run on).

use super::listen::Dispatch;
use super::live::Move;
use super::{ServeError, Server};
use crate::wrpc::Endpoint;
use futures::StreamExt as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// One endpoint served, by its number, until it ends.
type Serving<'a> = Pin<Box<dyn Future<Output = (usize, Result<(), ServeError>)> + 'a>>;

/// The endpoints a server serves on, the one new calls should reach, and
/// a move waiting for its endpoint to be bound.
struct Endpoints<'a> {
    server: &'a Server,
    serving: futures::stream::FuturesUnordered<Serving<'a>>,
    /// Per endpoint: what stops it, and what says it stopped for a move.
    stops: Vec<Option<(oneshot::Sender<()>, Arc<AtomicBool>)>>,
    current: usize,
    pending: Option<(usize, Move)>,
}

impl<'a> Endpoints<'a> {
    /// Starts serving `dispatch` on `endpoint`; `ready` is told the
    /// endpoint bound. Returns its number.
    fn start(
        &mut self,
        endpoint: Endpoint,
        dispatch: Dispatch,
        ready: Box<dyn FnOnce(&Endpoint) + Send>,
    ) -> usize {
        let id = self.stops.len();
        let (stop, stopped) = oneshot::channel::<()>();
        self.stops.push(Some((stop, Arc::clone(&dispatch.moved))));
        let server = self.server;
        self.serving.push(Box::pin(async move {
            let until = async move {
                let _ = stopped.await;
            };
            (id, server.serve_at(&endpoint, dispatch, ready, until).await)
        }));
        id
    }

    /// Endpoint `id` is bound: if a move waited for it, the endpoint
    /// before stops taking calls and the apply is told.
    fn bound(&mut self, id: usize, at: Endpoint) {
        let Some((pid, m)) = self.pending.take() else {
            return;
        };
        if pid != id {
            self.pending = Some((pid, m));
            return;
        }
        if let Some((stop, moved)) = self.stops[self.current].take() {
            moved.store(true, Ordering::Relaxed);
            let _ = stop.send(());
        }
        self.current = id;
        let _ = m.bound.send(Ok(at));
    }

    /// Endpoint `id` ended with `r`; returns the server's result when the
    /// server should stop (its current endpoint ended).
    fn ended(&mut self, id: usize, r: Result<(), ServeError>) -> Option<Result<(), ServeError>> {
        if self.pending.as_ref().is_some_and(|(pid, _)| *pid == id) {
            // A move whose endpoint ended before it was bound: its apply
            // is refused, the endpoint before serves on.
            let (_, m) = self.pending.take()?;
            self.stops[id] = None;
            let _ = m.bound.send(Err(r.err().unwrap_or(ServeError::NotReady)));
            return None;
        }
        match r {
            r if id == self.current => Some(r),
            Err(e) => {
                tracing::warn!(
                    "a moved endpoint ended with an error: {}",
                    crate::diagnostic::chain(&e)
                );
                None
            }
            Ok(()) => None,
        }
    }

    /// Stops every endpoint and waits for each to finish its calls.
    async fn stop(mut self, mut result: Result<(), ServeError>) -> Result<(), ServeError> {
        if let Some((_, m)) = self.pending.take() {
            let _ = m.bound.send(Err(ServeError::NotReady));
        }
        for (stop, _) in self.stops.iter_mut().filter_map(Option::take) {
            let _ = stop.send(());
        }
        while let Some((id, r)) = self.serving.next().await {
            if let (Err(e), true) = (r, result.is_ok() && id == self.current) {
                result = Err(e);
            }
        }
        result
    }
}

/// Serves on `server`'s endpoint until `shutdown`, and on each endpoint a
/// changed plan moves it to (`moves`).
pub(super) async fn serve(
    server: &Server,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    mut moves: mpsc::UnboundedReceiver<Move>,
) -> Result<(), ServeError> {
    let mut endpoints = Endpoints {
        server,
        serving: futures::stream::FuturesUnordered::new(),
        stops: Vec::new(),
        current: 0,
        pending: None,
    };
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<(usize, Endpoint)>();
    let tell = |tx: mpsc::UnboundedSender<(usize, Endpoint)>, id: usize| {
        Box::new(move |at: &Endpoint| {
            let _ = tx.send((id, at.clone()));
        }) as Box<dyn FnOnce(&Endpoint) + Send>
    };
    endpoints.start(
        server.endpoint.clone(),
        dispatch.clone(),
        tell(ready_tx.clone(), 0),
    );
    let mut on_ready = Some(on_ready);
    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            Some((id, at)) = ready.recv() => {
                if id == 0 {
                    if let Some(f) = on_ready.take() {
                        f(&at);
                    }
                } else {
                    endpoints.bound(id, at);
                }
            }
            Some(m) = moves.recv(), if endpoints.pending.is_none() => {
                // Its own calls and its own drain: the old endpoint's
                // finish does not wait for the new one's.
                let d = Dispatch {
                    in_flight: Arc::default(),
                    moved: Arc::default(),
                    ..dispatch.clone()
                };
                let id = endpoints.stops.len();
                endpoints.start(m.endpoint.clone(), d, tell(ready_tx.clone(), id));
                endpoints.pending = Some((id, m));
            }
            Some((id, r)) = endpoints.serving.next() => {
                if let Some(r) = endpoints.ended(id, r) {
                    break r;
                }
            }
        }
    };
    endpoints.stop(result).await
}
