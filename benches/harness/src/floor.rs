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

/// [`echo_server`] that accepts on one thread and hands each connection to
/// a second, which reads and answers: the crossing weld's server makes
/// from its I/O thread to a guest worker, without weld's code.
pub fn echo_server_handing_off<C: Conn>(
    incoming: impl Iterator<Item = std::io::Result<C>> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let (tx, rx) = std::sync::mpsc::channel::<C>();
    std::thread::spawn(move || {
        for mut c in rx {
            let mut buf = Vec::new();
            if c.read_to_end(&mut buf).is_ok() {
                let _ = c.write_all(&buf);
            }
        }
    });
    std::thread::spawn(move || {
        for c in incoming.flatten() {
            if tx.send(c).is_err() {
                return;
            }
        }
    })
}

/// Runs `exchange`s on a thread of its own for a caller that waits for
/// each: the crossing weld's stub makes from the calling thread to its I/O
/// runtime and back, without weld's code.
pub struct Courier {
    calls: std::sync::mpsc::Sender<()>,
    done: std::sync::mpsc::Receiver<std::io::Result<()>>,
}

impl Courier {
    /// A courier making each exchange with a fresh connection from
    /// `connect`, sending `data`.
    pub fn new<C: Conn>(
        connect: impl Fn() -> std::io::Result<C> + Send + 'static,
        data: Vec<u8>,
    ) -> Courier {
        let (calls, rx) = std::sync::mpsc::channel::<()>();
        let (tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut back = Vec::new();
            for () in rx {
                let r = connect().and_then(|c| exchange(c, &data, &mut back));
                if tx.send(r).is_err() {
                    return;
                }
            }
        });
        Courier { calls, done }
    }

    /// One exchange, made on the courier's thread.
    ///
    /// # Errors
    /// The connection's error, or a courier whose thread is gone.
    pub fn exchange(&self) -> std::io::Result<()> {
        self.calls
            .send(())
            .map_err(|_| std::io::Error::other("the courier's thread is gone"))?;
        self.done
            .recv()
            .map_err(|_| std::io::Error::other("the courier's thread is gone"))?
    }
}
