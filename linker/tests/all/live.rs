//! Live plans: a serving host applies a changed deployment while it serves
//! (`Live::apply`, and the manifest watcher): 64 callers over TCP and over
//! a real `nats-server` while a component is swapped every second, every
//! call answered once by the old or the new version; a shared neighbour
//! keeping its state; a removed component's calls refused; a plan that does
//! not type-check refused while the old one serves on; the status file.

use crate::common;

use common::{free_port, greet_in, greet_manifest, nats, runtime, tcp};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_linker::runtime::Runtime;
use weld_linker::serve::{Live, ServeOptions, Server, Status, WatchOptions};
use weld_linker::Deployment;

const CALLERS: usize = 64;

/// greet-caller on `a` → greet on `b` over `endpoint`, greet answering as
/// `version`.
fn versioned(dir: &Path, endpoint: &str, version: u64) -> PathBuf {
    greet_manifest(
        dir,
        endpoint,
        "",
        &format!("env = {{ GREET_VERSION = \"{version}\" }}"),
    )
}

/// A live server of host `b` of `manifest`.
fn serve_live(manifest: &Path) -> (weld_linker::serve::Background, Live) {
    let live = Live::new();
    let deployment = Deployment::load(manifest).expect("manifest plans");
    let mut options = ServeOptions::new("b");
    options.live = Some(live.clone());
    let server = Server::new(&deployment, options)
        .expect("server prepares")
        .spawn()
        .expect("server starts");
    (server, live)
}

/// The version in an answer `ok: hello, NAME (vN)`, if it is one for
/// `name`.
fn version_of(answer: &str, name: &str) -> Option<u64> {
    answer
        .strip_prefix(&format!("ok: hello, {name} (v"))?
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// Calls from `CALLERS` threads while `swaps` new versions are applied a
/// second apart. Every answer must come from a version at least the one
/// applied when its call started and at most the one being applied when it
/// ended; returns (calls, wrong answers, calls/s before the swaps, calls/s
/// during them).
fn swap_under_load(
    rt: &Runtime,
    live: &Live,
    apply: &dyn Fn(u64) -> Deployment,
    swaps: u64,
) -> (u64, Vec<String>, f64, f64) {
    let applied = AtomicU64::new(1);
    let done = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..CALLERS)
            .map(|t| {
                let (rt, applied, done, calls) = (rt.clone(), &applied, &done, &calls);
                s.spawn(move || {
                    let mut d = rt.instantiate().unwrap();
                    let mut wrong = Vec::new();
                    let mut i = 0;
                    while !done.load(Ordering::Acquire) {
                        let name = format!("{t}-{i}");
                        let before = applied.load(Ordering::Acquire);
                        let got = greet_in(&mut d, &name);
                        let after = applied.load(Ordering::Acquire);
                        calls.fetch_add(1, Ordering::Relaxed);
                        match version_of(&got, &name) {
                            Some(v) if v >= before && v <= after + 1 => {}
                            _ => wrong.push(format!("{name} (applied {before}..{after}): {got}")),
                        }
                        i += 1;
                    }
                    wrong
                })
            })
            .collect();
        // Steady state first, then a swap a second.
        std::thread::sleep(Duration::from_secs(2));
        let steady = calls.load(Ordering::Relaxed) as f64 / 2.0;
        let swapping = Instant::now();
        let at_start = calls.load(Ordering::Relaxed);
        for v in 2..=swaps + 1 {
            let next = apply(v);
            let took = Instant::now();
            let a = live.apply(&next).expect("the changed plan applies");
            assert_eq!(a.version, v, "versions count applies");
            applied.store(v, Ordering::Release);
            eprintln!(
                "version {v}: applied in {:?} (kept {}, started {})",
                took.elapsed(),
                a.kept,
                a.started
            );
            std::thread::sleep(Duration::from_secs(1).saturating_sub(took.elapsed()));
        }
        let during =
            (calls.load(Ordering::Relaxed) - at_start) as f64 / swapping.elapsed().as_secs_f64();
        done.store(true, Ordering::Release);
        let wrong = callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        (calls.load(Ordering::Relaxed), wrong, steady, during)
    })
}

fn check_swaps(manifest_at: &dyn Fn(u64) -> PathBuf) {
    let manifest = manifest_at(1);
    let (server, live) = serve_live(&manifest);
    let rt = runtime(&manifest, "a");
    let apply = |v: u64| Deployment::load(&manifest_at(v)).expect("the next version plans");
    let swaps = 20;
    let (calls, wrong, steady, during) = swap_under_load(&rt, &live, &apply, swaps);
    assert!(
        wrong.is_empty(),
        "{} of {calls} calls went wrong, e.g. {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(3)]
    );
    let stats = server.stop().unwrap();
    assert_eq!(
        (stats.answered, stats.failed),
        (calls, 0),
        "each call answered exactly once, none failed"
    );
    eprintln!(
        "{calls} calls by {CALLERS} callers across {swaps} swaps: {steady:.0} calls/s steady, {during:.0} calls/s while swapping ({:.2}×)",
        during / steady
    );
    assert_eq!(live.status().version, swaps + 1);
}

#[test]
fn a_component_swapped_every_second_under_load_over_tcp_loses_no_call() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = tcp(free_port());
    check_swaps(&|v| versioned(dir.path(), &endpoint, v));
}

#[test]
fn a_component_swapped_every_second_under_load_over_nats_loses_no_call() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = nats(broker.url(), "live");
    check_swaps(&|v| versioned(dir.path(), &endpoint, v));
}

/// greet (shared: it counts its calls) and adder on `b`, the adder exposed
/// and answering as `adder_version`; without greet and its caller when
/// `with_greet` is false.
fn neighbours(dir: &Path, port: u16, adder_version: u64, with_greet: bool) -> PathBuf {
    let greet = "[components.greet-caller]\npath = \"{greet-caller}\"\nhost = \"a\"\n\n\
                 [components.greet]\npath = \"{greet}\"\nhost = \"b\"\ninstances = \"shared\"\n\n\
                 [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\n";
    let toml = format!(
        "{}[components.adder]\npath = \"{{adder}}\"\nhost = \"b\"\nenv = {{ V = \"{adder_version}\" }}\n\n\
         [hosts.b]\nwrpc = {}\nexpose = [\"adder:demo:math/adder@0.1.0\"]\n",
        if with_greet { greet } else { "" },
        tcp(port)
    );
    weld_fixtures::write_manifest(dir, &toml)
}

#[test]
fn a_shared_neighbour_keeps_its_state_and_a_removed_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let manifest = neighbours(dir.path(), port, 1, true);
    let (server, live) = serve_live(&manifest);
    let rt = runtime(&manifest, "a");
    let mut d = rt.instantiate().unwrap();
    for _ in 0..3 {
        assert_eq!(greet_in(&mut d, "x"), "ok: hello, x");
    }
    assert_eq!(greet_in(&mut d, "calls?"), "ok: 4");

    // Only the adder changed: greet's shared instance carries over.
    let next = Deployment::load(&neighbours(dir.path(), port, 2, true)).unwrap();
    let a = live.apply(&next).unwrap();
    assert_eq!((a.version, a.kept, a.started), (2, 1, 1), "{a:?}");
    assert_eq!(
        greet_in(&mut d, "calls?"),
        "ok: 5",
        "the shared instance kept its count"
    );

    // greet removed: its calls are refused, the caller gets an error value.
    let last = Deployment::load(&neighbours(dir.path(), port, 2, false)).unwrap();
    let a = live.apply(&last).unwrap();
    assert_eq!((a.version, a.kept, a.started), (3, 1, 0), "{a:?}");
    let got = greet_in(&mut d, "gone");
    assert!(
        got.starts_with("error: ") && got.contains("closed the call without a result"),
        "a removed component's call is refused: {got}"
    );
    let status = live.status();
    assert_eq!(status.version, 3);
    assert_eq!(
        status
            .components
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["adder"]
    );
    assert!(
        status
            .served
            .iter()
            .all(|s| s.starts_with("demo:math/adder@0.1.0#")),
        "{:?}",
        status.served
    );
    let stats = server.stop().unwrap();
    assert_eq!(
        (stats.failed, stats.refused),
        (0, 1),
        "only the removed component's call was refused"
    );
}

#[test]
fn an_endpoint_moves_while_serving_and_a_change_of_transport_or_start_setting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = versioned(dir.path(), &tcp(free_port()), 1);
    let (server, live) = serve_live(&manifest);
    let old = runtime(&manifest, "a");
    assert_eq!(common::greet(&old, "x"), "ok: hello, x (v1)");

    // Another TCP port: bound before the plan is swapped in, the old port
    // closed once the new one takes calls.
    let moved = tempfile::tempdir().unwrap();
    let port = free_port();
    let next = versioned(moved.path(), &tcp(port), 2);
    let a = live.apply(&Deployment::load(&next).unwrap()).unwrap();
    assert_eq!(a.version, 2);
    let new = runtime(&next, "a");
    assert_eq!(common::greet(&new, "x"), "ok: hello, x (v2)");
    let gone = common::greet(&old, "x");
    assert!(
        gone.starts_with("error: "),
        "the old port is closed: {gone}"
    );
    assert!(live.status().endpoint.contains(&port.to_string()));

    // A port that cannot be bound (taken): refused, the plan not applied.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = tempfile::tempdir().unwrap();
    let at = format!(
        r#"{{ transport = "tcp", address = "{}" }}"#,
        taken.local_addr().unwrap()
    );
    let e = live
        .apply(&Deployment::load(&versioned(busy.path(), &at, 3)).unwrap())
        .unwrap_err();
    assert!(matches!(e, weld_linker::serve::ApplyError::Serve(_)), "{e}");
    assert_eq!(common::greet(&new, "x"), "ok: hello, x (v2)");

    // Another transport: refused.
    let unix = tempfile::tempdir().unwrap();
    let socket = unix.path().join("b.sock");
    let at = format!(r#"{{ transport = "unix", path = "{}" }}"#, socket.display());
    let e = live
        .apply(&Deployment::load(&versioned(unix.path(), &at, 3)).unwrap())
        .unwrap_err();
    assert!(
        matches!(e, weld_linker::serve::ApplyError::EndpointChanged { .. }),
        "{e}"
    );

    // A setting the server reads once, at start: refused too.
    let regrouped = std::fs::read_to_string(&next)
        .unwrap()
        .replace("[hosts.b]\n", "[hosts.b]\nqueue-group = \"other\"\n");
    let again = tempfile::tempdir().unwrap();
    std::fs::write(again.path().join("weld.toml"), regrouped).unwrap();
    let e = live
        .apply(&Deployment::load(&again.path().join("weld.toml")).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            e,
            weld_linker::serve::ApplyError::HostChanged {
                what: "NATS queue group",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(common::greet(&new, "x"), "ok: hello, x (v2)");
    let status = live.status();
    assert_eq!(status.version, 2);
    let last = status.last.expect("an outcome");
    assert!(
        !last.applied && last.error.as_deref().is_some_and(|e| e.contains("restart")),
        "{last:?}"
    );
    let stats = server.stop().unwrap();
    assert_eq!(stats.failed, 0);
}

/// Waits up to 10 s for `f` to hold.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_watched_manifest_is_applied_and_a_type_error_is_refused_while_the_old_plan_serves() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = tcp(free_port());
    let manifest = versioned(dir.path(), &endpoint, 1);
    let (server, live) = serve_live(&manifest);
    let status_file = dir.path().join("status.json");
    let first = Deployment::load(&manifest).unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = std::sync::Arc::clone(&events);
    let _watcher = weld_linker::serve::watch(
        manifest.clone(),
        &first,
        live.clone(),
        WatchOptions {
            status_file: Some(status_file.clone()),
            on_event: Some(std::sync::Arc::new(move |e| {
                seen.lock().unwrap().push(e.to_line());
            })),
            ..WatchOptions::default()
        },
    )
    .unwrap();
    assert_eq!(Status::read(&status_file).unwrap().version, 1);
    let rt = runtime(&manifest, "a");
    assert_eq!(common::greet(&rt, "x"), "ok: hello, x (v1)");

    // An edit to the manifest: served once applied.
    let changed = Instant::now();
    versioned(dir.path(), &endpoint, 2);
    eventually("version 2", || {
        common::greet(&rt, "x") == "ok: hello, x (v2)"
    });
    eprintln!(
        "edit → first call answered by the new version: {:?}",
        changed.elapsed()
    );
    eventually("the status file", || {
        Status::read(&status_file).is_ok_and(|s| s.version == 2)
    });

    // A link to an export of another type: refused whole, version 2 serves on.
    let broken = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("export = \"greet\"", "export = \"greet-caller\"");
    std::fs::write(&manifest, broken).unwrap();
    eventually("the refusal", || {
        Status::read(&status_file).is_ok_and(|s| s.last.is_some_and(|o| !o.applied))
    });
    let status = Status::read(&status_file).unwrap();
    assert_eq!(status.version, 2);
    let error = status.last.unwrap().error.unwrap();
    assert!(
        error.contains("greet-caller"),
        "the refusal names the link: {error}"
    );
    assert_eq!(common::greet(&rt, "x"), "ok: hello, x (v2)");

    // The fix is applied.
    versioned(dir.path(), &endpoint, 3);
    eventually("version 3", || {
        common::greet(&rt, "x") == "ok: hello, x (v3)"
    });
    // Told once the apply has returned, a moment after the swap.
    eventually("the second applied event", || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.contains(r#""event":"applied""#))
            .count()
            == 2
    });
    let events = events.lock().unwrap().join("");
    assert!(events.contains(r#""event":"apply-refused""#), "{events}");
    assert_eq!(
        events.matches(r#""event":"applied""#).count(),
        2,
        "{events}"
    );
    let stats = server.stop().unwrap();
    assert_eq!(stats.failed, 0);
}

/// greet exposed on `b` over NATS; with `adder`, also the driver on `a`
/// calling the adder on `b` (its calls time out after 500 ms). greet's
/// deadline is its own, so the link's timeout does not change it (which
/// would start it anew).
fn over_nats(dir: &Path, endpoint: &str, adder: bool) -> PathBuf {
    let mut toml = format!(
        "[components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\ndeadline-ms = 5000\n\n\
         [hosts.b]\nwrpc = {endpoint}\nexpose = [\"greet:demo:greet/greeter@0.1.0\"]\n\n"
    );
    if adder {
        toml.push_str(
            "[components.driver]\npath = \"{driver}\"\nhost = \"a\"\n\n\
             [components.adder]\npath = \"{adder}\"\nhost = \"b\"\n\n\
             [[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nallow-trap = true\ntimeout-ms = 500\n",
        );
    }
    weld_fixtures::write_manifest(dir, &toml)
}

#[test]
fn nats_subscriptions_follow_the_plan_a_function_added_is_served_one_removed_is_left_to_others() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = nats(broker.url(), "follow");
    let (server, live) = serve_live(&over_nats(dir.path(), &endpoint, false));
    // The adder's caller, planned with the adder on `b`.
    let with_adder = over_nats(dir.path(), &endpoint, true);
    let rt = runtime(&with_adder, "a");
    // `run-add(3)`: three calls of `add`.
    let add = |rt: &Runtime| {
        let mut d = rt.instantiate().unwrap();
        d.call("driver", "run-add", &[Val::U32(3)])
    };
    assert!(add(&rt).is_err(), "nothing serves the adder yet");

    let a = live.apply(&Deployment::load(&with_adder).unwrap()).unwrap();
    assert_eq!((a.kept, a.started), (1, 1), "{a:?}");
    assert!(
        add(&rt).is_ok(),
        "the added function is subscribed to and served"
    );

    let a = live
        .apply(&Deployment::load(&over_nats(dir.path(), &endpoint, false)).unwrap())
        .unwrap();
    assert_eq!((a.kept, a.started), (1, 0), "{a:?}");
    // Unsubscribed, not refused: the broker has no responder for it (the
    // server's counts show it took no call).
    assert!(add(&rt).is_err(), "the removed function is no longer taken");
    let stats = server.stop().unwrap();
    assert_eq!(
        (stats.answered, stats.failed, stats.refused, stats.dropped),
        (3, 0, 0, 0),
        "{stats:?}"
    );
}

/// greet-caller on `a` → greet-relay on `b` (shared), which calls greet on
/// `b` through a host-linked import; greet answers as `version`.
fn relayed(dir: &Path, port: u16, version: u64) -> PathBuf {
    let toml = format!(
        "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\n\
         [components.relay]\npath = \"{{greet-relay}}\"\nhost = \"b\"\ninstances = \"shared\"\n\n\
         [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
         [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"relay\"\n\n\
         [[link]]\nimport = \"relay:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\
         transport = \"in-process\"\nstrategy = \"host-linked\"\n\n\
         [hosts.b]\nwrpc = {}\n",
        tcp(port)
    );
    weld_fixtures::write_manifest(dir, &toml)
}

#[test]
fn a_host_linked_callee_swapped_while_its_caller_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (server, live) = serve_live(&relayed(dir.path(), port, 1));
    let rt = runtime(&relayed(dir.path(), port, 1), "a");
    let mut d = rt.instantiate().unwrap();
    assert_eq!(greet_in(&mut d, "x"), "ok: relayed hello, x (v1)");
    let a = live
        .apply(&Deployment::load(&relayed(dir.path(), port, 2)).unwrap())
        .unwrap();
    // The callee lives in its caller's store: the two are started anew
    // together (one crew), and the caller's next call reaches the new
    // callee.
    assert_eq!((a.kept, a.started), (0, 1), "{a:?}");
    assert_eq!(greet_in(&mut d, "x"), "ok: relayed hello, x (v2)");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 0));
}

/// http-greet on host `a`, calling greet host-linked; greet answers as
/// `version`; `extra` appended.
fn http_versioned(dir: &Path, version: u64, extra: &str) -> PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.http-greet]\npath = \"{{http-greet}}\"\nhost = \"a\"\n\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"a\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
             [[link]]\nimport = \"http-greet:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\
             transport = \"in-process\"\nstrategy = \"host-linked\"\n{extra}"
        ),
    )
}

#[test]
fn an_http_host_swaps_its_handlers_under_load_and_refuses_a_new_address() {
    use weld_linker::serve::{HttpOptions, HttpServer};
    let dir = tempfile::tempdir().unwrap();
    let live = Live::new();
    let mut options = HttpOptions::new("a", "127.0.0.1:0".parse().unwrap());
    options.live = Some(live.clone());
    let first = Deployment::load(&http_versioned(dir.path(), 1, "")).unwrap();
    let server = HttpServer::new(&first, options)
        .and_then(HttpServer::spawn)
        .unwrap();
    let address = server.address();
    let get = || crate::http::request(address, "GET", "/weld", b"", None);
    assert_eq!(get(), (200, None, "hello, weld (v1)".to_string()));

    // Requests from 8 threads while five versions are applied: each
    // answered 200 by a version between the one applied when it was sent
    // and the one being applied when it was answered.
    let applied = AtomicU64::new(1);
    let stop = AtomicBool::new(false);
    let (sent, wrong) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let (mut sent, mut wrong) = (0u64, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        let low = applied.load(Ordering::SeqCst);
                        let (status, _, body) = get();
                        let high = applied.load(Ordering::SeqCst) + 1;
                        let version = body
                            .strip_prefix("hello, weld (v")
                            .and_then(|v| v.strip_suffix(')'))
                            .and_then(|v| v.parse::<u64>().ok());
                        if status != 200 || !version.is_some_and(|v| (low..=high).contains(&v)) {
                            wrong.push(format!("{status} {body} (between v{low} and v{high})"));
                        }
                        sent += 1;
                    }
                    (sent, wrong)
                })
            })
            .collect();
        for version in 2..=6 {
            std::thread::sleep(Duration::from_millis(300));
            let d = Deployment::load(&http_versioned(dir.path(), version, "")).unwrap();
            let done = live.apply(&d).expect("applied");
            assert_eq!(done.version, version);
            applied.store(version, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        clients.into_iter().fold((0, Vec::new()), |(n, mut w), c| {
            let (sent, wrong) = c.join().unwrap();
            w.extend(wrong);
            (n + sent, w)
        })
    });
    assert!(
        wrong.is_empty(),
        "{} of {sent} wrong: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    assert!(sent > 40, "only {sent} requests");
    assert_eq!(get(), (200, None, "hello, weld (v6)".to_string()));

    // A plan that gives the host an HTTP address of its own: refused, v6
    // serves on.
    let moved = Deployment::load(&http_versioned(
        dir.path(),
        7,
        "\n[hosts.a.http]\naddress = \"127.0.0.1:1\"\n",
    ))
    .unwrap();
    let e = live.apply(&moved).unwrap_err();
    assert!(
        matches!(
            e,
            weld_linker::serve::ApplyError::HostChanged {
                what: "HTTP address",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(get(), (200, None, "hello, weld (v6)".to_string()));
    let status = live.status();
    assert_eq!(status.version, 6);
    assert!(status.last.is_some_and(|o| !o.applied));
    let stats = server.stop().unwrap();
    assert_eq!((stats.failed, stats.busy), (0, 0), "{stats}");
}

#[test]
fn an_edit_made_before_the_server_takes_plans_is_applied_once_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = tcp(free_port());
    let manifest = versioned(dir.path(), &endpoint, 1);
    let first = Deployment::load(&manifest).unwrap();
    let live = Live::new();
    // The watcher runs before any server: the edit waits for one.
    let _watcher = weld_linker::serve::watch(
        manifest.clone(),
        &first,
        live.clone(),
        WatchOptions::default(),
    )
    .unwrap();
    versioned(dir.path(), &endpoint, 2);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        live.status().last.is_none(),
        "nothing applied, nothing refused: {:?}",
        live.status().last
    );
    let mut options = ServeOptions::new("b");
    options.live = Some(live.clone());
    let _server = Server::new(&first, options).unwrap().spawn().unwrap();
    let rt = runtime(&manifest, "a");
    eventually("the edit applied once the server serves", || {
        common::greet(&rt, "x") == "ok: hello, x (v2)"
    });
    assert_eq!(live.status().version, 2);
}
