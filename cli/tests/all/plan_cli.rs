//! `weld plan` and `weld inspect` end to end: the real binary on real
//! fixture components, one test per failure mode, each asserting the message
//! names the place.

use crate::common::weld;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A manifest in a fresh directory; `{name}` placeholders become fixture paths.
struct Case {
    _dir: tempfile::TempDir,
    manifest: PathBuf,
}

fn case(toml: &str) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let manifest = weld_fixtures::write_manifest(dir.path(), toml);
    Case {
        _dir: dir,
        manifest,
    }
}

fn plan(c: &Case) -> (i32, String, String) {
    let out = weld(&["plan", c.manifest.to_str().unwrap()]);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn expect_error(toml: &str, needles: &[&str]) -> String {
    let c = case(toml);
    let (code, _stdout, stderr) = plan(&c);
    assert_eq!(code, 1, "expected exit 1, stderr:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "missing `{n}` in:\n{stderr}");
    }
    stderr
}

#[test]
fn example_deployment_plans() {
    let root = weld_fixtures::workspace_root();
    let out = weld(&[
        "plan",
        root.join("examples/demo/weld.toml").to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("COMPONENT"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("driver")
            && l.contains("demo:math/adder@0.1.0")
            && l.contains("in-process")
            && l.contains("adder")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("chain-b") && l.contains("chain-c")),
        "{stdout}"
    );
    assert!(stdout.contains("plan complete: 7 components"), "{stdout}");
}

#[test]
fn json_plan_has_the_documented_schema() {
    let root = weld_fixtures::workspace_root();
    let out = weld(&[
        "plan",
        "--json",
        root.join("examples/two-hosts/weld.toml").to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["ok"], true);
    let wrpc = v["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transport"] == "wrpc")
        .expect("a wrpc resolution");
    assert_eq!(wrpc["component"], "greet-caller");
    assert_eq!(wrpc["import"], "demo:greet/greeter@0.1.0");
    assert_eq!(wrpc["peer"], "greet");
    assert_eq!(wrpc["endpoint"]["transport"], "tcp");
    assert_eq!(wrpc["endpoint"]["address"], "127.0.0.1:7761");
    assert_eq!(wrpc["timeout_ms"], 2000);
    assert!(wrpc["reason"].as_str().unwrap().contains("wRPC-safe"));
}

#[test]
fn dot_output_is_a_graph() {
    let root = weld_fixtures::workspace_root();
    let out = weld(&[
        "plan",
        "--dot",
        root.join("examples/two-hosts/weld.toml").to_str().unwrap(),
    ]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("digraph weld {"), "{s}");
    assert!(s.contains("\"greet-caller\" -> \"greet\""), "{s}");
    assert!(s.contains("wrpc"), "{s}");
    assert!(s.contains("label=\"host edge-2\""), "{s}");
}

#[test]
fn json_errors_are_data() {
    let c = case("[components.a]\npath = \"missing.wasm\"\n");
    let out = weld(&["plan", "--json", c.manifest.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["errors"][0]["kind"], "unreadable", "{v}");
    assert!(v["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("component `a`"));
    assert_eq!(v["errors"][0]["location"]["line"], 2);
}

#[test]
fn usage_errors_exit_2() {
    let out = weld(&["plan"]);
    assert_eq!(out.status.code(), Some(2));
    let out = weld(&["plan", "x.toml", "--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn syntax_error() {
    expect_error(
        "[components.a]\npath = \"a.wasm\n",
        &["invalid manifest", "weld.toml:2:"],
    );
}

#[test]
fn unknown_key() {
    expect_error(
        "[components.a]\npath = \"{adder}\"\nhots = \"edge-1\"\n",
        &["unknown field `hots`", "expected one of", "weld.toml:3:1"],
    );
}

#[test]
fn missing_file() {
    expect_error(
        "[components.a]\npath = \"nowhere.wasm\"\n",
        &[
            "component `a`: cannot read",
            "nowhere.wasm",
            "weld.toml:2:8",
        ],
    );
}

#[test]
fn non_wasm_bytes() {
    let c = case("[components.a]\npath = \"junk.wasm\"\n");
    std::fs::write(
        c.manifest.parent().unwrap().join("junk.wasm"),
        b"this is not wasm",
    )
    .unwrap();
    let (code, _, stderr) = plan(&c);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("component `a`:") && stderr.contains("is not a WebAssembly file"),
        "{stderr}"
    );
    assert!(stderr.contains("weld.toml:2:8"), "{stderr}");
}

#[test]
fn core_module_instead_of_component() {
    let c = case("[components.core]\npath = \"core.wasm\"\n");
    std::fs::write(
        c.manifest.parent().unwrap().join("core.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    let (code, _, stderr) = plan(&c);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("component `core`:")
            && stderr.contains("core WebAssembly module, not a component"),
        "{stderr}"
    );
}

/// A tiny component exporting `f: func() -> s32`, lifted from a core
/// function whose body is `i32.const 0` or, when `valid` is false,
/// `i64.const 0`: well-formed bytes and a well-typed component, but a
/// function body that does not type-check.
fn lifted_component(valid: bool) -> Vec<u8> {
    use wasm_encoder::{
        Alias, CanonicalFunctionSection, CanonicalOption, CodeSection, Component,
        ComponentAliasSection, ComponentExportKind, ComponentExportSection, ComponentTypeSection,
        ComponentValType, ExportKind, ExportSection, Function, FunctionSection, InstanceSection,
        Module, ModuleArg, ModuleSection, PrimitiveValType, TypeSection, ValType,
    };
    let mut module = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    module.section(&types);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    module.section(&funcs);
    let mut exports = ExportSection::new();
    exports.export("f", ExportKind::Func, 0);
    module.section(&exports);
    let mut body = Function::new([]);
    if valid {
        body.instructions().i32_const(0).end();
    } else {
        body.instructions().i64_const(0).end();
    }
    let mut code = CodeSection::new();
    code.function(&body);
    module.section(&code);

    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    let mut instances = InstanceSection::new();
    instances.instantiate(0, Vec::<(&str, ModuleArg)>::new());
    component.section(&instances);
    let mut aliases = ComponentAliasSection::new();
    aliases.alias(Alias::CoreInstanceExport {
        instance: 0,
        kind: ExportKind::Func,
        name: "f",
    });
    component.section(&aliases);
    let mut types = ComponentTypeSection::new();
    types
        .function()
        .params(Vec::<(&str, ComponentValType)>::new())
        .result(Some(PrimitiveValType::S32.into()));
    component.section(&types);
    let mut canon = CanonicalFunctionSection::new();
    canon.lift(0, 0, Vec::<CanonicalOption>::new());
    component.section(&canon);
    let mut exports = ComponentExportSection::new();
    exports.export("f", ComponentExportKind::Func, 0, None);
    component.section(&exports);
    component.finish()
}

/// A function body that does not validate fails `weld plan` (not only the
/// compile of `weld run`), naming the component, its file and the offset;
/// the same component with a well-typed body plans.
#[test]
fn invalid_function_body_fails_plan() {
    let c = case("[components.bad]\npath = \"bad.wasm\"\n");
    let file = c.manifest.parent().unwrap().join("bad.wasm");

    std::fs::write(&file, lifted_component(true)).unwrap();
    let (code, stdout, stderr) = plan(&c);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("plan complete: 1 component on 1 host"),
        "{stdout}"
    );

    std::fs::write(&file, lifted_component(false)).unwrap();
    let (code, stdout, stderr) = plan(&c);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "component `bad`: `{}` is not a valid component: type mismatch",
            file.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("(at byte offset "), "{stderr}");
    assert!(stderr.contains("weld.toml:2:8"), "{stderr}");

    let out = weld(&["inspect", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("type mismatch"), "{stderr}");
}

#[test]
fn unknown_component_in_link() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[[link]]\nimport = \"drivr:demo:math/adder@0.1.0\"\nexport = \"addr\"\n",
        &[
            "link import `drivr:demo:math/adder@0.1.0` names unknown component `drivr`",
            "weld.toml:6:10",
            "link export names unknown component `addr`",
            "weld.toml:7:10",
            "known components: `driver`, `adder`",
        ],
    );
}

#[test]
fn unknown_interface() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[[link]]\nimport = \"driver:demo:math/multiplier@0.1.0\"\nexport = \"adder\"\n",
        &[
            "component `driver` does not import `demo:math/multiplier@0.1.0`",
            "weld.toml:6:10",
            "`driver` imports `demo:math/adder@0.1.0`",
        ],
    );
}

#[test]
fn link_to_a_component_without_the_export() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[components.c]\npath = \"{chain-c}\"\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"c\"\n",
        &[
            "component `driver` import `demo:math/adder@0.1.0`: linked component `c` does not export `demo:math/adder@0.1.0`",
            "`c` exports `demo:chain/c-api@0.1.0`",
            "weld.toml:9:10",
        ],
    );
}

#[test]
fn missing_exporter() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n",
        &["component `driver` import `demo:math/adder@0.1.0`: no component exports it"],
    );
}

#[test]
fn ambiguous_exporter() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[components.newer]\npath = \"{adder-next}\"\n",
        &[
            "component `driver` import `demo:math/adder@0.1.0`: ambiguous, exported by `adder` (exports `demo:math/adder@0.1.0`), `newer` (exports `demo:math/adder@0.1.1`)",
            "import = \"driver:demo:math/adder@0.1.0\"",
        ],
    );
}

#[test]
fn semver_compatible_export_links() {
    let c = case(
        "[components.driver]\npath = \"{driver}\"\n[components.newer]\npath = \"{adder-next}\"\n",
    );
    let (code, stdout, stderr) = plan(&c);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("semver-compatible `demo:math/adder@0.1.1`"),
        "{stdout}"
    );
}

#[test]
fn type_mismatch() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.wide]\npath = \"{adder-wide}\"\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"wide\"\n",
        &[
            "component `driver` import `demo:math/adder@0.1.0` linked to `wide`: function `add`: parameter 0 (`a`): expected `u32`, found `u64`",
            "weld.toml:5:1",
        ],
    );
}

#[test]
fn cycle() {
    expect_error(
        "[components.a]\npath = \"{chain-a}\"\n[components.b]\npath = \"{chain-b}\"\n[components.loop]\npath = \"{chain-loop}\"\n",
        &["link cycle: `a` → `b` → `loop` → `a`"],
    );
}

#[test]
fn wrpc_link_without_wrpc_safe_functions() {
    let err = expect_error(
        "[components.driver]\npath = \"{driver}\"\nhost = \"edge-1\"\n[components.adder]\npath = \"{adder}\"\nhost = \"edge-2\"\n",
        &[
            "component `driver` import `demo:math/adder@0.1.0` linked to `adder`: cannot use wrpc (`driver` is on `edge-1`, `adder` on `edge-2`): these functions are not wRPC-safe: `add`, `echo`, `sum`",
            "use wrpc:rpc/error@0.1.0.{error};",
            "add: func(a: u32, b: u32) -> result<u32, error>  // now: func(a: u32, b: u32) -> u32",
            "allow-trap = true",
        ],
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn resources_over_wrpc_are_refused() {
    expect_error(
        "[components.app]\npath = \"{kv-consumer}\"\nhost = \"a\"\n[components.kv]\npath = \"{kv}\"\nhost = \"b\"\n[[link]]\nimport = \"app:demo:kv/store@0.1.0\"\nexport = \"kv\"\nallow-trap = true\n",
        &[
            "component `app` import `demo:kv/store@0.1.0` linked to `kv`: cannot use wrpc: the interface defines resource `bucket`, and resource handles cannot cross a wrpc link",
            "place `app` and `kv` on one host",
        ],
    );
}

#[test]
fn allow_trap_permits_wrpc() {
    let c = case(
        "[components.driver]\npath = \"{driver}\"\nhost = \"edge-1\"\n[components.adder]\npath = \"{adder}\"\nhost = \"edge-2\"\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nallow-trap = true\n",
    );
    let (code, stdout, stderr) = plan(&c);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("allow-trap"), "{stdout}");
}

#[test]
fn in_process_across_hosts_is_refused() {
    expect_error(
        "[components.driver]\npath = \"{driver}\"\nhost = \"edge-1\"\n[components.adder]\npath = \"{adder}\"\nhost = \"edge-2\"\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\ntransport = \"in-process\"\n",
        &["`in-process` needs both components on one host", "weld.toml:10:13"],
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let err = expect_error(
        "[components.driver]\npath = \"{driver}\"\n[components.wide]\npath = \"{adder-wide}\"\n[components.b]\npath = \"{chain-b}\"\n",
        &["parameter 0 (`a`)", "component `b` import `demo:chain/c-api@0.1.0`: no component exports it", "2 errors"],
    );
    assert!(err.contains("2 errors"));
}

#[test]
fn inspect_prints_wit_and_json() {
    let adder = weld_fixtures::path("driver");
    let out = weld(&["inspect", adder.to_str().unwrap()]);
    let wit = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(wit.contains("import demo:math/adder@0.1.0;"), "{wit}");
    assert!(wit.contains("export demo:math/runner@0.1.0;"), "{wit}");
    assert!(wit.contains("add: func(a: u32, b: u32) -> u32;"), "{wit}");

    let out = weld(&[
        "inspect",
        "--json",
        weld_fixtures::path("greet").to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let greeter = v["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "demo:greet/greeter@0.1.0")
        .unwrap();
    assert_eq!(greeter["kind"], "interface");
    assert_eq!(greeter["functions"][0]["name"], "hello");
    assert_eq!(
        greeter["functions"][0]["signature"],
        "func(name: string) -> result<string, error>"
    );
    assert_eq!(greeter["functions"][0]["wrpc_safe"], true);
}

#[test]
fn inspect_rejects_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "nope").unwrap();
    let out = weld(&["inspect", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a WebAssembly file"));
    let out = weld(&["inspect", Path::new("/nonexistent.wasm").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // The whole line: what failed, then its cause, once.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "error: cannot read `/nonexistent.wasm`: No such file or directory (os error 2)"
    );
}

#[test]
fn settings_without_effect_are_warned_about() {
    let c = case(
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nallow-trap = true\ntimeout-ms = 5\n",
    );
    let (code, _stdout, stderr) = plan(&c);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: component `driver` import `demo:math/adder@0.1.0`: `allow-trap`, `timeout-ms` have no effect on `in-process` links"),
        "{stderr}"
    );
    assert!(stderr.contains("weld.toml:5:1"), "{stderr}");
    let out = weld(&["plan", "--json", c.manifest.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["warnings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("no effect"));
}

/// Endpoints and timeouts are checked by syntax when the deployment is
/// planned, each error at the manifest line and column that says it.
#[test]
fn bad_endpoints_and_timeouts_are_refused_at_plan_time() {
    let pair = "[components.driver]\npath = \"{driver}\"\nhost = \"a\"\n[components.adder]\npath = \"{adder}\"\nhost = \"b\"\n";
    let cases: &[(&str, &[&str])] = &[
        (
            "[hosts.b]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:99999\" }\n",
            &["weld.toml:8:8", "host `b`: port `99999` is not a number from 0 to 65535"],
        ),
        (
            "[hosts.b]\nwrpc = { transport = \"tcp\", address = \"garbage\" }\n",
            &["weld.toml:8:8", "TCP address `garbage` is not `host:port`"],
        ),
        (
            "[hosts.b]\nwrpc = { transport = \"nats\", url = \"http://127.0.0.1:4222\" }\n",
            &["weld.toml:8:8", "must start with `nats://` or `tls://`"],
        ),
        (
            "[hosts.b]\nwrpc = { transport = \"nats\", prefix = \"*\" }\n",
            &["weld.toml:8:8", "NATS prefix `*` contains a wildcard"],
        ),
        (
            "[hosts.b]\nwrpc = { transport = \"nats\", prefix = \"a.*.>\" }\n",
            &["NATS prefix `a.*.>` contains a wildcard"],
        ),
        (
            "[hosts.b]\nqueue-group = \"a..b\"\n",
            &["weld.toml:8:15", "NATS queue group `a..b` has an empty token"],
        ),
        (
            &format!(
                "[hosts.b]\nwrpc = {{ transport = \"unix\", path = \"/{}\" }}\n",
                "s".repeat(200)
            ),
            &["weld.toml:8:8", "the limit is 107"],
        ),
        (
            "[hosts.a]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:7000\" }\n[hosts.b]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:7000\" }\n",
            &["weld.toml:10:8", "hosts `a` and `b` both serve on tcp://127.0.0.1:7000"],
        ),
        (
            "[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nallow-trap = true\ntimeout-ms = 18446744073709551615\n",
            &["link `timeout-ms` must be from 1 to 3600000"],
        ),
    ];
    for (extra, needles) in cases {
        let stderr = expect_error(&format!("{pair}{extra}"), needles);
        assert!(stderr.contains("1 error"), "{stderr}");
    }
}

/// `weld plan` on `args`, killed (and the test failed) if it runs past
/// 10 s: a FIFO or a device must be refused at once, not read.
fn plan_within_seconds(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("weld {args:?} did not finish within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Paths that are not regular files are refused at once, by name: a FIFO
/// as the manifest (opening it would block), `/dev/zero` as a component
/// (reading it would never end), a directory.
#[test]
fn fifos_devices_and_directories_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("weld.toml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let (code, stderr) = plan_within_seconds(&["plan", fifo.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is a FIFO, not a regular file"), "{stderr}");

    let (code, stderr) = plan_within_seconds(&["plan", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("is a directory, not a regular file"),
        "{stderr}"
    );

    let c = case("[components.zero]\npath = \"/dev/zero\"\n");
    let (code, stderr) = plan_within_seconds(&["plan", c.manifest.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "component `zero`: cannot read `/dev/zero`: it is a device, not a regular file"
        ),
        "{stderr}"
    );
}

/// Control characters quoted from a manifest (an ESC sequence in a quoted
/// key) are escaped in diagnostics, never sent to the terminal as they are.
#[test]
fn control_characters_in_a_manifest_are_escaped_in_diagnostics() {
    let stderr = expect_error(
        "[components.\"a\\u001b[31mred\"]\npath = \"{adder}\"\n",
        &["a\\u{1b}[31mred"],
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// `greet-caller` on host `a` calling `greet` on host `b` at `endpoint`.
fn remote_greet(endpoint: &str) -> Case {
    case(&format!(
        "[components.greet-caller]\npath = \"{{greet-caller}}\"\nhost = \"a\"\n\
         [components.greet]\npath = \"{{greet}}\"\nhost = \"b\"\n\
         [[link]]\nimport = \"greet-caller:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n\
         [hosts.b]\nwrpc = {endpoint}\n"
    ))
}

#[test]
fn the_plan_says_how_each_remote_link_is_secured_and_strict_security_refuses_cleartext() {
    let out_of_machine = remote_greet(r#"{ transport = "tcp", address = "10.0.0.7:7761" }"#);
    let (code, stdout, _) = plan(&out_of_machine);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("link `greet-caller` → `greet` over tcp://10.0.0.7:7761: unencrypted, callers not authenticated, reachable beyond this machine; anyone who reaches it may call"),
        "{stdout}"
    );
    assert!(
        stdout.contains("note: 1 link carrying calls unencrypted beyond this machine; --strict-security refuses them"),
        "{stdout}"
    );
    let json = weld(&["plan", "--json", out_of_machine.manifest.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let link = v["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transport"] == "wrpc")
        .unwrap();
    assert_eq!(
        link["security"],
        serde_json::json!({"encrypted": false, "authenticated": false, "leaves_machine": true, "callers": "anyone"})
    );

    let strict = |c: &Case| {
        let out = weld(&["plan", "--strict-security", c.manifest.to_str().unwrap()]);
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = strict(&out_of_machine);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("the link to host `b` (tcp://10.0.0.7:7761) would carry its calls unencrypted beyond this machine"),
        "{stderr}"
    );
    // `weld serve` refuses to start the same way, before binding anything.
    let serve = weld(&[
        "serve",
        out_of_machine.manifest.to_str().unwrap(),
        "--host",
        "b",
        "--strict-security",
    ]);
    assert_eq!(serve.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&serve.stderr).contains("would carry its calls unencrypted"),
        "{}",
        String::from_utf8_lossy(&serve.stderr)
    );
    // On this machine, or encrypted as far as the broker: allowed.
    for endpoint in [
        r#"{ transport = "tcp", address = "127.0.0.1:7761" }"#,
        r#"{ transport = "nats", url = "tls://broker.example:4222" }"#,
    ] {
        let (code, stderr) = strict(&remote_greet(endpoint));
        assert_eq!(code, 0, "{endpoint}: {stderr}");
    }
}

/// `driver` and `adder` on one host, their link with `extra` settings.
fn observed_pair(extra: &str) -> Case {
    case(&format!(
        "[components.driver]\npath = \"{{driver}}\"\n\n[components.adder]\npath = \"{{adder}}\"\n\n\
         [[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\n{extra}"
    ))
}

#[test]
fn observe_true_plans_a_link_host_linked_and_says_what_counting_costs() {
    // Fused by default: not observed, and the reason says so.
    let fused = observed_pair("");
    let out = weld(&["plan", "--json", fused.manifest.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = &v["resolutions"][0];
    assert_eq!(
        (link["strategy"].as_str(), link["observed"].as_bool()),
        (Some("fused"), Some(false)),
        "{link}"
    );
    assert!(
        link["reason"]
            .as_str()
            .unwrap()
            .contains("not counted (observe = true plans it host-linked)"),
        "{link}"
    );

    let observed = observed_pair("observe = true\n");
    let out = weld(&["plan", "--json", observed.manifest.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = &v["resolutions"][0];
    assert_eq!(link["strategy"], "host-linked", "{link}");
    assert_eq!(
        (link["observed"].as_bool(), link["observe"].as_bool()),
        (Some(true), Some(true)),
        "{link}"
    );
    assert!(
        link["reason"]
            .as_str()
            .unwrap()
            .ends_with("observe = true: host-linked, so each call is counted"),
        "{link}"
    );

    // With a calibration, the reason says what counting costs over fused.
    let costs = observed._dir.path().join("costs.json");
    let point = |ns: f64| {
        format!(
            r#"{{"class": "scalar", "bytes": 12, "ns": {ns}}}, {{"class": "string-1KiB", "bytes": 2048, "ns": {}}}"#,
            ns * 2.0
        )
    };
    std::fs::write(
        &costs,
        format!(
            r#"{{"format": "weld-costs", "version": 1, "created": "now", "machine": "test",
               "assumptions": {{"string_bytes": 32, "list_bytes": 1024}},
               "transports": [{{"key": "fused", "points": [{}]}}, {{"key": "host-linked", "points": [{}]}}]}}"#,
            point(10.0),
            point(250.0)
        ),
    )
    .unwrap();
    let out = weld(&[
        "plan",
        observed.manifest.to_str().unwrap(),
        "--costs",
        costs.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "observing costs X ns more per call than fused (Y ns against Z ns,
    // calibrated)", X = Y − Z, each from the calibration's two transports.
    let said = stdout
        .split("observing costs ")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    let ns: Vec<f64> = said
        .split(" ns")
        .take(3)
        .map(|n| n.rsplit([' ', '(']).next().unwrap().parse().unwrap())
        .collect();
    assert!(
        said.contains("more per call than fused (") && said.contains(", calibrated)"),
        "{said}"
    );
    assert!(
        (ns[0] - (ns[1] - ns[2])).abs() < 0.11 && ns[1] > 25.0 * ns[2] / 2.0,
        "{said}"
    );

    // Fused and counted cannot both hold.
    expect_error(
        &std::fs::read_to_string(observed_pair("observe = true\nstrategy = \"fused\"\n").manifest)
            .unwrap(),
        &[
            "weld.toml:",
            "`observe = true` with `strategy = \"fused\"`",
            "cannot be counted",
        ],
    );
}
