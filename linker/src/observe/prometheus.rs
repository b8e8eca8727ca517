//! The counters in Prometheus' text exposition format, written by the
//! `prometheus-client` crate's encoder (its escaping of label values, its
//! `_total` and histogram suffixes) from a snapshot taken at render time.

use super::{CallCounts, Labels, Observer, Snapshot, BUCKETS_NS};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt::Error;

/// The content type of [`Observer::prometheus_text`].
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

pub(super) fn render(observer: &Observer) -> String {
    let snapshot = observer.snapshot();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String does not fail");
    text
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        calls(
            &mut encoder,
            "weld_link",
            "on the calling side of a link (a wRPC stub or a host-linked import)",
            &self.links,
        )?;
        calls(
            &mut encoder,
            "weld_served",
            "served to remote callers, on the serving side",
            &self.served,
        )?;
        let in_flight = encoder.encode_descriptor(
            "weld_component_calls_in_flight",
            "Calls of a served component admitted and not yet answered.",
            None,
            MetricType::Gauge,
        )?;
        gauges(in_flight, &self.occupancy, |o| o.0)?;
        let queued = encoder.encode_descriptor(
            "weld_component_calls_queued",
            "Calls of a served component waiting for a turn.",
            None,
            MetricType::Gauge,
        )?;
        gauges(queued, &self.occupancy, |o| o.1)?;
        let mut refused_by: std::collections::BTreeMap<&str, u64> = Default::default();
        for (labels, c) in &self.served {
            *refused_by.entry(&labels[0].1).or_default() += c.refused;
        }
        let mut refused = encoder.encode_descriptor(
            "weld_component_calls_refused",
            "Calls of a served component refused before they ran (busy, unauthorized, over the in-flight budget).",
            None,
            MetricType::Counter,
        )?;
        for (component, n) in refused_by {
            let labels = [("component", component)];
            ConstCounter::new(n).encode(refused.encode_family(&labels)?)?;
        }
        let connections = encoder.encode_descriptor(
            "weld_served_connections_refused",
            "Connections and NATS invocations refused before their parameters were read (a bad or slow header, an unknown function, the connection cap).",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.refused_connections).encode(connections)
    }
}

fn gauges(
    mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    occupancy: &[(String, (u64, u64))],
    pick: impl Fn(&(u64, u64)) -> u64,
) -> Result<(), Error> {
    for (component, o) in occupancy {
        let labels = [("component", component.as_str())];
        ConstGauge::new(pick(o) as i64).encode(encoder.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The five families of one side: `<prefix>_calls_total`,
/// `<prefix>_failures_total` (with a `cause`), `<prefix>_call_duration_seconds`,
/// `<prefix>_sent_bytes_total` and `<prefix>_received_bytes_total`.
fn calls(
    encoder: &mut DescriptorEncoder,
    prefix: &str,
    side: &str,
    series: &[(Labels, CallCounts)],
) -> Result<(), Error> {
    let name = |n: &str| format!("{prefix}_{n}");
    let counter = |encoder: &mut DescriptorEncoder,
                   n: &str,
                   help: String,
                   pick: &dyn Fn(&CallCounts) -> u64|
     -> Result<(), Error> {
        let n = name(n);
        let mut family = encoder.encode_descriptor(&n, &help, None, MetricType::Counter)?;
        for (labels, c) in series {
            ConstCounter::new(pick(c)).encode(family.encode_family(labels)?)?;
        }
        Ok(())
    };
    counter(encoder, "calls", format!("Calls ended {side}."), &|c| {
        c.calls
    })?;
    let failures = name("failures");
    let mut family = encoder.encode_descriptor(
        &failures,
        &format!("Calls failed {side}, by cause."),
        None,
        MetricType::Counter,
    )?;
    for (labels, c) in series {
        for (cause, n) in &c.failures {
            let mut with_cause = labels.clone();
            with_cause.push(("cause", (*cause).to_string()));
            ConstCounter::new(*n).encode(family.encode_family(&with_cause)?)?;
        }
    }
    let duration = name("call_duration_seconds");
    let mut family = encoder.encode_descriptor(
        &duration,
        &format!("How long calls took {side}, from the first byte read (or the call made) to the last byte sent (or the result taken)."),
        None,
        MetricType::Histogram,
    )?;
    for (labels, c) in series {
        let buckets: Vec<(f64, u64)> = BUCKETS_NS
            .iter()
            .map(|b| *b as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY))
            .zip(c.buckets.iter().copied())
            .collect();
        family.encode_family(labels)?.encode_histogram::<Labels>(
            c.sum_ns as f64 / 1e9,
            c.calls,
            &buckets,
            None,
        )?;
    }
    counter(
        encoder,
        "sent_bytes",
        format!("Bytes sent {side} (parameters by a caller, results by a server)."),
        &|c| c.sent,
    )?;
    counter(
        encoder,
        "received_bytes",
        format!("Bytes received {side}."),
        &|c| c.received,
    )
}
