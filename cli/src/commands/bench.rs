//! `weld bench [weld.toml]`: a short call-latency matrix — each in-process
//! strategy and engine configuration against a native Rust floor — on the
//! user's deployment or the bundled fixtures; saved as a baseline, compared
//! with one (`weld_harness::regress`), drawn as a chart, or turned into a cost
//! calibration for `weld plan --costs` (`weld_harness::calibrate`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weld_harness::matrix::{self as bench, BenchCall, Row, Series, PLANNED, SERIES, WRPC_SERIES};
use weld_harness::regress::baseline::{
    self, Baseline, DeploymentInfo, Difference, Environment, SeriesInfo,
};
use weld_harness::regress::{self as regress, chart, compare};
use weld_linker::diagnostic::plural;

/// The `--series` keys, in the order the matrix prints them.
const SERIES_KEYS: [&str; 12] = [
    "native",
    "host-floors",
    "fused-tuned",
    "fused-tuned-deadline",
    "fused-default",
    "host-linked-tuned",
    "host-linked-tuned-deadline",
    "host-linked-default",
    "planned",
    "wrpc-tcp",
    "wrpc-unix",
    "wrpc-nats",
];

/// The floors, which measure the bundled `driver` and `adder` only.
const BUNDLED_ONLY: [&str; 2] = ["native", "host-floors"];

/// Exit status of a comparison in which a cell regressed.
pub const EXIT_REGRESSED: u8 = 3;

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

fn parse_threshold(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!("`{text}` is not a percentage of 0 or more")),
    }
}

/// What one run measures: the deployment, its invocations, the series.
struct Matrix {
    deployment: weld_linker::Deployment,
    calls: Vec<BenchCall>,
    native: bool,
    /// The two floors of a host-linked `add` (bundled fixtures only).
    host_floors: bool,
    in_process: Vec<Series>,
    wrpc: Vec<Series>,
}

impl Matrix {
    /// How the series measured are recorded in a baseline.
    fn series_infos(&self) -> Vec<SeriesInfo> {
        let mut out = Vec::new();
        if self.native {
            out.push(regress::native_info());
        }
        if self.host_floors {
            out.extend(regress::host_floor_infos());
        }
        out.extend(
            self.in_process
                .iter()
                .map(|s| regress::series_info(s, "in-process")),
        );
        out.extend(self.wrpc.iter().map(|s| regress::series_info(s, "wrpc")));
        out
    }
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
    if let Some(file) = &args.calibrate {
        return match calibrate(&args, file) {
            Ok(rows) if args.json => {
                let v = serde_json::json!({"version": 1, "ok": true, "budget_ms": args.budget_ms,
                    "calibration": file, "rows": rows});
                super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
                Ok(ExitCode::SUCCESS)
            }
            Ok(rows) => {
                super::emit(&bench::to_markdown(&rows));
                eprintln!("calibration written to {}", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => fail(format!("{e:#}")),
        };
    }
    // Read the baseline first: a corrupt one should fail before minutes
    // of measuring, not after.
    let old = match &args.baseline {
        Some(path) => match Baseline::read(path) {
            Ok(b) => Some(b),
            Err(e) => return fail(e.to_string()),
        },
        None => None,
    };
    let matrix = match matrix_of(&args) {
        Ok(p) => p,
        Err(Stop::Code(code)) => return Ok(code),
        Err(Stop::Message(m)) => return fail(m),
    };
    let differences = match circumstances(&args, old.as_ref(), &matrix) {
        Ok(d) => d,
        Err(m) => return fail(m),
    };
    let rows = match measure(&args, &matrix) {
        Ok(rows) => rows,
        Err(m) => return fail(m),
    };
    if let Err(m) = save(&args, &matrix, &rows, old.as_ref()) {
        return fail(m);
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
    matrix: &Matrix,
) -> Result<Vec<Difference>, String> {
    let (Some(old), Some(path)) = (old, &args.baseline) else {
        return Ok(Vec::new());
    };
    let differences = baseline::differences(old, &Environment::current(), &matrix.series_infos());
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
fn save(args: &Args, matrix: &Matrix, rows: &[Row], old: Option<&Baseline>) -> Result<(), String> {
    if let Some(path) = &args.save_baseline {
        let info = DeploymentInfo {
            inputs: args
                .inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            host: args.host.clone(),
            components: regress::digests(&matrix.deployment),
        };
        let b = regress::baseline_of(rows, matrix.series_infos(), info, args.budget_ms);
        b.write(path).map_err(|e| e.to_string())?;
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
        let svg = chart::svg(rows, old, &title).map_err(|e| e.to_string())?;
        std::fs::write(path, svg)
            .map_err(|e| format!("cannot write the chart `{}`: {e}", path.display()))?;
    }
    Ok(())
}

/// Why [`matrix_of`] stopped: diagnostics already printed, or a message.
enum Stop {
    Code(ExitCode),
    Message(String),
}

/// The deployment, invocations and series the arguments ask for.
fn matrix_of(args: &Args) -> Result<Matrix, Stop> {
    let bundled = args.inputs.is_empty();
    let wanted = |key: &str| {
        if args.series.is_empty() && !bundled {
            key == "planned"
                || (args.matrix && !BUNDLED_ONLY.contains(&key) && !key.starts_with("wrpc-"))
        } else if args.series.is_empty() {
            key != "planned"
                && !(key.starts_with("wrpc-") && args.no_wrpc)
                && (key != "wrpc-nats" || args.nats.is_some())
        } else {
            args.series.iter().any(|k| k == key)
        }
    };
    if !bundled {
        if let Some(k) = args
            .series
            .iter()
            .find(|k| BUNDLED_ONLY.contains(&k.as_str()) || k.starts_with("wrpc-"))
        {
            return Err(Stop::Message(format!(
                "--series {k} needs the bundled fixtures (no manifest): it measures the bundled `driver` and `adder`"
            )));
        }
    }
    if args.series.iter().any(|k| k == "wrpc-nats") && args.nats.is_none() {
        return Err(Stop::Message(
            "--series wrpc-nats needs a NATS server: --nats URL".into(),
        ));
    }
    let in_process: Vec<Series> = SERIES
        .iter()
        .chain([&PLANNED])
        .filter(|s| wanted(s.key))
        .copied()
        .collect();
    let wrpc: Vec<Series> = if bundled {
        WRPC_SERIES
            .iter()
            .filter(|(key, _)| wanted(key))
            .map(|&(key, name)| bench::wrpc_series(key, name))
            .collect()
    } else {
        Vec::new()
    };
    if bundled {
        let (driver, adder) = bundled_fixtures().map_err(|e| Stop::Message(format!("{e:#}")))?;
        let deployment =
            bench::bundled(driver, adder, None).map_err(|e| Stop::Message(format!("{e:#}")))?;
        return Ok(Matrix {
            deployment,
            calls: bench::default_calls(),
            native: wanted("native"),
            host_floors: wanted("host-floors"),
            in_process,
            wrpc,
        });
    }
    if args.invoke.is_empty() {
        return Err(Stop::Message(
            "say what to time with --invoke 'component.function(args)'".into(),
        ));
    }
    let mut calls = Vec::new();
    for text in &args.invoke {
        let (call, inner) = match text.rsplit_once(")*") {
            Some((c, n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => (format!("{c})"), n),
                _ => {
                    return Err(Stop::Message(format!(
                        "`{text}`: the count after `*` must be a positive integer"
                    )))
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
    let deployment =
        super::load(&args.inputs, &args.limits, &options, args.json).map_err(Stop::Code)?;
    Ok(Matrix {
        deployment,
        calls,
        native: false,
        host_floors: false,
        in_process,
        wrpc,
    })
}

/// Measures every cell of the matrix, grouped by payload for reading.
fn measure(args: &Args, matrix: &Matrix) -> Result<Vec<Row>, String> {
    let budget = Duration::from_millis(args.budget_ms);
    let mut rows = if matrix.native {
        eprintln!("measuring the native floor ...");
        bench::native_rows(budget)
    } else {
        Vec::new()
    };
    if matrix.host_floors {
        eprintln!("measuring the host-linked floors ...");
        rows.extend(
            bench::host_floor_rows(&matrix.deployment, budget).map_err(|e| format!("{e:#}"))?,
        );
    }
    let bar = progress(matrix.calls.len() * matrix.in_process.len());
    let measured = bench::run(
        &matrix.deployment,
        args.host.clone(),
        &matrix.calls,
        &matrix.in_process,
        budget,
        |series, payload| {
            step(&bar, format!("{series}: {payload}"));
        },
    );
    bar.finish_and_clear();
    rows.extend(measured.map_err(|e| format!("{e:#}"))?);
    if !matrix.wrpc.is_empty() {
        rows.extend(remote_rows(args, &matrix.wrpc, budget)?);
    }
    let mut ordered = Vec::new();
    for c in &matrix.calls {
        ordered.extend(rows.iter().filter(|r| r.payload == c.label).cloned());
    }
    Ok(ordered)
}

/// Prints the matrix, or the comparison with a baseline.
fn print(args: &Args, rows: &[Row], report: Option<&compare::Report>) -> anyhow::Result<()> {
    if args.json {
        let mut v = serde_json::json!({"version": 1, "ok": true, "budget_ms": args.budget_ms, "rows": rows});
        if let Some(r) = report {
            v["comparison"] = serde_json::to_value(r)?;
        }
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
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

/// `--calibrate FILE`: the bundled pair fused and host-linked, the `kv`
/// resource pair the same, and the pair over each wRPC transport; the
/// medians become the cost table `weld plan --costs` reads.
fn calibrate(args: &Args, file: &std::path::Path) -> Result<Vec<Row>, String> {
    let budget = Duration::from_millis(args.budget_ms);
    let series: Vec<Series> = SERIES
        .iter()
        .filter(|s| weld_harness::calibrate::IN_PROCESS.contains(&s.key))
        .copied()
        .collect();
    let (driver, adder) = bundled_fixtures().map_err(|e| format!("{e:#}"))?;
    let pair = bench::bundled(driver, adder, None).map_err(|e| format!("{e:#}"))?;
    let resources = weld_harness::calibrate::resource_deployment().map_err(|e| format!("{e:#}"))?;
    let calls = bench::default_calls();
    let bar = progress((calls.len() + 1) * series.len());
    let mut progress = |s: &str, p: &str| step(&bar, format!("{s}: {p}"));
    let mut rows = bench::run(&pair, None, &calls, &series, budget, &mut progress)
        .map_err(|e| format!("{e:#}"))?;
    rows.extend(
        bench::run(
            &resources,
            None,
            &[weld_harness::calibrate::resource_call()],
            &series,
            budget,
            &mut progress,
        )
        .map_err(|e| format!("{e:#}"))?,
    );
    bar.finish_and_clear();
    if !args.no_wrpc {
        let wanted: Vec<Series> = WRPC_SERIES
            .iter()
            .filter(|(key, _)| *key != "wrpc-nats" || args.nats.is_some())
            .map(|&(key, name)| bench::wrpc_series(key, name))
            .collect();
        rows.extend(remote_rows(args, &wanted, budget)?);
    }
    let calibration = weld_harness::calibrate::calibration(&rows);
    let text = serde_json::to_string_pretty(&calibration).map_err(|e| e.to_string())?;
    std::fs::write(file, text + "\n")
        .map_err(|e| format!("cannot write the calibration `{}`: {e}", file.display()))?;
    Ok(rows)
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
    for (series, endpoint) in &transports {
        let name = series.name;
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
/// a Unix socket in `scratch`, and NATS when `--nats` names a server; each
/// with its series' key and name.
fn wrpc_transports(
    args: &Args,
    scratch: &std::path::Path,
) -> Result<Vec<(Series, String)>, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port for the TCP series: {e}"))?
        .port();
    let [tcp, unix, nats] = WRPC_SERIES;
    let mut transports = vec![
        (
            bench::wrpc_series(tcp.0, tcp.1),
            format!("{{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}"),
        ),
        (
            bench::wrpc_series(unix.0, unix.1),
            format!(
                "{{ transport = \"unix\", path = {:?} }}",
                scratch.join("bench.sock").display().to_string()
            ),
        ),
    ];
    if let Some(url) = &args.nats {
        transports.push((
            bench::wrpc_series(nats.0, nats.1),
            format!("{{ transport = \"nats\", url = {url:?}, prefix = \"weld-bench\" }}"),
        ));
    }
    Ok(transports)
}

/// The bundled pair split over two hosts, `adder` served by a background
/// `weld serve`, once per wRPC series wanted, on loopback.
pub(crate) fn remote_rows(
    args: &Args,
    wanted: &[Series],
    budget: Duration,
) -> Result<Vec<Row>, String> {
    let (driver, adder) = bundled_fixtures().map_err(|e| e.to_string())?;
    let scratch = std::env::temp_dir().join(format!("weld-bench-wrpc-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let transports: Vec<_> = wrpc_transports(args, &scratch)?
        .into_iter()
        .filter(|(s, _)| wanted.iter().any(|w| w.key == s.key))
        .collect();
    let calls = bench::default_wrpc_calls();
    let bar = progress(calls.len() * transports.len());
    let mut rows = Vec::new();
    for (series, endpoint) in transports {
        let deployment = bench::bundled(driver.clone(), adder.clone(), Some(&endpoint))
            .map_err(|e| format!("{e:#}"))?;
        let measured = bench::run_remote(&deployment, "a", "b", series, &calls, budget, |s, p| {
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
    let nats = args.nats.as_deref();
    let bar = progress(weld_harness::external::cells(args.rounds.max(1), nats));
    let measured = weld_harness::external::run(
        &adder,
        args.rounds.max(1),
        args.round_calls.max(1),
        nats,
        |m| step(&bar, m),
    );
    bar.finish_and_clear();
    let (rows, notes) = match measured {
        Ok(r) => r,
        Err(e) => return Ok(super::fail(format!("{e:#}"), args.json)),
    };
    if args.json {
        let v = serde_json::json!({"version": 1, "ok": true, "external": rows, "notes": notes});
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    } else {
        super::emit(&weld_harness::external::markdown(&rows));
        for n in notes {
            eprintln!("note: {n}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundled fixtures' bytes (`driver`, `adder`).
fn bundled_fixtures() -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let [driver, adder] = bench::fixtures(["driver", "adder"])?;
    Ok((driver, adder))
}

/// A progress bar on stderr for `cells` measurements (see [`step`]).
pub(crate) fn progress(cells: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(cells as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{pos}/{len}] {wide_msg}")
            .expect("a valid template"),
    );
    bar
}

/// Advances the progress line; where stderr is not a terminal (a log, CI)
/// the bar is hidden, so each step is a plain line instead.
pub(crate) fn step(bar: &indicatif::ProgressBar, message: String) {
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
