//! `weld serve` and `weld run` as two processes, as the README walks
//! through: the bundled two-host example on a free port.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weld_fixtures::{closed_by_peer, leb128, peak_kib, rss_kib, wrpc_invocation};

/// A bundled example moved to a temporary directory, each of `addresses`
/// given a free port; the ports, in order.
fn example(dir: &tempfile::TempDir, name: &str, addresses: &[&str]) -> (PathBuf, Vec<u16>) {
    let root = weld_fixtures::workspace_root();
    let mut toml = std::fs::read_to_string(root.join("examples").join(name).join("weld.toml"))
        .unwrap()
        .replace(
            "../../fixtures/wasm/",
            &format!("{}/", weld_fixtures::dir().display()),
        );
    let mut ports = Vec::new();
    for address in addresses {
        let port = weld_fixtures::peer::free_port();
        toml = toml.replace(address, &format!("127.0.0.1:{port}"));
        ports.push(port);
    }
    let path = dir.path().join("weld.toml");
    std::fs::write(&path, toml).unwrap();
    (path, ports)
}

/// The two-hosts example, moved to a temporary directory with a free port.
fn two_hosts(dir: &tempfile::TempDir) -> (PathBuf, u16) {
    let (path, ports) = example(dir, "two-hosts", &["127.0.0.1:7761"]);
    (path, ports[0])
}

/// `weld serve --json`, returned once it printed its ready line.
fn serve(manifest: &Path, host: &str) -> (Child, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "serve",
            manifest.to_str().unwrap(),
            "--host",
            host,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve");
    let line = crate::common::first_line(child.stdout.as_mut().unwrap());
    let ready: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a ready line ({e}): {line:?}"));
    (child, ready)
}

fn run(manifest: &Path, call: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "run",
            manifest.to_str().unwrap(),
            "--host",
            "edge-1",
            "--json",
            "--invoke",
            call,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld run")
}

/// The result `weld run --json` printed for its one call.
pub(crate) fn result_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "weld run failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["calls"][0]["result"].as_str().unwrap().to_string()
}

/// SIGTERM to `server`; its exit status and how long it took (it is
/// killed, and the test fails, past 10 s).
pub(crate) fn terminate(server: &mut Child) -> (std::process::ExitStatus, Duration) {
    signal(server, "-TERM");
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            return (status, started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = server.kill();
            panic!("weld serve did not exit within 10 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn serve_and_run_on_two_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let (mut server, ready) = serve(&m, "edge-2");
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["endpoint"], format!("tcp://127.0.0.1:{port}"));
    let served: Vec<String> = ready["served"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}.{}", s["instance"], s["function"]).replace('"', ""))
        .collect();
    assert_eq!(served, ["demo:greet/greeter@0.1.0.hello"]);

    let seen = result_of(run(&m, "greet-caller.greet(\"cli\")"));
    assert_eq!(seen, "\"ok: hello, cli\"");

    // SIGTERM while a call is in flight: the call finishes, then the server
    // exits cleanly and reports it.
    let slow = run(&m, "greet-caller.greet(\"sleep:1500\")");
    std::thread::sleep(Duration::from_millis(700));
    signal(&server, "-TERM");
    assert_eq!(result_of(slow), "\"ok: hello, sleep:1500\"");
    let status = server.wait().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut rest)
        .unwrap();
    let stopped: serde_json::Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(stopped["event"], "stopped");
    assert_eq!(stopped["stats"]["answered"], 2);
}

#[test]
fn serves_a_component_that_imports_wasi_0_3() {
    // The greeter on edge-2 reads WASI 0.3's monotonic clock around its
    // sleep: the served host links wasi:clocks@0.3 and calls through the
    // async entry, on the server's workers.
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = two_hosts(&dir);
    let toml = std::fs::read_to_string(&m)
        .unwrap()
        .replace("/greet.wasm", "/greet-p3.wasm");
    std::fs::write(&m, toml).unwrap();
    let (mut server, ready) = serve(&m, "edge-2");
    assert_eq!(ready["event"], "ready", "{ready}");
    let seen = result_of(run(&m, "greet-caller.greet(\"sleep:40\")"));
    assert_eq!(
        seen,
        "\"ok: hello, sleep:40 (slept at least 40 ms by the WASI 0.3 clock)\""
    );
    assert_eq!(
        result_of(run(&m, "greet-caller.greet(\"p3\")")),
        "\"ok: hello, p3\""
    );
    signal(&server, "-TERM");
    let status = server.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_server_killed_mid_call_is_an_error_value() {
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let (mut server, _) = serve(&m, "edge-2");
    let slow = run(&m, "greet-caller.greet(\"sleep:5000\")");
    std::thread::sleep(Duration::from_millis(700));
    server.kill().unwrap();
    server.wait().unwrap();
    let seen = result_of(slow);
    assert!(
        seen.starts_with(
            "\"error: wrpc link `greet-caller` → `greet` on host `edge-2` call `demo:greet/greeter@0.1.0.hello` failed: "
        ),
        "{seen}"
    );
    assert!(seen.contains(&format!("tcp://127.0.0.1:{port}")), "{seen}");
}

#[test]
fn serving_a_host_nothing_calls_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = two_hosts(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", m.to_str().unwrap(), "--host", "edge-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no wrpc link of the plan calls into host `edge-1` and it exposes nothing: there is nothing to serve"
        ),
        "{stderr}"
    );
}

/// `weld serve`'s exit code and stderr.
fn serve_fails(manifest: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", manifest.to_str().unwrap(), "--host", "edge-2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn an_endpoint_that_cannot_be_served_is_named() {
    // The port is taken.
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let stderr = serve_fails(&m);
    assert!(
        stderr.contains(&format!(
            "cannot serve on tcp://127.0.0.1:{port}: Address already in use"
        )),
        "{stderr}"
    );

    // No NATS server at the URL.
    let text = std::fs::read_to_string(&m).unwrap().replace(
        &format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#),
        &format!(r#"{{ transport = "nats", url = "nats://127.0.0.1:{port}" }}"#),
    );
    drop(_taken);
    std::fs::write(&m, text).unwrap();
    let stderr = serve_fails(&m);
    assert!(
        stderr.contains(&format!(
            "cannot serve on nats://127.0.0.1:{port} (prefix edge-2): "
        )),
        "{stderr}"
    );
}

#[test]
fn a_unix_socket_path_that_names_a_file_is_refused_and_the_file_kept() {
    // The socket path names the manifest itself: once, weld deleted it.
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let text = std::fs::read_to_string(&m).unwrap().replace(
        &format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#),
        &format!(
            r#"{{ transport = "unix", path = {:?} }}"#,
            m.to_str().unwrap()
        ),
    );
    std::fs::write(&m, &text).unwrap();
    let stderr = serve_fails(&m);
    assert!(
        stderr.contains(&format!(
            "`{}` is a regular file, not a socket",
            m.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&m).unwrap(), text);
}

#[test]
fn hostile_lengths_cost_weld_serve_no_memory_and_name_the_peer() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", m.to_str().unwrap(), "--host", "edge-2", "--json"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve");
    let line = crate::common::first_line(server.stdout.as_mut().unwrap());
    assert!(line.contains("ready"), "{line}");
    // Warm: one real call, so idle includes what a call costs.
    assert_eq!(
        result_of(run(&m, "greet-caller.greet(\"warm\")")),
        "\"ok: hello, warm\""
    );
    let idle = rss_kib(&server.id().to_string());

    // Three connections at once: a valid header, then a frame declaring
    // 1 GiB (wrpc-transport 0.29 zero-filled that much per connection).
    let mut hostile = Vec::new();
    for _ in 0..3 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(&wrpc_invocation(
            "demo:greet/greeter@0.1.0",
            "hello",
            Some(1 << 30),
        ))
        .unwrap();
        hostile.push(s);
    }
    // A header declaring a 256 MiB instance name, then nothing more.
    let mut big_name = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut bytes = vec![0x00];
    leb128(&mut bytes, 256 << 20);
    bytes.extend_from_slice(b"demo");
    big_name.write_all(&bytes).unwrap();

    let peers: Vec<String> = hostile
        .iter()
        .chain([&big_name])
        .map(|s| s.local_addr().unwrap().to_string())
        .collect();
    let started = Instant::now();
    for s in hostile.iter_mut().chain([&mut big_name]) {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(closed_by_peer(s), "the server kept a hostile connection");
    }
    // Refused on the declared length, well before the 10 s header timeout.
    assert!(started.elapsed() < Duration::from_secs(5));
    let attacked = rss_kib(&server.id().to_string());
    eprintln!("weld serve VmRSS: idle {idle} KiB, after the attacks {attacked} KiB");
    assert!(
        attacked < idle + 64 * 1024,
        "RSS grew from {idle} KiB to {attacked} KiB"
    );

    // Other calls go on.
    assert_eq!(
        result_of(run(&m, "greet-caller.greet(\"after\")")),
        "\"ok: hello, after\""
    );
    signal(&server, "-TERM");
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for peer in &peers[..3] {
        assert!(
            stderr.contains(&format!("called by {peer}: bad parameters: the message exceeds the 16777216-byte cap: the peer declared 1073741824 bytes for the next frame")),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "refused a wRPC connection from {}: the peer declared 268435456 bytes for the instance name",
            peers[3]
        )),
        "{stderr}"
    );
    assert!(stderr.contains("WARN"), "{stderr}");
}

/// Every failed call is a `warn` line and, with `--json`, a JSON line
/// naming the peer and the cause; the stop line counts failures by cause.
#[test]
fn failed_calls_are_reported_with_peer_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let (mut server, _) = serve(&m, "edge-2");
    let mut garbage = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let local = garbage.local_addr().unwrap();
    std::io::Write::write_all(&mut garbage, b"\x07not a wRPC header").unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let failed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(failed["event"], "failed", "{line}");
    assert_eq!(failed["call"]["cause"], "refused", "{line}");
    assert_eq!(failed["call"]["peer"], local.to_string(), "{line}");
    drop(garbage);

    // An instance name that would forge a log line and colour the log.
    let forged = "evil\nFORGED-LINE\r\0\u{1b}[31m";
    let mut liar = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(&mut liar, &wrpc_invocation(forged, "hello", Some(0))).unwrap();
    line.clear();
    lines.read_line(&mut line).unwrap();
    let failed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(failed["event"], "failed", "{line}");
    drop(liar);

    signal(&server, "-TERM");
    let status = server.wait().unwrap();
    assert!(status.success());
    line.clear();
    lines.read_line(&mut line).unwrap();
    let stopped: serde_json::Value = serde_json::from_str(&line).unwrap();
    // Both connections were refused before naming a served function.
    assert_eq!(stopped["stats"]["refused"], 2, "{line}");
    assert_eq!(stopped["stats"]["failures"]["refused"], 2, "{line}");
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // The name is in the log, escaped, on the line of its failure; stderr
    // is a pipe, so nothing is coloured.
    assert!(
        stderr.contains("evil\\u{a}FORGED-LINE\\u{d}\\u{0}\\u{1b}[31m"),
        "{stderr}"
    );
    assert!(!stderr.lines().any(|l| l.starts_with("FORGED")), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\0'),
        "{stderr}"
    );
}

#[test]
fn shutdown_cuts_a_looping_call_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    // The link's timeout (60 s) is the served default deadline: only the
    // shutdown can stop the loop within the test's time.
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            "[components.client]\npath = \"{{hog-client}}\"\nhost = \"a\"\n\
             [components.hog]\npath = \"{{hog}}\"\nhost = \"b\"\n\
             [[link]]\nimport = \"client:demo:hog/hog-safe@0.1.0\"\nexport = \"hog\"\ntransport = \"wrpc\"\ntimeout-ms = 60000\n\
             [hosts.b]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\n"
        ),
    );
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", m.to_str().unwrap(), "--host", "b", "--json"])
        .args(["--grace-ms", "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.contains("\"ready\""), "{line}");
    let client = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["run", m.to_str().unwrap(), "--host", "a", "--json"])
        .args(["--invoke", "client.spin()"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld run");
    std::thread::sleep(Duration::from_millis(800));
    let (status, took) = terminate(&mut server);
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The cut call is reported as failed (the worker answers it once the
    // interrupt reaches the guest), then the server stops.
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let events: Vec<serde_json::Value> = rest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stopped = events.last().expect("a stopped event");
    assert_eq!(stopped["event"], "stopped", "{rest}");
    assert_eq!(stopped["stats"]["cut"], 1, "{rest}");
    for failed in &events[..events.len() - 1] {
        assert_eq!(failed["event"], "failed", "{rest}");
        assert_eq!(failed["call"]["cause"], "stopping", "{rest}");
        assert_eq!(failed["call"]["component"], "hog", "{rest}");
    }
    // The caller gets an error value, not a hang.
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("ok "), "{text}");
}

#[test]
fn an_open_file_limit_below_the_connection_cap_lowers_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    // 128 files in all, hard and soft: room for ~50 connections, not 1024.
    let mut server = Command::new("bash")
        .args([
            "-c",
            "ulimit -n 128 && exec \"$0\" serve \"$1\" --host edge-2 --read-timeout-ms 1000",
            env!("CARGO_BIN_EXE_weld"),
            m.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("ready;") {
        line.clear();
        assert!(ready.read_line(&mut line).unwrap() > 0, "no ready line");
    }
    // 150 silent connections: past the limit, had the cap stayed 1024.
    let idle: Vec<_> = (0..150)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The silent ones time out after 1 s each; a real call gets through.
    assert_eq!(
        result_of(run(&m, "greet-caller.greet(\"x\")")),
        "\"ok: hello, x\""
    );
    drop(idle);
    signal(&server, "-TERM");
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the open-file limit leaves room for "),
        "{stderr}"
    );
    assert!(stderr.contains("not 1024"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    // The stop line counts refused connections apart from failed calls.
    assert!(
        stderr.contains("stopped: 1 call answered, 0 failed, ")
            && stderr.contains(" connections refused, 0 cut after the grace period"),
        "{stderr}"
    );
}

/// greet's `hello("hi")` over a raw wRPC connection: the reply's bytes.
fn greet_hi(port: u16) -> Vec<u8> {
    use std::io::Write as _;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut call = wrpc_invocation("demo:greet/greeter@0.1.0", "hello", None);
    call.extend_from_slice(&[0x00, 0x03, 0x02, b'h', b'i']);
    s.write_all(&call).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply
}

/// 12 connections each sending 6 MB of empty lists as a
/// `list<list<string>>` (one wire byte, one `Val` each): once 1.78 GB of
/// decoded values with the default 256 MiB budget. Bytes are reserved as
/// they arrive and values are built only within what the budget has left,
/// so the server's peak stays within the budget plus 64 MiB, and a real
/// call is answered after.
#[test]
fn empty_lists_cannot_take_the_server_past_its_budget() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        &format!(
            "[components.types]\npath = \"{{types}}\"\nhost = \"b\"\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\n\
             [hosts.b]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\n\
             expose = [\"types:demo:types/all@0.1.0\", \"greet:demo:greet/greeter@0.1.0\"]\n"
        ),
    );
    let (server, _) = serve(&m, "b");
    let idle = rss_kib(&server.id().to_string());
    let count: u64 = 6_000_000;
    let mut message = wrpc_invocation("demo:types/all@0.1.0", "id-list-list-string", None);
    let mut data = Vec::new();
    leb128(&mut data, count);
    data.resize(data.len() + count as usize, 0);
    message.push(0x00);
    leb128(&mut message, data.len() as u64);
    message.extend_from_slice(&data);
    let hostile: Vec<_> = (0..12)
        .map(|_| {
            let message = message.clone();
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let _ = s.write_all(&message);
                assert!(closed_by_peer(&mut s), "the server kept a hostile call");
            })
        })
        .collect();
    // Meanwhile a real call is answered without waiting for their
    // decoding (large messages are decoded off the I/O thread): once 3.6 s.
    let slowest = (0..20)
        .map(|_| {
            let started = Instant::now();
            assert!(greet_hi(port).windows(9).any(|w| w == b"hello, hi"));
            started.elapsed()
        })
        .max()
        .unwrap();
    for h in hostile {
        h.join().unwrap();
    }
    let peak = peak_kib(&server.id().to_string());
    eprintln!("weld serve: idle {idle} KiB, peak {peak} KiB; slowest call beside them {slowest:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "a call beside them took {slowest:?}"
    );
    assert!(
        peak < idle + (256 + 64) * 1024,
        "peak {peak} KiB from idle {idle} KiB"
    );
    // A real call goes on after.
    let reply = greet_hi(port);
    assert!(reply.windows(9).any(|w| w == b"hello, hi"), "{reply:?}");
    signal(&server, "-TERM");
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success());
    // Refused for their decoded size, each of the 12, before it was built.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches("the decoded value exceeds the limit of")
            .count(),
        12,
        "{stderr}"
    );
}

/// 60 connections each holding 15 MiB of a 16 MiB string: half-sent
/// parameters once escaped the budget (920 MiB; the ceiling was
/// `--max-connections` × the message cap, 16 GiB). Every byte is reserved
/// before it is read, so the peak stays within the budget plus 64 MiB.
#[test]
fn half_sent_parameters_count_against_the_budget() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let (m, port) = two_hosts(&dir);
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", m.to_str().unwrap(), "--host", "edge-2", "--json"])
        .args(["--read-timeout-ms", "3000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = crate::common::first_line(server.stdout.as_mut().unwrap());
    assert!(line.contains("ready"), "{line}");
    let idle = rss_kib(&server.id().to_string());
    let declared: u64 = 16 << 20;
    let mut head = wrpc_invocation("demo:greet/greeter@0.1.0", "hello", None);
    let mut data = Vec::new();
    leb128(&mut data, declared - 4);
    head.push(0x00);
    leb128(&mut head, declared);
    head.extend_from_slice(&data);
    let chunk = vec![b'x'; 15 << 20];
    let senders: Vec<_> = (0..60)
        .map(|_| {
            let (head, chunk) = (head.clone(), chunk.clone());
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                // Blocks once the server stops reading; ends when the read
                // timeout closes the connection.
                let _ = s.write_all(&head).and_then(|()| s.write_all(&chunk));
                std::thread::sleep(Duration::from_millis(500));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let held = rss_kib(&server.id().to_string());
    for s in senders {
        s.join().unwrap();
    }
    let peak = peak_kib(&server.id().to_string());
    eprintln!("weld serve: idle {idle} KiB, holding {held} KiB, peak {peak} KiB");
    assert!(
        peak < idle + (256 + 64) * 1024,
        "peak {peak} KiB from idle {idle} KiB"
    );
    signal(&server, "-TERM");
    assert!(server.wait().unwrap().success());
}

/// `weld serve --http` with a component file alone: a plain HTTP/1.1
/// request is answered by the handler; SIGTERM with a looping request in
/// flight ends the server after the grace period.
/// One `GET` over a fresh connection; the whole answer.
fn http_get(address: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: weld\r\nconnection: close\r\n\r\n");
    std::io::Write::write_all(&mut s, request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

#[test]
fn a_host_serves_its_http_address_and_its_wrpc_endpoint_in_one_process() {
    // edge-2 of the two-hosts example also runs an HTTP handler, on the
    // address its manifest gives: one `weld serve` answers both.
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = two_hosts(&dir);
    let http = format!("127.0.0.1:{}", weld_fixtures::peer::free_port());
    let mut toml = std::fs::read_to_string(&m).unwrap();
    toml.push_str(&format!(
        "\n[hosts.edge-2.http]\naddress = \"{http}\"\n\n[components.http-hello]\npath = \"{}\"\nhost = \"edge-2\"\n",
        weld_fixtures::path("http-hello").display()
    ));
    std::fs::write(&m, toml).unwrap();
    let (mut server, first) = serve(&m, "edge-2");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let second: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut events = [first["event"].clone(), second["event"].clone()];
    events.sort_by_key(ToString::to_string);
    assert_eq!(events, ["http-ready", "ready"], "{first} {second}");
    let http_ready = if first["event"] == "http-ready" {
        &first
    } else {
        &second
    };
    assert_eq!(http_ready["endpoint"], format!("http://{http}"));
    assert_eq!(http_ready["routes"][0]["component"], "http-hello");

    let answer = http_get(&http, "/both");
    assert!(
        answer.contains("\r\nhello from weld: GET /both\r\n"),
        "{answer}"
    );
    let seen = result_of(run(&m, "greet-caller.greet(\"both\")"));
    assert_eq!(seen, "\"ok: hello, both\"");

    let (status, took) = terminate(&mut server);
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stopped: Vec<String> = rest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| format!("{} {}", v["event"], v["stats"]["answered"]))
        .collect();
    stopped.sort();
    assert_eq!(stopped, ["\"http-stopped\" 1", "\"stopped\" 1"], "{rest}");
}

#[test]
fn the_http_example_answers_from_both_hosts_and_502_once_the_back_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (m, ports) = example(&dir, "http", &["127.0.0.1:8080", "127.0.0.1:7762"]);
    let (mut back, _) = serve(&m, "back");
    let (mut front, ready) = serve(&m, "front");
    assert_eq!(ready["event"], "http-ready", "{ready}");
    let http = format!("127.0.0.1:{}", ports[0]);
    let answer = http_get(&http, "/greet/weld");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\r\nhello, weld\r\n"), "{answer}");
    let answer = http_get(&http, "/hello");
    assert!(
        answer.contains("\r\nhello from weld: GET /hello\r\n"),
        "{answer}"
    );
    assert!(http_get(&http, "/").starts_with("HTTP/1.1 404"));
    // The greeter's host stops: the handler answers from its error branch.
    assert!(terminate(&mut back).0.success());
    let answer = http_get(&http, "/greet/weld");
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("the greeter failed: "), "{answer}");
    assert!(terminate(&mut front).0.success());
}

#[test]
fn a_thousand_slow_http_clients_cost_little_memory_and_block_no_request() {
    // 1 000 connections stuck in the middle of their request head (a
    // slowloris crowd): the server holds them within 64 MiB of its idle
    // size and still answers a well-behaved client at once.
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .arg("serve")
        .arg(weld_fixtures::path("http-hello"))
        .args(["--http", "127.0.0.1:0", "--json", "--grace-ms", "500"])
        .args(["--read-timeout-ms", "60000", "--max-connections", "1100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start weld serve --http");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).unwrap();
    let address = ready["endpoint"].as_str().unwrap()["http://".len()..].to_string();
    let pid = server.id().to_string();
    for _ in 0..50 {
        assert!(http_get(&address, "/warm").starts_with("HTTP/1.1 200"));
    }
    let idle = rss_kib(&pid);
    let slow: Vec<std::net::TcpStream> = (0..1000)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&address).unwrap();
            std::io::Write::write_all(&mut s, b"GET /slow HTTP/1.1\r\nhost: weld\r\nx-wait: ")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let answer = http_get(&address, "/still");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let crowded = rss_kib(&pid);
    eprintln!("weld serve --http: {idle} KiB idle, {crowded} KiB with 1 000 slow clients");
    assert!(
        crowded.saturating_sub(idle) <= 64 << 10,
        "1 000 slow clients took {} KiB over the idle {idle} KiB",
        crowded - idle
    );
    drop(slow);
    let (status, _) = terminate(&mut server);
    assert!(status.success(), "{status}");
}

#[test]
fn a_host_with_handlers_but_no_http_address_is_told_where_to_give_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .arg("serve")
        .arg(weld_fixtures::path("http-hello"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("host `default` has nothing to serve over wRPC, and HTTP handlers but no address to serve them on: give the host `http = { address = \"IP:PORT\" }`, or serve it with --http IP:PORT"),
        "{stderr}"
    );
}

#[test]
fn serve_http_answers_and_stops_with_a_request_in_flight() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .arg("serve")
        .arg(weld_fixtures::path("http-hello"))
        .args(["--http", "127.0.0.1:0", "--json", "--grace-ms", "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve --http");
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ready: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a ready line ({e}): {line:?}"));
    assert_eq!(ready["event"], "http-ready", "{ready}");
    assert_eq!(ready["routes"][0]["component"], "http-hello", "{ready}");
    let address = ready["endpoint"]
        .as_str()
        .unwrap()
        .strip_prefix("http://")
        .unwrap()
        .to_string();
    let get = move |path: &str| http_get(&address, path);
    let answer = get("/hello");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("\r\nhello from weld: GET /hello\r\n"),
        "{answer}"
    );
    let looping = std::thread::spawn({
        let get = get.clone();
        move || get("/loop")
    });
    std::thread::sleep(Duration::from_millis(500));
    let (status, took) = terminate(&mut server);
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The cut request got no answer from the handler.
    assert!(!looping.join().unwrap().contains("hello from weld"));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let stopped: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(stopped["event"], "http-stopped", "{rest}");
    assert_eq!(stopped["stats"]["answered"], 1, "{rest}");
}

/// The next JSON line `weld serve --json` printed.
fn next_event(lines: &mut impl BufRead) -> serde_json::Value {
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"))
}

#[test]
fn a_watched_deployment_changes_while_it_serves_and_weld_status_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = two_hosts(&dir);
    let status = dir.path().join("edge-2.status.json");
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "serve",
            m.to_str().unwrap(),
            "--host",
            "edge-2",
            "--json",
            "--watch",
        ])
        .arg("--status")
        .arg(&status)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve");
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    // The calling side reads a copy: the served manifest is broken below.
    let caller = dir.path().join("caller.toml");
    std::fs::copy(&m, &caller).unwrap();
    assert_eq!(next_event(&mut lines)["event"], "ready");
    assert_eq!(
        result_of(run(&caller, "greet-caller.greet(\"cli\")")),
        "\"ok: hello, cli\""
    );

    // A new version of greet (its environment): applied, then served.
    let original = std::fs::read_to_string(&m).unwrap();
    let versioned = original.replace(
        "host = \"edge-2\"\n",
        "host = \"edge-2\"\nenv = { GREET_VERSION = \"2\" }\n",
    );
    std::fs::write(&m, &versioned).unwrap();
    let applied = next_event(&mut lines);
    assert_eq!(applied["event"], "applied", "{applied}");
    assert_eq!(applied["version"], 2);
    assert_eq!(
        result_of(run(&caller, "greet-caller.greet(\"cli\")")),
        "\"ok: hello, cli (v2)\""
    );
    let shown = crate::common::weld(&["status", status.to_str().unwrap()]);
    assert!(
        shown.status.success(),
        "{}",
        crate::common::text(&shown.stderr)
    );
    let text = crate::common::text(&shown.stdout);
    assert!(
        text.contains("plan version 2") && text.contains("greet  sha256:"),
        "{text}"
    );

    // A link to an export of another type: refused, version 2 serves on.
    std::fs::write(
        &m,
        versioned.replace("export = \"greet\"", "export = \"adder\""),
    )
    .unwrap();
    let refused = next_event(&mut lines);
    assert_eq!(refused["event"], "apply-refused", "{refused}");
    assert_eq!(refused["version"], 2);
    assert!(
        refused["error"].as_str().unwrap().contains("adder"),
        "{refused}"
    );
    let shown = crate::common::weld(&["status", status.to_str().unwrap(), "--json"]);
    assert_eq!(shown.status.code(), Some(1), "a refused change exits 1");
    let doc: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(doc["plan_version"], 2);
    assert_eq!(doc["last"]["applied"], false);
    assert_eq!(
        result_of(run(&caller, "greet-caller.greet(\"cli\")")),
        "\"ok: hello, cli (v2)\""
    );
    let (exit, _) = terminate(&mut server);
    assert!(exit.success());
}

#[test]
fn watch_refuses_component_files_and_status_names_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let greet = weld_fixtures::path("greet");
    let out = crate::common::weld(&[
        "serve",
        greet.to_str().unwrap(),
        "--watch",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::common::text(&out.stderr).contains("--watch watches a manifest"),
        "{}",
        crate::common::text(&out.stderr)
    );
    let missing = dir.path().join("none.json");
    let out = crate::common::weld(&["status", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::common::text(&out.stderr).contains("none.json"),
        "{}",
        crate::common::text(&out.stderr)
    );
}

/// greet-caller on `a` → greet on `b` over TCP `port`, greet answering as
/// `version`, every file in `dir` (as a desired state carries it).
fn greet_in_one_folder(dir: &Path, port: u16, version: u64) -> PathBuf {
    weld_fixtures::write_manifest_in(
        dir,
        &format!(
            "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
             [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\n\
             [hosts.b]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\n"
        ),
    )
}

/// What `greet-caller.greet("cli")` answers on host `a` of `manifest`.
fn greet_from_a(manifest: &Path) -> String {
    let child = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["run", manifest.to_str().unwrap(), "--host", "a", "--json"])
        .args(["--invoke", "greet-caller.greet(\"cli\")"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld run");
    result_of(child)
}

#[test]
fn a_host_serves_the_desired_state_a_bucket_holds_and_weld_status_reads_it_there() {
    let nats = weld_fixtures::nats::NatsServer::start_jetstream();
    let url = format!("{}/plans/prod", nats.url());
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let m = greet_in_one_folder(dir.path(), port, 1);

    // Nothing written yet: the host says so, and what writes one.
    let out = crate::common::weld(&["serve", "--plan-from", &url, "--host", "b"]);
    assert_eq!(out.status.code(), Some(1));
    let text = crate::common::text(&out.stderr);
    assert!(
        text.contains("no desired state under key `prod`") && text.contains("weld plan --apply"),
        "{text}"
    );

    let out = crate::common::weld(&[
        "plan",
        "--apply",
        m.to_str().unwrap(),
        "--to",
        &url,
        "--json",
    ]);
    assert!(out.status.success(), "{}", crate::common::text(&out.stdout));
    let written: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(written["files"], 3, "{written}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["serve", "--plan-from", &url, "--host", "b", "--json"])
        .args(["--heartbeat-ms", "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve");
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    assert_eq!(next_event(&mut lines)["event"], "ready");
    assert_eq!(greet_from_a(&m), "\"ok: hello, cli (v1)\"");

    // A new version written: the host applies it.
    let m = greet_in_one_folder(dir.path(), port, 2);
    let out = crate::common::weld(&["plan", "--apply", m.to_str().unwrap(), "--to", &url]);
    assert!(out.status.success(), "{}", crate::common::text(&out.stderr));
    assert!(
        crate::common::text(&out.stdout).contains("desired state revision"),
        "{}",
        crate::common::text(&out.stdout)
    );
    let applied = next_event(&mut lines);
    assert_eq!(applied["event"], "applied", "{applied}");
    assert_eq!(applied["version"], 2);
    let revision = applied["revision"].as_u64().expect("the revision applied");
    assert_eq!(greet_from_a(&m), "\"ok: hello, cli (v2)\"");
    let shown = crate::common::weld(&["status", &url, "--host", "b", "--json"]);
    assert!(
        shown.status.success(),
        "{}",
        crate::common::text(&shown.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        (doc["plan_version"].as_u64(), doc["revision"].as_u64()),
        (Some(2), Some(revision))
    );
    assert_eq!(doc["heartbeat_ms"], 500);
    let shown = crate::common::weld(&["status", &url, "--host", "c"]);
    assert_eq!(shown.status.code(), Some(1));
    assert!(
        crate::common::text(&shown.stderr).contains("host `c` has published no status"),
        "{}",
        crate::common::text(&shown.stderr)
    );

    // A deployment a host could not serve is not written.
    let elsewhere = tempfile::tempdir().unwrap();
    let absolute = weld_fixtures::write_manifest(
        elsewhere.path(),
        &std::fs::read_to_string(&m)
            .unwrap()
            .replace("components/greet-caller.wasm", "{greet-caller}")
            .replace("components/greet.wasm", "{greet}"),
    );
    let out = crate::common::weld(&["plan", "--apply", absolute.to_str().unwrap(), "--to", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::common::text(&out.stderr).contains("outside the desired state's files"),
        "{}",
        crate::common::text(&out.stderr)
    );
    let (exit, _) = terminate(&mut server);
    assert!(exit.success());
}

#[test]
fn a_watched_http_host_answers_from_its_changed_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let manifest = |version: u64| {
        weld_fixtures::write_manifest(
            dir.path(),
            &format!(
                "[components.http-greet]\npath = \"{{http-greet}}\"\nhost = \"a\"\n\n\
                 [components.greet]\npath = \"{{greet}}\"\nhost = \"a\"\nenv = {{ GREET_VERSION = \"{version}\" }}\n\n\
                 [[link]]\nimport = \"http-greet:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\
                 transport = \"in-process\"\nstrategy = \"host-linked\"\n\n\
                 [hosts.a.http]\naddress = \"127.0.0.1:{port}\"\n"
            ),
        )
    };
    let m = manifest(1);
    let mut server = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "serve",
            m.to_str().unwrap(),
            "--host",
            "a",
            "--watch",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start weld serve --watch");
    let mut lines = BufReader::new(server.stdout.take().unwrap());
    assert_eq!(next_event(&mut lines)["event"], "http-ready");
    let address = format!("127.0.0.1:{port}");
    assert!(http_get(&address, "/cli").contains("\r\nhello, cli (v1)"));
    manifest(2);
    let applied = next_event(&mut lines);
    assert_eq!(applied["event"], "applied", "{applied}");
    let answer = http_get(&address, "/cli");
    assert!(answer.contains("\r\nhello, cli (v2)"), "{answer}");
    let (exit, _) = terminate(&mut server);
    assert!(exit.success());
}
