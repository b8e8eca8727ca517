//! `weld run` and `weld compose` end to end with the real binary.

use crate::common::weld;
use std::process::Command;

fn manifest(dir: &tempfile::TempDir, toml: &str) -> String {
    weld_fixtures::write_manifest(dir.path(), toml)
        .display()
        .to_string()
}

#[test]
fn run_invokes_the_example() {
    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    for strategy in ["fused", "host-linked"] {
        let out = weld(&[
            "run",
            m.to_str().unwrap(),
            "--strategy",
            strategy,
            "--invoke",
            "driver.run-add(1000)",
            "--invoke",
            "chain-a.run(\"weld\")",
            "--invoke",
            "kv-consumer.exercise(\"b\", 2)",
            "--invoke",
            "kv-consumer.drops()",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout, "500\n\"a[WELD]\"\n\"b:2:value0\"\n1\n",
            "{strategy}"
        );
    }
}

#[test]
fn run_json() {
    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    let out = weld(&[
        "run",
        m.to_str().unwrap(),
        "--json",
        "-i",
        "driver.add-once(2, 3)",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"][0]["result"], "5");
    assert_eq!(
        v["calls"][0]["function"],
        "driver.demo:math/runner@0.1.0#add-once"
    );
}

#[test]
fn run_a_wasi_command_prints() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&dir, "[components.hello]\npath = \"{hello}\"\n");
    let out = weld(&["run", &m]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from a weld guest"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("and a line on stderr"));
}

#[test]
fn environment_and_directories_only_when_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.txt"), "1").unwrap();
    // Not granted: the host's own environment does not leak in.
    let m = manifest(&dir, "[components.hello]\npath = \"{hello}\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["run", &m])
        .env("WELD_GREETING", "leaked")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("no greeting") && stdout.contains("no /data"),
        "{stdout}"
    );
    // Granted by the manifest.
    let m = manifest(
        &dir,
        "[components.hello]\npath = \"{hello}\"\nenv = { WELD_GREETING = \"hi\" }\ndirs = { \"/data\" = \".\" }\n",
    );
    let out = weld(&["run", &m]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("greeting: hi"), "{stdout}");
    // The manifest directory holds weld.toml and one.txt.
    assert!(stdout.contains("data entries: 2"), "{stdout}");
    // A directory that does not exist is an error naming the component.
    let m = manifest(
        &dir,
        "[components.hello]\npath = \"{hello}\"\ndirs = { \"/data\" = \"missing\" }\n",
    );
    let out = weld(&["run", &m]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("component `hello`: cannot preopen"),
        "{stderr}"
    );
}

#[test]
fn run_errors_name_the_place() {
    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    let m = m.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", m, "-i", "driver.add-once(\"x\", 1)"],
            "argument 1 (`a`) of `driver.add-once`: `\"x\"` is not a `u32`: a string, not a number",
        ),
        (
            &["run", m, "-i", "driver"],
            "expected `component.function(args)`",
        ),
        (
            &["run", m, "-i", "nobody.f()"],
            "`nobody.f()`: name the component: `component.function(args)`, one of `",
        ),
        (
            &["run", m, "-i", "driver.add-once(1)"],
            "`driver.add-once(a: u32, b: u32)` expects 2 arguments, got 1",
        ),
        (
            &["run", m],
            "no component on this host exports `wasi:cli/run`",
        ),
        (
            &["run", m, "--host", "mars"],
            "no component is placed on host `mars`",
        ),
    ];
    for (args, needle) in cases {
        let out = weld(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: missing `{needle}` in {stderr}"
        );
    }
}

#[test]
fn run_reports_a_trap_with_its_call_path() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        &dir,
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder-trap}\"\n",
    );
    let out = weld(&[
        "run",
        &m,
        "--strategy",
        "host-linked",
        "-i",
        "driver.add-once(13, 1)",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A trap exits 134, as `wasmtime run` does.
    assert_eq!(out.status.code(), Some(134), "{stderr}");
    assert!(
        stderr.contains("component `driver` function `demo:math/runner@0.1.0#add-once` trapped"),
        "{stderr}"
    );
    assert!(
        stderr.contains("→ `adder` `demo:math/adder@0.1.0#add`"),
        "{stderr}"
    );
}

#[test]
fn compose_writes_a_valid_component_and_wac() {
    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("app.wasm");
    let out = weld(&[
        "compose",
        m.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("fused 7 components"), "{stdout}");
    assert!(
        stdout.contains("demo:math/runner@0.1.0 (from driver)"),
        "{stdout}"
    );
    // What it says is left imported is what the artifact imports (the
    // number depends on the WASI imports of the toolchain's std).
    let bytes = std::fs::read(&out_path).unwrap();
    let imports = weld_compose::top_level_imports(&bytes).unwrap();
    assert!(
        stdout.contains(&format!("left imported ({}):", imports.len())),
        "{stdout}\n{imports:?}"
    );
    for import in &imports {
        assert!(
            stdout.contains(&format!("\n  {import}\n")),
            "{import}: {stdout}"
        );
    }
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&bytes)
        .unwrap();
    assert!(!dir.path().join("app.wasm.partial").exists());

    let out = weld(&["compose", m.to_str().unwrap(), "--wac"]);
    let wac = String::from_utf8_lossy(&out.stdout);
    assert!(wac.contains("package weld:composition;"), "{wac}");
    assert!(
        wac.contains("let driver = new weld:driver { \"demo:math/adder@0.1.0\": adder[\"demo:math/adder@0.1.0\"], ... };"),
        "{wac}"
    );
    assert!(
        wac.contains("export chain-a[\"demo:chain/a-api@0.1.0\"];"),
        "{wac}"
    );
}

#[test]
fn compose_failures_name_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[components.driver]\npath = \"{driver}\"\n[components.wide]\npath = \"{adder-wide}\"\n",
            "component `driver` import `demo:math/adder@0.1.0` linked to `wide`: function `add`: parameter 0 (`a`): expected `u32`, found `u64`",
        ),
        ("[components.driver]\npath = \"{driver}\"\n", "component `driver` import `demo:math/adder@0.1.0`: no component exports it"),
        (
            "[components.driver]\npath = \"{driver}\"\n[components.a1]\npath = \"{adder}\"\n[components.a2]\npath = \"{adder}\"\n",
            "ambiguous, exported by `a1`",
        ),
        (
            "[components.a]\npath = \"{chain-a}\"\n[components.b]\npath = \"{chain-b}\"\n[components.loop]\npath = \"{chain-loop}\"\n",
            "link cycle: `a` → `b` → `loop` → `a`",
        ),
        (
            "[components.adder]\npath = \"{adder}\"\n[components.a2]\npath = \"{adder}\"\n",
            "components `adder` and `a2` both export `demo:math/adder@0.1.0`",
        ),
    ];
    for (toml, needle) in cases {
        let m = manifest(&dir, toml);
        let out = weld(&[
            "compose",
            &m,
            "-o",
            dir.path().join("x.wasm").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "missing `{needle}` in {stderr}");
        assert!(
            !dir.path().join("x.wasm").exists(),
            "nothing written on failure"
        );
    }
}

#[test]
fn bench_prints_the_matrix() {
    let out = weld(&["bench", "--budget-ms", "5", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // 4 payloads × (native + 6 in-process series, 2 with a deadline, + wRPC
    // tcp and unix), and the two host-linked floors of `add`.
    assert_eq!(rows.len(), 38, "{rows:?}");
    for r in rows {
        let ns = r["ns_per_call"].as_f64().unwrap();
        assert!(ns > 0.0 && ns.is_finite(), "{r}");
    }
    for series in [
        "host-linked (tuned)",
        "wRPC tcp (loopback)",
        "wRPC unix",
        "host import floor (tuned)",
        "host entry floor (tuned)",
    ] {
        assert!(
            rows.iter()
                .any(|r| r["series"] == series && r["payload"] == "add(u32,u32)"),
            "{series}"
        );
    }
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[24/24]")
            && String::from_utf8_lossy(&out.stderr).contains("[8/8]"),
        "progress is shown"
    );

    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    let out = weld(&[
        "bench",
        m.to_str().unwrap(),
        "--budget-ms",
        "5",
        "-i",
        "driver.run-add(100)*100",
        "--matrix",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("| driver.run-add(100) | fused (tuned) |")
            && stdout.contains("| driver.run-add(100) | as planned (tuned) |"),
        "{stdout}"
    );
    let out = weld(&["bench", m.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--invoke"));
}

/// `weld bench --load`: throughput and latency per transport and level,
/// with every call's result checked (none lost, none run twice).
#[test]
fn bench_load_reports_throughput_with_nothing_lost() {
    let out = weld(&[
        "bench",
        "--load",
        "--calls",
        "300",
        "--concurrency",
        "1",
        "--concurrency",
        "8",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["load"].as_array().unwrap();
    // (tcp, unix) × (1, 8).
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in rows {
        assert_eq!(r["calls"], 300, "{r}");
        assert_eq!(
            (r["lost"].as_u64(), r["duplicated"].as_u64()),
            (Some(0), Some(0)),
            "{r}"
        );
        let p50 = r["p50_us"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= r["p99_us"].as_f64().unwrap(), "{r}");
    }
}

#[test]
fn a_looping_guest_stops_at_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(&dir, "[components.hog]\npath = \"{hog}\"\n");
    let started = std::time::Instant::now();
    let out = weld(&[
        "run",
        &m,
        "--invoke",
        "hog.hog.spin()",
        "--deadline-ms",
        "100",
    ]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "component `hog` function `demo:hog/hog@0.1.0#spin` exceeded its deadline of 100 ms"
        ),
        "{stderr}"
    );
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
}

#[test]
fn growing_past_max_memory_fails_naming_the_component() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        &dir,
        "[components.hog]\npath = \"{hog}\"\nmax-memory = \"8MiB\"\n",
    );
    let ok = weld(&["run", &m, "--invoke", "hog.grow(1)"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = weld(&["run", &m, "--invoke", "hog.grow(64)"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("component `hog` function `demo:hog/hog@0.1.0#grow`"),
        "{stderr}"
    );
    assert!(stderr.contains("capped at 8 MiB"), "{stderr}");
}

/// `weld bench --external`: the native peer in its own process calls the
/// floor server and `weld serve` over TCP, Unix and NATS; every row has a
/// ratio to the floor, a bare exchange (a bare NATS request/reply) is
/// measured beside them, and over TCP 64 calls in flight give throughput.
#[test]
fn bench_external_measures_against_the_native_floor() {
    // The tests build the native peer on first use.
    let peer = weld_fixtures::peer::binary();
    let broker = weld_fixtures::nats::NatsServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "bench",
            "--external",
            "--rounds",
            "1",
            "--round-calls",
            "64",
            "--nats",
            broker.url(),
            "--json",
        ])
        .env("WELD_WRPC_PEER", &peer)
        .output()
        .unwrap();
    // With --json the error is on stdout: both are shown.
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["external"].as_array().unwrap();
    let of = |transport: &str, function: &str, concurrency: u64, server: &str| {
        rows.iter()
            .find(|r| {
                r["transport"] == transport
                    && r["function"] == function
                    && r["concurrency"] == concurrency
                    && r["server"].as_str().unwrap().starts_with(server)
            })
            .unwrap_or_else(|| panic!("{transport} {function} ×{concurrency} {server}: {v}"))
    };
    for transport in ["tcp", "unix", "nats", "quic"] {
        for function in ["add", "sum"] {
            assert_eq!(of(transport, function, 1, "floor")["vs_floor"], 1.0);
            // QUIC's floor is the native server on its warm connection:
            // no bare exchange.
            if transport != "quic" {
                assert!(
                    of(transport, function, 1, "reference: bare")["p50_us"]
                        .as_f64()
                        .unwrap()
                        > 0.0
                );
            }
            assert!(
                of(transport, function, 1, "weld serve (shared)")["p50_us"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
            assert!(
                of(transport, function, 1, "weld serve (per-call)")["vs_floor"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
            if matches!(transport, "tcp" | "unix") {
                // The minimal responder answers the peer's calls, so its
                // parsing of the invocation is right.
                let minimal = of(transport, function, 1, "reference: minimal");
                assert!(minimal["p50_us"].as_f64().unwrap() > 0.0, "{minimal}");
            }
        }
    }
    for transport in ["tcp", "quic"] {
        for server in ["floor", "weld serve (shared)", "weld serve (per-call)"] {
            assert!(
                of(transport, "add", 64, server)["calls_per_s"]
                    .as_f64()
                    .unwrap()
                    > 0.0
            );
        }
    }
}

/// A wRPC-safe interface (it `use`s `wrpc:rpc/error`) links host-linked as
/// it does fused, and the callee's error value reaches the caller: the
/// caller → relay link is host-linked, the relay's own import goes over
/// wRPC to an address where nothing listens.
#[test]
fn host_linked_links_carry_wrpc_safe_interfaces_and_their_errors() {
    let caller = weld_fixtures::path("greet-caller").display().to_string();
    let greet = weld_fixtures::path("greet").display().to_string();
    for strategy in ["fused", "host-linked"] {
        let out = weld(&[
            "run",
            &caller,
            &greet,
            "--strategy",
            strategy,
            "-i",
            "greet-caller.greet(\"x\")",
        ]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{strategy}: {stderr}");
        assert!(stdout.contains("ok: hello, x"), "{strategy}: {stdout}");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    for strategy in ["fused", "host-linked"] {
        let m = manifest(
            &dir,
            &format!(
                r#"
[components.greet-caller]
path = "{{greet-caller}}"
host = "a"
[components.greet-relay]
path = "{{greet-relay}}"
host = "a"
[components.greet]
path = "{{greet}}"
host = "b"
[hosts.b]
wrpc = {{ transport = "tcp", address = "127.0.0.1:{port}" }}
[[link]]
import = "greet-caller:demo:greet/greeter@0.1.0"
export = "greet-relay"
strategy = "{strategy}"
[[link]]
import = "greet-relay:demo:greet/greeter@0.1.0"
export = "greet"
"#
            ),
        );
        let out = weld(&["run", &m, "--host", "a", "-i", "greet-caller.greet(\"x\")"]);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{strategy}: {stderr}");
        assert!(stdout.contains("error: "), "{strategy}: {stdout}");
        assert!(!stdout.contains("ok:"), "{strategy}: {stdout}");
    }
}

/// A wrong argument or an unknown function is reported from the
/// component's types before anything compiles: no "preparing" line (it is
/// printed just before compiling starts).
#[test]
fn call_errors_are_reported_before_compiling() {
    let calc = weld_fixtures::path("calculator").display().to_string();
    let add = weld_fixtures::path("add").display().to_string();
    for (call, expected) in [
        (
            "calculator.eval-expression(add, 1, -2)",
            "argument 3 (`y`) of `calculator.eval-expression`: `-2` is not a `u32`: a negative number",
        ),
        (
            "calculator.no-such(1)",
            "component `calculator` exports no function `no-such`",
        ),
    ] {
        let out = weld(&["run", &calc, &add, "-i", call]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{call}: {stderr}");
        assert!(!stderr.contains("preparing"), "{call}: {stderr}");
    }
    // A right call still runs.
    let out = weld(&[
        "run",
        &calc,
        &add,
        "-i",
        "calculator.eval-expression(add, 1, 2)",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A component file whose stem is no valid name (`my.app.wasm`, the
/// tutorial's `calculator.composed.wasm`) runs under a derived name,
/// printed once; no diagnostic points into the generated manifest.
#[test]
fn a_dotted_file_name_runs_under_a_derived_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("my.app.wasm");
    std::fs::copy(weld_fixtures::path("add"), &app).unwrap();
    let calc = weld_fixtures::path("calculator").display().to_string();
    let app = app.display().to_string();
    let out = weld(&["run", &calc, &app, "-i", "my-app.add(40, 2)"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "42", "{stdout}");
    assert_eq!(
        stderr
            .matches(&format!("note: `{app}` is component `my-app`"))
            .count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("<component files>"), "{stderr}");
    // Two files that derive the same name are named, not merged.
    let other = dir.path().join("my-app.wasm");
    std::fs::copy(weld_fixtures::path("add"), &other).unwrap();
    let out = weld(&[
        "run",
        &app,
        other.to_str().unwrap(),
        "-i",
        "my-app.add(1, 2)",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("would both be component `my-app`"),
        "{stderr}"
    );
    assert!(!stderr.contains("<component files>"), "{stderr}");
}

/// `weld bench --http`: one short round; a row per server and
/// concurrency, each with requests answered, and `--rounds` refused
/// without a round-based bench.
#[test]
fn bench_http_measures_every_handler() {
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "bench",
            "--http",
            "--rounds",
            "1",
            "--seconds",
            "1",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["http"].as_array().unwrap();
    let servers: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["server"].as_str().unwrap()).collect();
    for s in [
        "weld (hello, WASI 0.2)",
        "weld (hello, WASI 0.3)",
        "weld (one host-linked call)",
        "weld (one wRPC call over TCP)",
    ] {
        assert!(servers.contains(s), "{s}: {v}");
    }
    for r in rows {
        assert!(r["requests_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(v["notes"].as_array().unwrap().len(), 1, "{v}");
    let refused = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["bench", "--rounds", "2"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
