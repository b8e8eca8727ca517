//! `weld status FILE`: what a live host (`weld serve --watch --status
//! FILE`) runs and how its last change went.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::serve::Status;

/// Arguments of `weld status`.
#[derive(clap::Args)]
pub struct Args {
    /// The status file a host writes (`weld serve --watch --status FILE`).
    file: PathBuf,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `weld status`: exits 1 when the file cannot be read, or when the
/// last change was refused (the host serves an older plan than asked).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let status = match Status::read(&args.file) {
        Ok(s) => s,
        Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
    };
    let refused = status.last.as_ref().is_some_and(|o| !o.applied);
    if args.json {
        super::emit_ok(&status);
    } else {
        super::emit(&status.to_string());
    }
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
