//! The in-process runtime on real fixture components: the same invocations
//! give the same results under the fused and host-linked strategies.

use wasmtime::component::Val;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::{Runtime, RuntimeError, RuntimeOptions};
use weld_linker::Deployment;

/// A deployment from a manifest whose `{name}` placeholders are fixtures.
fn deployment(toml: &str) -> (tempfile::TempDir, Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let path = weld_fixtures::write_manifest(dir.path(), toml);
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, d)
}

fn runtime(d: &Deployment, strategy: Strategy) -> Runtime {
    Runtime::new(
        d,
        &RuntimeOptions {
            strategy: Some(strategy),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}: {:?}", std::error::Error::source(&e)))
}

const BOTH: [Strategy; 2] = [Strategy::Fused, Strategy::HostLinked];

const ADDER: &str =
    "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n";

#[test]
fn adder_driver_same_results_under_both_strategies() {
    let (_dir, d) = deployment(ADDER);
    let mut seen = Vec::new();
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        let add = app
            .call("driver", "add-once", &[Val::U32(2), Val::U32(40)])
            .unwrap();
        let run = app
            .call("driver", "runner.run-add", &[Val::U32(1000)])
            .unwrap();
        let echo = app
            .call("driver", "echo-once", &[Val::String("héllo, weld".into())])
            .unwrap();
        let sum = app
            .call(
                "driver",
                "demo:math/runner@0.1.0#sum-once",
                &[Val::List((0..=255u8).map(Val::U8).collect())],
            )
            .unwrap();
        let big = app
            .call("driver", "run-sum", &[Val::U32(3), Val::U32(65536)])
            .unwrap();
        seen.push((add, run, echo, sum, big));
    }
    assert_eq!(seen[0], seen[1]);
    let (add, run, echo, sum, big) = &seen[0];
    assert_eq!(add, &[Val::U32(42)]);
    assert_eq!(run, &[Val::U32(500)]);
    assert_eq!(echo, &[Val::String("héllo, weld".into())]);
    assert_eq!(sum, &[Val::U64(255 * 256 / 2)]);
    let per_list: u64 = (0..65536u32).map(|i| u64::from(i as u8)).sum();
    assert_eq!(big, &[Val::U64(3 * per_list)]);
}

#[test]
fn the_adder_itself_is_callable_too() {
    let (_dir, d) = deployment(ADDER);
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        assert_eq!(
            app.call("adder", "add", &[Val::U32(1), Val::U32(2)])
                .unwrap(),
            [Val::U32(3)]
        );
    }
}

#[test]
fn chain_is_transitive() {
    let (_dir, d) = deployment(
        "[components.a]\npath = \"{chain-a}\"\n[components.b]\npath = \"{chain-b}\"\n[components.c]\npath = \"{chain-c}\"\n",
    );
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        let out = app.call("a", "run", &[Val::String("weld".into())]).unwrap();
        assert_eq!(out, [Val::String("a[WELD]".into())], "{strategy:?}");
    }
}

#[test]
fn kv_resources_cross_links_and_destructors_run() {
    let (_dir, d) = deployment(
        "[components.kv]\npath = \"{kv}\"\n[components.app]\npath = \"{kv-consumer}\"\n",
    );
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        assert_eq!(app.call("app", "drops", &[]).unwrap(), [Val::U32(0)]);
        let out = app
            .call("app", "exercise", &[Val::String("b1".into()), Val::U32(3)])
            .unwrap();
        assert_eq!(out, [Val::String("b1:3:value0".into())], "{strategy:?}");
        let out = app
            .call("app", "exercise", &[Val::String("b2".into()), Val::U32(0)])
            .unwrap();
        assert_eq!(out, [Val::String("b2:0:none".into())], "{strategy:?}");
        // Both buckets were dropped by the consumer: the provider's
        // destructor ran twice, seen from both sides.
        assert_eq!(
            app.call("app", "drops", &[]).unwrap(),
            [Val::U32(2)],
            "{strategy:?}"
        );
        assert_eq!(
            app.call("kv", "dropped", &[]).unwrap(),
            [Val::U32(2)],
            "{strategy:?}"
        );
        assert_eq!(
            app.live_proxies(),
            0,
            "{strategy:?}: leaked resource proxies"
        );
        // The bench payload: create, call, drop, in a loop inside wasm.
        assert_eq!(
            app.call("app", "run-resource", &[Val::U32(5)]).unwrap(),
            [Val::U32(0)]
        );
        assert_eq!(
            app.call("kv", "dropped", &[]).unwrap(),
            [Val::U32(7)],
            "{strategy:?}"
        );
        assert_eq!(
            app.live_proxies(),
            0,
            "{strategy:?}: leaked resource proxies"
        );
    }
}

#[test]
fn semver_compatible_exporter_runs() {
    let (_dir, d) = deployment(
        "[components.driver]\npath = \"{driver}\"\n[components.next]\npath = \"{adder-next}\"\n",
    );
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        assert_eq!(
            app.call("driver", "add-once", &[Val::U32(5), Val::U32(6)])
                .unwrap(),
            [Val::U32(11)]
        );
        assert_eq!(
            app.call("next", "mul", &[Val::U32(5), Val::U32(6)])
                .unwrap(),
            [Val::U32(30)]
        );
    }
}

#[test]
fn a_trapping_callee_is_reported_and_poisons_the_store() {
    let (_dir, d) = deployment(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder-trap}\"\n",
    );
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        assert_eq!(
            app.call("driver", "add-once", &[Val::U32(1), Val::U32(1)])
                .unwrap(),
            [Val::U32(2)]
        );
        let err = app
            .call("driver", "add-once", &[Val::U32(13), Val::U32(1)])
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, RuntimeError::Trap { .. }), "{msg}");
        assert!(
            msg.contains("component `driver` function `demo:math/runner@0.1.0#add-once` trapped"),
            "{msg}"
        );
        assert!(msg.contains("unreachable"), "{msg}");
        if strategy == Strategy::HostLinked {
            assert!(msg.contains("call path: `driver` `demo:math/runner@0.1.0#add-once` → `adder` `demo:math/adder@0.1.0#add`"), "{msg}");
        }
        let again = app
            .call("driver", "add-once", &[Val::U32(1), Val::U32(1)])
            .unwrap_err();
        assert!(matches!(again, RuntimeError::Poisoned(_)), "{again}");
        assert!(
            again.to_string().contains("poisoned by an earlier trap"),
            "{again}"
        );
        // A fresh store works again.
        let mut fresh = rt.instantiate().unwrap();
        assert_eq!(
            fresh
                .call("driver", "add-once", &[Val::U32(1), Val::U32(1)])
                .unwrap(),
            [Val::U32(2)]
        );
    }
}

#[test]
fn unknown_functions_and_components_are_named() {
    let (_dir, d) = deployment(ADDER);
    let rt = runtime(&d, Strategy::Fused);
    let mut app = rt.instantiate().unwrap();
    let err = app.call("drivr", "run-add", &[]).unwrap_err().to_string();
    assert!(
        err.contains("no component `drivr`") && err.contains("`driver`"),
        "{err}"
    );
    let err = app.call("driver", "run-sub", &[]).unwrap_err().to_string();
    assert!(
        err.contains("exports no function `run-sub`") && err.contains("demo:math/runner@0.1.0"),
        "{err}"
    );
    let err = app.call("driver", "run-add", &[]).unwrap_err().to_string();
    assert!(err.contains("takes 1 argument(s), 0 given"), "{err}");
}

#[test]
fn engines_with_the_same_compatibility_hash_do_not_share_components() {
    use weld_linker::runtime::engine::{EngineSettings, PoolLimits};
    let (_dir, d) = deployment(ADDER);
    for pooling in [None, Some(PoolLimits::BENCH), None] {
        let engine = EngineSettings {
            pooling,
            ..EngineSettings::default()
        };
        let rt = Runtime::new(
            &d,
            &RuntimeOptions {
                engine: Some(engine),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("pooling={pooling:?}: {e}"));
        let mut app = rt.instantiate().unwrap();
        assert_eq!(
            app.call("driver", "add-once", &[Val::U32(1), Val::U32(1)])
                .unwrap(),
            [Val::U32(2)]
        );
    }
}

/// `front` (hog-caller) calls `hog`, which loops or grows its memory.
const HOG: &str = "[components.front]\npath = \"{hog-caller}\"\ndeadline-ms = 100\n[components.hog]\npath = \"{hog}\"\ndeadline-ms = 60000\nmax-memory = \"8MiB\"\n";

#[test]
fn the_callers_deadline_bounds_the_call_tree() {
    let (_dir, d) = deployment(HOG);
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        assert!(rt.settings().epoch, "a deadline turns epochs on");
        let mut app = rt.instantiate().unwrap();
        let started = std::time::Instant::now();
        let err = app.call("front", "spin", &[]).unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(&err, RuntimeError::DeadlineExceeded { component, limit_ms: 100, .. } if component == "front"),
            "{strategy:?}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains("component `front` function `demo:hog/front@0.1.0#spin` exceeded its deadline of 100 ms"),
            "{text}"
        );
        // Not the callee's 60 s: the store's deadline is the caller's.
        assert!(
            took < std::time::Duration::from_secs(5),
            "{strategy:?} took {took:?}"
        );
        assert!(
            took >= std::time::Duration::from_millis(90),
            "{strategy:?} took {took:?}"
        );
        assert!(app.is_poisoned());
    }
}

#[test]
fn a_default_deadline_applies_where_the_manifest_sets_none() {
    let (_dir, d) = deployment("[components.hog]\npath = \"{hog}\"\n");
    let rt = Runtime::new(
        &d,
        &RuntimeOptions {
            deadline: Some(std::time::Duration::from_millis(50)),
            ..Default::default()
        },
    )
    .unwrap();
    let mut app = rt.instantiate().unwrap();
    // A call that returns is not affected.
    let size = app.call("hog", "grow", &[Val::U32(1)]).unwrap();
    assert!(matches!(size[..], [Val::U32(n)] if n >= 1), "{size:?}");
    let err = app.call("hog", "hog.spin", &[]).unwrap_err();
    assert!(
        err.to_string().contains(
            "component `hog` function `demo:hog/hog@0.1.0#spin` exceeded its deadline of 50 ms"
        ),
        "{err}"
    );
}

#[test]
fn growing_past_max_memory_names_the_component() {
    let (_dir, d) = deployment(HOG);
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        // Below the cap: fine, through the caller too.
        app.call("hog", "grow", &[Val::U32(1)]).unwrap();
        app.call("front", "grow", &[Val::U32(1)]).unwrap();
        // Past it: refused, and the guest's trap is reported as the cap.
        let err = app.call("front", "grow", &[Val::U32(16)]).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::MemoryCap { component, set_by, .. } if component == "front" && set_by == "hog"),
            "{strategy:?}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains("capped at 8 MiB"), "{text}");
        assert!(text.contains("set by `hog`"), "{text}");
    }
}

#[test]
fn interrupting_a_runtime_stops_a_looping_guest() {
    let (_dir, d) = deployment("[components.hog]\npath = \"{hog}\"\n");
    let rt = Runtime::new(
        &d,
        &RuntimeOptions {
            interruptible: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut app = rt.instantiate().unwrap();
    let guest = std::thread::spawn(move || app.call("hog", "hog.spin", &[]).unwrap_err());
    std::thread::sleep(std::time::Duration::from_millis(100));
    rt.interrupt();
    let err = guest.join().unwrap();
    assert!(matches!(err, RuntimeError::Interrupted { .. }), "{err}");
    // Later calls are refused at once.
    let mut again = rt.instantiate().unwrap();
    let err = again.call("hog", "grow", &[Val::U32(1)]).unwrap_err();
    assert!(matches!(err, RuntimeError::Interrupted { .. }), "{err}");
}

/// A component whose WIT is synchronous but whose code uses the async ABI
/// (`context.get` and `waitable-set.new`/`drop`, as componentize-qjs output
/// does with `task.cancel` and `waitable-set.*`): once "`context.get`
/// requires the component model async feature" at compile. The engine's
/// features now follow the code, not only the WIT.
#[test]
fn async_builtins_behind_a_sync_wit_run() {
    let wasm = wat::parse_str(
        r#"(component
            (core module $m
              (import "" "get" (func $get (result i32)))
              (import "" "new" (func $new (result i32)))
              (import "" "drop" (func $drop (param i32)))
              (func (export "get") (result i32)
                (call $drop (call $new))
                (i32.add (call $get) (i32.const 41))))
            (core func $get (canon context.get i32 0))
            (core func $new (canon waitable-set.new))
            (core func $drop (canon waitable-set.drop))
            (core instance $i (instantiate $m (with "" (instance
              (export "get" (func $get))
              (export "new" (func $new))
              (export "drop" (func $drop))))))
            (func $f (result u32) (canon lift (core func $i "get")))
            (instance $api (export "get" (func $f)))
            (export "demo:abi/api@0.1.0" (instance $api)))"#,
    )
    .unwrap();
    assert!(weld_linker::introspect::uses_async_abi(&wasm).unwrap());
    let fixture = weld_fixtures::path("adder");
    assert!(!weld_linker::introspect::uses_async_abi(&std::fs::read(fixture).unwrap()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("abi.wasm"), &wasm).unwrap();
    let path = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            "[components.abi]\npath = {:?}\n",
            dir.path().join("abi.wasm").display().to_string()
        ),
    );
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        let out = app.call("abi", "api.get", &[]).unwrap();
        assert_eq!(out, [Val::U32(41)], "{strategy:?}");
    }
}

/// The async fixture pair (wit-bindgen async): `stream-consumer` calls
/// `stream-producer`'s async functions — one returns a `stream<u8>` a
/// spawned task writes after the call returned, one awaits a WASI 0.3
/// timer — fused and host-linked (a concurrent host function), with the
/// results the producer computes.
#[test]
fn async_functions_and_streams_cross_fused_and_host_linked_links() {
    let dir = tempfile::tempdir().unwrap();
    let path = weld_fixtures::write_manifest(
        dir.path(),
        "[components.consumer]\npath = \"{stream-consumer}\"\n\
         [components.producer]\npath = \"{stream-producer}\"\n",
    );
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    // 100 000 bytes counting up from 7, wrapping: the sum of 390 full
    // cycles (0..=255) and one partial one.
    let expected: u64 = (0..100_000u32)
        .map(|i| u64::from(7u8.wrapping_add(i as u8)))
        .sum();
    for strategy in BOTH {
        let rt = runtime(&d, strategy);
        let mut app = rt.instantiate().unwrap();
        assert!(app.is_async(), "{strategy:?}");
        let out = app
            .call(
                "consumer",
                "consume.sum-stream",
                &[Val::U8(7), Val::U32(100_000)],
            )
            .unwrap_or_else(|e| panic!("{strategy:?}: {e}: {:?}", std::error::Error::source(&e)));
        assert_eq!(out, [Val::U64(expected)], "{strategy:?}");
        let started = std::time::Instant::now();
        let out = app
            .call("consumer", "consume.doubled", &[Val::U32(21), Val::U32(30)])
            .unwrap_or_else(|e| panic!("{strategy:?}: {e}"));
        assert_eq!(out, [Val::U32(42)], "{strategy:?}");
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(30),
            "{strategy:?}: the producer's timer was not awaited"
        );
        // The store stays usable: calls are not one-shot.
        let out = app
            .call("consumer", "consume.sum-stream", &[Val::U8(0), Val::U32(3)])
            .unwrap();
        assert_eq!(out, [Val::U64(3)], "{strategy:?}");
    }
}

/// A component that imports WASI 0.3 but has no async function and no
/// async builtin (`greet-p3` only reads the 0.3 monotonic clock, a sync
/// function): its engine still needs concurrency support, which
/// wasmtime-wasi's p3 host functions require to be linked at all.
#[test]
fn a_wasi_0_3_import_alone_turns_engine_concurrency_on() {
    let dir = tempfile::tempdir().unwrap();
    let path =
        weld_fixtures::write_manifest(dir.path(), "[components.greet]\npath = \"{greet-p3}\"\n");
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new(&d, &RuntimeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut app = rt.instantiate().unwrap();
    assert!(app.is_async());
    let out = app
        .call("greet", "greeter.hello", &[Val::String("sleep:5".into())])
        .unwrap_or_else(|e| panic!("{e}"));
    let [Val::Result(Ok(Some(text)))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(
        **text,
        Val::String("hello, sleep:5 (slept at least 5 ms by the WASI 0.3 clock)".into())
    );
}

/// The same pair placed on two hosts with a wrpc link: refused when the
/// deployment is planned, naming the function and why.
#[test]
fn the_async_pair_over_wrpc_is_refused_naming_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let path = weld_fixtures::write_manifest(
        dir.path(),
        "[hosts.b]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:1\" }\n\
         [components.consumer]\npath = \"{stream-consumer}\"\nhost = \"a\"\n\
         [components.producer]\npath = \"{stream-producer}\"\nhost = \"b\"\n\
         [[link]]\nimport = \"consumer:demo:streams/produce@0.1.0\"\nexport = \"producer\"\nallow-trap = true\n",
    );
    let err = match Deployment::load(&path) {
        Ok(_) => panic!("an async interface was planned over wrpc"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("`count-up` is an async function, which weld's wRPC framing cannot carry"),
        "{err}"
    );
}

/// A component of `data` bytes of data (and one function): large without
/// much code to compile. `tag` makes its bytes unique, so no cache has it.
fn component_with_data(data: usize, tag: u128) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m
              (memory (export "mem") {pages})
              (data (i32.const 0) "{tag:032x}{fill}")
              (func (export "get") (result i32) (i32.load8_u (i32.const 40))))
            (core instance $i (instantiate $m))
            (func $f (result u32) (canon lift (core func $i "get")))
            (instance $api (export "get" (func $f)))
            (export "demo:big/api@0.1.0" (instance $api)))"#,
        pages = data / 65536 + 2,
        fill = "a".repeat(data),
    ))
    .unwrap()
}

/// Cross-module inlining stays on for hosts of small components and goes
/// off when one is larger than `INLINING_MAX_BYTES` (a guest-language
/// component, whose compile it would multiply); a compile that no cache
/// spares is reported to the progress hook, start and end, and a cached
/// one is not.
#[test]
fn inlining_follows_component_size_and_compiles_report_progress() {
    use std::sync::{Arc, Mutex};
    use weld_linker::runtime::engine::{CompileEvent, CompileProgress, INLINING_MAX_BYTES};
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = tempfile::tempdir().unwrap();
    let manifest = |wasm: &[u8], name: &str| {
        let file = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&file, wasm).unwrap();
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "[components.{name}]\npath = {:?}\n",
                file.display().to_string()
            ),
        )
        .unwrap();
        Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"))
    };
    let events: Arc<Mutex<Vec<String>>> = Arc::default();
    let options = {
        let events = Arc::clone(&events);
        RuntimeOptions {
            progress: Some(CompileProgress::new(move |e| {
                events.lock().unwrap().push(match e {
                    CompileEvent::Started { unit, bytes } => format!("start {unit} {bytes}"),
                    CompileEvent::Finished { unit, .. } => format!("end {unit}"),
                })
            })),
            ..Default::default()
        }
    };

    let small = component_with_data(1000, tag);
    let d = manifest(&small, "small");
    let rt = Runtime::new(&d, &options).unwrap();
    assert!(rt.settings().inlining);
    assert_eq!(
        *events.lock().unwrap(),
        [
            format!("start component `small` {}", small.len()),
            "end component `small`".to_string()
        ]
    );
    let mut app = rt.instantiate().unwrap();
    assert_eq!(app.call("small", "api.get", &[]).unwrap(), [Val::U32(97)]);

    let big = component_with_data(INLINING_MAX_BYTES + 1, tag);
    let d = manifest(&big, "big");
    let rt = Runtime::new(&d, &options).unwrap();
    assert!(!rt.settings().inlining);
    let mut app = rt.instantiate().unwrap();
    assert_eq!(app.call("big", "api.get", &[]).unwrap(), [Val::U32(97)]);

    // Compiled already: no progress to show.
    events.lock().unwrap().clear();
    Runtime::new(&d, &options).unwrap();
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
}
