//! weld-harness: what `weld bench` measures and how it judges it, as a
//! library the CLI's `bench` command calls (and the criterion benches share
//! the floors of).
//!
//! * [`matrix`]: the call-latency matrix — invocations under each series
//!   (strategy × engine configuration, wRPC transports), the native floor
//!   and the two floors of a host-linked call, and the load runs;
//! * [`floor`], [`host_floor`]: the floors, shared with `weld-benches`;
//! * [`regress`]: baselines, their comparison (statistics and verdicts)
//!   and charts;
//! * [`calibrate`]: the cost table `weld plan --costs` reads;
//! * [`external`]: a caller in another process (the native wRPC peer)
//!   against `weld serve`.
//!
//! Nothing here prints or parses arguments: the command does.

pub mod calibrate;
pub mod external;
pub mod floor;
pub mod host_floor;
pub mod matrix;
pub mod regress;
