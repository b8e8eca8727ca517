//! Interop with the real wRPC implementation: `wrpc-peer` (in `interop/`,
//! built with `wrpc` 0.17, `wit-bindgen-wrpc` and `wrpc-transport` 0.29 — a
//! codec other than weld's) serves and calls the fixture interfaces.
//!
//! * weld stub → native server: a guest on host `a` calls the peer, which
//!   stands in for host `b`;
//! * native client → `weld serve`: the peer calls weld's server.
//!
//! Over TCP, Unix and NATS, for every value type of `demo:types/all`, the
//! scalar/string/list calls of `demo:math/adder`, and the wRPC-safe
//! `demo:greet/greeter` (whose wire view the peer serves: `T` for
//! `result<T, error>`).

use crate::common;

use common::{
    free_port, greet, greet_manifest, math_manifest, nats, runtime, serve, tcp, types_manifest,
};
use wasmtime::component::Val;
use weld_fixtures::nats::NatsServer;
use weld_fixtures::peer::Peer;

/// The guest's round trip of every value type, via the native peer.
fn check_types_against(endpoint: &str) {
    check_types_in(tempfile::tempdir().unwrap().path(), endpoint);
}

/// [`check_types_against`] with the manifest written in `dir`.
fn check_types_in(dir: &std::path::Path, endpoint: &str) {
    let m = types_manifest(dir, endpoint);
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let failures = d.call("types-caller", "checker.run", &[]).unwrap();
    assert_eq!(failures, vec![Val::List(vec![])]);
}

/// The driver's adder calls, via the native peer.
fn check_math_against(endpoint: &str) {
    check_math_in(tempfile::tempdir().unwrap().path(), endpoint);
}

/// [`check_math_against`] with the manifest written in `dir`.
fn check_math_in(dir: &std::path::Path, endpoint: &str) {
    let m = math_manifest(dir, endpoint);
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let add = d
        .call(
            "driver",
            "runner.add-once",
            &[Val::U32(u32::MAX), Val::U32(2)],
        )
        .unwrap();
    assert_eq!(add, vec![Val::U32(1)]);
    let echo = d
        .call(
            "driver",
            "runner.echo-once",
            &[Val::String("héllo 🦀".into())],
        )
        .unwrap();
    assert_eq!(echo, vec![Val::String("héllo 🦀".into())]);
    let xs = Val::List((0..1000u32).map(|i| Val::U8(i as u8)).collect());
    let sum = d.call("driver", "runner.sum-once", &[xs]).unwrap();
    let want: u64 = (0..1000u32).map(|i| u64::from(i as u8)).sum();
    assert_eq!(sum, vec![Val::U64(want)]);
}

/// greet-caller against the native peer's wire view of the greeter.
fn check_greet_against(endpoint: &str) {
    check_greet_in(tempfile::tempdir().unwrap().path(), endpoint);
}

/// [`check_greet_against`] with the manifest written in `dir`.
fn check_greet_in(dir: &std::path::Path, endpoint: &str) {
    let m = greet_manifest(dir, endpoint, "", "");
    assert_eq!(greet(&runtime(&m, "a"), "weld"), "ok: hello, weld");
}

#[test]
fn weld_stubs_call_a_native_wrpc_server_over_tcp() {
    let port = free_port();
    let _peer = Peer::serve_tcp(&format!("127.0.0.1:{port}"));
    check_types_against(&tcp(port));
    check_math_against(&tcp(port));
    check_greet_against(&tcp(port));
}

#[test]
fn weld_stubs_call_a_native_wrpc_server_over_unix() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("peer.sock");
    let _peer = Peer::serve_unix(&sock);
    let endpoint = format!(
        r#"{{ transport = "unix", path = {:?} }}"#,
        sock.display().to_string()
    );
    check_types_against(&endpoint);
    check_greet_against(&endpoint);
}

#[test]
fn weld_stubs_call_a_native_wrpc_server_over_nats() {
    let broker = NatsServer::start();
    let _peer = Peer::serve_nats(broker.url(), "interop");
    let endpoint = nats(broker.url(), "interop");
    check_types_against(&endpoint);
    check_math_against(&endpoint);
    check_greet_against(&endpoint);
}

/// Runs the peer's client suite against `endpoint_args`; asserts success and
/// returns its stdout.
fn peer_call(endpoint_args: &[&str], suite: &[&str]) -> String {
    common::peer_ok(&[endpoint_args, suite].concat())
}

/// weld serves types, adder and greet on host `b` of three manifests that
/// share one endpoint each; the native client calls them.
fn native_client_against_weld(endpoint: &str, peer_args: &[&str]) {
    native_client_against_weld_in(tempfile::tempdir().unwrap().path(), endpoint, peer_args);
}

/// [`native_client_against_weld`] with the manifests written in `dir`.
fn native_client_against_weld_in(dir: &std::path::Path, endpoint: &str, peer_args: &[&str]) {
    let m = types_manifest(dir, endpoint);
    let server = serve(&m, "b");
    let out = peer_call(peer_args, &["types"]);
    assert!(!out.contains("\"ok\":false"), "{out}");
    assert!(out.lines().count() >= 28, "{out}");
    let stats = server.stop().unwrap();
    assert_eq!(stats.failed, 0, "{stats:?}");

    let m = math_manifest(dir, endpoint);
    let server = serve(&m, "b");
    let out = peer_call(peer_args, &["math"]);
    assert!(out.contains(r#"{"func":"add","result":42}"#), "{out}");
    assert!(out.contains(r#""result":"héllo""#), "{out}");
    assert!(out.contains(r#"{"func":"sum","result":6}"#), "{out}");
    server.stop().unwrap();

    // greet: weld serves `result<string, error>`, only the string travels.
    let m = greet_manifest(dir, endpoint, "", "");
    let server = serve(&m, "b");
    let out = peer_call(peer_args, &["greet", "native"]);
    assert!(
        out.contains(r#"{"func":"hello","result":"hello, native"}"#),
        "{out}"
    );
    server.stop().unwrap();
}

#[test]
fn a_native_wrpc_client_calls_weld_serve_over_tcp() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    native_client_against_weld(&tcp(port), &["--tcp", &addr]);
}

#[test]
fn a_native_wrpc_client_calls_weld_serve_over_nats() {
    let broker = NatsServer::start();
    native_client_against_weld(
        &nats(broker.url(), "weld"),
        &["--nats", broker.url(), "--prefix", "weld"],
    );
}

/// In `dir`, identities for hosts `a` and `b`; the port QUIC will use; and
/// `wrpc-peer`'s arguments for it as `host`.
fn quic_peer(dir: &std::path::Path, host: &str) -> (u16, Vec<String>) {
    weld_fixtures::tls::identities(dir, "ca", &["a", "b"]);
    let port = free_port();
    let file = |name: String| dir.join(name).to_str().unwrap().to_string();
    let args = vec![
        "--quic".into(),
        format!("127.0.0.1:{port}"),
        "--cert".into(),
        file(format!("{host}.pem")),
        "--key".into(),
        file(format!("{host}.key")),
        "--ca".into(),
        file("ca.pem".into()),
    ];
    (port, args)
}

#[test]
fn weld_stubs_call_a_native_wrpc_server_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let (port, args) = quic_peer(dir.path(), "b");
    let _peer = Peer::serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let endpoint = crate::quic::endpoint(port);
    check_types_in(dir.path(), &endpoint);
    check_math_in(dir.path(), &endpoint);
    check_greet_in(dir.path(), &endpoint);
}

#[test]
fn a_native_wrpc_client_calls_weld_serve_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    let (port, args) = quic_peer(dir.path(), "a");
    native_client_against_weld_in(
        dir.path(),
        &crate::quic::endpoint(port),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
}

#[test]
fn functions_no_link_imports_are_not_served_to_native_clients() {
    // greet-caller imports only `hello`: `count` is not reachable.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(port), "", "");
    let _server = serve(&m, "b");
    let addr = format!("127.0.0.1:{port}");
    let out = weld_fixtures::peer::call(&["--tcp", &addr, "count"]);
    assert!(!out.status.success(), "{:?}", out);
}
