//! `weld compose` output run in wasmtime gives the same results as the
//! planner's other transports (host-linked in-process calls).

use wasmtime::component::{Linker, Val};
use wasmtime::Store;
use weld_linker::fuse::{fuse, FuseOptions};
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::{engine, EngineSettings};
use weld_linker::runtime::host::{add_host_interfaces, HostState};
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::Deployment;

fn deployment(toml: &str) -> (tempfile::TempDir, Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let path = weld_fixtures::write_manifest(dir.path(), toml);
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, d)
}

/// Calls `iface#func` on the composed component of `d`.
fn run_composed(d: &Deployment, calls: &[(&str, &str, Vec<Val>)]) -> Vec<Vec<Val>> {
    let composed = fuse(d, &FuseOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    weld_compose::validate(&composed.bytes).unwrap();
    let engine = engine(EngineSettings::default()).unwrap();
    let component = wasmtime::component::Component::new(&engine, &composed.bytes).unwrap();
    let mut linker: Linker<HostState> = Linker::new(&engine);
    add_host_interfaces(&mut linker, &[], false).unwrap();
    let names: Vec<String> = d.plan.components.iter().map(|c| c.name.clone()).collect();
    let mut store = Store::new(
        &engine,
        HostState::new(&d.manifest, &names, &Default::default(), 0).unwrap(),
    );
    let instance = linker.instantiate(&mut store, &component).unwrap();
    calls
        .iter()
        .map(|(iface, func, params)| {
            let i = instance
                .get_export_index(&mut store, None, iface)
                .unwrap_or_else(|| panic!("no export {iface}"));
            let f = instance
                .get_export_index(&mut store, Some(&i), func)
                .unwrap();
            let f = instance.get_func(&mut store, f).unwrap();
            let mut results = vec![Val::Bool(false); f.ty(&store).results().len()];
            f.call(&mut store, params, &mut results).unwrap();
            results
        })
        .collect()
}

/// The same calls through the host-linked runtime.
fn run_host_linked(d: &Deployment, calls: &[(&str, &str, &str, Vec<Val>)]) -> Vec<Vec<Val>> {
    let rt = Runtime::new(
        d,
        &RuntimeOptions {
            strategy: Some(Strategy::HostLinked),
            ..Default::default()
        },
    )
    .unwrap();
    let mut app = rt.instantiate().unwrap();
    calls
        .iter()
        .map(|(c, iface, f, p)| app.call(c, &format!("{iface}#{f}"), p).unwrap())
        .collect()
}

#[test]
fn adder_driver_composed_matches_host_linked() {
    let (_dir, d) = deployment(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n",
    );
    let r = "demo:math/runner@0.1.0";
    let calls = [
        ("driver", r, "add-once", vec![Val::U32(7), Val::U32(8)]),
        ("driver", r, "run-add", vec![Val::U32(999)]),
        (
            "driver",
            r,
            "echo-once",
            vec![Val::String("ünïcode ✓".into())],
        ),
        (
            "driver",
            r,
            "sum-once",
            vec![Val::List(vec![Val::U8(200), Val::U8(100)])],
        ),
    ];
    let composed = run_composed(
        &d,
        &calls
            .iter()
            .map(|(_, i, f, p)| (*i, *f, p.clone()))
            .collect::<Vec<_>>(),
    );
    let linked = run_host_linked(&d, &calls);
    assert_eq!(composed, linked);
    assert_eq!(composed[0], [Val::U32(15)]);
    assert_eq!(composed[3], [Val::U64(300)]);
}

#[test]
fn chain_composes_transitively() {
    let (_dir, d) = deployment(
        "[components.a]\npath = \"{chain-a}\"\n[components.b]\npath = \"{chain-b}\"\n[components.c]\npath = \"{chain-c}\"\n",
    );
    let composed = fuse(&d, &FuseOptions::default()).unwrap();
    // b's own import is satisfied inside: nothing but WASI is left.
    assert!(
        composed.imports.iter().all(|i| i.starts_with("wasi:")),
        "{:?}",
        composed.imports
    );
    assert_eq!(
        composed.exports,
        [("demo:chain/a-api@0.1.0".to_string(), "a".to_string())]
    );
    let calls = [(
        "a",
        "demo:chain/a-api@0.1.0",
        "run",
        vec![Val::String("x".into())],
    )];
    let out = run_composed(&d, &[(calls[0].1, calls[0].2, calls[0].3.clone())]);
    assert_eq!(out, run_host_linked(&d, &calls));
    assert_eq!(out[0], [Val::String("a[X]".into())]);
}

#[test]
fn kv_resources_cross_the_composition_and_destructors_run() {
    let (_dir, d) = deployment("[components.kv]\npath = \"{kv}\"\n[components.app]\npath = \"{kv-consumer}\"\n[compose]\nexports = [\"app\", \"kv\"]\n");
    let app = "demo:kv/app@0.1.0";
    let calls = [
        (
            "app",
            app,
            "exercise",
            vec![Val::String("b".into()), Val::U32(4)],
        ),
        ("app", app, "drops", vec![]),
        ("kv", "demo:kv/store@0.1.0", "dropped", vec![]),
    ];
    let composed = run_composed(
        &d,
        &calls
            .iter()
            .map(|(_, i, f, p)| (*i, *f, p.clone()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(composed, run_host_linked(&d, &calls));
    assert_eq!(composed[0], [Val::String("b:4:value0".into())]);
    assert_eq!(composed[1], [Val::U32(1)]);
    assert_eq!(composed[2], [Val::U32(1)]);
}

#[test]
fn semver_compatible_exports_compose() {
    let (_dir, d) = deployment(
        "[components.driver]\npath = \"{driver}\"\n[components.next]\npath = \"{adder-next}\"\n",
    );
    let out = run_composed(
        &d,
        &[(
            "demo:math/runner@0.1.0",
            "add-once",
            vec![Val::U32(1), Val::U32(2)],
        )],
    );
    assert_eq!(out[0], [Val::U32(3)]);
}

#[test]
fn composition_is_deterministic() {
    let root = weld_fixtures::workspace_root();
    let d = Deployment::load(&root.join("examples/demo/weld.toml")).unwrap();
    let a = fuse(&d, &FuseOptions::default()).unwrap();
    let b = fuse(&d, &FuseOptions::default()).unwrap();
    assert_eq!(a.bytes, b.bytes);
    assert_eq!(a.wac, b.wac);
}

#[test]
fn only_composes_a_sub_graph() {
    let root = weld_fixtures::workspace_root();
    let d = Deployment::load(&root.join("examples/demo/weld.toml")).unwrap();
    let c = fuse(
        &d,
        &FuseOptions {
            only: Some(vec!["chain-a".into(), "chain-b".into()]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.fused, ["chain-b", "chain-a"]);
    // c is outside the selection: b's import of it stays an import.
    assert!(
        c.imports.contains(&"demo:chain/c-api@0.1.0".to_string()),
        "{:?}",
        c.imports
    );
    let err = fuse(
        &d,
        &FuseOptions {
            only: Some(vec!["nope".into()]),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown component `nope`"),
        "{err}"
    );
}

#[test]
fn several_hosts_need_a_choice() {
    let root = weld_fixtures::workspace_root();
    let d = Deployment::load(&root.join("examples/two-hosts/weld.toml")).unwrap();
    let err = fuse(&d, &FuseOptions::default()).unwrap_err().to_string();
    assert!(
        err.contains("spans several hosts (`edge-1`, `edge-2`)"),
        "{err}"
    );
    let c = fuse(
        &d,
        &FuseOptions {
            host: Some("edge-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // The wrpc link stays an import of the composed component.
    assert!(
        c.imports.contains(&"demo:greet/greeter@0.1.0".to_string()),
        "{:?}",
        c.imports
    );
}
