//! Shared setup for weld's criterion benches (see `benches/`).

/// The manifest of the adder/driver pair, with absolute fixture paths, in a
/// temporary directory that lives as long as the returned guard.
pub fn adder_manifest(exporter: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!("[components.driver]\npath = \"{{driver}}\"\n[components.adder]\npath = \"{{{exporter}}}\"\n");
    let path = weld_fixtures::write_manifest(dir.path(), &toml);
    (dir, path)
}
