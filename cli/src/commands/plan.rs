//! `weld plan weld.toml`: type-check a deployment and print its plan.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::diagnostic::plural;
use weld_linker::Deployment;

/// Arguments of `weld plan`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "MANIFEST|COMPONENT", help = super::INPUTS_HELP)]
    inputs: Vec<PathBuf>,
    /// Print the plan as JSON (schema: docs/json.md).
    #[arg(long, conflicts_with = "dot")]
    json: bool,
    /// Print the plan as a Graphviz graph.
    #[arg(long)]
    dot: bool,
    /// List every `wasi:*` import instead of one row per component.
    #[arg(long)]
    all: bool,
    /// Estimate every link's cost per call from a calibration written by
    /// `weld bench --calibrate FILE` (a `cost_ns` in the JSON, a COST
    /// column, a DOT edge label); or, given a running host's metrics
    /// (`curl http://ADDR/metrics > FILE` of `weld serve --metrics ADDR`),
    /// show each link's measured p50 and p99 (`measured` in the JSON, a
    /// MEASURED column); or read them from the host itself
    /// (`--costs http://ADDR/metrics`). Given twice (a calibration and
    /// metrics), both.
    #[arg(long, value_name = "FILE|URL")]
    costs: Vec<PathBuf>,
    /// Flag links whose estimated cost per call exceeds N nanoseconds.
    #[arg(long, value_name = "N", requires = "costs")]
    budget_ns: Option<u64>,
    /// Refuse every wRPC link whose calls would travel unencrypted beyond
    /// this machine (TCP or `nats://` to an address that is not loopback).
    #[arg(long)]
    strict_security: bool,
    /// Write the checked deployment as the desired state at the `--to`
    /// URL, which hosts serving with `--plan-from` the same URL apply
    /// (README: "Changing a running deployment"); a deployment that does
    /// not plan is not written.
    #[arg(long, requires = "to", conflicts_with_all = ["costs", "dot"])]
    apply: bool,
    /// Where `--apply` writes: `nats://HOST:PORT/BUCKET/KEY` (a NATS
    /// JetStream key-value bucket and the object store of the same name,
    /// made when missing).
    #[arg(long, value_name = "URL", requires = "apply")]
    to: Option<String>,
    #[command(flatten)]
    nats: super::PlanNatsArgs,
    #[command(flatten)]
    limits: super::LimitArgs,
}

/// What `weld plan --apply` wrote.
#[derive(serde::Serialize)]
struct Written<'a> {
    /// The URL written to.
    url: &'a str,
    /// The desired state's revision in the bucket.
    revision: u64,
    /// How many files it names.
    files: usize,
    /// Their bytes together.
    bytes: u64,
}

/// The plan costed from `--costs`: estimated from a calibration, with
/// measured latencies from a host's metrics, or both; and the notes of
/// the measurements. On failure, the message to print.
fn costs(
    args: &Args,
    deployment: &Deployment,
) -> Result<(Option<weld_harness::calibrate::Costed>, Vec<String>), String> {
    use weld_linker::cost::{annotate_measured, is_url, CostFile};
    let mut costed = None;
    let mut measured = Vec::new();
    for path in &args.costs {
        let read = match path.to_str().filter(|p| is_url(p)) {
            Some(url) => CostFile::fetch(url),
            None => CostFile::read(path),
        };
        match read.map_err(|e| super::describe(&e))? {
            CostFile::Calibration(_) if costed.is_some() => {
                return Err("--costs takes one calibration (and any metrics)".into())
            }
            CostFile::Calibration(calibration) => {
                let budget = args.budget_ns.map(|n| n as f64);
                costed = Some(weld_harness::calibrate::costed_plan(
                    deployment,
                    path,
                    calibration,
                    budget,
                ));
            }
            CostFile::Measured(m) => measured.push((path, m)),
        }
    }
    if args.budget_ns.is_some() && costed.is_none() {
        return Err("--budget-ns flags estimates: give a calibration with --costs".into());
    }
    let mut notes = Vec::new();
    if !measured.is_empty() {
        // Measurements go on the costed plan, or on a copy of the plan.
        let c = costed.get_or_insert_with(|| weld_harness::calibrate::Costed {
            plan: deployment.plan.clone(),
            basis: None,
            notes: Vec::new(),
        });
        for (path, m) in measured {
            notes.push(format!(
                "measured: p50 and p99 per link from the metrics in `{}`",
                path.display()
            ));
            notes.extend(annotate_measured(&mut c.plan, &m));
        }
    }
    Ok((costed, notes))
}

/// Runs `weld plan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = weld_linker::PlanOptions {
        strict_security: args.strict_security,
        ..Default::default()
    };
    let deployment = match super::load(&args.inputs, &args.limits, &options, args.json) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    if let (true, Some(url)) = (args.apply, &args.to) {
        return Ok(apply(&args, &deployment, &options, url));
    }
    let (costed, measured) = match costs(&args, &deployment) {
        Ok(c) => c,
        Err(message) => return Ok(super::fail(message, args.json)),
    };
    let plan = costed.as_ref().map_or(&deployment.plan, |c| &c.plan);
    if !args.json {
        for w in &plan.warnings {
            eprintln!("{}", w.to_string().replacen("error:", "warning:", 1));
        }
    }
    if args.json {
        let costs = costed.as_ref().and_then(|c| c.basis.as_ref());
        super::emit_ok(weld_linker::plan::PlanReport { plan, costs });
    } else if args.dot {
        super::emit(&plan.to_dot());
    } else {
        super::emit(&plan.to_table(args.all, "--all lists them"));
        let links = plan.resolutions.iter().filter(|r| r.peer.is_some()).count();
        let hosts = plan.hosts();
        super::emit(&format!(
            "\nplan complete: {} on {}, {} resolved ({})\n",
            plural(plan.components.len(), "component"),
            plural(hosts.len(), "host"),
            plural(plan.resolutions.len(), "import"),
            plural(links, "link"),
        ));
        for p in &plan.providers {
            super::emit(&format!(
                "provider `{}`: an external wRPC server at {} (host `{}`), serving {}\n",
                p.name,
                p.endpoint,
                p.host,
                p.exports.join(", ")
            ));
        }
        for e in &plan.exposed {
            super::emit(&format!(
                "host `{}` exposes `{}` of `{}` to callers outside the manifest ({}); {}\n",
                e.host,
                e.interface,
                e.component,
                plural(e.functions.len(), "function"),
                plan.callers_of(&e.host, &e.interface)
            ));
        }
        for i in &plan.ingress {
            super::emit(&format!("{i}\n"));
        }
        for line in security_lines(plan) {
            super::emit(&line);
        }
        for note in limit_notes(&deployment) {
            super::emit(&format!("note: {note}\n"));
        }
        for note in costed.iter().flat_map(|c| &c.notes).chain(&measured) {
            super::emit(&format!("note: {note}\n"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per wRPC link saying how it is secured, and a note when some
/// carry their calls in the clear beyond this machine.
fn security_lines(plan: &weld_linker::plan::Plan) -> Vec<String> {
    let mut lines = Vec::new();
    let mut exposed = 0;
    for r in &plan.resolutions {
        let (Some(security), Some(endpoint), Some(peer)) = (&r.security, &r.endpoint, &r.peer)
        else {
            continue;
        };
        exposed += usize::from(security.is_exposed());
        lines.push(format!(
            "link `{}` → `{peer}` over {endpoint}: {security}\n",
            r.component
        ));
    }
    if exposed > 0 {
        lines.push(format!(
            "note: {} carrying calls unencrypted beyond this machine; --strict-security refuses them\n",
            plural(exposed, "link")
        ));
    }
    lines
}

/// What `deadline-ms` and `max-memory` mean for this deployment: a limiter
/// is per store, so the notes say which cap each store really gets.
fn limit_notes(deployment: &Deployment) -> Vec<String> {
    let m = &deployment.manifest;
    let mut notes = Vec::new();
    for (name, spec) in &m.components {
        if let Some(d) = &spec.get_ref().deadline_ms {
            notes.push(format!(
                "a call into `{name}` is stopped after {} ms, its callees in the store included",
                d.get_ref()
            ));
        }
    }
    for host in deployment.plan.hosts() {
        let capped: Vec<(&String, u64)> = m
            .components
            .iter()
            .filter(|(n, _)| deployment.plan.host_of(n) == Some(host))
            .filter_map(|(n, s)| Some((n, s.get_ref().max_memory.as_ref()?.get_ref().0)))
            .collect();
        if let Some((by, cap)) = capped.iter().min_by_key(|(_, c)| *c) {
            notes.push(format!(
                "host `{host}`: each memory of a store is capped at {} (the smallest `max-memory` of the store's components, set by `{by}`); \
                 a memory limiter is per store and is not told which memory grows",
                weld_linker::manifest::ByteSize(*cap)
            ));
        }
    }
    notes
}

/// Writes `deployment` as the desired state at `url` and prints what was
/// written.
fn apply(
    args: &Args,
    deployment: &Deployment,
    options: &weld_linker::PlanOptions,
    url: &str,
) -> ExitCode {
    use weld_linker::desired::{prepare, OpenError};
    let limits = args.limits.input();
    let (bundle, bytes) = match prepare(deployment, options, &limits) {
        Ok(b) => b,
        Err(OpenError::Plan(d)) => return super::report(&d, args.json),
        Err(e) => return super::fail(super::describe(&e), args.json),
    };
    let revision = match args.nats.connect(url, true).and_then(|store| {
        store
            .publish(&bundle, &bytes)
            .map_err(|e| super::describe(&e))
    }) {
        Ok(r) => r,
        Err(message) => return super::fail(message, args.json),
    };
    let written = Written {
        url,
        revision,
        files: bundle.files.len(),
        bytes: bundle.files.iter().map(|f| f.size).sum(),
    };
    if args.json {
        super::emit_ok(&written)
    } else {
        super::emit(&format!(
            "desired state revision {} written to {url}: {} ({} bytes); hosts serving with --plan-from {url} apply it\n",
            written.revision,
            plural(written.files, "file"),
            written.bytes
        ));
        ExitCode::SUCCESS
    }
}
