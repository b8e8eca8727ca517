//! Remote imports: a caller's import defined as wRPC calls (the sibling of
//! [`hostlinked`](super::hostlinked) for links that cross hosts).
//!
//! Each function of the imported interface becomes a dynamic host function
//! that encodes its arguments with [`codec`](crate::wrpc::codec), invokes the
//! function of the same name on the remote instance named like the import,
//! and decodes the reply.
//!
//! For a wRPC-safe function (`result<T, wrpc:rpc/error.error>`) only `T`
//! travels; a transport failure becomes an `error` resource whose
//! `to-debug-string` names the link, the endpoint and the cause, so the guest
//! handles it. Any other function (allowed only with `allow-trap`) traps on
//! failure, with the same message.

use super::host::HostState;
use crate::wrpc::client::{CallError, Remote};
use crate::wrpc::codec::{self, Limits};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Type, Val};
use wasmtime::error::Context as _;
use wasmtime::Engine;

/// A caller's import carried over wRPC.
pub(crate) struct StubLink {
    /// The import (and wire instance) name.
    pub import: String,
    /// "`caller` → `callee` on host `h`", for messages.
    pub label: String,
    /// The endpoint's client, shared by every link to it.
    pub remote: Arc<Remote>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Function name → whether it is wRPC-safe (from the WIT).
    pub safe: HashMap<String, bool>,
    /// Cap on a reply.
    pub limits: Limits,
}

/// Defines every function of `link.import` in `linker` as a wRPC call.
pub(crate) fn define(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    caller: &Component,
    link: StubLink,
) -> wasmtime::Result<()> {
    let ty = caller.component_type();
    let item = ty
        .imports(engine)
        .find(|(n, _)| *n == link.import)
        .map(|(_, item)| item)
        .context("the component does not import it")?;
    let ComponentItem::ComponentInstance(instance) = item.ty else {
        wasmtime::bail!("only interface (instance) imports can be carried over wRPC");
    };
    let funcs: Vec<(String, Vec<Type>, Vec<Type>)> = instance
        .exports(engine)
        .filter_map(|(n, i)| match i.ty {
            ComponentItem::ComponentFunc(f) => Some((
                n.to_string(),
                f.params().map(|(_, t)| t).collect(),
                f.results().collect(),
            )),
            _ => None,
        })
        .collect();
    let link = Arc::new(link);
    let mut inst = linker.instance(&link.import)?;
    for (name, params, results) in funcs {
        let safe = link.safe.get(&name).copied().unwrap_or(false);
        let Some(wire_results) = crate::wrpc::wire_results(safe, results) else {
            wasmtime::bail!("function `{name}` is not wRPC-safe as its type says");
        };
        let link = Arc::clone(&link);
        let what = format!("wrpc link {} call `{}.{name}`", link.label, link.import);
        let func = name.clone();
        inst.func_new(&name, move |mut store, _ty, args, out| {
            let outcome = codec::encode_values(args, &params)
                .map_err(CallError::Encode)
                .and_then(|bytes| {
                    link.remote.call_blocking(
                        &link.import,
                        &func,
                        Bytes::from(bytes),
                        &wire_results,
                        &link.limits,
                        link.timeout,
                    )
                });
            match outcome {
                Ok(mut vals) => {
                    if safe {
                        out[0] = Val::Result(Ok(vals.pop().map(Box::new)));
                    } else {
                        for (o, v) in out.iter_mut().zip(vals) {
                            *o = v;
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    let message = format!("{what} failed: {e}");
                    tracing::warn!("{message}");
                    if !safe {
                        wasmtime::bail!("{message} (the link allows traps)");
                    }
                    let error = store.data_mut().new_wrpc_error(message)?;
                    let error = error.try_into_resource_any(&mut store)?;
                    out[0] = Val::Result(Err(Some(Box::new(Val::Resource(error)))));
                    Ok(())
                }
            }
        })?;
    }
    Ok(())
}
