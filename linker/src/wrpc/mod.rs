//! wRPC support: calling and serving component functions over the network.
//!
//! * [`codec`]: the dynamic, type-directed encoder and decoder of
//!   [`wasmtime::component::Val`]s in the wRPC value encoding;
//! * [`client`]: invoking a remote function over TCP, Unix or NATS;
//! * `stub`: a caller's import defined as wRPC calls;
//! * [`server`]: `weld serve`, the exports of one host served to remote
//!   callers.

pub mod client;
pub mod codec;
pub mod server;
pub(crate) mod stub;
