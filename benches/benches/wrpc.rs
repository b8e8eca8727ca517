//! wRPC call latency on loopback, per transport: `driver` on host `a` loops
//! `n` calls into `adder` on host `b`, served by `weld serve` on a thread of
//! this process. Every call is a real round trip through weld's stub, the
//! transport and the server, so time per iteration is one remote call.
//!
//! The groups match `calls.rs` (`add`, `echo-32B`, `echo-1KiB`,
//! `sum-list-64KiB`), so criterion's report puts the wRPC series beside the
//! in-process ones. `add` also has the `per-call` server over TCP (a store
//! from the pool per call), and each transport's floor in the same run: a
//! bare exchange of 5 bytes on a fresh TCP or Unix connection, and a bare
//! `async-nats` request/reply through the same broker.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use wasmtime::component::Val;
use weld_benches::series::{serve_pair, tcp_endpoint};
use weld_linker::runtime::Deployed;

/// One transport: its name and the `wrpc = ...` table of host `b`.
fn transports(dir: &std::path::Path, nats_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("tcp", tcp_endpoint()),
        (
            "unix",
            format!(
                r#"{{ transport = "unix", path = {:?} }}"#,
                dir.join("b.sock").display().to_string()
            ),
        ),
        (
            "nats",
            format!(r#"{{ transport = "nats", url = "{nats_url}", prefix = "bench" }}"#),
        ),
    ]
}

fn wrpc(c: &mut Criterion) {
    let nats = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let s32 = "0123456789abcdef0123456789abcdef".to_string();
    let s1k = "x".repeat(1024);
    for (transport, endpoint) in transports(dir.path(), nats.url()) {
        let (server, mut app) = serve_pair(dir.path(), &endpoint, "");
        let mut group = remote_group(c, "add", 20);
        bench_add(&mut group, BenchmarkId::new("wrpc", transport), &mut app);
        floor(&mut group, transport, dir.path(), nats.url());
        group.finish();

        for (group_name, text) in [("echo-32B", &s32), ("echo-1KiB", &s1k)] {
            let mut group = remote_group(c, group_name, 20);
            let (func, _) = app.func("driver", "run-echo").unwrap();
            // Written by each call; allocated once, outside the timing.
            let mut out = [Val::U64(0)];
            group.bench_function(BenchmarkId::new("wrpc", transport), |b| {
                weld_benches::bench_wasm_loop(b, |n| {
                    func.call(
                        app.store(),
                        &[Val::U32(n), Val::String(text.clone())],
                        &mut out,
                    )
                    .unwrap()
                })
            });
            group.finish();
        }

        let mut group = remote_group(c, "sum-list-64KiB", 10);
        let (func, _) = app.func("driver", "run-sum").unwrap();
        let typed = func.typed::<(u32, u32), (u64,)>(app.store()).unwrap();
        group.bench_function(BenchmarkId::new("wrpc", transport), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n, 65536)).unwrap())
        });
        group.finish();
        drop(app);
        server.stop().unwrap_or_else(|e| panic!("{e}"));
    }
}

/// The floor of `transport` in `group`: a bare exchange of 5 bytes on a
/// fresh connection (TCP, Unix) or a bare request/reply (NATS).
fn floor(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    transport: &str,
    dir: &std::path::Path,
    nats_url: &str,
) {
    let data = [7u8; 5];
    let mut back = Vec::new();
    let id = BenchmarkId::new("floor", transport);
    match transport {
        "tcp" => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            weld_benches::echo_server(std::iter::from_fn(move || {
                Some(listener.accept().map(|(s, _)| s))
            }));
            group.bench_function(id, |b| {
                b.iter(|| {
                    let c = std::net::TcpStream::connect(addr).unwrap();
                    c.set_nodelay(true).unwrap();
                    weld_benches::exchange(c, &data, &mut back).unwrap()
                })
            });
        }
        "unix" => {
            let path = dir.join("floor.sock");
            let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            weld_benches::echo_server(std::iter::from_fn(move || {
                Some(listener.accept().map(|(s, _)| s))
            }));
            group.bench_function(id, |b| {
                b.iter(|| {
                    let c = std::os::unix::net::UnixStream::connect(&path).unwrap();
                    weld_benches::exchange(c, &data, &mut back).unwrap()
                })
            });
        }
        _ => {
            use futures::StreamExt as _;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let (requester, subject) = rt.block_on(async {
                let responder = async_nats::connect(nats_url).await.unwrap();
                let requester = async_nats::connect(nats_url).await.unwrap();
                let mut requests = responder.subscribe("weld-bench.floor").await.unwrap();
                // `flush` only writes the socket: an echo through the server
                // proves it has the subscription before the first request.
                weld_linker::wrpc::nats::settle(&responder).await.unwrap();
                tokio::spawn(async move {
                    while let Some(m) = requests.next().await {
                        if let Some(reply) = m.reply {
                            let _ = responder.publish(reply, m.payload).await;
                        }
                    }
                });
                (requester, "weld-bench.floor")
            });
            let payload = bytes::Bytes::from_static(&[7; 9]);
            group.bench_function(id, |b| {
                b.iter(|| {
                    rt.block_on(requester.request(subject, payload.clone()))
                        .unwrap()
                })
            });
        }
    }
}

/// `add` over TCP against a `per-call` server: a store per call, from the
/// pool, made ahead of the call.
fn per_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (server, mut app) = serve_pair(dir.path(), &tcp_endpoint(), "instances = \"per-call\"\n");
    let mut group = remote_group(c, "add", 20);
    bench_add(
        &mut group,
        BenchmarkId::new("wrpc-per-call", "tcp"),
        &mut app,
    );
    group.finish();
    drop(app);
    server.stop().unwrap_or_else(|e| panic!("{e}"));
}

/// A group of remote calls: 3 s of measurement after 1 s of warm-up.
fn remote_group<'c>(
    c: &'c mut Criterion,
    name: &str,
    samples: usize,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(samples);
    group
}

/// Times `driver.run-add` as `id`.
fn bench_add(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    app: &mut Deployed,
) {
    let (func, _) = app.func("driver", "run-add").unwrap();
    let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
    group.bench_function(id, |b| {
        weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
    });
}

criterion_group!(benches, wrpc, per_call);
criterion_main!(benches);
