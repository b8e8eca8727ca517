//! Hostile wRPC peers on loopback: lengths declared on the wire cost no
//! memory before their bytes arrive, on the serving and the calling side.
//! RSS is read from `/proc/self/status`; the tests of this binary run one
//! at a time so they do not see each other's memory.

use crate::common;

use common::{greet, greet_manifest, runtime, serve, tcp};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use weld_fixtures::{closed_by_peer, leb128, rss_kib, wrpc_invocation};

/// One RSS-measuring test at a time.
static ALONE: Mutex<()> = Mutex::new(());

const MIB_KIB: u64 = 1024;

/// An invocation of greet's `hello` whose parameter frame declares 1 GiB.
fn gigabyte_invocation() -> Vec<u8> {
    wrpc_invocation("demo:greet/greeter@0.1.0", "hello", Some(1 << 30))
}

#[test]
fn a_served_unix_socket_refuses_gigabyte_frames_without_committing_them() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let endpoint = r#"{ transport = "unix", path = "b.sock" }"#;
    let m = greet_manifest(dir.path(), endpoint, "", "");
    let server = serve(&m, "b");
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "warm"), "ok: hello, warm");
    let idle = rss_kib("self");

    let sock = dir.path().join("b.sock");
    let mut hostile: Vec<_> = (0..3)
        .map(|_| {
            let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(&gigabyte_invocation()).unwrap();
            s
        })
        .collect();
    for s in &mut hostile {
        assert!(closed_by_peer(s), "the server kept a hostile connection");
    }
    let attacked = rss_kib("self");
    eprintln!("in-process server VmRSS: idle {idle} KiB, after 3 × 1 GiB frames {attacked} KiB");
    assert!(
        attacked < idle + 64 * MIB_KIB,
        "RSS grew from {idle} KiB to {attacked} KiB"
    );
    assert_eq!(greet(&rt, "after"), "ok: hello, after");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (2, 3));
}

#[test]
fn a_header_declaring_a_huge_instance_name_is_refused_unread() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let m = greet_manifest(dir.path(), &tcp(port), "", "");
    let server = serve(&m, "b");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut bytes = vec![0x00];
    leb128(&mut bytes, 256 << 20);
    bytes.extend_from_slice(b"demo");
    s.write_all(&bytes).unwrap();
    let started = Instant::now();
    assert!(closed_by_peer(&mut s));
    // Closed on the declared length, not by the 10 s header timeout.
    assert!(started.elapsed() < Duration::from_secs(2));
    let rt = runtime(&m, "a");
    assert_eq!(greet(&rt, "next"), "ok: hello, next");
    server.stop().unwrap();
}

#[test]
fn a_server_replying_with_a_gigabyte_frame_is_an_error_value_and_costs_no_memory() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let m = greet_manifest(dir.path(), &tcp(port), "timeout-ms = 3000", "");
    let rt = runtime(&m, "a");
    // A reply frame declaring 1 GiB, then a trickle, then silence.
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf);
            let mut frame = vec![0x00];
            leb128(&mut frame, 1 << 30);
            frame.extend_from_slice(&[b'y'; 64]);
            let _ = s.write_all(&frame);
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let idle = rss_kib("self");
    for _ in 0..3 {
        let seen = greet(&rt, "x");
        assert!(
            seen.ends_with(&format!(
                "failed: the reply from tcp://127.0.0.1:{port} exceeds the 16777216-byte message cap"
            )),
            "{seen}"
        );
    }
    let after = rss_kib("self");
    eprintln!("caller VmRSS: before {idle} KiB, after 3 × 1 GiB reply frames {after} KiB");
    // The bound is the process's: the test binary runs two tests at a
    // time, and the one beside this (a live host's stores and its
    // callers' instances) has been seen to add ~145 MiB meanwhile. A
    // reader that took the declared 1 GiB (or three) would pass it; one
    // that reserves it without touching it is the fuzz target's to catch
    // (`bounded_reader` under `-malloc_limit_mb=64`).
    assert!(
        after < idle + 256 * MIB_KIB,
        "RSS grew from {idle} KiB to {after} KiB"
    );
    server.join().unwrap();
}

/// Clients that send a header and then stall hold no concurrency permit:
/// twice as many of them as the server has permits do not delay a
/// legitimate call (before, it waited for their read timeout).
#[test]
fn stalled_clients_do_not_take_the_permits_of_others() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let m = greet_manifest(dir.path(), &tcp(port), "", "");
    let deployment = weld_linker::Deployment::load(&m).unwrap();
    let mut options = weld_linker::serve::ServeOptions::new("b");
    options.max_concurrency = 4;
    options.read_timeout = Duration::from_secs(8);
    let server = weld_linker::serve::Server::new(&deployment, options)
        .unwrap()
        .spawn()
        .unwrap();
    let header = wrpc_invocation("demo:greet/greeter@0.1.0", "hello", None);
    let stalled: Vec<_> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(&header).unwrap();
            s
        })
        .collect();
    // Let the server take every stalled invocation in.
    std::thread::sleep(Duration::from_millis(300));
    let rt = runtime(&m, "a");
    let started = Instant::now();
    assert_eq!(greet(&rt, "fair"), "ok: hello, fair");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "a legitimate call waited {took:?}"
    );
    drop(stalled);
    let stats = server.stop().unwrap();
    assert_eq!(stats.answered, 1, "{stats:?}");
}

/// Decoded parameters count against one in-flight budget: a call whose
/// decoded parameters could never fit is refused (naming the budget), and
/// smaller calls go on.
#[test]
fn decoded_parameters_past_the_in_flight_budget_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = greet_manifest(dir.path(), &tcp(common::free_port()), "", "");
    let deployment = weld_linker::Deployment::load(&m).unwrap();
    let mut options = weld_linker::serve::ServeOptions::new("b");
    options.max_in_flight_bytes = 1 << 20;
    let refused = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&refused);
    options.on_failure = Some(weld_linker::serve::FailureHook::new(move |f| {
        seen.lock().unwrap().push((f.cause, f.message.clone()));
    }));
    let server = weld_linker::serve::Server::new(&deployment, options)
        .unwrap()
        .spawn()
        .unwrap();
    let rt = runtime(&m, "a");
    let big = "x".repeat(2 << 20);
    assert!(greet(&rt, &big).starts_with("error: wrpc link"));
    assert_eq!(greet(&rt, "small"), "ok: hello, small");
    let stats = server.stop().unwrap();
    assert_eq!((stats.answered, stats.failed), (1, 1), "{stats:?}");
    let refused = refused.lock().unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, weld_linker::serve::Cause::OverBudget);
    assert!(
        refused[0]
            .1
            .contains("more than the server's 1048576-byte in-flight budget"),
        "{}",
        refused[0].1
    );
}

/// A server that stalls in the middle of its reply: the caller's link
/// timeout ends the call with an error value; nothing waits longer.
#[test]
fn a_server_stalling_mid_reply_times_out_as_an_error_value() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let m = greet_manifest(dir.path(), &tcp(port), "timeout-ms = 300", "");
    let rt = runtime(&m, "a");
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
        // A frame declaring 32 bytes, then 3 of them, then silence.
        let mut frame = vec![0x00];
        leb128(&mut frame, 32);
        frame.extend_from_slice(b"\x1dok");
        s.write_all(&frame).unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(10));
    });
    let started = Instant::now();
    let seen = greet(&rt, "x");
    let took = started.elapsed();
    assert_eq!(
        seen,
        format!("error: wrpc link `greet-caller` → `greet` on host `b` call `demo:greet/greeter@0.1.0.hello` failed: no reply from tcp://127.0.0.1:{port} within 300 ms")
    );
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(done);
    server.join().unwrap();
}

/// 64 calls into a looping component (callers that give up after 1 s, a
/// 250 ms deadline) once held every permit of the host and delayed a call
/// to another component by 20 s. Each component now has its own permits
/// and workers: the other answers within its own latency plus 100 ms, and
/// the stuck calls that waited past their deadline are not run at all.
#[test]
fn stuck_calls_into_one_component_do_not_delay_another() {
    // 64 caller stores would show in the others' RSS readings.
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            r#"
[components.client]
path = "{{hog-client}}"
host = "a"
[components.greet-caller]
path = "{{greet-caller}}"
host = "a"
[components.hog]
path = "{{hog}}"
host = "b"
deadline-ms = 250
[components.greet]
path = "{{greet}}"
host = "b"
[[link]]
import = "client:demo:hog/hog-safe@0.1.0"
export = "hog"
transport = "wrpc"
timeout-ms = 1000
[[link]]
import = "greet-caller:demo:greet/greeter@0.1.0"
export = "greet"
[hosts.b]
wrpc = {}
"#,
            tcp(common::free_port())
        ),
    );
    let deployment = weld_linker::Deployment::load(&m).unwrap();
    let server =
        weld_linker::serve::Server::new(&deployment, weld_linker::serve::ServeOptions::new("b"))
            .unwrap()
            .spawn()
            .unwrap();
    let rt = common::runtime(&m, "a");
    // Its own latency, warm.
    assert_eq!(greet(&rt, "warm"), "ok: hello, warm");
    let started = std::time::Instant::now();
    assert_eq!(greet(&rt, "quiet"), "ok: hello, quiet");
    let quiet = started.elapsed();

    std::thread::scope(|s| {
        for _ in 0..64 {
            let rt = &rt;
            s.spawn(move || {
                let mut d = rt.instantiate().unwrap();
                let out = d.call("client", "client.spin", &[]).unwrap();
                // The caller gives up (timeout) or the server cuts the
                // loop (deadline): either way an error, never "ok".
                assert!(!format!("{out:?}").contains("\"ok\""), "{out:?}");
            });
        }
        // Every stuck call has arrived and holds or waits for hog's turn.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let started = std::time::Instant::now();
        assert_eq!(greet(&rt, "busy"), "ok: hello, busy");
        let busy = started.elapsed();
        assert!(
            busy < quiet + std::time::Duration::from_millis(100),
            "greet took {busy:?} beside 64 stuck calls, {quiet:?} alone"
        );
    });
    let stats = server.stop().unwrap();
    let deadline = stats
        .failures
        .get(&weld_linker::serve::Cause::Deadline)
        .copied()
        .unwrap_or(0);
    assert_eq!(
        deadline, 64,
        "every stuck call ended by its deadline: {stats:?}"
    );
    // Hog's worker ran a few 250 ms loops, not 64 of them.
    assert_eq!(stats.answered, 3, "{stats:?}");
}

/// One raw wRPC call of `demo:hog/hog-safe@0.1.0.<function>(n)` (a u32 or
/// u64 parameter: one LEB128) from `source` to `port`: how long until the
/// server closed the call, and whether results came (a refused call gets
/// none: the connection closes).
fn raw_hog_call(source: [u8; 4], port: u16, function: &str, n: u64) -> (Duration, bool) {
    let io = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    io.block_on(async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind((std::net::Ipv4Addr::from(source), 0).into())
            .unwrap();
        let started = Instant::now();
        let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
        let mut call = wrpc_invocation("demo:hog/hog-safe@0.1.0", function, None);
        let mut param = Vec::new();
        leb128(&mut param, n);
        call.push(0x00);
        leb128(&mut call, param.len() as u64);
        call.extend_from_slice(&param);
        s.write_all(&call).await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply).await;
        (started.elapsed(), !reply.is_empty())
    })
}

/// Within one component, callers take turns for its permits: a caller
/// that queued its share of calls first does not make a second caller
/// wait behind all of them (turns go a, b, a), and one caller fills at
/// most half of the waiting room (the rest is refused at once, `busy`).
/// Callers are told apart by address (127.0.0.2 and 127.0.0.3 here).
#[test]
fn callers_take_turns_within_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            "[components.hog]\npath = \"{{hog}}\"\nhost = \"b\"\ndeadline-ms = 30000\n\
             [hosts.b]\nwrpc = {}\nexpose = [\"hog:demo:hog/hog-safe@0.1.0\"]\n",
            tcp(port)
        ),
    );
    let deployment = weld_linker::Deployment::load(&m).unwrap();
    let mut options = weld_linker::serve::ServeOptions::new("b");
    // One permit, so 4 calls may wait: 2 of one caller.
    options.max_concurrency = 1;
    let server = weld_linker::serve::Server::new(&deployment, options)
        .unwrap()
        .spawn()
        .unwrap();
    let (a, b) = ([127, 0, 0, 2], [127, 0, 0, 3]);
    // A burn of ~300 ms on this machine, as it is now.
    let mut n: u64 = 20_000_000;
    let one = loop {
        let (took, answered) = raw_hog_call(a, port, "burn", n);
        assert!(answered, "burn({n}) answered");
        if took >= Duration::from_millis(300) || n > 1 << 40 {
            break took;
        }
        n = n.saturating_mul(2);
    };
    std::thread::scope(|s| {
        // Caller a: one call running and two waiting (its half of the
        // waiting room), sent one after another.
        let mut theirs = Vec::new();
        for _ in 0..3 {
            theirs.push(s.spawn(move || {
                let (_, answered) = raw_hog_call(a, port, "burn", n);
                (answered, Instant::now())
            }));
            std::thread::sleep(Duration::from_millis(30));
        }
        // A fourth call of caller a is refused at once.
        let (took, answered) = raw_hog_call(a, port, "burn", n);
        assert!(!answered, "a caller past its half of the waiting room");
        assert!(took < one, "refused at once, not after {took:?}");
        // Caller b's call waits for one of a's queued calls, not both:
        // turns go a, b, a (first come, first served would go a, a, b).
        // Told by the order the calls end in, not by times, which a loaded
        // machine stretches: b ends before a's third call.
        let (_, answered) = raw_hog_call(b, port, "ping", 7);
        let b_done = Instant::now();
        assert!(answered);
        let done: Vec<Instant> = theirs
            .into_iter()
            .map(|t| {
                let (answered, at) = t.join().unwrap();
                assert!(answered, "caller a's calls all ran");
                at
            })
            .collect();
        assert!(
            b_done < done[2],
            "caller b ended {:?} after caller a's third call",
            b_done.duration_since(done[2])
        );
    });
    let stats = server.stop().unwrap();
    let busy = stats
        .failures
        .get(&weld_linker::serve::Cause::Busy)
        .copied()
        .unwrap_or(0);
    assert_eq!(busy, 1, "{stats:?}");
}

/// A reply of 16 MiB of empty lists (within the reply cap) to a
/// `list<list<string>>` call: one wire byte per `Val`, once 140 → 770 MB
/// of `weld run`. The caller's decoder builds values only within its
/// footprint cap, and refuses this one before building it.
#[test]
fn a_reply_of_empty_lists_is_refused_before_it_is_built() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let engine = wasmtime::Engine::default();
    let component =
        wasmtime::component::Component::from_file(&engine, weld_fixtures::path("types")).unwrap();
    let ty = component.component_type();
    let all = ty.get_export(&engine, "demo:types/all@0.1.0").unwrap().ty;
    let wasmtime::component::types::ComponentItem::ComponentInstance(all) = all else {
        panic!("an instance");
    };
    let wasmtime::component::types::ComponentItem::ComponentFunc(f) =
        all.get_export(&engine, "id-list-list-string").unwrap().ty
    else {
        panic!("a function");
    };
    let results: Vec<_> = f.results().collect();
    let limits = weld_linker::wrpc::codec::Limits::DEFAULT;
    let count = limits.max_bytes as u64 - 4;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
        let mut data = Vec::new();
        leb128(&mut data, count);
        data.resize(data.len() + count as usize, 0);
        let mut frame = vec![0x00];
        leb128(&mut frame, data.len() as u64);
        frame.extend_from_slice(&data);
        let _ = s.write_all(&frame);
    });
    let remote = weld_linker::wrpc::client::Remote::new(weld_linker::wrpc::Endpoint::Tcp {
        address: format!("127.0.0.1:{port}"),
    });
    let idle = rss_kib("self");
    // Peak RSS from here on (`5` resets VmHWM to the current RSS).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let e = remote
        .call_blocking(
            "demo:types/all@0.1.0",
            "id-list-list-string",
            bytes::Bytes::from_static(&[0x00]),
            &results,
            &limits,
            Duration::from_secs(5),
        )
        .unwrap_err();
    let peak = weld_fixtures::peak_kib("self");
    eprintln!(
        "caller VmRSS before {idle} KiB; peak during a 16 MiB reply of empty lists {peak} KiB"
    );
    assert!(
        matches!(e, weld_linker::wrpc::client::CallError::BadReply { .. }),
        "{e:?}"
    );
    let e = weld_linker::diagnostic::chain(&e);
    assert!(e.contains("the decoded value exceeds the limit of"), "{e}");
    assert!(
        peak < idle + (16 + 64) * MIB_KIB,
        "peak RSS {peak} KiB from {idle} KiB"
    );
    server.join().unwrap();
}
