//! Deploy-time costs of the bundled example: plan, compose, compile (cold
//! and cached), instantiate warm (`InstancePre` reused).

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use weld_linker::fuse::{fuse, FuseOptions};
use weld_linker::runtime::engine::{compile, engine, EngineSettings};
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::Deployment;

fn deploy(c: &mut Criterion) {
    let manifest = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("deploy");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.bench_function("plan (parse + introspect + check)", |b| {
        b.iter(|| Deployment::load(&manifest).unwrap())
    });
    group.bench_function("compose example", |b| {
        b.iter(|| fuse(&deployment, &FuseOptions::default()).unwrap())
    });
    let composed = fuse(&deployment, &FuseOptions::default()).unwrap();
    let engine = engine(EngineSettings::default()).unwrap();
    group.sample_size(10);
    group.bench_function("compile composed (cold)", |b| {
        b.iter(|| wasmtime::component::Component::new(&engine, &composed.bytes).unwrap())
    });
    group.sample_size(100);
    group.bench_function("compile composed (cached)", |b| {
        b.iter(|| compile(&engine, &composed.bytes).unwrap())
    });
    let rt = Runtime::new(&deployment, &RuntimeOptions::default()).unwrap();
    group.bench_function("instantiate example (warm, InstancePre)", |b| {
        b.iter(|| rt.instantiate().unwrap())
    });
    let pooled = Runtime::new(
        &deployment,
        &RuntimeOptions {
            engine: Some(EngineSettings {
                pooling: Some(weld_linker::runtime::engine::PoolLimits::BENCH),
                ..EngineSettings::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    group.bench_function("instantiate example (warm, InstancePre, pooling)", |b| {
        b.iter(|| pooled.instantiate().unwrap())
    });
    group.finish();
}

criterion_group!(benches, deploy);
criterion_main!(benches);
