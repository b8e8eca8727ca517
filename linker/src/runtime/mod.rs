//! The in-process runtime: deploy one host's part of a plan into one
//! wasmtime `Store` and call its components' exports.
//!
//! Components linked in-process are grouped into *units*:
//!
//! * **fused** links (the default strategy) join their components into one
//!   unit, composed in memory with `weld-compose`: calls cross fused adapters
//!   compiled by wasmtime, with no host transition;
//! * **host-linked** links connect separate units: the caller's import is a
//!   host function ([`hostlinked`]) that calls the callee's export in the
//!   same store. Resources cross through proxy handles; when the caller drops
//!   a proxy, the callee's real handle is dropped, so the callee's destructor
//!   runs;
//! * **wrpc** links make the caller's import a stub ([`remote`]) that calls
//!   the peer's host over the wire.
//!
//! [`Runtime::new`] runs named steps: choose the host ([`Plan::choose_host`]),
//! plan the units ([`units`], pure data), compile them, link them ([`link`]).
//! Linkers and [`InstancePre`]s are built once per [`Runtime`]; each
//! [`Runtime::instantiate`] makes a fresh store and instantiates the units
//! callee-first. Host-linked imports look their callee up in the store's
//! slot table, which is what makes the linkers reusable across stores.
//!
//! A [`Runtime`] is a cheap handle (an `Arc`); a [`Deployed`] owns one, so a
//! running deployment can move to another thread and outlive the code that
//! prepared it.
//!
//! Guest limits ([`limits`]): a call into a component with a deadline
//! (its `deadline-ms`, or [`RuntimeOptions::deadline`]) is stopped when the
//! deadline passes, whatever it calls in the store; a store is capped at the
//! smallest `max-memory` of its components; [`Runtime::interrupt`] stops
//! every running guest of a runtime whose engine has epochs on.
//!
//! A trap poisons the whole store (wasmtime 45+): the runtime reports the
//! component, function and call path of the trap and refuses later calls.
//!
//! [`Plan::choose_host`]: crate::plan::Plan::choose_host
//! [`InstancePre`]: wasmtime::component::InstancePre

mod deployed;
pub mod engine;
mod error;
pub mod host;
mod hostlinked;
pub mod invoke;
mod limits;
mod link;
mod outgoing;
mod pool;
pub mod precheck;
mod remote;
mod tables;
mod units;

pub use deployed::Deployed;
pub use error::{BoxError, RuntimeError};

use crate::deployment::Deployment;
use crate::introspect::{ComponentInfo, ItemKind};
use crate::manifest::{Manifest, Strategy};
use engine::{EngineSettings, PoolLimits};
use host::HostState;
use link::Unit;
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tables::{ResourceTarget, SlotTarget, Tables};
use units::UnitPlan;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Instance, Linker};
use wasmtime::{Engine, Store};

/// Imports an embedding application defines itself: called on every unit's
/// [`Linker`] after WASI and weld's host interfaces. The functions reach the
/// embedder's own state through [`HostState::extension`].
#[derive(Clone)]
pub struct HostImports(pub(crate) HostImportsFn);

type HostImportsFn = Arc<dyn Fn(&mut Linker<HostState>) -> wasmtime::Result<()> + Send + Sync>;

impl HostImports {
    /// Imports defined by `define`.
    ///
    /// # Errors
    /// [`RuntimeError`] naming the unit and import: no such host, a unit that
    /// does not compile, an import that cannot be defined.
    pub fn new(
        define: impl Fn(&mut Linker<HostState>) -> wasmtime::Result<()> + Send + Sync + 'static,
    ) -> HostImports {
        HostImports(Arc::new(define))
    }
}

impl std::fmt::Debug for HostImports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostImports(..)")
    }
}

/// How to run a deployment.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// The host to run (default: the deployment's single host).
    pub host: Option<String>,
    /// Override the plan's strategy for every in-process link.
    pub strategy: Option<Strategy>,
    /// Override the engine settings chosen from the plan.
    pub engine: Option<EngineSettings>,
    /// Imports the embedding application provides (interfaces the plan
    /// resolves to the host because the deployment was built with them as
    /// provided).
    pub imports: Option<HostImports>,
    /// The deadline of calls into components whose manifest sets no
    /// `deadline-ms` (none: such calls run until they return).
    pub deadline: Option<Duration>,
    /// Turn epoch interruption on even without deadlines, so that
    /// [`Runtime::interrupt`] can stop running guests.
    pub interruptible: bool,
    /// Arguments, stdin and extra grants for this run, as `wasmtime run`
    /// gives a command.
    pub io: CommandIo,
    /// Told when a unit starts and ends compiling (not when a cache has
    /// it), so that a long compile can show progress.
    pub progress: Option<engine::CompileProgress>,
    /// Instantiate from a pooling allocator holding this many live stores
    /// at once, sized from the host's components (see [`PoolLimits`]);
    /// a host whose components cannot be pooled without capping a memory
    /// keeps the on-demand allocator. Overrides `engine`'s pooling.
    pub pool_stores: Option<u32>,
    /// Counts every call across the host's host-linked and wRPC links
    /// (none: calls are not observed, and pay nothing for it).
    pub observer: Option<crate::observe::Observer>,
}

/// What a run gives its guests beyond the manifest's grants, as
/// `wasmtime run` gives a command: arguments, stdin, environment variables
/// and preopened directories.
///
/// They belong to the store, not to one component: every component of the
/// host sees the same arguments, stdin and extra grants. `argv[0]` is the
/// name of the host's component exporting `wasi:cli/run` (the host's name
/// when none does), followed by [`CommandIo::args`].
#[derive(Debug, Clone, Default)]
pub struct CommandIo {
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// Whether guests read the process's stdin (otherwise stdin is empty).
    pub inherit_stdin: bool,
    /// Environment variables added to every component's grants.
    pub env: Vec<(String, String)>,
    /// Host directories preopened for every component: `(host, guest)`.
    pub dirs: Vec<(std::path::PathBuf, String)>,
}

/// A deployment prepared to run on one host: compiled, linked, ready to
/// instantiate any number of times. Cloning is cheap (a shared handle).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Prepared>,
}

struct Prepared {
    engine: Engine,
    settings: EngineSettings,
    host: String,
    units: Vec<Unit>,
    /// Per unit, the units a store needs to call it: itself and every unit
    /// it reaches through host-linked imports, in instantiation order.
    needs: Vec<Vec<usize>>,
    slots: Vec<SlotTarget>,
    resources: Vec<ResourceTarget>,
    manifest: Manifest,
    components: Vec<String>,
    prepare_time: Duration,
    /// Whether every store is instantiated and called through wasmtime's
    /// async entry points.
    asynchronous: bool,
    /// Deadline in ticks per component, when epochs are on.
    deadlines: Vec<(String, Option<u64>)>,
    /// The store's memory cap and the component that sets it.
    memory_cap: Option<(u64, String)>,
    /// Set by [`Runtime::interrupt`]; read by every store's epoch callback.
    interrupt: Arc<AtomicBool>,
    /// Arguments (`argv[0]` first), stdin and extra grants of every store.
    io: CommandIo,
}

impl Runtime {
    /// Compiles and links the part of `deployment` placed on one host.
    ///
    /// # Errors
    /// [`RuntimeError`] naming the unit and import: no such host, a unit that
    /// does not compile, an import that cannot be defined.
    pub fn new(deployment: &Deployment, options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let started = Instant::now();
        let plan = &deployment.plan;
        let host = plan.choose_host(options.host.as_deref())?;
        let units = UnitPlan::new(plan, &host, options.strategy)?;
        let components: Vec<String> = units.units.iter().flatten().cloned().collect();
        let deadlines = deadlines(&deployment.manifest, &components, options.deadline);
        let memory_cap = memory_cap(&deployment.manifest, &components);
        let mut settings = options.engine.unwrap_or_else(|| EngineSettings {
            concurrency: components
                .iter()
                .any(|n| uses_component_async(&deployment.components[n])),
            inlining: inlining_pays(deployment, &units),
            ..EngineSettings::default()
        });
        // Deadlines need the epoch checks compiled in, whatever the caller
        // asked of the engine.
        settings.epoch |= options.interruptible || deadlines.iter().any(|(_, d)| d.is_some());
        if let Some(stores) = options.pool_stores {
            settings.pooling = pool_limits(deployment, &units, &components, stores);
        }
        if let (Some(pool), Some((cap, component))) = (settings.pooling, &memory_cap) {
            if *cap > pool.max_memory {
                return Err(RuntimeError::PoolTooSmall {
                    component: component.clone(),
                    cap: crate::manifest::ByteSize(*cap).to_string(),
                    pool: crate::manifest::ByteSize(pool.max_memory).to_string(),
                });
            }
        }
        let engine = engine::engine(settings).map_err(|e| RuntimeError::Engine(e.into()))?;
        let io = with_program_name(&options.io, &deployment.components, &components, &host);
        let needs = units.needs();
        let compiled = link::compile_units(
            deployment,
            &units,
            options.strategy,
            &engine,
            options.progress.as_ref(),
        )?;
        // One unit that needs wasmtime's async entry makes every store of
        // the host async (see `link::needs_async_entry`).
        let asynchronous = compiled
            .iter()
            .any(|c| link::needs_async_entry(&c.component, &engine));
        let mut tables = Tables::default();
        let inputs = link::LinkInputs {
            deployment,
            units: &units,
            engine: &engine,
            imports: options.imports.as_ref(),
            asynchronous,
            observer: options.observer.as_ref(),
            host: &host,
        };
        let units = compiled
            .into_iter()
            .enumerate()
            .map(|(idx, c)| link::link_unit(&inputs, idx, c, &mut tables))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Runtime {
            inner: Arc::new(Prepared {
                engine,
                settings,
                host,
                units,
                needs,
                slots: tables.slots,
                resources: tables.resources,
                manifest: deployment.manifest.clone(),
                components: plan
                    .components
                    .iter()
                    .filter(|c| components.contains(&c.name))
                    .map(|c| c.name.clone())
                    .collect(),
                prepare_time: started.elapsed(),
                asynchronous,
                deadlines,
                memory_cap,
                interrupt: Arc::default(),
                io,
            }),
        })
    }

    /// The host this runtime runs.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The engine settings in use.
    pub fn settings(&self) -> EngineSettings {
        self.inner.settings
    }

    /// The deadline of a call into `component`, if it has one.
    pub fn deadline_of(&self, component: &str) -> Option<Duration> {
        self.deadline_ticks(component)
            .map(|t| engine::TICK * u32::try_from(t).unwrap_or(u32::MAX))
    }

    fn deadline_ticks(&self, component: &str) -> Option<u64> {
        self.inner
            .deadlines
            .iter()
            .find(|(c, _)| c == component)
            .and_then(|(_, d)| *d)
    }

    /// Stops every guest running in a store of this runtime at its next
    /// epoch check (within 10 ms), and every later call at its start; the
    /// calls fail with [`RuntimeError::Interrupted`]. Needs epochs on (a
    /// deadline, or [`RuntimeOptions::interruptible`]); a guest blocked in
    /// a host call is stopped when that call returns.
    pub fn interrupt(&self) {
        self.inner.interrupt.store(true, Ordering::Relaxed);
    }

    /// Whether [`Runtime::interrupt`] was called.
    pub fn is_interrupted(&self) -> bool {
        self.inner.interrupt.load(Ordering::Relaxed)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Time spent preparing (compile and link), for reports.
    pub fn prepare_time(&self) -> Duration {
        self.inner.prepare_time
    }

    /// The components this runtime runs, in manifest order.
    pub fn components(&self) -> &[String] {
        &self.inner.components
    }

    /// The remote imports (`import#function`) whose stubs take the typed
    /// fast path (see the `remote` module); the others take the dynamic one.
    pub fn typed_stubs(&self) -> Vec<&str> {
        self.inner
            .units
            .iter()
            .flat_map(|u| u.typed_stubs.iter().map(String::as_str))
            .collect()
    }

    /// A one-line description per unit: members, strategy, compile source.
    pub fn describe(&self) -> Vec<String> {
        self.inner
            .units
            .iter()
            .map(|u| {
                let source = match u.source {
                    engine::CompileSource::Memory => "compiled earlier",
                    engine::CompileSource::Disk => "from cache",
                    engine::CompileSource::Compiled => "compiled",
                };
                format!("{} ({source})", u.label())
            })
            .collect()
    }

    /// The type of `function` in `component`'s exported interface `export`
    /// (or at the root when `export` is empty), read from the compiled
    /// unit: no store is made.
    pub fn func_type(
        &self,
        component: &str,
        export: &str,
        function: &str,
    ) -> Option<ComponentFunc> {
        let unit = self.unit_of(component)?;
        let engine = &self.inner.engine;
        let ty = unit.pre.component().component_type();
        let item = if export.is_empty() {
            ty.exports(engine).find(|(n, _)| *n == function)?.1.ty
        } else {
            let ComponentItem::ComponentInstance(i) =
                ty.exports(engine).find(|(n, _)| *n == export)?.1.ty
            else {
                return None;
            };
            let found = i.exports(engine).find(|(n, _)| *n == function)?.1.ty;
            found
        };
        match item {
            ComponentItem::ComponentFunc(f) => Some(f),
            _ => None,
        }
    }

    fn unit_of(&self, component: &str) -> Option<&Unit> {
        self.unit_index(component)
            .ok()
            .map(|i| &self.inner.units[i])
    }

    /// The index of `component`'s unit, or an error naming the host's
    /// components.
    pub(crate) fn unit_index(&self, component: &str) -> Result<usize, RuntimeError> {
        let p = &*self.inner;
        p.units
            .iter()
            .position(|u| u.members.iter().any(|m| m == component))
            .ok_or_else(|| {
                RuntimeError::NoSuchFunction(format!(
                    "no component `{component}` on host `{}` (components here: {})",
                    p.host,
                    crate::diagnostic::quoted(&p.components)
                ))
            })
    }

    /// Makes a fresh store and instantiates every unit, callees first.
    ///
    /// # Errors
    /// [`RuntimeError`] naming the unit whose instantiation failed, or the
    /// store that could not be set up.
    pub fn instantiate(&self) -> Result<Deployed, RuntimeError> {
        self.instantiate_with(None)
    }

    /// Makes a fresh store with only what calling `component` needs: its
    /// unit and the units it calls through host-linked imports, not the
    /// rest of the host. Cheaper than [`Runtime::instantiate`] when a host
    /// has several units; calls into another component of the host fail
    /// with [`RuntimeError::NoSuchFunction`].
    ///
    /// # Errors
    /// [`RuntimeError::NoSuchFunction`] when no unit of the host holds
    /// `component`, and the errors of [`Runtime::instantiate`].
    pub fn instantiate_for(&self, component: &str) -> Result<Deployed, RuntimeError> {
        let unit = self.unit_index(component)?;
        self.instantiate_units(None, &self.inner.needs[unit])
    }

    /// Makes a fresh store with what calling any of `components` needs (the
    /// union of what [`Runtime::instantiate_for`] holds for each): the
    /// store of a group of `shared` components served together.
    ///
    /// # Errors
    /// A component not on this host, or a failed instantiation.
    pub fn instantiate_for_all(&self, components: &[&str]) -> Result<Deployed, RuntimeError> {
        let mut units: Vec<usize> = Vec::new();
        for c in components {
            units.extend_from_slice(self.units_for(c)?);
        }
        // Unit indices are in callee-first order: sorted, the union is too.
        units.sort_unstable();
        units.dedup();
        self.instantiate_units(None, &units)
    }

    /// The units a store needs to call `component`: its own and those it
    /// reaches through host-linked imports, callee-first.
    ///
    /// # Errors
    /// [`RuntimeError::NoSuchFunction`] for a component not on this host.
    pub fn units_for(&self, component: &str) -> Result<&[usize], RuntimeError> {
        let unit = self.unit_index(component)?;
        Ok(&self.inner.needs[unit])
    }

    /// The components whose units a store made to call `component` holds
    /// (it, and every component it reaches through host-linked imports),
    /// in instantiation order.
    ///
    /// # Errors
    /// [`RuntimeError::NoSuchFunction`] when the host has no `component`.
    pub fn store_members(&self, component: &str) -> Result<Vec<&str>, RuntimeError> {
        Ok(self
            .units_for(component)?
            .iter()
            .flat_map(|&u| self.inner.units[u].members.iter().map(String::as_str))
            .collect())
    }

    /// Whether `other` is a handle to this same prepared runtime.
    pub fn same(&self, other: &Runtime) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// [`Runtime::instantiate`] with the embedding application's own state
    /// in the store, reachable from its imports through
    /// [`HostState::extension`].
    ///
    /// # Errors
    /// As [`Runtime::instantiate`].
    pub fn instantiate_with(
        &self,
        extension: Option<Box<dyn Any + Send>>,
    ) -> Result<Deployed, RuntimeError> {
        let all: Vec<usize> = (0..self.inner.units.len()).collect();
        self.instantiate_units(extension, &all)
    }

    /// A fresh store with `units` (callees first) instantiated.
    fn instantiate_units(
        &self,
        extension: Option<Box<dyn Any + Send>>,
        units: &[usize],
    ) -> Result<Deployed, RuntimeError> {
        let p = &*self.inner;
        // Grants are the store's: its units' components only.
        let members = units.iter().flat_map(|&u| &p.units[u].members);
        let mut state = HostState::new(&p.manifest, members, &p.io, p.slots.len())
            .map_err(|e| RuntimeError::Store(e.into()))?;
        state.extension = extension;
        state.guard = limits::Guard::new(Arc::clone(&p.interrupt));
        state.memory_cap = p
            .memory_cap
            .as_ref()
            .map(|(cap, set_by)| limits::MemoryCap {
                cap: *cap,
                set_by: set_by.clone(),
                refused: None,
            });
        let mut store = Store::new(&p.engine, state);
        if store.data().memory_cap.is_some() {
            store.limiter(|s| s.memory_cap.as_mut().expect("set above"));
        }
        if p.settings.epoch {
            // A new store's deadline is the current epoch: arm it before any
            // guest code (start functions) runs. Instantiation has no
            // deadline, only interrupts.
            store.epoch_deadline_callback(host::on_epoch);
            let ticks = store.data_mut().guard.arm(None);
            store.set_epoch_deadline(ticks);
        }
        let mut instances: Vec<Option<Instance>> = vec![None; p.units.len()];
        let mut resource_types = vec![None; p.resources.len()];
        let asynchronous = p.asynchronous;
        for &idx in units {
            let unit = &p.units[idx];
            let instance = if asynchronous {
                drive(unit.pre.instantiate_async(&mut store))
            } else {
                unit.pre.instantiate(&mut store)
            }
            .map_err(|e| RuntimeError::Instantiate {
                unit: unit.label(),
                source: e.into(),
            })?;
            // Fill the slots whose callee is this unit.
            for (slot, target) in p.slots.iter().enumerate() {
                if target.unit != idx {
                    continue;
                }
                let func =
                    deployed::lookup_func(&mut store, &instance, &target.export, &target.func)
                        .ok_or_else(|| RuntimeError::MissingExport {
                            unit: unit.label(),
                            export: target.export.clone(),
                            function: target.func.clone(),
                        })?;
                store.data_mut().slots[slot] = Some(func);
            }
            for (i, target) in p.resources.iter().enumerate() {
                if target.unit != idx {
                    continue;
                }
                let iface = instance.get_export_index(&mut store, None, &target.export);
                resource_types[i] = iface
                    .and_then(|iface| {
                        instance.get_export_index(&mut store, Some(&iface), &target.resource)
                    })
                    .and_then(|r| instance.get_resource(&mut store, r));
            }
            instances[idx] = Some(instance);
        }
        store.data_mut().callee_resource_types = resource_types;
        Ok(Deployed::new(self.clone(), store, instances))
    }
}

/// Runs a future of a store's async entry point to completion on the
/// calling thread, with a tokio runtime around it for the I/O of WASI's
/// async host functions (the caller's, or wasmtime-wasi's own when the
/// thread has none). Must not be called from a task of a tokio runtime.
pub(crate) fn drive<F: std::future::Future>(future: F) -> F::Output {
    wasmtime_wasi::runtime::in_tokio(future)
}

/// Each component's deadline in ticks: its `deadline-ms`, else `default`.
fn deadlines(
    manifest: &Manifest,
    components: &[String],
    default: Option<Duration>,
) -> Vec<(String, Option<u64>)> {
    let default = default.map(|d| (d.as_nanos() / engine::TICK.as_nanos()).max(1) as u64);
    components
        .iter()
        .map(|c| {
            let own = manifest
                .components
                .get(c)
                .and_then(|s| s.get_ref().deadline_ms.as_ref())
                .map(|d| *d.get_ref());
            // The key is in ms and a tick is 1 ms.
            (c.clone(), own.or(default))
        })
        .collect()
}

/// A pool for `stores` live stores of `components`: memory slots as large
/// as the largest `max-memory` among them, or the 32-bit space when one has
/// none.
fn pool_limits(
    deployment: &Deployment,
    units: &UnitPlan,
    components: &[String],
    stores: u32,
) -> Option<PoolLimits> {
    let max_memory = components
        .iter()
        .map(|c| {
            deployment
                .manifest
                .components
                .get(c)
                .and_then(|s| s.get_ref().max_memory.as_ref())
                .map_or(1 << 32, |cap| cap.get_ref().0)
        })
        .max()?;
    PoolLimits::for_components(
        components.iter().map(|c| &**deployment.bytes(c)),
        u32::try_from(units.units.len()).unwrap_or(u32::MAX),
        stores,
        max_memory,
    )
}

/// Whether cross-module inlining pays on this host: every unit's component
/// (a fused unit's members summed) is at most
/// [`engine::INLINING_MAX_BYTES`]. The engine is the host's, so one large
/// component turns it off for all (see the constant for why).
fn inlining_pays(deployment: &Deployment, units: &UnitPlan) -> bool {
    units.units.iter().all(|members| {
        members
            .iter()
            .map(|m| deployment.bytes(m).len())
            .sum::<usize>()
            <= engine::INLINING_MAX_BYTES
    })
}

/// The smallest `max-memory` among `components`, and whose it is.
fn memory_cap(manifest: &Manifest, components: &[String]) -> Option<(u64, String)> {
    components
        .iter()
        .filter_map(|c| {
            let cap = manifest.components.get(c)?.get_ref().max_memory.as_ref()?;
            Some((cap.get_ref().0, c.clone()))
        })
        .min_by_key(|(cap, _)| *cap)
}

/// `io` with `argv[0]` first: the component of `components` exporting
/// `wasi:cli/run`, or the host's name.
fn with_program_name(
    io: &CommandIo,
    infos: &indexmap::IndexMap<String, ComponentInfo>,
    components: &[String],
    host: &str,
) -> CommandIo {
    let program = components
        .iter()
        .find(|c| {
            infos[c.as_str()]
                .exports()
                .iter()
                .any(|e| crate::wit::split_version(&e.name).0 == RUN_INTERFACE)
        })
        .map_or(host, String::as_str);
    let mut io = io.clone();
    io.args.insert(0, program.to_string());
    io
}

/// The interface a command exports.
pub(crate) const RUN_INTERFACE: &str = "wasi:cli/run";

/// Whether a component needs component-model async in its engine: an async
/// type or function in its WIT, the async ABI in its code, or a WASI 0.3
/// import (wasmtime-wasi's p3 host functions are concurrent ones, which an
/// engine without concurrency support refuses to link, even where the
/// component calls only their sync functions).
fn uses_component_async(info: &ComponentInfo) -> bool {
    use wit_parser::{FunctionKind, TypeDefKind};
    let r = &info.resolve;
    let async_types = r
        .types
        .iter()
        .any(|(_, t)| matches!(t.kind, TypeDefKind::Future(_) | TypeDefKind::Stream(_)));
    let async_funcs = info
        .imports()
        .into_iter()
        .chain(info.exports())
        .filter(|i| i.kind == ItemKind::Interface)
        .any(|i| {
            r.interfaces[i.interface.unwrap()]
                .functions
                .values()
                .any(|f| {
                    matches!(
                        f.kind,
                        FunctionKind::AsyncFreestanding
                            | FunctionKind::AsyncMethod(_)
                            | FunctionKind::AsyncStatic(_)
                    )
                })
        });
    let wasi_p3 = info
        .imports()
        .iter()
        .any(|i| crate::wit::host_wasi(&i.name) == Some(crate::wit::WasiRelease::P3));
    async_types || async_funcs || info.async_abi || wasi_p3
}
