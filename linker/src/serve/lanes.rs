//! Admission per served component: each component has its own lane — its
//! own concurrency permits, its own bound on calls waiting, its own guest
//! workers — so one component's stuck calls cannot delay another's.
//!
//! `per-call` components each get a pool of workers of their own;
//! `shared` components get one worker and one store per group of
//! components whose stores overlap (a component that calls another
//! through a host-linked import shares its store, so a served callee keeps
//! one instance and one state). A call's deadline counts from the moment
//! its parameters arrived: time spent waiting for a permit or a worker is
//! part of it, and a call whose deadline passed while it waited is failed
//! without running. Within a component, callers take turns for its
//! permits ([`super::fair`]).

use super::fair::{Acquire, FairPermits, Full, PeerKey, Permit};
use super::report::Cause;
use super::worker::{self, Job, PerCallQueue};
use super::{ServeError, Served};
use crate::manifest::InstancePolicy;
use crate::runtime::Runtime;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Calls of one component that may wait for a permit, per permit: past
/// this, a call is refused at once (`busy`) rather than queued.
const WAITING_PER_PERMIT: usize = 4;

/// Where the calls of one served component go.
pub(super) enum Route {
    /// The worker of the component's shared store.
    Shared(mpsc::Sender<Job>),
    /// The component's own per-call workers.
    PerCall(Arc<PerCallQueue>),
}

/// One served component's admission and workers.
pub(super) struct Lane {
    /// The component.
    pub component: String,
    permits: Arc<FairPermits>,
    /// The deadline of a call into it, counted from its arrival.
    pub deadline: Duration,
    route: Route,
}

/// The lanes of a server, and which lane each served function takes.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
    by_served: Vec<usize>,
}

/// A call admitted to its lane: it holds one of the lane's permits.
pub(super) type Admitted = Permit;

impl Lane {
    /// Waits for one of the lane's permits, in `peer`'s turn, until the
    /// call's deadline (counted from `arrived`).
    ///
    /// # Errors
    /// `busy` when too many calls of this component (or of this caller)
    /// wait already, `deadline` when no permit came before the deadline.
    pub async fn admit(
        &self,
        arrived: Instant,
        peer: PeerKey,
    ) -> Result<Admitted, (Cause, String)> {
        let waiting = match self.permits.acquire(peer) {
            Ok(Acquire::Now(p)) => return Ok(p),
            Ok(Acquire::Wait(w)) => w,
            Err(Full::Everyone(n)) => {
                return Err((
                    Cause::Busy,
                    format!("`{}` is busy: {n} calls already wait for it", self.component),
                ))
            }
            Err(Full::ThisPeer(n)) => {
                return Err((
                    Cause::Busy,
                    format!(
                        "`{}` is busy: {n} calls from this caller already wait for it (one caller may fill half its waiting room)",
                        self.component
                    ),
                ))
            }
        };
        let left = self.deadline.saturating_sub(arrived.elapsed());
        tokio::time::timeout(left, waiting.granted())
            .await
            .map_err(|_| {
                (
                    Cause::Deadline,
                    format!(
                        "waited {} ms for a turn of `{}`, its whole {} ms deadline; not run",
                        arrived.elapsed().as_millis(),
                        self.component,
                        self.deadline.as_millis()
                    ),
                )
            })
    }

    /// Hands `job` to the lane's worker(s). A closed lane drops it: its
    /// answer ends the call as `stopping`.
    pub fn submit(&self, job: Job) {
        match &self.route {
            Route::Shared(tx) => drop(tx.send(job)),
            Route::PerCall(queue) => queue.submit(job),
        }
    }
}

impl Lanes {
    /// The lane of served function `index`.
    pub fn of(&self, index: usize) -> &Lane {
        &self.lanes[self.by_served[index]]
    }

    /// Stops the per-call workers once their job is done (the shared ones
    /// end when the lanes, and so their senders, are dropped).
    pub fn close(&self) {
        for lane in &self.lanes {
            if let Route::PerCall(queue) = &lane.route {
                queue.close();
            }
        }
    }
}

/// What a lane is made of, before its workers run.
pub(super) struct LaneSettings<'a> {
    /// Permits per component: calls running or handed to its workers.
    pub concurrency: usize,
    /// Workers per `per-call` component.
    pub per_call_workers: usize,
    /// Each served component's deadline.
    pub deadline: &'a dyn Fn(&str) -> Duration,
}

/// Builds one lane per served component and starts its workers with
/// `spawn` (which names and tracks the threads).
///
/// # Errors
/// A worker thread that cannot be started, or a component the runtime
/// does not hold.
pub(super) fn start(
    runtime: &Runtime,
    served: &Arc<Vec<Served>>,
    settings: &LaneSettings<'_>,
    spawn: &mut dyn FnMut(String, Box<dyn FnOnce() + Send>) -> Result<(), ServeError>,
) -> Result<Lanes, ServeError> {
    let mut components: Vec<(&str, InstancePolicy)> = Vec::new();
    let by_served: Vec<usize> = served
        .iter()
        .map(|s| {
            components
                .iter()
                .position(|(c, _)| *c == s.component)
                .unwrap_or_else(|| {
                    components.push((&s.component, s.policy));
                    components.len() - 1
                })
        })
        .collect();
    let mut routes: Vec<Option<Route>> = (0..components.len()).map(|_| None).collect();
    for group in shared_groups(runtime, &components)? {
        let (tx, rx) = mpsc::channel::<Job>();
        let names: Vec<String> = group.iter().map(|&i| components[i].0.to_string()).collect();
        for &i in &group {
            routes[i] = Some(Route::Shared(tx.clone()));
        }
        let (runtime, served) = (runtime.clone(), Arc::clone(served));
        spawn(
            format!("weld-serve-shared-{}", names[0]),
            Box::new(move || worker::shared(&runtime, &served, &names, rx)),
        )?;
    }
    for (i, (component, policy)) in components.iter().enumerate() {
        if *policy != InstancePolicy::PerCall {
            continue;
        }
        let queue = Arc::new(PerCallQueue::default());
        for w in 0..settings.per_call_workers {
            let (runtime, served, queue) =
                (runtime.clone(), Arc::clone(served), Arc::clone(&queue));
            spawn(
                format!("weld-serve-{component}-{w}"),
                Box::new(move || worker::pool(&runtime, &served, &queue)),
            )?;
        }
        routes[i] = Some(Route::PerCall(queue));
    }
    let concurrency = settings.concurrency.max(1);
    let lanes = components
        .iter()
        .zip(routes)
        .map(|((component, _), route)| Lane {
            component: component.to_string(),
            permits: FairPermits::new(concurrency, concurrency.saturating_mul(WAITING_PER_PERMIT)),
            deadline: (settings.deadline)(component),
            route: route.expect("every component has a route"),
        })
        .collect();
    Ok(Lanes { lanes, by_served })
}

/// The `shared` components (indices into `components`) grouped by store:
/// two whose stores would hold a unit in common share one.
fn shared_groups(
    runtime: &Runtime,
    components: &[(&str, InstancePolicy)],
) -> Result<Vec<Vec<usize>>, ServeError> {
    let mut groups: Vec<(Vec<usize>, Vec<usize>)> = Vec::new(); // (members, units)
    for (i, (component, policy)) in components.iter().enumerate() {
        if *policy != InstancePolicy::Shared {
            continue;
        }
        let mut units = runtime.units_for(component)?.to_vec();
        let mut members = vec![i];
        // Merge every group this one overlaps.
        let mut k = 0;
        while k < groups.len() {
            if groups[k].1.iter().any(|u| units.contains(u)) {
                let (m, u) = groups.swap_remove(k);
                members.extend(m);
                units.extend(u);
            } else {
                k += 1;
            }
        }
        members.sort_unstable();
        groups.push((members, units));
    }
    groups.sort();
    Ok(groups.into_iter().map(|(m, _)| m).collect())
}
