//! Call latency: one WIT call from the `driver` component into `adder`, per
//! transport, against a native Rust call as the floor.
//!
//! Each measurement is driven from inside wasm: `run-add(n)` loops `n` calls,
//! so criterion's "time per iteration" is the cost of one component-to-
//! component call (host entry is paid once per sample, not per call).

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::Duration;
use wasmtime::component::Val;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::Deployment;

use weld_benches::series::{runtime, SERIES};
use weld_benches::{native_add, native_echo, native_sum};
use weld_benches::{HostEntry, HostImport};

/// One bench per series of `component.function(n: u32) -> u32`, a loop
/// inside wasm making `n` component calls: time per iteration = per call.
fn loop_per_series(
    group: &mut BenchmarkGroup<'_, WallTime>,
    deployment: &Deployment,
    component: &str,
    function: &str,
) {
    for (name, strategy, tuned) in SERIES {
        let rt = runtime(deployment, strategy, tuned);
        let mut app = rt.instantiate().unwrap();
        let (func, _) = app.func(component, function).unwrap();
        let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
        group.bench_function(BenchmarkId::new("in-process", name), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
        });
    }
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
    loop_per_series(&mut group, &deployment, "driver", "run-add");
    group.finish();

    let s32 = "0123456789abcdef0123456789abcdef".to_string();
    let s1k = "x".repeat(1024);
    for (group_name, text) in [("echo-32B", &s32), ("echo-1KiB", &s1k)] {
        let mut group = c.benchmark_group(group_name);
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1));
        group.bench_function("native", |b| b.iter(|| native_echo(black_box(text))));
        for (name, strategy, tuned) in SERIES {
            let rt = runtime(&deployment, strategy, tuned);
            let mut app = rt.instantiate().unwrap();
            let (func, _) = app.func("driver", "run-echo").unwrap();
            // Written by each call; allocated once, outside the timing.
            let mut out = [Val::U64(0)];
            group.bench_function(BenchmarkId::new("in-process", name), |b| {
                weld_benches::bench_wasm_loop(b, |n| {
                    func.call(
                        app.store(),
                        &[Val::U32(n), Val::String(text.clone())],
                        &mut out,
                    )
                    .unwrap()
                })
            });
        }
        group.finish();
    }

    // A 64 KiB list<u8> summed by the callee: `run-sum` builds the list once
    // and passes it `n` times.
    let list: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let mut group = c.benchmark_group("sum-list-64KiB");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    group.bench_function("native", |b| b.iter(|| native_sum(black_box(&list))));
    for (name, strategy, tuned) in SERIES {
        let rt = runtime(&deployment, strategy, tuned);
        let mut app = rt.instantiate().unwrap();
        let (func, _) = app.func("driver", "run-sum").unwrap();
        let typed = func.typed::<(u32, u32), (u64,)>(app.store()).unwrap();
        group.bench_function(BenchmarkId::new("in-process", name), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n, 65536)).unwrap())
        });
    }
    group.finish();
}

/// A bucket created, `len` called and dropped: three crossings per
/// iteration (constructor, method, destructor), resources proxied on the
/// host-linked path.
fn resources(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = weld_fixtures::write_manifest(
        dir.path(),
        "[components.kv]\npath = \"{kv}\"\n[components.app]\npath = \"{kv-consumer}\"\n",
    );
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("resource-create-len-drop");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    loop_per_series(&mut group, &deployment, "app", "run-resource");
    group.finish();
}

/// The two floors of a host-linked `add`: wasmtime's own host import
/// (`driver`'s `add` import implemented by a typed host function,
/// `func_wrap`, no second component) and a typed call from the host into
/// `adder` (one entry per call).
fn host_floors(c: &mut Criterion) {
    let (_dir, manifest) = weld_benches::adder_manifest("adder");
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, settings) in [
        ("tuned", EngineSettings::default()),
        ("default-config", EngineSettings::wasmtime_default()),
    ] {
        let mut floor = HostImport::new(settings, &deployment, "driver");
        let typed = floor.run_add();
        group.bench_function(BenchmarkId::new("host-import", name), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(floor.store(), (n,)).unwrap())
        });
        let mut entry = HostEntry::new(settings, &deployment, "adder");
        group.bench_function(BenchmarkId::new("host-entry", name), |b| {
            weld_benches::bench_wasm_loop(b, |n| entry.run(n))
        });
    }
    group.finish();
}

criterion_group!(benches, calls, resources, host_floors);
criterion_main!(benches);
