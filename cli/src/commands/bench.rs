//! `weld bench [weld.toml]`: a short call-latency matrix — each in-process
//! strategy and engine configuration against a native Rust floor — on the
//! user's deployment or the bundled fixtures.

use crate::bench::{self, BenchCall, SERIES};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weld_linker::diagnostic::plural;

/// Arguments of `weld bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The deployment: a manifest, or component files deployed together
    /// (default: the bundled `driver` + `adder` pair, which needs the
    /// fixtures built: `cargo build -p weld-fixtures`).
    #[arg(value_name = "MANIFEST|COMPONENT")]
    inputs: Vec<PathBuf>,
    /// Invocations to time, `component.function(args)`; with a manifest,
    /// required. Append `*N` when one invocation makes N component calls
    /// (e.g. `driver.run-add(10000)*10000`).
    #[arg(long, short)]
    invoke: Vec<String>,
    /// The host to run.
    #[arg(long)]
    host: Option<String>,
    /// Time budget per cell, in milliseconds.
    #[arg(long, default_value_t = 300)]
    budget_ms: u64,
    /// With the bundled fixtures: skip the wRPC series (loopback TCP and
    /// Unix, plus NATS with --nats).
    #[arg(long)]
    no_wrpc: bool,
    /// With the bundled fixtures: also measure wRPC over this NATS server
    /// (e.g. `nats://127.0.0.1:4222`).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// With the bundled fixtures: measure throughput instead — `--calls`
    /// calls of `driver.add-once` over each wRPC transport, at each
    /// `--concurrency`, with the calls lost or run twice.
    #[arg(long, conflicts_with = "inputs")]
    load: bool,
    /// Calling threads for `--load` (repeat for several levels).
    #[arg(long, default_values_t = [1, 64], requires = "load")]
    concurrency: Vec<usize>,
    /// With the bundled fixtures: measure latency as a caller in another
    /// process sees it — the native wRPC peer calling `weld serve`, against
    /// the same peer serving natively (the floor) and `wrpc-wasmtime` when
    /// installed — over TCP and Unix, in interleaved rounds.
    #[arg(long, conflicts_with_all = ["inputs", "load"])]
    external: bool,
    /// Rounds for `--external`.
    #[arg(long, default_value_t = 5, requires = "external")]
    rounds: usize,
    /// Calls per server per round for `--external`.
    #[arg(long, default_value_t = 1000, requires = "external")]
    round_calls: usize,
    /// Calls per level for `--load`.
    #[arg(long, default_value_t = 10_000, requires = "load")]
    calls: usize,
    /// Print JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print a Markdown table.
    #[arg(long)]
    markdown: bool,
    #[command(flatten)]
    limits: super::LimitArgs,
}

/// Runs `weld bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fail = |m: String| Ok(super::fail(m, args.json));
    if args.load {
        return match load_rows(&args) {
            Ok(rows) if args.json => {
                let v = serde_json::json!({"version": 1, "ok": true, "load": rows});
                super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
                Ok(ExitCode::SUCCESS)
            }
            Ok(rows) => {
                super::emit(&bench::load_markdown(&rows));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => fail(e),
        };
    }
    if args.external {
        return external(&args);
    }
    let bundled = args.inputs.is_empty();
    let (deployment, calls, with_native) = if !bundled {
        if args.invoke.is_empty() {
            return fail("say what to time with --invoke 'component.function(args)'".into());
        }
        let mut calls = Vec::new();
        for text in &args.invoke {
            let (call, inner) = match text.rsplit_once(")*") {
                Some((c, n)) => match n.parse::<u64>() {
                    Ok(n) if n > 0 => (format!("{c})"), n),
                    _ => {
                        return fail(format!(
                            "`{text}`: the count after `*` must be a positive integer"
                        ))
                    }
                },
                None => (text.clone(), 1),
            };
            calls.push(BenchCall {
                label: call.clone(),
                call,
                inner,
            });
        }
        let options = weld_linker::PlanOptions::default();
        match super::load(&args.inputs, &args.limits, &options, args.json) {
            Ok(d) => (d, calls, false),
            Err(code) => return Ok(code),
        }
    } else {
        let bundled =
            bundled_fixtures().and_then(|(driver, adder)| bench::bundled(driver, adder, None));
        match bundled {
            Ok(d) => (d, bench::default_calls(), true),
            Err(e) => return fail(format!("{e:#}")),
        }
    };
    let budget = Duration::from_millis(args.budget_ms);
    let bar = progress(calls.len() * SERIES.len());
    let mut rows = if with_native {
        eprintln!("measuring the native floor ...");
        bench::native_rows(budget)
    } else {
        Vec::new()
    };
    let measured = bench::run(
        &deployment,
        args.host.clone(),
        &calls,
        &SERIES,
        budget,
        |series, payload| {
            step(&bar, format!("{series}: {payload}"));
        },
    );
    bar.finish_and_clear();
    match measured {
        Ok(r) => rows.extend(r),
        Err(e) => return fail(format!("{e:#}")),
    }
    if bundled && !args.no_wrpc {
        match remote_rows(&args, budget) {
            Ok(r) => rows.extend(r),
            Err(e) => return fail(e),
        }
    }
    // Group by payload for reading.
    let mut ordered = Vec::new();
    for c in &calls {
        ordered.extend(rows.iter().filter(|r| r.payload == c.label).cloned());
    }
    if args.json {
        let v = serde_json::json!({"version": 1, "ok": true, "budget_ms": args.budget_ms, "rows": ordered});
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    } else {
        super::emit(&bench::to_markdown(&ordered));
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundled pair split over two hosts under load, once per wRPC
/// transport and concurrency level.
fn load_rows(args: &Args) -> Result<Vec<bench::LoadRow>, String> {
    let (driver, adder) = bundled_fixtures().map_err(|e| e.to_string())?;
    let scratch = std::env::temp_dir().join(format!("weld-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let transports = wrpc_transports(args, &scratch)?;
    let bar = progress(transports.len() * args.concurrency.len());
    let mut rows = Vec::new();
    for (name, endpoint) in &transports {
        let deployment = bench::bundled(driver.clone(), adder.clone(), Some(endpoint))
            .map_err(|e| format!("{e:#}"))?;
        for &c in &args.concurrency {
            step(
                &bar,
                format!("{name}: {} at concurrency {c}", plural(args.calls, "call")),
            );
            let row = bench::run_load(&deployment, ("a", "b"), name, args.calls, c)
                .map_err(|e| format!("{e:#}"))?;
            rows.push(row);
        }
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(rows)
}

/// The loopback wRPC endpoints the bundled series use: TCP on a free port,
/// a Unix socket in `scratch`, and NATS when `--nats` names a server.
fn wrpc_transports(
    args: &Args,
    scratch: &std::path::Path,
) -> Result<Vec<(&'static str, String)>, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for the TCP series: {e}"))?
        .port();
    let mut transports: Vec<(&'static str, String)> = vec![
        (
            "wRPC tcp (loopback)",
            format!("{{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}"),
        ),
        (
            "wRPC unix",
            format!(
                "{{ transport = \"unix\", path = {:?} }}",
                scratch.join("bench.sock").display().to_string()
            ),
        ),
    ];
    if let Some(url) = &args.nats {
        transports.push((
            "wRPC nats",
            format!("{{ transport = \"nats\", url = {url:?}, prefix = \"weld-bench\" }}"),
        ));
    }
    Ok(transports)
}

/// The bundled pair split over two hosts, `adder` served by a background
/// `weld serve`, once per wRPC transport on loopback.
fn remote_rows(args: &Args, budget: Duration) -> Result<Vec<bench::Row>, String> {
    let (driver, adder) = bundled_fixtures().map_err(|e| e.to_string())?;
    let scratch = std::env::temp_dir().join(format!("weld-bench-wrpc-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let transports = wrpc_transports(args, &scratch)?;
    let calls = bench::default_wrpc_calls();
    let bar = progress(calls.len() * transports.len());
    let mut rows = Vec::new();
    for (name, endpoint) in transports {
        let deployment = bench::bundled(driver.clone(), adder.clone(), Some(&endpoint))
            .map_err(|e| format!("{e:#}"))?;
        let measured = bench::run_remote(&deployment, "a", "b", name, &calls, budget, |s, p| {
            step(&bar, format!("{s}: {p}"));
        });
        rows.extend(measured.map_err(|e| format!("{e:#}"))?);
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(rows)
}

/// `weld bench --external`.
fn external(args: &Args) -> anyhow::Result<ExitCode> {
    let adder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wasm/adder.wasm");
    if !adder.is_file() {
        return Ok(super::fail(
            format!(
                "the bundled fixtures are not built ({}); run `cargo build -p weld-fixtures`",
                adder.display()
            ),
            args.json,
        ));
    }
    let bar = progress(crate::external::cells(args.rounds.max(1)));
    let measured = crate::external::run(&adder, args.rounds.max(1), args.round_calls.max(1), |m| {
        step(&bar, m)
    });
    bar.finish_and_clear();
    let (rows, notes) = match measured {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(format!("{e:#}"), args.json)),
    };
    if args.json {
        let v = serde_json::json!({"version": 1, "ok": true, "external": rows, "notes": notes});
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    } else {
        super::emit(&crate::external::markdown(&rows));
        for n in notes {
            eprintln!("note: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundled fixtures' bytes (`driver`, `adder`), next to the workspace
/// this binary was built from.
fn bundled_fixtures() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wasm");
    let read = |name: &str| std::fs::read(dir.join(format!("{name}.wasm")));
    match (read("driver"), read("adder")) {
        (Ok(driver), Ok(adder)) => Ok((driver, adder)),
        _ => anyhow::bail!(
            "the bundled fixtures are not built ({}); run `cargo build -p weld-fixtures`, or pass a manifest",
            dir.display()
        ),
    }
}

/// A progress bar on stderr for `cells` measurements (see [`step`]).
fn progress(cells: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(cells as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{pos}/{len}] {wide_msg}")
            .expect("a valid template"),
    );
    bar
}

/// Advances the progress line; where stderr is not a terminal (a log, CI)
/// the bar is hidden, so each step is a plain line instead.
fn step(bar: &indicatif::ProgressBar, message: String) {
    bar.inc(1);
    if bar.is_hidden() {
        eprintln!(
            "[{}/{}] {message}",
            bar.position(),
            bar.length().unwrap_or(0)
        );
    }
    bar.set_message(message);
}
