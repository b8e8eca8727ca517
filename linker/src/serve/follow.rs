//! A NATS JetStream bucket as the source of a live host's plan (`weld
//! serve --plan-from nats://…/BUCKET/KEY`): the desired state under the
//! key is laid out in a folder of the host's own, loaded and planned in
//! full, and applied as a watched manifest's change is; every later
//! revision of the key is, in order. The host publishes its status under
//! `KEY.status.HOST` after every change and again every heartbeat, so a
//! reader tells a host that stopped from one that has nothing new to say.

use super::live::Live;
use super::status::{unix_now, Status};
use super::watch::{apply_reported, write_status, WatchOptions, Watcher};
use crate::deployment::Deployment;
use crate::desired::{self, Bundle, Change, DesiredError, OpenError, PlanStore};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a host following a bucket publishes its status while nothing
/// changes, unless told otherwise.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A desired state's source: its bucket, and the folder its revisions are
/// laid out in (owner-only, removed with the source).
pub struct PlanSource {
    store: PlanStore,
    root: tempfile::TempDir,
    /// The bytes of the last revision laid out, by digest: a revision
    /// that changes one component fetches only that one.
    cache: HashMap<String, Vec<u8>>,
}

/// A revision of the desired state, loaded.
pub struct Revision {
    /// Its revision in the bucket.
    pub revision: u64,
    /// Its deployment, planned.
    pub deployment: Deployment,
    dir: PathBuf,
}

impl PlanSource {
    /// A source reading `store`.
    ///
    /// # Errors
    /// The folder for its revisions cannot be made.
    pub fn new(store: PlanStore) -> std::io::Result<PlanSource> {
        let root = tempfile::Builder::new()
            .prefix("weld-plan-from-")
            .tempdir()?;
        Ok(PlanSource {
            store,
            root,
            cache: HashMap::new(),
        })
    }

    /// The desired state in the bucket now, loaded and planned.
    ///
    /// # Errors
    /// [`OpenError`]: no desired state, one that cannot be fetched or laid
    /// out, or one that does not plan.
    pub fn current(&mut self, options: &WatchOptions) -> Result<Revision, OpenError> {
        let (revision, value) = self.store.current()?;
        self.open(revision, &value, options, &AtomicBool::new(false))
    }

    /// Lays out and loads revision `revision`, whose document is `value`;
    /// its folder is removed again when it does not load.
    fn open(
        &mut self,
        revision: u64,
        value: &[u8],
        options: &WatchOptions,
        stop: &AtomicBool,
    ) -> Result<Revision, OpenError> {
        let cap = desired::file_cap(&options.limits);
        let bundle = Bundle::parse(value, cap)?;
        let dir = self.root.path().join(format!("r{revision}"));
        // A watch started again may give a revision once more.
        let _ = std::fs::remove_dir_all(&dir);
        let opened = self
            .store
            .lay_out(&bundle, &dir, &mut self.cache, stop)
            .map_err(OpenError::from)
            .and_then(|manifest| desired::open(&manifest, &dir, &options.plan, &options.limits));
        match opened {
            Ok(deployment) => Ok(Revision {
                revision,
                deployment,
                dir,
            }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Publishes `status` under the host's status key (and to the status
    /// file), stamped now.
    fn publish(
        &self,
        mut status: Status,
        revision: u64,
        heartbeat: Duration,
        options: &WatchOptions,
    ) {
        status.revision = Some(revision);
        status.seen = unix_now();
        status.heartbeat_ms = Some(u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX));
        write_status(&status, options);
        if let Err(e) = self.store.put_status(&status.host, status.to_json()) {
            tracing::warn!("{}", crate::diagnostic::chain(&e));
        }
    }
}

/// Follows the bucket of `source` from `first` (the revision `live`'s
/// server was started with), applying every later revision to `live` and
/// publishing the host's status every `heartbeat`.
///
/// # Errors
/// The follower thread cannot be started.
pub fn follow(
    mut source: PlanSource,
    first: &Revision,
    live: Live,
    options: WatchOptions,
    heartbeat: Duration,
) -> std::io::Result<Watcher> {
    let mut served = (first.revision, first.dir.clone());
    source.publish(live.status(), served.0, heartbeat, &options);
    Watcher::spawn("weld-follow", move |stopped| {
        let mut seen = served.0;
        let mut changes = None;
        let mut beat = Instant::now();
        while !stopped.load(Ordering::Relaxed) {
            if beat.elapsed() >= heartbeat {
                source.publish(live.status(), served.0, heartbeat, &options);
                beat = Instant::now();
            }
            // A revision written before the server takes plans waits in
            // the watch until it does.
            if !live.serving() {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let Some(watch) = changes.as_mut() else {
                match source.store.changes(seen) {
                    Ok(c) => changes = Some(c),
                    Err(e) => {
                        tracing::warn!("{}; trying again", crate::diagnostic::chain(&e));
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                continue;
            };
            // Short waits: a stop is seen within one.
            let wait = heartbeat
                .saturating_sub(beat.elapsed())
                .min(Duration::from_millis(200));
            match source.store.next(watch, wait) {
                Ok(None) => {}
                Ok(Some(Change::Deleted { revision })) => {
                    seen = revision;
                    tracing::warn!(
                        revision,
                        "the desired state was deleted; serving revision {} on",
                        served.0
                    );
                }
                Ok(Some(Change::Put { revision, value })) => {
                    match apply(
                        &mut source,
                        &live,
                        &options,
                        heartbeat,
                        (revision, &value),
                        served.0,
                        stopped,
                    ) {
                        Applied::Served(dir) => {
                            seen = revision;
                            let old = std::mem::replace(&mut served, (revision, dir));
                            let _ = std::fs::remove_dir_all(old.1);
                        }
                        Applied::Refused => seen = revision,
                        // The broker failed, not the revision: it is read
                        // again from a new watch.
                        Applied::Again => {
                            changes = None;
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                    beat = Instant::now();
                }
                Err(e) => {
                    tracing::warn!("{}; watching again", crate::diagnostic::chain(&e));
                    changes = None;
                }
            }
        }
    })
}

/// How one revision went.
enum Applied {
    /// Served from its folder.
    Served(PathBuf),
    /// Refused (reported; its folder removed).
    Refused,
    /// Not read: the broker failed, or the host is stopping.
    Again,
}

/// Loads and applies one revision (its number and document), reporting
/// it.
fn apply(
    source: &mut PlanSource,
    live: &Live,
    options: &WatchOptions,
    heartbeat: Duration,
    (revision, value): (u64, &[u8]),
    served: u64,
    stop: &AtomicBool,
) -> Applied {
    let started = Instant::now();
    let opened = source.open(revision, value, options, stop);
    if let Err(OpenError::Desired(e @ (DesiredError::Broker { .. } | DesiredError::Stopped))) =
        &opened
    {
        tracing::warn!(
            revision,
            "{}; reading it again",
            crate::diagnostic::chain(e)
        );
        return Applied::Again;
    }
    let (deployment, error) = match &opened {
        Ok(r) => (Ok(&r.deployment), String::new()),
        Err(e) => (Err(()), crate::diagnostic::chain(e)),
    };
    let publish = || {
        let status = live.status();
        let now = match status.last.as_ref().is_some_and(|o| o.applied) {
            true => revision,
            false => served,
        };
        source.publish(status, now, heartbeat, options);
    };
    let applied = apply_reported(
        live,
        options,
        deployment.map_err(|()| &error),
        started,
        Some(revision),
        &publish,
    );
    match opened {
        Ok(r) if applied => Applied::Served(r.dir),
        Ok(r) => {
            let _ = std::fs::remove_dir_all(&r.dir);
            Applied::Refused
        }
        Err(_) => Applied::Refused,
    }
}
