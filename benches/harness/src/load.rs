//! `weld bench --load`: throughput instead of latency — the bundled pair
//! split over two hosts, many calls of `driver.add-once` over each wRPC
//! transport at each concurrency level, every result checked, with the
//! calls lost or answered twice.

use crate::matrix::{bundled, fixtures, serve, stop, TUNED};
use crate::progress::{stage, Progress};
use crate::remote::{transports, Scratch};
use crate::Error;
use serde::Serialize;
use std::time::Instant;
use wasmtime::component::Val;
use weld_linker::cost::format_ns;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::{BoxError, Runtime, RuntimeError, RuntimeOptions};
use weld_linker::Deployment;

/// The payload every load row measures.
const LOAD_PAYLOAD: &str = "driver.add-once";

/// The bundled pair split over two hosts under load: `calls` calls once
/// per wRPC transport (TCP and Unix on loopback, NATS through `nats` when
/// given) and concurrency level.
///
/// # Errors
/// A fixture missing, a host that cannot be served, a call that fails
/// other than by the link (see [`run_load`]).
pub fn run(
    calls: usize,
    concurrency: &[usize],
    nats: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<Vec<LoadRow>, Error> {
    let [driver, adder] = fixtures(["driver", "adder"])?;
    let scratch = Scratch::new("load")?;
    let transports = transports(scratch.path(), nats)?;
    stage(progress, transports.len() * concurrency.len(), |progress| {
        let mut rows = Vec::new();
        for (series, endpoint) in &transports {
            let deployment = bundled(driver.clone(), adder.clone(), Some(endpoint))?;
            for &c in concurrency {
                progress.step(&format!(
                    "{}: {} at concurrency {c}",
                    series.name,
                    weld_linker::diagnostic::plural(calls, "call")
                ));
                rows.push(run_load(&deployment, ("a", "b"), series.name, calls, c)?);
            }
        }
        Ok(rows)
    })
}

/// One load measurement: `calls` calls of `driver.add-once` from
/// `concurrency` threads against a served `adder`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    /// The transport series.
    pub series: String,
    /// Calling threads, each with its own store.
    pub concurrency: usize,
    /// Calls made.
    pub calls: usize,
    /// Calls per second over the whole run.
    pub calls_per_s: f64,
    /// Median latency of one call, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// Calls without their correct result (failed or wrong).
    pub lost: u64,
    /// Executions past one per call (the servers answered more calls than
    /// were made).
    pub duplicated: u64,
}

/// Serves `callee` on a background thread and makes `calls` calls of
/// `driver.add-once(i, 1)` from host `caller` on `concurrency` threads;
/// every result is checked against its call.
///
/// # Errors
/// [`Error::Serve`] if `callee` cannot be served or stopped,
/// [`Error::Measure`] if the caller's runtime cannot be prepared.
pub fn run_load(
    deployment: &Deployment,
    (caller, callee): (&str, &str),
    series: &str,
    calls: usize,
    concurrency: usize,
) -> Result<LoadRow, Error> {
    let server = serve(deployment, callee)?;
    let failed = |e: BoxError| Error::measure(series, Some(LOAD_PAYLOAD), e);
    let rt = Runtime::new(
        deployment,
        &RuntimeOptions {
            host: Some(caller.to_string()),
            strategy: Some(Strategy::Fused),
            engine: Some(TUNED),
            ..RuntimeOptions::default()
        },
    )
    .map_err(|e| failed(e.into()))?;
    let concurrency = concurrency.clamp(1, calls.max(1));
    let started = Instant::now();
    let per_thread: Vec<Result<(Vec<f64>, u64), RuntimeError>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..concurrency)
            .map(|t| {
                let rt = rt.clone();
                s.spawn(move || {
                    let mut app = rt.instantiate()?;
                    let (func, full) = app.func("driver", "add-once")?;
                    let mut times = Vec::new();
                    let mut ok = 0u64;
                    for i in (t..calls).step_by(concurrency) {
                        let i = i as u32;
                        let t0 = Instant::now();
                        let got = app.invoke("driver", &full, func, &[Val::U32(i), Val::U32(1)]);
                        times.push(t0.elapsed().as_secs_f64() * 1e6);
                        if matches!(got.as_deref(), Ok([Val::U32(r)]) if *r == i.wrapping_add(1)) {
                            ok += 1;
                        } else if app.is_poisoned() {
                            // allow-trap: a failed call traps; go on in a fresh store.
                            app = rt.instantiate()?;
                        }
                    }
                    Ok((times, ok))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a load thread panicked"))
            .collect()
    });
    let took = started.elapsed();
    let stats = stop(server, callee)?;
    let mut times = Vec::with_capacity(calls);
    let mut ok = 0;
    for r in per_thread {
        let (t, o) = r.map_err(|e| failed(e.into()))?;
        times.extend(t);
        ok += o;
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(LoadRow {
        series: series.to_string(),
        concurrency,
        calls,
        calls_per_s: calls as f64 / took.as_secs_f64(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        lost: calls as u64 - ok,
        duplicated: stats.answered.saturating_sub(calls as u64),
    })
}

/// Renders load rows as a Markdown table.
pub fn markdown(rows: &[LoadRow]) -> String {
    let mut out = String::from("| series | concurrency | calls | calls/s | p50 | p99 | lost | duplicated |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |\n",
            r.series,
            r.concurrency,
            r.calls,
            r.calls_per_s,
            format_ns(r.p50_us * 1e3),
            format_ns(r.p99_us * 1e3),
            r.lost,
            r.duplicated
        ));
    }
    out
}
