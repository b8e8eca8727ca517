//! Providers: external wRPC servers declared only by their WIT. The native
//! peer (`interop/`, wrpc 0.17) serves the greeter's wire view; a fixture
//! component imports the greeter and reaches the peer through a stub, over
//! TCP, Unix and NATS. And `expose`: the native client calls an interface
//! `weld serve` serves to callers outside the manifest.

use crate::common;
use weld_linker::DiagnosticKind;

use common::{free_port, greet, nats, serve, tcp};
use std::path::{Path, PathBuf};
use weld_fixtures::nats::NatsServer;
use weld_fixtures::peer::Peer;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::Deployment;

/// greet-caller on host `a`; the greeter is provider `greet-svc` on host
/// `svc`, known by `wit` (a file or folder) and served at `endpoint`.
fn provider_manifest(dir: &Path, endpoint: &str, wit: &Path, exports: &str) -> PathBuf {
    let allow = allow_fixture_wit();
    weld_fixtures::write_manifest(
        dir,
        &format!(
            r#"{allow}
[components.greet-caller]
path = "{{greet-caller}}"
host = "a"

[providers.greet-svc]
wit = {wit:?}
exports = [{exports}]
host = "svc"

[hosts.svc]
wrpc = {endpoint}
"#
        ),
    )
}

fn greet_wit() -> PathBuf {
    weld_fixtures::workspace_root().join("fixtures/wit/greet")
}

/// The line that lets a manifest in a temporary folder name the fixtures'
/// WIT, which lies outside it.
fn allow_fixture_wit() -> String {
    format!(
        "allow-dirs = [{:?}]\n",
        weld_fixtures::workspace_root().join("fixtures/wit")
    )
}

const GREETER: &str = r#""demo:greet/greeter@0.1.0""#;

/// Plans `manifest` and runs its only runnable host (no host named: the
/// provider's host is not one weld runs).
fn runtime(manifest: &Path) -> Runtime {
    let deployment = Deployment::load(manifest).unwrap_or_else(|d| panic!("{d}"));
    let r = deployment
        .plan
        .resolutions
        .iter()
        .find(|r| r.import == "demo:greet/greeter@0.1.0")
        .expect("the greeter import is resolved");
    assert!(r.provider, "{r:?}");
    assert_eq!(r.peer.as_deref(), Some("greet-svc"));
    assert_eq!(r.transport.as_str(), "wrpc");
    Runtime::new(&deployment, &RuntimeOptions::default()).expect("runtime prepares")
}

fn check(endpoint: &str, wit: &Path, stop: impl FnOnce()) {
    let dir = tempfile::tempdir().unwrap();
    let m = provider_manifest(dir.path(), endpoint, wit, GREETER);
    let rt = runtime(&m);
    assert_eq!(greet(&rt, "provider"), "ok: hello, provider");
    stop();
    let seen = greet(&rt, "provider");
    assert!(seen.starts_with("error: "), "{seen}");
    assert!(seen.contains("greet-svc"), "{seen}");
}

#[test]
fn a_provider_over_tcp_answers_and_its_absence_is_an_error_value() {
    let port = free_port();
    let peer = Peer::serve_tcp(&format!("127.0.0.1:{port}"));
    check(&tcp(port), &greet_wit(), || drop(peer));
}

#[test]
fn a_provider_over_unix_known_by_one_wit_file() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("peer.sock");
    let peer = Peer::serve_unix(&sock);
    // One file holding every package the greeter needs.
    let wit = dir.path().join("greeter.wit");
    let root = greet_wit();
    let mut text = std::fs::read_to_string(root.join("greet.wit")).unwrap();
    for file in ["deps/wrpc-rpc/error.wit", "deps/io/error.wit"] {
        let body = std::fs::read_to_string(root.join(file)).unwrap();
        // Nested package syntax: `package a:b { ... }`.
        let (head, rest) = body.split_once(';').unwrap();
        text.push_str(&format!("{} {{\n{rest}\n}}\n", head.trim()));
    }
    std::fs::write(&wit, text).unwrap();
    let endpoint = format!(
        r#"{{ transport = "unix", path = {:?} }}"#,
        sock.display().to_string()
    );
    // The manifest beside the WIT file: a manifest reads WIT only in its
    // own folder tree (or those it allows).
    let m = provider_manifest(dir.path(), &endpoint, &wit, GREETER);
    let rt = runtime(&m);
    assert_eq!(greet(&rt, "provider"), "ok: hello, provider");
    drop(peer);
    let seen = greet(&rt, "provider");
    assert!(
        seen.starts_with("error: ") && seen.contains("greet-svc"),
        "{seen}"
    );
}

#[test]
fn a_provider_over_nats() {
    let broker = NatsServer::start();
    let peer = Peer::serve_nats(broker.url(), "providers");
    check(&nats(broker.url(), "providers"), &greet_wit(), || {
        drop(peer)
    });
}

/// The planner's diagnostics for `manifest`, as text.
fn plan_errors(manifest: &Path) -> String {
    plan_diagnostics(manifest).to_string()
}

/// The planner's diagnostics for `manifest`.
fn plan_diagnostics(manifest: &Path) -> weld_linker::Diagnostics {
    match Deployment::load(manifest) {
        Ok(_) => panic!("{} planned", manifest.display()),
        Err(d) => d,
    }
}

/// The kinds of `diagnostics`, in order.
fn kinds(diagnostics: &weld_linker::Diagnostics) -> Vec<DiagnosticKind> {
    diagnostics.0.iter().map(|d| d.kind).collect()
}

#[test]
fn a_provider_whose_wit_differs_is_refused_at_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let wit = dir.path().join("wit");
    weld_fixtures::copy_wit("greet", &wit);
    let root = greet_wit();
    let greet = std::fs::read_to_string(root.join("greet.wit")).unwrap();
    let write = |text: &str| std::fs::write(wit.join("greet.wit"), text).unwrap();
    let endpoint = tcp(free_port());

    // A parameter type.
    write(&greet.replace("hello: func(name: string)", "hello: func(name: u32)"));
    let m = provider_manifest(dir.path(), &endpoint, &wit, GREETER);
    let d = plan_diagnostics(&m);
    assert_eq!(kinds(&d), [DiagnosticKind::TypeMismatch], "{d}");
    let err = d.to_string();
    assert!(err.contains("greet-svc"), "{err}");
    assert!(err.contains("hello") && err.contains("name"), "{err}");
    assert!(err.contains("string") && err.contains("u32"), "{err}");

    // A missing function (one the caller imports: its import lists only
    // the functions it calls).
    write(&greet.replace(
        "  hello: func(name: string) -> result<string, error>;\n",
        "",
    ));
    let err = plan_errors(&m);
    assert!(err.contains("hello"), "{err}");

    // A version that is not semver-compatible: nothing exports 0.1.x.
    write(&greet.replace("package demo:greet@0.1.0;", "package demo:greet@0.2.0;"));
    let m = provider_manifest(dir.path(), &endpoint, &wit, r#""demo:greet/greeter@0.2.0""#);
    let d = plan_diagnostics(&m);
    assert_eq!(kinds(&d), [DiagnosticKind::NoExporter], "{d}");

    // An interface the WIT does not define, named at the manifest entry.
    write(&greet);
    let m = provider_manifest(dir.path(), &endpoint, &wit, r#""demo:greet/missing@0.1.0""#);
    let err = plan_errors(&m);
    assert!(
        err.contains("`demo:greet/missing@0.1.0` is not defined by") && err.contains("weld.toml:"),
        "{err}"
    );
}

#[test]
fn a_provider_is_reached_over_wrpc_only() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            r#"{}
[components.greet-caller]
path = "{{greet-caller}}"

[providers.greet-svc]
wit = {:?}
exports = [{GREETER}]
host = "svc"

[hosts.svc]
wrpc = {{ transport = "tcp", address = "127.0.0.1:1" }}

[[link]]
import = "greet-caller:demo:greet/greeter@0.1.0"
export = "greet-svc"
transport = "in-process"
"#,
            allow_fixture_wit(),
            greet_wit()
        ),
    );
    let err = plan_errors(&m);
    assert!(
        err.contains(
            "`in-process` cannot reach provider `greet-svc`: it is an external wRPC server"
        ),
        "{err}"
    );
}

#[test]
fn a_provider_host_must_say_where_and_hold_no_component() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            r#"{}
[components.greet-caller]
path = "{{greet-caller}}"
host = "svc"

[providers.greet-svc]
wit = {:?}
exports = [{GREETER}]
host = "svc"
"#,
            allow_fixture_wit(),
            greet_wit()
        ),
    );
    let err = plan_errors(&m);
    assert!(
        err.contains("host `svc` does not say where it serves wRPC"),
        "{err}"
    );
    assert!(
        err.contains("component `greet-caller` is placed on it too"),
        "{err}"
    );
}

#[test]
fn a_provider_wit_that_is_a_fifo_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("greet.wit");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let m = provider_manifest(dir.path(), &tcp(free_port()), &fifo, GREETER);
    let started = std::time::Instant::now();
    let err = plan_errors(&m);
    assert!(err.contains("a FIFO"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// `greet` on host `b`, exposing its greeter to outside callers; no
/// component of the manifest calls it.
fn exposed_manifest(dir: &Path, endpoint: &str) -> PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            r#"
[components.greet]
path = "{{greet}}"
host = "b"

[hosts.b]
wrpc = {endpoint}
expose = ["greet:demo:greet/greeter@0.1.0"]
"#
        ),
    )
}

#[test]
fn an_exposed_interface_is_served_to_a_native_client_and_nothing_else_is() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let m = exposed_manifest(dir.path(), &tcp(port));
    let deployment = Deployment::load(&m).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(deployment.plan.exposed.len(), 1);
    assert_eq!(deployment.plan.exposed[0].functions, ["hello", "count"]);
    let server = serve(&m, "b");
    let out = weld_fixtures::peer::call(&["--tcp", &addr, "greet", "outside"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#"{"func":"hello","result":"hello, outside"}"#),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // demo:math/adder is not exposed (nor exported): unreachable.
    let out = weld_fixtures::peer::call(&["--tcp", &addr, "math"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(r#""result":42"#), "{stdout}");
    let stats = server.stop().unwrap();
    assert!(stats.answered >= 1, "{stats:?}");
}

#[test]
fn exposing_what_a_component_does_not_export_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        r#"
[components.greet]
path = "{greet}"
host = "b"

[hosts.b]
wrpc = { transport = "tcp", address = "127.0.0.1:1" }
expose = ["greet:demo:greet/greeter@0.2.0"]
"#,
    );
    let d = plan_diagnostics(&m);
    assert_eq!(kinds(&d), [DiagnosticKind::NoExporter], "{d}");
    let err = d.to_string();
    assert!(
        err.contains("`greet`") && err.contains("demo:greet/greeter@0.2.0"),
        "{err}"
    );
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(
        &m,
        text.replace(
            "greet:demo:greet/greeter@0.2.0",
            "nobody:demo:greet/greeter@0.1.0",
        ),
    )
    .unwrap();
    let err = plan_errors(&m);
    assert!(err.contains("names unknown component `nobody`"), "{err}");
}

#[test]
fn a_provider_wit_over_the_file_caps_is_refused_before_reading() {
    use weld_linker::introspect::{MAX_WIT_BYTES, MAX_WIT_FILES};
    let dir = tempfile::tempdir().unwrap();
    // One file a byte past the size cap (sparse: nothing is written).
    let big = dir.path().join("big.wit");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(MAX_WIT_BYTES + 1)
        .unwrap();
    let m = provider_manifest(dir.path(), &tcp(free_port()), &big, GREETER);
    let err = plan_errors(&m);
    assert!(err.contains("larger than the"), "{err}");
    // A folder with one WIT file more than the count cap.
    let many = dir.path().join("many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..=MAX_WIT_FILES {
        std::fs::write(many.join(format!("f{i:03}.wit")), "").unwrap();
    }
    let m = provider_manifest(dir.path(), &tcp(free_port()), &many, GREETER);
    let err = plan_errors(&m);
    assert!(
        err.contains(&format!("holds more than {MAX_WIT_FILES} WIT files")),
        "{err}"
    );
}
