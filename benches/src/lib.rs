//! Shared setup for weld's criterion benches (see `benches/`).

pub mod series;
pub use weld_harness::floor::{
    echo_server, echo_server_handing_off, exchange, native_add, native_echo, native_sum, Conn,
    Courier,
};
pub use weld_harness::host_floor::{HostEntry, HostImport};

/// The manifest of the adder/driver pair, with absolute fixture paths, in a
/// temporary directory that lives as long as the returned guard.
pub fn adder_manifest(exporter: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path =
        weld_fixtures::write_manifest(dir.path(), &weld_fixtures::pair_manifest(exporter, None));
    (dir, path)
}

/// Benches `run(n)`, a loop inside wasm making `n` calls, as `n` iterations
/// of criterion's `iter_custom`: host entry is paid once per sample, so time
/// per iteration is the cost of one call. `n` saturates at `u32::MAX`, the
/// widest count the guests' loops take.
pub fn bench_wasm_loop<R>(b: &mut criterion::Bencher<'_>, mut run: impl FnMut(u32) -> R) {
    b.iter_custom(|iters| {
        let n = u32::try_from(iters).unwrap_or(u32::MAX);
        let start = std::time::Instant::now();
        std::hint::black_box(run(n));
        start.elapsed()
    });
}
