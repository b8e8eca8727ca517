//! Per-call instances: stores come from a pooling allocator sized for the
//! server, hold only what the call needs, and are no smaller than a guest
//! may grow; a reply the caller will not take is given up on.

use crate::common;

use common::{free_port, greet, greet_manifest, math_manifest, runtime, tcp};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_fixtures::{leb128, wrpc_invocation};
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::serve::{Cause, FailedCall, FailureHook, ServeOptions, Server};
use weld_linker::Deployment;

/// 16 threads × 25 calls into a per-call server that allows 64 calls at
/// once: every call answered, none lost to an exhausted pool.
#[test]
fn concurrent_per_call_stores_fit_the_servers_pool() {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(
        dir.path(),
        &tcp(free_port()),
        "",
        r#"instances = "per-call""#,
    );
    let deployment = Deployment::load(&m).unwrap();
    let server = Server::new(&deployment, ServeOptions::new("b")).unwrap();
    let pool = server
        .runtime()
        .settings()
        .pooling
        .expect("a per-call host is served from a pool");
    // The shared store, and per worker one store in use and one ready.
    assert_eq!(pool.component_instances, 1 + 4 * 2);
    assert_eq!(pool.max_memory, 1 << 32, "no max-memory: the whole space");
    let server = server.spawn().unwrap();
    let rt = runtime(&m, "a");
    std::thread::scope(|s| {
        for t in 0..16 {
            let rt = &rt;
            s.spawn(move || {
                for i in 0..25 {
                    let name = format!("{t}-{i}");
                    assert_eq!(greet(rt, &name), format!("ok: hello, {name}"));
                }
            });
        }
    });
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (400, 0), "{stats:?}");
}

/// A shared-only host keeps wasmtime's on-demand allocator.
#[test]
fn a_shared_host_is_not_pooled() {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(free_port()), "", "");
    let deployment = Deployment::load(&m).unwrap();
    let server = Server::new(&deployment, ServeOptions::new("b")).unwrap();
    assert_eq!(server.runtime().settings().pooling, None);
}

fn hog(max_memory: &str, pool_stores: u32) -> Runtime {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!("[components.hog]\npath = \"{{hog}}\"\n{max_memory}\n"),
    );
    let deployment = Deployment::load(&m).unwrap();
    Runtime::new(
        &deployment,
        &RuntimeOptions {
            pool_stores: Some(pool_stores),
            ..Default::default()
        },
    )
    .unwrap()
}

/// A pooled store is not a smaller store: with no `max-memory`, a guest
/// grows to 256 MiB as it would without the pool (whose old fixed slots
/// were 64 MiB); with one, the slot is the cap and growing past it is the
/// usual memory-cap error.
#[test]
fn pooled_memories_are_as_large_as_the_guest_may_grow() {
    let rt = hog("", 2);
    assert!(rt.settings().pooling.is_some());
    let mut d = rt.instantiate_for("hog").unwrap();
    let size = d.call("hog", "hog.grow", &[Val::U32(256)]).unwrap();
    match size.as_slice() {
        [Val::U32(mib)] => assert!(*mib >= 256, "{mib} MiB"),
        other => panic!("{other:?}"),
    }

    let rt = hog("max-memory = \"32MiB\"", 2);
    assert_eq!(rt.settings().pooling.unwrap().max_memory, 32 << 20);
    let mut d = rt.instantiate_for("hog").unwrap();
    let err = d
        .call("hog", "hog.grow", &[Val::U32(64)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("max-memory"), "{err}");
}

/// More live stores than the pool holds fail to instantiate, saying so;
/// dropping one makes room again.
#[test]
fn a_full_pool_refuses_a_store_until_one_is_dropped() {
    let rt = hog("", 2);
    let a = rt.instantiate_for("hog").unwrap();
    let _b = rt.instantiate_for("hog").unwrap();
    let Err(err) = rt.instantiate_for("hog") else {
        panic!("a third store fit a pool of two");
    };
    assert!(err.to_string().contains("hog"), "{err}");
    drop(a);
    rt.instantiate_for("hog").unwrap();
}

/// `instantiate_for` makes only the caller's unit and what it calls: the
/// adder alone, or the driver with the adder it calls host-linked.
#[test]
fn a_store_for_one_component_holds_only_what_it_calls() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.driver]\npath = \"{driver}\"\n\
         [components.adder]\npath = \"{adder}\"\n\
         [[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nstrategy = \"host-linked\"\n",
    );
    let rt = Runtime::new(&Deployment::load(&m).unwrap(), &RuntimeOptions::default()).unwrap();
    let mut adder = rt.instantiate_for("adder").unwrap();
    assert_eq!(
        adder
            .call("adder", "adder.add", &[Val::U32(2), Val::U32(3)])
            .unwrap(),
        [Val::U32(5)]
    );
    let err = adder
        .call("driver", "runner.add-once", &[Val::U32(2), Val::U32(3)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not instantiated in this store"), "{err}");
    let mut driver = rt.instantiate_for("driver").unwrap();
    assert_eq!(
        driver
            .call("driver", "runner.add-once", &[Val::U32(2), Val::U32(3)])
            .unwrap(),
        [Val::U32(5)]
    );
}

/// A caller that sends a call and never reads the reply holds its call no
/// longer than the server's timeout: the reply (12 MiB, more than loopback
/// buffers take) is given up on and reported, and the server goes on.
#[test]
fn a_caller_that_never_takes_its_reply_is_given_up_on() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let m = math_manifest(dir.path(), &tcp(port));
    let deployment = Deployment::load(&m).unwrap();
    let failures: Arc<Mutex<Vec<FailedCall>>> = Arc::default();
    let mut options = ServeOptions::new("b");
    options.read_timeout = Duration::from_millis(500);
    options.on_failure = Some(FailureHook::new({
        let failures = Arc::clone(&failures);
        move |f| failures.lock().unwrap().push(f.clone())
    }));
    let server = Server::new(&deployment, options).unwrap().spawn().unwrap();

    let text = vec![b'x'; 12 << 20];
    let mut params = Vec::new();
    leb128(&mut params, text.len() as u64);
    params.extend_from_slice(&text);
    let mut call = wrpc_invocation("demo:math/adder@0.1.0", "echo", None);
    call.push(0);
    leb128(&mut call, params.len() as u64);
    call.extend_from_slice(&params);
    let mut silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.write_all(&call).unwrap();
    silent.shutdown(std::net::Shutdown::Write).unwrap();

    let started = Instant::now();
    while failures.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stalled reply was never given up on"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let failed = failures.lock().unwrap()[0].clone();
    assert_eq!(failed.cause, Cause::Reply, "{failed:?}");
    assert!(
        failed
            .message
            .contains("did not take the results within 500 ms"),
        "{failed:?}"
    );
    // The server still answers.
    let rt = runtime(&m, "a");
    let mut d = rt.instantiate().unwrap();
    assert_eq!(
        d.call("driver", "runner.add-once", &[Val::U32(1), Val::U32(2)])
            .unwrap(),
        [Val::U32(3)]
    );
    drop(silent);
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 1), "{stats:?}");
}

/// An embedder's own pool whose slots are smaller than a component's
/// `max-memory` is refused, naming both, rather than lowering the cap.
#[test]
fn a_pool_smaller_than_a_cap_is_refused() {
    use weld_linker::runtime::engine::{EngineSettings, PoolLimits};
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.hog]\npath = \"{hog}\"\nmax-memory = \"128MiB\"\n",
    );
    let Err(err) = Runtime::new(
        &Deployment::load(&m).unwrap(),
        &RuntimeOptions {
            engine: Some(EngineSettings {
                pooling: Some(PoolLimits::BENCH),
                ..EngineSettings::default()
            }),
            ..Default::default()
        },
    ) else {
        panic!("a 64 MiB pool took a 128 MiB cap");
    };
    let err = err.to_string();
    assert!(
        err.contains("`hog`") && err.contains("128") && err.contains("64"),
        "{err}"
    );
}
