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

/// The workers of some served components and the functions they run: one
/// group of `shared` components (one worker, one store) or one `per-call`
/// component (its pool). A crew is what a changed plan keeps when nothing
/// it runs changed (the `generation` module): its workers, its stores and
/// their state, its lanes' permits.
pub(super) struct Crew {
    /// One lane per component.
    lanes: Vec<Lane>,
    /// The functions its workers run; a job's `index` is into this.
    pub served: Arc<Vec<Served>>,
    /// The runtime its workers instantiate from.
    pub runtime: Runtime,
    /// What it runs, summed up: equal keys, same crew.
    pub key: u64,
}

impl Crew {
    /// The lane of `component`, if the crew runs it.
    pub fn lane(&self, component: &str) -> Option<usize> {
        self.lanes.iter().position(|l| l.component == component)
    }

    /// Lane `index`.
    pub fn lane_at(&self, index: usize) -> &Lane {
        &self.lanes[index]
    }

    /// Stops the per-call workers once their job is done: idle ones at
    /// once, jobs still waiting end as `stopping`. (A shared worker ends
    /// when the crew, and so its sender, is dropped.)
    pub fn close(&self) {
        for lane in &self.lanes {
            if let Route::PerCall(queue) = &lane.route {
                queue.close();
            }
        }
    }
}

impl Drop for Crew {
    /// Nothing can reach a dropped crew's queues any more: its workers end.
    fn drop(&mut self) {
        self.close();
    }
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

/// What a lane is made of, before its workers run.
pub(super) struct LaneSettings<'a> {
    /// Permits per component: calls running or handed to its workers.
    pub concurrency: usize,
    /// Workers per `per-call` component.
    pub per_call_workers: usize,
    /// Each served component's deadline.
    pub deadline: &'a dyn Fn(&str) -> Duration,
    /// Reads each lane's calls in flight and waiting, when observed.
    pub observer: Option<&'a crate::observe::Observer>,
}

/// The key of a crew of the named components serving the given
/// functions.
pub(super) type CrewKey<'a> = dyn Fn(&[&str], &[Served]) -> Result<u64, ServeError> + 'a;

/// Spawns a worker thread named `name`, tracked until it ends.
pub(super) type Spawn<'a> =
    dyn FnMut(String, Box<dyn FnOnce() + Send>) -> Result<(), ServeError> + 'a;

/// The crews that run `served` (every function of a served component goes
/// to its component's crew): a crew `keep` returns for a key is taken as
/// it is; the others are built with lanes and started with `spawn`.
///
/// # Errors
/// A worker thread that cannot be started, or a component the runtime
/// does not hold.
pub(super) fn crews(
    runtime: &Runtime,
    served: &[Served],
    settings: &LaneSettings<'_>,
    key: &CrewKey<'_>,
    keep: &dyn Fn(u64) -> Option<Arc<Crew>>,
    spawn: &mut Spawn<'_>,
) -> Result<Vec<Arc<Crew>>, ServeError> {
    let mut components: Vec<(&str, InstancePolicy)> = Vec::new();
    for s in served {
        if !components.iter().any(|(c, _)| *c == s.component) {
            components.push((&s.component, s.policy));
        }
    }
    let mut groups = shared_groups(runtime, &components)?;
    groups.extend(
        components
            .iter()
            .enumerate()
            .filter(|(_, (_, p))| *p == InstancePolicy::PerCall)
            .map(|(i, _)| vec![i]),
    );
    let mut crews = Vec::with_capacity(groups.len());
    for group in groups {
        let names: Vec<&str> = group.iter().map(|&i| components[i].0).collect();
        let mine: Vec<Served> = served
            .iter()
            .filter(|s| names.contains(&s.component.as_str()))
            .cloned()
            .collect();
        let k = key(&names, &mine)?;
        if let Some(kept) = keep(k) {
            crews.push(kept);
            continue;
        }
        let policy = components[group[0]].1;
        crews.push(Arc::new(start_crew(
            runtime, &names, policy, mine, k, settings, spawn,
        )?));
    }
    Ok(crews)
}

/// One crew of `names` (one per-call component, or a group of shared
/// ones), its workers started.
fn start_crew(
    runtime: &Runtime,
    names: &[&str],
    policy: InstancePolicy,
    served: Vec<Served>,
    key: u64,
    settings: &LaneSettings<'_>,
    spawn: &mut Spawn<'_>,
) -> Result<Crew, ServeError> {
    let served = Arc::new(served);
    let route = if policy == InstancePolicy::PerCall {
        let queue = Arc::new(PerCallQueue::default());
        for w in 0..settings.per_call_workers {
            let (runtime, served, queue) =
                (runtime.clone(), Arc::clone(&served), Arc::clone(&queue));
            spawn(
                format!("weld-serve-{}-{w}", names[0]),
                Box::new(move || worker::pool(&runtime, &served, &queue)),
            )?;
        }
        Route::PerCall(queue)
    } else {
        let (tx, rx) = mpsc::channel::<Job>();
        let owned: Vec<String> = names.iter().map(|n| (*n).to_string()).collect();
        let (runtime, served) = (runtime.clone(), Arc::clone(&served));
        spawn(
            format!("weld-serve-shared-{}", names[0]),
            Box::new(move || worker::shared(&runtime, &served, &owned, rx)),
        )?;
        Route::Shared(tx)
    };
    let concurrency = settings.concurrency.max(1);
    let lanes = names
        .iter()
        .map(|component| {
            let permits =
                FairPermits::new(concurrency, concurrency.saturating_mul(WAITING_PER_PERMIT));
            if let Some(observer) = settings.observer {
                let weak: std::sync::Weak<dyn crate::observe::Occupancy> =
                    Arc::downgrade(&permits) as _;
                observer.occupancy(component, weak);
            }
            Lane {
                component: (*component).to_string(),
                permits,
                deadline: (settings.deadline)(component),
                route: match &route {
                    Route::Shared(tx) => Route::Shared(tx.clone()),
                    Route::PerCall(q) => Route::PerCall(Arc::clone(q)),
                },
            }
        })
        .collect();
    Ok(Crew {
        lanes,
        served,
        runtime: runtime.clone(),
        key,
    })
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
