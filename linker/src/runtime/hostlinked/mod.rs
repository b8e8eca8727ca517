//! Host-linked imports: a caller's imported interface defined with dynamic
//! host functions that call the callee's exports in the same store.
//!
//! Resources cannot be passed through as the callee's own type without
//! leaking (the callee's destructor would never run), so each resource of the
//! interface is imported as a distinct host type (`ResourceType::host_dynamic`)
//! and the store keeps a table proxy → the callee's real handle:
//!
//! * a handle the callee returns becomes a new proxy handed to the caller;
//! * a proxy the caller passes (borrowed or owned) is swapped for the real
//!   handle (an owned one leaves the table);
//! * when the caller drops a proxy, the real handle is dropped, which runs the
//!   callee's destructor.
//!
//! In a host whose stores are async ([`concurrent`]), the functions are
//! concurrent host functions instead, and a linked interface may not carry
//! resources.
//!
//! The one exception is `wrpc:rpc/error.error`, which a wRPC-safe interface
//! `use`s: it is the host's own resource in caller and callee alike, so the
//! interface names that same host type and its handles pass through as they
//! are (a proxy type there would not be the type the caller's interface
//! aliases, and linking would fail with "mismatched resource types").

mod concurrent;

use super::host::HostState;
use super::tables::{ResourceTarget, SlotTarget, Tables};
use super::units::HostLink;
use crate::observe::{CallCells, Ended, LinkKey, Observer};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, Linker, ResourceAny, ResourceDynamic, ResourceType, Type, Val,
};
use wasmtime::error::Context as _;
use wasmtime::{AsContextMut, Engine, StoreContextMut};

/// Defines `link.import` of `caller` in `linker` as calls into `link.export`
/// of the unit `link.callee`. Adds the slots and resource types the store
/// must fill to `tables`. `asynchronous`: the stores are async, and the
/// functions are concurrent ones ([`concurrent`]). `observe`: where each
/// function's calls are counted, and the link's key (its function set per
/// function).
pub(crate) fn define(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    caller: &Component,
    link: &HostLink,
    asynchronous: bool,
    observe: Option<(&Observer, LinkKey)>,
    tables: &mut Tables,
) -> wasmtime::Result<()> {
    let cells = |function: &str| {
        observe.as_ref().map(|(o, key)| {
            o.link(LinkKey {
                function: function.to_string(),
                ..key.clone()
            })
        })
    };
    let (import, callee, export) = (link.import.as_str(), link.callee, link.export.as_str());
    let (slots, resources) = (&mut tables.slots, &mut tables.resources);
    let ty = caller.component_type();
    let item = ty
        .imports(engine)
        .find(|(n, _)| *n == import)
        .map(|(_, item)| item)
        .context("the component does not import it")?;
    let ComponentItem::ComponentInstance(instance) = item.ty else {
        wasmtime::bail!("only interface (instance) imports can be host-linked");
    };
    let items: Vec<(String, ComponentItem)> = instance
        .exports(engine)
        .map(|(n, i)| (n.to_string(), i.ty))
        .collect();
    let wrpc_error = wrpc_error_type(caller, engine);

    let mut inst = linker.instance(import)?;
    if asynchronous {
        return concurrent::define(&mut inst, link, &items, wrpc_error, &cells, slots);
    }
    // Resources first: functions refer to them.
    let ids = define_resources(&mut inst, link, &items, wrpc_error, resources)?;
    for (name, item) in &items {
        let ComponentItem::ComponentFunc(fty) = item else {
            continue;
        };
        let (slot, context) = new_slot(slots, callee, export, name, &link.peer);
        let cells = cells(name);
        if ids.is_empty() {
            let params: Vec<Type> = fty.params().map(|(_, t)| t).collect();
            let results: Vec<Type> = fty.results().collect();
            let at = typed_imports::At {
                slot,
                context: &context,
                cells: cells.clone(),
            };
            if typed_imports::define(&mut inst, name, at, &params, &results)? {
                continue;
            }
            // No handles to translate: pass values through.
            inst.func_new(name, move |mut store, _ty, params, results| {
                observed(cells.as_deref(), || {
                    let func = store.data().slots[slot].context("callee not instantiated")?;
                    func.call(&mut store, params, results)
                        .with_context(|| context.clone())
                })
            })?;
        } else {
            let ids = ids.clone();
            inst.func_new(name, move |mut store, _ty, params, results| {
                observed(cells.as_deref(), || {
                    let func = store.data().slots[slot].context("callee not instantiated")?;
                    let params = params
                        .iter()
                        .cloned()
                        .map(|v| to_callee(&mut store, v, &ids))
                        .collect::<wasmtime::Result<Vec<_>>>()?;
                    func.call(&mut store, &params, results)
                        .with_context(|| context.clone())?;
                    for r in results.iter_mut() {
                        let v = std::mem::replace(r, Val::Bool(false));
                        *r = to_caller(&mut store, v, &ids)?;
                    }
                    Ok(())
                })
            })?;
        }
    }
    Ok(())
}

/// Defines the resources of `items` (the imported interface) in `inst`:
/// `wrpc:rpc/error.error` as the host's own, every other one as a host
/// type proxying the callee's; returns the proxies' type ids.
fn define_resources(
    inst: &mut wasmtime::component::LinkerInstance<'_, HostState>,
    link: &HostLink,
    items: &[(String, ComponentItem)],
    wrpc_error: Option<ResourceType>,
    resources: &mut Vec<ResourceTarget>,
) -> wasmtime::Result<Vec<u32>> {
    let mut ids: Vec<u32> = Vec::new();
    for (name, item) in items {
        if let ComponentItem::Resource(rt) = item {
            if Some(*rt) == wrpc_error {
                super::host::define_wrpc_error_resource(inst, name)?;
                continue;
            }
            let id = resources.len() as u32;
            resources.push(ResourceTarget {
                unit: link.callee,
                export: link.export.clone(),
                resource: name.clone(),
            });
            ids.push(id);
            let what = format!("{}#{name}", link.export);
            inst.resource(
                name,
                ResourceType::host_dynamic(id),
                move |mut store, rep| {
                    let real = store.data_mut().take_proxy(rep)?;
                    real.resource_drop(&mut store)
                        .with_context(|| format!("dropping `{what}`"))
                },
            )?;
        }
    }
    Ok(ids)
}

/// Runs `call` and, when `cells` are given, records it: its time, and a
/// trap as its failure (an error value the callee returns is a result);
/// with traces on, its span, current while the callee runs (the callee's
/// own calls are its children). Nothing crosses a wire, so no bytes are
/// counted.
fn observed<T>(
    cells: Option<&CallCells>,
    call: impl FnOnce() -> wasmtime::Result<T>,
) -> wasmtime::Result<T> {
    let Some(cells) = cells else {
        return call();
    };
    let started = cells.start();
    let outcome = started.within(call);
    cells.end(started, ended(&outcome), 0, 0);
    outcome
}

/// How a host-linked call ended: a trap is its one failure.
fn ended<T>(outcome: &wasmtime::Result<T>) -> Ended {
    if outcome.is_ok() {
        Ended::Ok
    } else {
        Ended::Failed("trap")
    }
}

/// A new slot for `export#func` of unit `callee` (the store fills it with
/// the callee's function once the unit is instantiated), and the context a
/// failed call through it is reported with (`in call `peer` `export#func``,
/// read back as the call path).
fn new_slot(
    slots: &mut Vec<SlotTarget>,
    callee: usize,
    export: &str,
    func: &str,
    peer: &str,
) -> (usize, String) {
    slots.push(SlotTarget {
        unit: callee,
        export: export.to_string(),
        func: func.to_string(),
    });
    (
        slots.len() - 1,
        format!("in call `{peer}` `{export}#{func}`"),
    )
}

/// The type of the `wrpc:rpc/error.error` resource `caller` imports, if it
/// imports that interface (under any semver-compatible name).
fn wrpc_error_type(caller: &Component, engine: &Engine) -> Option<ResourceType> {
    let ty = caller.component_type();
    let (_, item) = ty
        .imports(engine)
        .find(|(n, _)| crate::wit::semver_compatible(n, crate::wit::WRPC_ERROR_INTERFACE))?;
    let ComponentItem::ComponentInstance(instance) = item.ty else {
        return None;
    };
    let error = instance.exports(engine).find_map(|(n, i)| match i.ty {
        ComponentItem::Resource(rt) if n == "error" => Some(rt),
        _ => None,
    });
    error
}

fn is_proxy(any: &ResourceAny, ids: &[u32]) -> bool {
    ids.iter()
        .any(|id| any.ty() == ResourceType::host_dynamic(*id))
}

/// Caller → callee: proxies become the callee's real handles.
fn to_callee(
    store: &mut StoreContextMut<'_, HostState>,
    v: Val,
    ids: &[u32],
) -> wasmtime::Result<Val> {
    map_val(v, &mut |v| match v {
        Val::Resource(any) if is_proxy(&any, ids) => {
            let owned = any.owned();
            let proxy = ResourceDynamic::try_from_resource_any(any, store.as_context_mut())?;
            let real = if owned {
                store.data_mut().take_proxy(proxy.rep())?
            } else {
                store.data().proxy(proxy.rep())?
            };
            Ok(Val::Resource(real))
        }
        other => Ok(other),
    })
}

/// Callee → caller: the callee's handles become new proxies.
fn to_caller(
    store: &mut StoreContextMut<'_, HostState>,
    v: Val,
    ids: &[u32],
) -> wasmtime::Result<Val> {
    map_val(v, &mut |v| match v {
        Val::Resource(any) => {
            let types = &store.data().callee_resource_types;
            let id = ids
                .iter()
                .copied()
                .find(|id| types.get(*id as usize).copied().flatten() == Some(any.ty()));
            match id {
                Some(id) => {
                    let rep = store.data_mut().push_proxy(any);
                    let proxy = ResourceDynamic::new_own(rep, id);
                    Ok(Val::Resource(
                        proxy.try_into_resource_any(store.as_context_mut())?,
                    ))
                }
                None => Ok(Val::Resource(any)),
            }
        }
        other => Ok(other),
    })
}

/// Applies `f` to every leaf of a value tree.
fn map_val(v: Val, f: &mut dyn FnMut(Val) -> wasmtime::Result<Val>) -> wasmtime::Result<Val> {
    Ok(match v {
        Val::List(xs) => Val::List(
            xs.into_iter()
                .map(|x| map_val(x, f))
                .collect::<wasmtime::Result<_>>()?,
        ),
        Val::Tuple(xs) => Val::Tuple(
            xs.into_iter()
                .map(|x| map_val(x, f))
                .collect::<wasmtime::Result<_>>()?,
        ),
        Val::Record(fs) => Val::Record(
            fs.into_iter()
                .map(|(n, x)| Ok((n, map_val(x, f)?)))
                .collect::<wasmtime::Result<_>>()?,
        ),
        Val::Variant(n, Some(x)) => Val::Variant(n, Some(Box::new(map_val(*x, f)?))),
        Val::Option(Some(x)) => Val::Option(Some(Box::new(map_val(*x, f)?))),
        Val::Result(Ok(Some(x))) => Val::Result(Ok(Some(Box::new(map_val(*x, f)?)))),
        Val::Result(Err(Some(x))) => Val::Result(Err(Some(Box::new(map_val(*x, f)?)))),
        other @ Val::Resource(_) => f(other)?,
        other => other,
    })
}

/// Typed host functions for the signatures of the shape catalogue
/// ([`dispatch`](crate::wrpc::codec::typed::dispatch)): the arguments go
/// from the caller's flat values straight into the callee's, with no
/// [`Val`] tree in between (a `list<u8>` stays one byte buffer instead of
/// one `Val` per byte). Any other signature takes the dynamic path.
mod typed_imports {
    use super::HostState;
    use crate::observe::CallCells;
    use crate::wrpc::codec::typed::{dispatch, ShapeVisitor, WireParams, WireResults};
    use std::sync::Arc;
    use wasmtime::component::{ComponentNamedList, Lift, LinkerInstance, Lower, Type, TypedFunc};
    use wasmtime::error::Context as _;

    /// Where one function's calls go: its slot, the context a failure is
    /// reported with, and its counters when observed.
    pub(super) struct At<'a> {
        pub slot: usize,
        pub context: &'a str,
        pub cells: Option<Arc<CallCells>>,
    }

    /// Defines `name` with a typed host function if its signature is a
    /// shape of the catalogue; returns whether it did.
    pub(super) fn define(
        inst: &mut LinkerInstance<'_, HostState>,
        name: &str,
        at: At<'_>,
        params: &[Type],
        results: &[Type],
    ) -> wasmtime::Result<bool> {
        struct Define<'a, 'b> {
            inst: &'a mut LinkerInstance<'b, HostState>,
            name: &'a str,
            at: At<'a>,
        }
        impl ShapeVisitor for Define<'_, '_> {
            type Output = wasmtime::Result<()>;
            fn visit<P: WireParams, R: WireResults>(self) -> Self::Output {
                typed::<P, R>(self.inst, self.name, self.at)
            }
        }
        let define = Define { inst, name, at };
        match dispatch(params, results, define) {
            Some(defined) => defined.map(|()| true),
            None => Ok(false),
        }
    }

    fn typed<P, R>(
        inst: &mut LinkerInstance<'_, HostState>,
        name: &str,
        at: At<'_>,
    ) -> wasmtime::Result<()>
    where
        P: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
    {
        let (slot, context) = (at.slot, at.context.to_string());
        // Two host functions, not one with a branch: an unobserved call
        // runs exactly the code it ran before calls could be counted.
        match at.cells {
            None => inst.func_wrap(name, move |store, params: P| {
                call::<P, R>(store, slot, &context, params)
            }),
            Some(cells) => inst.func_wrap(name, move |store, params: P| {
                super::observed(Some(&cells), || call::<P, R>(store, slot, &context, params))
            }),
        }
    }

    /// One call of slot `slot`'s function, typed as `P` → `R`.
    #[inline(always)]
    fn call<P, R>(
        mut store: wasmtime::StoreContextMut<'_, HostState>,
        slot: usize,
        context: &str,
        params: P,
    ) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Lower + Send + Sync + 'static,
    {
        let func = store.data().slots[slot].context("callee not instantiated")?;
        let typed = if store.data().slot_checked[slot] {
            // SAFETY: this slot's function was checked against `P` and `R`
            // by `typed` below on an earlier call, and a slot is filled
            // once per store, so it is still that function.
            unsafe { TypedFunc::<P, R>::new_unchecked(func) }
        } else {
            let typed = func.typed::<P, R>(&store)?;
            store.data_mut().slot_checked[slot] = true;
            typed
        };
        typed
            .call(&mut store, params)
            .with_context(|| context.to_string())
    }
}
