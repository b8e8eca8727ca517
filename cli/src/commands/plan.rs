//! `weld plan weld.toml`: type-check a deployment and print its plan.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::Deployment;

/// Arguments of `weld plan`.
#[derive(clap::Args)]
pub struct Args {
    /// The deployment manifest.
    manifest: PathBuf,
    /// Print the plan as JSON (schema: docs/json.md).
    #[arg(long, conflicts_with = "dot")]
    json: bool,
    /// Print the plan as a Graphviz graph.
    #[arg(long)]
    dot: bool,
    /// List every `wasi:*` import instead of one row per component.
    #[arg(long)]
    all: bool,
}

/// Runs `weld plan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let deployment = match Deployment::load(&args.manifest) {
        Ok(d) => d,
        Err(diagnostics) => return Ok(super::report(&diagnostics, args.json)),
    };
    let plan = &deployment.plan;
    if !args.json {
        for w in &plan.warnings {
            eprintln!("{}", w.to_string().replacen("error:", "warning:", 1));
        }
    }
    if args.json {
        let mut value = serde_json::to_value(plan)?;
        value["ok"] = true.into();
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&value)?));
    } else if args.dot {
        super::emit(&plan.to_dot());
    } else {
        super::emit(&plan.to_table(args.all, "--all lists them"));
        let links = plan.resolutions.iter().filter(|r| r.peer.is_some()).count();
        let hosts = plan.hosts();
        super::emit(&format!(
            "\nplan complete: {} components on {} host{}, {} imports resolved ({} links)\n",
            plan.components.len(),
            hosts.len(),
            if hosts.len() == 1 { "" } else { "s" },
            plan.resolutions.len(),
            links
        ));
    }
    Ok(ExitCode::SUCCESS)
}
