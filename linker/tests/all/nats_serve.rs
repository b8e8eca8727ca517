//! weld's own NATS server side against the real wRPC 0.17 peer and against
//! hostile publishers: zero-parameter calls answered without the caller's
//! end-of-parameters, parameters larger than one NATS message, and
//! invocations that are not invocations.

use crate::common;

use common::{nats, peer_ok as peer, runtime, serve};
use futures::StreamExt as _;
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

/// Invocations whose parameters fill the first message and never continue
/// each hold a call slot until the read timeout: past the cap (shared with
/// TCP connections), more are dropped unanswered and counted, not held
/// (1 500 of them once took the server from 20 to 1 668 MiB). A real call
/// goes through once the stalled ones are given up on.
#[test]
fn calls_awaiting_parameters_are_capped_and_the_rest_dropped_and_counted() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = exposed_greet(dir.path(), &nats(broker.url(), "pending"));
    let mut options = ServeOptions::new("b");
    options.max_connections = 50;
    options.read_timeout = Duration::from_millis(1500);
    let server = Server::new(&Deployment::load(&m).unwrap(), options)
        .unwrap()
        .spawn()
        .unwrap();
    let subject = "pending.wrpc.0.0.1.demo:greet/greeter@0.1.0.hello";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sent = 300;
    let started = Instant::now();
    rt.block_on(async {
        let client = async_nats::connect(broker.url()).await.unwrap();
        let reply = "stalled.reply";
        let cap = client.server_info().max_payload - reply.len();
        let mut full = vec![0x80u8, 0x80, 0x80, 0x01];
        full.resize(cap, b'x');
        let full = bytes::Bytes::from(full);
        for _ in 0..sent {
            client
                .publish_with_reply(subject, reply, full.clone())
                .await
                .unwrap();
            client.flush().await.unwrap();
        }
    });
    let publishing = started.elapsed();
    // The stalled calls are given up on after the read timeout.
    std::thread::sleep(Duration::from_millis(2000));
    let out = peer(&[
        "--nats",
        broker.url(),
        "--prefix",
        "pending",
        "greet",
        "after",
    ]);
    assert!(out.contains("hello, after"), "{out}");
    let stats = server.stop().unwrap();
    let late = stats
        .failures
        .get(&Cause::LateParameters)
        .copied()
        .unwrap_or(0);
    // At most 50 held at once: each batch of 50 frees its slots only at
    // its read timeout (a loaded machine may publish slower than that).
    let batches = 1 + (publishing.as_millis() / 1500) as u64;
    assert!(late <= 50 * batches, "{stats:?} in {publishing:?}");
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(stats.dropped + late, sent, "{stats:?}");
    assert_eq!(stats.answered, 1, "{stats:?}");
}

/// A third party learns the server's inbox from an accept of its own call
/// and sprays empty parameter messages at the subjects next to its own:
/// with sequential subjects that truncated 4 of 5 legitimate 3 MB calls.
/// Continuation subjects are unguessable now: every legitimate call sums
/// its whole list.
#[test]
fn continuation_subjects_cannot_be_guessed_from_ones_own_call() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = nats(broker.url(), "guess");
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &weld_fixtures::pair_manifest("adder", Some(&endpoint)).replace(
            "[hosts.b]",
            "[hosts.b]\nexpose = [\"adder:demo:math/adder@0.1.0\"]",
        ),
    );
    let mut options = ServeOptions::new("b");
    // The attacker's own call stalls: given up on soon.
    options.read_timeout = Duration::from_secs(1);
    let server = Server::new(&Deployment::load(&m).unwrap(), options)
        .unwrap()
        .spawn()
        .unwrap();
    let io = tokio::runtime::Runtime::new().unwrap();
    let (client, inbox, own) = io.block_on(async {
        let client = async_nats::connect(broker.url()).await.unwrap();
        let mut replies = client.subscribe("attacker.reply").await.unwrap();
        client.flush().await.unwrap();
        // An invocation of its own whose first message is full: the accept
        // names where the rest would go, `<inbox>.<key>`.
        let cap = client.server_info().max_payload - "attacker.reply".len();
        let mut full = vec![0x80u8, 0x80, 0x80, 0x01];
        full.resize(cap, 1);
        client
            .publish_with_reply(
                "guess.wrpc.0.0.1.demo:math/adder@0.1.0.sum",
                "attacker.reply",
                full.into(),
            )
            .await
            .unwrap();
        let accept = tokio::time::timeout(Duration::from_secs(5), replies.next())
            .await
            .unwrap()
            .unwrap();
        let here = accept
            .reply
            .expect("the accept names the continuation subject");
        let (inbox, own) = here.rsplit_once('.').unwrap();
        (client, inbox.to_string(), own.to_string())
    });
    // Its neighbours, read as a hex key or as a decimal number.
    let bases = [
        u64::from_str_radix(&own, 16).unwrap_or(0),
        own.parse::<u64>().unwrap_or(0),
    ];
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spray = {
        let (client, inbox, done) = (client.clone(), inbox.clone(), Arc::clone(&done));
        io.spawn(async move {
            let mut sent = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for i in 1..64u64 {
                    for guess in bases.iter().flat_map(|b| {
                        [
                            format!("{:016x}", b.wrapping_add(i)),
                            format!("{}", b.wrapping_add(i)),
                        ]
                    }) {
                        let _ = client
                            .publish(format!("{inbox}.{guess}.params"), bytes::Bytes::new())
                            .await;
                        sent += 1;
                    }
                }
                let _ = client.flush().await;
                // A targeted spray, not a flood (a flood is another test).
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            sent
        })
    };
    let rt = runtime(&m, "a");
    for i in 0..5u8 {
        let mut d = rt.instantiate().unwrap();
        let list = Val::List(vec![Val::U8(i + 1); 3_000_000]);
        assert_eq!(
            d.call("driver", "runner.sum-once", &[list]).unwrap(),
            [Val::U64(3_000_000 * u64::from(i + 1))],
            "call {i} was cut short"
        );
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let sprayed = io.block_on(spray).unwrap();
    assert!(sprayed > 0);
    let stats = server.stop().unwrap();
    assert_eq!(stats.answered, 5, "{stats:?}");
}

/// 20 000 invocations in one burst: what the server cannot take is
/// dropped unanswered, and every drop is counted (once 13 347 went without
/// a log line or a count); the server answers calls after.
#[test]
fn a_flood_of_invocations_is_counted_not_silently_dropped() {
    let broker = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = exposed_greet(dir.path(), &nats(broker.url(), "flood"));
    let server = serve(&m, "b");
    let io = tokio::runtime::Runtime::new().unwrap();
    let sent: u64 = 20_000;
    io.block_on(async {
        let client = async_nats::connect(broker.url()).await.unwrap();
        let subject = "flood.wrpc.0.0.1.demo:greet/greeter@0.1.0.count";
        for i in 0..sent {
            client
                .publish_with_reply(subject, format!("flooder.{i}"), bytes::Bytes::new())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    std::thread::sleep(Duration::from_millis(1500));
    let out = peer(&[
        "--nats",
        broker.url(),
        "--prefix",
        "flood",
        "greet",
        "after",
    ]);
    assert!(out.contains("hello, after"), "{out}");
    let stats = server.stop().unwrap();
    eprintln!("{stats:?}");
    assert!(stats.dropped > 0, "{stats:?}");
    // Every invocation that reached weld's connection is counted once:
    // answered, failed or dropped (the flood's and the one after); none
    // twice. Once the broker's no-responder notices for the flood's absent
    // callers counted as dropped invocations too (up to 447 over). The
    // broker itself may drop part of a flood before delivering it (a slow
    // consumer, seen once here: 10 006 of 20 001 arrived); weld cannot see
    // those, so the bound is from above.
    let counted = stats.answered + stats.failed + stats.refused + stats.dropped;
    assert!(counted <= sent + 1, "{stats:?}");
    assert!(counted > sent / 4, "{stats:?}");
}
