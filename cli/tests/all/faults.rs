//! Faults under load, against real `weld serve` processes and a real
//! `nats-server` (loopback, bounded in count and time): a replica killed
//! with SIGKILL, the NATS server restarted, and a QUIC server killed and
//! started again, while callers keep calling
//! with a short `timeout-ms`. Every call ends within its timeout with its
//! own result or an error value; none hangs, none gets another call's
//! result.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::Deployment;

const TIMEOUT_MS: u64 = 1000;

/// `greet-caller` on host `a` calling `greet` on host `b` with a short
/// timeout, the hosts' tables being `hosts`.
fn manifest_with(dir: &Path, hosts: &str) -> std::path::PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\n\
             [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\ntimeout-ms = {TIMEOUT_MS}\n\
             {hosts}"
        ),
    )
}

/// [`manifest_with`] host `b` on NATS at `nats_url`.
fn manifest(dir: &Path, nats_url: &str) -> std::path::PathBuf {
    manifest_with(
        dir,
        &format!(
            "[hosts.b]\nwrpc = {{ transport = \"nats\", url = \"{nats_url}\", prefix = \"faults\" }}\n"
        ),
    )
}

/// A `weld serve` replica of host `b`, ready.
fn replica(m: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", m.to_str().unwrap(), "--host", "b", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weld serve");
    let line = crate::common::first_line(child.stdout.as_mut().unwrap());
    assert!(line.contains("\"ready\""), "{line}");
    child
}

/// What callers saw.
#[derive(Default)]
struct Seen {
    ok: AtomicUsize,
    errors: AtomicUsize,
}

/// Calls from `threads` threads until `stop`; every call must end within
/// its timeout (plus slack) with its own greeting or an error value.
fn callers(
    rt: &Runtime,
    threads: usize,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|t| {
            let (rt, stop, seen) = (rt.clone(), Arc::clone(&stop), Arc::clone(&seen));
            std::thread::spawn(move || {
                let mut d = rt.instantiate().unwrap();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("{t}-{i}");
                    let started = Instant::now();
                    let got = d
                        .call("greet-caller", "front.greet", &[Val::String(id.clone())])
                        .expect("a wRPC-safe link never traps");
                    let took = started.elapsed();
                    assert!(
                        took < Duration::from_millis(TIMEOUT_MS + 2000),
                        "call {id} took {took:?}"
                    );
                    match got.as_slice() {
                        [Val::String(s)] if *s == format!("ok: hello, {id}") => {
                            seen.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        [Val::String(s)] if s.starts_with("error: wrpc link") => {
                            seen.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("call {id} got {other:?}"),
                    }
                    i += 1;
                }
            })
        })
        .collect()
}

fn runtime(m: &Path) -> Runtime {
    let deployment = Deployment::load(m).unwrap();
    Runtime::new(
        &deployment,
        &RuntimeOptions {
            host: Some("a".into()),
            ..Default::default()
        },
    )
    .unwrap()
}

fn run_for(
    rt: &Runtime,
    before: Duration,
    fault: impl FnOnce(),
    after: Duration,
) -> (usize, usize, usize) {
    // (calls ok before the fault, ok once it settled, error values)
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Seen::default());
    let threads = callers(rt, 8, Arc::clone(&stop), Arc::clone(&seen));
    std::thread::sleep(before);
    let ok_before = seen.ok.load(Ordering::Relaxed);
    fault();
    // Calls that succeed in the second half of `after` ran after the fault
    // had settled.
    std::thread::sleep(after / 2);
    let ok_settled = seen.ok.load(Ordering::Relaxed);
    std::thread::sleep(after / 2);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let ok_after = seen.ok.load(Ordering::Relaxed) - ok_settled;
    (ok_before, ok_after, seen.errors.load(Ordering::Relaxed))
}

#[test]
fn a_replica_killed_mid_load_leaves_the_survivor_serving() {
    let broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), broker.url());
    let mut doomed = replica(&m);
    let mut survivor = replica(&m);
    let rt = runtime(&m);
    let (ok_before, ok, errors) = run_for(
        &rt,
        Duration::from_millis(800),
        || {
            doomed.kill().unwrap();
            doomed.wait().unwrap();
        },
        Duration::from_millis(2500),
    );
    assert!(ok_before > 0, "calls went through before the kill");
    assert!(ok > 0, "the survivor served calls after the kill");
    // At most the calls in flight on the killed replica failed.
    assert!(errors <= 8, "{errors} calls failed");
    let _ = survivor.kill();
    let _ = survivor.wait();
}

#[test]
fn a_nats_restart_mid_load_fails_calls_in_the_gap_and_then_recovers() {
    let mut broker = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(dir.path(), broker.url());
    let mut server = replica(&m);
    let rt = runtime(&m);
    let (ok_before, ok, _errors) = run_for(
        &rt,
        Duration::from_millis(800),
        || {
            broker.stop();
            std::thread::sleep(Duration::from_millis(500));
            broker.restart();
        },
        // async-nats reconnects with a back-off; give both ends time.
        Duration::from_secs(10),
    );
    assert!(ok_before > 0, "calls went through before the restart");
    assert!(ok > 0, "calls went through again after the restart");
    let _ = server.kill();
    let _ = server.wait();
}

/// `greet-caller` on host `a` calling `greet` on host `b` over QUIC, with
/// identities made in `dir`.
fn quic_manifest(dir: &Path) -> std::path::PathBuf {
    weld_fixtures::tls::identities(dir, "ca", &["a", "b"]);
    let port = weld_fixtures::peer::free_port();
    manifest_with(
        dir,
        &format!(
            "[hosts.b]\nwrpc = {{ transport = \"quic\", address = \"127.0.0.1:{port}\" }}\n\
             tls = {{ cert = \"b.pem\", key = \"b.key\", ca = \"ca.pem\" }}\n\
             [hosts.a]\ntls = {{ cert = \"a.pem\", key = \"a.key\", ca = \"ca.pem\" }}\n"
        ),
    )
}

/// A QUIC host `b` served by `weld serve` (killed when the test ends, even
/// by a failed assertion) and host `a`'s runtime calling it; the folder
/// holds the manifest and identities.
fn quic_pair() -> (tempfile::TempDir, std::path::PathBuf, Reaped, Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let m = quic_manifest(dir.path());
    let server = Reaped(replica(&m));
    let rt = runtime(&m);
    (dir, m, server, rt)
}

#[test]
fn a_quic_server_killed_mid_load_fails_the_calls_it_held_and_a_restart_is_reached() {
    let (_dir, m, mut server, rt) = quic_pair();
    let mut restarted = None;
    let (ok_before, ok, errors) = run_for(
        &rt,
        Duration::from_millis(800),
        || {
            server.0.kill().unwrap();
            server.0.wait().unwrap();
            // The callers' connection is dead and nothing will say so: the
            // first call that hears nothing closes it, and the next one
            // connects to the restarted server.
            std::thread::sleep(Duration::from_millis(300));
            restarted = Some(Reaped(replica(&m)));
        },
        Duration::from_secs(4),
    );
    assert!(ok_before > 0, "calls went through before the kill");
    assert!(ok > 0, "calls went through the restarted server");
    // The calls in flight at the kill, and those made while no server
    // ran, end as error values within their timeout (checked per call).
    assert!(errors > 0, "the calls in flight at the kill failed");
    eprintln!("QUIC kill: {ok_before} ok before, {ok} ok after it settled, {errors} error values");
    assert!(restarted.is_some());
}

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sighup_reloads_a_quic_hosts_identity_and_does_not_end_it() {
    let (_dir, _, mut server, rt) = quic_pair();
    let greet = |name: &str| {
        let mut d = rt.instantiate().unwrap();
        d.call("greet-caller", "front.greet", &[Val::String(name.into())])
            .unwrap()
    };
    assert_eq!(greet("one"), [Val::String("ok: hello, one".into())]);
    let hup = Command::new("kill")
        .args(["-HUP", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.0.try_wait().unwrap().is_none(),
        "SIGHUP ended weld serve"
    );
    assert_eq!(greet("two"), [Val::String("ok: hello, two".into())]);
}
