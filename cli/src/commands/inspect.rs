//! `weld inspect FILE.wasm`: a component's imports and exports.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::introspect::ComponentInfo;

/// Arguments of `weld inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The component file.
    file: PathBuf,
    /// Print structured JSON instead of WIT.
    #[arg(long, conflicts_with = "wire")]
    json: bool,
    /// Print the wire view of the exported interfaces: a wRPC-safe
    /// function's `result<T, error>` as `T`, what travels over wRPC. A
    /// wRPC client or server that is not weld generates bindings from it.
    #[arg(long)]
    wire: bool,
}

/// Runs `weld inspect`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let info = match ComponentInfo::from_file(&args.file) {
        Ok(info) => info,
        Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
    };
    if args.json {
        return Ok(super::emit_ok(info.describe()));
    } else if args.wire {
        super::emit(&info.wire_wit());
    } else {
        super::emit(&info.wit_text());
    }
    Ok(ExitCode::SUCCESS)
}
