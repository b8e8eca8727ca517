//! `weld serve --metrics`: the counters of a running host, scraped over
//! HTTP and read with a Prometheus text-format parser (and checked by
//! Prometheus' own `promtool` where it is installed).

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use weld_fixtures::peer::free_port;
use weld_fixtures::wrpc_invocation;
use weld_linker::wrpc::client::Remote;
use weld_linker::wrpc::codec::{self, Limits};
use weld_linker::wrpc::Endpoint;

const GREETER: &str = "demo:greet/greeter@0.1.0";

/// `front` and `back` (two copies of greet-relay) on host `b`, `front`'s
/// greeter host-linked to `back`, whose greeter is `greet` on host `c`
/// over TCP; `front` is served to `greet-caller` on `a` over TCP.
fn manifest(dir: &Path, b: u16, c: u16) -> std::path::PathBuf {
    let b = format!(r#"{{ transport = "tcp", address = "127.0.0.1:{b}" }}"#);
    relay_manifest(dir, &b, c)
}

/// [`manifest`] with `b`'s wRPC endpoint `b` (a TOML inline table).
pub(crate) fn relay_manifest(dir: &Path, b: &str, c: u16) -> std::path::PathBuf {
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
wrpc = {b}

[hosts.c]
wrpc = {{ transport = "tcp", address = "127.0.0.1:{c}" }}
"#
    );
    weld_fixtures::write_manifest(dir, &toml)
}

/// `weld serve --json` of `host` with `extra` arguments; the lines it
/// printed before `ready` are returned with it, the ready line last.
pub(crate) fn serve(manifest: &Path, host: &str, extra: &[&str]) -> (Kill, Vec<serde_json::Value>) {
    serve_with(manifest, host, extra, &[])
}

/// [`serve`] with the variables `env` set for the host.
pub(crate) fn serve_with(
    manifest: &Path,
    host: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Kill, Vec<serde_json::Value>) {
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_weld"))
            .envs(env.iter().copied())
            .args([
                "serve",
                manifest.to_str().unwrap(),
                "--host",
                host,
                "--json",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start weld serve"),
    );
    let mut lines = Vec::new();
    loop {
        let line = crate::common::first_line(child.0.stdout.as_mut().unwrap());
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not an event ({e}): {line:?}"));
        let ready = event["event"] == "ready" || event["event"] == "http-ready";
        lines.push(event);
        if ready {
            return (child, lines);
        }
    }
}

/// One GET of `url`'s path at `address`, over a plain TCP connection (the
/// endpoint answers one request per connection and closes it): the status
/// line, the headers and the body.
fn get(address: &str, path: &str, method: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// Calls `front`'s `hello(name)` on `b` as a remote caller would: the
/// string it returned, or why the call failed.
fn hello(remote: &Remote, name: &str) -> Result<String, String> {
    use wasmtime::component::{Type, Val};
    let params = codec::encode_values(&[Val::String(name.into())], &[Type::String]).unwrap();
    let out = remote
        .call_blocking(
            GREETER,
            "hello",
            params.into(),
            &[Type::String],
            &Limits::DEFAULT,
            Duration::from_secs(10),
        )
        .map_err(|e| e.to_string())?;
    match out.as_slice() {
        [Val::String(s)] => Ok(s.clone()),
        other => panic!("not a string: {other:?}"),
    }
}

/// Each sample of `family` whose labels include every pair of `with`,
/// added up.
fn value(scrape: &prometheus_parse::Scrape, family: &str, with: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == family)
        .filter(|s| with.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            prometheus_parse::Value::Summary(_) => panic!("weld exports no summary"),
        })
        .sum()
}

fn parse(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("not Prometheus text ({e}):\n{text}"))
}

/// Prometheus' own check of the exposition (`promtool check metrics`),
/// where promtool is installed: `scripts/test` fetches it and names it in
/// `WELD_PROMTOOL`, so CI always runs it.
fn promtool_check(text: &str) {
    let promtool = match std::env::var_os("WELD_PROMTOOL") {
        Some(p) => std::path::PathBuf::from(p),
        None => match which("promtool") {
            Some(p) => p,
            None => {
                eprintln!(
                    "promtool is not installed: the exposition is checked by the parser only"
                );
                return;
            }
        },
    };
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", promtool.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

pub(crate) struct Kill(pub(crate) Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The calls `a_scrape_counts…` makes of `front` on `b`: `ok` answered,
/// then (with `c` stopped) `failed` whose relay fails to connect, one
/// with bad parameters and two connections naming nothing served.
fn make_calls(b: u16, greet: Kill, ok: usize, failed: usize) {
    let remote = Remote::new(Endpoint::Tcp {
        address: format!("127.0.0.1:{b}"),
    });
    for i in 0..ok {
        assert_eq!(
            hello(&remote, &format!("{i}")),
            Ok(format!("relayed relayed hello, {i}"))
        );
    }
    // c stops: `back`'s calls fail to connect, it returns the error
    // value, `front` returns it too, and the served call closes without a
    // result.
    drop(greet);
    for i in 0..failed {
        let e = hello(&remote, &format!("{i}")).unwrap_err();
        assert!(e.contains("closed the call without a result"), "{e}");
    }
    // A parameter that is no string (two bytes that are not UTF-8), in
    // one whole frame: refused as bad parameters.
    let mut liar = std::net::TcpStream::connect(("127.0.0.1", b)).unwrap();
    let mut invocation = wrpc_invocation(GREETER, "hello", None);
    invocation.extend_from_slice(&[0x00, 3, 2, 0xff, 0xfe]);
    liar.write_all(&invocation).unwrap();
    assert!(weld_fixtures::closed_by_peer(&mut liar));
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", b)).unwrap();
        s.write_all(&wrpc_invocation(GREETER, "nonesuch", None))
            .unwrap();
        assert!(weld_fixtures::closed_by_peer(&mut s));
    }
}

/// Where `events` say metrics are served, as `IP:PORT`.
fn metrics_at(events: &[serde_json::Value]) -> String {
    events
        .iter()
        .find(|e| e["event"] == "metrics-ready")
        .and_then(|e| e["endpoint"].as_str())
        .and_then(|e| e.strip_prefix("http://")?.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics-ready event: {events:?}"))
        .to_string()
}

#[test]
fn a_scrape_counts_every_call_and_each_failure_by_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = (free_port(), free_port());
    let m = manifest(dir.path(), b, c);
    let (greet, _) = serve(&m, "c", &[]);
    let (_front, events) = serve(&m, "b", &["--metrics", "127.0.0.1:0"]);
    let at = metrics_at(&events);
    let (ok, failed) = (5, 3);
    make_calls(b, greet, ok, failed);

    let (head, text) = get(&at, "/metrics", "GET");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = parse(&text);
    let f = |family: &str, with: &[(&str, &str)]| value(&scrape, family, with);

    // The serving side: every call, the failures by cause.
    let served = [
        ("component", "front"),
        ("interface", GREETER),
        ("function", "hello"),
        ("transport", "tcp"),
    ];
    let calls = (ok + failed + 1) as f64;
    assert_eq!(f("weld_served_calls_total", &served), calls, "{text}");
    let causes: BTreeMap<String, f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "weld_served_failures_total")
        .map(|s| {
            let cause = s.labels.get("cause").unwrap();
            (
                cause.to_string(),
                f("weld_served_failures_total", &[("cause", cause)]),
            )
        })
        .collect();
    let expected = [("bad-parameters", 1.0), ("guest-error", failed as f64)];
    let expected = expected.map(|(c, n)| (c.to_string(), n));
    assert_eq!(causes, BTreeMap::from(expected), "{text}");
    assert_eq!(f("weld_served_call_duration_seconds_count", &served), calls);
    assert!(f("weld_served_received_bytes_total", &served) > 0.0);
    assert!(f("weld_served_sent_bytes_total", &served) > 0.0);
    assert_eq!(f("weld_served_connections_refused_total", &[]), 2.0);
    // Nothing is in flight once every call ended.
    let front = [("component", "front")];
    assert_eq!(f("weld_component_calls_in_flight", &front), 0.0);
    assert_eq!(f("weld_component_calls_queued", &front), 0.0);

    // The calling side: front → back in the store, back → greet over TCP.
    let relayed = (ok + failed) as f64;
    let linked = [
        ("caller", "front"),
        ("callee", "back"),
        ("function", "hello"),
        ("transport", "host-linked"),
        ("peer_host", "b"),
    ];
    assert_eq!(f("weld_link_calls_total", &linked), relayed, "{text}");
    assert_eq!(f("weld_link_failures_total", &linked), 0.0);
    let wrpc = [
        ("caller", "back"),
        ("callee", "greet"),
        ("interface", GREETER),
        ("function", "hello"),
        ("transport", "tcp"),
        ("peer_host", "c"),
    ];
    assert_eq!(f("weld_link_calls_total", &wrpc), relayed, "{text}");
    let connect = [wrpc.as_slice(), &[("cause", "connect")]].concat();
    assert_eq!(
        f("weld_link_failures_total", &connect),
        failed as f64,
        "{text}"
    );
    assert_eq!(f("weld_link_failures_total", &wrpc), failed as f64);
    assert_eq!(f("weld_link_call_duration_seconds_count", &wrpc), relayed);
    assert!(f("weld_link_sent_bytes_total", &wrpc) > 0.0);
    assert!(f("weld_link_received_bytes_total", &wrpc) > 0.0);

    promtool_check(&text);
    plan_reads_the_scrape(&m, &text, ok + failed, failed);
    plan_reads_the_host(&m, &at, ok + failed);

    // Anything but a GET of /metrics is refused; a HEAD has no body.
    let (head, _) = get(&at, "/", "GET");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = get(&at, "/metrics", "DELETE");
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    let (head, body) = get(&at, "/metrics", "HEAD");
    assert!(
        head.starts_with("HTTP/1.1 200") && body.is_empty(),
        "{head}"
    );
}

/// `weld plan --costs` given the saved scrape: each observed link of `b`
/// with its calls, failures and measured p50/p99; the table's MEASURED
/// column.
fn plan_reads_the_scrape(m: &Path, text: &str, relayed: usize, failed: usize) {
    let scrape = m.with_file_name("scrape.prom");
    std::fs::write(&scrape, text).unwrap();
    let out = crate::common::weld(&[
        "plan",
        m.to_str().unwrap(),
        "--costs",
        scrape.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = |caller: &str| {
        plan["resolutions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["component"] == caller && r["peer"].is_string())
            .unwrap_or_else(|| panic!("no link of {caller}"))["measured"]
            .clone()
    };
    let (front, back) = (link("front"), link("back"));
    assert_eq!(front["calls"], relayed, "{front}");
    assert_eq!(front["failures"], 0, "{front}");
    assert_eq!(back["calls"], relayed, "{back}");
    assert_eq!(back["failures"], failed, "{back}");
    for m in [&front, &back] {
        let (p50, p99) = (m["p50_ns"].as_f64().unwrap(), m["p99_ns"].as_f64().unwrap());
        assert!(0.0 < p50 && p50 <= p99, "{m}");
        assert_eq!(m["functions"][0]["function"], "hello", "{m}");
    }
    // Not run here: greet-caller's link has no calls in b's metrics.
    assert!(link("greet-caller").is_null());
    let out = crate::common::weld(&[
        "plan",
        m.to_str().unwrap(),
        "--costs",
        scrape.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().next().unwrap().contains("  MEASURED  "),
        "{table}"
    );
    assert!(
        table.contains(&format!("({relayed} calls, {failed} failed)")),
        "{table}"
    );
    assert!(table.contains("no calls in the metrics given"), "{table}");
    // A file that is neither a calibration nor a weld host's metrics.
    std::fs::write(&scrape, "up 1\n").unwrap();
    let out = crate::common::weld(&[
        "plan",
        m.to_str().unwrap(),
        "--costs",
        scrape.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not the metrics of a weld host"), "{err}");
}

/// `weld plan --costs http://ADDR/metrics`: the host's metrics read where
/// it serves them; an address that answers something else, or nothing,
/// is refused by name.
fn plan_reads_the_host(m: &Path, at: &str, relayed: usize) {
    let plan = |costs: &str| crate::common::weld(&["plan", m.to_str().unwrap(), "--costs", costs]);
    let out = crate::common::weld(&[
        "plan",
        m.to_str().unwrap(),
        "--costs",
        &format!("http://{at}/metrics"),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let front = v["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["component"] == "front" && r["peer"].is_string())
        .unwrap();
    assert_eq!(front["measured"]["calls"], relayed as u64, "{front}");
    for (url, says) in [
        (format!("http://{at}/elsewhere"), "answered 404"),
        (
            format!("http://127.0.0.1:{}/metrics", free_port()),
            "cannot read the metrics at",
        ),
        (format!("https://{at}/metrics"), "is not an http:// URL"),
    ] {
        let out = plan(&url);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says) && err.contains(&url), "{url}: {err}");
    }
}

/// Clients that connect and send nothing hold no scrape back: each is
/// closed after the head timeout, and a scrape beside them is answered.
#[test]
fn silent_clients_do_not_stall_a_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = (free_port(), free_port());
    let m = manifest(dir.path(), b, c);
    let (_front, events) = serve(&m, "b", &["--metrics", "127.0.0.1:0"]);
    let at = metrics_at(&events);
    // More silent clients than the endpoint's connection cap (16).
    let silent: Vec<_> = (0..20)
        .map(|_| std::net::TcpStream::connect(&at).unwrap())
        .collect();
    let started = std::time::Instant::now();
    let (head, text) = get(&at, "/metrics", "GET");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(text.contains("weld_served_calls_total"), "{text}");
    // Answered once the head timeout (5 s) closed the first silent ones.
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );
    // Every silent client is closed by the endpoint (hyper answers a
    // head timeout with a 408, or closes): none is kept open.
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(12))).unwrap();
        let mut rest = Vec::new();
        let closed = match s.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a silent client is still connected");
    }
}
