//! What counting calls costs (`weld serve --metrics`, an embedder's
//! `Observer`): `driver.run-add(n)` loops `n` calls of `adder.add`, each
//! series measured twice in one run, without an observer and with one on
//! both sides of the link. A host-linked call records its time (two clock
//! reads, four atomic additions); a wRPC call records it on the stub and
//! on the served side.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use weld_benches::series::{run_add, runtime_observed, serve_pair_observed, tcp_endpoint};
use weld_linker::manifest::Strategy;
use weld_linker::observe::Observer;
use weld_linker::Deployment;

/// Off, then on.
const MODES: [&str; 2] = ["off", "on"];

fn observer(mode: &str) -> Option<Observer> {
    (mode == "on").then(Observer::new)
}

fn host_linked(c: &mut Criterion) {
    let (_dir, manifest) = weld_benches::adder_manifest("adder");
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("observe-add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for mode in MODES {
        let rt = runtime_observed(&deployment, Strategy::HostLinked, true, observer(mode));
        let (mut app, typed) = run_add(&rt);
        group.bench_function(BenchmarkId::new("host-linked", mode), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
        });
    }
    group.finish();
}

fn wrpc(c: &mut Criterion) {
    let nats = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = [
        ("tcp", tcp_endpoint()),
        (
            "unix",
            format!(
                r#"{{ transport = "unix", path = {:?} }}"#,
                dir.path().join("b.sock").display().to_string()
            ),
        ),
        (
            "nats",
            format!(
                r#"{{ transport = "nats", url = "{}", prefix = "bench" }}"#,
                nats.url()
            ),
        ),
    ];
    let mut group = c.benchmark_group("observe-add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for (transport, endpoint) in &endpoints {
        for mode in MODES {
            let (server, mut app) = serve_pair_observed(dir.path(), endpoint, "", observer(mode));
            let (func, _) = app.func("driver", "run-add").unwrap();
            let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
            let id = BenchmarkId::new(format!("wrpc-{transport}"), mode);
            group.bench_function(id, |b| {
                weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
            });
            drop(app);
            server.stop().unwrap_or_else(|e| panic!("{e}"));
        }
    }
    group.finish();
}

criterion_group!(benches, host_linked, wrpc);
criterion_main!(benches);
