//! A manifest as the source of a live host's plan: every file the
//! deployment is made from (the manifest, what it includes, its components
//! and providers' WIT) is watched, and when one changes the deployment is
//! loaded and planned again in full and handed to [`Live::apply`]. A
//! deployment that does not load or plan is refused whole: the host serves
//! what it served, and the status says why.
//!
//! Files are polled (their size, times and inode), not watched through
//! inotify: the set of files changes with every plan, editors replace a
//! file by renaming another over it, and a few `stat` calls every 25 ms
//! cost nothing a host would notice (see docs/design.md).

use super::live::{Applied, Live};
use super::status::Status;
use crate::deployment::Deployment;
use crate::input::InputLimits;
use crate::plan::PlanOptions;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the watched files are looked at. A change is acted on once
/// two looks in a row agree (an editor may write a file in steps).
pub const WATCH_POLL: Duration = Duration::from_millis(25);

/// What a watcher reports.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum WatchEvent<'a> {
    /// A changed deployment is served.
    Applied {
        /// What the apply did.
        #[serde(flatten)]
        applied: &'a Applied,
        /// The desired state's revision in its bucket, when it came from
        /// one.
        #[serde(skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
    },
    /// A changed deployment was refused; the host serves what it served.
    #[serde(rename = "apply-refused")]
    Refused {
        /// The version still served.
        version: u64,
        /// The refused desired state's revision in its bucket, when it
        /// came from one.
        #[serde(skip_serializing_if = "Option::is_none")]
        revision: Option<u64>,
        /// Why, every problem found.
        error: &'a str,
    },
}

impl WatchEvent<'_> {
    /// The event as one JSON line (`weld serve --watch --json`).
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("watch events serialise");
        line.push('\n');
        line
    }
}

/// Told of every [`WatchEvent`].
pub type WatchHook = Arc<dyn Fn(&WatchEvent<'_>) + Send + Sync>;

/// How to watch.
#[derive(Clone)]
pub struct WatchOptions {
    /// How each changed deployment is planned.
    pub plan: PlanOptions,
    /// Caps on what is read.
    pub limits: InputLimits,
    /// How often the files are looked at.
    pub poll: Duration,
    /// Where the host's status is written after every apply (and at
    /// start), if anywhere.
    pub status_file: Option<PathBuf>,
    /// Told of every apply and refusal (besides the log).
    pub on_event: Option<WatchHook>,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions {
            plan: PlanOptions::default(),
            limits: InputLimits::default(),
            poll: WATCH_POLL,
            status_file: None,
            on_event: None,
        }
    }
}

/// A watcher on its own thread; dropping it stops it (after the apply
/// under way, if any).
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Watches the files `first` was made from (its manifest at `manifest`)
/// and applies each changed deployment to `live`.
///
/// # Errors
/// The watcher thread cannot be started.
pub fn watch(
    manifest: PathBuf,
    first: &Deployment,
    live: Live,
    options: WatchOptions,
) -> std::io::Result<Watcher> {
    let mut sources = Sources::of(&first.manifest.sources());
    write_status(&live.status(), &options);
    Watcher::spawn("weld-watch", move |stopped| {
        // A change waits until one look finds nothing more changing (an
        // editor, a copy of a component, may write in steps).
        let mut pending = false;
        while !stopped.load(Ordering::Relaxed) {
            std::thread::sleep(options.poll);
            // A change made before the server takes plans waits for it
            // (it is seen on the first look after).
            if !live.serving() {
                continue;
            }
            if sources.changed() {
                pending = true;
                continue;
            }
            if !std::mem::take(&mut pending) {
                continue;
            }
            // The stamps of this look are what the reload reads: an edit
            // made while it runs differs from them, and is seen on the
            // next look.
            let files = reload(&manifest, &live, &options, sources.files());
            sources = sources.to(&files);
        }
    })
}

impl Watcher {
    /// Runs `f` on a thread named `name`, told by the flag it is given
    /// when the watcher is dropped.
    pub(super) fn spawn(
        name: &str,
        f: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || f(&stopped))?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }
}

/// Loads, plans and applies the deployment at `manifest`; returns the
/// files to watch from now on (those of the deployment served, and of the
/// one refused: the fix may come in any of them).
fn reload(
    manifest: &std::path::Path,
    live: &Live,
    options: &WatchOptions,
    mut watched: Vec<PathBuf>,
) -> Vec<PathBuf> {
    let started = Instant::now();
    let opened = Deployment::open(&[manifest.to_path_buf()], &options.plan, &options.limits)
        .map_err(|diagnostics| diagnostics.to_string());
    let publish = || write_status(&live.status(), options);
    let applied = apply_reported(live, options, opened.as_ref(), started, None, &publish);
    let Ok(deployment) = opened else {
        return watched;
    };
    let files = deployment.manifest.sources();
    if applied {
        files
    } else {
        watched.extend(files);
        watched
    }
}

/// Applies a changed deployment to `live` (or records why it could not be
/// loaded), logs the outcome, has `publish` put the status where it goes,
/// then tells the hook; `revision` is the desired state's, when it came
/// from a bucket. Returns whether it was applied.
pub(super) fn apply_reported(
    live: &Live,
    options: &WatchOptions,
    opened: Result<&Deployment, &String>,
    started: Instant,
    revision: Option<u64>,
    publish: &dyn Fn(),
) -> bool {
    // The status is published before the event is told: whoever reads it
    // on the event finds it.
    let report = |event: &WatchEvent<'_>| {
        publish();
        if let Some(hook) = &options.on_event {
            hook(event);
        }
    };
    let refused = |error: &str| {
        let version = live.status().version;
        tracing::warn!(
            version,
            "the changed deployment is refused; still serving version {version}:\n{error}"
        );
        report(&WatchEvent::Refused {
            version,
            revision,
            error,
        });
        false
    };
    let deployment = match opened {
        Ok(d) => d,
        Err(error) => {
            live.refused(error, started);
            return refused(error);
        }
    };
    match live.apply(deployment) {
        Ok(applied) => {
            tracing::info!(
                version = applied.version,
                kept = applied.kept,
                started = applied.started,
                took_ms = applied.took.as_secs_f64() * 1e3,
                "applied the changed deployment"
            );
            report(&WatchEvent::Applied {
                applied: &applied,
                revision,
            });
            true
        }
        // `apply` recorded the refusal in the status.
        Err(e) => refused(&crate::diagnostic::chain(&e)),
    }
}

/// Writes `status` to the status file, if one is asked for, stamped now
/// unless it is stamped already.
pub(super) fn write_status(status: &Status, options: &WatchOptions) {
    if let Some(path) = &options.status_file {
        let mut status = status.clone();
        if status.seen == 0 {
            status.seen = super::status::unix_now();
        }
        if let Err(e) = status.write(path) {
            tracing::warn!("{}", crate::diagnostic::chain(&e));
        }
    }
}

/// The watched files and what each was when last looked at.
struct Sources {
    files: Vec<(PathBuf, Option<Stamp>)>,
}

/// What a file was: size, modification and change times, inode (a file
/// renamed over it is another inode).
type Stamp = (u64, i64, i64, i64, i64, u64, u64);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        m.ino(),
        m.dev(),
    ))
}

impl Sources {
    fn of(files: &[PathBuf]) -> Sources {
        let mut files: Vec<PathBuf> = files.to_vec();
        files.sort();
        files.dedup();
        Sources {
            files: files
                .into_iter()
                .map(|f| {
                    let s = stamp(&f);
                    (f, s)
                })
                .collect(),
        }
    }

    /// The same stamps for the files among `files` watched already, and
    /// the stamps of now for the others (files only a new deployment
    /// names).
    fn to(&self, files: &[PathBuf]) -> Sources {
        let mut next = Sources::of(files);
        for (path, seen) in &mut next.files {
            if let Some((_, old)) = self.files.iter().find(|(p, _)| p == path) {
                *seen = *old;
            }
        }
        next
    }

    /// The files watched.
    fn files(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(f, _)| f.clone()).collect()
    }

    /// Whether a file changed since the last look (which this one becomes).
    fn changed(&mut self) -> bool {
        let mut changed = false;
        for (path, seen) in &mut self.files {
            let now = stamp(path);
            if now != *seen {
                *seen = now;
                changed = true;
            }
        }
        changed
    }
}
