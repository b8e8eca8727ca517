//! What weld sees of the calls it carries, while they run: per link and
//! function, on the calling side (a wRPC stub, a host-linked import) and
//! on the serving side (a served call), the calls, their failures by
//! cause, a latency histogram and the bytes each way; per served
//! component, the calls in flight, waiting and refused.
//!
//! An [`Observer`] is made by the embedder (`weld serve --metrics`) and
//! given to the runtime and the server, which ask it once per link and
//! function, while a plan is prepared, for the [`CallCells`] a call
//! records itself in: no lookup on the call path. Without an observer
//! nothing is asked and nothing recorded: an unobserved host-linked link
//! gets the host function it had before counting existed, and a wRPC stub
//! or a served call pays one branch and reads no clock.
//!
//! Every label is a name from the plan (components, interfaces,
//! functions, hosts, transports) or a cause weld names: nothing a peer
//! sends becomes a label, so hostile traffic cannot grow the set of
//! series. Counters are kept across plans: a link or a served function
//! that a changed plan keeps keeps its counts.
//!
//! [`Observer::prometheus_text`] renders them in Prometheus' text format
//! (through the `prometheus-client` crate's encoder). An observer made
//! [`Observer::with_traces`] also makes one span per call ([`trace`]),
//! exported over OTLP by [`otlp::Otlp`].

mod cells;
pub mod otlp;
mod prometheus;
pub mod trace;

pub use cells::{quantile, Call, CallCells, CallCounts, Ended, Started, BUCKETS_NS};
pub use prometheus::CONTENT_TYPE;
pub use trace::Traces;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A series' labels (attributes, over OTLP): names from the plan.
pub(crate) type Labels = Vec<(&'static str, String)>;

/// What one export shows: every series, read once.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Each link's function (its labels) and its counters.
    pub links: Vec<(Labels, CallCounts)>,
    /// Each served function (its labels, the component first) and its
    /// counters.
    pub served: Vec<(Labels, CallCounts)>,
    /// Each served component's calls in flight and waiting.
    pub occupancy: Vec<(String, (u64, u64))>,
    /// Connections and invocations refused before their parameters.
    pub refused_connections: u64,
}

/// One function called across one link, on the calling side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkKey {
    /// The calling component.
    pub caller: String,
    /// The component called.
    pub callee: String,
    /// The interface, as the caller imports it.
    pub interface: String,
    /// The function.
    pub function: String,
    /// How the call travels: `host-linked`, or the wRPC endpoint's kind
    /// (`tcp`, `unix`, `quic`, `nats`).
    pub transport: String,
    /// The host the callee runs on.
    pub peer_host: String,
}

/// One function a host serves, on the serving side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServedKey {
    /// The component serving it.
    pub component: String,
    /// The interface (the wRPC instance name).
    pub interface: String,
    /// The function.
    pub function: String,
    /// The endpoint's kind: `tcp`, `unix`, `quic` or `nats`.
    pub transport: String,
}

/// Something that knows how many calls of a served component run and
/// wait right now (its admission), read when metrics are rendered: the
/// call path counts nothing for it.
pub trait Occupancy: Send + Sync {
    /// Calls admitted and not yet ended, and calls waiting for admission.
    fn occupancy(&self) -> (u64, u64);
}

/// The counters of a process's links and served calls. Cloning is cheap
/// (a shared handle); every clone records into the same counters.
#[derive(Clone, Default)]
pub struct Observer(Arc<Inner>);

#[derive(Default)]
struct Inner {
    links: Mutex<BTreeMap<LinkKey, Arc<CallCells>>>,
    served: Mutex<BTreeMap<ServedKey, Arc<CallCells>>>,
    /// Each served component's admissions: one per plan that served it
    /// while it lives, added up.
    occupancy: Mutex<Vec<(String, Weak<dyn Occupancy>)>>,
    /// Connections and invocations refused before their parameters.
    refused_connections: AtomicU64,
    /// Where each call's span is made, when traces are on.
    traces: Option<Traces>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer(..)")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Observer {
    /// An observer with nothing recorded yet.
    pub fn new() -> Observer {
        Observer::default()
    }

    /// An observer that also makes one span per call with `traces`.
    pub fn with_traces(traces: Traces) -> Observer {
        Observer(Arc::new(Inner {
            traces: Some(traces),
            ..Inner::default()
        }))
    }

    /// Whether calls make spans.
    pub fn traced(&self) -> bool {
        self.0.traces.is_some()
    }

    /// The counters of calls across `key`'s link (and its spans' template,
    /// with traces on), made on first use.
    pub fn link(&self, key: LinkKey) -> Arc<CallCells> {
        self.cells(&self.0.links, key, Traces::link)
    }

    /// The counters of calls served as `key` (and its spans' template,
    /// with traces on), made on first use.
    pub fn served(&self, key: ServedKey) -> Arc<CallCells> {
        self.cells(&self.0.served, key, Traces::served)
    }

    /// `key`'s counters in `all`, made (with a span template from
    /// `template`, when traces are on) on first use.
    fn cells<K: Ord>(
        &self,
        all: &Mutex<BTreeMap<K, Arc<CallCells>>>,
        key: K,
        template: fn(&Traces, &K) -> trace::SpanTemplate,
    ) -> Arc<CallCells> {
        let mut all = lock(all);
        if let Some(cells) = all.get(&key) {
            return Arc::clone(cells);
        }
        let span = self.0.traces.as_ref().map(|t| template(t, &key));
        let cells = Arc::new(CallCells::new(span));
        all.insert(key, Arc::clone(&cells));
        cells
    }

    /// Reads `component`'s calls in flight and waiting from `source` for as
    /// long as it lives.
    pub fn occupancy(&self, component: &str, source: Weak<dyn Occupancy>) {
        let mut all = lock(&self.0.occupancy);
        all.retain(|(_, s)| s.strong_count() > 0);
        all.push((component.to_string(), source));
    }

    /// A connection (or a NATS invocation) refused before its parameters
    /// were read.
    pub fn refused_connection(&self) {
        self.0.refused_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Every link's counters now, in key order.
    pub fn links(&self) -> Vec<(LinkKey, CallCounts)> {
        lock(&self.0.links)
            .iter()
            .map(|(k, c)| (k.clone(), c.counts()))
            .collect()
    }

    /// Every served function's counters now, in key order.
    pub fn served_counts(&self) -> Vec<(ServedKey, CallCounts)> {
        lock(&self.0.served)
            .iter()
            .map(|(k, c)| (k.clone(), c.counts()))
            .collect()
    }

    /// Each served component's calls in flight and waiting now (added up
    /// over the plans that serve it while a changed plan takes over).
    pub fn occupancies(&self) -> BTreeMap<String, (u64, u64)> {
        let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (component, source) in lock(&self.0.occupancy).iter() {
            if let Some(source) = source.upgrade() {
                let (running, waiting) = source.occupancy();
                let e = out.entry(component.clone()).or_default();
                e.0 += running;
                e.1 += waiting;
            }
        }
        out
    }

    /// Connections and invocations refused before their parameters were
    /// read.
    pub fn refused_connections(&self) -> u64 {
        self.0.refused_connections.load(Ordering::Relaxed)
    }

    /// Every series, read once, labelled as both exports name them.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let links = self
            .links()
            .into_iter()
            .map(|(k, c)| {
                let labels = vec![
                    ("caller", k.caller),
                    ("callee", k.callee),
                    ("interface", k.interface),
                    ("function", k.function),
                    ("transport", k.transport),
                    ("peer_host", k.peer_host),
                ];
                (labels, c)
            })
            .collect();
        let served = self
            .served_counts()
            .into_iter()
            .map(|(k, c)| {
                let labels = vec![
                    ("component", k.component),
                    ("interface", k.interface),
                    ("function", k.function),
                    ("transport", k.transport),
                ];
                (labels, c)
            })
            .collect();
        Snapshot {
            links,
            served,
            occupancy: self.occupancies().into_iter().collect(),
            refused_connections: self.refused_connections(),
        }
    }

    /// Every counter in Prometheus' text exposition format (0.0.4), served
    /// with [`CONTENT_TYPE`].
    pub fn prometheus_text(&self) -> String {
        prometheus::render(self)
    }
}
