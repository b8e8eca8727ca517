//! One module per subcommand.

pub mod bench;
pub mod compose;
pub mod inspect;
pub mod plan;
pub mod run;
pub mod serve;
pub mod status;

use std::path::PathBuf;
use std::process::ExitCode;
use weld_harness::regress::baseline::BaselineError;
use weld_linker::cost::CostError;
use weld_linker::desired::DesiredError;
use weld_linker::diagnostic::plural;
use weld_linker::fuse::ComposeError;
use weld_linker::input::InputLimits;
use weld_linker::json::Document;
use weld_linker::plan::HostChoiceError;
use weld_linker::runtime::RuntimeError;
use weld_linker::serve::ServeError;
use weld_linker::{Deployment, Diagnostic, Diagnostics, PlanOptions};

/// Help of the positional inputs of `plan`, `compose`, `run`, `bench`.
pub const INPUTS_HELP: &str = "A deployment manifest (weld.toml), or component files deployed \
together on one host: a file starting with the wasm magic `\\0asm` is a component, whatever \
its extension. Each component is named after its file stem, and imports link to the exports \
of the others by interface name";

/// How much weld reads of the files named on the command line.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct LimitArgs {
    /// Refuse a manifest larger than SIZE (bytes, or `512KiB`, `4MiB`).
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = parse_size)]
    max_manifest_size: u64,
    /// Refuse a component larger than SIZE (bytes, or `64MiB`, `1GiB`).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    max_component_size: u64,
}

/// Exporting one span per call across a link over OTLP (`weld run`,
/// `weld serve`).
#[derive(clap::Args, Clone, Debug)]
pub struct OtlpArgs {
    /// Export one span per call across a host-linked or wRPC link, and per
    /// served call, and the counters `--metrics` serves, to this OTLP/HTTP
    /// collector (`http://HOST:4318`; spans go to `/v1/traces` under it,
    /// metrics to `/v1/metrics` every `OTEL_METRIC_EXPORT_INTERVAL` ms,
    /// 60 000 by default). Default: `OTEL_EXPORTER_OTLP_ENDPOINT`, when set
    /// (README: "Watching links").
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// The share of traces kept (0–1), decided where a trace starts; a call
    /// whose caller's span was kept is kept. Default:
    /// `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG`, else every trace.
    #[arg(long, value_name = "RATIO")]
    otlp_sample: Option<f64>,
}

/// Shuts the export down (queued spans sent, within a bound) when dropped:
/// on every way out of a command.
pub struct Exporting(Option<weld_linker::observe::otlp::Otlp>);

impl Exporting {
    /// An observer that makes spans and has its counters pushed, when
    /// exporting; `counting` (metrics were asked for) makes one that only
    /// counts otherwise.
    pub fn observer(&mut self, counting: bool) -> Option<weld_linker::observe::Observer> {
        match &mut self.0 {
            Some(otlp) => Some(otlp.observer()),
            None => counting.then(weld_linker::observe::Observer::new),
        }
    }
}

impl Drop for Exporting {
    fn drop(&mut self) {
        if let Some(otlp) = self.0.take() {
            if let Err(e) = otlp.shutdown() {
                tracing::warn!("{}", describe(&e));
            }
        }
    }
}

impl OtlpArgs {
    /// Starts exporting spans of `host`'s calls, when an endpoint is given
    /// or set in the environment.
    ///
    /// # Errors
    /// The message to print: an endpoint or ratio weld cannot use.
    pub fn start(&self, host: &str) -> Result<Exporting, String> {
        use weld_linker::observe::otlp::{Otlp, OtlpConfig, ENDPOINT_VAR};
        let from_env = self.otlp.is_none();
        let endpoint = self
            .otlp
            .clone()
            .or_else(|| std::env::var(ENDPOINT_VAR).ok().filter(|v| !v.is_empty()));
        let Some(endpoint) = endpoint else {
            if self.otlp_sample.is_some() {
                return Err(format!(
                    "--otlp-sample needs an endpoint: give --otlp URL or set {ENDPOINT_VAR}"
                ));
            }
            return Ok(Exporting(None));
        };
        let config = OtlpConfig {
            endpoint,
            service: "weld".to_string(),
            resource: vec![("weld.host".to_string(), host.to_string())],
            sample_ratio: self.otlp_sample,
            metrics_interval: None,
        };
        match Otlp::start(&config) {
            Ok(o) => Ok(Exporting(Some(o))),
            // An endpoint inherited from the environment (an instrumented
            // container's, for another SDK) does not stop the host.
            Err(e) if from_env && self.otlp_sample.is_none() => {
                tracing::warn!(
                    "{ENDPOINT_VAR}: {}; running without OTLP export",
                    describe(&e)
                );
                Ok(Exporting(None))
            }
            Err(e) => Err(describe(&e)),
        }
    }
}

/// How weld proves itself to the NATS server of a desired state's bucket
/// (`weld plan --apply --to`, `weld serve --plan-from`, `weld status`).
#[derive(clap::Args, Clone, Debug)]
pub struct PlanNatsArgs {
    /// A NATS `.creds` file (a user JWT and its nkey seed, readable by its
    /// owner only) for the server of the desired state's bucket.
    #[arg(long, value_name = "FILE")]
    nats_creds: Option<PathBuf>,
}

impl PlanNatsArgs {
    /// Connects to the bucket of the desired-state URL `url`; `create`
    /// makes it when it is missing.
    ///
    /// # Errors
    /// The message to print: a bad URL, unreadable credentials, or a
    /// server or bucket that cannot be reached.
    pub fn connect(
        &self,
        url: &str,
        create: bool,
    ) -> Result<weld_linker::desired::PlanStore, String> {
        use weld_linker::wrpc::nats_auth::{NatsAuth, NatsSecret};
        let url: weld_linker::desired::PlanUrl = url.parse().map_err(|e| describe(&e))?;
        let secret = self.nats_creds.clone().map(NatsSecret::Creds);
        let auth = NatsAuth::load(secret.as_ref(), None).map_err(|e| describe(&e))?;
        weld_linker::desired::PlanStore::connect(&url, &auth, create).map_err(|e| describe(&e))
    }
}

impl LimitArgs {
    /// The limits as the library takes them.
    pub fn input(&self) -> InputLimits {
        InputLimits {
            manifest_bytes: self.max_manifest_size,
            component_bytes: self.max_component_size,
        }
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    weld_linker::manifest::ByteSize::parse(text).map(|b| b.0)
}

/// Loads a manifest or component files; on failure prints the diagnostics
/// and returns the exit code.
pub fn load(
    inputs: &[PathBuf],
    limits: &LimitArgs,
    options: &PlanOptions,
    json: bool,
) -> Result<Deployment, ExitCode> {
    let deployment =
        Deployment::open(inputs, options, &limits.input()).map_err(|d| report(&d, json))?;
    if !json {
        for (name, file) in &deployment.renamed {
            eprintln!(
                "note: `{}` is component `{name}` (a component name is letters, digits, `-` and `_`)",
                weld_linker::diagnostic::one_line(&file.display().to_string())
            );
        }
    }
    Ok(deployment)
}

/// The inputs as the user named them, for progress lines.
pub fn label(inputs: &[PathBuf]) -> String {
    inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes to stdout; a closed pipe (`weld plan | head`) ends output quietly
/// instead of panicking.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        _ => {}
    }
}

/// Prints diagnostics — the problems found in the input, every one at
/// once — as text on stderr followed by their count, or as JSON on stdout,
/// and returns the failure exit code.
pub fn report(diagnostics: &Diagnostics, json: bool) -> ExitCode {
    if json {
        emit_errors(diagnostics);
    } else {
        eprintln!("{diagnostics}");
        eprintln!("\n{}", plural(diagnostics.0.len(), "error"));
    }
    ExitCode::from(1)
}

/// Prints one failure — a runtime or I/O error, not a list of problems in
/// the input — as `error: <message>` on stderr (no count under it), or as
/// the same JSON error document as [`report`] on stdout, and returns the
/// failure exit code.
pub fn fail(message: impl Into<String>, json: bool) -> ExitCode {
    let error = Diagnostic::new(message);
    if json {
        emit_errors(&error.into());
    } else {
        eprintln!("{error}");
    }
    ExitCode::from(1)
}

/// Prints a successful JSON document (`docs/json.md`) on stdout: the
/// schema version, `"ok": true`, then `body`'s fields.
pub fn emit_ok(body: impl serde::Serialize) -> ExitCode {
    emit(&Document::ok(body).to_pretty());
    ExitCode::SUCCESS
}

/// The JSON error document (`docs/json.md`) on stdout.
fn emit_errors(diagnostics: &Diagnostics) {
    emit(&Document::failed(&diagnostics.0).to_pretty());
}

/// A library error as one line: its message and every cause, joined by
/// `: `, with the flag that answers it when there is one (the library
/// speaks of hosts and functions; flags are the CLI's).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = weld_linker::diagnostic::chain(error);
    let mut cause = Some(error);
    while let Some(e) = cause {
        let hint = if let Some(HostChoiceError::Several { .. }) = e.downcast_ref() {
            " with --host"
        } else if let Some(RuntimeError::NoCommand) = e.downcast_ref() {
            " with --invoke 'component.function(args)'"
        } else if let Some(ComposeError::ExportClash { .. }) = e.downcast_ref() {
            " with [compose] exports or --exports"
        } else if let Some(ServeError::NoHttpAddress { .. }) = e.downcast_ref() {
            ", or serve it with --http IP:PORT"
        } else if let Some(DesiredError::Missing { .. }) = e.downcast_ref() {
            " (write one with `weld plan --apply MANIFEST --to URL`)"
        } else if let Some(BaselineError::Header { .. }) = e.downcast_ref() {
            " (save a new one with --save-baseline)"
        } else if let Some(CostError::Header { .. }) = e.downcast_ref() {
            " (write one with `weld bench --calibrate FILE`)"
        } else {
            ""
        };
        if !hint.is_empty() {
            text.push_str(hint);
            break;
        }
        cause = e.source();
    }
    text
}
