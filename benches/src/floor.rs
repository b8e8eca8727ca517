//! The native floors of weld's benches: plain Rust functions the optimiser
//! cannot inline. One file, compiled into the criterion benches
//! (`weld-benches`) and the `weld bench` harness (`weld-cli`, by path), so
//! both measure the same floor.

/// The native floor of `add(u32, u32)`.
#[inline(never)]
pub fn native_add(a: u32, b: u32) -> u32 {
    a.wrapping_add(b)
}

/// The native floor of a string echo.
#[inline(never)]
pub fn native_echo(s: &str) -> String {
    s.to_string()
}

/// The native floor of summing a `list<u8>`.
#[inline(never)]
pub fn native_sum(xs: &[u8]) -> u64 {
    xs.iter().map(|&x| u64::from(x)).sum()
}
