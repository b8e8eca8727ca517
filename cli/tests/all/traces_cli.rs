//! `--otlp`: the spans of a deployment's calls, exported by `weld run` and
//! `weld serve` processes to an OTLP/HTTP collector in the test process
//! (hyper's server; the requests decoded with the official OpenTelemetry
//! protocol messages): their parents across NATS, in process and within a
//! host, and what a served span over TCP says of its caller.

use crate::observe_cli::{serve, serve_with};
use crate::serve_cli::{result_of, terminate};
use http_body_util::BodyExt as _;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A span as the collector received it, with its resource's `weld.host`.
#[derive(Debug, Clone)]
struct Received {
    host: String,
    name: String,
    kind: i32,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    attributes: BTreeMap<String, String>,
    error: bool,
}

impl Received {
    fn at(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

fn text(kv: &[KeyValue]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// An OTLP/HTTP collector on a free loopback port: every
/// `POST /v1/traces` is decoded as an `ExportTraceServiceRequest` and its
/// spans kept; anything else is answered 404. Stops when dropped.
struct Collector {
    address: std::net::SocketAddr,
    spans: Arc<Mutex<Vec<Received>>>,
    posts: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Collector {
    fn start() -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = listener.local_addr().unwrap();
        let spans = Arc::new(Mutex::new(Vec::new()));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (kept, paths) = (Arc::clone(&spans), Arc::clone(&posts));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accept = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let (kept, paths) = (Arc::clone(&kept), Arc::clone(&paths));
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                receive(request, Arc::clone(&kept), Arc::clone(&paths))
                            });
                            let io = hyper_util::rt::TokioIo::new(stream);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stopped => {}
                }
            });
        });
        Collector {
            address,
            spans,
            posts,
            _stop: stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The spans received once `done` holds of them (or 15 s have passed).
    fn wait_for(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let spans = self.spans.lock().unwrap().clone();
            if done(&spans) || started.elapsed() > Duration::from_secs(15) {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

async fn receive(
    request: hyper::Request<hyper::body::Incoming>,
    kept: Arc<Mutex<Vec<Received>>>,
    paths: Arc<Mutex<Vec<String>>>,
) -> Result<hyper::Response<http_body_util::Full<hyper::body::Bytes>>, hyper::Error> {
    let path = request.uri().path().to_string();
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    paths
        .lock()
        .unwrap()
        .push(format!("{} {path} {content_type}", request.method()));
    if request.method() != hyper::Method::POST || path != "/v1/traces" {
        let mut not_found = hyper::Response::new(http_body_util::Full::default());
        *not_found.status_mut() = hyper::StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    let body = request.into_body().collect().await?.to_bytes();
    let export = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
    let mut spans = kept.lock().unwrap();
    for rs in export.resource_spans {
        let resource = text(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        let host = resource.get("weld.host").cloned().unwrap_or_default();
        assert_eq!(
            resource.get("service.name").map(String::as_str),
            Some("weld")
        );
        for span in rs.scope_spans.into_iter().flat_map(|s| s.spans) {
            spans.push(Received {
                host: host.clone(),
                name: span.name,
                kind: span.kind,
                trace: span.trace_id,
                id: span.span_id,
                parent: span.parent_span_id,
                attributes: text(&span.attributes),
                error: span.status.is_some_and(|s| s.code == 2),
            });
        }
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    let mut ok = hyper::Response::new(http_body_util::Full::new(answer.into()));
    ok.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(ok)
}

const GREETER: &str = "demo:greet/greeter@0.1.0";

/// greet-caller on `a` → `front` on `b` over NATS; `front` host-linked to
/// `back` (`observe = true`) on `b`; `back` → `greet` on `c` over TCP.
fn manifest(dir: &Path, nats: &str, c: u16) -> std::path::PathBuf {
    let toml = format!(
        r#"
[components.greet-caller]
path = "{{greet-caller}}"
host = "a"

[components.front]
path = "{{greet-relay}}"
host = "b"

[components.back]
path = "{{greet-relay}}"
host = "b"

[components.greet]
path = "{{greet}}"
host = "c"

[[link]]
import = "greet-caller:{GREETER}"
export = "front"

[[link]]
import = "front:{GREETER}"
export = "back"
observe = true

[[link]]
import = "back:{GREETER}"
export = "greet"

[hosts.b]
wrpc = {{ transport = "nats", url = "{nats}" }}

[hosts.c]
wrpc = {{ transport = "tcp", address = "127.0.0.1:{c}" }}
"#
    );
    weld_fixtures::write_manifest(dir, &toml)
}

/// `weld run` of `greet-caller.greet(name)` on `a`, with `extra`
/// arguments: what it answered.
fn greet_from_a(manifest: &Path, name: &str, extra: &[&str]) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["run", manifest.to_str().unwrap(), "--host", "a", "--json"])
        .args(["--invoke", &format!("greet-caller.greet(\"{name}\")")])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld run");
    result_of(child)
}

fn one<'a>(spans: &'a [Received], what: &str, f: impl Fn(&Received) -> bool) -> &'a Received {
    let found: Vec<&Received> = spans.iter().filter(|s| f(s)).collect();
    assert_eq!(found.len(), 1, "one {what} in {spans:#?}");
    found[0]
}

#[test]
fn every_call_across_a_link_is_a_span_whose_parent_crossed_nats_and_the_host() {
    let nats = weld_fixtures::nats::NatsServer::start();
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let c = weld_fixtures::peer::free_port();
    let m = manifest(dir.path(), nats.url(), c);
    let otlp = collector.url();
    let (mut greet, _) = serve(&m, "c", &["--otlp", &otlp]);
    // `b` takes its endpoint from the environment, as OpenTelemetry's
    // SDKs do.
    let (mut relay, _) = serve_with(&m, "b", &[], &[("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)]);
    let answer = greet_from_a(&m, "otel", &["--otlp", &otlp]);
    assert!(answer.contains("otel"), "{answer}");

    // Sampled out where the trace starts: the caller's choice holds on `b`
    // (parent-based), while `c`, whose span starts a trace of its own over
    // TCP, keeps it.
    let quiet = greet_from_a(&m, "quiet", &["--otlp", &otlp, "--otlp-sample", "0"]);
    assert!(quiet.contains("quiet"), "{quiet}");

    // Queued spans are sent as the hosts stop.
    assert!(terminate(&mut relay.0).0.success());
    assert!(terminate(&mut greet.0).0.success());
    let spans = collector.wait_for(|s| s.len() >= 6);
    let posts = collector.posts.lock().unwrap().clone();
    assert!(
        posts
            .iter()
            .all(|p| p == "POST /v1/traces application/x-protobuf"),
        "{posts:?}"
    );

    let client = one(&spans, "NATS client span", |s| {
        s.host == "a" && s.at("weld.transport") == "nats"
    });
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(client.name, "greet-caller → front: hello");
    assert_eq!(client.at("weld.link"), "greet-caller → front");
    assert_eq!(client.at("rpc.service"), GREETER);
    assert_eq!(client.at("rpc.method"), "hello");
    assert_eq!(client.at("weld.peer_host"), "b");
    assert_eq!(client.at("weld.outcome"), "ok");
    assert!(client.at("weld.sent_bytes").parse::<u64>().unwrap() > 0);
    assert!(client.at("weld.received_bytes").parse::<u64>().unwrap() > 0);
    assert!(client.parent.is_empty(), "the run's call starts the trace");

    let served = one(&spans, "span served on b", |s| {
        s.host == "b" && s.kind == SpanKind::Server as i32
    });
    assert_eq!(served.parent, client.id, "the parent crossed NATS headers");
    assert_eq!(served.trace, client.trace);
    assert_eq!(served.name, "serve front: hello");
    assert_eq!(served.at("weld.link"), "greet-caller → front");
    assert_eq!(served.at("weld.caller_host"), "a");
    assert_eq!(served.at("weld.outcome"), "ok");

    let linked = one(&spans, "host-linked span", |s| {
        s.at("weld.transport") == "host-linked"
    });
    assert_eq!(linked.kind, SpanKind::Internal as i32);
    assert_eq!(
        linked.parent, served.id,
        "in process, under the served call"
    );
    assert_eq!(linked.trace, client.trace);
    assert_eq!(linked.at("weld.link"), "front → back");

    let tcp = one(&spans, "TCP client span", |s| {
        s.at("weld.transport") == "tcp" && s.kind == SpanKind::Client as i32
    });
    assert_eq!(tcp.parent, linked.id, "under the host-linked call");
    assert_eq!(tcp.trace, client.trace);
    assert_eq!(tcp.at("weld.link"), "back → greet");
    assert_eq!(tcp.at("weld.peer_host"), "c");

    // TCP carries no context: `c`'s spans start traces of their own, and
    // name the link and the caller's host instead. One is the sampled-out
    // call's (its caller sent nothing to follow).
    let on_c: Vec<&Received> = spans.iter().filter(|s| s.host == "c").collect();
    assert_eq!(on_c.len(), 2, "{spans:#?}");
    for s in &on_c {
        assert_eq!(s.kind, SpanKind::Server as i32);
        assert!(s.parent.is_empty());
        assert_ne!(s.trace, client.trace);
        assert_eq!(s.at("weld.link"), "back → greet");
        assert_eq!(s.at("weld.caller_host"), "b");
        assert!(s.at("weld.peer").starts_with("127.0.0.1:"), "{s:?}");
        assert!(!s.error);
    }
    assert_eq!(
        spans.len(),
        6,
        "nothing of the sampled-out call on `a` or `b`: {spans:#?}"
    );
}

#[test]
fn an_endpoint_weld_cannot_send_to_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), "nats://127.0.0.1:1", 1);
    for (args, says) in [
        (&["--otlp", "https://collector:4318"][..], "is https"),
        (
            &["--otlp", "http://user:s3cret@collector:4318"][..],
            "***@collector",
        ),
        (
            &["--otlp", "http://c:4318", "--otlp-sample", "2"][..],
            "between 0 and 1",
        ),
        (&["--otlp-sample", "0.5"][..], "needs an endpoint"),
    ] {
        let mut all = vec!["run", m.to_str().unwrap(), "--host", "a"];
        all.extend(args);
        all.extend(["--invoke", "greet-caller.greet(\"x\")"]);
        let out = crate::common::weld(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = crate::common::text(&out.stderr);
        assert!(
            text.contains(says) && !text.contains("s3cret"),
            "{args:?}: {text}"
        );
    }
}
