//! weld's WASI 0.3 conformance set: every case of
//! `fixtures/conformance/wasi-p3/*.json` (a WASI 0.3 command built from
//! source in `fixtures/guests`, its arguments, environment, directories and
//! stdin, and the exit status, stdout and files `wasmtime run` gives) run
//! through `weld run`, as `wasmtime run` would run it.
//!
//! With `WELD_ANCHOR_WASMTIME` set to a `wasmtime` executable, each case
//! also runs under `wasmtime run -Sp3 -Wcomponent-model-async`, which must
//! give the same results: how the expectations were checked.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One case of the set.
struct Case {
    name: String,
    component: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    dirs: Vec<String>,
    stdin: String,
    exit_code: i32,
    stdout: String,
    files: Vec<(String, String)>,
}

impl Case {
    fn load(path: &Path) -> Case {
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let strings = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let pairs = |key: &str| -> Vec<(String, String)> {
            v[key]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        Case {
            name: path.file_stem().unwrap().to_string_lossy().into_owned(),
            component: v["component"].as_str().unwrap().to_string(),
            args: strings("args"),
            env: pairs("env"),
            dirs: strings("dirs"),
            stdin: v["stdin"].as_str().unwrap_or("").to_string(),
            exit_code: v["exit_code"].as_i64().unwrap() as i32,
            stdout: v["stdout"].as_str().unwrap().to_string(),
            files: pairs("files"),
        }
    }

    /// A fresh sandbox: `root/data/a.txt`, an empty `root/out`, and
    /// `root/secret.txt` beside them, outside every preopen.
    fn sandbox() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::create_dir_all(root.join("out")).unwrap();
        std::fs::write(root.join("data/a.txt"), "the file a.txt\n").unwrap();
        std::fs::write(root.join("secret.txt"), "secret\n").unwrap();
        (tmp, root)
    }

    /// `--env K=V` and `--dir HOST::/GUEST` as both tools spell them.
    fn grants(&self, root: &Path) -> Vec<String> {
        let mut args = Vec::new();
        for (k, v) in &self.env {
            args.extend(["--env".to_string(), format!("{k}={v}")]);
        }
        for d in &self.dirs {
            args.extend([
                "--dir".to_string(),
                format!("{}::/{d}", root.join(d).display()),
            ]);
        }
        args
    }

    /// Checks what a tool did against the case.
    fn check(&self, tool: &str, out: &Output, root: &Path) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(self.exit_code),
            "{tool}, case `{}`: exit status; stderr: {stderr}",
            self.name
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            self.stdout,
            "{tool}, case `{}`: stdout; stderr: {stderr}",
            self.name
        );
        for (file, text) in &self.files {
            let got = std::fs::read_to_string(root.join(file)).unwrap_or_default();
            assert_eq!(&got, text, "{tool}, case `{}`: file {file}", self.name);
        }
    }
}

fn cases() -> Vec<Case> {
    let dir = weld_fixtures::workspace_root().join("fixtures/conformance/wasi-p3");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Case::load(p)).collect()
}

fn run(program: &Path, args: &[String], stdin: &str) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    crate::common::run_with_stdin(program, &args, stdin.as_bytes())
}

#[test]
fn weld_run_passes_the_wasi_p3_conformance_set() {
    let cases = cases();
    assert!(cases.len() >= 19, "the set has {} cases", cases.len());
    let weld = PathBuf::from(env!("CARGO_BIN_EXE_weld"));
    let anchor = std::env::var_os("WELD_ANCHOR_WASMTIME").map(PathBuf::from);
    for case in &cases {
        let component = weld_fixtures::path(&case.component).display().to_string();
        let (_tmp, root) = Case::sandbox();
        let mut args = vec!["run".to_string(), component.clone()];
        args.extend(case.grants(&root));
        args.push("--".into());
        args.extend(case.args.iter().cloned());
        case.check("weld run", &run(&weld, &args, &case.stdin), &root);

        if let Some(wasmtime) = &anchor {
            let (_tmp, root) = Case::sandbox();
            let mut args: Vec<String> = ["run", "-Sp3", "-Wcomponent-model-async"]
                .map(String::from)
                .to_vec();
            args.extend(case.grants(&root));
            args.push(component.clone());
            args.extend(case.args.iter().cloned());
            case.check("wasmtime run", &run(wasmtime, &args, &case.stdin), &root);
        }
    }
}

/// The command imports WASI 0.3 and, through the Rust standard library
/// of `wasm32-wasip2`, WASI 0.2: the plan names the release each import
/// gets, in full and folded one row per release.
#[test]
fn weld_plan_names_the_wasi_release_of_each_import() {
    let plan = |all: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weld"));
        cmd.arg("plan").arg(weld_fixtures::path("command-p3"));
        if all {
            cmd.arg("--all");
        }
        let out = cmd.env("WELD_CACHE_DIR", "off").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = plan(true);
    let row = |import: &str| {
        table
            .lines()
            .find(|l| l.contains(import))
            .unwrap_or_else(|| panic!("no `{import}` row:\n{table}"))
            .to_string()
    };
    assert!(
        row("wasi:cli/environment@0.3.0")
            .contains("WASI 0.3, provided by the host (wasmtime-wasi p3, async)"),
        "{table}"
    );
    assert!(
        row("wasi:filesystem/preopens@0.3.0").contains("WASI 0.3"),
        "{table}"
    );
    assert!(
        row("wasi:cli/environment@0.2")
            .contains("WASI 0.2, provided by the host (wasmtime-wasi p2)"),
        "{table}"
    );
    let folded = plan(false);
    let releases: Vec<&str> = folded.lines().filter(|l| l.contains("wasi:*@")).collect();
    assert_eq!(releases.len(), 2, "{folded}");
    assert!(releases[0].contains("wasi:*@0.2.x") && releases[0].contains("WASI 0.2"));
    assert!(releases[1].contains("wasi:*@0.3.x") && releases[1].contains("WASI 0.3"));
}
