//! `weld compose weld.toml -o app.wasm`: fuse a deployment into one component.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weld_linker::diagnostic::plural;
use weld_linker::fuse::{fuse, ComposeReport, FuseOptions};

/// Arguments of `weld compose`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true, value_name = "MANIFEST|COMPONENT", help = super::INPUTS_HELP)]
    inputs: Vec<PathBuf>,
    /// Where to write the composed component.
    #[arg(short, long, required_unless_present = "wac")]
    output: Option<PathBuf>,
    /// Print the equivalent WAC source, or write it to FILE, instead of
    /// (or besides, with -o) writing the component. Its second line is the
    /// `wac compose` command that reproduces the composition.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    wac: Option<Option<PathBuf>>,
    /// Compose only these components (comma-separated manifest names).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Compose the components of this host (default: the only host).
    #[arg(long)]
    host: Option<String>,
    /// Export the exports of these components instead of the roots
    /// (comma-separated manifest names).
    #[arg(long, value_delimiter = ',')]
    exports: Option<Vec<String>>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: super::LimitArgs,
}

/// The file name the WAC source is saved as when it goes to stdout.
const WAC_FILE: &str = "composition.wac";

/// Runs `weld compose`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let options = weld_linker::PlanOptions::default();
    let deployment = match super::load(&args.inputs, &args.limits, &options, args.json) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let options = FuseOptions {
        only: names(args.only.as_deref()),
        host: args.host.clone(),
        exports: names(args.exports.as_deref()),
        fuse: None,
    };
    let composed = match fuse(&deployment, &options) {
        Ok(c) => c,
        Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
    };
    if let Some(out) = &args.output {
        if let Err(e) = write_atomically(out, &composed.bytes) {
            return Ok(super::fail(e, args.json));
        }
    }
    let wac_file = args.wac.clone().flatten();
    if let Some(file) = &wac_file {
        let source = composed.wac_source(&file.display().to_string(), None);
        if let Err(e) = write_atomically(file, source.as_bytes()) {
            return Ok(super::fail(e, args.json));
        }
    }
    if args.json {
        return Ok(super::emit_ok(ComposeReport::new(
            &composed,
            args.output.as_deref(),
            wac_file.as_deref(),
        )));
    }
    for w in &composed.warnings {
        eprintln!("warning: {w}");
    }
    let wac_to_stdout = matches!(args.wac, Some(None));
    if wac_to_stdout {
        super::emit(&composed.wac_source(WAC_FILE, Some(&save_command(&args, &options))));
        if args.output.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let mut report = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        report,
        "fused {}: {}",
        plural(composed.fused.len(), "component"),
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
            "wrote {} ({})",
            out.display(),
            plural(composed.bytes.len(), "byte")
        );
    }
    if let Some(file) = &wac_file {
        let _ = writeln!(report, "wrote {} (WAC source)", file.display());
    }
    // The summary goes to stderr when stdout carries the WAC source.
    if wac_to_stdout {
        eprint!("{report}");
    } else {
        super::emit(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// Comma-separated names as given: each trimmed, empty ones dropped, so
/// `--exports 'calculator, command'` names two components.
fn names(list: Option<&[String]>) -> Option<Vec<String>> {
    list.map(|list| {
        list.iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    })
}

/// The `weld compose` command that saves this composition's WAC source as
/// [`WAC_FILE`]: the same inputs and selection.
fn save_command(args: &Args, options: &FuseOptions) -> Vec<String> {
    let mut words = vec!["weld".to_string(), "compose".to_string()];
    words.extend(args.inputs.iter().map(|p| p.display().to_string()));
    if let Some(only) = &options.only {
        words.extend(["--only".to_string(), only.join(",")]);
    }
    if let Some(host) = &options.host {
        words.extend(["--host".to_string(), host.clone()]);
    }
    if let Some(exports) = &options.exports {
        words.extend(["--exports".to_string(), exports.join(",")]);
    }
    words.extend(["--wac".to_string(), WAC_FILE.to_string()]);
    words
}

/// Writes `bytes` beside `path` and renames it into place, so a failure
/// never leaves a half-written file behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = match path.file_name() {
        Some(name) => {
            let mut name = name.to_os_string();
            name.push(".partial");
            path.with_file_name(name)
        }
        None => path.with_extension("partial"),
    };
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write `{}`: {e}", path.display())
        })
}
