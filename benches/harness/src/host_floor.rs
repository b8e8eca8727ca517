//! The two floors of a host-linked call, measured wherever the call is: a
//! host-linked `add` is wasmtime's typed host import ([`HostImport`]) that
//! makes one typed entry from the host into the callee ([`HostEntry`]), so
//! the two summed are what it cannot go below. The criterion benches, the
//! cost gate (`weld-benches`) and `weld bench`'s matrix all use these, so
//! every table measures the same floor.
//!
//! Both panic on a deployment without the bundled `driver` → `adder` shape:
//! they are bench set-up, not a user path.

use wasmtime::component::{Component, Instance, Linker, TypedFunc};
use wasmtime::Store;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::{engine, EngineSettings};
use weld_linker::runtime::host::{add_host_interfaces, HostState};
use weld_linker::runtime::{Deployed, Runtime, RuntimeOptions};
use weld_linker::Deployment;

/// The interface `driver` imports and `adder` exports.
const ADDER: &str = "demo:math/adder@0.1.0";

/// wasmtime's own host-call floor: `driver` alone, its `adder` import
/// implemented by typed host functions (`func_wrap`), no second component.
pub struct HostImport {
    store: Store<HostState>,
    instance: Instance,
}

impl HostImport {
    /// `driver` of `deployment`, instantiated in an engine of `settings`.
    pub fn new(settings: EngineSettings, deployment: &Deployment, driver: &str) -> HostImport {
        let engine = engine(settings).unwrap_or_else(|e| panic!("{e}"));
        let component = Component::new(&engine, &deployment.bytes(driver)[..])
            .unwrap_or_else(|e| panic!("{e}"));
        let mut linker: Linker<HostState> = Linker::new(&engine);
        add_host_interfaces(&mut linker, &[], false).unwrap_or_else(|e| panic!("{e}"));
        let mut adder = linker.instance(ADDER).unwrap_or_else(|e| panic!("{e}"));
        adder
            .func_wrap("add", |_, (a, b): (u32, u32)| Ok((a.wrapping_add(b),)))
            .unwrap_or_else(|e| panic!("{e}"));
        adder
            .func_wrap("echo", |_, (s,): (String,)| Ok((s,)))
            .unwrap_or_else(|e| panic!("{e}"));
        adder
            .func_wrap("sum", |_, (xs,): (Vec<u8>,)| {
                Ok((xs.iter().map(|&x| u64::from(x)).sum::<u64>(),))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let state = HostState::new(&deployment.manifest, &[], &Default::default(), 0)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut store = Store::new(&engine, state);
        let instance = linker
            .instantiate(&mut store, &component)
            .unwrap_or_else(|e| panic!("{e}"));
        HostImport { store, instance }
    }

    /// `driver.run-add`, typed: `n` calls of the host's `add` inside wasm.
    pub fn run_add(&mut self) -> TypedFunc<(u32,), (u32,)> {
        let runner = self
            .instance
            .get_export_index(&mut self.store, None, "demo:math/runner@0.1.0")
            .expect("driver exports demo:math/runner");
        let f = self
            .instance
            .get_export_index(&mut self.store, Some(&runner), "run-add")
            .expect("driver exports run-add");
        self.instance
            .get_typed_func::<(u32,), (u32,)>(&mut self.store, &f)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The store the typed functions run in.
    pub fn store(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }
}

/// The other half of a host-linked call's floor: the host calling the
/// callee's `add` directly through a typed function, one entry into a
/// component per call.
pub struct HostEntry {
    app: Deployed,
    add: TypedFunc<(u32, u32), (u32,)>,
}

impl HostEntry {
    /// `adder` of `deployment` in its own unit, instantiated alone, in an
    /// engine of `settings`.
    pub fn new(settings: EngineSettings, deployment: &Deployment, adder: &str) -> HostEntry {
        let rt = Runtime::new(
            deployment,
            &RuntimeOptions {
                // Every component its own unit, so `adder` instantiates alone.
                strategy: Some(Strategy::HostLinked),
                engine: Some(settings),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut app = rt.instantiate_for(adder).unwrap_or_else(|e| panic!("{e}"));
        let (func, _) = app.func(adder, "add").unwrap_or_else(|e| panic!("{e}"));
        let add = func
            .typed::<(u32, u32), (u32,)>(app.store())
            .unwrap_or_else(|e| panic!("{e}"));
        HostEntry { app, add }
    }

    /// `n` calls of `add` from the host, each result fed to the next (as
    /// `run-add` does inside wasm).
    pub fn run(&mut self, n: u32) -> u32 {
        let mut acc = 0;
        for _ in 0..n {
            acc = self
                .add
                .call(self.app.store(), (acc, 1))
                .unwrap_or_else(|e| panic!("{e}"))
                .0;
        }
        acc
    }
}
