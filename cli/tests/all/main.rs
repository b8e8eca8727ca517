//! weld-cli's integration tests, one binary (as wasmtime's `tests/all`): each
//! module runs the `weld` executable for one area of the command line.

mod cache_cli;
mod command_cli;
mod common;
mod compose_cli;
mod conformance_cli;
mod faults;
mod observe_cli;
mod plan_cli;
mod providers_cli;
mod regress_cli;
mod run_cli;
mod serve_cli;
mod traces_cli;
