//! Exporting over OTLP: spans through OpenTelemetry's SDK, which batches
//! them on a thread of its own where `opentelemetry-otlp` posts each batch
//! as protobuf over HTTP (`/v1/traces` under the endpoint), with reqwest's
//! blocking client on that thread; and the counters as metrics
//! ([`metrics`]: `/v1/metrics`, every `OTEL_METRIC_EXPORT_INTERVAL`).
//!
//! Costs and limits: a call hands its ended span to the batch queue and
//! goes on (a full queue, 2 048 spans by default, drops spans, never
//! delays a call); a collector that is down or slow only delays the batch
//! thread (each export gives up after the exporter's timeout, 10 s by
//! default). [`Otlp::shutdown`] flushes what is queued within a bound.
//! The OpenTelemetry variables a user would set are read by the SDK and
//! the exporter themselves: `OTEL_TRACES_SAMPLER`/`_ARG` (unless a ratio
//! is given here), `OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`.

mod metrics;

pub use metrics::{DEFAULT_INTERVAL, INTERVAL_VAR};

use super::{Observer, Traces};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use std::time::Duration;

/// The variable naming the endpoint when none is given
/// (OpenTelemetry's own).
pub const ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How long [`Otlp::shutdown`] waits for queued spans to be sent.
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Where and how spans are exported.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// The collector's base URL (`http://host:4318`): spans go to
    /// `/v1/traces` under it.
    pub endpoint: String,
    /// The `service.name` of every span's resource.
    pub service: String,
    /// Attributes of the resource besides its service name (the host a
    /// process serves, …).
    pub resource: Vec<(String, String)>,
    /// The share of traces kept (0–1), decided where a trace starts (a
    /// call with a sampled parent is always kept: parent-based); `None`
    /// leaves the choice to `OTEL_TRACES_SAMPLER` (all, without it).
    pub sample_ratio: Option<f64>,
    /// How often the counters are pushed as metrics; `None` reads
    /// [`INTERVAL_VAR`] (in ms), else [`DEFAULT_INTERVAL`].
    pub metrics_interval: Option<Duration>,
}

/// Why spans cannot be exported as configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The endpoint is not an `http://` URL weld can post to.
    #[error("the OTLP endpoint `{endpoint}` {problem}")]
    Endpoint {
        /// The endpoint, without any credentials it held.
        endpoint: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The ratio is not a share between 0 and 1.
    #[error("the trace sampling ratio {0} is not between 0 and 1")]
    Ratio(f64),
    /// The exporter could not be built.
    #[error("the OTLP exporter could not be built")]
    Build(#[source] opentelemetry_otlp::ExporterBuildError),
    /// Queued spans could not all be sent while shutting down.
    #[error("spans still queued could not be sent to the OTLP endpoint")]
    Shutdown(#[source] opentelemetry_sdk::error::OTelSdkError),
}

/// A running export of spans, and of an observer's counters once
/// [`Otlp::observer`] made it. Dropping it shuts it down as
/// [`Otlp::shutdown`] does.
#[derive(Debug)]
pub struct Otlp {
    provider: SdkTracerProvider,
    /// Where metrics go, and how often.
    metrics_url: String,
    interval: Duration,
    resource: Vec<(String, String)>,
    pusher: Option<metrics::Pusher>,
}

impl Otlp {
    /// Starts exporting spans as `config` says.
    ///
    /// # Errors
    /// [`OtlpError::Endpoint`] for an endpoint that is not `http://host…`
    /// (`https` is not built in: a collector beside the host takes plain
    /// HTTP), or holds credentials (send them in `OTEL_EXPORTER_OTLP_HEADERS`);
    /// [`OtlpError::Ratio`]; [`OtlpError::Build`].
    pub fn start(config: &OtlpConfig) -> Result<Otlp, OtlpError> {
        let endpoint = signal_url(&config.endpoint, "traces")?;
        let metrics_url = signal_url(&config.endpoint, "metrics")?;
        let sampler = match config.sample_ratio {
            Some(r) if !(0.0..=1.0).contains(&r) => return Err(OtlpError::Ratio(r)),
            Some(r) => Some(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                r,
            )))),
            None => None,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(OtlpError::Build)?;
        let resource = Resource::builder()
            .with_service_name(config.service.clone())
            .with_attributes(
                config
                    .resource
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let mut named = vec![("service.name".to_string(), config.service.clone())];
        named.extend(config.resource.iter().cloned());
        let mut provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource);
        if let Some(sampler) = sampler {
            provider = provider.with_sampler(sampler);
        }
        Ok(Otlp {
            provider: provider.build(),
            metrics_url,
            interval: config
                .metrics_interval
                .unwrap_or_else(metrics::interval_from_env),
            resource: named,
            pusher: None,
        })
    }

    /// Where the calls' spans are made: give it to an
    /// [`Observer::with_traces`].
    pub fn traces(&self) -> Traces {
        Traces::new(self.provider.tracer("weld"))
    }

    /// An observer whose calls make spans exported here, and whose
    /// counters are pushed here as metrics (each call makes a new observer;
    /// the metrics pushed are the last one's).
    pub fn observer(&mut self) -> Observer {
        let observer = Observer::with_traces(self.traces());
        let pusher = metrics::Pusher::start(
            self.metrics_url.clone(),
            observer.clone(),
            self.resource.clone(),
            self.interval,
        );
        if let Some(old) = self.pusher.replace(pusher) {
            old.stop(Duration::ZERO);
        }
        observer
    }

    /// Pushes the counters once more, sends the spans queued and stops,
    /// waiting at most [`SHUTDOWN_WAIT`] for each.
    ///
    /// # Errors
    /// [`OtlpError::Shutdown`] when spans could not all be sent in time.
    pub fn shutdown(mut self) -> Result<(), OtlpError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), OtlpError> {
        if let Some(pusher) = self.pusher.take() {
            if !pusher.stop(SHUTDOWN_WAIT) {
                tracing::warn!(
                    "the last OTLP metrics push did not end within {} s",
                    SHUTDOWN_WAIT.as_secs()
                );
            }
        }
        self.provider
            .shutdown_with_timeout(SHUTDOWN_WAIT)
            .map_err(OtlpError::Shutdown)
    }
}

impl Drop for Otlp {
    fn drop(&mut self) {
        // After `shutdown`, the provider says it already is: nothing to do.
        let _ = self.stop();
    }
}

/// `endpoint`'s `/v1/<signal>` (the way OpenTelemetry reads
/// [`ENDPOINT_VAR`]: a base under which each signal has its path).
fn signal_url(endpoint: &str, signal: &str) -> Result<String, OtlpError> {
    let refuse = |problem| OtlpError::Endpoint {
        endpoint: redacted(endpoint),
        problem,
    };
    let uri: http::Uri = endpoint.parse().map_err(|_| refuse("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(refuse(
                "is https, which this build does not send to (send to a collector beside the host, over http)",
            ))
        }
        _ => return Err(refuse("is not an http:// URL")),
    }
    let Some(authority) = uri.authority() else {
        return Err(refuse("names no host"));
    };
    // An `@` anywhere is taken for credentials, however the URL parser
    // splits it (`user:p/ss@host` parses as host `user`, port `p`).
    if endpoint.contains('@') {
        return Err(refuse(
            "holds credentials (send them as headers, in OTEL_EXPORTER_OTLP_HEADERS)",
        ));
    }
    if authority.port().is_some() && authority.port_u16().is_none() {
        return Err(refuse("has a port that is not a number"));
    }
    let base = endpoint.trim_end_matches('/');
    Ok(format!("{base}/v1/{signal}"))
}

/// `endpoint` as an error may show it: whatever precedes its last `@`
/// (credentials, however they are written) replaced, and no query or
/// fragment (tokens travel there too).
fn redacted(endpoint: &str) -> String {
    let end = endpoint.find(['?', '#']).unwrap_or(endpoint.len());
    let shown = &endpoint[..end];
    let (scheme, rest) = shown.split_once("://").unwrap_or(("", shown));
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => shown.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked_and_credentials_never_shown() {
        assert_eq!(
            signal_url("http://127.0.0.1:4318/", "traces").unwrap(),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            signal_url("http://collector:4318/otlp", "metrics").unwrap(),
            "http://collector:4318/otlp/v1/metrics"
        );
        for bad in [
            "collector:4318",
            "https://collector:4318",
            "ftp://x",
            "http://user:s3cret@collector:4318/x",
            "http://user:p/s3cret@collector:4318",
            "ftp://collector/?api_key=s3cret",
            "not a url",
        ] {
            let e = signal_url(bad, "traces").unwrap_err().to_string();
            assert!(!e.contains("s3cret"), "{e}");
        }
        let e = signal_url("http://user:s3cret@collector:4318/x", "traces").unwrap_err();
        assert!(e.to_string().contains("***@collector:4318/x"), "{e}");
        let config = OtlpConfig {
            endpoint: "http://127.0.0.1:1".into(),
            service: "weld".into(),
            resource: vec![],
            sample_ratio: Some(1.5),
            metrics_interval: None,
        };
        assert!(matches!(Otlp::start(&config), Err(OtlpError::Ratio(_))));
    }
}
