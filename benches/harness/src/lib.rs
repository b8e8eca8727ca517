//! weld-harness: what `weld bench` measures and how it judges it, as a
//! library the CLI's `bench` command calls (and the criterion benches share
//! the floors of).
//!
//! * [`suite`]: one run — which deployment, invocations and series
//!   ([`suite::Selection`]) — measured stage by stage, reporting to a
//!   [`Progress`];
//! * [`matrix`]: the cells — invocations under each series (strategy ×
//!   engine configuration), the native floor and the two floors of a
//!   host-linked call; [`remote`]: the same over each wRPC transport;
//!   [`load`]: throughput under concurrency;
//! * [`floor`], [`host_floor`]: the floors, shared with `weld-benches`;
//! * [`regress`]: baselines, their comparison (statistics and verdicts)
//!   and charts;
//! * [`calibrate`]: the cost table `weld plan --costs` reads;
//! * [`external`]: a caller in another process (the native wRPC peer)
//!   against `weld serve`;
//! * [`http`]: HTTP handlers served by weld beside `wasmtime serve`.
//!
//! Nothing here prints or parses arguments: the command does.

pub mod calibrate;
mod error;
pub mod external;
pub mod floor;
pub mod host_floor;
pub mod http;
pub mod load;
pub mod matrix;
pub mod progress;
pub mod regress;
pub mod remote;
pub mod report;
pub mod suite;

pub use error::Error;
pub use progress::Progress;
