//! The series the criterion benches and the cost gate (`tests/cost_gate.rs`)
//! both measure, set up in one place: the in-process strategies, the two
//! floors of a host-linked call (wasmtime's own host import, and a typed
//! call from the host into a component), and a `driver` → `adder` pair
//! served over wRPC.

use wasmtime::component::TypedFunc;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::runtime::host::HostState;
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

/// `driver.run-add(n)` of an instance of `rt`, typed: `n` calls of `add`
/// inside wasm.
pub fn run_add(rt: &Runtime) -> (Deployed, TypedFunc<(u32,), (u32,)>) {
    let mut app = rt.instantiate().unwrap_or_else(|e| panic!("{e}"));
    let (func, _) = app.func("driver", "run-add").unwrap();
    let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
    (app, typed)
}

/// wasmtime's own host-call floor: `driver` alone, its `adder` import
/// implemented by typed host functions (`func_wrap`), no second component.
pub struct HostImport {
    store: wasmtime::Store<HostState>,
    instance: wasmtime::component::Instance,
}

impl HostImport {
    /// `driver` instantiated in an engine of `settings`.
    pub fn new(settings: EngineSettings) -> HostImport {
        use wasmtime::component::{Component, Linker};
        use weld_linker::runtime::engine::engine;
        use weld_linker::runtime::host::add_host_interfaces;
        let engine = engine(settings).unwrap();
        let component = Component::from_file(&engine, weld_fixtures::path("driver")).unwrap();
        let mut linker: Linker<HostState> = Linker::new(&engine);
        add_host_interfaces(&mut linker, &[], false).unwrap();
        let mut adder = linker.instance("demo:math/adder@0.1.0").unwrap();
        adder
            .func_wrap("add", |_, (a, b): (u32, u32)| Ok((a.wrapping_add(b),)))
            .unwrap();
        adder
            .func_wrap("echo", |_, (s,): (String,)| Ok((s,)))
            .unwrap();
        adder
            .func_wrap("sum", |_, (xs,): (Vec<u8>,)| {
                Ok((xs.iter().map(|&x| u64::from(x)).sum::<u64>(),))
            })
            .unwrap();
        let (_dir, manifest) = crate::adder_manifest("adder");
        let d = Deployment::load(&manifest).unwrap();
        let mut store = wasmtime::Store::new(
            &engine,
            HostState::new(&d.manifest, &[], &Default::default(), 0).unwrap(),
        );
        let instance = linker.instantiate(&mut store, &component).unwrap();
        HostImport { store, instance }
    }

    /// `driver.run-add`, typed.
    pub fn run_add(&mut self) -> TypedFunc<(u32,), (u32,)> {
        let runner = self
            .instance
            .get_export_index(&mut self.store, None, "demo:math/runner@0.1.0")
            .unwrap();
        let f = self
            .instance
            .get_export_index(&mut self.store, Some(&runner), "run-add")
            .unwrap();
        self.instance
            .get_typed_func::<(u32,), (u32,)>(&mut self.store, &f)
            .unwrap()
    }

    /// The store the typed functions run in.
    pub fn store(&mut self) -> &mut wasmtime::Store<HostState> {
        &mut self.store
    }
}

/// The other half of a host-linked call's floor: the host calling
/// `adder`'s `add` directly through a typed function, one entry into a
/// component per call. A host-linked `add` is a host import (the
/// [`HostImport`] floor) that makes such an entry, so the two floors summed
/// are what it cannot go below.
pub struct HostEntry {
    app: Deployed,
    add: TypedFunc<(u32, u32), (u32,)>,
}

impl HostEntry {
    /// `adder` alone, in an engine of `settings`.
    pub fn new(settings: EngineSettings) -> HostEntry {
        let (_dir, manifest) = crate::adder_manifest("adder");
        let d = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
        let rt = Runtime::new(
            &d,
            &RuntimeOptions {
                // Its own unit, instantiated alone below.
                strategy: Some(Strategy::HostLinked),
                engine: Some(settings),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut app = rt
            .instantiate_for("adder")
            .unwrap_or_else(|e| panic!("{e}"));
        let (func, _) = app.func("adder", "add").unwrap();
        let add = func.typed::<(u32, u32), (u32,)>(app.store()).unwrap();
        HostEntry { app, add }
    }

    /// `n` calls of `add` from the host, each result fed to the next (as
    /// `run-add` does inside wasm).
    pub fn run(&mut self, n: u32) -> u32 {
        let mut acc = 0;
        for _ in 0..n {
            acc = self.add.call(self.app.store(), (acc, 1)).unwrap().0;
        }
        acc
    }
}

/// `driver` on host `a` calling `adder` on host `b` (with `adder_extra`
/// added to its manifest table) over `endpoint`; `b` served on a thread.
/// Returns the server and a store of host `a`.
pub fn serve_pair(
    dir: &std::path::Path,
    endpoint: &str,
    adder_extra: &str,
) -> (Background, Deployed) {
    let manifest = weld_fixtures::write_manifest(
        dir,
        &weld_fixtures::pair_manifest("adder", Some(endpoint))
            .replace("host = \"b\"\n", &format!("host = \"b\"\n{adder_extra}")),
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
    (server, rt.instantiate().unwrap())
}

/// `tcp` at a free loopback port, as a host's `wrpc = ...` table.
pub fn tcp_endpoint() -> String {
    let port = weld_fixtures::peer::free_port();
    format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#)
}
