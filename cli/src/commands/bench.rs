//! `weld bench [weld.toml]`: a short call-latency matrix — each in-process
//! strategy and engine configuration against a native Rust floor — on the
//! user's deployment or the bundled fixtures.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weld_linker::bench::{self, BenchCall, SERIES};
use weld_linker::{Deployment, Diagnostic};

/// Arguments of `weld bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The deployment (default: the bundled `driver` + `adder` pair, which
    /// needs the fixtures built: `cargo build -p weld-fixtures`).
    manifest: Option<PathBuf>,
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
    /// Print JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print a Markdown table.
    #[arg(long)]
    markdown: bool,
}

/// Runs `weld bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fail = |m: String| Ok(super::report(&Diagnostic::new(m).into(), args.json));
    let (manifest, calls, with_native) = match &args.manifest {
        Some(m) => {
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
            (m.clone(), calls, false)
        }
        None => {
            let dir = std::env::temp_dir().join(format!("weld-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let fixtures = bundled_fixtures()?;
            let path = dir.join("weld.toml");
            std::fs::write(
                &path,
                format!(
                    "[components.driver]\npath = \"{}\"\n[components.adder]\npath = \"{}\"\n",
                    fixtures.join("driver.wasm").display(),
                    fixtures.join("adder.wasm").display()
                ),
            )?;
            (path, bench::default_calls(), true)
        }
    };
    let loaded = Deployment::load(&manifest);
    // The bundled deployment's manifest was written to a scratch directory:
    // everything is loaded now, so it can go.
    if args.manifest.is_none() {
        if let Some(dir) = manifest.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    let deployment = match loaded {
        Ok(d) => d,
        Err(d) => return Ok(super::report(&d, args.json)),
    };
    let budget = Duration::from_millis(args.budget_ms);
    let cells = calls.len() * SERIES.len();
    let mut done = 0;
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
            done += 1;
            eprint!("\r[{done}/{cells}] {series}: {payload}{:20}", "");
            let _ = std::io::stderr().flush();
        },
    );
    eprintln!();
    match measured {
        Ok(r) => rows.extend(r),
        Err(e) => return fail(e.to_string()),
    }
    if args.manifest.is_none() && !args.no_wrpc {
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

/// The bundled pair split over two hosts, `adder` served by a background
/// `weld serve`, once per wRPC transport on loopback.
fn remote_rows(args: &Args, budget: Duration) -> Result<Vec<bench::Row>, String> {
    let fixtures = bundled_fixtures().map_err(|e| e.to_string())?;
    let scratch = std::env::temp_dir().join(format!("weld-bench-wrpc-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
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
    let calls = bench::default_wrpc_calls();
    let cells = calls.len() * transports.len();
    let mut done = 0;
    let mut rows = Vec::new();
    for (name, endpoint) in transports {
        let path = scratch.join("weld.toml");
        let toml = bench::remote_manifest(
            &fixtures.join("driver.wasm"),
            &fixtures.join("adder.wasm"),
            &endpoint,
        );
        std::fs::write(&path, toml).map_err(|e| e.to_string())?;
        let deployment = Deployment::load(&path).map_err(|d| d.to_string())?;
        let measured = bench::run_remote(&deployment, "a", "b", name, &calls, budget, |s, p| {
            done += 1;
            eprint!("\r[{done}/{cells}] {s}: {p}{:20}", "");
            let _ = std::io::stderr().flush();
        });
        rows.extend(measured.map_err(|e| e.to_string())?);
    }
    eprintln!();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(rows)
}

/// Where the bundled fixtures are: next to the workspace this binary was
/// built from.
fn bundled_fixtures() -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wasm");
    if dir.join("driver.wasm").exists() && dir.join("adder.wasm").exists() {
        Ok(dir)
    } else {
        anyhow::bail!(
            "the bundled fixtures are not built ({}); run `cargo build -p weld-fixtures`, or pass a manifest",
            dir.display()
        )
    }
}
