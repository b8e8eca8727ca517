//! Call latency: one WIT call from the `driver` component into `adder`, per
//! transport, against a native Rust call as the floor.
//!
//! Each measurement is driven from inside wasm: `run-add(n)` loops `n` calls,
//! so criterion's "time per iteration" is the cost of one component-to-
//! component call (host entry is paid once per sample, not per call).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::Deployment;

use weld_linker::bench::{native_add, native_echo};

const SERIES: [(&str, Strategy, bool); 4] = [
    ("fused-tuned", Strategy::Fused, true),
    ("fused-default-config", Strategy::Fused, false),
    ("host-linked-tuned", Strategy::HostLinked, true),
    ("host-linked-default-config", Strategy::HostLinked, false),
];

fn runtime(deployment: &Deployment, strategy: Strategy, tuned: bool) -> Runtime {
    let engine = if tuned {
        EngineSettings::default()
    } else {
        EngineSettings::wasmtime_default()
    };
    Runtime::new(
        deployment,
        &RuntimeOptions {
            strategy: Some(strategy),
            engine: Some(engine),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn calls(c: &mut Criterion) {
    let (_dir, manifest) = weld_benches::adder_manifest("adder");
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));

    let mut group = c.benchmark_group("add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("native", |b| {
        b.iter(|| native_add(black_box(1), black_box(2)));
    });
    for (name, strategy, tuned) in SERIES {
        let rt = runtime(&deployment, strategy, tuned);
        let mut app = rt.instantiate().unwrap();
        let (func, _) = app.func("driver", "run-add").unwrap();
        let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
        group.bench_function(BenchmarkId::new("in-process", name), |b| {
            b.iter_custom(|iters| {
                let n = u32::try_from(iters).unwrap_or(u32::MAX);
                let start = Instant::now();
                black_box(typed.call(app.store(), (n,)).unwrap());
                start.elapsed()
            })
        });
    }
    group.finish();

    let s32 = "0123456789abcdef0123456789abcdef";
    let mut group = c.benchmark_group("echo-32B");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("native", |b| b.iter(|| native_echo(black_box(s32))));
    for (name, strategy, tuned) in SERIES {
        let rt = runtime(&deployment, strategy, tuned);
        let mut app = rt.instantiate().unwrap();
        let (func, _) = app.func("driver", "run-echo").unwrap();
        group.bench_function(BenchmarkId::new("in-process", name), |b| {
            b.iter_custom(|iters| {
                let n = u32::try_from(iters).unwrap_or(u32::MAX);
                let mut out = [Val::U64(0)];
                let start = Instant::now();
                func.call(
                    app.store(),
                    &[Val::U32(n), Val::String(s32.into())],
                    &mut out,
                )
                .unwrap();
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
