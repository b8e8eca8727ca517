//! Load on real sockets and a real `nats-server` (loopback, bounded in count
//! and time): 10 000 calls at concurrency 64 over TCP, Unix, QUIC (one
//! connection, a stream per call) and NATS with two replicas. Every result
//! is checked against its call, and the servers' counts prove each call ran
//! exactly once.

use crate::common;

use common::{free_port, greet_manifest, nats, runtime, serve, tcp};
use std::path::Path;
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_linker::runtime::Runtime;

const CALLS: usize = 10_000;
const CONCURRENCY: usize = 64;

/// Makes `CALLS` calls from `CONCURRENCY` threads, each with its own store;
/// returns the calls whose result was not `ok: hello, <id>`.
fn load(rt: &Runtime) -> Vec<String> {
    let per_thread = CALLS / CONCURRENCY;
    let extra = CALLS % CONCURRENCY;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|t| {
                let rt = rt.clone();
                s.spawn(move || {
                    let mut d = rt.instantiate().unwrap();
                    let n = per_thread + usize::from(t < extra);
                    let mut wrong = Vec::new();
                    for i in 0..n {
                        let id = format!("{t}-{i}");
                        let got = d
                            .call("greet-caller", "front.greet", &[Val::String(id.clone())])
                            .expect("the caller never traps");
                        let want = Val::String(format!("ok: hello, {id}"));
                        if got.as_slice() != [want] {
                            wrong.push(format!("{id}: {got:?}"));
                        }
                    }
                    wrong
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    })
}

fn check(manifest: &Path, replicas: usize) {
    let servers: Vec<_> = (0..replicas).map(|_| serve(manifest, "b")).collect();
    let rt = runtime(manifest, "a");
    let started = Instant::now();
    let wrong = load(&rt);
    let took = started.elapsed();
    assert!(
        wrong.is_empty(),
        "{} of {CALLS} calls went wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    let (mut answered, mut failed) = (0, 0);
    for s in servers {
        let stats = s.stop().unwrap();
        answered += stats.answered;
        failed += stats.failed;
    }
    assert_eq!(
        (answered, failed),
        (CALLS as u64, 0),
        "each call ran exactly once"
    );
    eprintln!(
        "{CALLS} calls at concurrency {CONCURRENCY} on {replicas} replica(s) in {took:?}: {:.0} calls/s",
        CALLS as f64 / took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

#[test]
fn ten_thousand_calls_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    check(&greet_manifest(dir.path(), &tcp(free_port()), "", ""), 1);
}

#[test]
fn ten_thousand_calls_over_unix() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"{ transport = "unix", path = "b.sock" }"#;
    check(&greet_manifest(dir.path(), endpoint, "", ""), 1);
}

#[test]
fn ten_thousand_calls_over_nats_on_two_replicas() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    check(
        &greet_manifest(dir.path(), &nats(broker.url(), "load"), "", ""),
        2,
    );
}

#[test]
fn ten_thousand_calls_over_quic() {
    let dir = tempfile::tempdir().unwrap();
    weld_fixtures::tls::identities(dir.path(), "ca", &["a", "b"]);
    let endpoint = crate::quic::endpoint(free_port());
    check(&greet_manifest(dir.path(), &endpoint, "", ""), 1);
}
