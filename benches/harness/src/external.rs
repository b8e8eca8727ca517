//! `weld bench --external`: the latency a caller in another process sees.
//!
//! One client process — the native wRPC 0.17 peer (`interop/`'s
//! `wrpc-peer`, wRPC's own TCP and Unix clients) — makes sequential calls of
//! `demo:math/adder` against each server in turn, in interleaved rounds:
//!
//! * the **floor**: the same peer serving the function natively, no wasm —
//!   what the client, the transport and a minimal server cost;
//! * `weld serve` of the `adder` component, `shared` and `per-call`, the
//!   interface exposed to callers outside the manifest;
//! * the reference server, `wrpc-wasmtime` 0.17 (an instance per call),
//!   when it is on `PATH` (never installed by weld; the row says when it is
//!   absent).
//!
//! The server runs in this process, the client in its own, so neither
//! flatters the other. Each round gives each server's p50; a row reports the
//! median of the rounds' p50s, their spread and the ratio to the floor's.

use crate::floor::{echo_server, exchange, Conn};
use crate::progress::{stage, Progress};
use crate::Error;
use anyhow::Context as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use weld_linker::serve::{ServeOptions, Server};
use weld_linker::{Deployment, PlanOptions};

/// One measured server over one transport, for one function.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExternalRow {
    /// `tcp`, `unix`, `quic` or `nats`.
    pub transport: &'static str,
    /// `add` (scalars) or `sum` (a 64 KiB `list<u8>`).
    pub function: &'static str,
    /// Calls the client keeps in flight at once.
    pub concurrency: usize,
    /// Which server.
    pub server: String,
    /// Median over rounds of each round's p50, in microseconds.
    pub p50_us: f64,
    /// The smallest and largest round p50, in microseconds.
    pub spread_us: (f64, f64),
    /// `p50_us` over the floor's (the native server's) in the same run.
    pub vs_floor: f64,
    /// `p50_us` minus the floor's, in microseconds.
    pub over_floor_us: f64,
    /// Median over rounds of calls completed per second (timed calls over
    /// the wall time they took together).
    pub calls_per_s: f64,
    /// Median over rounds of the CPU time the server's process spent per
    /// call (user and system, warm-up calls included in both), in
    /// microseconds; `None` for the bare references. On a machine whose
    /// cores the client shares, this is what a server costs, whatever the
    /// client's own cost caps throughput at.
    pub server_cpu_us: Option<f64>,
}

/// The servers of one transport, started fresh for each round.
enum Target {
    Native,
    Minimal,
    Weld(&'static str),
    Reference(PathBuf),
}

impl Target {
    fn label(&self) -> String {
        match self {
            Target::Native => "floor: native wRPC 0.17 server".into(),
            Target::Minimal => {
                "reference: minimal wRPC responder (one thread, blocking I/O, no wasm)".into()
            }
            Target::Weld(policy) => format!("weld serve ({policy})"),
            Target::Reference(_) => "wrpc-wasmtime 0.17 (instance per call)".into(),
        }
    }
}

/// A running server; stopped on drop.
enum Running {
    Child(Child),
    Minimal(Option<Minimal>),
    Weld(Option<weld_linker::serve::Background>),
}

impl Drop for Running {
    fn drop(&mut self) {
        match self {
            Running::Child(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Running::Weld(b) => {
                if let Some(b) = b.take() {
                    let _ = b.stop();
                }
            }
            Running::Minimal(m) => {
                if let Some(m) = m.take() {
                    m.stop();
                }
            }
        }
    }
}

impl Running {
    /// CPU time (user and system) the server's process has spent so far:
    /// the child's, from `/proc`, or this process's, where weld serves.
    fn cpu(&self) -> anyhow::Result<Duration> {
        match self {
            Running::Child(c) => child_cpu(c.id()),
            Running::Weld(_) | Running::Minimal(_) => Ok(own_cpu()),
        }
    }
}

/// The least a wRPC server can be: one thread answering `add` and `sum`
/// with blocking I/O, parsing just the invocation and its one parameter
/// frame — what the client and the transport cost with almost no server.
struct Minimal {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    wake: Box<dyn Fn() + Send>,
    thread: std::thread::JoinHandle<()>,
}

impl Minimal {
    fn start(at: &Where) -> anyhow::Result<Minimal> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        fn serve<C: Conn>(
            incoming: impl Iterator<Item = std::io::Result<C>> + Send + 'static,
            stop: std::sync::Arc<AtomicBool>,
        ) -> std::thread::JoinHandle<()> {
            std::thread::spawn(move || {
                for c in incoming {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Ok(mut c) = c {
                        let _ = respond(&mut c);
                    }
                }
            })
        }
        Ok(if at.peer_flag == "--tcp" {
            let listener = std::net::TcpListener::bind(&at.address)?;
            let address = at.address.clone();
            Minimal {
                thread: serve(
                    std::iter::from_fn(move || {
                        Some(listener.accept().map(|(s, _)| {
                            let _ = s.set_nodelay(true);
                            s
                        }))
                    }),
                    std::sync::Arc::clone(&stop),
                ),
                wake: Box::new(move || drop(std::net::TcpStream::connect(&address))),
                stop,
            }
        } else {
            // A socket file left by an earlier round's server; anything
            // else at the path is the user's and is refused.
            weld_linker::serve::clear_stale_socket(std::path::Path::new(&at.address))?;
            let listener = std::os::unix::net::UnixListener::bind(&at.address)?;
            let path = at.address.clone();
            Minimal {
                thread: serve(
                    std::iter::from_fn(move || Some(listener.accept().map(|(s, _)| s))),
                    std::sync::Arc::clone(&stop),
                ),
                wake: Box::new(move || drop(std::os::unix::net::UnixStream::connect(&path))),
                stop,
            }
        })
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (self.wake)();
        let _ = self.thread.join();
    }
}

/// Reads one invocation of `add` or `sum` from `c` and answers it.
fn respond<C: Conn>(c: &mut C) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(reply) = minimal_reply(&buf) {
            c.write_all(&reply)?;
            return c.half_close();
        }
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The reply frame to the invocation in `b`, once it is all there.
fn minimal_reply(b: &[u8]) -> Option<Vec<u8>> {
    fn uleb(b: &[u8], at: &mut usize) -> Option<u64> {
        leb128fmt::decode_uint_slice::<u64, 64>(b, at).ok()
    }
    fn put(out: &mut Vec<u8>, v: u64) {
        let (bytes, len) = leb128fmt::encode_u64(v).expect("every u64 has a 64-bit encoding");
        out.extend_from_slice(&bytes[..len]);
    }
    let mut at = 1; // the version byte
    let instance = uleb(b, &mut at)? as usize;
    at += instance;
    let function = uleb(b, &mut at)? as usize;
    let name = b.get(at..at + function)?;
    at += function;
    let _path = uleb(b, &mut at)?;
    let len = uleb(b, &mut at)? as usize;
    let data = b.get(at..at + len)?;
    let mut p = 0;
    let mut value = Vec::new();
    match name {
        b"add" => put(&mut value, uleb(data, &mut p)? + uleb(data, &mut p)?),
        _ => {
            let n = uleb(data, &mut p)? as usize;
            let sum: u64 = data.get(p..p + n)?.iter().map(|&x| u64::from(x)).sum();
            put(&mut value, sum);
        }
    }
    let mut reply = vec![0];
    put(&mut reply, value.len() as u64);
    reply.extend_from_slice(&value);
    Some(reply)
}

/// `utime + stime` of process `pid`, from `/proc/PID/stat`.
fn child_cpu(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("a malformed /proc stat line")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 here.
    let ticks: u64 = fields
        .get(11..13)
        .context("a short /proc stat line")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    // SAFETY: sysconf reads a constant.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / hz,
    ))
}

/// This process's CPU time (user and system).
fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The native peer: `WELD_WRPC_PEER`, or the one the tests build.
fn peer_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("WELD_WRPC_PEER").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/weld-interop/release/wrpc-peer")
        },
        PathBuf::from,
    );
    anyhow::ensure!(
        path.is_file(),
        "the native wRPC peer is not built ({}); build it with `cargo build --release --manifest-path interop/Cargo.toml --target-dir target/weld-interop`, or set WELD_WRPC_PEER",
        path.display()
    );
    Ok(path)
}

/// `wrpc-wasmtime` on `PATH`, if installed.
fn reference_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wrpc-wasmtime"))
        .find(|p| p.is_file())
}

/// How many measurements [`run`] makes for `rounds` rounds: each server of
/// each transport, for both functions, once per round.
pub fn cells(rounds: usize, nats: Option<&str>) -> usize {
    let reference = reference_binary();
    transports(nats)
        .into_iter()
        .map(|t| cases(t).len() * targets(t, reference.as_deref()).len())
        .sum::<usize>()
        * rounds
}

/// The servers measured over `transport`: the minimal responder where
/// weld frames the bytes itself on its own connections (TCP, Unix), the
/// reference server over TCP when `reference` is installed.
fn targets(transport: &str, reference: Option<&Path>) -> Vec<Target> {
    let mut targets = vec![
        Target::Native,
        Target::Weld("shared"),
        Target::Weld("per-call"),
    ];
    if matches!(transport, "tcp" | "unix") {
        targets.push(Target::Minimal);
    }
    if let (Some(r), "tcp") = (reference, transport) {
        targets.push(Target::Reference(r.to_path_buf()));
    }
    targets
}

/// A bare exchange on a fresh connection, in this process: connect, write
/// `payload` bytes, close the sending side, read them back, close — what
/// any one-connection-per-call protocol pays before doing any work. A
/// thread echoes; returns the sorted nanoseconds per exchange.
fn bare_echo(
    transport: &str,
    scratch: &Path,
    payload: usize,
    calls: usize,
) -> anyhow::Result<Vec<u64>> {
    let warm = calls.div_ceil(10);
    let total = calls + warm;
    let ns = if transport == "tcp" {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = echo_server(
            std::iter::from_fn(move || Some(listener.accept().map(|(s, _)| s))).take(total),
        );
        let ns = exchanges(
            || {
                let s = std::net::TcpStream::connect(addr)?;
                s.set_nodelay(true)?;
                Ok(s)
            },
            payload,
            total,
        );
        let _ = server.join();
        ns?
    } else {
        let path = scratch.join("bare.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        let server = echo_server(
            std::iter::from_fn(move || Some(listener.accept().map(|(s, _)| s))).take(total),
        );
        let ns = exchanges(
            || std::os::unix::net::UnixStream::connect(&path),
            payload,
            total,
        );
        let _ = server.join();
        ns?
    };
    // The first tenth warms up.
    let mut ns = ns[warm..].to_vec();
    ns.sort_unstable();
    Ok(ns)
}

/// Times `total` exchanges of `payload` bytes, in order.
fn exchanges<C: Conn>(
    connect: impl Fn() -> std::io::Result<C>,
    payload: usize,
    total: usize,
) -> anyhow::Result<Vec<u64>> {
    let data = vec![7u8; payload];
    let mut back = Vec::with_capacity(payload);
    let mut ns = Vec::with_capacity(total);
    for _ in 0..total {
        let started = std::time::Instant::now();
        exchange(connect()?, &data, &mut back)?;
        ns.push(started.elapsed().as_nanos() as u64);
    }
    Ok(ns)
}

/// What is measured over one transport: each function, at each number of
/// calls in flight.
fn cases(transport: &str) -> &'static [(&'static str, usize)] {
    match transport {
        // The throughput targets are over TCP and QUIC at 64 calls in
        // flight.
        "tcp" | "quic" => &[("add", 1), ("sum", 1), ("add", 64)],
        _ => &[("add", 1), ("sum", 1)],
    }
}

/// The transports measured: TCP, Unix and QUIC, and NATS through the
/// server at `nats` when given.
fn transports(nats: Option<&str>) -> Vec<&'static str> {
    let mut t = vec!["tcp", "unix", "quic"];
    if nats.is_some() {
        t.push("nats");
    }
    t
}

/// Runs `rounds` interleaved rounds of `calls` calls per server, over TCP,
/// Unix and (with `nats`, a server's URL) NATS: the rows, and notes on
/// what could not be measured.
///
/// # Errors
/// [`Error::External`] with the cause: the peer's build, a server that did
/// not start, an exchange that failed.
pub fn run(
    adder: &Path,
    rounds: usize,
    calls: usize,
    nats: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<(Vec<ExternalRow>, Vec<String>), Error> {
    stage(progress, cells(rounds, nats), |progress| {
        rounds_of(adder, rounds, calls, nats, progress)
    })
    .map_err(|e| Error::External(e.into()))
}

/// [`run`]'s rounds.
fn rounds_of(
    adder: &Path,
    rounds: usize,
    calls: usize,
    nats: Option<&str>,
    progress: &mut dyn Progress,
) -> anyhow::Result<(Vec<ExternalRow>, Vec<String>)> {
    let peer = peer_binary()?;
    let mut notes = Vec::new();
    let reference = reference_binary();
    if reference.is_none() {
        notes.push("wrpc-wasmtime is not on PATH: the reference server is not measured (`cargo install wrpc@0.17.0 --no-default-features --features bin-wasmtime,net --bin wrpc-wasmtime`)".to_string());
    }
    let scratch = tempfile_dir()?;
    quic_identities(&scratch)?;
    let mut rows = Vec::new();
    for transport in transports(nats) {
        let targets = targets(transport, reference.as_deref());
        for &(function, concurrency) in cases(transport) {
            // p50 and calls per second per round, per target.
            let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
            let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
            for round in 0..rounds {
                for (i, target) in targets.iter().enumerate() {
                    progress.step(&format!(
                        "{transport} {function} ×{concurrency} round {}/{rounds}: {}",
                        round + 1,
                        target.label()
                    ));
                    let endpoint = endpoint(transport, &scratch, nats, round * 10 + i)?;
                    let server = start(target, &peer, adder, &endpoint)?;
                    let before = server.cpu()?;
                    let m = call(&peer, &endpoint, function, calls, concurrency)?;
                    let spent = server.cpu()?.saturating_sub(before);
                    p50s[i].push(m.p50_us());
                    rates[i].push(m.calls_per_s());
                    // The peer makes a tenth as many warm-up calls first.
                    let made = calls + calls.div_ceil(10);
                    cpus[i].push(spent.as_secs_f64() * 1e6 / made as f64);
                }
            }
            let summary: Vec<(f64, (f64, f64))> = p50s.iter().map(|v| median_spread(v)).collect();
            let floor = summary[0].0;
            let row = |server: String,
                       (p50, spread): (f64, (f64, f64)),
                       rate: f64,
                       cpu: Option<f64>| ExternalRow {
                transport,
                function,
                concurrency,
                server,
                p50_us: p50,
                spread_us: spread,
                vs_floor: p50 / floor,
                over_floor_us: p50 - floor,
                calls_per_s: rate,
                server_cpu_us: cpu,
            };
            let bare = match concurrency {
                1 => bare_rows(transport, function, &scratch, &peer, nats, rounds, calls)?,
                _ => None,
            };
            if let Some((label, bare)) = bare {
                let rate: Vec<f64> = bare.iter().map(|m| m.calls_per_s()).collect();
                let p50: Vec<f64> = bare.iter().map(Measured::p50_us).collect();
                rows.push(row(
                    label,
                    median_spread(&p50),
                    median_spread(&rate).0,
                    None,
                ));
            }
            for (((target, summary), rate), cpu) in
                targets.iter().zip(summary).zip(&rates).zip(&cpus)
            {
                rows.push(row(
                    target.label(),
                    summary,
                    median_spread(rate).0,
                    Some(median_spread(cpu).0),
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok((rows, notes))
}

/// The reference floor of a transport, once per round: a bare exchange
/// carrying what the call carries on a fresh connection (TCP, Unix), or a
/// bare async-nats request/reply (NATS, from the peer's process); none for
/// QUIC, whose floor is the native server on its warm connection.
fn bare_rows(
    transport: &str,
    function: &str,
    scratch: &Path,
    peer: &Path,
    nats: Option<&str>,
    rounds: usize,
    calls: usize,
) -> anyhow::Result<Option<(String, Vec<Measured>)>> {
    let mut measured = Vec::new();
    if transport == "quic" {
        return Ok(None);
    }
    if let ("nats", Some(url)) = (transport, nats) {
        let at = Where {
            manifest: String::new(),
            host_extra: String::new(),
            address: url.to_string(),
            peer_flag: "--nats",
            peer_args: Vec::new(),
            identities: None,
        };
        for _ in 0..rounds {
            measured.push(call(peer, &at, "raw", calls, 1)?);
        }
        return Ok(Some((
            "reference: bare async-nats request/reply of 9 B".to_string(),
            measured,
        )));
    }
    let payload = if function == "add" { 5 } else { 64 * 1024 };
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        let ns = bare_echo(transport, scratch, payload, calls)?;
        measured.push(Measured {
            ns,
            wall_ns: started.elapsed().as_nanos(),
        });
    }
    Ok(Some((
        format!("reference: bare echo of {payload} B on a fresh connection"),
        measured,
    )))
}

/// One client run: sorted nanoseconds per call, and the wall time of all.
struct Measured {
    ns: Vec<u64>,
    wall_ns: u128,
}

impl Measured {
    fn p50_us(&self) -> f64 {
        self.ns[self.ns.len() / 2] as f64 / 1e3
    }

    fn calls_per_s(&self) -> f64 {
        self.ns.len() as f64 / (self.wall_ns.max(1) as f64 / 1e9)
    }
}

/// Writes a CA of the run's own (`ca.pem`) and two identities it signed
/// for 127.0.0.1 into `dir`: `server.*`, which the served host presents,
/// and `client.*`, which the peer's calls present (keys mode 600).
fn quic_identities(dir: &Path) -> anyhow::Result<()> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;
    std::fs::write(dir.join("ca.pem"), ca.pem())?;
    for who in ["server", "client"] {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        let cert = params.signed_by(&key, &ca)?;
        std::fs::write(dir.join(format!("{who}.pem")), cert.pem())?;
        // Private from its first byte.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join(format!("{who}.key")))?;
        std::io::Write::write_all(&mut file, key.serialize_pem().as_bytes())?;
    }
    Ok(())
}

/// A new folder of this run's own: created here (never one that was there,
/// which another user could have planted), readable by this user only.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = std::env::temp_dir().join(format!(
        "weld-bench-external-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// Where one server of a round listens.
struct Where {
    /// The manifest's `wrpc = { … }` value.
    manifest: String,
    /// More of the served host's table (its TLS identity, for QUIC).
    host_extra: String,
    /// The address or socket path.
    address: String,
    /// The native peer's flag for it.
    peer_flag: &'static str,
    /// The native peer's further arguments, after the address: the NATS
    /// subject prefix.
    peer_args: Vec<String>,
    /// The folder of the QUIC identities (`server.*`, `client.*`,
    /// `ca.pem`), for QUIC.
    identities: Option<PathBuf>,
}

/// A fresh endpoint: a free loopback port, a socket path in `scratch`, or
/// a subject prefix of its own on the NATS server at `nats`.
fn endpoint(
    transport: &str,
    scratch: &Path,
    nats: Option<&str>,
    n: usize,
) -> anyhow::Result<Where> {
    Ok(match transport {
        "nats" => {
            let url = nats.context("NATS needs a server's URL")?;
            let prefix = format!("weld-external-{}-{n}", std::process::id());
            Where {
                manifest: format!(
                    r#"{{ transport = "nats", url = {url:?}, prefix = {prefix:?} }}"#
                ),
                host_extra: String::new(),
                address: url.to_string(),
                peer_flag: "--nats",
                peer_args: vec!["--prefix".into(), prefix],
                identities: None,
            }
        }
        "quic" => {
            let port = std::net::UdpSocket::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let address = format!("127.0.0.1:{port}");
            let file = |name: &str| scratch.join(name).display().to_string();
            Where {
                manifest: format!(r#"{{ transport = "quic", address = "{address}" }}"#),
                host_extra: format!(
                    "tls = {{ cert = {:?}, key = {:?}, ca = {:?} }}\n",
                    file("server.pem"),
                    file("server.key"),
                    file("ca.pem")
                ),
                address,
                peer_flag: "--quic",
                peer_args: Vec::new(),
                identities: Some(scratch.to_path_buf()),
            }
        }
        "tcp" => {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let address = format!("127.0.0.1:{port}");
            Where {
                manifest: format!(r#"{{ transport = "tcp", address = "{address}" }}"#),
                host_extra: String::new(),
                address,
                peer_flag: "--tcp",
                peer_args: Vec::new(),
                identities: None,
            }
        }
        _ => {
            let address = scratch.join(format!("s{n}.sock")).display().to_string();
            Where {
                manifest: format!(r#"{{ transport = "unix", path = {address:?} }}"#),
                host_extra: String::new(),
                address,
                peer_flag: "--unix",
                peer_args: Vec::new(),
                identities: None,
            }
        }
    })
}

/// Starts `target` at `endpoint`; returns once it accepts calls.
fn start(target: &Target, peer: &Path, adder: &Path, at: &Where) -> anyhow::Result<Running> {
    match target {
        Target::Native => {
            let mut child = Command::new(peer)
                .args(["serve", at.peer_flag, &at.address])
                .args(at.peer_args(true))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", peer.display()))?;
            let stdout = child.stdout.take().expect("piped");
            let mut line = String::new();
            std::io::BufReader::new(stdout).read_line(&mut line)?;
            anyhow::ensure!(
                line.contains("ready"),
                "the native peer did not start: {line}"
            );
            Ok(Running::Child(child))
        }
        Target::Weld(policy) => {
            let manifest = format!(
                "{}[components.adder]\nhost = \"b\"\ninstances = \"{policy}\"\n\n[hosts.b]\nwrpc = {}\n{}expose = [\"adder:demo:math/adder@0.1.0\"]\n",
                at.identities.as_ref().map_or_else(String::new, |d| format!("allow-dirs = [{:?}]\n", d.display().to_string())),
                at.manifest,
                at.host_extra
            );
            let bytes = std::fs::read(adder)?;
            let deployment = Deployment::from_memory(
                &manifest,
                [("adder".to_string(), bytes)],
                &PlanOptions::default(),
            )
            .map_err(|d| anyhow::anyhow!("{d}"))?;
            let server = Server::new(&deployment, ServeOptions::new("b"))
                .and_then(Server::spawn)
                .context("starting weld serve")?;
            Ok(Running::Weld(Some(server)))
        }
        Target::Minimal => Ok(Running::Minimal(Some(Minimal::start(at)?))),
        Target::Reference(bin) => {
            // wrpc 0.17's CLI: `tcp serve --import ADDR --export ADDR
            // WORKLOAD`; both addresses the same, so it listens there
            // whichever one it binds.
            let child = Command::new(bin)
                .args([
                    "tcp",
                    "serve",
                    "--import",
                    &at.address,
                    "--export",
                    &at.address,
                ])
                .arg(adder)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            let running = Running::Child(child);
            wait_for_calls(peer, at)?;
            Ok(running)
        }
    }
}

/// Waits (at most 30 s) until a call succeeds: `wrpc-wasmtime` listens
/// before it has registered its functions, and drops connections accepted
/// in between, so an open port is not yet a served function.
fn wait_for_calls(peer: &Path, at: &Where) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call(peer, at, "add", 1, 1) {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(e.context(format!("no call succeeded on {} within 30 s", at.address)))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Where {
    /// The peer's arguments after the address: a NATS `--prefix`, or for
    /// QUIC the identity it presents (the server's when `serving`, else the
    /// client's) and the CA it trusts.
    fn peer_args(&self, serving: bool) -> Vec<String> {
        let mut args = self.peer_args.clone();
        if let Some(dir) = &self.identities {
            let who = if serving { "server" } else { "client" };
            for (flag, file) in [
                ("--cert", format!("{who}.pem")),
                ("--key", format!("{who}.key")),
                ("--ca", "ca.pem".to_string()),
            ] {
                args.push(flag.to_string());
                args.push(dir.join(file).display().to_string());
            }
        }
        args
    }
}

/// Runs the peer's bench suite, `concurrency` calls in flight.
fn call(
    peer: &Path,
    at: &Where,
    function: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let out = Command::new(peer)
        .args(["call", at.peer_flag, &at.address])
        .args(at.peer_args(false))
        .args(["bench", function])
        .arg(calls.to_string())
        .args(["--concurrency", &concurrency.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", peer.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "the peer's calls failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("the peer printed {stdout}"))?;
    let mut ns: Vec<u64> = v["result"]
        .as_array()
        .context("no samples")?
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    anyhow::ensure!(!ns.is_empty(), "no samples");
    ns.sort_unstable();
    let wall_ns = v["wall_ns"].as_u64().context("no wall time")?.into();
    Ok(Measured { ns, wall_ns })
}

/// The median of `v` and its range.
fn median_spread(v: &[f64]) -> (f64, (f64, f64)) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (median, (s[0], s[s.len() - 1]))
}

/// Markdown tables of the rows: latency one call at a time, then
/// throughput with calls in flight.
pub fn markdown(rows: &[ExternalRow]) -> String {
    let cpu = |r: &ExternalRow| match r.server_cpu_us {
        Some(us) => format!("{us:.1} µs"),
        None => "–".to_string(),
    };
    let call = |r: &ExternalRow| {
        if r.function == "add" {
            "add(u32, u32)"
        } else {
            "sum(64 KiB list<u8>)"
        }
    };
    let mut out = String::from(
        "| transport | call | server | p50 (median of rounds) | spread | vs floor | over floor | server CPU/call |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows.iter().filter(|r| r.concurrency == 1) {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} µs | {:.1}–{:.1} µs | {:.2}× | {:+.1} µs | {} |\n",
            r.transport,
            call(r),
            r.server,
            r.p50_us,
            r.spread_us.0,
            r.spread_us.1,
            r.vs_floor,
            r.over_floor_us,
            cpu(r)
        ));
    }
    let loaded: Vec<&ExternalRow> = rows.iter().filter(|r| r.concurrency > 1).collect();
    if !loaded.is_empty() {
        out.push_str(
            "\n| transport | call | in flight | server | calls/s (median of rounds) | p50 | vs floor (calls/s) | server CPU/call |\n|---|---|---|---|---|---|---|---|\n",
        );
        for r in &loaded {
            let floor = loaded
                .iter()
                .find(|f| {
                    (f.transport, f.function, f.concurrency)
                        == (r.transport, r.function, r.concurrency)
                        && f.vs_floor == 1.0
                })
                .map_or(f64::NAN, |f| f.calls_per_s);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} | {:.1} µs | {:.2}× | {} |\n",
                r.transport,
                call(r),
                r.concurrency,
                r.server,
                r.calls_per_s,
                r.p50_us,
                r.calls_per_s / floor,
                cpu(r)
            ));
        }
    }
    out
}
