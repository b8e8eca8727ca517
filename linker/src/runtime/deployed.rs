//! A running deployment: one store and its units' instances, and calls
//! into them.

use super::host::HostState;
use super::limits::Stop;
use super::{Runtime, RuntimeError};
use crate::diagnostic::quoted;
use crate::manifest::ByteSize;
use crate::wit;
use wasmtime::component::{Instance, Val};
use wasmtime::Store;

/// A running deployment: one store, its units' instances. It owns its
/// [`Runtime`] handle, so it can move between threads and outlive the code
/// that prepared it; dropping it drops the store.
pub struct Deployed {
    runtime: Runtime,
    store: Store<HostState>,
    /// Per unit; `None` for a unit this store did not instantiate (see
    /// [`Runtime::instantiate_for`]).
    instances: Vec<Option<Instance>>,
    poisoned: Option<String>,
}

/// Finds `function` of `component`, whose exported interfaces are
/// `exports`: `iface#func`, `name.func` (an interface by its short name) or
/// `func` (at the root, or in the one interface that has it). `lookup`
/// finds `func` in interface `export` (`""`: the root). The one matching
/// rule, for the running instance and for the check of a call before
/// anything compiles.
pub(crate) fn find_function<F>(
    component: &str,
    function: &str,
    exports: &[String],
    mut lookup: impl FnMut(&str, &str) -> Option<F>,
) -> Result<(F, String), RuntimeError> {
    let (want_iface, want_func) = match function.rsplit_once('#') {
        Some((i, f)) => (Some(i), f),
        None => match function.rsplit_once('.') {
            Some((i, f)) => (Some(i), f),
            None => (None, function),
        },
    };
    let mut found = Vec::new();
    for e in exports {
        let matches_iface = match want_iface {
            None => true,
            Some(i) => {
                e == i
                    || wit::split_version(e).0.rsplit('/').next() == Some(i)
                    || wit::split_version(e).0 == i
            }
        };
        if !matches_iface {
            continue;
        }
        if let Some(f) = lookup(e, want_func) {
            found.push((f, format!("{e}#{want_func}")));
        }
    }
    if want_iface.is_none() {
        if let Some(f) = lookup("", want_func) {
            found.push((f, want_func.to_string()));
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(RuntimeError::NoSuchFunction(format!(
            "component `{component}` exports no function `{function}` (its exports: {})",
            quoted(exports)
        ))),
        _ => Err(RuntimeError::NoSuchFunction(format!(
            "function `{function}` of component `{component}` is ambiguous: {}; qualify it as `interface#function`",
            quoted(found.iter().map(|(_, n)| n))
        ))),
    }
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

impl Deployed {
    pub(crate) fn new(
        runtime: Runtime,
        store: Store<HostState>,
        instances: Vec<Option<Instance>>,
    ) -> Deployed {
        Deployed {
            runtime,
            store,
            instances,
            poisoned: None,
        }
    }

    /// Whether calls into this store go through wasmtime's async entry
    /// points (a component of its host imports WASI 0.3 or has async
    /// functions).
    pub fn is_async(&self) -> bool {
        self.runtime.inner.asynchronous
    }

    /// The runtime this deployment was instantiated from.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The store (for benches and tests that call functions directly).
    pub fn store(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// Finds an exported function of `component`. `function` is
    /// `iface#func` (`demo:math/runner@0.1.0#run-add`), `name.func`
    /// (`runner.run-add`), or a bare function name when it is unique.
    ///
    /// # Errors
    /// [`RuntimeError::NoSuchFunction`] when `component` exports no such
    /// function, or several match a bare name.
    pub fn func(
        &mut self,
        component: &str,
        function: &str,
    ) -> Result<(wasmtime::component::Func, String), RuntimeError> {
        let p = &*self.runtime.inner;
        let unit = self.runtime.unit_index(component)?;
        let exports: Vec<String> = p.units[unit]
            .exports
            .iter()
            .filter(|(_, from)| *from == component)
            .map(|(e, _)| e.clone())
            .collect();
        let Some(instance) = self.instances[unit] else {
            return Err(RuntimeError::NoSuchFunction(format!(
                "component `{component}` is not instantiated in this store (it was made for another component)"
            )));
        };
        let store = &mut self.store;
        find_function(component, function, &exports, |export, func| {
            lookup_func(store, &instance, export, func)
        })
    }

    /// Calls `component`'s exported `function` with `params`.
    ///
    /// # Errors
    /// As [`Deployed::func`] and [`Deployed::invoke`].
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
    ///
    /// # Errors
    /// [`RuntimeError`]: the guest trapped, exited, ran past its deadline or
    /// memory cap, or was interrupted (the store is then poisoned).
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
        let asynchronous = self.is_async();
        self.guarded(component, full, |store| {
            if asynchronous {
                super::drive(func.call_async(&mut *store, params, &mut results))
            } else {
                func.call(&mut *store, params, &mut results)
            }
        })?;
        Ok(results)
    }

    /// [`Deployed::invoke`] with Rust values of a known signature: no
    /// [`Val`] trees (the typed fast path of `weld serve`). The function's
    /// type is checked against `P` and `R` on every call.
    ///
    /// # Errors
    /// As [`Deployed::invoke`], and a function whose type is not `P` → `R`.
    pub fn invoke_typed<P, R>(
        &mut self,
        component: &str,
        full: &str,
        func: wasmtime::component::Func,
        params: P,
    ) -> Result<R, RuntimeError>
    where
        P: wasmtime::component::ComponentNamedList
            + wasmtime::component::Lower
            + Send
            + Sync
            + 'static,
        R: wasmtime::component::ComponentNamedList
            + wasmtime::component::Lift
            + Send
            + Sync
            + 'static,
    {
        let typed = self.typed::<P, R>(component, full, func)?;
        let asynchronous = self.is_async();
        self.guarded(component, full, |store| {
            if asynchronous {
                super::drive(typed.call_async(&mut *store, params))
            } else {
                typed.call(&mut *store, params)
            }
        })
    }

    /// `func` as a function of type `P` → `R`, in a store no trap has
    /// poisoned.
    ///
    /// # Errors
    /// [`RuntimeError::Poisoned`], or [`RuntimeError::BadArguments`] when
    /// the function has another type.
    pub(crate) fn typed<P, R>(
        &self,
        component: &str,
        full: &str,
        func: wasmtime::component::Func,
    ) -> Result<wasmtime::component::TypedFunc<P, R>, RuntimeError>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
        R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
    {
        if let Some(p) = &self.poisoned {
            return Err(RuntimeError::Poisoned(p.clone()));
        }
        func.typed::<P, R>(&self.store).map_err(|e| {
            RuntimeError::BadArguments(format!(
                "component `{component}` function `{full}` does not have the expected type: {e:#}"
            ))
        })
    }

    /// Runs `call` into the guest under the store's limits: the deadline
    /// of `component` armed, the memory cap's record cleared; a failure is
    /// classified (exit, deadline, interrupt, memory cap, trap) and
    /// poisons the store.
    pub(crate) fn guarded<T>(
        &mut self,
        component: &str,
        full: &str,
        call: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
    ) -> Result<T, RuntimeError> {
        let epoch = self.runtime.inner.settings.epoch;
        if epoch {
            if self.runtime.is_interrupted() {
                return Err(RuntimeError::Interrupted {
                    component: component.to_string(),
                    function: full.to_string(),
                });
            }
            let deadline = self.runtime.deadline_ticks(component);
            let ticks = self.store.data_mut().guard.arm(deadline);
            self.store.set_epoch_deadline(ticks);
        }
        if let Some(cap) = &mut self.store.data_mut().memory_cap {
            cap.refused = None;
        }
        match call(&mut self.store) {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    self.poisoned = Some(format!(
                        "`{component}` function `{full}` exited with status {}",
                        exit.0
                    ));
                    return Err(RuntimeError::Exited {
                        component: component.to_string(),
                        function: full.to_string(),
                        code: exit.0,
                    });
                }
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
                let err = self.classify(component, full, path, message);
                self.poisoned = Some(match &err {
                    RuntimeError::DeadlineExceeded { .. } => {
                        format!("`{component}` function `{full}` exceeded its deadline")
                    }
                    RuntimeError::Interrupted { .. } => {
                        format!("`{component}` function `{full}` was interrupted")
                    }
                    _ => format!("`{component}` function `{full}` trapped"),
                });
                Err(err)
            }
        }
    }

    /// What stopped a call: the deadline, an interrupt, a refused memory
    /// growth (recorded by the store as they happen), or a plain trap.
    fn classify(
        &mut self,
        component: &str,
        full: &str,
        path: String,
        message: String,
    ) -> RuntimeError {
        let (component, function) = (component.to_string(), full.to_string());
        let data = self.store.data_mut();
        match data.guard.stopped.take() {
            Some(Stop::Deadline) => {
                let limit_ms = self
                    .runtime
                    .deadline_of(&component)
                    .map_or(0, |d| d.as_millis() as u64);
                return RuntimeError::DeadlineExceeded {
                    component,
                    function,
                    limit_ms,
                    path,
                };
            }
            Some(Stop::Interrupted) => {
                return RuntimeError::Interrupted {
                    component,
                    function,
                }
            }
            None => {}
        }
        if let Some(cap) = &mut data.memory_cap {
            if let Some(requested) = cap.refused.take() {
                return RuntimeError::MemoryCap {
                    component,
                    function,
                    requested: ByteSize(requested),
                    cap: ByteSize(cap.cap),
                    set_by: cap.set_by.clone(),
                    path,
                };
            }
        }
        RuntimeError::Trap {
            component,
            function,
            path,
            message,
        }
    }

    /// Runs the component exporting `wasi:cli/run`, as `wasmtime run`
    /// runs a command: returns the component and its exit status (0 when
    /// `run` returns `ok`, 1 for `err`, or the status it exits with).
    ///
    /// # Errors
    /// [`RuntimeError::NoCommand`] when no component of the host exports
    /// `wasi:cli/run`, and the errors of [`Deployed::invoke`].
    pub fn run_command(&mut self) -> Result<(String, i32), RuntimeError> {
        let runner = self
            .runtime
            .inner
            .units
            .iter()
            .flat_map(|u| u.exports.iter())
            .filter(|(e, _)| wit::split_version(e).0 == super::RUN_INTERFACE)
            // The newest `run` a command exports, as `wasmtime run` picks
            // WASI 0.3's over 0.2's.
            .max_by_key(|(e, _)| {
                wit::split_version(e)
                    .1
                    .and_then(|v| semver::Version::parse(v).ok())
            })
            .map(|(e, c)| (e.clone(), c.clone()))
            .ok_or(RuntimeError::NoCommand)?;
        match self.call(&runner.1, &format!("{}#run", runner.0), &[]) {
            Ok(results) => {
                let ok = matches!(results.first(), Some(Val::Result(Ok(_))));
                Ok((runner.1, if ok { 0 } else { 1 }))
            }
            Err(RuntimeError::Exited { code, .. }) => Ok((runner.1, code)),
            Err(e) => Err(e),
        }
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
