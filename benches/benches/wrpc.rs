//! wRPC call latency on loopback, per transport: `driver` on host `a` loops
//! `n` calls into `adder` on host `b`, served by `weld serve` on a thread of
//! this process. Every call is a real round trip through weld's stub, the
//! transport and the server, so time per iteration is one remote call.
//!
//! The groups match `calls.rs` (`add`, `echo-32B`, `echo-1KiB`,
//! `sum-list-64KiB`), so criterion's report puts the wRPC series beside the
//! in-process ones.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use wasmtime::component::Val;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::serve::{ServeOptions, Server};
use weld_linker::Deployment;

/// One transport: its name and the `wrpc = ...` table of host `b`.
fn transports(dir: &std::path::Path, nats_url: &str) -> Vec<(&'static str, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    vec![
        (
            "tcp",
            format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#),
        ),
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
        let manifest = weld_fixtures::write_manifest(
            dir.path(),
            &weld_fixtures::pair_manifest("adder", Some(&endpoint)),
        );
        let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
        let server = Server::new(&deployment, ServeOptions::new("b"))
            .and_then(Server::spawn)
            .unwrap_or_else(|e| panic!("{e}"));
        let rt = Runtime::new(
            &deployment,
            &RuntimeOptions {
                host: Some("a".into()),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut app = rt.instantiate().unwrap();

        let mut group = c.benchmark_group("add");
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(20);
        let (func, _) = app.func("driver", "run-add").unwrap();
        let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
        group.bench_function(BenchmarkId::new("wrpc", transport), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
        });
        group.finish();

        for (group_name, text) in [("echo-32B", &s32), ("echo-1KiB", &s1k)] {
            let mut group = c.benchmark_group(group_name);
            group
                .measurement_time(Duration::from_secs(3))
                .warm_up_time(Duration::from_secs(1))
                .sample_size(20);
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

        let mut group = c.benchmark_group("sum-list-64KiB");
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(10);
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

criterion_group!(benches, wrpc);
criterion_main!(benches);
