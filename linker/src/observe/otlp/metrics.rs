//! The counters as OTLP metrics: every series `--metrics` serves, pushed
//! as one `ExportMetricsServiceRequest` (protobuf, over HTTP to
//! `/v1/metrics`) every interval and once more when the export stops,
//! from a thread of its own. Cumulative, like the Prometheus text: a
//! collector that wants deltas computes them.
//!
//! Built from OpenTelemetry's own protocol messages (`opentelemetry-proto`)
//! rather than through the SDK's instruments: those look up an attribute
//! set on every recording, which is what weld's counters exist to avoid
//! (see `observe`), and the SDK's observable instruments, the ones that
//! could read weld's counters at export time, have no histogram. This is
//! only an encoding of the same snapshot the Prometheus text is.

use super::super::{CallCounts, Labels, Observer, Snapshot, BUCKETS_NS};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message as _;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

/// The variable OpenTelemetry names the push interval with, in ms.
pub const INTERVAL_VAR: &str = "OTEL_METRIC_EXPORT_INTERVAL";

/// The push interval without [`INTERVAL_VAR`] (OpenTelemetry's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

/// The shortest interval taken from the environment.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How long one push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The variables naming headers every export sends (an API key, …), as
/// the span exporter reads them: `key=value` pairs separated by commas.
const HEADERS_VARS: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
];

/// The headers [`HEADERS_VARS`] name, the metrics' own last (a pair that
/// is not `key=value` is skipped; `%XX` escapes are decoded).
fn headers_from_env() -> Vec<(String, String)> {
    HEADERS_VARS
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .flat_map(|list| {
            list.split(',')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    let (k, v) = (k.trim(), percent_decoded(v.trim()));
                    (!k.is_empty()).then(|| (k.to_string(), v))
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `text` with its `%XX` escapes decoded (others kept as they are).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The interval [`INTERVAL_VAR`] sets (at least 100 ms), else
/// [`DEFAULT_INTERVAL`].
pub(super) fn interval_from_env() -> Duration {
    std::env::var(INTERVAL_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(DEFAULT_INTERVAL, |ms| {
            Duration::from_millis(ms).max(MIN_INTERVAL)
        })
}

/// A thread pushing an observer's counters until stopped.
#[derive(Debug)]
pub(super) struct Pusher {
    stop: mpsc::Sender<()>,
    done: mpsc::Receiver<()>,
}

impl Pusher {
    /// Pushes `observer`'s counters to `url` every `interval`, each
    /// request naming `resource`.
    pub(super) fn start(
        url: String,
        observer: Observer,
        resource: Vec<(String, String)>,
        interval: Duration,
    ) -> Pusher {
        let (stop, stopped) = mpsc::channel::<()>();
        let (finished, done) = mpsc::channel::<()>();
        let resource = Resource {
            attributes: resource.iter().map(|(k, v)| text(k, v)).collect(),
            ..Resource::default()
        };
        let since = unix_nanos(SystemTime::now());
        std::thread::Builder::new()
            .name("weld-otlp-metrics".into())
            .spawn(move || {
                // Made on this thread: reqwest's blocking client runs a
                // runtime of its own, which may not be dropped inside
                // another.
                let client = reqwest::blocking::Client::builder()
                    .timeout(PUSH_TIMEOUT)
                    .default_headers(header_map(&headers_from_env()))
                    .build();
                let mut failing = false;
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(interval),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    let request = request(&observer.snapshot(), &resource, since);
                    let pushed = match &client {
                        Ok(client) => push(client, &url, request.encode_to_vec()),
                        Err(e) => Err(e.to_string()),
                    };
                    match pushed {
                        Ok(()) if failing => {
                            tracing::info!("OTLP metrics reach the collector again");
                            failing = false;
                        }
                        Ok(()) => {}
                        Err(e) if !failing => {
                            tracing::warn!("OTLP metrics could not be pushed: {e}");
                            failing = true;
                        }
                        Err(e) => tracing::debug!("OTLP metrics could not be pushed: {e}"),
                    }
                    if last {
                        break;
                    }
                }
                let _ = finished.send(());
            })
            .expect("spawning a thread");
        Pusher { stop, done }
    }

    /// Pushes once more and stops; waits at most `wait` for that push.
    /// Whether it ended in time.
    pub(super) fn stop(self, wait: Duration) -> bool {
        let _ = self.stop.send(());
        self.done.recv_timeout(wait).is_ok()
    }
}

/// `headers` as a request's, those that are not valid HTTP skipped; a
/// name given twice keeps its last value.
fn header_map(headers: &[(String, String)]) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            map.insert(k, v);
        }
    }
    map
}

fn push(client: &reqwest::blocking::Client, url: &str, body: Vec<u8>) -> Result<(), String> {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .map_err(|e| e.without_url().to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the collector answered {}", response.status()))
    }
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..KeyValue::default()
    }
}

fn attributes(labels: &Labels) -> Vec<KeyValue> {
    labels.iter().map(|(k, v)| text(k, v)).collect()
}

/// Times of one export: the series' start (the export's), and now.
#[derive(Clone, Copy)]
struct At {
    since: u64,
    now: u64,
}

impl At {
    fn point(self, attributes: Vec<KeyValue>, value: u64) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.since,
            time_unix_nano: self.now,
            value: Some(number_data_point::Value::AsInt(
                i64::try_from(value).unwrap_or(i64::MAX),
            )),
            ..NumberDataPoint::default()
        }
    }
}

fn metric(name: &str, description: &str, unit: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.to_string(),
        description: description.to_string(),
        unit: unit.to_string(),
        data: Some(data),
        ..Metric::default()
    }
}

fn sum(points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Sum(Sum {
        data_points: points,
        aggregation_temporality: AggregationTemporality::Cumulative as i32,
        is_monotonic: true,
    })
}

/// The request pushing `snapshot`: the families the Prometheus text has,
/// named as OpenTelemetry names metrics (`weld.link.calls`, …).
fn request(snapshot: &Snapshot, resource: &Resource, since: u64) -> ExportMetricsServiceRequest {
    let at = At {
        since,
        now: unix_nanos(SystemTime::now()),
    };
    let mut metrics = Vec::new();
    calls(
        &mut metrics,
        at,
        "weld.link",
        "on the calling side of a link",
        &snapshot.links,
    );
    calls(
        &mut metrics,
        at,
        "weld.served",
        "served to remote callers",
        &snapshot.served,
    );
    let component = |c: &str| vec![text("component", c)];
    let gauge = |pick: fn(&(u64, u64)) -> u64| {
        metric::Data::Gauge(Gauge {
            data_points: snapshot
                .occupancy
                .iter()
                .map(|(c, o)| at.point(component(c), pick(o)))
                .collect(),
        })
    };
    metrics.push(metric(
        "weld.component.calls_in_flight",
        "Calls of a served component admitted and not yet answered.",
        "{call}",
        gauge(|o| o.0),
    ));
    metrics.push(metric(
        "weld.component.calls_queued",
        "Calls of a served component waiting for a turn.",
        "{call}",
        gauge(|o| o.1),
    ));
    let mut refused: std::collections::BTreeMap<&str, u64> = Default::default();
    for (labels, c) in &snapshot.served {
        *refused.entry(&labels[0].1).or_default() += c.refused;
    }
    metrics.push(metric(
        "weld.component.calls_refused",
        "Calls of a served component refused before they ran.",
        "{call}",
        sum(refused
            .into_iter()
            .map(|(c, n)| at.point(component(c), n))
            .collect()),
    ));
    metrics.push(metric(
        "weld.served.connections_refused",
        "Connections and NATS invocations refused before their parameters were read.",
        "{connection}",
        sum(vec![at.point(Vec::new(), snapshot.refused_connections)]),
    ));
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource.clone()),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "weld".to_string(),
                    ..InstrumentationScope::default()
                }),
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
}

/// One side's five metrics: calls, failures (with a `cause`), the
/// duration histogram (in seconds, weld's buckets), bytes each way.
fn calls(out: &mut Vec<Metric>, at: At, prefix: &str, side: &str, series: &[(Labels, CallCounts)]) {
    let counter = |n: &str, description: String, unit: &str, pick: fn(&CallCounts) -> u64| {
        let points = series
            .iter()
            .map(|(labels, c)| at.point(attributes(labels), pick(c)))
            .collect();
        metric(&format!("{prefix}.{n}"), &description, unit, sum(points))
    };
    out.push(counter(
        "calls",
        format!("Calls ended {side}."),
        "{call}",
        |c| c.calls,
    ));
    let failures = series
        .iter()
        .flat_map(|(labels, c)| {
            c.failures.iter().map(move |(cause, n)| {
                let mut with_cause = attributes(labels);
                with_cause.push(text("cause", cause));
                at.point(with_cause, *n)
            })
        })
        .collect();
    out.push(metric(
        &format!("{prefix}.failures"),
        &format!("Calls failed {side}, by cause."),
        "{call}",
        sum(failures),
    ));
    let bounds: Vec<f64> = BUCKETS_NS.iter().map(|b| *b as f64 / 1e9).collect();
    let points = series
        .iter()
        .map(|(labels, c)| HistogramDataPoint {
            attributes: attributes(labels),
            start_time_unix_nano: at.since,
            time_unix_nano: at.now,
            count: c.calls,
            sum: Some(c.sum_ns as f64 / 1e9),
            bucket_counts: c.buckets.clone(),
            explicit_bounds: bounds.clone(),
            ..HistogramDataPoint::default()
        })
        .collect();
    out.push(metric(
        &format!("{prefix}.call.duration"),
        &format!("How long calls took {side}."),
        "s",
        metric::Data::Histogram(Histogram {
            data_points: points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
        }),
    ));
    out.push(counter(
        "sent_bytes",
        format!("Bytes sent {side}."),
        "By",
        |c| c.sent,
    ));
    out.push(counter(
        "received_bytes",
        format!("Bytes received {side}."),
        "By",
        |c| c.received,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{Ended, LinkKey};
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;

    #[test]
    fn escapes_are_decoded_and_broken_ones_kept() {
        assert_eq!(percent_decoded("Bearer%20abc"), "Bearer abc");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%2"), "%2");
        assert_eq!(percent_decoded("%zz%41"), "%zzA");
        let map = header_map(&[
            ("api-key".into(), "s3cret".into()),
            ("bad key".into(), "x".into()),
            ("x".into(), "line\nbreak".into()),
            ("api-key".into(), "metrics-own".into()),
        ]);
        assert_eq!(map.len(), 1);
        assert_eq!(map["api-key"], "metrics-own");
    }

    #[test]
    fn a_request_holds_every_series_with_its_buckets() {
        let observer = Observer::new();
        let cells = observer.link(LinkKey {
            caller: "front".into(),
            callee: "back".into(),
            interface: "i".into(),
            function: "f".into(),
            transport: "tcp".into(),
            peer_host: "b".into(),
        });
        cells.record(Duration::from_micros(3), Ended::Ok, 5, 7);
        cells.record(Duration::from_secs(60), Ended::Failed("timeout"), 5, 0);
        let request = request(&observer.snapshot(), &Resource::default(), 1);
        let decoded = ExportMetricsServiceRequest::decode(&request.encode_to_vec()[..]).unwrap();
        let metrics = &decoded.resource_metrics[0].scope_metrics[0].metrics;
        let by_name = |n: &str| metrics.iter().find(|m| m.name == n).unwrap();
        let Some(Data::Sum(calls)) = &by_name("weld.link.calls").data else {
            panic!("a sum")
        };
        assert_eq!(
            calls.data_points[0].value,
            Some(number_data_point::Value::AsInt(2))
        );
        assert_eq!(calls.data_points[0].attributes.len(), 6);
        let Some(Data::Histogram(h)) = &by_name("weld.link.call.duration").data else {
            panic!("a histogram")
        };
        let p = &h.data_points[0];
        assert_eq!(p.bucket_counts.len(), p.explicit_bounds.len() + 1);
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), p.count);
        assert_eq!(*p.bucket_counts.last().unwrap(), 1, "a minute is past 10 s");
        let Some(Data::Sum(failures)) = &by_name("weld.link.failures").data else {
            panic!("a sum")
        };
        assert_eq!(failures.data_points.len(), 1);
        assert!(failures.data_points[0]
            .attributes
            .iter()
            .any(|kv| kv.key == "cause"));
    }
}
