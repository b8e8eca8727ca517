//! `weld bench --save-baseline / --baseline / --svg / --calibrate` and
//! `weld plan --costs` end to end with the real binary.
//!
//! Budgets are small (tens of milliseconds per cell): these tests check
//! what is saved, compared, refused and drawn, not the statistics, which
//! are tested on seeded synthetic samples (`regress::stats`); the
//! false-positive rate on a real machine is measured by
//! `scripts/false-positives`, not here.

use crate::common::{text, weld};
use std::path::Path;
use std::process::Output;
use std::sync::{Mutex, MutexGuard};

/// The tests of this file take turns: a baseline and its comparison
/// should be measured under the same load, not one of them beside a
/// calibration compiling on the other core.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bundled pair as a user's deployment, its link with `strategy`.
fn pair(dir: &Path, name: &str, strategy: &str) -> String {
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    weld_fixtures::write_manifest(
        &sub,
        &format!(
            "[components.driver]\npath = \"{{driver}}\"\n[components.adder]\npath = \"{{adder}}\"\n\n\
             [[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nstrategy = \"{strategy}\"\n"
        ),
    )
    .display()
    .to_string()
}

/// `weld bench M -i 'driver.run-add(1000)*1000'` plus `extra`: with a
/// manifest the series is `planned` without asking, so a baseline sees a
/// link's strategy change.
fn bench(manifest: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "bench",
        manifest,
        "-i",
        "driver.run-add(1000)*1000",
        "--budget-ms",
        "40",
    ];
    args.extend(extra);
    weld(&args)
}

const CELL: &str = "driver.run-add(1000)";
const SERIES: &str = "as planned (tuned)";

#[test]
fn a_baseline_compares_a_deployment_with_itself_and_catches_a_slower_link() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fused = pair(dir.path(), "fused", "fused");
    let host_linked = pair(dir.path(), "host-linked", "host-linked");
    let saved = dir.path().join("baseline.json");
    let saved = saved.to_str().unwrap();

    let out = bench(&fused, &["--save-baseline", saved]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("baseline written to"),
        "{}",
        text(&out.stderr)
    );
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(saved).unwrap()).unwrap();
    assert_eq!(b["format"], "weld-bench-baseline");
    assert_eq!(b["version"], 1);
    for field in ["weld", "wasmtime", "rustc", "cpu", "cores", "os", "arch"] {
        assert!(!b["environment"][field].is_null(), "{field}: {b}");
    }
    assert!(b["environment"]["rustc"]
        .as_str()
        .unwrap()
        .starts_with("rustc "));
    let digests = b["deployment"]["components"].as_array().unwrap();
    assert_eq!(digests.len(), 2, "{b}");
    assert_eq!(digests[0]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(b["series"][0]["strategy"], "planned");
    assert_eq!(b["series"][0]["engine"]["inlining"], true);
    let cells = b["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 1, "{b}");
    assert_eq!(
        (cells[0]["payload"].as_str(), cells[0]["series"].as_str()),
        (Some(CELL), Some(SERIES))
    );
    assert_eq!(cells[0]["calls_per_sample"], 1000);
    assert!(cells[0]["samples_ns"].as_array().unwrap().len() >= 5);

    // The same deployment again: no regression. (A wide threshold, 11×:
    // this checks the plumbing on a machine other tests are loading, where
    // a 1 ns cell has been seen to move by more than half; what the default
    // threshold does with noise is tested on synthetic samples and measured
    // by scripts/false-positives.)
    let out = bench(
        &fused,
        &["--baseline", saved, "--threshold", "1000", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["comparison"];
    assert_eq!(c["threshold_pct"], 1000.0);
    assert_eq!(c["differences"].as_array().unwrap().len(), 0, "{c}");
    let cell = &c["cells"][0];
    assert_eq!(
        (cell["payload"].as_str(), cell["series"].as_str()),
        (Some(CELL), Some(SERIES))
    );
    assert_ne!(cell["verdict"], "regressed", "{cell}");
    let [lo, hi] = [
        cell["ci_pct"][0].as_f64().unwrap(),
        cell["ci_pct"][1].as_f64().unwrap(),
    ];
    assert!(
        lo <= cell["change_pct"].as_f64().unwrap() && lo <= hi,
        "{cell}"
    );
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );

    // The link made host-linked: the same cell is hundreds of times slower.
    let out = bench(&host_linked, &["--baseline", saved]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    let summary = stdout.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!(
            "1 regressed beyond +10%, 0 improved, 0 no change, 0 missing: `{CELL}` / `{SERIES}` +"
        )),
        "{stdout}"
    );
    let row = stdout.lines().find(|l| l.starts_with(CELL)).unwrap();
    assert!(row.trim_end().ends_with("regressed"), "{stdout}");

    // The same as Markdown, for a review comment, and as JSON.
    let out = bench(&host_linked, &["--baseline", saved, "--markdown"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout).contains(&format!("| {CELL} | {SERIES} |")),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("| **regressed** |"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn another_machine_or_weld_version_is_a_warning_and_refused_under_strict() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fused = pair(dir.path(), "fused", "fused");
    let saved = dir.path().join("baseline.json");
    let saved = saved.to_str().unwrap();
    let out = bench(&fused, &["--save-baseline", saved]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut b: serde_json::Value = serde_json::from_slice(&std::fs::read(saved).unwrap()).unwrap();
    b["environment"]["weld"] = "0.0.1-elsewhere".into();
    b["environment"]["cpu"] = "A CPU of another machine".into();
    std::fs::write(saved, serde_json::to_string(&b).unwrap()).unwrap();
    let svg = dir.path().join("chart.svg");

    let out = bench(
        &fused,
        &[
            "--baseline",
            saved,
            "--threshold",
            "1000",
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: baseline `{saved}` was measured in other circumstances: weld version: 0.0.1-elsewhere then, {} now", env!("CARGO_PKG_VERSION"))),
        "{stderr}"
    );
    assert!(
        stderr.contains("CPU: A CPU of another machine then,"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains(CELL), "compared anyway");

    // The chart of the comparison: well-formed SVG naming the series and
    // the payload, one bar for the baseline and one for now.
    let chart = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&chart).expect("the chart is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(texts.contains(&SERIES), "{texts:?}");
    assert!(texts.contains(&CELL), "{texts:?}");
    let bars = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect")
        .count();
    assert!(bars >= 3, "background and two bars: {bars}");

    let out = bench(&fused, &["--baseline", saved, "--strict"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("baseline `{saved}` was measured in other circumstances, and --strict refuses to compare: weld version: 0.0.1-elsewhere then")),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty(), "nothing measured");
}

#[test]
fn a_corrupt_baseline_is_a_clear_error() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let fused = pair(dir.path(), "fused", "fused");
    let file = dir.path().join("corrupt.json");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        "{\n  \"format\": \"weld-bench-baseline\",\n  \"version\": 1,\n  \"cells\": [ {\"payload\": ",
    )
    .unwrap();
    let out = bench(&fused, &["--baseline", path]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: baseline `{path}` is corrupt: EOF while parsing a value at line 4 column"
        )),
        "{stderr}"
    );

    std::fs::write(&file, "{\"rows\": []}").unwrap();
    let out = bench(&fused, &["--baseline", path, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = v["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "baseline `{path}`: not a weld bench baseline: `format` is missing"
        )),
        "{message}"
    );

    let out = bench(&fused, &["--baseline", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("it is a directory, not a regular file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
// One calibration, then each output of the plan read against it.
#[allow(clippy::too_many_lines)]
fn a_calibrated_plan_estimates_every_link_and_flags_those_over_budget() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let costs = dir.path().join("costs.json");
    let costs = costs.to_str().unwrap();
    let out = weld(&["bench", "--calibrate", costs, "--budget-ms", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let cal: serde_json::Value = serde_json::from_slice(&std::fs::read(costs).unwrap()).unwrap();
    assert_eq!(cal["format"], "weld-costs");
    let keys: Vec<&str> = cal["transports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["fused", "host-linked", "wrpc-tcp", "wrpc-unix"]);
    for t in cal["transports"].as_array().unwrap() {
        assert_eq!(t["points"].as_array().unwrap().len(), 4, "{t}");
        // Resources cross in-process links only.
        assert_eq!(
            t["resource_ns"].is_number(),
            !t["key"].as_str().unwrap().starts_with("wrpc"),
            "{t}"
        );
    }

    let root = weld_fixtures::workspace_root();
    let two_hosts = root.join("examples/two-hosts/weld.toml");
    let two_hosts = two_hosts.to_str().unwrap();
    let out = weld(&[
        "plan",
        two_hosts,
        "--costs",
        costs,
        "--budget-ns",
        "20000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["costs"]["assumptions"]["string_bytes"], 32,
        "{}",
        plan["costs"]
    );
    let links: Vec<&serde_json::Value> = plan["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["peer"].is_string())
        .collect();
    assert_eq!(links.len(), 2);
    for r in &links {
        let cost = r["cost_ns"]
            .as_f64()
            .unwrap_or_else(|| panic!("no cost_ns: {r}"));
        assert!(cost > 0.0, "{r}");
        let remote = r["transport"] == "wrpc";
        // A wRPC round trip is tens of µs at least; an in-process call is not.
        assert_eq!(r["over_budget"], remote, "{r}");
        assert_eq!(
            r["cost_basis"],
            if remote { "wrpc-tcp" } else { "fused" },
            "{r}"
        );
        assert!(!r["cost_functions"].as_array().unwrap().is_empty(), "{r}");
    }
    for r in plan["resolutions"].as_array().unwrap() {
        if r["transport"] == "host" {
            assert!(r.get("cost_ns").is_none(), "a host import is no link: {r}");
        }
    }

    let out = weld(&["plan", two_hosts, "--costs", costs, "--budget-ns", "20000"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().next().unwrap().contains("  COST  "),
        "{stdout}"
    );
    let remote = stdout
        .lines()
        .find(|l| l.starts_with("greet-caller  demo:greet"))
        .unwrap();
    assert!(remote.contains("(over budget)"), "{stdout}");
    assert!(
        stdout.contains(
            "note: over budget: `greet-caller` import `demo:greet/greeter@0.1.0` → `greet`"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("assuming 32 bytes per string and 1024 bytes per list"),
        "{stdout}"
    );

    let out = weld(&[
        "plan",
        two_hosts,
        "--costs",
        costs,
        "--budget-ns",
        "20000",
        "--dot",
    ]);
    let dot = text(&out.stdout);
    let edge = dot
        .split(";\n")
        .find(|e| e.contains("\"greet-caller\" -> \"greet\""))
        .unwrap();
    assert!(
        edge.contains("(over budget)") && edge.contains("color=red"),
        "{dot}"
    );

    // Without --costs the plan is as before.
    let out = weld(&["plan", two_hosts, "--json"]);
    assert!(!text(&out.stdout).contains("cost_ns"));

    // Every link of the demo, resources included.
    let demo = root.join("examples/demo/weld.toml");
    let out = weld(&["plan", demo.to_str().unwrap(), "--costs", costs, "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in plan["resolutions"].as_array().unwrap() {
        if r["peer"].is_string() {
            assert!(r["cost_ns"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r.get("over_budget").is_none(), "no budget, no flag: {r}");
        }
    }
    let kv = plan["resolutions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["component"] == "kv-consumer")
        .unwrap();
    assert!(
        kv["cost_functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["resource"] == true),
        "{kv}"
    );

    // A corrupt calibration names the file and the place.
    std::fs::write(
        costs,
        "{\"format\": \"weld-costs\", \"version\": 1, \"transports\": [}",
    )
    .unwrap();
    let out = weld(&["plan", two_hosts, "--costs", costs]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "error: costs file `{costs}` is not a weld calibration: "
        )),
        "{}",
        text(&out.stderr)
    );
}
