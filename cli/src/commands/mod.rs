//! One module per subcommand.

pub mod bench;
pub mod compose;
pub mod inspect;
pub mod plan;
pub mod run;
pub mod serve;

use std::process::ExitCode;
use weld_linker::diagnostic::plural;
use weld_linker::fuse::ComposeError;
use weld_linker::plan::HostChoiceError;
use weld_linker::runtime::RuntimeError;
use weld_linker::{Diagnostic, Diagnostics};

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

/// The JSON error document (`docs/json.md`) on stdout.
fn emit_errors(diagnostics: &Diagnostics) {
    let value = serde_json::json!({
        "version": weld_linker::plan::PLAN_SCHEMA_VERSION,
        "ok": false,
        "errors": diagnostics.0,
    });
    emit(&format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("diagnostics serialise")
    ));
}

/// A library error as one line: its message and every cause, joined by
/// `: `, with the flag that answers it when there is one (the library
/// speaks of hosts and functions; flags are the CLI's).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut hint = None;
    let mut cause = Some(error);
    while let Some(e) = cause {
        if !std::ptr::eq(e, error) {
            text.push_str(&format!(": {e}"));
        }
        if let Some(HostChoiceError::Several { .. }) = e.downcast_ref::<HostChoiceError>() {
            hint = Some(" with --host");
        }
        if let Some(RuntimeError::NoCommand) = e.downcast_ref::<RuntimeError>() {
            hint = Some(" with --invoke 'component.function(args)'");
        }
        if let Some(ComposeError::ExportClash { .. }) = e.downcast_ref::<ComposeError>() {
            hint = Some(" with [compose] exports or --exports");
        }
        cause = e.source();
    }
    if let Some(hint) = hint {
        text.push_str(hint);
    }
    text
}
