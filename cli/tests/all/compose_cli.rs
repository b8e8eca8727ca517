//! `weld compose` end to end with the real binary: which components go
//! into the output, the `--exports` list, the WAC source and its header,
//! and how a failure is reported.

use crate::common::{text, weld};

/// `driver` linked to `adder`, and `greet`, which nothing links to or from.
const WITH_UNLINKED: &str = "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n[components.greet]\npath = \"{greet}\"\n";

/// The names of the exports of the component at `path`, per `weld inspect`.
fn exports_of(path: &std::path::Path) -> Vec<String> {
    let out = weld(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// A component that is neither exported nor reached by a link from an
/// exported one is left out of the output, with a warning naming it.
#[test]
fn unlinked_components_are_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{WITH_UNLINKED}[compose]\nexports = [\"driver\"]\n");
    let m = weld_fixtures::write_manifest(dir.path(), &toml);
    let app = dir.path().join("app.wasm");
    let out = weld(&["compose", m.to_str().unwrap(), "-o", app.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: component `greet` is not linked from any exported component; left out of the composition"),
        "{stderr}"
    );
    assert!(!stderr.contains("`adder`"), "{stderr}");
    assert!(
        stdout.contains("fused 2 components: adder, driver"),
        "{stdout}"
    );
    assert_eq!(exports_of(&app), ["demo:math/runner@0.1.0"]);

    // The WAC source leaves it out too, and JSON carries the warning.
    let out = weld(&["compose", m.to_str().unwrap(), "--wac"]);
    let wac = text(&out.stdout);
    assert!(!wac.contains("greet"), "{wac}");
    assert!(text(&out.stderr).contains("warning: component `greet`"));
    let out = weld(&[
        "compose",
        m.to_str().unwrap(),
        "-o",
        app.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["warnings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`greet` is not linked"));
    assert_eq!(v["fused"], serde_json::json!(["adder", "driver"]));
}

/// A component that is exported stays, linked or not: named in
/// `--exports`, or a root when nothing is named.
#[test]
fn exported_components_stay() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(dir.path(), WITH_UNLINKED);
    let app = dir.path().join("app.wasm");
    for extra in [&[][..], &["--exports", "driver,greet"][..]] {
        let mut args = vec!["compose", m.to_str().unwrap(), "-o", app.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = weld(&args);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(!stderr.contains("warning"), "{extra:?}: {stderr}");
        assert_eq!(
            exports_of(&app),
            ["demo:math/runner@0.1.0", "demo:greet/greeter@0.1.0"],
            "{extra:?}"
        );
    }
}

/// `--exports 'calculator, command'`: each name is trimmed, empty ones
/// are ignored.
#[test]
fn exports_list_tolerates_spaces() {
    let root = weld_fixtures::workspace_root();
    let m = root.join("examples/demo/weld.toml");
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let out = weld(&[
        "compose",
        m.to_str().unwrap(),
        "--exports",
        " driver, chain-a ,,",
        "-o",
        app.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let from: Vec<&str> = v["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["from"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["driver", "chain-a"]);
    // `kv` and `kv-consumer` are left out: neither named nor linked.
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v}");

    let out = weld(&["compose", m.to_str().unwrap(), "--exports", " , ", "--wac"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("the list of components to export is empty"),
        "{}",
        text(&out.stderr)
    );
}

/// The header of the WAC source is the exact command that reproduces the
/// composition: on stdout, save it first; written to a file, compose that
/// file. Both keep every `--dep`.
#[test]
fn wac_header_tells_the_exact_reproduction() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.driver]\npath = \"{driver}\"\n[components.adder]\npath = \"{adder}\"\n",
    );
    let adder = weld_fixtures::path("adder");
    let driver = weld_fixtures::path("driver");
    let deps = format!(
        "--dep weld:adder={} --dep weld:driver={}",
        adder.display(),
        driver.display()
    );

    let out = weld(&[
        "compose",
        m.to_str().unwrap(),
        "--exports",
        "driver",
        "--wac",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let wac = text(&out.stdout);
    let header: Vec<&str> = wac.lines().take(3).collect();
    assert_eq!(header[0], "// Generated by weld.");
    assert_eq!(
        header[1],
        format!(
            "// Reproduce: weld compose {} --exports driver --wac composition.wac && wac compose composition.wac {deps}",
            m.display()
        )
    );
    assert_eq!(header[2], "package weld:composition;");

    let file = dir.path().join("app.wac");
    let out = weld(&[
        "compose",
        m.to_str().unwrap(),
        "--wac",
        file.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!("wrote {} (WAC source)", file.display())),
        "{stdout}"
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        saved.lines().nth(1).unwrap(),
        format!("// Reproduce: wac compose {} {deps}", file.display())
    );
    // The body is the one printed on stdout.
    assert_eq!(
        saved.lines().skip(2).collect::<Vec<_>>(),
        wac.lines().skip(2).collect::<Vec<_>>()
    );
    assert!(!dir.path().join("app.wac.partial").exists());
}

/// A composition failure is one error, not a list of problems: no count
/// under it; as JSON, the usual error document.
#[test]
fn a_failure_is_one_error_without_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.adder]\npath = \"{adder}\"\n[components.a2]\npath = \"{adder}\"\n",
    );
    let out = weld(&["compose", m.to_str().unwrap(), "--wac"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: components `adder` and `a2` both export"),
        "{stderr}"
    );
    assert!(!stderr.contains("1 error"), "{stderr}");
    let out = weld(&["compose", m.to_str().unwrap(), "--wac", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("both export"));

    // Same for a file `weld inspect` cannot use.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, "nope").unwrap();
    let out = weld(&["inspect", junk.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("1 error"), "{stderr}");
}

/// The tutorial's three components: the count and list of what is left
/// imported are what the artifact imports (semver-compatible WASI imports
/// of the parts are one import of the whole).
#[test]
fn left_imported_is_what_the_artifact_imports() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let files: Vec<String> = ["command", "calculator", "add"]
        .iter()
        .map(|n| weld_fixtures::path(n).display().to_string())
        .collect();
    let mut args = vec!["compose"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", app.to_str().unwrap()]);
    let out = weld(&args);
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{report}");
    let inspected = weld(&["inspect", "--json", app.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let imports: Vec<&str> = v["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(
        report.contains(&format!("left imported ({}):", imports.len())),
        "{report}\nthe artifact imports {imports:?}"
    );
    for i in &imports {
        assert!(report.contains(&format!("  {i}\n")), "{i}: {report}");
    }
}

/// The async fixture pair composes into one artifact whose async export
/// still reads the producer's stream to its end and awaits its timer.
#[test]
fn the_async_pair_composes_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("streams.wasm");
    let consumer = weld_fixtures::path("stream-consumer").display().to_string();
    let producer = weld_fixtures::path("stream-producer").display().to_string();
    let composed = weld(&["compose", &consumer, &producer, "-o", out.to_str().unwrap()]);
    assert!(composed.status.success(), "{}", text(&composed.stderr));
    let ran = weld(&[
        "run",
        out.to_str().unwrap(),
        "-i",
        "consume.sum-stream(7, 1000)",
        "-i",
        "consume.doubled(21, 10)",
    ]);
    assert!(ran.status.success(), "{}", text(&ran.stderr));
    // Σ (7 + i) mod 256 for i < 1000, then 21 × 2.
    assert_eq!(text(&ran.stdout), "126340\n42\n");
}
