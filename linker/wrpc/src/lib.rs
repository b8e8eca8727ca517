//! The wire: wRPC values, endpoints and calls, knowing nothing of what sits
//! above (the planner, the runtime, serving).
//!
//! * [`codec`]: the dynamic, type-directed encoder and decoder of
//!   [`wasmtime::component::Val`]s in the wRPC value encoding;
//! * [`endpoint`]: where a peer is reached (TCP, Unix, NATS);
//! * [`client`]: invoking a remote function over one of them;
//! * [`bounded`]: weld's own reading of the framed transports (TCP, Unix),
//!   bounded in memory per connection;
//! * [`nats`]: the serving side of the NATS protocol, over `async-nats`;
//! * [`nats_auth`]: a host's NATS credentials (creds, nkey, token; TLS
//!   client certificates), named by the manifest and read from files or
//!   the environment;
//! * [`tls`]: host identities for QUIC's mutual TLS, read from files.

pub mod bounded;
pub mod client;
pub mod codec;
pub mod endpoint;
pub mod nats;
pub mod nats_auth;
pub mod tls;

pub use endpoint::Endpoint;

use wasmtime::component::Type;

/// What travels back for a function with these `results`: all of them, or
/// for a wRPC-safe function only the ok type of its `result<T, error>`
/// (none for `result<_, error>`). `None` when a function said to be safe
/// does not return a `result`.
pub fn wire_results(safe: bool, results: Vec<Type>) -> Option<Vec<Type>> {
    if !safe {
        return Some(results);
    }
    match results.first() {
        Some(Type::Result(r)) => Some(r.ok().into_iter().collect()),
        _ => None,
    }
}
