//! The floors of weld's benches: plain Rust functions the optimiser cannot
//! inline, and a bare exchange on a fresh connection (what any
//! one-connection-per-call protocol pays before doing any work). The
//! criterion benches (`weld-benches`) and `weld bench` both use these, so
//! both measure the same floor.

use std::io::{Read, Write};

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

/// A connection that can close its sending side.
pub trait Conn: Read + Write + Send + 'static {
    /// Shuts the sending side.
    ///
    /// # Errors
    /// The socket's error.
    fn half_close(&self) -> std::io::Result<()>;
}

impl Conn for std::net::TcpStream {
    fn half_close(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl Conn for std::os::unix::net::UnixStream {
    fn half_close(&self) -> std::io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// Echoes the connections of `incoming` on a thread of its own, each read
/// to its end and written back, until `incoming` ends.
pub fn echo_server<C: Conn>(
    incoming: impl Iterator<Item = std::io::Result<C>> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for mut c in incoming.flatten() {
            let mut buf = Vec::new();
            if c.read_to_end(&mut buf).is_ok() {
                let _ = c.write_all(&buf);
            }
        }
    })
}

/// One bare exchange on `c`: write `data`, close the sending side, read the
/// echo into `back` to its end.
///
/// # Errors
/// The connection's error.
pub fn exchange<C: Conn>(mut c: C, data: &[u8], back: &mut Vec<u8>) -> std::io::Result<()> {
    c.write_all(data)?;
    c.half_close()?;
    back.clear();
    c.read_to_end(back)?;
    if back.len() != data.len() {
        return Err(std::io::Error::other("the echo came back short"));
    }
    Ok(())
}
