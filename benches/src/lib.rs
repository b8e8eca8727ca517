//! Shared setup for weld's criterion benches (see `benches/`).

/// The manifest of the adder/driver pair, with absolute fixture paths, in a
/// temporary directory that lives as long as the returned guard.
pub fn adder_manifest(exporter: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[components.driver]\npath = \"{}\"\n[components.adder]\npath = \"{}\"\n",
        weld_fixtures::path("driver").display(),
        weld_fixtures::path(exporter).display()
    );
    let path = dir.path().join("weld.toml");
    std::fs::write(&path, text).expect("write manifest");
    (dir, path)
}
