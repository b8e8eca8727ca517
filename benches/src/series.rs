//! The series the criterion benches and the cost gate (`tests/cost_gate.rs`)
//! both measure, set up in one place: the in-process strategies and a
//! `driver` → `adder` pair served over wRPC. The two floors of a
//! host-linked call are in `host_floor.rs`, shared with `weld bench`.

use wasmtime::component::TypedFunc;
use weld_linker::manifest::Strategy;
use weld_linker::observe::Observer;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::runtime::{Deployed, Runtime, RuntimeOptions};
use weld_linker::serve::{Background, ServeOptions, Server};
use weld_linker::Deployment;

/// The in-process series: name, strategy, and whether the engine is weld's
/// tuned one (else wasmtime's default config).
pub const SERIES: [(&str, Strategy, bool); 4] = [
    ("fused-tuned", Strategy::Fused, true),
    ("fused-default-config", Strategy::Fused, false),
    ("host-linked-tuned", Strategy::HostLinked, true),
    ("host-linked-default-config", Strategy::HostLinked, false),
];

/// A runtime of `deployment` with every link forced to `strategy`.
pub fn runtime(deployment: &Deployment, strategy: Strategy, tuned: bool) -> Runtime {
    runtime_observed(deployment, strategy, tuned, None)
}

/// [`runtime`], its links' calls counted in `observer` when given.
pub fn runtime_observed(
    deployment: &Deployment,
    strategy: Strategy,
    tuned: bool,
    observer: Option<Observer>,
) -> Runtime {
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
            observer,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// `driver.run-add(n)` of an instance of `rt`, typed: `n` calls of `add`
/// inside wasm.
pub fn run_add(rt: &Runtime) -> (Deployed, TypedFunc<(u32,), (u32,)>) {
    let mut app = rt.instantiate().unwrap_or_else(|e| panic!("{e}"));
    let (func, _) = app.func("driver", "run-add").unwrap();
    let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
    (app, typed)
}

/// `driver` on host `a` calling `adder` on host `b` (with `adder_extra`
/// added to its manifest table) over `endpoint`; `b` served on a thread.
/// Returns the server and a store of host `a`.
pub fn serve_pair(
    dir: &std::path::Path,
    endpoint: &str,
    adder_extra: &str,
) -> (Background, Deployed) {
    serve_pair_observed(dir, endpoint, adder_extra, None)
}

/// [`serve_pair`], the calls of both sides counted in `observer` when
/// given.
pub fn serve_pair_observed(
    dir: &std::path::Path,
    endpoint: &str,
    adder_extra: &str,
    observer: Option<Observer>,
) -> (Background, Deployed) {
    let manifest = weld_fixtures::write_manifest(
        dir,
        &weld_fixtures::pair_manifest("adder", Some(endpoint))
            .replace("host = \"b\"\n", &format!("host = \"b\"\n{adder_extra}")),
    );
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let mut options = ServeOptions::new("b");
    options.observer.clone_from(&observer);
    let server = Server::new(&deployment, options)
        .and_then(Server::spawn)
        .unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(
        &deployment,
        &RuntimeOptions {
            host: Some("a".into()),
            observer,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (server, rt.instantiate().unwrap())
}

/// `tcp` at a free loopback port, as a host's `wrpc = ...` table.
pub fn tcp_endpoint() -> String {
    let port = weld_fixtures::peer::free_port();
    format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#)
}
