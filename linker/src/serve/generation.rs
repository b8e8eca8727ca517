//! What a server serves, one plan at a time: a generation is the served
//! functions of one plan and the crews that run them. A call is bound to
//! the generation current when its header was read and holds it until it
//! is answered, so a changed plan never moves a call that has started:
//! calls in flight finish on the generation they began on, new calls go to
//! the new one, and no call is run twice or dropped by the swap.
//!
//! A new generation keeps every crew of the old one whose key is
//! unchanged (the same components' bytes, settings and links, the same
//! functions served): its workers, stores and state carry over, and only
//! what changed is instantiated anew. A crew no generation holds any more
//! is dropped when its last call is answered, which ends its workers.

use super::lanes::{Crew, Lane};
use super::Served;
use crate::deployment::Deployment;
use crate::plan::Resolution;
use crate::runtime::Runtime;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// One plan's served functions and their crews.
pub(super) struct Generation {
    /// Counts the plans a server has applied, from 1.
    pub version: u64,
    /// Every served function, in plan order.
    pub served: Arc<Vec<Served>>,
    crews: Vec<Arc<Crew>>,
    /// For each served function: its crew, its lane there and its index
    /// among the crew's functions.
    routes: Vec<(usize, usize, usize)>,
}

impl Generation {
    /// A generation of `served`, run by `crews` (every served component
    /// has a lane in one of them).
    ///
    /// # Panics
    /// When a served function has no crew: `lanes::crews` makes one for
    /// each.
    pub fn new(version: u64, served: Arc<Vec<Served>>, crews: Vec<Arc<Crew>>) -> Generation {
        let routes = served
            .iter()
            .map(|s| {
                crews
                    .iter()
                    .enumerate()
                    .find_map(|(c, crew)| {
                        let lane = crew.lane(&s.component)?;
                        let local = crew
                            .served
                            .iter()
                            .position(|x| x.instance == s.instance && x.function == s.function)?;
                        Some((c, lane, local))
                    })
                    .expect("every served function has a crew")
            })
            .collect();
        Generation {
            version,
            served,
            crews,
            routes,
        }
    }

    /// The index of `instance#function`, if this generation serves it.
    pub fn find(&self, instance: &str, function: &str) -> Option<usize> {
        self.served
            .iter()
            .position(|s| s.instance == instance && s.function == function)
    }

    /// The lane of served function `index`.
    pub fn lane(&self, index: usize) -> &Lane {
        let (c, l, _) = self.routes[index];
        self.crews[c].lane_at(l)
    }

    /// The index of served function `index` among its crew's functions
    /// (what its worker is given).
    pub fn local(&self, index: usize) -> usize {
        self.routes[index].2
    }

    /// The crew whose key is `key`, for the next generation to keep.
    pub fn crew(&self, key: u64) -> Option<Arc<Crew>> {
        self.crews.iter().find(|c| c.key == key).cloned()
    }

    /// The crews, for counting what a new generation kept.
    pub fn crews(&self) -> &[Arc<Crew>] {
        &self.crews
    }

    /// Stops every crew's workers once their job is done (shutdown).
    fn close(&self) {
        self.crews.iter().for_each(|c| c.close());
    }

    /// Whether one of this generation's crews runs on `runtime`.
    fn uses(&self, runtime: &Runtime) -> bool {
        self.crews.iter().any(|c| c.runtime.same(runtime))
    }
}

/// The generation new calls are bound to, and the ones replaced while
/// calls may still run on them.
pub(super) struct Current {
    now: RwLock<Option<Arc<Generation>>>,
    replaced: std::sync::Mutex<Vec<Weak<Generation>>>,
    /// Set once calls were cut at shutdown.
    interrupted: AtomicBool,
    /// The version serving, told to whoever follows the plan (NATS
    /// subscriptions).
    changed: tokio::sync::watch::Sender<u64>,
    /// The version each follower caught up with, by follower (`u64::MAX`
    /// once it is gone: nobody waits for it).
    followed: std::sync::Mutex<Vec<u64>>,
    caught_up: std::sync::Condvar,
}

/// One follower of the plan (see [`Current::follow`]).
pub(super) struct Follower {
    current: Arc<Current>,
    index: usize,
}

impl Follower {
    /// The follower has caught up with `version` (its subscriptions are
    /// in place at the broker).
    pub fn caught_up(&self, version: u64) {
        let mut f = self.current.lock_followed();
        if let Some(v) = f.get_mut(self.index) {
            *v = (*v).max(version);
        }
        drop(f);
        self.current.caught_up.notify_all();
    }
}

impl Drop for Follower {
    /// Gone: waits no longer wait for it.
    fn drop(&mut self) {
        self.caught_up(u64::MAX);
    }
}

impl Current {
    /// Serving `first`.
    pub fn new(first: Generation) -> Current {
        let version = first.version;
        Current {
            now: RwLock::new(Some(Arc::new(first))),
            replaced: std::sync::Mutex::default(),
            interrupted: AtomicBool::new(false),
            changed: tokio::sync::watch::Sender::new(version),
            followed: std::sync::Mutex::default(),
            caught_up: std::sync::Condvar::new(),
        }
    }

    /// The generation a call starting now is bound to; `None` once the
    /// server has closed.
    pub fn get(&self) -> Option<Arc<Generation>> {
        self.now.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Told the version of every generation swapped in from now on.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn lock_followed(&self) -> std::sync::MutexGuard<'_, Vec<u64>> {
        self.followed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new follower of the plan, caught up with the version serving now:
    /// [`Current::wait_followers`] waits for it to catch up with each
    /// later one.
    pub fn follow(self: &Arc<Self>) -> Follower {
        let now = *self.changed.borrow();
        let mut f = self.lock_followed();
        f.push(now);
        Follower {
            current: Arc::clone(self),
            index: f.len() - 1,
        }
    }

    /// Waits until every follower caught up with `version`, at most
    /// `bound`; returns whether they did.
    pub fn wait_followers(&self, version: u64, bound: Duration) -> bool {
        let f = self.lock_followed();
        let (f, timeout) = self
            .caught_up
            .wait_timeout_while(f, bound, |f| f.iter().any(|v| *v < version))
            .unwrap_or_else(|e| e.into_inner());
        drop(f);
        !timeout.timed_out()
    }

    /// The current generation and every replaced one still alive (calls
    /// still run on it).
    fn alive(&self) -> Vec<Arc<Generation>> {
        let replaced = self.replaced.lock().unwrap_or_else(|e| e.into_inner());
        self.get()
            .into_iter()
            .chain(replaced.iter().filter_map(Weak::upgrade))
            .collect()
    }

    /// Whether [`Current::interrupt`] was called.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Makes `next` the generation of every call from now on; returns the
    /// one it replaces, which lives on while calls bound to it run.
    pub fn swap(&self, next: Generation) -> Option<Arc<Generation>> {
        let next_version = next.version;
        let old = self
            .now
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .replace(Arc::new(next));
        self.changed.send_replace(next_version);
        if let Some(old) = &old {
            let mut replaced = self.replaced.lock().unwrap_or_else(|e| e.into_inner());
            replaced.retain(|w| w.strong_count() > 0);
            replaced.push(Arc::downgrade(old));
        }
        old
    }

    /// Interrupts the guests still running on `old`'s runtimes that no
    /// other generation still alive uses — the current one, or one
    /// replaced later whose calls have their own grace period (`old`'s is
    /// over); returns how many runtimes were interrupted.
    pub fn cut(&self, old: &Arc<Generation>) -> usize {
        let mut alive = self.alive();
        alive.retain(|g| !Arc::ptr_eq(g, old));
        let mut cut = 0;
        for crew in old.crews() {
            if alive.iter().any(|g| g.uses(&crew.runtime)) {
                continue;
            }
            crew.runtime.interrupt();
            cut += 1;
        }
        cut
    }

    /// Shutdown: no new call finds a generation; every crew, current or
    /// replaced, stops its workers once their job is done.
    pub fn close(&self) {
        let alive = self.alive();
        *self.now.write().unwrap_or_else(|e| e.into_inner()) = None;
        self.replaced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        alive.iter().for_each(|g| g.close());
    }

    /// Interrupts every runtime of the current and replaced generations
    /// (the shutdown grace period is over).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Relaxed);
        for g in self.alive() {
            for crew in g.crews() {
                crew.runtime.interrupt();
            }
        }
    }
}

/// What a crew's key is made of, read from a deployment for one host: a
/// crew is kept across plans only when every input of what it runs is
/// unchanged. The host's own credentials, which its wRPC stubs present,
/// are no input: a plan that changes them is refused before any crew is
/// built (`live::HostSettings`).
pub(crate) struct KeyInputs {
    /// Each component's bytes and settings, and the links of its imports.
    components: std::collections::HashMap<String, u64>,
}

impl KeyInputs {
    /// Reads the inputs of `host`'s components from `deployment`.
    pub fn new(deployment: &Deployment, host: &str) -> KeyInputs {
        let manifest = &deployment.manifest;
        let components = deployment
            .plan
            .components
            .iter()
            .filter(|c| c.host == host)
            .map(|c| {
                let mut h = std::hash::DefaultHasher::new();
                deployment.bytes(&c.name).hash(&mut h);
                settings(manifest.components[&c.name].get_ref()).hash(&mut h);
                for r in deployment
                    .plan
                    .resolutions
                    .iter()
                    .filter(|r| r.component == c.name)
                {
                    link(r).hash(&mut h);
                }
                (c.name.clone(), h.finish())
            })
            .collect();
        KeyInputs { components }
    }

    /// The key of a crew running `names` (each with every component its
    /// store holds) to serve `served`.
    ///
    /// # Errors
    /// A component `runtime` does not hold.
    pub fn key(
        &self,
        runtime: &Runtime,
        names: &[&str],
        served: &[Served],
        deadline: &dyn Fn(&str) -> Duration,
    ) -> Result<u64, super::ServeError> {
        let mut h = std::hash::DefaultHasher::new();
        let mut members = std::collections::BTreeSet::new();
        for name in names {
            members.extend(runtime.store_members(name)?);
            name.hash(&mut h);
            deadline(name).hash(&mut h);
        }
        for m in members {
            m.hash(&mut h);
            self.components.get(m).hash(&mut h);
        }
        // Who may call is checked against the generation's own served
        // functions, not the crew's: a change of callers keeps the crew.
        for s in served {
            (&s.instance, &s.function, &s.component, &s.export, s.safe).hash(&mut h);
            format!("{:?}", s.policy).hash(&mut h);
        }
        Ok(h.finish())
    }
}

/// A component's settings that change what its instances do, without the
/// places they were written at.
fn settings(spec: &crate::manifest::ComponentSpec) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        spec.instances(),
        spec.env,
        spec.dirs,
        spec.deadline_ms.as_ref().map(|d| *d.get_ref()),
        spec.max_memory.as_ref().map(|m| *m.get_ref()),
        spec.http_out(),
    )
}

/// What an import is linked to, as its runtime uses it.
fn link(r: &Resolution) -> String {
    format!(
        "{} {:?} {:?} {:?} {:?} {:?} {} {:?} {:?}",
        r.import,
        r.transport,
        r.peer,
        r.export,
        r.endpoint.as_ref().map(ToString::to_string),
        r.strategy,
        r.allow_trap,
        r.timeout_ms,
        r.security,
    )
}
