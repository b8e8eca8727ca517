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

use wasmtime::component::Type;

/// What travels back for a function with these `results`: all of them, or
/// for a wRPC-safe function only the ok type of its `result<T, error>`
/// (none for `result<_, error>`). `None` when a function said to be safe
/// does not return a `result`.
pub(crate) fn wire_results(safe: bool, results: Vec<Type>) -> Option<Vec<Type>> {
    if !safe {
        return Some(results);
    }
    match results.first() {
        Some(Type::Result(r)) => Some(r.ok().into_iter().collect()),
        _ => None,
    }
}
