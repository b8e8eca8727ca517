//! The in-process runtime: deploy one host's part of a plan into one
//! wasmtime `Store` and call its components' exports.
//!
//! Components linked in-process are grouped into *units*:
//!
//! * **fused** links (the default strategy) join their components into one
//!   unit, composed in memory with `weld-compose`: calls cross fused adapters
//!   compiled by wasmtime, with no host transition;
//! * **host-linked** links connect separate units: the caller's import is a
//!   dynamic host function (`func_new` over [`Val`]) that calls the callee's
//!   export in the same store. Resources cross through proxy handles; when
//!   the caller drops a proxy, the callee's real handle is dropped, so the
//!   callee's destructor runs.
//!
//! Linkers and [`InstancePre`]s are built once per [`Runtime`]; each
//! [`Runtime::instantiate`] makes a fresh store and instantiates the units
//! callee-first. Host-linked imports look their callee up in the store's
//! slot table, which is what makes the linkers reusable across stores.
//!
//! A trap poisons the whole store (wasmtime 45+): the runtime reports the
//! component, function and call path of the trap and refuses later calls.

pub mod engine;
pub mod host;
mod hostlinked;
pub mod invoke;

use crate::diagnostic::quoted;
use crate::fuse::{fuse_for_build, fuse_for_runtime, FuseOptions};
use crate::introspect::ItemKind;
use crate::manifest::Endpoint;
use crate::manifest::Strategy;
use crate::plan::{Deployment, Transport};
use crate::wit;
use crate::wrpc::client::Remote;
use crate::wrpc::codec::Limits;
use crate::wrpc::stub::StubLink;
use engine::{CompileSource, EngineSettings};
use host::HostState;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Instance, InstancePre, Linker, Val};
use wasmtime::{Engine, Store};

/// Errors of the runtime; each names the component and function involved.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The deployment cannot run on this host as planned.
    #[error("{0}")]
    Setup(String),
    /// Composition of the fused units failed.
    #[error("fusing the in-process components failed: {0}")]
    Fuse(#[from] crate::fuse::FuseError),
    /// Compiling or linking a unit failed.
    #[error("{unit}: {message}")]
    Link {
        /// The unit (component names).
        unit: String,
        /// What went wrong.
        message: String,
    },
    /// The function to call does not exist.
    #[error("{0}")]
    NoSuchFunction(String),
    /// Arguments did not match the function's parameters.
    #[error("{0}")]
    BadArguments(String),
    /// A guest trapped.
    #[error("component `{component}` function `{function}` trapped{path}: {message}")]
    Trap {
        /// The called component.
        component: String,
        /// The called function.
        function: String,
        /// The call path through host-linked calls, when known.
        path: String,
        /// The trap and its backtrace.
        message: String,
    },
    /// An earlier trap poisoned the store.
    #[error("the store is poisoned by an earlier trap ({0}); instantiate the deployment again")]
    Poisoned(String),
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
}

/// One compiled piece of the deployment: a component, or several fused.
pub(crate) struct Unit {
    /// The manifest names of its components.
    pub members: Vec<String>,
    /// Export name → the member it comes from.
    pub exports: IndexMap<String, String>,
    pub pre: InstancePre<HostState>,
    pub source: CompileSource,
}

impl Unit {
    fn label(&self) -> String {
        unit_label(&self.members)
    }
}

/// "component `a`" or "fused unit (`a` + `b`)", for messages.
fn unit_label(members: &[String]) -> String {
    if members.len() == 1 {
        format!("component `{}`", members[0])
    } else {
        format!(
            "fused unit ({})",
            members
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" + ")
        )
    }
}

/// A slot: the callee function a host-linked import calls.
#[derive(Debug, Clone)]
pub(crate) struct SlotTarget {
    pub unit: usize,
    pub export: String,
    pub func: String,
}

/// A proxied resource type: the callee's resource behind a host type.
#[derive(Debug, Clone)]
pub(crate) struct ResourceTarget {
    pub unit: usize,
    pub export: String,
    pub resource: String,
}

/// A deployment prepared to run on one host: compiled, linked, ready to
/// instantiate any number of times.
pub struct Runtime {
    engine: Engine,
    settings: EngineSettings,
    host: String,
    units: Vec<Unit>,
    slots: Vec<SlotTarget>,
    resources: Vec<ResourceTarget>,
    manifest: crate::manifest::Manifest,
    components: Vec<String>,
    /// Time spent preparing (compile + link), for reports.
    pub prepare_time: std::time::Duration,
}

/// A running deployment: one store, its units' instances.
pub struct Deployed<'r> {
    runtime: &'r Runtime,
    store: Store<HostState>,
    instances: Vec<Instance>,
    poisoned: Option<String>,
}

impl Runtime {
    /// Compiles and links the part of `deployment` placed on one host.
    pub fn new(deployment: &Deployment, options: &RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let started = Instant::now();
        let plan = &deployment.plan;
        let host = match &options.host {
            Some(h) => {
                if !plan.components.iter().any(|c| &c.host == h) {
                    return Err(RuntimeError::Setup(format!(
                        "no component is placed on host `{h}`"
                    )));
                }
                h.clone()
            }
            None => {
                let hosts = plan.hosts();
                if hosts.len() != 1 {
                    return Err(RuntimeError::Setup(format!(
                        "the deployment spans several hosts ({}); choose one with --host",
                        quoted(&hosts)
                    )));
                }
                hosts[0].to_string()
            }
        };
        let here: Vec<String> = plan
            .components
            .iter()
            .filter(|c| c.host == host)
            .map(|c| c.name.clone())
            .collect();

        // Which links are fused and which host-linked.
        let strategy_of = |r: &crate::plan::Resolution| -> Option<Strategy> {
            match r.transport {
                Transport::InProcess | Transport::Compose => {
                    Some(options.strategy.unwrap_or(if fuse_for_runtime(r) {
                        Strategy::Fused
                    } else {
                        Strategy::HostLinked
                    }))
                }
                _ => None,
            }
        };
        let local: Vec<&crate::plan::Resolution> = plan
            .resolutions
            .iter()
            .filter(|r| here.contains(&r.component))
            .collect();
        // Group fused components (union-find over fused links).
        let mut group: IndexMap<String, usize> = here
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        loop {
            let mut changed = false;
            for r in &local {
                if strategy_of(r) == Some(Strategy::Fused) {
                    let a = group[&r.component];
                    let b = group[r.peer.as_ref().unwrap()];
                    if a != b {
                        let (lo, hi) = (a.min(b), a.max(b));
                        for g in group.values_mut() {
                            if *g == hi {
                                *g = lo;
                            }
                        }
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let mut by_root: IndexMap<usize, Vec<String>> = IndexMap::new();
        for (name, g) in &group {
            by_root.entry(*g).or_default().push(name.clone());
        }
        let groups: Vec<Vec<String>> = by_root.into_values().collect();

        // Order units callee-first along host-linked links.
        let group_of = |groups: &[Vec<String>], name: &str| {
            groups
                .iter()
                .position(|g| g.iter().any(|m| m == name))
                .expect("every local component is in a group")
        };
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); groups.len()];
        for r in &local {
            if strategy_of(r) == Some(Strategy::HostLinked) {
                let a = group_of(&groups, &r.component);
                let b = group_of(&groups, r.peer.as_ref().unwrap());
                if a != b {
                    deps[a].push(b);
                }
            }
        }
        let mut order: Vec<usize> = Vec::new();
        while order.len() < groups.len() {
            let next = (0..groups.len())
                .find(|u| !order.contains(u) && deps[*u].iter().all(|d| order.contains(d)))
                .ok_or_else(|| RuntimeError::Setup("host-linked units form a cycle".into()))?;
            order.push(next);
        }
        let groups: Vec<Vec<String>> = order.into_iter().map(|i| groups[i].clone()).collect();
        let unit_of = |name: &str| group_of(&groups, name);

        // Engine settings from the plan.
        let settings = options.engine.unwrap_or_else(|| EngineSettings {
            concurrency: here
                .iter()
                .any(|n| uses_component_async(&deployment.components[n])),
            inlining: true,
            pooling: false,
        });
        let engine = engine::engine(settings)
            .map_err(|e| RuntimeError::Setup(format!("cannot create the engine: {e:#}")))?;

        // Compile each group: fused ones through weld-compose.
        struct Compiled {
            members: Vec<String>,
            exports: IndexMap<String, String>,
            component: Component,
            source: CompileSource,
        }
        let mut compiled: Vec<Compiled> = Vec::new();
        for members in &groups {
            let (bytes, exports) = if members.len() == 1 {
                let name = &members[0];
                let bytes = deployment
                    .component_bytes(name)
                    .map_err(|e| RuntimeError::Link {
                        unit: format!("component `{name}`"),
                        message: format!("cannot read: {e}"),
                    })?;
                let exports = deployment.components[name]
                    .exports()
                    .into_iter()
                    .map(|e| (e.name, name.clone()))
                    .collect();
                (bytes, exports)
            } else {
                let fuse_opts = FuseOptions {
                    only: Some(members.clone()),
                    host: None,
                    exports: Some(members.clone()),
                    // The same rule that formed the group.
                    fuse: Some(if options.strategy == Some(Strategy::Fused) {
                        fuse_for_build
                    } else {
                        fuse_for_runtime
                    }),
                };
                let composed = crate::fuse::fuse(deployment, &fuse_opts)?;
                let exports = composed.exports.into_iter().collect();
                (composed.bytes, exports)
            };
            let (component, source) =
                engine::compile(&engine, &bytes).map_err(|e| RuntimeError::Link {
                    unit: members.join(" + "),
                    message: format!("cannot compile: {e:#}"),
                })?;
            tracing::debug!(members = ?members, ?source, "compiled unit");
            compiled.push(Compiled {
                members: members.clone(),
                exports,
                component,
                source,
            });
        }

        // Link each unit.
        let mut slots: Vec<SlotTarget> = Vec::new();
        let mut resources: Vec<ResourceTarget> = Vec::new();
        let mut units: Vec<Unit> = Vec::new();
        let mut remotes: HashMap<Endpoint, Arc<Remote>> = HashMap::new();
        for (idx, c) in compiled.iter().enumerate() {
            let label = unit_label(&c.members);
            let link_err = |message: String| RuntimeError::Link {
                unit: label.clone(),
                message,
            };
            let mut linker: Linker<HostState> = Linker::new(&engine);
            let wrpc_errors: Vec<String> = c
                .component
                .component_type()
                .imports(&engine)
                .map(|(n, _)| n.to_string())
                .filter(|n| wit::semver_compatible(n, wit::WRPC_ERROR_INTERFACE))
                .collect();
            host::add_host_interfaces(&mut linker, &wrpc_errors)
                .map_err(|e| link_err(format!("{e:#}")))?;
            // Host-linked imports of this unit's members.
            let mut linked: IndexMap<String, (usize, String, String)> = IndexMap::new();
            for r in &local {
                if strategy_of(r) != Some(Strategy::HostLinked) || !c.members.contains(&r.component)
                {
                    continue;
                }
                let peer = r.peer.as_ref().unwrap();
                let callee = unit_of(peer);
                if callee == idx {
                    continue;
                }
                if let Some((u, e, _)) = linked.get(&r.import) {
                    if *u != callee || e != r.export.as_ref().unwrap() {
                        return Err(link_err(format!(
                            "import `{}` is host-linked to two different exporters in one fused unit",
                            r.import
                        )));
                    }
                    continue;
                }
                linked.insert(
                    r.import.clone(),
                    (callee, r.export.clone().unwrap(), format!("`{peer}`")),
                );
            }
            // wRPC imports of this unit's members: stubs.
            let mut stubbed: Vec<&str> = Vec::new();
            for r in &local {
                if r.transport != Transport::Wrpc
                    || !c.members.contains(&r.component)
                    || stubbed.contains(&r.import.as_str())
                {
                    continue;
                }
                stubbed.push(&r.import);
                let link = stub_link(deployment, r, &mut remotes)
                    .map_err(|e| link_err(format!("import `{}`: {e}", r.import)))?;
                crate::wrpc::stub::define(&mut linker, &engine, &c.component, link)
                    .map_err(|e| link_err(format!("import `{}`: {e:#}", r.import)))?;
            }
            for (import, (callee, export, path)) in &linked {
                hostlinked::define(
                    &mut linker,
                    &engine,
                    &c.component,
                    import,
                    *callee,
                    export,
                    path,
                    &mut slots,
                    &mut resources,
                )
                .map_err(|e| link_err(format!("import `{import}`: {e:#}")))?;
            }
            let pre = linker
                .instantiate_pre(&c.component)
                .map_err(|e| link_err(format!("{e:#}")))?;
            units.push(Unit {
                members: c.members.clone(),
                exports: c.exports.clone(),
                pre,
                source: c.source,
            });
        }

        Ok(Runtime {
            engine,
            settings,
            host,
            units,
            slots,
            resources,
            manifest: deployment.manifest.clone(),
            components: here,
            prepare_time: started.elapsed(),
        })
    }

    /// The host this runtime runs.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The engine settings in use.
    pub fn settings(&self) -> EngineSettings {
        self.settings
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A one-line description per unit: members, strategy, compile source.
    pub fn describe(&self) -> Vec<String> {
        self.units
            .iter()
            .map(|u| {
                format!("{} ({:?})", u.label(), u.source)
                    .replace("Memory", "compiled earlier")
                    .replace("Disk", "from cache")
            })
            .collect()
    }

    /// Makes a fresh store and instantiates every unit, callees first.
    pub fn instantiate(&self) -> Result<Deployed<'_>, RuntimeError> {
        let state = HostState::new(&self.manifest, &self.components, self.slots.len())
            .map_err(|e| RuntimeError::Setup(format!("{e:#}")))?;
        let mut store = Store::new(&self.engine, state);
        let mut instances: Vec<Instance> = Vec::with_capacity(self.units.len());
        let mut resource_types = vec![None; self.resources.len()];
        for (idx, unit) in self.units.iter().enumerate() {
            let instance = unit
                .pre
                .instantiate(&mut store)
                .map_err(|e| RuntimeError::Link {
                    unit: unit.label(),
                    message: format!("instantiation failed: {e:#}"),
                })?;
            // Fill the slots whose callee is this unit.
            for (slot, target) in self.slots.iter().enumerate() {
                if target.unit != idx {
                    continue;
                }
                let func = lookup_func(&mut store, &instance, &target.export, &target.func)
                    .ok_or_else(|| RuntimeError::Link {
                        unit: unit.label(),
                        message: format!(
                            "export `{}` has no function `{}`",
                            target.export, target.func
                        ),
                    })?;
                store.data_mut().slots[slot] = Some(func);
            }
            for (i, target) in self.resources.iter().enumerate() {
                if target.unit != idx {
                    continue;
                }
                let iface = instance.get_export_index(&mut store, None, &target.export);
                let res = iface
                    .and_then(|iface| {
                        instance.get_export_index(&mut store, Some(&iface), &target.resource)
                    })
                    .and_then(|r| instance.get_resource(&mut store, r));
                resource_types[i] = res;
            }
            instances.push(instance);
        }
        store.data_mut().set_resource_types(resource_types);
        Ok(Deployed {
            runtime: self,
            store,
            instances,
            poisoned: None,
        })
    }
}

impl HostState {
    pub(crate) fn set_resource_types(
        &mut self,
        types: Vec<Option<wasmtime::component::ResourceType>>,
    ) {
        self.callee_resource_types = types;
    }
}

/// The stub of one wrpc resolution: its endpoint's client (shared by all
/// links to that endpoint), timeout and which functions are wRPC-safe.
fn stub_link(
    deployment: &Deployment,
    r: &crate::plan::Resolution,
    remotes: &mut HashMap<Endpoint, Arc<Remote>>,
) -> Result<StubLink, String> {
    let endpoint = r
        .endpoint
        .clone()
        .ok_or("the plan gives this wrpc link no endpoint")?;
    let peer = r.peer.as_deref().unwrap_or("?");
    let peer_host = deployment.plan.host_of(peer).unwrap_or("?");
    let info = &deployment.components[&r.component];
    let iface = info
        .import_interface(&r.import)
        .ok_or("not an interface import")?;
    let resolve = &info.resolve;
    if let Some(res) = wit::resources_of(resolve, iface).first() {
        return Err(format!(
            "it defines resource `{res}`: handles cannot cross a wrpc link (weld's wRPC stubs carry values only); place `{}` and `{peer}` on one host",
            r.component
        ));
    }
    let safe = resolve.interfaces[iface]
        .functions
        .iter()
        .map(|(name, f)| (name.clone(), wit::is_wrpc_safe(resolve, f)))
        .collect();
    let remote = remotes
        .entry(endpoint.clone())
        .or_insert_with(|| Arc::new(Remote::new(endpoint)));
    Ok(StubLink {
        import: r.import.clone(),
        label: format!("`{}` → `{peer}` on host `{peer_host}`", r.component),
        remote: Arc::clone(remote),
        timeout: r
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(crate::wrpc::client::DEFAULT_TIMEOUT),
        safe,
        limits: Limits::DEFAULT,
    })
}

/// Finds `func` in the exported interface `export` (or at the root when
/// `export` is empty).
pub(crate) fn lookup_func(
    store: &mut Store<HostState>,
    instance: &Instance,
    export: &str,
    func: &str,
) -> Option<wasmtime::component::Func> {
    if export.is_empty() {
        return instance.get_func(&mut *store, func);
    }
    let iface = instance.get_export_index(&mut *store, None, export)?;
    let f = instance.get_export_index(&mut *store, Some(&iface), func)?;
    instance.get_func(&mut *store, f)
}

/// Whether a component uses component-model async (async functions, futures
/// or streams) and so needs `concurrency_support`.
fn uses_component_async(info: &crate::introspect::ComponentInfo) -> bool {
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
    async_types || async_funcs
}

impl Deployed<'_> {
    /// The store (for benches and tests that call functions directly).
    pub fn store(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// Finds an exported function of `component`. `function` is
    /// `iface#func` (`demo:math/runner@0.1.0#run-add`), `name.func`
    /// (`runner.run-add`), or a bare function name when it is unique.
    pub fn func(
        &mut self,
        component: &str,
        function: &str,
    ) -> Result<(wasmtime::component::Func, String), RuntimeError> {
        let unit = self
            .runtime
            .units
            .iter()
            .position(|u| u.members.iter().any(|m| m == component))
            .ok_or_else(|| {
                RuntimeError::NoSuchFunction(format!(
                    "no component `{component}` on host `{}` (components here: {})",
                    self.runtime.host,
                    quoted(&self.runtime.components)
                ))
            })?;
        let exports: Vec<String> = self.runtime.units[unit]
            .exports
            .iter()
            .filter(|(_, from)| *from == component)
            .map(|(e, _)| e.clone())
            .collect();
        let (want_iface, want_func) = match function.rsplit_once('#') {
            Some((i, f)) => (Some(i.to_string()), f.to_string()),
            None => match function.rsplit_once('.') {
                Some((i, f)) => (Some(i.to_string()), f.to_string()),
                None => (None, function.to_string()),
            },
        };
        let instance = self.instances[unit];
        let mut found = Vec::new();
        for e in &exports {
            let matches_iface = match &want_iface {
                None => true,
                Some(i) => {
                    e == i
                        || wit::split_version(e).0.rsplit('/').next() == Some(i.as_str())
                        || wit::split_version(e).0 == i
                }
            };
            if !matches_iface {
                continue;
            }
            if let Some(f) = lookup_func(&mut self.store, &instance, e, &want_func) {
                found.push((f, format!("{e}#{want_func}")));
            }
        }
        if want_iface.is_none() {
            if let Some(f) = instance.get_func(&mut self.store, &want_func) {
                found.push((f, want_func.clone()));
            }
        }
        match found.len() {
            1 => Ok(found.pop().unwrap()),
            0 => Err(RuntimeError::NoSuchFunction(format!(
                "component `{component}` exports no function `{function}` (its exports: {})",
                quoted(&exports)
            ))),
            _ => Err(RuntimeError::NoSuchFunction(format!(
                "function `{function}` of component `{component}` is ambiguous: {}; qualify it as `interface#function`",
                quoted(found.iter().map(|(_, n)| n))
            ))),
        }
    }

    /// Calls `component`'s exported `function` with `params`.
    pub fn call(
        &mut self,
        component: &str,
        function: &str,
        params: &[Val],
    ) -> Result<Vec<Val>, RuntimeError> {
        if let Some(p) = &self.poisoned {
            return Err(RuntimeError::Poisoned(p.clone()));
        }
        let (func, full) = self.func(component, function)?;
        self.invoke(component, &full, func, params)
    }

    /// Calls a function found with [`Deployed::func`]: no lookup, so a
    /// caller that calls repeatedly (benches) pays for the call only.
    pub fn invoke(
        &mut self,
        component: &str,
        full: &str,
        func: wasmtime::component::Func,
        params: &[Val],
    ) -> Result<Vec<Val>, RuntimeError> {
        if let Some(p) = &self.poisoned {
            return Err(RuntimeError::Poisoned(p.clone()));
        }
        let ty = func.ty(&self.store);
        if ty.params().len() != params.len() {
            return Err(RuntimeError::BadArguments(format!(
                "component `{component}` function `{full}` takes {} argument(s), {} given",
                ty.params().len(),
                params.len()
            )));
        }
        let mut results = vec![Val::Bool(false); ty.results().len()];
        match func.call(&mut self.store, params, &mut results) {
            Ok(()) => Ok(results),
            Err(e) => {
                // Host-linked calls add "in call a → b ..." context on the
                // way out: collect it as the call path.
                let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
                let path: Vec<&str> = chain
                    .iter()
                    .filter_map(|c| c.strip_prefix("in call "))
                    .collect();
                let path = if path.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (call path: `{component}` `{full}` → {})",
                        path.iter().rev().cloned().collect::<Vec<_>>().join(" → ")
                    )
                };
                let message = chain
                    .iter()
                    .filter(|c| !c.starts_with("in call "))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(": ");
                let err = RuntimeError::Trap {
                    component: component.to_string(),
                    function: full.to_string(),
                    path,
                    message,
                };
                self.poisoned = Some(format!("`{component}` function `{full}` trapped"));
                Err(err)
            }
        }
    }

    /// Runs a component exporting `wasi:cli/run`; returns whether it
    /// succeeded.
    pub fn run_command(&mut self) -> Result<(String, bool), RuntimeError> {
        let runner = self
            .runtime
            .units
            .iter()
            .flat_map(|u| u.exports.iter())
            .find(|(e, _)| wit::split_version(e).0 == "wasi:cli/run")
            .map(|(e, c)| (e.clone(), c.clone()))
            .ok_or_else(|| {
                RuntimeError::NoSuchFunction(
                    "no component on this host exports `wasi:cli/run`; say what to call with --invoke 'component.function(args)'".into(),
                )
            })?;
        let results = self.call(&runner.1, &format!("{}#run", runner.0), &[])?;
        let ok = matches!(results.first(), Some(Val::Result(Ok(_))));
        Ok((runner.1, ok))
    }

    /// Whether a trap has poisoned this store.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    /// Live resource proxies (host-linked resources not yet dropped).
    pub fn live_proxies(&self) -> usize {
        self.store.data().live_proxies()
    }
}
