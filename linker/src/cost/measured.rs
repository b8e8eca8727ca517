//! Measured call costs: the latency histograms a running host keeps of its
//! links (`weld serve --metrics`, scraped and saved, or read from its
//! address), set on a plan's links as p50 and p99 next to their estimates.
//!
//! A link is matched by its caller, its interface as the caller imports
//! it and its callee (`weld_link_call_duration_seconds`' `caller`,
//! `interface` and `callee` labels); every function's buckets are added up
//! for the link's figures, and each function keeps its own. The quantiles
//! are interpolated inside a bucket as Prometheus' `histogram_quantile`
//! does, so they are as precise as the buckets (1–2.5–5 steps).

use super::{CostError, CostNotes};
use crate::observe::quantile;
use crate::plan::cost::{MeasuredCost, MeasuredFunction};
use crate::plan::Plan;
use std::collections::BTreeMap;

/// The largest scrape weld reads (a host's exposition is a few KiB per
/// link).
pub const MAX_SCRAPE_BYTES: u64 = 64 << 20;

/// The histogram of a link's call durations, as weld names it.
const DURATIONS: &str = "weld_link_call_duration_seconds";
/// The counter of a link's failures.
const FAILURES: &str = "weld_link_failures_total";
/// The most calls a series may claim: past it, sums of counts could lose
/// their precision or overflow (a host would need ~3 000 years at a
/// million calls a second to count that many).
const MAX_COUNT: f64 = (1u64 << 52) as f64;

/// One function of one link, as a scrape shows it.
#[derive(Debug, Clone, PartialEq)]
struct Series {
    /// Bucket upper bounds in nanoseconds (finite ones), increasing.
    bounds: Vec<f64>,
    /// Observations per bucket (not cumulative), then `+Inf`.
    counts: Vec<f64>,
    failures: f64,
}

/// Link (caller, interface, callee) → function → its series.
type Links = BTreeMap<(String, String, String), BTreeMap<String, Series>>;

/// The links' latencies read from a host's metrics.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    links: Links,
}

/// Whether `bytes` look like Prometheus text rather than a calibration
/// (JSON): the first thing in them is not `{`.
pub fn is_scrape(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b != b'{')
}

impl Measured {
    /// Parses Prometheus text; `label` names it in errors.
    ///
    /// # Errors
    /// [`CostError::Invalid`] when it is not UTF-8 Prometheus text, or
    /// holds no `weld_link_call_duration_seconds` series.
    pub fn parse(label: &str, bytes: &[u8]) -> Result<Measured, CostError> {
        let invalid = |problem: String| CostError::Invalid {
            path: label.to_string(),
            problem,
        };
        let text =
            std::str::from_utf8(bytes).map_err(|e| invalid(format!("not Prometheus text: {e}")))?;
        // Only weld's link series are parsed: the parser keeps every sample
        // with its labels, and a large file of other series would take
        // many times its size in memory.
        let ours = |l: &&str| {
            l.starts_with("weld_link_")
                || l.starts_with("# TYPE weld_link_")
                || l.starts_with("# HELP weld_link_")
        };
        let lines = text.lines().filter(ours).map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines)
            .map_err(|e| invalid(format!("not Prometheus text: {e}")))?;
        let key = |s: &prometheus_parse::Sample| {
            let get = |k: &str| s.labels.get(k).unwrap_or_default().to_string();
            (
                (get("caller"), get("interface"), get("callee")),
                get("function"),
            )
        };
        let mut links = Links::new();
        for s in scrape.samples.iter().filter(|s| s.metric == DURATIONS) {
            let prometheus_parse::Value::Histogram(buckets) = &s.value else {
                continue;
            };
            let (link, function) = key(s);
            let series = histogram(buckets).ok_or_else(|| {
                invalid(format!(
                    "`{DURATIONS}` of `{function}`: its buckets are not cumulative counts over increasing durations"
                ))
            })?;
            // The same link and function under other labels (a transport
            // or host a changed plan moved it to): one series, added up.
            let functions = links.entry(link).or_default();
            match functions.get_mut(&function) {
                Some(seen) if seen.bounds == series.bounds => {
                    for (a, b) in seen.counts.iter_mut().zip(&series.counts) {
                        *a += b;
                    }
                }
                Some(_) => {
                    return Err(invalid(format!(
                        "`{DURATIONS}` of `{function}`: two series with other buckets"
                    )))
                }
                None => {
                    functions.insert(function, series);
                }
            }
        }
        for s in scrape.samples.iter().filter(|s| s.metric == FAILURES) {
            let (prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n)) =
                s.value
            else {
                continue;
            };
            let (link, function) = key(s);
            if let Some(series) = links.get_mut(&link).and_then(|f| f.get_mut(&function)) {
                if !(0.0..=MAX_COUNT).contains(&n) {
                    return Err(invalid(format!(
                        "`{FAILURES}` of `{function}`: {n} is not a count"
                    )));
                }
                series.failures = (series.failures + n).min(MAX_COUNT);
            }
        }
        if links.is_empty() {
            return Err(invalid(format!(
                "no `{DURATIONS}` series: not the metrics of a weld host (`weld serve --metrics`)"
            )));
        }
        Ok(Measured { links })
    }
}

/// A histogram's cumulative buckets as per-bucket counts with finite
/// bounds in nanoseconds; `None` when the counts decrease or are not
/// finite numbers, or a bound is not a positive duration or repeats.
fn histogram(buckets: &[prometheus_parse::HistogramCount]) -> Option<Series> {
    let mut sorted: Vec<(f64, f64)> = buckets.iter().map(|b| (b.less_than, b.count)).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bounds: Vec<f64> = Vec::new();
    let mut counts = Vec::new();
    let mut below = 0.0;
    for (le, cumulative) in sorted {
        let ns = le * 1e9;
        let repeated = bounds.last().is_some_and(|b| ns <= *b);
        // A bound is a positive duration that stays finite in nanoseconds
        // (or `+Inf`); a count is at most MAX_COUNT, so sums stay exact.
        let bad_bound = le.is_nan() || le <= 0.0 || (le.is_finite() && !ns.is_finite());
        if !(0.0..=MAX_COUNT).contains(&cumulative) || cumulative < below || bad_bound || repeated {
            return None;
        }
        counts.push(cumulative - below);
        below = cumulative;
        if le.is_finite() {
            bounds.push(ns);
        }
    }
    // Without a `+Inf` bucket, nothing fell past the last bound.
    if counts.len() == bounds.len() {
        counts.push(0.0);
    }
    Some(Series {
        bounds,
        counts,
        failures: 0.0,
    })
}

impl Measured {
    /// Every link's figures: (caller, interface, callee) and what it cost;
    /// links whose histograms hold no call are left out.
    pub fn costs(&self) -> Vec<((String, String, String), MeasuredCost)> {
        self.links
            .iter()
            .filter_map(|(link, functions)| Some((link.clone(), link_cost(functions)?)))
            .collect()
    }
}

/// Sets [`Resolution::measured`](crate::plan::Resolution::measured) on every
/// link of `plan` that `measured` has calls of. Returns a note per link
/// of the plan it has none of, and per link it has that the plan does not.
pub fn annotate_measured(plan: &mut Plan, measured: &Measured) -> CostNotes {
    let mut notes = Vec::new();
    let mut matched = std::collections::BTreeSet::new();
    for r in &mut plan.resolutions {
        let Some(peer) = &r.peer else { continue };
        let key = (r.component.clone(), r.import.clone(), peer.clone());
        let Some(functions) = measured.links.get(&key) else {
            if r.observed {
                notes.push(format!(
                    "`{}` import `{}` → `{peer}`: no calls in the metrics given",
                    r.component, r.import
                ));
            }
            continue;
        };
        matched.insert(key);
        r.measured = link_cost(functions);
    }
    for (caller, interface, callee) in measured.links.keys() {
        let key = (caller.clone(), interface.clone(), callee.clone());
        if !matched.contains(&key) {
            notes.push(format!(
                "the metrics count calls of `{caller}` import `{interface}` → `{callee}`, a link this plan does not have"
            ));
        }
    }
    notes
}

/// A link's figures from its functions' series (`None` without calls).
fn link_cost(functions: &BTreeMap<String, Series>) -> Option<MeasuredCost> {
    let per_function: Vec<MeasuredFunction> = functions
        .iter()
        .filter_map(|(function, s)| {
            Some(MeasuredFunction {
                function: function.clone(),
                calls: s.counts.iter().sum::<f64>() as u64,
                failures: s.failures as u64,
                p50_ns: quantile(&s.bounds, &s.counts, 0.5)?,
                p99_ns: quantile(&s.bounds, &s.counts, 0.99)?,
            })
        })
        .collect();
    // Every weld series has the same buckets; one that does not (another
    // weld's) is left out of the merged figures rather than misread.
    let first = functions.values().next()?;
    let same: Vec<&Series> = functions
        .values()
        .filter(|s| s.bounds == first.bounds)
        .collect();
    let mut merged = vec![0.0; first.counts.len()];
    for s in &same {
        for (m, n) in merged.iter_mut().zip(&s.counts) {
            *m += n;
        }
    }
    let total = |pick: fn(&MeasuredFunction) -> u64| {
        per_function
            .iter()
            .map(pick)
            .fold(0u64, u64::saturating_add)
    };
    Some(MeasuredCost {
        calls: total(|f| f.calls),
        failures: total(|f| f.failures),
        p50_ns: quantile(&first.bounds, &merged, 0.5)?,
        p99_ns: quantile(&first.bounds, &merged, 0.99)?,
        functions: per_function,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Ended, LinkKey, Observer};
    use std::time::Duration;

    /// A scrape of an observer with `ns` recorded on one link's `add`.
    fn scrape(ns: &[u64], failed: usize) -> String {
        let o = Observer::new();
        let cells = o.link(LinkKey {
            caller: "driver".into(),
            callee: "adder".into(),
            interface: "demo:math/adder@0.1.0".into(),
            function: "add".into(),
            transport: "tcp".into(),
            peer_host: "b".into(),
        });
        for (i, n) in ns.iter().enumerate() {
            let ended = if i < failed {
                Ended::Failed("timeout")
            } else {
                Ended::Ok
            };
            cells.record(Duration::from_nanos(*n), ended, 0, 0);
        }
        o.prometheus_text()
    }

    #[test]
    fn a_scrape_of_weld_metrics_reads_back_as_the_quantiles_recorded() {
        // 98 calls of 30 µs and 2 of 3 ms: p50 in the 25–50 µs bucket, p99
        // in the 2.5–5 ms one.
        let mut ns = vec![3_000_000; 2];
        ns.extend(vec![30_000; 98]);
        let measured = Measured::parse("scrape", scrape(&ns, 2).as_bytes()).unwrap();
        let series = &measured.links[&(
            "driver".into(),
            "demo:math/adder@0.1.0".into(),
            "adder".into(),
        )];
        let cost = link_cost(series).unwrap();
        assert_eq!((cost.calls, cost.failures), (100, 2));
        assert!((25_000.0..=50_000.0).contains(&cost.p50_ns), "{cost:?}");
        assert!(
            (2_500_000.0..=5_000_000.0).contains(&cost.p99_ns),
            "{cost:?}"
        );
        assert_eq!(cost.functions[0].function, "add");
    }

    #[test]
    fn text_that_is_not_a_weld_scrape_is_refused_by_name() {
        for text in ["", "# just a comment\n", "up 1\n", "\u{0}\u{1}"] {
            let e = Measured::parse("x.prom", text.as_bytes()).unwrap_err();
            assert!(e.to_string().starts_with("costs file `x.prom`"), "{e}");
        }
        let histogram = |buckets: &str| {
            format!("# TYPE weld_link_call_duration_seconds histogram\n{}", buckets.lines().map(|b| {
                let (le, n) = b.split_once(' ').unwrap();
                format!("weld_link_call_duration_seconds_bucket{{caller=\"a\",le=\"{le}\"}} {n}\n")
            }).collect::<String>())
        };
        // Decreasing counts, a bound that is no duration, a repeated one.
        for buckets in [
            "0.1 5\n+Inf 3",
            "-1 1\n+Inf 2",
            "0 1\n+Inf 1",
            "0.1 1\n0.1 2\n+Inf 2",
        ] {
            let e = Measured::parse("x.prom", histogram(buckets).as_bytes()).unwrap_err();
            assert!(e.to_string().contains("not cumulative"), "{buckets:?}: {e}");
        }
        assert!(is_scrape(b"\n# HELP x"));
        assert!(!is_scrape(b"  {\"format\": \"weld-costs\"}"));
    }
}
