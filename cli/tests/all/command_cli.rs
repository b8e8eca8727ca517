//! `weld run` as a command runner (`wasmtime run`'s conventions): arguments
//! after `--`, stdin, exit statuses, traps; and component files given
//! without a manifest, to `run`, `plan`, `compose` and `bench`.

use crate::common::text;
use std::process::{Command, Output};

/// The tutorial's three components, as files.
fn tutorial() -> Vec<String> {
    ["command", "calculator", "add"]
        .iter()
        .map(|n| weld_fixtures::path(n).display().to_string())
        .collect()
}

fn weld_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    crate::common::run_with_stdin(crate::common::weld_exe(), args, stdin)
}

/// `weld run <tutorial files> [extra] -- <guest args>`.
fn run_command(extra: &[&str], guest: &[&str]) -> Output {
    let files = tutorial();
    let mut args: Vec<&str> = vec!["run"];
    args.extend(files.iter().map(String::as_str));
    args.extend(extra);
    args.push("--");
    args.extend(guest);
    weld_with_stdin(&args, b"")
}

#[test]
fn the_tutorial_command_gets_its_arguments_fused_and_host_linked() {
    for strategy in ["fused", "host-linked"] {
        let out = run_command(&["--strategy", strategy], &["1", "2", "add"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "1 + 2 = 3\n", "{strategy}");
        // Only what the guest prints, as `wasmtime run`.
        assert_eq!(text(&out.stderr), "", "{strategy}");
    }
}

#[test]
fn argv0_is_the_component_name() {
    let out = run_command(&[], &["bogus"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("argv[0] = Some(\"command\")"),
        "{}",
        text(&out.stderr)
    );
    // The guest's own failure is its exit status, not a weld error.
    assert!(!text(&out.stderr).contains("error:  "));
    assert!(!text(&out.stderr).contains("trapped"));
}

#[test]
fn stdin_reaches_the_command() {
    let files = tutorial();
    for strategy in ["fused", "host-linked"] {
        let mut args: Vec<&str> = vec!["run", "--strategy", strategy];
        args.extend(files.iter().map(String::as_str));
        args.extend(["--", "--stdin"]);
        let out = weld_with_stdin(&args, b"from the pipe\n");
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "stdin: from the pipe\n");
    }
}

#[test]
fn the_exit_status_is_welds() {
    for strategy in ["fused", "host-linked"] {
        for status in ["0", "1", "3"] {
            let out = run_command(&["--strategy", strategy], &["--exit", status]);
            assert_eq!(
                out.status.code(),
                Some(status.parse().unwrap()),
                "{strategy} exit {status}: {}",
                text(&out.stderr)
            );
            assert!(
                !text(&out.stderr).contains("trapped"),
                "{strategy} exit {status}: {}",
                text(&out.stderr)
            );
        }
    }
}

#[test]
fn help_inside_the_guest_exits_zero() {
    let out = run_command(&[], &["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("usage: command"));
}

#[test]
fn a_trap_exits_134_with_its_report() {
    for strategy in ["fused", "host-linked"] {
        let out = run_command(&["--strategy", strategy], &["--trap"]);
        assert_eq!(out.status.code(), Some(134), "{strategy}");
        let err = text(&out.stderr);
        assert!(
            err.contains("component `command`")
                && err.contains("trapped")
                && err.contains("unreachable"),
            "{err}"
        );
        assert!(!err.contains("1 error"), "no diagnostics footer: {err}");
    }
}

#[test]
fn env_and_dir_grants_add_to_the_manifests() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("one"), "1").unwrap();
    std::fs::write(data.path().join("two"), "2").unwrap();
    let hello = weld_fixtures::path("hello").display().to_string();
    let dir = format!("{}::/data", data.path().display());
    let out = weld_with_stdin(
        &["run", &hello, "--env", "WELD_GREETING=hi", "--dir", &dir],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("greeting: hi"), "{stdout}");
    assert!(stdout.contains("data entries: 2"), "{stdout}");
    // Nothing granted without the flags.
    let out = weld_with_stdin(&["run", &hello], b"");
    assert!(text(&out.stdout).contains("no greeting"));
    assert!(text(&out.stdout).contains("no /data"));
}

#[test]
fn usage_errors_exit_two() {
    let out = weld_with_stdin(&["run", "--env", "=x", "x.wasm"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = weld_with_stdin(&["run"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn component_files_plan_compose_and_invoke() {
    let files = tutorial();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut plan = vec!["plan"];
    plan.extend(&refs);
    let out = weld_with_stdin(&plan, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("command     docs:calculator/calculate@0.1.0  in-process  calculator"),
        "{table}"
    );
    assert!(
        table.contains("calculator  docs:adder/add@0.1.0"),
        "{table}"
    );

    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm").display().to_string();
    let mut compose = vec!["compose"];
    compose.extend(&refs);
    compose.extend(["-o", &app]);
    let out = weld_with_stdin(&compose, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The composed file is itself a component file weld runs.
    let out = weld_with_stdin(&["run", &app, "--", "20", "22", "add"], b"");
    assert_eq!(text(&out.stdout), "20 + 22 = 42\n", "{}", text(&out.stderr));

    let mut invoke = vec!["run"];
    invoke.extend(&refs);
    invoke.extend(["-i", "calculator.eval-expression(add, 40, 2)"]);
    let out = weld_with_stdin(&invoke, b"");
    assert_eq!(text(&out.stdout), "42\n", "{}", text(&out.stderr));
}

#[test]
fn a_file_is_told_by_its_magic_not_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    // A component without the .wasm extension.
    let bare = dir.path().join("adder-component");
    std::fs::copy(weld_fixtures::path("add"), &bare).unwrap();
    let out = weld_with_stdin(&["plan", bare.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A manifest named .wasm is still a manifest (and fails as one).
    let fake = dir.path().join("weld.wasm");
    std::fs::write(&fake, "[components.x]\npath = \"missing.wasm\"\n").unwrap();
    let out = weld_with_stdin(&["plan", fake.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("missing.wasm"),
        "{}",
        text(&out.stderr)
    );
    // A manifest among component files is refused by name.
    let out = weld_with_stdin(
        &["plan", bare.to_str().unwrap(), fake.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("weld.wasm` is not a component"));
}

#[test]
fn two_files_with_one_stem_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("add.wasm");
    std::fs::copy(weld_fixtures::path("add"), &other).unwrap();
    let mine = weld_fixtures::path("add").display().to_string();
    let out = weld_with_stdin(&["plan", &mine, other.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&mine) && err.contains(other.to_str().unwrap()),
        "{err}"
    );
    assert!(err.contains("would both be component `add`"), "{err}");
}

#[test]
fn a_fifo_or_a_device_as_a_component_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("app.wasm");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let started = std::time::Instant::now();
    let out = weld_with_stdin(&["run", fifo.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a FIFO"),
        "{}",
        text(&out.stderr)
    );
    let out = weld_with_stdin(&["plan", "/dev/zero"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("a device"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn the_size_caps_are_configurable() {
    let add = weld_fixtures::path("add").display().to_string();
    let out = weld_with_stdin(&["plan", &add, "--max-component-size", "1KiB"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("larger than the 1024-byte limit"),
        "{}",
        text(&out.stderr)
    );
    let m = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let out = weld_with_stdin(
        &["plan", m.to_str().unwrap(), "--max-manifest-size", "16"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("16-byte limit"));
    let out = weld_with_stdin(&["plan", &add, "--max-component-size", "lots"], b"");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn invoke_reads_a_large_call_from_a_file_or_stdin() {
    // 1 MiB of argument: far past what an argv entry may hold (128 KiB).
    let big = "x".repeat(1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("call.wave");
    std::fs::write(&file, format!("driver.echo-once(\"{big}\")")).unwrap();
    let m = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let m = m.to_str().unwrap();
    let at_file = format!("@{}", file.display());
    let out = weld_with_stdin(&["run", m, "-i", &at_file], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end().len(), big.len() + 2);
    let out = weld_with_stdin(
        &["run", m, "-i", "@-"],
        format!("driver.echo-once(\"{big}\")").as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end().len(), big.len() + 2);
    // A FIFO is refused at once, not waited on.
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let at_fifo = format!("@{}", fifo.display());
    let out = weld_with_stdin(&["run", m, "-i", &at_fifo], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("a FIFO"));
}

#[test]
fn one_component_needs_no_prefix_and_bad_arguments_point_at_themselves() {
    let calc_files = [
        weld_fixtures::path("calculator").display().to_string(),
        weld_fixtures::path("add").display().to_string(),
    ];
    let mut args: Vec<&str> = vec!["run"];
    args.extend(calc_files.iter().map(String::as_str));
    args.extend(["-i", "calculator.eval-expression(add, 1, -2)"]);
    let out = weld_with_stdin(&args, b"");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("argument 3 (`y`) of `calculator.eval-expression`: `-2` is not a `u32`: a negative number"),
        "{err}"
    );
    assert!(!err.contains("1 error"), "{err}");
    // A composed file is one component: no prefix needed.
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("calc.wasm").display().to_string();
    let mut compose = vec!["compose"];
    compose.extend(calc_files.iter().map(String::as_str));
    compose.extend(["-o", &app]);
    let out = weld_with_stdin(&compose, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for call in [
        "eval-expression(add, 40, 2)",
        "calc.eval-expression(add, 40, 2)",
        "docs:calculator/calculate@0.1.0#eval-expression(add, 40, 2)",
    ] {
        let out = weld_with_stdin(&["run", &app, "-i", call], b"");
        assert_eq!(text(&out.stdout), "42\n", "{call}: {}", text(&out.stderr));
    }
}

#[test]
fn bench_takes_component_files() {
    let files = tutorial();
    let mut args: Vec<&str> = vec!["bench"];
    args.extend(files[1..].iter().map(String::as_str));
    args.extend([
        "-i",
        "calculator.eval-expression(add, 1, 2)",
        "--budget-ms",
        "20",
        "--json",
    ]);
    let out = weld_with_stdin(&args, b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["rows"].as_array().is_some_and(|r| !r.is_empty()), "{v}");
}

#[test]
fn a_call_file_past_its_cap_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("call.wave");
    // 64 MiB + 1, sparse: refused by its size, nothing read.
    std::fs::File::create(&file)
        .unwrap()
        .set_len((64 << 20) + 1)
        .unwrap();
    let m = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let at = format!("@{}", file.display());
    let out = weld_with_stdin(&["run", m.to_str().unwrap(), "-i", &at], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("larger than the 67108864-byte limit"),
        "{}",
        text(&out.stderr)
    );
}
