//! `weld status FILE` or `weld status nats://…/BUCKET/KEY --host H`: what
//! a live host (`weld serve --watch --status FILE`, or `weld serve
//! --plan-from URL`) runs and how its last change went.

use std::path::Path;
use std::process::ExitCode;
use weld_linker::serve::Status;

/// Arguments of `weld status`.
#[derive(clap::Args)]
pub struct Args {
    /// The status file a host writes (`weld serve --watch --status FILE`),
    /// or the desired-state URL a host follows (`weld serve --plan-from
    /// URL`), whose bucket holds its status.
    #[arg(value_name = "FILE|URL")]
    source: String,
    /// The host whose status to read from a bucket.
    #[arg(long)]
    host: Option<String>,
    #[command(flatten)]
    nats: super::PlanNatsArgs,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `weld status`: exits 1 when the status cannot be read, when the
/// last change was refused (the host serves an older plan than asked), or
/// when a host that publishes a heartbeat has missed three.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let status = match read(&args) {
        Ok(s) => s,
        Err(message) => return Ok(super::fail(message, args.json)),
    };
    let refused = status.last.as_ref().is_some_and(|o| !o.applied);
    if args.json {
        super::emit_ok(&status);
    } else {
        super::emit(&status.to_string());
    }
    Ok(if refused || status.stale(weld_linker::serve::unix_now()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The status named by the arguments.
fn read(args: &Args) -> Result<Status, String> {
    let is_url = args.source.starts_with("nats://") || args.source.starts_with("tls://");
    if !is_url {
        if args.host.is_some() {
            return Err("a status file holds one host's status: give --host with a URL".into());
        }
        return Status::read(Path::new(&args.source)).map_err(|e| super::describe(&e));
    }
    let Some(host) = &args.host else {
        return Err(
            "a bucket holds the status of every host following it: name one with --host".into(),
        );
    };
    let store = args.nats.connect(&args.source, false)?;
    let key = store.status_key(host);
    match store.status(host) {
        Ok(Some(json)) => Status::parse(&json)
            .map_err(|e| format!("the value of key `{key}` is not a weld status: {e}")),
        Ok(None) => Err(format!(
            "host `{host}` has published no status (key `{key}`): is it serving with --plan-from {}?",
            store.url()
        )),
        Err(e) => Err(super::describe(&e)),
    }
}
