//! A call checked against a component's types before the deployment
//! compiles: an unknown function or a wrong argument of `--invoke` is
//! reported in milliseconds, not after a minute of compiling a guest-
//! language component.
//!
//! The types come from the component's WIT (already decoded at
//! introspection): a stand-in component with the same world and empty
//! bodies (`wit_component::dummy_module`) compiles in milliseconds, and
//! its function types are exactly the ones the call is read against later,
//! so the same checker and the same name rules apply.

use super::deployed::find_function;
use super::invoke::{Call, InvokeError};
use super::RuntimeError;
use crate::deployment::Deployment;
use crate::introspect::ComponentInfo;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::Component;

/// Checks the call `text` against the types of the component it names, on
/// the host that will run (`host`, or the deployment's only one).
///
/// # Errors
/// [`PrecheckError::Parse`] when the text does not read as a call of a
/// component on that host, [`PrecheckError::Check`] with the errors of
/// [`check_call`]. A host that cannot be chosen is not an error here: the
/// runtime reports it.
pub fn check_text(
    deployment: &Deployment,
    host: Option<&str>,
    text: &str,
) -> Result<(), PrecheckError> {
    let Ok(host) = deployment.plan.choose_host(host) else {
        return Ok(());
    };
    let here: Vec<&String> = deployment
        .manifest
        .components
        .keys()
        .filter(|c| deployment.manifest.host_of(c) == host)
        .collect();
    let call = Call::parse_in(text, &here)?;
    match deployment.components.get(&call.component) {
        Some(info) => Ok(check_call(info, &call)?),
        None => Ok(()),
    }
}

/// Why a call text was refused before compiling.
#[derive(Debug, thiserror::Error)]
pub enum PrecheckError {
    /// The text does not read as a call of a component on the host.
    #[error(transparent)]
    Parse(#[from] InvokeError),
    /// The component has no such function, or an argument does not fit.
    #[error(transparent)]
    Check(#[from] RuntimeError),
}

/// Checks `call` (its function and its arguments) against `info`, the
/// types of the component it names.
///
/// # Errors
/// [`RuntimeError::NoSuchFunction`] when the component exports no such
/// function (or several), [`RuntimeError::BadArguments`] when an argument
/// does not fit its parameter: the same errors the call would get after
/// compiling. When no stand-in can be built for the world (a shape the
/// stand-in encoder does not cover), nothing is checked here and the call
/// is checked after compiling, as before.
pub fn check_call(info: &ComponentInfo, call: &Call) -> Result<(), RuntimeError> {
    let Some((engine, component)) = stand_in(info) else {
        return Ok(());
    };
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(&engine)
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    let (func, _) = find_function(&call.component, &call.function, &exports, |export, name| {
        lookup(&ty, &engine, export, name)
    })?;
    call.params_for(&func)
        .map(drop)
        .map_err(|e| RuntimeError::BadArguments(e.to_string()))
}

/// The type of function `name` in exported interface `export` (`""`: the
/// root).
fn lookup(
    ty: &wasmtime::component::types::Component,
    engine: &wasmtime::Engine,
    export: &str,
    name: &str,
) -> Option<ComponentFunc> {
    let item = if export.is_empty() {
        ty.get_export(engine, name)?.ty
    } else {
        match ty.get_export(engine, export)?.ty {
            ComponentItem::ComponentInstance(i) => i.get_export(engine, name)?.ty,
            _ => return None,
        }
    };
    match item {
        ComponentItem::ComponentFunc(f) => Some(f),
        _ => None,
    }
}

/// A component with `info`'s world and empty bodies, compiled without
/// optimisation on an engine of its own.
fn stand_in(info: &ComponentInfo) -> Option<(wasmtime::Engine, Component)> {
    let mut module = wit_component::dummy_module(
        &info.resolve,
        info.world,
        wit_parser::ManglingAndAbi::Standard32,
    );
    wit_component::embed_component_metadata(
        &mut module,
        &info.resolve,
        info.world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .ok()?;
    let bytes = wit_component::ComponentEncoder::default()
        .module(&module)
        .ok()?
        .validate(false)
        .encode()
        .ok()?;
    let mut config = wasmtime::Config::new();
    config
        .wasm_component_model(true)
        .cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = wasmtime::Engine::new(&config).ok()?;
    let component = Component::new(&engine, &bytes).ok()?;
    Some((engine, component))
}
