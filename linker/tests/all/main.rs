//! weld-linker's integration tests, one binary (as wasmtime's `tests/all`): one
//! build and one link of wasmtime and weld for all of them, instead of one
//! per file. Each module is one area; `common` holds their shared set-up.

mod cache;
mod common;
mod compose_e2e;
mod desired;
mod hostile;
mod http;
mod http_out;
mod interop;
mod invoke;
mod layers;
mod live;
mod load;
mod nats_auth;
mod nats_serve;
mod per_call;
mod plan_props;
mod providers;
mod quic;
mod runtime;
mod wrpc;
