//! `weld bench [weld.toml]`: a short call-latency matrix — each in-process
//! strategy and engine configuration against a native Rust floor — on the
//! user's deployment or the bundled fixtures; saved as a baseline, compared
//! with one (`weld_harness::regress`), drawn as a chart, or turned into a cost
//! calibration for `weld plan --costs` (`weld_harness::calibrate`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weld_harness::matrix::{self as bench, BenchCall, Row};
use weld_harness::regress::baseline::{self, Baseline, DeploymentInfo, Difference, Environment};
use weld_harness::regress::{self as regress, chart, compare};
use weld_harness::report::{
    CalibrationReport, ExternalReport, HttpReport, LoadReport, MatrixReport,
};
use weld_harness::suite::{needs_bundled, Selection, Settings, Suite, SERIES_KEYS};
use weld_harness::Progress;

/// Exit status of a comparison in which a cell regressed.
pub const EXIT_REGRESSED: u8 = 3;

/// Arguments of `weld bench`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("rounds_of").args(["external", "http"]).multiple(true)))]
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
    /// Measure only these series (repeat for several). Default with a
    /// deployment: `planned`, the deployment as its manifest plans it (each
    /// link's own strategy), so a baseline catches a change of the
    /// manifest; with the bundled fixtures: every series but `planned`.
    /// `native`, `host-floors` and `wrpc-*` need the bundled fixtures.
    #[arg(long, value_name = "KEY", value_parser = clap::builder::PossibleValuesParser::new(SERIES_KEYS))]
    series: Vec<String>,
    /// With a deployment: measure every in-process strategy (fused and
    /// host-linked, tuned and default) beside `planned`.
    #[arg(long, conflicts_with = "series")]
    matrix: bool,
    /// With the bundled fixtures: skip the wRPC series (loopback TCP and
    /// Unix, plus NATS with --nats).
    #[arg(long)]
    no_wrpc: bool,
    /// With the bundled fixtures: also measure wRPC over this NATS server
    /// (e.g. `nats://127.0.0.1:4222`); with --external, NATS beside TCP and
    /// Unix, against a bare request/reply through the same server.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// Save every cell's samples, and what they were measured on, to FILE
    /// (JSON; compare a later run with `--baseline FILE`).
    #[arg(long, value_name = "FILE")]
    save_baseline: Option<PathBuf>,
    /// Compare each cell (payload and series) with the same cell of this
    /// baseline: medians then and now, the change with a 95 % bootstrap
    /// interval, a verdict. Exit status 3 when a cell regressed.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// A cell regressed when the whole 95 % interval of its change is
    /// above +PCT % (improved: below the mirror image).
    #[arg(long, value_name = "PCT", default_value_t = 10.0, requires = "baseline",
          value_parser = parse_threshold)]
    threshold: f64,
    /// Refuse to compare with a baseline measured on another machine (CPU,
    /// cores) or with other software (weld, wasmtime, rustc) or series
    /// settings, instead of warning.
    #[arg(long, requires = "baseline")]
    strict: bool,
    /// Draw the matrix (and the baseline's cells, with --baseline) as an
    /// SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// With the bundled fixtures: measure what a call costs per transport
    /// and payload class on this machine and write it to FILE, for
    /// `weld plan --costs FILE`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["inputs", "load", "external", "baseline", "save_baseline", "series", "svg"])]
    calibrate: Option<PathBuf>,
    /// With the bundled fixtures: measure throughput instead — `--calls`
    /// calls of `driver.add-once` over each wRPC transport, at each
    /// `--concurrency`, with the calls lost or run twice.
    #[arg(long, conflicts_with_all = ["inputs", "baseline", "save_baseline", "series", "svg"])]
    load: bool,
    /// Calling threads for `--load` (repeat for several levels).
    #[arg(long, default_values_t = [1, 64], requires = "load")]
    concurrency: Vec<usize>,
    /// With the bundled fixtures: measure latency as a caller in another
    /// process sees it — the native wRPC peer calling `weld serve`, against
    /// the same peer serving natively (the floor) and `wrpc-wasmtime` when
    /// installed — over TCP and Unix (and NATS with --nats), in interleaved
    /// rounds; over TCP also with 64 calls in flight (throughput).
    #[arg(long, conflicts_with_all = ["inputs", "load", "baseline", "save_baseline", "series", "svg"])]
    external: bool,
    /// With the bundled fixtures: measure HTTP handlers served by weld
    /// (hello in WASI 0.2 and 0.3, one host-linked call, one wRPC call)
    /// beside `wasmtime serve` of the same hello when it is on `PATH`:
    /// requests/s and latency at concurrency 1 and 64, interleaved rounds.
    #[arg(long, conflicts_with_all = ["inputs", "load", "external", "baseline", "save_baseline", "series", "svg"])]
    http: bool,
    /// Rounds for `--external` (default 5) and `--http` (default 3).
    #[arg(long, requires = "rounds_of", value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: Option<u32>,
    /// Seconds each server is loaded per round and concurrency, for
    /// `--http`.
    #[arg(long, default_value_t = 3, requires = "http", value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
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

fn parse_threshold(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("`{text}` is not a percentage of 0 or more")),
    }
}

/// Runs `weld bench`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let fail =
        |e: &(dyn std::error::Error + 'static)| Ok(super::fail(super::describe(e), args.json));
    let budget = Duration::from_millis(args.budget_ms);
    let nats = args.nats.as_deref();
    if args.load {
        return match weld_harness::load::run(
            args.calls,
            &args.concurrency,
            nats,
            &mut Bar::default(),
        ) {
            Ok(rows) if args.json => Ok(super::emit_ok(LoadReport { load: &rows })),
            Ok(rows) => {
                super::emit(&weld_harness::load::markdown(&rows));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => fail(&e),
        };
    }
    if args.external {
        return external(&args);
    }
    if args.http {
        let bench = weld_harness::http::HttpBench {
            rounds: args.rounds.unwrap_or(3) as usize,
            duration: Duration::from_secs(args.seconds),
            ..Default::default()
        };
        let fixtures = bench::fixture_dir();
        return match weld_harness::http::run(&fixtures, &bench, &mut Bar::default()) {
            Ok((rows, notes)) if args.json => Ok(super::emit_ok(HttpReport {
                http: &rows,
                notes: &notes,
            })),
            Ok((rows, notes)) => {
                super::emit(&weld_harness::http::markdown(&rows));
                notes.iter().for_each(|n| eprintln!("note: {n}"));
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => fail(&e),
        };
    }
    if let Some(file) = &args.calibrate {
        let measured =
            weld_harness::calibrate::run(budget, !args.no_wrpc, nats, file, &mut Bar::default());
        return match measured {
            Ok(rows) if args.json => Ok(super::emit_ok(CalibrationReport {
                budget_ms: args.budget_ms,
                calibration: file,
                rows: &rows,
            })),
            Ok(rows) => {
                super::emit(&bench::to_markdown(&rows));
                eprintln!("calibration written to {}", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => fail(&e),
        };
    }
    // Read the baseline first: a corrupt one should fail before minutes
    // of measuring, not after.
    let old = match args.baseline.as_deref().map(Baseline::read).transpose() {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let suite = match suite(&args) {
        Ok(s) => s,
        Err(Stop::Code(code)) => return Ok(code),
        Err(Stop::Message(m)) => return Ok(super::fail(m, args.json)),
    };
    let differences = match circumstances(&args, old.as_ref(), &suite) {
        Ok(d) => d,
        Err(m) => return Ok(super::fail(m, args.json)),
    };
    let settings = Settings {
        budget,
        host: args.host.clone(),
        nats: args.nats.clone(),
    };
    let rows = match suite.measure(&settings, &mut Bar::default()) {
        Ok(rows) => rows,
        Err(e) => return fail(&e),
    };
    if let Err(m) = save(&args, &suite, &rows, old.as_ref()) {
        return Ok(super::fail(m, args.json));
    }
    let report = old
        .as_ref()
        .map(|b| compare::compare(b, &rows, args.threshold, differences));
    print(&args, &rows, report.as_ref())?;
    Ok(match report {
        Some(r) if r.regressed() => ExitCode::from(EXIT_REGRESSED),
        _ => ExitCode::SUCCESS,
    })
}

/// How the baseline's circumstances differ from now's: one warning each,
/// or, under `--strict`, the refusal.
fn circumstances(
    args: &Args,
    old: Option<&Baseline>,
    suite: &Suite,
) -> Result<Vec<Difference>, String> {
    let (Some(old), Some(path)) = (old, &args.baseline) else {
        return Ok(Vec::new());
    };
    let differences = baseline::differences(old, &Environment::current(), &suite.series_infos());
    if differences.is_empty() {
        return Ok(differences);
    }
    let list: Vec<String> = differences.iter().map(ToString::to_string).collect();
    if args.strict {
        return Err(format!(
            "baseline `{}` was measured in other circumstances, and --strict refuses to compare: {}",
            path.display(),
            list.join("; ")
        ));
    }
    for d in &list {
        eprintln!(
            "warning: baseline `{}` was measured in other circumstances: {d}",
            path.display()
        );
    }
    eprintln!("warning: figures from different circumstances may differ by more than the change measured; compare on one machine, or pass --strict to refuse");
    Ok(differences)
}

/// Writes what was asked for besides the report: the baseline, the chart.
fn save(args: &Args, suite: &Suite, rows: &[Row], old: Option<&Baseline>) -> Result<(), String> {
    if let Some(path) = &args.save_baseline {
        let info = DeploymentInfo {
            inputs: args
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            host: args.host.clone(),
            components: regress::digests(&suite.deployment),
        };
        let b = regress::baseline_of(rows, suite.series_infos(), info, args.budget_ms);
        b.write(path).map_err(|e| super::describe(&e))?;
        eprintln!(
            "baseline written to {} ({} cells)",
            path.display(),
            b.cells.len()
        );
    }
    if let Some(path) = &args.svg {
        let title = if args.inputs.is_empty() {
            "weld bench: the bundled matrix".to_string()
        } else {
            format!("weld bench {}", super::label(&args.inputs))
        };
        let svg = chart::svg(rows, old, &title).map_err(|e| super::describe(&e))?;
        std::fs::write(path, svg)
            .map_err(|e| format!("cannot write the chart `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// Why [`suite`] stopped: diagnostics already printed, or a message.
enum Stop {
    Code(ExitCode),
    Message(String),
}

/// The deployment, invocations and series the arguments ask for.
fn suite(args: &Args) -> Result<Suite, Stop> {
    let selection = Selection {
        keys: args.series.clone(),
        every_in_process: args.matrix,
        no_wrpc: args.no_wrpc,
        nats: args.nats.clone(),
    };
    let bundled = args.inputs.is_empty();
    if let Some(k) = args.series.iter().find(|k| !bundled && needs_bundled(k)) {
        return Err(Stop::Message(format!(
            "--series {k} needs the bundled fixtures (no manifest): it measures the bundled `driver` and `adder`"
        )));
    }
    if args.series.iter().any(|k| k == "wrpc-nats") && args.nats.is_none() {
        return Err(Stop::Message(
            "--series wrpc-nats needs a NATS server: --nats URL".into(),
        ));
    }
    if bundled {
        return Suite::bundled(&selection).map_err(|e| Stop::Message(super::describe(&e)));
    }
    if args.invoke.is_empty() {
        return Err(Stop::Message(
            "say what to time with --invoke 'component.function(args)'".into(),
        ));
    }
    let calls = args
        .invoke
        .iter()
        .map(|text| BenchCall::parse(text))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Stop::Message(super::describe(&e)))?;
    let options = weld_linker::PlanOptions::default();
    let deployment =
        super::load(&args.inputs, &args.limits, &options, args.json).map_err(Stop::Code)?;
    Ok(Suite::deployed(deployment, calls, &selection))
}

/// Prints the matrix, or the comparison with a baseline.
fn print(args: &Args, rows: &[Row], report: Option<&compare::Report>) -> anyhow::Result<()> {
    if args.json {
        super::emit_ok(MatrixReport {
            budget_ms: args.budget_ms,
            rows,
            comparison: report,
        });
    } else if let Some(r) = report {
        if args.markdown {
            super::emit(&r.to_markdown());
        } else {
            super::emit(&r.to_text());
        }
    } else {
        super::emit(&bench::to_markdown(rows));
    }
    Ok(())
}

/// `weld bench --external`.
fn external(args: &Args) -> anyhow::Result<ExitCode> {
    let adder = bench::fixture_dir().join("adder.wasm");
    if !adder.is_file() {
        return Ok(super::fail(
            format!(
                "the bundled fixtures are not built ({}); run `cargo build -p weld-fixtures`",
                adder.display()
            ),
            args.json,
        ));
    }
    let nats = args.nats.as_deref();
    let mut bar = Bar::default();
    let measured = weld_harness::external::run(
        &adder,
        args.rounds.unwrap_or(5) as usize,
        args.round_calls.max(1),
        nats,
        &mut bar,
    );
    let (rows, notes) = match measured {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
    };
    if args.json {
        return Ok(super::emit_ok(ExternalReport {
            external: &rows,
            notes: &notes,
        }));
    }
    super::emit(&weld_harness::external::markdown(&rows));
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress on stderr: a bar on a terminal; where stderr is not one (a
/// log, CI) the bar is hidden, so each step is a plain line instead.
#[derive(Default)]
pub(crate) struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn begin(&mut self, cells: usize) {
        let bar = indicatif::ProgressBar::new(cells as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("[{pos}/{len}] {wide_msg}")
                .expect("a valid template"),
        );
        self.0 = Some(bar);
    }

    fn step(&mut self, message: &str) {
        let Some(bar) = &self.0 else { return };
        bar.inc(1);
        if bar.is_hidden() {
            eprintln!(
                "[{}/{}] {message}",
                bar.position(),
                bar.length().unwrap_or(0)
            );
        }
        bar.set_message(message.to_string());
    }

    fn end(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
