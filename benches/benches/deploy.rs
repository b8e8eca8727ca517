//! Deploy-time costs of the bundled example: plan, compose, compile (cold
//! and cached), instantiate warm (`InstancePre` reused); and what a live
//! host pays to apply a changed plan (`Live::apply` until the first call
//! is answered by the new version).

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

/// greet-caller on `a` → greet on `b` over TCP `port`, greet answering as
/// `version`, written to `dir`.
fn versioned(dir: &std::path::Path, port: u16, version: u32) -> Deployment {
    let toml = format!(
        "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\n\
         [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
         [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\n\
         [hosts.b]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\n"
    );
    let manifest = weld_fixtures::write_manifest(dir, &toml);
    Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"))
}

/// A changed component applied to a serving host, until a call is answered
/// by it (its bytes unchanged: the compile is a cache hit); and a plan
/// with nothing changed (every crew kept).
fn live(c: &mut Criterion) {
    use wasmtime::component::Val;
    use weld_linker::serve::{Live, ServeOptions, Server};
    let port = weld_fixtures::peer::free_port();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let plans: Vec<Deployment> = (1..=3)
        .map(|v| versioned(dirs[v as usize - 1].path(), port, v))
        .collect();
    let live = Live::new();
    let mut options = ServeOptions::new("b");
    options.live = Some(live.clone());
    let server = Server::new(&plans[0], options)
        .and_then(Server::spawn)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(
        &plans[0],
        &RuntimeOptions {
            host: Some("a".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut caller = rt.instantiate().unwrap();
    let answer = |d: &mut weld_linker::runtime::Deployed| -> String {
        match d
            .call("greet-caller", "front.greet", &[Val::String("x".into())])
            .unwrap()
            .as_slice()
        {
            [Val::String(s)] => s.clone(),
            other => panic!("{other:?}"),
        }
    };
    let mut group = c.benchmark_group("live");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let mut next = 1;
    group.bench_function("apply a changed component, to its first call", |b| {
        b.iter(|| {
            next = 3 - next; // 2, 1, 2, …: versions 3 and 2
            live.apply(&plans[next]).unwrap();
            let want = format!("ok: hello, x (v{})", next + 1);
            assert_eq!(answer(&mut caller), want, "the first call after the apply");
        })
    });
    group.bench_function("apply an unchanged plan (every crew kept)", |b| {
        b.iter(|| live.apply(&plans[next]).unwrap())
    });
    group.finish();
    server.stop().unwrap_or_else(|e| panic!("{e}"));
}

criterion_group!(benches, deploy, live);
criterion_main!(benches);
