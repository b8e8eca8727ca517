//! `--otlp`: the spans of a deployment's calls, exported by `weld run` and
//! `weld serve` processes to an OTLP/HTTP collector in the test process
//! (hyper's server; the requests decoded with the official OpenTelemetry
//! protocol messages): their parents across NATS, in process and within a
//! host, and what a served span over TCP says of its caller.

use crate::observe_cli::{serve, serve_with};
use crate::serve_cli::{result_of, terminate};
use std::path::Path;
use std::process::{Command, Stdio};
use weld_fixtures::otlp::{Collector, Received};

/// OTLP's span kinds (`opentelemetry.proto.trace.v1.Span.SpanKind`).
mod kind {
    pub const INTERNAL: i32 = 1;
    pub const SERVER: i32 = 2;
    pub const CLIENT: i32 = 3;
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
    let requests = collector.requests();
    assert!(
        requests
            .iter()
            .all(|p| p == "POST /v1/traces application/x-protobuf"
                || p == "POST /v1/metrics application/x-protobuf"),
        "{requests:?}"
    );
    assert!(spans.iter().all(|s| s.service == "weld"), "{spans:#?}");

    spans_across_the_deployment(&spans);
    metrics_across_the_deployment(&collector);
}

/// The spans of the first call (kept) and the second (sampled out where
/// it started).
fn spans_across_the_deployment(spans: &[Received]) {
    let client = one(spans, "NATS client span", |s| {
        s.host == "a" && s.at("weld.transport") == "nats"
    });
    assert_eq!(client.kind, kind::CLIENT);
    assert_eq!(client.name, "greet-caller → front: hello");
    assert_eq!(client.at("weld.link"), "greet-caller → front");
    assert_eq!(client.at("rpc.service"), GREETER);
    assert_eq!(client.at("rpc.method"), "hello");
    assert_eq!(client.at("weld.peer_host"), "b");
    assert_eq!(client.at("weld.outcome"), "ok");
    assert!(client.at("weld.sent_bytes").parse::<u64>().unwrap() > 0);
    assert!(client.at("weld.received_bytes").parse::<u64>().unwrap() > 0);
    assert!(client.parent.is_empty(), "the run's call starts the trace");

    let served = one(spans, "span served on b", |s| {
        s.host == "b" && s.kind == kind::SERVER
    });
    assert_eq!(served.parent, client.id, "the parent crossed NATS headers");
    assert_eq!(served.trace, client.trace);
    assert_eq!(served.name, "serve front: hello");
    assert_eq!(served.at("weld.link"), "greet-caller → front");
    assert_eq!(served.at("weld.caller_host"), "a");
    assert_eq!(served.at("weld.outcome"), "ok");

    let linked = one(spans, "host-linked span", |s| {
        s.at("weld.transport") == "host-linked"
    });
    assert_eq!(linked.kind, kind::INTERNAL);
    assert_eq!(
        linked.parent, served.id,
        "in process, under the served call"
    );
    assert_eq!(linked.trace, client.trace);
    assert_eq!(linked.at("weld.link"), "front → back");

    let tcp = one(spans, "TCP client span", |s| {
        s.at("weld.transport") == "tcp" && s.kind == kind::CLIENT
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
        assert_eq!(s.kind, kind::SERVER);
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

/// What each host pushed as metrics last.
fn metrics_across_the_deployment(collector: &Collector) {
    // The same counters as `--metrics`, pushed as OTLP metrics (once more
    // as each process stops): every call counted, sampled or not (of
    // `hello`, the function called: the greeter's others, never called,
    // are there with 0).
    let calls = |host: &str, name: &str, with: &[(&str, &str)]| -> Vec<u64> {
        collector
            .metrics_of(host)
            .iter()
            .filter(|p| p.name == name)
            .filter(|p| p.attributes.get("function").is_none_or(|f| f == "hello"))
            .filter(|p| {
                with.iter()
                    .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|p| p.value)
            .collect()
    };
    let linked = [
        ("caller", "front"),
        ("callee", "back"),
        ("function", "hello"),
        ("transport", "host-linked"),
    ];
    assert_eq!(calls("b", "weld.link.calls", &linked), [2]);
    assert_eq!(calls("b", "weld.link.call.duration", &linked), [2]);
    assert_eq!(
        calls(
            "b",
            "weld.served.calls",
            &[("component", "front"), ("transport", "nats")]
        ),
        [2]
    );
    assert_eq!(
        calls(
            "b",
            "weld.link.calls",
            &[("callee", "greet"), ("transport", "tcp")]
        ),
        [2]
    );
    assert_eq!(
        calls("c", "weld.served.calls", &[("component", "greet")]),
        [2]
    );
    assert_eq!(calls("c", "weld.served.connections_refused", &[]), [0]);
    assert_eq!(
        calls(
            "a",
            "weld.link.calls",
            &[("caller", "greet-caller"), ("transport", "nats")]
        ),
        [1]
    );
    assert!(calls("b", "weld.link.failures", &[]).is_empty());
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
