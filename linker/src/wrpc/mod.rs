//! wRPC support: calling and serving component functions over the network.
//!
//! This module will hold weld's wRPC client stubs (imports satisfied by a
//! remote component) and server (exports served to remote callers). For now
//! it holds the piece both sides share: [`codec`], a dynamic, type-directed
//! encoder and decoder of [`wasmtime::component::Val`]s in the wRPC value
//! encoding.

pub mod codec;
