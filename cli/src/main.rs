//! `weld`: plan, compose and run deployments of WebAssembly components.
//!
//! The binary is a thin shell: each subcommand lives in `commands/` and calls
//! into `weld-linker` / `weld-compose`. Exit codes: 0 success, 1 the input is
//! wrong (the message says where), 2 usage errors, 3 `weld bench --baseline`
//! found a regression.

mod commands;
mod compiling;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// weld links WebAssembly components: it type-checks every link of a
/// deployment and resolves each import to static composition, in-process
/// calls or wRPC.
#[derive(Parser)]
#[command(name = "weld", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When log lines on stderr are coloured: `auto` only when stderr is a
    /// terminal (a log file gets no escape codes), `always`, or `never`.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

/// `--color`, as cargo spells it.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Show a component's imports and exports.
    Inspect(commands::inspect::Args),
    /// Type-check a deployment and show how every import is resolved.
    Plan(commands::plan::Args),
    /// Fuse a deployment's components into one component (wac-graph).
    Compose(commands::compose::Args),
    /// Run one host's components in-process and call their exports.
    Run(commands::run::Args),
    /// Serve one host's exports that remote (wrpc) links call.
    Serve(commands::serve::Args),
    /// Measure call latency per strategy against a native floor.
    Bench(commands::bench::Args),
    /// Show what a live host runs and how its last change went.
    Status(commands::status::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ansi = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    tracing_subscriber::fmt()
        // Warnings (a served call that failed, a stub's failed call) are
        // shown unless RUST_LOG says otherwise.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Plan(args) => commands::plan::run(args),
        Command::Compose(args) => commands::compose::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Status(args) => commands::status::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
