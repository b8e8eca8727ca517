//! `weld run` with a tampered compile cache: the entry is reported,
//! recompiled and overwritten, and the result is the same.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cache: &Path) -> Output {
    let manifest = weld_fixtures::workspace_root().join("examples/demo/weld.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_weld"))
        .arg("run")
        .arg(manifest)
        .args(["--invoke", "driver.run-add(1000)"])
        .env("WELD_CACHE_DIR", cache)
        .env_remove("RUST_LOG")
        .output()
        .expect("run weld");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "500\n");
    out
}

fn entries(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn a_tampered_cache_entry_is_recompiled_with_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let first = run(&cache);
    assert!(
        !String::from_utf8_lossy(&first.stderr).contains("corrupt"),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let written = entries(&cache);
    assert!(!written.is_empty());
    for path in &written {
        let mut bytes = std::fs::read(path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid..mid + 64].fill(0xcc);
        std::fs::write(path, &bytes).unwrap();
    }
    let second = run(&cache);
    let stderr = String::from_utf8_lossy(&second.stderr);
    for path in &written {
        assert!(
            stderr.contains(&format!(
                "cache entry {} is corrupt (digest mismatch); recompiling",
                path.display()
            )),
            "{stderr}"
        );
    }
    // Overwritten: a third run uses the entries without complaint.
    let third = run(&cache);
    assert!(
        !String::from_utf8_lossy(&third.stderr).contains("corrupt"),
        "{}",
        String::from_utf8_lossy(&third.stderr)
    );
}
