//! `weld compose weld.toml -o app.wasm`: fuse a deployment into one component.

use anyhow::Context as _;
use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::fuse::{fuse, FuseOptions};
use weld_linker::Diagnostic;

/// Arguments of `weld compose`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "MANIFEST|COMPONENT", help = super::INPUTS_HELP)]
    inputs: Vec<PathBuf>,
    /// Where to write the composed component.
    #[arg(short, long, required_unless_present = "wac")]
    output: Option<PathBuf>,
    /// Print the equivalent WAC source instead of (or besides, with -o)
    /// writing the component.
    #[arg(long)]
    wac: bool,
    /// Compose only these components (comma-separated manifest names).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Compose the components of this host (default: the only host).
    #[arg(long)]
    host: Option<String>,
    /// Export the exports of these components instead of the roots.
    #[arg(long, value_delimiter = ',')]
    exports: Option<Vec<String>>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: super::LimitArgs,
}

/// Runs `weld compose`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = weld_linker::PlanOptions::default();
    let deployment = match super::load(&args.inputs, &args.limits, &options, args.json) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let options = FuseOptions {
        only: args.only.clone(),
        host: args.host.clone(),
        exports: args.exports.clone(),
        fuse: None,
    };
    let composed = match fuse(&deployment, &options) {
        Ok(c) => c,
        Err(e) => {
            return Ok(super::report(
                &Diagnostic::new(super::describe(&e)).into(),
                args.json,
            ))
        }
    };
    if let Some(out) = &args.output {
        // Write beside the target and rename, so a failure never leaves a
        // half-written component behind.
        let tmp = out.with_extension("wasm.partial");
        std::fs::write(&tmp, &composed.bytes)
            .with_context(|| format!("cannot write `{}`", tmp.display()))?;
        std::fs::rename(&tmp, out).with_context(|| format!("cannot write `{}`", out.display()))?;
    }
    if args.json {
        let value = serde_json::json!({
            "version": 1,
            "ok": true,
            "output": args.output,
            "bytes": composed.bytes.len(),
            "fused": composed.fused,
            "links": composed.links.iter().map(|(c, i, p)| serde_json::json!({"component": c, "import": i, "peer": p})).collect::<Vec<_>>(),
            "exports": composed.exports.iter().map(|(e, c)| serde_json::json!({"name": e, "from": c})).collect::<Vec<_>>(),
            "imports": composed.imports,
        });
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?));
        return Ok(ExitCode::SUCCESS);
    }
    if args.wac {
        super::emit(&composed.wac);
        if args.output.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut report = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        report,
        "fused {} components: {}",
        composed.fused.len(),
        composed.fused.join(", ")
    );
    for (c, i, p) in &composed.links {
        let _ = writeln!(report, "  {c} imports {i} from {p}");
    }
    let _ = writeln!(report, "exports:");
    for (e, c) in &composed.exports {
        let _ = writeln!(report, "  {e} (from {c})");
    }
    let _ = writeln!(report, "left imported ({}):", composed.imports.len());
    for i in &composed.imports {
        let _ = writeln!(report, "  {i}");
    }
    if let Some(out) = &args.output {
        let _ = writeln!(
            report,
            "wrote {} ({} bytes)",
            out.display(),
            composed.bytes.len()
        );
    }
    // The summary goes to stderr when stdout carries the WAC source.
    if args.wac {
        eprint!("{report}");
    } else {
        super::emit(&report);
    }
    Ok(ExitCode::SUCCESS)
}
