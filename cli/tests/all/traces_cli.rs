//! `--otlp`: the spans of a deployment's calls, exported by `weld run` and
//! `weld serve` processes to an OTLP/HTTP collector in the test process
//! (hyper's server; the requests decoded with the official OpenTelemetry
//! protocol messages): their parents across NATS, in process and within a
//! host, and what a served span over TCP says of its caller.

use crate::observe_cli::{relay_manifest, serve, serve_with};
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
    let b = format!(r#"{{ transport = "nats", url = "{nats}" }}"#);
    relay_manifest(dir, &b, c)
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
    // One inherited from the environment (another SDK's, in an
    // instrumented container) is warned about, and the run goes on.
    let demo = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["run", demo.to_str().unwrap(), "--json"])
        .args(["-i", "driver.add-once(2, 3)"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://user:s3cret@collector:4318",
        )
        .output()
        .unwrap();
    let text = crate::common::text(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("running without OTLP export") && !text.contains("s3cret"),
        "{text}"
    );
}

/// `http-greet` on `a`, answering HTTP on `port`, host-linked to `greet`.
fn http_manifest(dir: &Path, port: u16) -> std::path::PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.http-greet]\npath = \"{{http-greet}}\"\nhost = \"a\"\n\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"a\"\n\n\
             [[link]]\nimport = \"http-greet:{GREETER}\"\nexport = \"greet\"\n\
             transport = \"in-process\"\nstrategy = \"host-linked\"\n\n\
             [hosts.a.http]\naddress = \"127.0.0.1:{port}\"\n"
        ),
    )
}

/// One `GET path` with `headers`, over its own connection: the answer.
fn get_with(address: &str, path: &str, headers: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: weld\r\nconnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

#[test]
fn an_http_request_is_a_span_under_the_clients_and_its_handlers_calls_are_under_it() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let m = http_manifest(dir.path(), port);
    let (mut host, _) = serve(&m, "a", &["--otlp", &collector.url()]);
    let address = format!("127.0.0.1:{port}");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traced = get_with(
        &address,
        "/ada",
        &format!("traceparent: 00-{trace}-{parent}-01\r\n"),
    );
    assert!(
        traced.starts_with("HTTP/1.1 200") && traced.contains("hello, ada"),
        "{traced}"
    );
    // A context a client makes up badly starts a trace of its own; a
    // tracestate past 512 bytes is not kept.
    let forged = get_with(
        &address,
        "/bob",
        &format!(
            "traceparent: 00-zz-{parent}-01\r\ntracestate: a={}\r\n",
            "x".repeat(4096)
        ),
    );
    assert!(forged.starts_with("HTTP/1.1 200"), "{forged}");
    assert!(terminate(&mut host.0).0.success());
    let spans = collector.wait_for(|s| s.len() >= 4);
    assert_eq!(spans.len(), 4, "{spans:#?}");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let requests: Vec<&Received> = spans
        .iter()
        .filter(|s| s.at("weld.transport") == "http")
        .collect();
    assert_eq!(requests.len(), 2, "{spans:#?}");
    for r in &requests {
        assert_eq!(r.kind, kind::SERVER);
        assert_eq!(r.at("http.route"), "/");
        assert_eq!(r.at("http.request.method"), "GET");
        assert_eq!(r.at("http.response.status_code"), "200");
        assert_eq!(r.at("weld.callee"), "http-greet");
        assert_eq!(r.at("weld.outcome"), "ok");
        let call = one(&spans, "handler's call", |s| {
            s.parent == r.id && s.at("weld.transport") == "host-linked"
        });
        assert_eq!(call.at("weld.link"), "http-greet → greet");
        assert_eq!(call.trace, r.trace);
    }
    let under_client = one(&spans, "request under the client's span", |s| {
        s.at("weld.transport") == "http" && hex(&s.trace) == trace
    });
    assert_eq!(hex(&under_client.parent), parent);
    assert!(
        requests
            .iter()
            .any(|r| r.parent.is_empty() && hex(&r.trace) != trace),
        "the forged context started a trace: {spans:#?}"
    );
    let points = collector.metrics_of("a");
    let served: Vec<u64> = points
        .iter()
        .filter(|p| p.name == "weld.served.calls")
        .filter(|p| p.attributes.get("transport").map(String::as_str) == Some("http"))
        .map(|p| p.value)
        .collect();
    assert_eq!(served, [2], "{points:#?}");
}
