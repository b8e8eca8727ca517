//! wrpc links end to end: a caller on one host, `weld serve` (in a thread)
//! for the callee's host, real sockets. Faults are asserted as what the
//! guest saw.

use crate::common;

use common::{
    free_port, greet, greet_manifest, math_manifest, nats, runtime, serve, tcp, types_manifest,
};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;
use wasmtime::component::Val;
use weld_fixtures::leb128;
use weld_linker::runtime::RuntimeError;
use weld_linker::serve::{ServeOptions, Server};
use weld_linker::Deployment;

#[test]
fn greet_over_tcp_reaches_the_other_host() {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(free_port()), "", "");
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "weld"), "ok: hello, weld");
    assert_eq!(greet(&rt, "ünïcode 🦀"), "ok: hello, ünïcode 🦀");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 0));
}

#[test]
fn greet_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"{ transport = "unix", path = "b.sock" }"#;
    let m = greet_manifest(dir.path(), endpoint, "", "");
    let server = serve(&m, "b");
    assert!(dir.path().join("b.sock").exists());
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "unix"), "ok: hello, unix");
    server.stop().unwrap();
    assert!(
        !dir.path().join("b.sock").exists(),
        "the socket file is removed on shutdown"
    );
}

#[test]
fn a_dead_server_is_an_error_value_and_the_caller_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = greet_manifest(dir.path(), &tcp(port), "", "");
    let rt = runtime(&m, "a");
    let seen = greet(&rt, "nobody");
    assert_eq!(
        seen,
        format!(
            "error: wrpc link `greet-caller` → `greet` on host `b` call `demo:greet/greeter@0.1.0.hello` failed: cannot connect to tcp://127.0.0.1:{port}: Connection refused (os error 111)"
        )
    );
    // The same runtime reaches the server once it is up.
    let _server = serve(&m, "b");
    assert_eq!(greet(&rt, "later"), "ok: hello, later");
}

#[test]
fn a_slow_server_times_out_per_link() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = greet_manifest(dir.path(), &tcp(port), "timeout-ms = 300", "");
    let _server = serve(&m, "b");
    let rt = runtime(&m, "a");
    let started = std::time::Instant::now();
    let seen = greet(&rt, "sleep:1500");
    assert_eq!(
        seen,
        format!("error: wrpc link `greet-caller` → `greet` on host `b` call `demo:greet/greeter@0.1.0.hello` failed: no reply from tcp://127.0.0.1:{port} within 300 ms")
    );
    assert!(started.elapsed() < Duration::from_millis(1400));
}

#[test]
fn shared_instances_keep_state_and_per_call_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(free_port()), "", "");
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    greet(&rt, "one");
    greet(&rt, "two");
    assert_eq!(greet(&rt, "calls?"), "ok: 3");
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(
        dir.path(),
        &tcp(free_port()),
        "",
        r#"instances = "per-call""#,
    );
    let _server = serve(&m, "b");
    let rt = runtime(&m, "a");
    greet(&rt, "one");
    greet(&rt, "two");
    assert_eq!(greet(&rt, "calls?"), "ok: 1");
    // Pool slots are reused, reset in place (only the pages dirtied):
    // no call ever sees the count a call before it left.
    for i in 0..40 {
        assert_eq!(greet(&rt, "calls?"), "ok: 1", "call {i}");
    }
}

/// A fake server on a TCP port: reads the invocation, then does `reply`.
fn fake_server(reply: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
        reply(s);
    });
    port
}

/// What the guest saw when greet's server is the fake one on `port`.
fn greet_against(port: u16, name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(port), "timeout-ms = 2000", "");
    greet(&runtime(&m, "a"), name)
}

#[test]
fn garbage_replies_are_error_values() {
    // A well-formed frame whose string is not UTF-8.
    let port = fake_server(|mut s| {
        s.write_all(&[0x00, 0x03, 0x02, 0xff, 0xfe]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    });
    let seen = greet_against(port, "x");
    assert!(
        seen.ends_with(&format!(
            "failed: the reply from tcp://127.0.0.1:{port} is not a valid result: invalid UTF-8 in string at byte 1"
        )),
        "{seen}"
    );

    // Not wRPC at all.
    let port = fake_server(|mut s| {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
    });
    let seen = greet_against(port, "x");
    assert!(
        seen.starts_with("error: wrpc link `greet-caller` → `greet`"),
        "{seen}"
    );
    assert!(seen.contains(&format!("tcp://127.0.0.1:{port}")), "{seen}");
}

#[test]
fn a_server_that_drops_the_call_is_an_error_value() {
    let port = fake_server(drop);
    let seen = greet_against(port, "x");
    assert!(
        seen.ends_with(&format!("failed: tcp://127.0.0.1:{port} closed the call without a result (the remote function failed or the server stopped; see its log)")),
        "{seen}"
    );
}

#[test]
fn a_reply_over_the_cap_is_an_error_value() {
    // A string that declares 32 MiB: over the 16 MiB cap before it arrives.
    let port = fake_server(|mut s| {
        let mut frame = vec![0x00];
        let mut data = Vec::new();
        leb128(&mut data, 32 << 20);
        data.extend_from_slice(&[b'x'; 1024]);
        leb128(&mut frame, data.len() as u64);
        frame.extend_from_slice(&data);
        let _ = s.write_all(&frame);
        std::thread::sleep(Duration::from_millis(200));
    });
    let seen = greet_against(port, "x");
    assert!(
        seen.ends_with(&format!(
            "failed: the reply from tcp://127.0.0.1:{port} exceeds the 16777216-byte message cap"
        )),
        "{seen}"
    );

    // 17 MiB that really arrive, in 1 MiB frames.
    let port = fake_server(|mut s| {
        let total: usize = 17 << 20;
        let mut first = Vec::new();
        leb128(&mut first, total as u64);
        let mut sent = 0;
        let mut payload = first;
        while sent < total {
            let n = (1 << 20).min(total - sent);
            payload.extend(std::iter::repeat_n(b'y', n));
            sent += n;
            let mut frame = vec![0x00];
            leb128(&mut frame, payload.len() as u64);
            frame.extend_from_slice(&payload);
            if s.write_all(&frame).is_err() {
                return;
            }
            payload.clear();
        }
    });
    let seen = greet_against(port, "x");
    assert!(
        seen.contains("exceeds the 16777216-byte message cap"),
        "{seen}"
    );
}

#[test]
fn allow_trap_links_carry_plain_values_and_trap_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = math_manifest(dir.path(), &tcp(port));
    let rt = runtime(&m, "a");
    {
        let mut d = rt.instantiate().unwrap();
        let err = d
            .call("driver", "runner.add-once", &[Val::U32(40), Val::U32(2)])
            .unwrap_err();
        let RuntimeError::Trap { message, .. } = &err else {
            panic!("expected a trap, got {err}");
        };
        assert!(
            message.contains(&format!(
                "wrpc link `driver` → `adder` on host `b` call `demo:math/adder@0.1.0.add` failed: cannot connect to tcp://127.0.0.1:{port}"
            )) && message.contains("(the link allows traps)"),
            "{message}"
        );
    }
    let _server = serve(&m, "b");
    let mut d = rt.instantiate().unwrap();
    let add = d
        .call("driver", "runner.add-once", &[Val::U32(40), Val::U32(2)])
        .unwrap();
    assert_eq!(add, vec![Val::U32(42)]);
    let echo = d
        .call("driver", "runner.echo-once", &[Val::String("héllo".into())])
        .unwrap();
    assert_eq!(echo, vec![Val::String("héllo".into())]);
    let xs = Val::List((0..=255u8).map(Val::U8).collect());
    let sum = d.call("driver", "runner.sum-once", &[xs]).unwrap();
    assert_eq!(sum, vec![Val::U64(255 * 256 / 2)]);
    // 50 calls from inside wasm, each a wRPC round trip: adds 1 every
    // other call.
    let looped = d.call("driver", "runner.run-add", &[Val::U32(50)]).unwrap();
    assert_eq!(looped, vec![Val::U32(25)]);
}

#[test]
fn every_value_type_round_trips_through_weld_serve() {
    let dir = tempfile::tempdir().unwrap();
    let m = types_manifest(dir.path(), &tcp(free_port()));
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let failures = d.call("types-caller", "checker.run", &[]).unwrap();
    assert_eq!(failures, vec![Val::List(vec![])]);
    let stats = server.stop().unwrap();
    assert!(stats.answered > 60, "{stats:?}");
    assert_eq!(stats.failed, 0);
}

#[test]
fn only_planned_functions_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let m = math_manifest(dir.path(), &tcp(free_port()));
    let deployment = Deployment::load(&m).unwrap();
    let server = Server::new(&deployment, ServeOptions::new("b")).unwrap();
    let served: Vec<String> = server
        .served()
        .iter()
        .map(|s| format!("{}.{}", s.instance, s.function))
        .collect();
    // driver imports add, echo and sum; nothing else of b is reachable.
    assert_eq!(
        served,
        [
            "demo:math/adder@0.1.0.add",
            "demo:math/adder@0.1.0.echo",
            "demo:math/adder@0.1.0.sum"
        ]
    );
    let err = Server::new(&deployment, ServeOptions::new("a"))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "no wrpc link of the plan calls into host `a` and it exposes nothing: there is nothing to serve (`weld plan` shows the links)");
}

#[test]
fn greet_over_nats() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &nats(broker.url(), "edge"), "", "");
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "nats"), "ok: hello, nats");
    assert_eq!(greet(&rt, "again"), "ok: hello, again");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 0));
}

#[test]
fn every_value_type_round_trips_over_nats() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = types_manifest(dir.path(), &nats(broker.url(), "types"));
    let _server = serve(&m, "b");
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let failures = d.call("types-caller", "checker.run", &[]).unwrap();
    assert_eq!(failures, vec![Val::List(vec![])]);
}

#[test]
fn nats_faults_are_error_values() {
    // No broker at all.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let m = greet_manifest(dir.path(), &nats(&url, "p"), "timeout-ms = 2000", "");
    let seen = greet(&runtime(&m, "a"), "x");
    assert!(
        seen.starts_with(&format!(
            "error: wrpc link `greet-caller` → `greet` on host `b` call `demo:greet/greeter@0.1.0.hello` failed: cannot connect to {url} (prefix p): "
        )),
        "{seen}"
    );

    // A broker, but nobody serves the subject.
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(
        dir.path(),
        &nats(broker.url(), "p"),
        "timeout-ms = 2000",
        "",
    );
    let rt = runtime(&m, "a");
    let started = std::time::Instant::now();
    let seen = greet(&rt, "x");
    assert!(
        seen.starts_with("error: wrpc link `greet-caller` → `greet` on host `b`")
            && seen.contains(broker.url())
            && seen.contains("no responders"),
        "{seen}"
    );
    // The broker says so at once: no waiting for the link's timeout.
    assert!(started.elapsed() < Duration::from_millis(1000), "{seen}");

    // The server comes up later: the same runtime reaches it.
    let _server = serve(&m, "b");
    assert_eq!(greet(&rt, "later"), "ok: hello, later");
}

#[test]
fn parameters_over_the_servers_cap_close_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = math_manifest(dir.path(), &tcp(port));
    let deployment = Deployment::load(&m).unwrap();
    let mut options = ServeOptions::new("b");
    options.limits.max_bytes = 1024;
    let server = Server::new(&deployment, options).unwrap().spawn().unwrap();
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let small = d
        .call(
            "driver",
            "runner.echo-once",
            &[Val::String("x".repeat(1000))],
        )
        .unwrap();
    assert_eq!(small, vec![Val::String("x".repeat(1000))]);
    let err = d
        .call(
            "driver",
            "runner.echo-once",
            &[Val::String("x".repeat(2000))],
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "failed: tcp://127.0.0.1:{port} closed the call without a result"
        )),
        "{err}"
    );
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 1));
}

/// Four `sleep:300` calls at once from four threads; returns the wall time.
fn four_slow_calls(instances: &str) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(free_port()), "", instances);
    let _server = serve(&m, "b");
    let rt = runtime(&m, "a");
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(|| greet(&rt, "sleep:300")))
            .collect();
        for c in calls {
            assert_eq!(c.join().unwrap(), "ok: hello, sleep:300");
        }
    });
    started.elapsed()
}

#[test]
fn shared_instances_serialise_calls_and_per_call_ones_run_them_together() {
    // One shared store: the four calls take turns.
    assert!(four_slow_calls("") >= Duration::from_millis(1200));
    // Fresh instances on the worker pool: they overlap.
    assert!(four_slow_calls(r#"instances = "per-call""#) < Duration::from_millis(1200));
}

/// greet-caller on `a` → greet-relay on `b` → greet on `c`, all over TCP.
fn relay_manifest(dir: &std::path::Path, b: u16, c: u16) -> std::path::PathBuf {
    let toml = r#"
[components.greet-caller]
path = "{greet-caller}"
host = "a"

[components.relay]
path = "{greet-relay}"
host = "b"

[components.greet]
path = "{greet}"
host = "c"

[[link]]
import = "greet-caller:demo:greet/greeter@0.1.0"
export = "relay"

[[link]]
import = "relay:demo:greet/greeter@0.1.0"
export = "greet"

[hosts.b]
wrpc = B

[hosts.c]
wrpc = C
"#
    .replace("B", &tcp(b))
    .replace("C", &tcp(c));
    weld_fixtures::write_manifest(dir, &toml)
}

#[test]
fn a_served_guest_calls_on_over_wrpc_and_its_errors_close_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let (b, c) = (free_port(), free_port());
    let m = relay_manifest(dir.path(), b, c);
    let rt = runtime(&m, "a");

    // Two hops: a → b (weld serve, whose guest calls on) → c.
    let relay = serve(&m, "b");
    let greeter = serve(&m, "c");
    assert_eq!(greet(&rt, "x"), "ok: relayed hello, x");
    drop(greeter);

    // c is gone: the relay guest gets the error value and returns it; the
    // server on b closes the call (wRPC has no error channel), and a's guest
    // sees a failed call, not a trap.
    assert_eq!(
        greet(&rt, "y"),
        format!("error: wrpc link `greet-caller` → `relay` on host `b` call `demo:greet/greeter@0.1.0.hello` failed: tcp://127.0.0.1:{b} closed the call without a result (the remote function failed or the server stopped; see its log)")
    );
    let stats = relay.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 1));
}

#[test]
fn stubs_called_from_async_code_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = greet_manifest(dir.path(), &tcp(port), "", "");
    let rt = runtime(&m, "a");
    let embedder = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // An embedder calling the deployment from inside its own runtime.
    let dead = embedder.block_on(async { greet(&rt, "async") });
    assert!(
        dead.contains("cannot connect to tcp://127.0.0.1:"),
        "{dead}"
    );
    let _server = serve(&m, "b");
    let alive = embedder.block_on(async { greet(&rt, "async") });
    assert_eq!(alive, "ok: hello, async");
}

/// Two replicas of one host on NATS share its calls through a queue group:
/// every call runs on exactly one of them (the answered counts add up to
/// the calls made, not twice that).
#[test]
fn nats_replicas_share_calls_and_run_each_once() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &nats(broker.url(), "edge"), "", "");
    let first = serve(&m, "b");
    let second = serve(&m, "b");
    let rt = runtime(&m, "a");
    let calls = 40;
    for i in 0..calls {
        assert_eq!(greet(&rt, &format!("{i}")), format!("ok: hello, {i}"));
    }
    let (a, b) = (first.stop().unwrap(), second.stop().unwrap());
    assert_eq!(
        (a.answered + b.answered, a.failed + b.failed),
        (calls, 0),
        "replica counts: {a:?} and {b:?}"
    );
}

/// Common signatures get typed stubs (no `Val` per byte); the others the
/// dynamic path. Each shape's calls are checked end to end by the tests
/// above and by the interop suite against the native peer.
#[test]
fn stubs_take_the_typed_path_for_common_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let m = common::math_manifest(dir.path(), &common::tcp(common::free_port()));
    let rt = common::runtime(&m, "a");
    let typed = rt.typed_stubs();
    for f in ["add", "echo", "sum"] {
        assert!(
            typed.contains(&format!("demo:math/adder@0.1.0#{f}").as_str()),
            "{f}: {typed:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let m = common::greet_manifest(dir.path(), &common::tcp(common::free_port()), "", "");
    let rt = common::runtime(&m, "a");
    // `result<string, error>`: the wRPC-safe shape.
    assert!(rt.typed_stubs().contains(&"demo:greet/greeter@0.1.0#hello"));
    let dir = tempfile::tempdir().unwrap();
    let m = common::types_manifest(dir.path(), &common::tcp(common::free_port()));
    let rt = common::runtime(&m, "a");
    let typed = rt.typed_stubs();
    assert!(typed.contains(&"demo:types/all@0.1.0#id-u32"), "{typed:?}");
    assert!(
        !typed.iter().any(|t| t.ends_with("#id-record")),
        "{typed:?}"
    );
}

/// The server takes the typed path for the same shapes as the stubs.
#[test]
fn the_server_takes_the_typed_path_for_common_shapes() {
    use weld_linker::serve::{ServeOptions, Server};
    let dir = tempfile::tempdir().unwrap();
    let m = common::math_manifest(dir.path(), &common::tcp(common::free_port()));
    let d = weld_linker::Deployment::load(&m).unwrap();
    let server = Server::new(&d, ServeOptions::new("b")).unwrap();
    for s in server.served() {
        assert!(s.typed(), "{}: {s:?}", s.function);
    }
    let dir = tempfile::tempdir().unwrap();
    let m = common::types_manifest(dir.path(), &common::tcp(common::free_port()));
    let d = weld_linker::Deployment::load(&m).unwrap();
    let server = Server::new(&d, ServeOptions::new("b")).unwrap();
    let by_name = |f: &str| {
        server
            .served()
            .iter()
            .find(|s| s.function == f)
            .unwrap()
            .typed()
    };
    assert!(by_name("id-u32"));
    assert!(by_name("id-string"));
    assert!(!by_name("id-record"));
    assert!(!by_name("id-list-u32"));
}
