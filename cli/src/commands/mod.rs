//! One module per subcommand.

pub mod bench;
pub mod compose;
pub mod inspect;
pub mod plan;
pub mod run;
pub mod serve;

use std::process::ExitCode;
use weld_linker::fuse::ComposeError;
use weld_linker::plan::HostChoiceError;
use weld_linker::runtime::RuntimeError;
use weld_linker::Diagnostics;

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

/// Prints diagnostics (as text on stderr, or as JSON on stdout) and returns
/// the failure exit code.
pub fn report(diagnostics: &Diagnostics, json: bool) -> ExitCode {
    if json {
        let value = serde_json::json!({
            "version": weld_linker::plan::PLAN_SCHEMA_VERSION,
            "ok": false,
            "errors": diagnostics.0,
        });
        emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&value).expect("diagnostics serialise")
        ));
    } else {
        eprintln!("{diagnostics}");
        let n = diagnostics.0.len();
        eprintln!("\n{n} error{}", if n == 1 { "" } else { "s" });
    }
    ExitCode::from(1)
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
