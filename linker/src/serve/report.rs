//! What became of served calls: every failure logged at `warn` with the
//! function, the peer and the cause, counted by cause, and handed to the
//! embedder's hook (`weld serve --json` prints one line per failure).

use crate::diagnostic::one_line;
use crate::observe::{Ended, Observer};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a served call (or a connection that never became one) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The connection was refused before a call: a bad or slow header, an
    /// unknown function, more than the message cap.
    Refused,
    /// The caller is not among those the plan allows for the function's
    /// interface (refused before its parameters were read).
    Unauthorized,
    /// The parameters were not values of the function's types, or passed
    /// the message cap.
    BadParameters,
    /// The parameters did not arrive within the read timeout.
    LateParameters,
    /// The decoded parameters did not fit the server's in-flight budget.
    OverBudget,
    /// Too many calls of the component were waiting already.
    Busy,
    /// The guest returned the `error` of a wRPC-safe function.
    GuestError,
    /// The guest trapped or could not be instantiated.
    Trap,
    /// The guest ran past its deadline.
    Deadline,
    /// The guest tried to grow memory past its cap.
    MemoryCap,
    /// The server was stopping.
    Stopping,
    /// The results could not be encoded or sent.
    Reply,
}

impl Cause {
    /// How a call that failed for this cause ended, as metrics count it:
    /// `busy`, `unauthorized` and `over-budget` are refusals of the
    /// component (it never ran the call).
    pub fn ended(self) -> Ended {
        match self {
            Cause::Busy | Cause::Unauthorized | Cause::OverBudget => Ended::Refused(self.as_str()),
            _ => Ended::Failed(self.as_str()),
        }
    }

    /// The name used in logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Refused => "refused",
            Cause::Unauthorized => "unauthorized",
            Cause::BadParameters => "bad-parameters",
            Cause::LateParameters => "late-parameters",
            Cause::OverBudget => "over-budget",
            Cause::Busy => "busy",
            Cause::GuestError => "guest-error",
            Cause::Trap => "trap",
            Cause::Deadline => "deadline",
            Cause::MemoryCap => "memory-cap",
            Cause::Stopping => "stopping",
            Cause::Reply => "reply",
        }
    }
}

/// One failed call, as logged and handed to a [`FailureHook`].
#[derive(Debug, Clone, Serialize)]
pub struct FailedCall {
    /// The wRPC instance and function, when the header named a served one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The component serving it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Who called: a TCP address, a Unix peer's credentials, or NATS.
    pub peer: String,
    /// Why it failed.
    pub cause: Cause,
    /// What happened, in words.
    pub message: String,
}

/// One line of `weld serve --json`: what happened to the server, tagged
/// `"event"`.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ServeEvent<'a> {
    /// Calls are accepted.
    Ready {
        /// The host served.
        host: &'a str,
        /// The endpoint actually bound.
        endpoint: String,
        /// The functions served.
        served: &'a [super::Served],
    },
    /// A call (or a connection) was closed without a result.
    Failed {
        /// Which, and why.
        call: &'a FailedCall,
    },
    /// The server stopped.
    Stopped {
        /// What it did.
        stats: &'a ServeStats,
    },
    /// HTTP requests are accepted.
    #[serde(rename = "http-ready")]
    HttpReady {
        /// The host served.
        host: &'a str,
        /// The address actually bound, as `http://IP:PORT`.
        endpoint: String,
        /// The handlers, by path prefix.
        routes: &'a [crate::plan::Route],
    },
    /// Metrics are served (`weld serve --metrics`).
    #[serde(rename = "metrics-ready")]
    MetricsReady {
        /// Where to scrape them, as `http://IP:PORT/metrics`.
        endpoint: String,
    },
    /// The HTTP server stopped.
    #[serde(rename = "http-stopped")]
    HttpStopped {
        /// What it answered.
        stats: &'a super::HttpStats,
    },
}

/// The text for people: what is served where, a line per function or
/// route (the other events are printed as JSON only).
impl std::fmt::Display for ServeEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeEvent::HttpReady {
                host,
                endpoint,
                routes,
            } => {
                write!(f, "serving HTTP for host `{host}` on {endpoint}")?;
                for r in *routes {
                    write!(f, "\n  {}  → `{}` ({})", r.prefix, r.component, r.handler)?;
                }
                Ok(())
            }
            ServeEvent::Ready {
                host,
                endpoint,
                served,
            } => {
                write!(f, "serving host `{host}` on {endpoint}")?;
                for s in *served {
                    let policy = match s.policy {
                        crate::manifest::InstancePolicy::Shared => "shared",
                        crate::manifest::InstancePolicy::PerCall => "per-call",
                    };
                    let safe = if s.safe { ", wRPC-safe" } else { "" };
                    write!(
                        f,
                        "\n  {}.{}  ← `{}` ({policy}{safe})",
                        s.instance, s.function, s.component
                    )?;
                }
                Ok(())
            }
            ServeEvent::Failed { call } => write!(f, "failed: {}", call.message),
            ServeEvent::MetricsReady { endpoint } => write!(f, "serving metrics on {endpoint}"),
            ServeEvent::Stopped { stats } => write!(f, "stopped: {stats}"),
            ServeEvent::HttpStopped { stats } => write!(f, "HTTP stopped: {stats}"),
        }
    }
}

impl ServeEvent<'_> {
    /// The event as one line of JSON, with its newline.
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("serve events serialise");
        line.push('\n');
        line
    }
}

/// Called for every failed call (for `weld serve --json`, or an embedder's
/// own metrics). It runs on the thread that ends the call (the I/O thread,
/// or the guest worker that wrote the reply): keep it short.
#[derive(Clone)]
pub struct FailureHook(Arc<dyn Fn(&FailedCall) + Send + Sync>);

impl FailureHook {
    /// A hook calling `f`.
    pub fn new(f: impl Fn(&FailedCall) + Send + Sync + 'static) -> FailureHook {
        FailureHook(Arc::new(f))
    }
}

impl std::fmt::Debug for FailureHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailureHook(..)")
    }
}

/// What a server did, reported when it stops.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ServeStats {
    /// Calls answered with a result.
    pub answered: u64,
    /// Calls closed without a result.
    pub failed: u64,
    /// Connections refused before they named a served function.
    pub refused: u64,
    /// Failed calls and refused connections, by cause.
    pub failures: BTreeMap<Cause, u64>,
    /// Calls still in flight when the grace period ended, cut at shutdown.
    pub cut: u64,
    /// Workers still busy in a host call after the cut, left behind.
    pub abandoned_workers: u64,
    /// NATS messages dropped unanswered: invocations past the cap on calls
    /// in flight, and messages the NATS client dropped because the server
    /// did not keep up (a flood).
    pub dropped: u64,
}

impl std::fmt::Display for ServeStats {
    /// One line: calls answered and failed (by cause), connections refused,
    /// calls cut, then NATS drops and abandoned workers when there were any.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::diagnostic::plural;
        // Refused connections named no call: counted apart from the failed
        // calls, so the causes in brackets add up to "failed".
        let causes: Vec<String> = self
            .failures
            .iter()
            .filter(|(cause, _)| **cause != Cause::Refused)
            .map(|(cause, n)| format!("{n} {}", cause.as_str()))
            .collect();
        write!(
            f,
            "{} answered, {} failed",
            plural(self.answered as usize, "call"),
            self.failed
        )?;
        if !causes.is_empty() {
            write!(f, " ({})", causes.join(", "))?;
        }
        write!(
            f,
            ", {} refused, {} cut after the grace period",
            plural(self.refused as usize, "connection"),
            self.cut
        )?;
        if self.dropped > 0 {
            write!(f, ", {} NATS messages dropped unanswered", self.dropped)?;
        }
        if self.abandoned_workers > 0 {
            let workers = plural(self.abandoned_workers as usize, "worker");
            write!(f, " ({workers} stuck in a host call left behind)")?;
        }
        Ok(())
    }
}

/// How often a flood of dropped messages is logged: one line per period,
/// with the count since the last.
const DROP_LOG_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// Counts and reports outcomes; shared by every call task.
#[derive(Default)]
pub(super) struct Reporter {
    answered: AtomicU64,
    cut: AtomicU64,
    dropped: AtomicU64,
    /// When dropped messages were last logged, and how many since.
    drop_log: Mutex<(Option<std::time::Instant>, u64)>,
    failures: Mutex<BTreeMap<Cause, u64>>,
    hook: Option<FailureHook>,
    /// Counts connections and invocations refused before their parameters
    /// were read (a served function's own failures are counted where the
    /// call ends).
    observer: Option<Observer>,
}

impl Reporter {
    pub fn new(hook: Option<FailureHook>, observer: Option<Observer>) -> Reporter {
        Reporter {
            hook,
            observer,
            ..Reporter::default()
        }
    }

    /// A call answered with its result.
    pub fn answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// A NATS message dropped unanswered, for `why`: counted, and logged at
    /// `warn` at most once per [`DROP_LOG_PERIOD`] (a flood must not flood
    /// the log), with the count since the last line.
    pub fn dropped(&self, why: &str) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.log_drop(why);
    }

    /// The NATS client dropped a message the server did not take in time:
    /// logged as [`Reporter::dropped`] is, counted by [`Reporter::lost`]
    /// at the end (the client's drop events can themselves be lost).
    pub fn flooded(&self) {
        self.log_drop("the server did not keep up with a flood of messages");
    }

    /// `n` invocations received but never taken (the client dropped them,
    /// or they were queued at shutdown): counted as dropped.
    pub fn lost(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::warn!(dropped = n, "{n} NATS invocation(s) were received but dropped unanswered (a flood, or queued at shutdown)");
        }
    }

    fn log_drop(&self, why: &str) {
        let mut log = self.drop_log.lock().unwrap_or_else(|e| e.into_inner());
        log.1 += 1;
        let now = std::time::Instant::now();
        if log
            .0
            .is_none_or(|at| now.duration_since(at) >= DROP_LOG_PERIOD)
        {
            tracing::warn!(
                dropped = log.1,
                "dropped {} NATS message(s) unanswered: {why}",
                log.1
            );
            *log = (Some(now), 0);
        }
    }

    /// Calls cut at shutdown, when the grace period ended.
    pub fn cut(&self, calls: u64) {
        self.cut.fetch_add(calls, Ordering::Relaxed);
    }

    /// A failed call: logged at `warn`, counted, handed to the hook. What a
    /// peer sent (names, messages) is logged on one line with its control
    /// characters escaped, so it cannot forge or colour log lines.
    pub fn failed(&self, call: FailedCall) {
        if let (Some(observer), Cause::Refused) = (&self.observer, call.cause) {
            observer.refused_connection();
        }
        let message = one_line(&call.message);
        match (&call.function, &call.component) {
            (Some(f), Some(c)) => tracing::warn!(
                cause = call.cause.as_str(),
                "`{}` (`{c}`) called by {}: {message}",
                one_line(f),
                one_line(&call.peer),
            ),
            // Refused before it named a function: the message names the peer.
            _ => tracing::warn!(cause = call.cause.as_str(), "{message}"),
        }
        *self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(call.cause)
            .or_default() += 1;
        if let Some(hook) = &self.hook {
            (hook.0)(&call);
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> ServeStats {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let refused = failures.get(&Cause::Refused).copied().unwrap_or(0);
        ServeStats {
            answered: self.answered.load(Ordering::Relaxed),
            failed: failures.values().sum::<u64>() - refused,
            refused,
            failures,
            cut: self.cut.load(Ordering::Relaxed),
            abandoned_workers: 0,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
