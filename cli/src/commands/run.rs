//! `weld run weld.toml --invoke 'driver.run-add(1000)'`: deploy one host's
//! components in one wasmtime store and call their exports.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::invoke::{format_results, Call};
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::{Deployment, Diagnostic};

/// In-process strategy override.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    /// Compose co-located components in memory: fused adapters, no host
    /// transition.
    Fused,
    /// Separate instances in one store, imports as host functions.
    HostLinked,
}

/// Arguments of `weld run`.
#[derive(clap::Args)]
pub struct Args {
    /// The deployment manifest.
    manifest: PathBuf,
    /// Call `component.function(args)` (WAVE syntax); repeat to call several
    /// in order, in the same store. Without it, the component exporting
    /// `wasi:cli/run` is run.
    #[arg(long, short)]
    invoke: Vec<String>,
    /// The host to run (default: the deployment's only host).
    #[arg(long)]
    host: Option<String>,
    /// Override the plan's in-process strategy.
    #[arg(long, value_enum)]
    strategy: Option<StrategyArg>,
    /// Deadline of each call into a component whose manifest sets no
    /// `deadline-ms`, in milliseconds (default: none).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    deadline_ms: Option<u64>,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `weld run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = match Deployment::load(&args.manifest) {
        Ok(d) => d,
        Err(diagnostics) => return Ok(super::report(&diagnostics, args.json)),
    };
    let fail = |message: String| Ok(super::report(&Diagnostic::new(message).into(), args.json));
    let options = RuntimeOptions {
        host: args.host.clone(),
        strategy: args.strategy.map(|s| match s {
            StrategyArg::Fused => Strategy::Fused,
            StrategyArg::HostLinked => Strategy::HostLinked,
        }),
        deadline: args.deadline_ms.map(std::time::Duration::from_millis),
        ..RuntimeOptions::default()
    };
    if !args.json {
        eprintln!("preparing {} ...", args.manifest.display());
    }
    let runtime = match Runtime::new(&deployment, &options) {
        Ok(r) => r,
        Err(e) => return fail(super::describe(&e)),
    };
    if !args.json {
        eprintln!(
            "host `{}`: {} in {:.1} ms",
            runtime.host(),
            runtime.describe().join(", "),
            runtime.prepare_time().as_secs_f64() * 1e3
        );
    }
    let mut app = match runtime.instantiate() {
        Ok(a) => a,
        Err(e) => return fail(super::describe(&e)),
    };
    if args.invoke.is_empty() {
        return match app.run_command() {
            Ok((component, ok)) => {
                if !args.json {
                    eprintln!(
                        "`{component}` exited {}",
                        if ok { "successfully" } else { "with an error" }
                    );
                }
                Ok(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            Err(e) => fail(super::describe(&e)),
        };
    }
    let mut outputs = Vec::new();
    for text in &args.invoke {
        let call = match Call::parse_in(text, runtime.components()) {
            Ok(c) => c,
            Err(e) => return fail(e.to_string()),
        };
        let (func, full) = match app.func(&call.component, &call.function) {
            Ok(f) => f,
            Err(e) => return fail(super::describe(&e)),
        };
        let params = match call.params(app.store(), &func) {
            Ok(p) => p,
            Err(e) => return fail(e.to_string()),
        };
        let started = std::time::Instant::now();
        let results = match app.invoke(&call.component, &full, func, &params) {
            Ok(r) => r,
            Err(e) => return fail(super::describe(&e)),
        };
        let elapsed = started.elapsed();
        let shown = format_results(&results);
        if args.json {
            outputs.push(serde_json::json!({
                "call": text,
                "function": format!("{}.{}", call.component, full),
                "result": shown,
                "micros": elapsed.as_secs_f64() * 1e6,
            }));
        } else {
            super::emit(&format!("{shown}\n"));
            eprintln!(
                "  {}.{full} took {:.1} µs",
                call.component,
                elapsed.as_secs_f64() * 1e6
            );
        }
    }
    if args.json {
        let v =
            serde_json::json!({"version": 1, "ok": true, "host": runtime.host(), "calls": outputs});
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    Ok(ExitCode::SUCCESS)
}
