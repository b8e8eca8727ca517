//! A component's permits, shared fairly among its callers.
//!
//! While a permit is free a call takes it at once. When none is, calls
//! wait in one queue per caller — a TCP peer's IP address (its ports
//! share), a Unix peer's user; NATS callers, whom the transport does not
//! identify, share one queue — and a freed permit goes to the next caller
//! in turn, not to the caller with the most calls queued. One identified
//! caller may fill at most half of the waiting room, so queueing cannot
//! lock the others out either.
//!
//! Costs: a free permit is one uncontended lock; a wait is one oneshot
//! channel; a hand-off pops the next caller's first waiter.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Who a call is from, as far as fair shares go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKey {
    /// A TCP peer's address (without its port: one host's connections
    /// share one turn).
    Ip(IpAddr),
    /// A Unix socket peer's user.
    Uid(u32),
    /// A caller the transport authenticated (QUIC's client certificates),
    /// by a hash of the identity its certificate names.
    Identity(u64),
    /// A caller the transport does not identify (NATS): all share one.
    Anonymous,
}

impl PeerKey {
    /// The key of a caller whose certificate names `identity`.
    pub fn identity(identity: &str) -> PeerKey {
        use std::hash::Hasher as _;
        // The same key for every connection of one identity; the identity
        // is proved by a certificate the host's CA signed, so a caller
        // cannot pick one to share another caller's turn.
        let mut h = std::hash::DefaultHasher::new();
        h.write(identity.as_bytes());
        PeerKey::Identity(h.finish())
    }
}

/// A component's permits and the calls waiting for one.
pub(super) struct FairPermits {
    state: Mutex<State>,
}

struct State {
    /// Permits in all, free or held.
    permits: usize,
    free: usize,
    waiting: usize,
    max_waiting: usize,
    max_waiting_per_peer: usize,
    next_id: u64,
    /// Callers with calls waiting, in turn order; each with its waiters in
    /// arrival order.
    turns: VecDeque<(PeerKey, VecDeque<Waiter>)>,
}

/// A waiting call: its id, and where its turn is signalled.
type Waiter = (u64, oneshot::Sender<()>);

/// Why a call may not wait for a permit.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Full {
    /// The component's whole waiting room is taken (its size).
    Everyone(usize),
    /// This caller holds its half of the waiting room (its size).
    ThisPeer(usize),
}

impl crate::observe::Occupancy for FairPermits {
    /// Permits held, and calls waiting for one (read under the lock a
    /// call takes anyway: metrics add nothing to the call path).
    fn occupancy(&self) -> (u64, u64) {
        let s = self.lock();
        ((s.permits - s.free) as u64, s.waiting as u64)
    }
}

/// One permit, given back when dropped.
pub(super) struct Permit {
    permits: Arc<FairPermits>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.permits.release();
    }
}

/// A place in a caller's queue; leaves it (or gives back a permit handed
/// to it meanwhile) when dropped.
pub(super) struct Waiting {
    permits: Arc<FairPermits>,
    peer: PeerKey,
    id: u64,
    rx: oneshot::Receiver<()>,
    done: bool,
}

/// A permit now, or a place in the queue.
pub(super) enum Acquire {
    Now(Permit),
    Wait(Waiting),
}

impl FairPermits {
    /// `permits` permits; at most `max_waiting` calls waiting, at most half
    /// of them (at least one) from one caller.
    pub fn new(permits: usize, max_waiting: usize) -> Arc<FairPermits> {
        Arc::new(FairPermits {
            state: Mutex::new(State {
                permits,
                free: permits,
                waiting: 0,
                max_waiting,
                max_waiting_per_peer: (max_waiting / 2).max(1),
                next_id: 0,
                turns: VecDeque::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free permit, or a place in `peer`'s queue.
    ///
    /// # Errors
    /// [`Full`] when the waiting room, or `peer`'s half of it, is taken.
    pub fn acquire(self: &Arc<Self>, peer: PeerKey) -> Result<Acquire, Full> {
        let mut s = self.lock();
        if s.free > 0 {
            s.free -= 1;
            return Ok(Acquire::Now(Permit {
                permits: Arc::clone(self),
            }));
        }
        if s.waiting >= s.max_waiting {
            return Err(Full::Everyone(s.max_waiting));
        }
        let per_peer = s.max_waiting_per_peer;
        let id = s.next_id;
        s.next_id += 1;
        let (tx, rx) = oneshot::channel();
        match s.turns.iter_mut().find(|(p, _)| *p == peer) {
            // Callers the transport does not tell apart are not one caller:
            // they share a turn, not a half.
            Some((_, queue)) if queue.len() >= per_peer && peer != PeerKey::Anonymous => {
                return Err(Full::ThisPeer(per_peer))
            }
            Some((_, queue)) => queue.push_back((id, tx)),
            None => s.turns.push_back((peer, VecDeque::from([(id, tx)]))),
        }
        s.waiting += 1;
        Ok(Acquire::Wait(Waiting {
            permits: Arc::clone(self),
            peer,
            id,
            rx,
            done: false,
        }))
    }

    /// Hands a permit to the next caller in turn, or frees it.
    fn release(&self) {
        let mut s = self.lock();
        while let Some((peer, mut queue)) = s.turns.pop_front() {
            let mut handed = false;
            while let Some((_, tx)) = queue.pop_front() {
                s.waiting -= 1;
                // A waiter that has just left (its deadline) refuses it.
                if tx.send(()).is_ok() {
                    handed = true;
                    break;
                }
            }
            if !queue.is_empty() {
                s.turns.push_back((peer, queue));
            }
            if handed {
                return;
            }
        }
        s.free += 1;
    }

    /// Calls waiting now (for tests and stats).
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting
    }
}

impl Waiting {
    /// Waits for this call's turn.
    pub async fn granted(mut self) -> Permit {
        // The sender lives in the queue until it is used: it cannot be
        // dropped unsent while this place exists.
        let _ = (&mut self.rx).await;
        self.done = true;
        Permit {
            permits: Arc::clone(&self.permits),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // After `close`, a hand-off fails and goes to the next waiter; one
        // that came before it is given back.
        self.rx.close();
        if self.rx.try_recv().is_ok() {
            self.permits.release();
            return;
        }
        let mut s = self.permits.lock();
        let Some(at) = s.turns.iter().position(|(p, _)| *p == self.peer) else {
            return;
        };
        let queue = &mut s.turns[at].1;
        let Some(i) = queue.iter().position(|(id, _)| *id == self.id) else {
            return;
        };
        queue.remove(i);
        let empty = queue.is_empty();
        s.waiting -= 1;
        if empty {
            s.turns.remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> PeerKey {
        PeerKey::Ip(IpAddr::from([127, 0, 0, last]))
    }

    fn now(a: Result<Acquire, Full>) -> Permit {
        match a {
            Ok(Acquire::Now(p)) => p,
            _ => panic!("expected a free permit"),
        }
    }

    fn wait(a: Result<Acquire, Full>) -> Waiting {
        match a {
            Ok(Acquire::Wait(w)) => w,
            _ => panic!("expected to wait"),
        }
    }

    #[tokio::test]
    async fn a_freed_permit_goes_to_the_next_caller_in_turn() {
        let permits = FairPermits::new(1, 16);
        let held = now(permits.acquire(ip(2)));
        // Caller 2 queues three calls before caller 3 queues one.
        let a: Vec<_> = (0..3).map(|_| wait(permits.acquire(ip(2)))).collect();
        let b = wait(permits.acquire(ip(3)));
        let mut a = a.into_iter();
        let a1 = tokio::spawn(a.next().unwrap().granted());
        let b1 = tokio::spawn(b.granted());
        drop(held);
        let first = a1.await.unwrap();
        drop(first);
        // Caller 3's one call comes next, ahead of caller 2's other two.
        let second = tokio::time::timeout(Duration::from_secs(5), b1)
            .await
            .expect("caller 3 was served in turn")
            .unwrap();
        assert_eq!(permits.waiting(), 2);
        drop(second);
        drop(a);
        assert_eq!(permits.waiting(), 0);
        // Every permit came back.
        let _p = now(permits.acquire(ip(4)));
    }

    #[test]
    fn one_caller_fills_at_most_half_the_waiting_room() {
        let permits = FairPermits::new(1, 8);
        let _held = now(permits.acquire(ip(2)));
        let mine: Vec<_> = (0..4).map(|_| wait(permits.acquire(ip(2)))).collect();
        assert_eq!(permits.acquire(ip(2)).err(), Some(Full::ThisPeer(4)));
        let theirs: Vec<_> = (0..4).map(|_| wait(permits.acquire(ip(3)))).collect();
        assert_eq!(permits.acquire(ip(5)).err(), Some(Full::Everyone(8)));
        drop((mine, theirs));
        // Unidentified callers share the whole room.
        let anonymous: Vec<_> = (0..8)
            .map(|_| wait(permits.acquire(PeerKey::Anonymous)))
            .collect();
        assert_eq!(
            permits.acquire(PeerKey::Anonymous).err(),
            Some(Full::Everyone(8))
        );
        drop(anonymous);
        assert_eq!(permits.waiting(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_leaves_gives_back_what_it_was_handed() {
        let permits = FairPermits::new(1, 8);
        let held = now(permits.acquire(ip(2)));
        let w = wait(permits.acquire(ip(3)));
        // Handed over, then dropped before it was taken.
        drop(held);
        drop(w);
        assert_eq!(permits.waiting(), 0);
        let _p = now(permits.acquire(ip(4)));
    }
}
