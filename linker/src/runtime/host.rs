//! What the host gives components: WASI (wasmtime-wasi: 0.2, and 0.3 to
//! the components that import it; `wasi:http` from wasmtime-wasi-http, its
//! requests out only to the hosts a component's `http-out` names) with
//! stdout and stderr inherited, environment and directories only as
//! granted (by the manifest, plus a run's [`CommandIo`]), arguments and
//! stdin only as a run gives them, the `wrpc:rpc/error` resource, and the
//! state host-linked calls need.

use super::limits::{Guard, MemoryCap};
use super::outgoing::{Outgoing, DEFAULT_OUTGOING_WAIT};
use super::CommandIo;
use crate::manifest::Manifest;
use std::any::Any;
use wasmtime::component::{Func, Linker, Resource, ResourceAny, ResourceTable, ResourceType};
use wasmtime::{StoreHookState, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttp, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The data of a weld `Store`.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Where `wasi:http` requests may go: the `http-out` grants.
    http_hooks: Outgoing,
    table: ResourceTable,
    /// Callee functions of host-linked imports, filled in as callees are
    /// instantiated (slot numbers are fixed when linkers are built, so the
    /// linkers — and their `InstancePre`s — are reusable across stores).
    pub(crate) slots: Vec<Option<Func>>,
    /// Whether a typed host function has checked its slot's callee type
    /// once (the callee of a slot never changes within a store).
    pub(crate) slot_checked: Vec<bool>,
    /// Proxied resources: the callee's real handle behind each proxy handle
    /// given to a caller.
    pub(crate) proxies: Vec<Option<ResourceAny>>,
    free_proxies: Vec<u32>,
    /// The callee's resource type behind each proxied resource type.
    pub(crate) callee_resource_types: Vec<Option<ResourceType>>,
    /// The embedding application's own state, for its own imports
    /// ([`HostImports`](super::HostImports)).
    pub(crate) extension: Option<Box<dyn Any + Send>>,
    /// The current call's deadline and the interrupt flag.
    pub(crate) guard: Guard,
    /// The store's memory cap, when a component sets `max-memory`.
    pub(crate) memory_cap: Option<MemoryCap>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl HostState {
    /// State for a store running `components` of `manifest`. WASI grants are
    /// per store: the union of the grants of the components in it (fused
    /// components share their WASI imports by construction), plus `io`'s.
    ///
    /// # Errors
    /// wasmtime-wasi's error when a granted directory cannot be opened.
    pub fn new<'a>(
        manifest: &Manifest,
        components: impl IntoIterator<Item = &'a String>,
        io: &CommandIo,
        slots: usize,
    ) -> wasmtime::Result<HostState> {
        let mut wasi = WasiCtxBuilder::new();
        let mut http_out = Vec::new();
        let mut wait = DEFAULT_OUTGOING_WAIT;
        wasi.inherit_stdout().inherit_stderr().args(&io.args);
        if io.inherit_stdin {
            wasi.inherit_stdin();
        }
        for name in components {
            let Some(spec) = manifest.components.get(name) else {
                continue;
            };
            let spec = spec.get_ref();
            http_out.extend(spec.http_out().iter().cloned());
            if let Some(ms) = &spec.deadline_ms {
                wait = wait.min(std::time::Duration::from_millis(*ms.get_ref()));
            }
            for (k, v) in &spec.env {
                wasi.env(k, v);
            }
            for (guest, host) in &spec.dirs {
                let host = manifest.base_dir().join(host);
                wasi.preopened_dir(&host, guest, wasmtime_wasi::FsPerms::ReadWrite)
                    .map_err(|e| {
                        wasmtime::format_err!(
                            "component `{name}`: cannot preopen `{}` as `{guest}`: {e:#}",
                            host.display()
                        )
                    })?;
            }
        }
        for (k, v) in &io.env {
            wasi.env(k, v);
        }
        for (host, guest) in &io.dirs {
            wasi.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)
                .map_err(|e| {
                    wasmtime::format_err!("cannot preopen `{}` as `{guest}`: {e:#}", host.display())
                })?;
        }
        Ok(HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: Outgoing::new(http_out, wait),
            table: ResourceTable::new(),
            slots: vec![None; slots],
            slot_checked: vec![false; slots],
            proxies: Vec::new(),
            free_proxies: Vec::new(),
            callee_resource_types: Vec::new(),
            extension: None,
            guard: Guard::new(Default::default()),
            memory_cap: None,
        })
    }

    /// The embedding application's state given to
    /// [`Runtime::instantiate_with`](super::Runtime::instantiate_with), when
    /// it is a `T`. A downcast: one type check per call of an embedder's
    /// import, which keeps the runtime's own code free of a type parameter.
    pub fn extension<T: Any>(&mut self) -> Option<&mut T> {
        self.extension.as_mut()?.downcast_mut::<T>()
    }

    /// Stores a callee handle behind a new proxy; returns the proxy's rep.
    pub(crate) fn push_proxy(&mut self, real: ResourceAny) -> u32 {
        match self.free_proxies.pop() {
            Some(i) => {
                self.proxies[i as usize] = Some(real);
                i
            }
            None => {
                self.proxies.push(Some(real));
                (self.proxies.len() - 1) as u32
            }
        }
    }

    /// The callee handle behind a proxy.
    pub(crate) fn proxy(&self, rep: u32) -> wasmtime::Result<ResourceAny> {
        self.proxies
            .get(rep as usize)
            .copied()
            .flatten()
            .ok_or_else(|| wasmtime::format_err!("unknown resource proxy {rep}"))
    }

    /// Removes a proxy, returning the callee handle.
    pub(crate) fn take_proxy(&mut self, rep: u32) -> wasmtime::Result<ResourceAny> {
        let real = self
            .proxies
            .get_mut(rep as usize)
            .and_then(Option::take)
            .ok_or_else(|| wasmtime::format_err!("unknown resource proxy {rep}"))?;
        self.free_proxies.push(rep);
        Ok(real)
    }

    /// A new `wrpc:rpc/error.error` owned by the guest it is given to.
    pub(crate) fn new_wrpc_error(
        &mut self,
        message: String,
    ) -> wasmtime::Result<Resource<WrpcError>> {
        Ok(self.table.push(WrpcError(message))?)
    }

    /// Takes a `wrpc:rpc/error.error` out of the table: its message.
    pub(crate) fn take_wrpc_error(
        &mut self,
        error: Resource<WrpcError>,
    ) -> wasmtime::Result<String> {
        Ok(self.table.delete(error)?.0)
    }

    /// Number of live proxies (a leak check for tests).
    pub fn live_proxies(&self) -> usize {
        self.proxies.iter().filter(|p| p.is_some()).count()
    }
}

/// The host's `wrpc:rpc/error.error`: a message saying what failed.
#[derive(Debug)]
pub struct WrpcError(pub String);

/// Adds WASI and every host interface a component may import: WASI 0.2
/// alone, or, for a store called through wasmtime's async entry points
/// (`asynchronous`), WASI 0.3 beside an async WASI 0.2.
///
/// WASI 0.2 is linked synchronously otherwise: the synchronous host
/// functions drive their I/O with `block_on`, which panics on the tokio
/// runtime an async store's call runs on.
///
/// # Errors
/// wasmtime's error when an interface is already defined in `linker`.
pub fn add_host_interfaces(
    linker: &mut Linker<HostState>,
    wrpc_error_names: &[String],
    asynchronous: bool,
) -> wasmtime::Result<()> {
    // WASI 0.2.12, whose `wasi:cli/exit` has `exit-with-code` (how a
    // command exits with a status other than 0 or 1); older 0.2 imports
    // resolve to it by semver.
    if asynchronous {
        wasmtime_wasi::p2::add_to_linker_async(linker)?;
        wasmtime_wasi::p3::add_to_linker(linker)?;
        // WASI 0.3's `wasi:http`: types for 0.3 HTTP handlers, `client`
        // for their requests out (the plan grants it; the hooks check each
        // request).
        wasmtime_wasi_http::p3::add_to_linker(linker)?;
        wasmtime_wasi_http::p2::bindings::http::outgoing_handler::add_to_linker::<_, WasiHttp>(
            linker,
            HostState::http,
        )?;
    } else {
        wasmtime_wasi::p2::add_to_linker_sync(linker)?;
        wasmtime_wasi_http::p2::bindings::sync::http::outgoing_handler::add_to_linker::<_, WasiHttp>(
            linker,
            HostState::http,
        )?;
    }
    // `wasi:http/types` for HTTP handlers (its host functions are
    // synchronous in either kind of store; the streams it hands out are
    // wasi:io's, linked above).
    let http = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<_, WasiHttp>(
        linker,
        &http.into(),
        HostState::http,
    )?;
    for name in wrpc_error_names {
        add_wrpc_error(linker, name)?;
    }
    Ok(())
}

/// Defines the host's `wrpc:rpc/error.error` resource type as `name` in
/// `inst`: in `wrpc:rpc/error` itself, and in a host-linked interface that
/// `use`s it.
pub(crate) fn define_wrpc_error_resource(
    inst: &mut wasmtime::component::LinkerInstance<'_, HostState>,
    name: &str,
) -> wasmtime::Result<()> {
    inst.resource(name, ResourceType::host::<WrpcError>(), |mut store, rep| {
        let _ = store
            .data_mut()
            .table
            .delete(Resource::<WrpcError>::new_own(rep));
        Ok(())
    })
}

/// Defines `wrpc:rpc/error` under the (possibly semver-different) name the
/// component imports.
fn add_wrpc_error(linker: &mut Linker<HostState>, name: &str) -> wasmtime::Result<()> {
    let mut inst = linker.instance(name)?;
    define_wrpc_error_resource(&mut inst, "error")?;
    inst.func_wrap(
        "[method]error.to-debug-string",
        |store: wasmtime::StoreContextMut<'_, HostState>, (this,): (Resource<WrpcError>,)| {
            let e = store.data().table.get(&this)?;
            Ok((e.0.clone(),))
        },
    )?;
    inst.func_wrap(
        "[static]error.from-io-error",
        |mut store: wasmtime::StoreContextMut<'_, HostState>,
         (io,): (Resource<wasmtime_wasi_io::streams::Error>,)| {
            let table = &mut store.data_mut().table;
            let io_error = table.delete(io)?;
            let e = table.push(WrpcError(format!("{io_error:#}")))?;
            Ok((Ok::<_, Resource<wasmtime_wasi_io::streams::Error>>(e),))
        },
    )?;
    Ok(())
}

/// The store's epoch callback (synchronous: the store never yields).
pub(crate) fn on_epoch(
    mut store: StoreHookState<'_, HostState>,
) -> wasmtime::Result<UpdateDeadline> {
    Ok(store.data_mut().guard.step())
}
