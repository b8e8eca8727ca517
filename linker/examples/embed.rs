//! Embedding weld: a deployment built from bytes in memory, one import the
//! application defines itself, and an export called through it.
//!
//! The bundled `driver` component imports `demo:math/adder@0.1.0`. Here no
//! component provides it: the application does, with host functions that
//! keep their own state in the store (a call counter and an offset that
//! marks every sum as the application's). `driver.add-once(20, 22)` then
//! returns 42 + 1000, produced through the application's `add`.
//!
//! ```sh
//! cargo run --release -p weld-linker --example embed
//! ```

use wasmtime::component::Val;
use wasmtime::error::Context as _;
use wasmtime::StoreContextMut;
use weld_linker::runtime::host::HostState;
use weld_linker::runtime::{HostImports, Runtime, RuntimeOptions};
use weld_linker::{Deployment, PlanOptions};

/// The application's own state, kept in each store.
struct Adder {
    offset: u32,
    calls: u32,
}

const ADDER: &str = "demo:math/adder@0.1.0";

fn main() -> anyhow::Result<()> {
    // Bytes the application already holds (here: the bundled fixture).
    let driver = weld_fixtures::bytes("driver");
    let deployment = Deployment::from_memory(
        "[components.driver]\n",
        [("driver".to_string(), driver)],
        &PlanOptions {
            provided: vec![ADDER.to_string()],
            ..PlanOptions::default()
        },
    )
    .map_err(|d| anyhow::anyhow!("{d}"))?;
    for r in deployment.plan.imports_of("driver") {
        if r.import == ADDER {
            println!("plan: `driver` imports `{}`: {}", r.import, r.reason);
        }
    }

    let imports = HostImports::new(|linker| {
        let mut adder = linker.instance(ADDER)?;
        adder.func_wrap(
            "add",
            |mut store: StoreContextMut<'_, HostState>, (a, b): (u32, u32)| {
                let state = store
                    .data_mut()
                    .extension::<Adder>()
                    .context("the store carries no `Adder`")?;
                state.calls += 1;
                Ok((a.wrapping_add(b).wrapping_add(state.offset),))
            },
        )?;
        adder.func_wrap(
            "echo",
            |_: StoreContextMut<'_, HostState>, (s,): (String,)| Ok((s,)),
        )?;
        adder.func_wrap(
            "sum",
            |_: StoreContextMut<'_, HostState>, (xs,): (Vec<u8>,)| {
                Ok((xs.iter().map(|&x| u64::from(x)).sum::<u64>(),))
            },
        )?;
        Ok(())
    });
    let runtime = Runtime::new(
        &deployment,
        &RuntimeOptions {
            imports: Some(imports),
            ..RuntimeOptions::default()
        },
    )?;
    let mut app = runtime.instantiate_with(Some(Box::new(Adder {
        offset: 1000,
        calls: 0,
    })))?;
    let results = app.call("driver", "add-once", &[Val::U32(20), Val::U32(22)])?;
    let calls = app
        .store()
        .data_mut()
        .extension::<Adder>()
        .map_or(0, |a| a.calls);
    println!(
        "driver.add-once(20, 22) = {} (through the application's adder, {calls} call)",
        weld_linker::runtime::invoke::format_results(&results)
    );
    Ok(())
}
