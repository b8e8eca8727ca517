//! Host-linked imports in a host whose stores are async (a component of it
//! imports WASI 0.3 or has async functions): each function is a concurrent
//! host function that starts the callee's export with
//! `Func::call_concurrent` and awaits it. The caller's task waits, not the
//! thread: while the callee awaits (a timer, a stream's reader), the store's
//! event loop runs other tasks, and values such as a `stream<u8>` the
//! callee returns pass to the caller as handles, read as the callee writes.
//!
//! Resources are not proxied on this path: dropping a proxy must run the
//! callee's destructor, which an async store only runs through its event
//! loop, and a host destructor cannot wait on that loop. An interface with a
//! resource (other than `wrpc:rpc/error.error`, the host's own) is refused
//! when the host is linked.

use super::super::host::HostState;
use super::super::tables::SlotTarget;
use super::super::units::HostLink;
use crate::observe::CallCells;
use std::sync::Arc;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{LinkerInstance, ResourceType};
use wasmtime::error::Context as _;

/// Defines every function of `items` (the caller's view of the imported
/// interface) in `inst` as a concurrent call into `link.export` of unit
/// `link.callee`, through a new slot each; each function's calls are
/// counted in what `cells` gives for it, when it gives any.
///
/// # Errors
/// A resource in the interface, or a definition wasmtime refuses.
pub(super) fn define(
    inst: &mut LinkerInstance<'_, HostState>,
    link: &HostLink,
    items: &[(String, ComponentItem)],
    wrpc_error: Option<ResourceType>,
    cells: &dyn Fn(&str) -> Option<Arc<CallCells>>,
    slots: &mut Vec<SlotTarget>,
) -> wasmtime::Result<()> {
    for (name, item) in items {
        if let ComponentItem::Resource(rt) = item {
            if Some(*rt) == wrpc_error {
                super::super::host::define_wrpc_error_resource(inst, name)?;
                continue;
            }
            wasmtime::bail!(
                "it defines resource `{name}`: host-linked resources cannot cross into a host whose calls are async (a component of it imports WASI 0.3 or has async functions); fuse the link or place the two components on separate hosts"
            );
        }
    }
    for (name, item) in items {
        if !matches!(item, ComponentItem::ComponentFunc(_)) {
            continue;
        }
        let (slot, context) = super::new_slot(slots, link.callee, &link.export, name, &link.peer);
        let cells = cells(name);
        inst.func_new_concurrent(name, move |accessor, _ty, params, results| {
            let context = context.clone();
            let cells = cells.clone();
            Box::pin(async move {
                let started = cells.as_ref().map(|c| c.start());
                let func = accessor
                    .with(|mut store| store.data_mut().slots[slot])
                    .context("callee not instantiated")?;
                // The callee runs later, as a task of the store's event
                // loop, not inside this future: its own calls get the
                // store's current span (the served call's) as their parent,
                // not this call's (docs/design.md, "Traces and OTLP").
                let outcome = func
                    .call_concurrent(accessor, params, results)
                    .await
                    .context(context);
                if let (Some(cells), Some(started)) = (cells, started) {
                    cells.end(started, super::ended(&outcome), 0, 0);
                }
                outcome
            })
        })?;
    }
    Ok(())
}
