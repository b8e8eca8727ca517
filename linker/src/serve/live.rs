//! A running server told to serve a changed plan: [`Live::apply`] plans
//! nothing itself (it takes a [`Deployment`], already planned and checked),
//! compiles the host's part of it off the serving path, starts only the
//! crews whose inputs changed, and swaps the generation new calls are bound
//! to (see `generation`). Calls in flight finish where they started; those
//! still running a grace period after the swap have their guests
//! interrupted, unless the new plan still runs them.

use super::generation::{Current, Generation};
use super::status::{unix_now, ComponentDigest, Outcome, Status};
use super::{Prepared, ServeError, ServeOptions, Workers};
use crate::deployment::Deployment;
use crate::wrpc::client::io_runtime;
use crate::wrpc::Endpoint;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A handle to apply changed plans to a server while it runs. Give a clone
/// to the server in [`ServeOptions::live`]; before the server runs (and
/// after it stops) there is nothing to apply to. Cloning is cheap.
#[derive(Clone, Default)]
pub struct Live {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The server applied to, while it runs; applies take turns here.
    running: Mutex<Option<Running>>,
    /// The servers of the host made with this handle (wRPC, HTTP): it
    /// is [`Live::serving`] once every one of them takes plans.
    expected: Mutex<(bool, bool)>,
    /// The host's HTTP server, while it runs: how to prepare its side of
    /// a plan.
    http: Mutex<Option<HttpApply>>,
    /// What the host runs and how the last apply went.
    status: Mutex<Status>,
}

/// A running server, as [`Live::apply`] needs it.
pub(super) struct Running {
    pub(super) current: Arc<Current>,
    pub(super) workers: Arc<Workers>,
    pub(super) options: ServeOptions,
    /// The endpoint served: a plan that moves it is refused.
    pub(super) endpoint: Endpoint,
    /// The host's own settings the server started with: a plan that
    /// changes one is refused.
    pub(super) settings: HostSettings,
    /// Asks the server's I/O to serve on another endpoint.
    pub(super) move_to: tokio::sync::mpsc::UnboundedSender<Move>,
}

/// Prepares an HTTP server's side of a plan (its handlers compiled, its
/// routes checked) and returns what swaps it in, which cannot fail; run
/// only once every part of the plan is prepared.
pub(super) type HttpApply =
    Box<dyn Fn(&Deployment) -> Result<Box<dyn FnOnce() + Send>, ApplyError> + Send>;

/// A move of the served endpoint: where to, and where to say what was
/// bound (or why not).
pub(super) struct Move {
    pub(super) endpoint: Endpoint,
    pub(super) bound: std::sync::mpsc::SyncSender<Result<Endpoint, ServeError>>,
}

/// Why a plan was not applied; the server serves what it served before.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// No server runs with this handle (not yet, or no longer).
    #[error("no server is running to apply the plan to")]
    NotServing,
    /// The plan serves the host over another transport.
    #[error("the plan moves host `{host}` from {from} to {to}, another transport; a running server moves only within its transport (restart it to change)")]
    EndpointChanged {
        /// The host.
        host: String,
        /// The endpoint served.
        from: String,
        /// The plan's.
        to: String,
    },
    /// The plan changes a setting of the host that a running server
    /// keeps.
    #[error("the plan changes the {what} of host `{host}`; a running server keeps the one it started with (restart it to change)")]
    HostChanged {
        /// The host.
        host: String,
        /// Which setting.
        what: &'static str,
    },
    /// The host's part of the plan cannot be served.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// What one apply did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    /// The plan's version on this server (the first plan is 1).
    pub version: u64,
    /// Crews (a shared store, or one per-call component's workers) kept
    /// with their instances and state.
    pub kept: usize,
    /// Crews started anew.
    pub started: usize,
    /// From the call to the swap: compile, link, start, swap.
    #[serde(rename = "took_ms", serialize_with = "millis")]
    pub took: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl Live {
    /// A handle not yet given to a server.
    pub fn new() -> Live {
        Live::default()
    }

    /// Serves `deployment`'s plan for the host from now on: what changed
    /// is compiled and started (on this thread: serving goes on
    /// meanwhile), what did not is kept with its state, and new calls go
    /// to the new plan once it is ready. Calls in flight finish on what
    /// they started on, within the server's grace period.
    ///
    /// Applies take turns: a second waits for the first. Call it from a
    /// thread of its own, not from async code: it compiles, and on NATS it
    /// waits (at most 5 s) for the server's I/O to subscribe to what the
    /// plan adds.
    ///
    /// # Errors
    /// [`ApplyError`]: no server running, an endpoint that moves, a host
    /// the plan does not serve or that does not compile. The server then
    /// serves what it served before; the error is in [`Live::status`].
    pub fn apply(&self, deployment: &Deployment) -> Result<Applied, ApplyError> {
        let started = Instant::now();
        let mut running = self.lock_running();
        let http = self.inner.http.lock().unwrap_or_else(|e| e.into_inner());
        let result = match (running.as_mut(), http.as_ref()) {
            (None, None) => Err(ApplyError::NotServing),
            (running, http) => {
                let version = self.status().version + 1;
                both(running, http, deployment, version, started)
            }
        };
        drop(http);
        // Recorded before the next apply may start: the status is one
        // plan's.
        match &result {
            Ok((applied, served)) => {
                if let Some(r) = running.as_ref() {
                    let mut status = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
                    status.endpoint = r.endpoint.to_string();
                }
                let plan = (deployment, served.as_slice());
                self.record(Some(plan), applied.version, None, started);
            }
            Err(e) => self.refused(&crate::diagnostic::chain(e), started),
        }
        drop(running);
        result.map(|(applied, _)| applied)
    }

    /// Records a plan that was refused before it reached [`Live::apply`]
    /// (one that does not load or plan), so [`Live::status`] says why.
    pub fn refused(&self, error: &str, started: Instant) {
        let version = self.status().version;
        self.record(None, version, Some(error.to_string()), started);
    }

    /// Whether the host's servers take plans through this handle now:
    /// every server made with it (its wRPC server, its HTTP server) runs.
    /// A source of changes waits for this, so a change is not refused for
    /// a server still starting, nor applied to one side only.
    pub fn serving(&self) -> bool {
        let (wrpc, http) = *self
            .inner
            .expected
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let http_runs = self
            .inner
            .http
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        (wrpc || http) && (!wrpc || self.lock_running().is_some()) && (!http || http_runs)
    }

    /// What the host runs and how its last apply went.
    pub fn status(&self) -> Status {
        self.inner
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.inner.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A server was made of `deployment`'s plan for `host`, serving
    /// `served` on `endpoint`: its status, before it runs.
    pub(super) fn prepared(
        &self,
        deployment: &Deployment,
        host: &str,
        endpoint: &Endpoint,
        served: &[super::Served],
    ) {
        self.made(deployment, host, endpoint.to_string(), served, false);
    }

    /// An HTTP server of `deployment`'s plan for `host`, on `address`: its
    /// status, unless a wRPC server of the host gave it first.
    pub(super) fn prepared_http(&self, deployment: &Deployment, host: &str, address: &str) {
        self.made(deployment, host, address.to_string(), &[], true);
    }

    /// A server (an HTTP one when `http`) was made with this handle.
    fn made(
        &self,
        deployment: &Deployment,
        host: &str,
        endpoint: String,
        served: &[super::Served],
        http: bool,
    ) {
        {
            let mut expected = self
                .inner
                .expected
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if http {
                expected.1 = true;
            } else {
                expected.0 = true;
            }
        }
        {
            let mut status = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
            // The wRPC server's status is the host's; an HTTP server
            // beside it adds nothing to it.
            if http && status.version > 0 {
                return;
            }
            status.host = host.to_string();
            status.endpoint = endpoint;
        }
        self.record(Some((deployment, served)), 1, None, Instant::now());
    }

    /// A server starts taking plans.
    pub(super) fn attach(&self, running: Running) {
        *self.lock_running() = Some(running);
    }

    /// The server stops taking plans (it is stopping); an apply under way
    /// finishes first.
    pub(super) fn detach(&self) {
        *self.lock_running() = None;
    }

    /// An HTTP server starts taking plans: `apply` prepares its side.
    pub(super) fn attach_http(&self, apply: HttpApply) {
        *self.inner.http.lock().unwrap_or_else(|e| e.into_inner()) = Some(apply);
    }

    /// The HTTP server stops taking plans.
    pub(super) fn detach_http(&self) {
        *self.inner.http.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Records how an apply went; with the plan served and what it serves
    /// when it took.
    fn record(
        &self,
        plan: Option<(&Deployment, &[super::Served])>,
        version: u64,
        error: Option<String>,
        started: Instant,
    ) {
        let mut status = self.inner.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((d, served)) = plan {
            status.version = version;
            status.components = digests(d, &status.host);
            status.served = names(served);
        }
        status.last = Some(Outcome {
            applied: error.is_none(),
            error,
            took_ms: started.elapsed().as_secs_f64() * 1e3,
            at: unix_now(),
        });
    }
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live(..)")
    }
}

/// Applies `deployment` to a host's running servers: the HTTP side is
/// prepared first, then the wRPC side prepared and swapped, then the HTTP
/// side swapped, so a plan either part refuses changes neither. `version`
/// is the plan's when only HTTP runs.
fn both(
    running: Option<&mut Running>,
    http: Option<&HttpApply>,
    deployment: &Deployment,
    version: u64,
    started: Instant,
) -> Result<(Applied, Vec<super::Served>), ApplyError> {
    let commit = match (http, &running) {
        (Some(prepare), _) => Some(prepare(deployment)?),
        (None, Some(r)) => {
            // A host serving no HTTP that the plan gives an HTTP address.
            let host = &r.options.host;
            if deployment
                .plan
                .ingress_of(host)
                .is_some_and(|i| i.address.is_some())
            {
                return Err(ApplyError::HostChanged {
                    host: host.clone(),
                    what: "HTTP address",
                });
            }
            None
        }
        (None, None) => None,
    };
    let done = match running {
        Some(r) => swap(r, deployment, started)?,
        None => {
            let applied = Applied {
                version,
                kept: 0,
                started: 0,
                took: Duration::ZERO,
            };
            (applied, Vec::new())
        }
    };
    if let Some(commit) = commit {
        commit();
    }
    let (mut applied, served) = done;
    applied.took = started.elapsed();
    Ok((applied, served))
}

/// Prepares `deployment` for the running server and swaps it in; returns
/// what it did and what the plan serves.
fn swap(
    r: &mut Running,
    deployment: &Deployment,
    started: Instant,
) -> Result<(Applied, Vec<super::Served>), ApplyError> {
    let host = r.options.host.clone();
    deployment
        .plan
        .choose_host(Some(&host))
        .map_err(|e| ApplyError::Serve(e.into()))?;
    let endpoint = r
        .options
        .endpoint
        .clone()
        .unwrap_or_else(|| deployment.manifest.endpoint_of(&host));
    if std::mem::discriminant(&endpoint) != std::mem::discriminant(&r.endpoint) {
        return Err(ApplyError::EndpointChanged {
            host,
            from: r.endpoint.to_string(),
            to: endpoint.to_string(),
        });
    }
    if let Some(what) = r.settings.differs(&HostSettings::of(deployment, &host)) {
        return Err(ApplyError::HostChanged { host, what });
    }
    let old = r.current.get().ok_or(ApplyError::NotServing)?;
    let prepared = Prepared::new(deployment, &host, &r.options)?;
    let workers = Arc::clone(&r.workers);
    let next = prepared.generation(old.version + 1, Some(&old), &r.options, &mut |name, f| {
        workers.spawn(name, f)
    })?;
    let kept = next
        .crews()
        .iter()
        .filter(|c| old.crews().iter().any(|o| Arc::ptr_eq(o, c)))
        .count();
    let (version, started_crews) = (next.version, next.crews().len() - kept);
    if endpoint != r.endpoint {
        // The new endpoint is up before the plan is swapped in (calls
        // arriving there meanwhile run on the old plan) and the old one
        // stops taking calls once it is.
        move_to(r, &endpoint)?;
    }
    r.current.swap(next);
    // NATS subscriptions follow the plan: an apply returns once they are
    // in place at the broker, so a call made after it finds them.
    if !r.current.wait_followers(version, FOLLOW_BOUND) {
        tracing::warn!(
            version,
            "the NATS subscriptions of the plan applied were not in place within {} s",
            FOLLOW_BOUND.as_secs()
        );
    }
    cut_after(&r.current, &old, r.options.grace);
    let applied = Applied {
        version,
        kept,
        started: started_crews,
        took: started.elapsed(),
    };
    Ok((applied, prepared.served))
}

/// The settings of a host that its running server reads once, at start:
/// its NATS queue group, its TLS identity's files, its NATS credentials.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct HostSettings {
    /// The queue group its NATS subscriptions share.
    pub(super) queue_group: String,
    /// Where its TLS identity is read from.
    identity: Option<crate::wrpc::tls::IdentityFiles>,
    /// Where its NATS credentials are read from (never the secret).
    nats: String,
}

impl HostSettings {
    /// `host`'s settings in `deployment`.
    pub(super) fn of(deployment: &Deployment, host: &str) -> HostSettings {
        let m = &deployment.manifest;
        HostSettings {
            queue_group: m.queue_group_of(host),
            identity: m.identity_files(host),
            nats: format!("{:?}", m.nats_secret(host)),
        }
    }

    /// The first setting `other` has otherwise, by name.
    fn differs(&self, other: &HostSettings) -> Option<&'static str> {
        if self.queue_group != other.queue_group {
            Some("NATS queue group")
        } else if self.identity != other.identity {
            Some("TLS identity")
        } else if self.nats != other.nats {
            Some("NATS credentials")
        } else {
            None
        }
    }
}

/// How long an apply waits for a new endpoint to be bound (a NATS broker
/// connects within 5 s).
const MOVE_BOUND: Duration = Duration::from_secs(10);

/// Has the server serve on `endpoint` instead of the one it serves on.
///
/// # Errors
/// The endpoint cannot be bound (the old one serves on), or the server
/// stopped.
fn move_to(r: &mut Running, endpoint: &Endpoint) -> Result<(), ApplyError> {
    let (bound, reply) = std::sync::mpsc::sync_channel(1);
    r.move_to
        .send(Move {
            endpoint: endpoint.clone(),
            bound,
        })
        .map_err(|_| ApplyError::NotServing)?;
    match reply.recv_timeout(MOVE_BOUND) {
        Ok(Ok(at)) => {
            tracing::info!(from = %r.endpoint, to = %at, "the host moved to a new endpoint");
            r.endpoint = endpoint.clone();
            Ok(())
        }
        Ok(Err(e)) => Err(ApplyError::Serve(e)),
        Err(_) => Err(ApplyError::Serve(ServeError::NotReady)),
    }
}

/// How long an apply waits for the NATS subscriptions of its plan.
const FOLLOW_BOUND: Duration = Duration::from_secs(5);

/// After `grace`, interrupts the guests of `old` still running on what the
/// current plan does not use.
fn cut_after(current: &Arc<Current>, old: &Arc<Generation>, grace: Duration) {
    let current = Arc::clone(current);
    after_grace(old, grace, move |old| {
        if current.cut(&old) > 0 {
            tracing::warn!(
                version = old.version,
                "calls of a replaced plan still ran after the grace period; their guests are interrupted"
            );
        }
    });
}

/// Runs `f` on what a swap replaced, `grace` after the swap, if calls
/// still hold it then (a plan no call holds any more is gone already).
pub(super) fn after_grace<T: Send + Sync + 'static>(
    old: &Arc<T>,
    grace: Duration,
    f: impl FnOnce(Arc<T>) + Send + 'static,
) {
    let old = Arc::downgrade(old);
    io_runtime().spawn(async move {
        tokio::time::sleep(grace).await;
        if let Some(old) = old.upgrade() {
            f(old);
        }
    });
}

fn names(served: &[super::Served]) -> Vec<String> {
    served
        .iter()
        .map(|s| format!("{}#{}", s.instance, s.function))
        .collect()
}

/// The SHA-256 of each of `host`'s components.
fn digests(deployment: &Deployment, host: &str) -> Vec<ComponentDigest> {
    deployment
        .plan
        .components
        .iter()
        .filter(|c| c.host == host)
        .map(|c| ComponentDigest {
            name: c.name.clone(),
            sha256: crate::desired::sha256_hex(deployment.bytes(&c.name)),
        })
        .collect()
}
