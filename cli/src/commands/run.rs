//! `weld run weld.toml --invoke 'driver.run-add(1000)'`, `weld run app.wasm
//! -- 1 2 add`: deploy one host's components in one wasmtime store, then
//! run its command or call its exports.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::invoke::{format_results, Call, CallReport, RunReport};
use weld_linker::runtime::{precheck, CommandIo, Deployed, Runtime, RuntimeError, RuntimeOptions};
use weld_linker::PlanOptions;

/// In-process strategy override.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    /// Compose co-located components in memory: fused adapters, no host
    /// transition.
    Fused,
    /// Separate instances in one store, imports as host functions.
    HostLinked,
}

/// The exit status of a run that a guest trapped in, as `wasmtime run`
/// exits (the status of `abort()`).
const TRAP_STATUS: u8 = 134;

/// Arguments of `weld run`.
#[derive(clap::Args)]
#[command(after_help = "\
Without --invoke, the component exporting `wasi:cli/run` runs as a command: it gets ARGS \
(argv[0] is its component name) and weld's stdin, and weld exits with its exit status. \
Arguments, stdin, --env and --dir belong to the store, so every component of the host sees \
them. A guest that traps makes weld exit 134, as `wasmtime run` does; weld's own errors exit 1 \
and usage errors 2.")]
pub struct Args {
    #[arg(required = true, value_name = "MANIFEST|COMPONENT", help = super::INPUTS_HELP)]
    inputs: Vec<PathBuf>,
    /// Arguments for the command (after `--`).
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
    /// Call `[component.]function(args)`, arguments in WAVE syntax; repeat
    /// to call several in order, in the same store. The component is the
    /// text before the first `.` when it names one; with one component it
    /// may be left out. The function is a bare name (`run-add`),
    /// `interface.function` (`runner.run-add`) or
    /// `namespace:package/interface@version#function`: `#` separates the
    /// interface from the function, so a version's dots stay unambiguous.
    /// `@FILE` reads the call from FILE (`@-`: stdin), for large arguments.
    /// Without --invoke, the component exporting `wasi:cli/run` is run.
    #[arg(long, short, value_name = "CALL")]
    invoke: Vec<String>,
    /// Grant an environment variable to every component of the host for
    /// this run, on top of the manifest's: `K=V`, or `K` for this process's
    /// value.
    #[arg(long, value_name = "K=V", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Preopen a host directory for every component of the host for this
    /// run, on top of the manifest's: `HOST::GUEST`, or `DIR` for the same
    /// path in both.
    #[arg(long, value_name = "HOST::GUEST", value_parser = parse_dir)]
    dir: Vec<(PathBuf, String)>,
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
    #[command(flatten)]
    limits: super::LimitArgs,
    #[command(flatten)]
    otlp: super::OtlpArgs,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some(("", _)) => Err(format!("`{text}`: the variable has no name")),
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => std::env::var(text)
            .map(|v| (text.to_string(), v))
            .map_err(|_| format!("`{text}` is not set in this environment; write `{text}=VALUE`")),
    }
}

fn parse_dir(text: &str) -> Result<(PathBuf, String), String> {
    let (host, guest) = text.split_once("::").unwrap_or((text, text));
    if host.is_empty() || guest.is_empty() {
        return Err(format!("`{text}`: write `HOST::GUEST` or `DIR`"));
    }
    Ok((PathBuf::from(host), guest.to_string()))
}

/// Runs `weld run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = match super::load(
        &args.inputs,
        &args.limits,
        &PlanOptions::default(),
        args.json,
    ) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    // The runtime says which host is wrong, if one is: here it only names
    // the spans' resource.
    let host = deployment
        .plan
        .choose_host(args.host.as_deref())
        .unwrap_or_default();
    // Spans queued when the run ends are sent as this goes.
    let mut exporting = match args.otlp.start(&host) {
        Ok(e) => e,
        Err(message) => return Ok(super::fail(message, args.json)),
    };
    let options = RuntimeOptions {
        observer: exporting.observer(false),
        host: args.host.clone(),
        strategy: args.strategy.map(|s| match s {
            StrategyArg::Fused => Strategy::Fused,
            StrategyArg::HostLinked => Strategy::HostLinked,
        }),
        deadline: args.deadline_ms.map(std::time::Duration::from_millis),
        io: CommandIo {
            args: args.args.clone(),
            inherit_stdin: true,
            env: args.env.clone(),
            dirs: args.dir.clone(),
        },
        progress: crate::compiling::progress(),
        ..RuntimeOptions::default()
    };
    // Every call is read and checked against the component's types before
    // anything compiles: a typo costs milliseconds, not a compile.
    let mut calls = Vec::with_capacity(args.invoke.len());
    for given in &args.invoke {
        let text = match call_text(given) {
            Ok(t) => t,
            Err(e) => return Ok(super::fail(e, args.json)),
        };
        if let Err(e) = precheck::check_text(&deployment, args.host.as_deref(), &text) {
            return Ok(super::fail(super::describe(&e), args.json));
        }
        calls.push(text);
    }
    // A command prints only what the guest prints, as `wasmtime run` does.
    let chatty = !args.json && !args.invoke.is_empty();
    if chatty {
        eprintln!("preparing {} ...", super::label(&args.inputs));
    }
    let runtime = match Runtime::new(&deployment, &options) {
        Ok(r) => r,
        Err(e) => return Ok(failed(&e, args.json)),
    };
    if chatty {
        eprintln!(
            "host `{}`: {} in {:.1} ms",
            runtime.host(),
            runtime.describe().join(", "),
            runtime.prepare_time().as_secs_f64() * 1e3
        );
    }
    let mut app = match runtime.instantiate() {
        Ok(a) => a,
        Err(e) => return Ok(failed(&e, args.json)),
    };
    if args.invoke.is_empty() {
        return Ok(match app.run_command() {
            Ok((_, code)) => exit_status(code),
            Err(e) => failed(&e, args.json),
        });
    }
    invoke_all(&args, &calls, &runtime, &mut app)
}

/// Calls every `--invoke` (their texts, in order); stops at the first
/// failure.
fn invoke_all(
    args: &Args,
    calls: &[String],
    runtime: &Runtime,
    app: &mut Deployed,
) -> anyhow::Result<ExitCode> {
    let mut outputs = Vec::new();
    for text in calls {
        let call = match Call::parse_in(text, runtime.components()) {
            Ok(c) => c,
            Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
        };
        let (func, full) = match app.func(&call.component, &call.function) {
            Ok(f) => f,
            Err(e) => return Ok(failed(&e, args.json)),
        };
        let params = match call.params(app.store(), &func) {
            Ok(p) => p,
            Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
        };
        let started = std::time::Instant::now();
        let results = match app.invoke(&call.component, &full, func, &params) {
            Ok(r) => r,
            Err(e) => return Ok(failed(&e, args.json)),
        };
        let elapsed = started.elapsed();
        let shown = format_results(&results);
        if args.json {
            outputs.push(CallReport {
                call: text.clone(),
                function: format!("{}.{}", call.component, full),
                result: shown,
                micros: elapsed.as_secs_f64() * 1e6,
            });
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
        return Ok(super::emit_ok(RunReport {
            host: runtime.host(),
            calls: outputs,
        }));
    }
    Ok(ExitCode::SUCCESS)
}

/// The largest call text read from a file or stdin (`--invoke @FILE`).
const MAX_CALL_BYTES: u64 = 64 << 20;

/// The call text of an `--invoke`: as given, or read from `@FILE` (`@-`:
/// stdin), at most [`MAX_CALL_BYTES`].
fn call_text(given: &str) -> Result<String, String> {
    use std::io::Read as _;
    let Some(path) = given.strip_prefix('@') else {
        return Ok(given.to_string());
    };
    let bytes = if path == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_CALL_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the call from stdin: {e}"))?;
        if bytes.len() as u64 > MAX_CALL_BYTES {
            return Err(format!(
                "the call on stdin is larger than the {MAX_CALL_BYTES}-byte limit"
            ));
        }
        bytes
    } else {
        weld_linker::input::read_file(path.as_ref(), MAX_CALL_BYTES)
            .map_err(|e| format!("cannot read the call from `{path}`: {e}"))?
    };
    String::from_utf8(bytes).map_err(|e| format!("the call in `{given}` is not UTF-8: {e}"))
}

/// The exit code for a runtime failure: the guest's own exit status when
/// it exited, 134 for a trap (with the report), 1 for weld's errors.
fn failed(error: &RuntimeError, json: bool) -> ExitCode {
    match error {
        RuntimeError::Exited { code, .. } => exit_status(*code),
        RuntimeError::Trap { .. }
        | RuntimeError::DeadlineExceeded { .. }
        | RuntimeError::MemoryCap { .. }
        | RuntimeError::Interrupted { .. } => {
            super::fail(super::describe(error), json);
            ExitCode::from(TRAP_STATUS)
        }
        _ => super::fail(super::describe(error), json),
    }
}

/// A guest's exit status as this process's: its low byte, as a Unix shell
/// sees it.
fn exit_status(code: i32) -> ExitCode {
    ExitCode::from(code as u8)
}
