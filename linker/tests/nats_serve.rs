//! weld's own NATS server side against the real wRPC 0.17 peer and against
//! hostile publishers: zero-parameter calls answered without the caller's
//! end-of-parameters, parameters larger than one NATS message, and
//! invocations that are not invocations.

mod common;

use common::{nats, peer_ok as peer, runtime, serve};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_fixtures::nats::NatsServer;
use weld_linker::serve::{Cause, FailedCall, FailureHook, ServeOptions, Server};
use weld_linker::Deployment;

/// greet on host `b` over `endpoint`, its whole greeter exposed.
fn exposed_greet(dir: &std::path::Path, endpoint: &str) -> std::path::PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\n\n\
             [hosts.b]\nwrpc = {endpoint}\nexpose = [\"greet:demo:greet/greeter@0.1.0\"]\n"
        ),
    )
}

/// The native client's zero-parameter `count` and `hello` over NATS: weld
/// answers `count` from the invocation alone.
#[test]
fn a_native_client_calls_a_zero_parameter_function_over_nats() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = exposed_greet(dir.path(), &nats(broker.url(), "zero"));
    let server = serve(&m, "b");
    let args = ["--nats", broker.url(), "--prefix", "zero"];
    for _ in 0..3 {
        let out = peer(&[&args[..], &["count"]].concat());
        assert!(out.contains(r#""func":"count""#), "{out}");
    }
    let out = peer(&[&args[..], &["greet", "nats"]].concat());
    assert!(out.contains("hello, nats"), "{out}");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (4, 0), "{stats:?}");
}

/// Parameters past one NATS message (the default cap is 1 MiB) arrive in
/// several: from the native client, and from weld's own stub.
#[test]
fn parameters_larger_than_one_nats_message_are_read_whole() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = nats(broker.url(), "big");
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &weld_fixtures::pair_manifest("adder", Some(&endpoint)).replace(
            "[hosts.b]",
            "[hosts.b]\nexpose = [\"adder:demo:math/adder@0.1.0\"]",
        ),
    );
    let server = serve(&m, "b");
    // The native client: `sum` of a 3 MB list, once.
    let out = peer(&[
        "--nats",
        broker.url(),
        "--prefix",
        "big",
        "bench",
        "sum",
        "1",
        "--bytes",
        "3000000",
    ]);
    assert!(out.contains(r#""func":"sum""#), "{out}");
    // weld's stub: the driver sums a 3 MB list over the link.
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let list = Val::List(vec![Val::U8(1); 3_000_000]);
    assert_eq!(
        d.call("driver", "runner.sum-once", &[list]).unwrap(),
        [Val::U64(3_000_000)]
    );
    let stats = server.stop().unwrap();
    assert_eq!(stats.failed, 0, "{stats:?}");

    // weld's stub against the native wRPC server: the rest of the list
    // follows the server's accept.
    let _peer = weld_fixtures::peer::Peer::serve_nats(broker.url(), "native-big");
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &weld_fixtures::pair_manifest("adder", Some(&nats(broker.url(), "native-big"))),
    );
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    let list = Val::List(vec![Val::U8(2); 3_000_000]);
    assert_eq!(
        d.call("driver", "runner.sum-once", &[list]).unwrap(),
        [Val::U64(6_000_000)]
    );
}

/// A message on an invocation subject without a reply subject is refused
/// and reported; one whose parameters fill the first message and never
/// continue is given up on after the read timeout. The server answers
/// others meanwhile and after.
#[test]
fn publishers_that_are_not_callers_are_refused_and_forgotten() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = exposed_greet(dir.path(), &nats(broker.url(), "odd"));
    let failures: Arc<Mutex<Vec<FailedCall>>> = Arc::default();
    let mut options = ServeOptions::new("b");
    options.read_timeout = Duration::from_millis(400);
    options.on_failure = Some(FailureHook::new({
        let failures = Arc::clone(&failures);
        move |f| failures.lock().unwrap().push(f.clone())
    }));
    let server = Server::new(&Deployment::load(&m).unwrap(), options)
        .unwrap()
        .spawn()
        .unwrap();
    let subject = "odd.wrpc.0.0.1.demo:greet/greeter@0.1.0.hello";
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(broker.url()).await.unwrap();
        // No reply subject.
        client
            .publish(subject, bytes::Bytes::from_static(b"\x05hello"))
            .await
            .unwrap();
        // A full first message (the broker's payload cap, less the reply
        // subject) whose rest never comes.
        let reply = "stalled.reply";
        let cap = client.server_info().max_payload - reply.len();
        let mut full = vec![0x80u8, 0x80, 0x80, 0x01];
        full.resize(cap, b'x');
        client
            .publish_with_reply(subject, reply, full.into())
            .await
            .unwrap();
        client.flush().await.unwrap();
    });
    let out = peer(&[
        "--nats",
        broker.url(),
        "--prefix",
        "odd",
        "greet",
        "meanwhile",
    ]);
    assert!(out.contains("hello, meanwhile"), "{out}");
    let started = Instant::now();
    while failures.lock().unwrap().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            failures.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let failures = failures.lock().unwrap().clone();
    let causes: Vec<Cause> = failures.iter().map(|f| f.cause).collect();
    assert!(causes.contains(&Cause::Refused), "{failures:?}");
    assert!(causes.contains(&Cause::LateParameters), "{failures:?}");
    let late = failures
        .iter()
        .find(|f| f.cause == Cause::LateParameters)
        .unwrap();
    assert!(late.peer.contains("stalled.reply"), "{late:?}");
    let out = peer(&["--nats", broker.url(), "--prefix", "odd", "greet", "after"]);
    assert!(out.contains("hello, after"), "{out}");
    let stats = server.stop().unwrap();
    assert_eq!(
        (stats.answered, stats.failed, stats.refused),
        (2, 1, 1),
        "{stats:?}"
    );
}
