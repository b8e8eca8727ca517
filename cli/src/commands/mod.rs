//! One module per subcommand.

pub mod inspect;
pub mod plan;

use std::process::ExitCode;
use weld_linker::Diagnostics;

/// Prints diagnostics (as text on stderr, or as JSON on stdout) and returns
/// the failure exit code.
pub fn report(diagnostics: &Diagnostics, json: bool) -> ExitCode {
    if json {
        let value = serde_json::json!({
            "version": weld_linker::plan::PLAN_SCHEMA_VERSION,
            "ok": false,
            "errors": diagnostics.0,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).expect("diagnostics serialise")
        );
    } else {
        eprintln!("{diagnostics}");
        let n = diagnostics.0.len();
        eprintln!("\n{n} error{}", if n == 1 { "" } else { "s" });
    }
    ExitCode::from(1)
}
