//! The counters of one observed function: calls, failures by cause, a
//! latency histogram and bytes each way, kept in atomics so a call records
//! itself without a lock (a failure takes one short lock: failures are the
//! rare case).
//!
//! Costs: a recorded call is one read of the CPU's time-stamp counter on
//! each side of it ([`Started::now`], [`CallCells::finish`]: ~10 ns each
//! here, through `quanta`, against ~23 ns for `std::time::Instant`) and
//! two relaxed atomic additions (the sum of durations and the bucket; two
//! more when bytes cross a wire); nothing is allocated. With traces on, a
//! call also makes a span ([`CallCells::start`], [`CallCells::end`]): see
//! [`super::trace`].

use super::trace::SpanTemplate;
use opentelemetry::{Context, KeyValue};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The upper bounds of the latency histogram's buckets, in nanoseconds:
/// from 100 ns (a host-linked call) to 10 s (a call at its deadline), in
/// 1–2.5–5 steps; slower calls fall in the implicit `+Inf` bucket.
pub const BUCKETS_NS: [u64; 24] = [
    100,
    250,
    500,
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    10_000_000_000,
];

/// How one call ended, as its counters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It returned (for a wRPC-safe function, with a value or an error the
    /// callee chose: only a failure of the call itself is a failure).
    Ok,
    /// It failed, for this cause (a name from the side that saw it fail:
    /// `trap`, `timeout`, `busy`, …).
    Failed(&'static str),
    /// It was refused before it ran (a served component's `busy`,
    /// `unauthorized`, `over-budget`): a failure that also counts as a
    /// refusal of the component.
    Refused(&'static str),
}

/// The clock calls are timed with: the time-stamp counter where it is
/// invariant (quanta checks, and calibrates it once), the OS's monotonic
/// clock elsewhere.
fn clock() -> &'static quanta::Clock {
    static CLOCK: std::sync::OnceLock<quanta::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// When a call started, on the clock calls are timed with.
#[derive(Debug, Clone, Copy)]
pub struct Started(u64);

impl Started {
    /// Now.
    pub fn now() -> Started {
        Started(clock().raw())
    }
}

/// The counters of one function, on one side of a link.
#[derive(Debug, Default)]
pub struct CallCells {
    sum_ns: AtomicU64,
    /// One per bound of [`BUCKETS_NS`], then `+Inf`.
    buckets: [AtomicU64; BUCKETS_NS.len() + 1],
    sent: AtomicU64,
    received: AtomicU64,
    refused: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    /// What each call's span is made from, when traces are on.
    span: Option<SpanTemplate>,
}

/// One call in progress: when it started and, with traces on, the
/// context holding its span. Ended by [`CallCells::end`].
#[derive(Debug)]
pub struct Call {
    started: Started,
    span: Option<Context>,
}

impl Call {
    /// The context holding the call's span, when it has one: the parent
    /// of what runs inside the call, and what a transport with headers
    /// carries ([`super::trace::inject`]).
    pub fn context(&self) -> Option<&Context> {
        self.span.as_ref()
    }

    /// Sets `attribute` on the call's span, when it has one that is
    /// recorded.
    pub fn set_attribute(&self, attribute: impl FnOnce() -> KeyValue) {
        if let Some(cx) = &self.span {
            let span = opentelemetry::trace::TraceContextExt::span(cx);
            if span.is_recording() {
                span.set_attribute(attribute());
            }
        }
    }

    /// Runs `f` with the call's span as the thread's current one (so calls
    /// made inside it are its children); just `f` without a span.
    pub fn within<T>(&self, f: impl FnOnce() -> T) -> T {
        super::trace::within(self.span.clone(), f)
    }
}

/// What [`CallCells`] held when read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Calls ended, failed ones included.
    pub calls: u64,
    /// Their durations added up, in nanoseconds.
    pub sum_ns: u64,
    /// Calls per bucket of [`BUCKETS_NS`] (not cumulative), then `+Inf`.
    pub buckets: Vec<u64>,
    /// Bytes sent (the parameters, on the calling side; the results, on
    /// the serving side).
    pub sent: u64,
    /// Bytes received.
    pub received: u64,
    /// Calls refused before they ran.
    pub refused: u64,
    /// Failed calls by cause (refused ones included).
    pub failures: BTreeMap<&'static str, u64>,
}

impl CallCells {
    /// Counters whose calls, with `span` given, each make a span from it.
    pub(crate) fn new(span: Option<SpanTemplate>) -> CallCells {
        CallCells {
            span,
            ..CallCells::default()
        }
    }

    /// Starts a call made from this thread: its span, when traces are on,
    /// is a child of the thread's current one.
    pub fn start(&self) -> Call {
        let started = Started::now();
        let span = self
            .span
            .as_ref()
            .map(|t| t.start(&Context::current(), |_| {}));
        Call { started, span }
    }

    /// Starts a served call under the parent `parent` gives (what its
    /// caller sent; an empty context when it sent none); `more` names what
    /// else the span should say of this call (the caller, as far as the
    /// server knows it). Each is asked only when a span is made (`more`,
    /// only when it is recorded).
    pub fn start_served(
        &self,
        parent: impl FnOnce() -> Context,
        more: impl FnOnce(&mut Vec<KeyValue>),
    ) -> Call {
        let started = Started::now();
        let span = self.span.as_ref().map(|t| t.start(&parent(), more));
        Call { started, span }
    }

    /// Whether calls make spans (traces are on).
    pub fn traced(&self) -> bool {
        self.span.is_some()
    }

    /// Ends `call`: records it (see [`CallCells::record`]) and ends its
    /// span with the outcome and the bytes.
    pub fn end(&self, call: Call, ended: Ended, sent: usize, received: usize) {
        self.finish(call.started, ended, sent, received);
        if let Some(cx) = &call.span {
            super::trace::end(cx, ended, sent, received);
        }
    }

    /// Records one call that `started` and ends now (see
    /// [`CallCells::record`]).
    pub fn finish(&self, started: Started, ended: Ended, sent: usize, received: usize) {
        let clock = clock();
        let took = clock.delta(started.0, clock.raw());
        self.record(took, ended, sent, received);
    }

    /// Records one call that took `took`, sent `sent` bytes and received
    /// `received` (0 where nothing crosses a wire), and ended as `ended`.
    pub fn record(&self, took: Duration, ended: Ended, sent: usize, received: usize) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // The call count is the buckets' sum: one atomic fewer per call.
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.buckets[BUCKETS_NS.partition_point(|b| *b < ns)].fetch_add(1, Ordering::Relaxed);
        if sent > 0 {
            self.sent.fetch_add(sent as u64, Ordering::Relaxed);
        }
        if received > 0 {
            self.received.fetch_add(received as u64, Ordering::Relaxed);
        }
        let cause = match ended {
            Ended::Ok => return,
            Ended::Failed(cause) => cause,
            Ended::Refused(cause) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                cause
            }
        };
        *self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(cause)
            .or_default() += 1;
    }

    /// What the counters hold now. Each is read on its own: a scrape taken
    /// while calls end may see one call in its bucket and not yet in the
    /// sum of durations.
    pub fn counts(&self) -> CallCounts {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        CallCounts {
            calls: buckets.iter().sum(),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
            buckets,
            sent: self.sent.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            failures: self
                .failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl CallCounts {
    /// The latency below which a share `q` (0–1) of the calls fell, in
    /// nanoseconds (see [`quantile`]).
    pub fn quantile_ns(&self, q: f64) -> Option<f64> {
        let bounds: Vec<f64> = BUCKETS_NS.iter().map(|b| *b as f64).collect();
        let counts: Vec<f64> = self.buckets.iter().map(|n| *n as f64).collect();
        quantile(&bounds, &counts, q)
    }
}

/// The value below which a share `q` (0–1) of a histogram's observations
/// fell, interpolated linearly inside its bucket (as Prometheus'
/// `histogram_quantile` does). `bounds` are the buckets' upper bounds in
/// increasing order, `counts` the observations per bucket (not
/// cumulative), with one more entry for `+Inf`. `None` without
/// observations; the largest finite bound when the quantile falls in
/// `+Inf`.
pub fn quantile(bounds: &[f64], counts: &[f64], q: f64) -> Option<f64> {
    let total: f64 = counts.iter().sum();
    let last = bounds.last().copied().unwrap_or(0.0);
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut below = 0.0;
    for (i, n) in counts.iter().enumerate() {
        if *n > 0.0 && below + n >= rank {
            let Some(upper) = bounds.get(i) else {
                return Some(last);
            };
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            return Some(lower + (upper - lower) * ((rank - below) / n));
        }
        below += n;
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_call_lands_in_the_first_bucket_at_or_above_it() {
        let cells = CallCells::default();
        cells.record(Duration::from_nanos(100), Ended::Ok, 0, 0);
        cells.record(Duration::from_nanos(101), Ended::Ok, 0, 0);
        cells.record(Duration::from_secs(60), Ended::Failed("timeout"), 10, 0);
        cells.record(Duration::from_micros(3), Ended::Refused("busy"), 0, 0);
        let c = cells.counts();
        assert_eq!(c.calls, 4);
        assert_eq!(c.buckets[0], 1);
        assert_eq!(c.buckets[1], 1);
        assert_eq!(c.buckets[5], 1, "3 µs is under 5 µs");
        assert_eq!(
            *c.buckets.last().unwrap(),
            1,
            "a minute is past every bound"
        );
        assert_eq!(c.failures.get("timeout"), Some(&1));
        assert_eq!(c.failures.get("busy"), Some(&1));
        assert_eq!((c.refused, c.sent, c.received), (1, 10, 0));
    }

    proptest! {
        /// Every call lands in exactly one bucket, and a quantile lies
        /// within the bounds of the calls recorded (to a bucket's width).
        #[test]
        fn buckets_add_up_and_quantiles_are_in_range(ns in proptest::collection::vec(1u64..20_000_000_000, 1..200)) {
            let cells = CallCells::default();
            for n in &ns {
                cells.record(Duration::from_nanos(*n), Ended::Ok, 0, 0);
            }
            let c = cells.counts();
            prop_assert_eq!(c.buckets.iter().sum::<u64>(), ns.len() as u64);
            prop_assert_eq!(c.calls, ns.len() as u64);
            let max = *ns.iter().max().unwrap();
            let p99 = c.quantile_ns(0.99).unwrap();
            let bound = BUCKETS_NS.iter().find(|b| **b >= max).copied().unwrap_or(BUCKETS_NS[BUCKETS_NS.len() - 1]);
            prop_assert!(p99 <= bound as f64, "p99 {p99} above the bucket of the slowest call {max}");
            let p50 = c.quantile_ns(0.5).unwrap();
            prop_assert!(p50 <= p99);
        }
    }
}
