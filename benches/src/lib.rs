//! Shared setup for weld's criterion benches (see `benches/`).

/// The manifest of the adder/driver pair, with absolute fixture paths, in a
/// temporary directory that lives as long as the returned guard.
pub fn adder_manifest(exporter: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = weld_fixtures::write_manifest(dir.path(), &weld_fixtures::pair_manifest(exporter, None));
    (dir, path)
}

/// The native floor: a plain Rust function the optimiser cannot inline.
#[inline(never)]
pub fn native_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// The native floor: a plain Rust function the optimiser cannot inline.
#[inline(never)]
pub fn native_echo(s: &str) -> String {
    s.to_string()
}

/// The native floor: a plain Rust function the optimiser cannot inline.
#[inline(never)]
pub fn native_sum(xs: &[u8]) -> u64 {
    xs.iter().map(|&x| u64::from(x)).sum()
}
