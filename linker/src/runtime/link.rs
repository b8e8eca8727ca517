//! The two wasmtime steps after the unit plan: compile each unit (fused ones
//! through `weld-compose`), then link it — WASI and the host's interfaces,
//! the embedder's imports, host-linked imports and remote (wRPC) stubs — into
//! an [`InstancePre`] that every store reuses.

use super::engine::{self, CompileEvent, CompileProgress, CompileSource};
use super::error::{unit_label, RuntimeError};
use super::host::{self, HostState};
use super::tables::Tables;
use super::units::UnitPlan;
use super::{hostlinked, remote, HostImports};
use crate::deployment::Deployment;
use crate::fuse::{fuse_for_build, fuse_for_runtime, FuseOptions};
use crate::manifest::Strategy;
use crate::observe::{LinkKey, Observer};
use crate::plan::Resolution;
use crate::wit;
use crate::wrpc::client::{Credentials, QuicIdentity, Remote, DEFAULT_TIMEOUT};
use crate::wrpc::codec::Limits;
use crate::wrpc::Endpoint;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::Engine;

/// One compiled piece of the deployment: a component, or several fused.
pub(crate) struct Compiled {
    /// The manifest names of its components.
    pub members: Vec<String>,
    /// Export name → the member it comes from.
    pub exports: IndexMap<String, String>,
    pub component: Component,
    pub source: CompileSource,
}

/// A compiled and linked unit, ready to instantiate in any store.
pub(crate) struct Unit {
    pub members: Vec<String>,
    pub exports: IndexMap<String, String>,
    pub pre: InstancePre<HostState>,
    pub source: CompileSource,
    /// The remote imports (`import#function`) with typed stubs.
    pub typed_stubs: Vec<String>,
}

impl Unit {
    pub fn label(&self) -> String {
        unit_label(&self.members)
    }
}

/// Compiles every unit of `units`: a single component as it is, several
/// through an in-memory composition with the rule that formed the unit.
pub(crate) fn compile_units(
    deployment: &Deployment,
    units: &UnitPlan,
    force: Option<Strategy>,
    engine: &Engine,
    progress: Option<&CompileProgress>,
) -> Result<Vec<Compiled>, RuntimeError> {
    let mut compiled = Vec::with_capacity(units.units.len());
    for members in &units.units {
        let (bytes, exports): (Arc<[u8]>, IndexMap<String, String>) = if members.len() == 1 {
            let name = &members[0];
            let exports = deployment.components[name]
                .exports()
                .into_iter()
                .map(|e| (e.name, name.clone()))
                .collect();
            (Arc::clone(deployment.bytes(name)), exports)
        } else {
            let fuse_opts = FuseOptions {
                only: Some(members.clone()),
                host: None,
                exports: Some(members.clone()),
                // The same rule that formed the unit.
                fuse: Some(if force == Some(Strategy::Fused) {
                    fuse_for_build
                } else {
                    fuse_for_runtime
                }),
            };
            let composed = crate::fuse::fuse(deployment, &fuse_opts)?;
            (
                composed.bytes.into(),
                composed.exports.into_iter().collect(),
            )
        };
        let unit = unit_label(members);
        let mut started = None;
        let outcome = engine::compile_reporting(engine, &bytes, &mut || {
            started = Some(std::time::Instant::now());
            if let Some(p) = progress {
                p.report(CompileEvent::Started {
                    unit: &unit,
                    bytes: bytes.len(),
                });
            }
        });
        if let (Some(p), Some(started)) = (progress, started) {
            p.report(CompileEvent::Finished {
                unit: &unit,
                bytes: bytes.len(),
                elapsed: started.elapsed(),
            });
        }
        let (component, source) = outcome.map_err(|e| RuntimeError::Compile {
            unit: unit.clone(),
            source: e.into(),
        })?;
        tracing::debug!(members = ?members, ?source, "compiled unit");
        compiled.push(Compiled {
            members: members.clone(),
            exports,
            component,
            source,
        });
    }
    Ok(compiled)
}

/// What every unit of a host is linked with.
pub(crate) struct LinkInputs<'a> {
    pub deployment: &'a Deployment,
    pub units: &'a UnitPlan,
    pub engine: &'a Engine,
    /// The embedding application's own imports.
    pub imports: Option<&'a HostImports>,
    /// The host's stores use wasmtime's async entry points (see
    /// [`needs_async_entry`]): WASI 0.3 and the async WASI 0.2 are linked,
    /// and host-linked imports are concurrent host functions.
    pub asynchronous: bool,
    /// Where the links' calls are counted, when they are observed.
    pub observer: Option<&'a Observer>,
    /// The host linked.
    pub host: &'a str,
}

/// Links unit `idx`: host interfaces, the embedder's imports, host-linked
/// imports and wRPC stubs.
pub(crate) fn link_unit(
    inputs: &LinkInputs<'_>,
    idx: usize,
    c: Compiled,
    tables: &mut Tables,
) -> Result<Unit, RuntimeError> {
    let LinkInputs {
        deployment,
        units,
        engine,
        imports,
        asynchronous,
        observer,
        host,
    } = *inputs;
    let label = unit_label(&c.members);
    let link_err = |what: String| {
        let unit = label.clone();
        move |e: wasmtime::Error| RuntimeError::Link {
            unit,
            what,
            source: e.into(),
        }
    };
    let mut linker: Linker<HostState> = Linker::new(engine);
    let mut typed_stubs = Vec::new();

    let wrpc_errors: Vec<String> = c
        .component
        .component_type()
        .imports(engine)
        .map(|(n, _)| n.to_string())
        .filter(|n| wit::semver_compatible(n, wit::WRPC_ERROR_INTERFACE))
        .collect();
    host::add_host_interfaces(&mut linker, &wrpc_errors, asynchronous)
        .map_err(link_err("the host interfaces".into()))?;
    if let Some(imports) = imports {
        (imports.0)(&mut linker).map_err(link_err("the embedder's imports".into()))?;
    }
    for (_, r) in units.remote.iter().filter(|(u, _)| *u == idx) {
        let what = format!("import `{}`", r.import);
        let link = stub_link(deployment, r, observer, &mut tables.remotes).map_err(|e| {
            RuntimeError::Link {
                unit: label.clone(),
                what: what.clone(),
                source: e.into(),
            }
        })?;
        typed_stubs.extend(
            remote::define(&mut linker, engine, &c.component, link).map_err(link_err(what))?,
        );
    }
    for l in units.host_links.iter().filter(|l| l.caller == idx) {
        let observe = observer.map(|o| {
            let key = LinkKey {
                caller: l.component.clone(),
                callee: l.peer.clone(),
                interface: l.import.clone(),
                function: String::new(),
                transport: "host-linked".to_string(),
                peer_host: host.to_string(),
            };
            (o, key)
        });
        hostlinked::define(
            &mut linker,
            engine,
            &c.component,
            l,
            asynchronous,
            observe,
            tables,
        )
        .map_err(link_err(format!("import `{}`", l.import)))?;
    }
    let pre = linker
        .instantiate_pre(&c.component)
        .map_err(link_err("linking".into()))?;
    Ok(Unit {
        members: c.members,
        exports: c.exports,
        pre,
        source: c.source,
        typed_stubs,
    })
}

/// Whether `component` needs wasmtime's async entry points: it imports
/// WASI 0.3, whose host functions are concurrent, or it has an async
/// function, which the synchronous `call` cannot call. Hosts with no such
/// component keep the synchronous entry, the cheaper one.
pub(crate) fn needs_async_entry(component: &Component, engine: &Engine) -> bool {
    use wasmtime::component::types::ComponentItem;
    let ty = component.component_type();
    let has_async = |item: ComponentItem| match item {
        ComponentItem::ComponentFunc(f) => f.async_(),
        ComponentItem::ComponentInstance(i) => i
            .exports(engine)
            .any(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(f) if f.async_())),
        _ => false,
    };
    ty.imports(engine)
        .any(|(n, i)| wit::host_wasi(n) == Some(wit::WasiRelease::P3) || has_async(i.ty))
        || ty.exports(engine).any(|(_, e)| has_async(e.ty))
}

/// What `component`'s host presents to `endpoint`: its TLS identity on
/// QUIC, its NATS credentials on NATS, nothing elsewhere.
fn caller_credentials(
    deployment: &Deployment,
    component: &str,
    endpoint: &Endpoint,
) -> Result<Credentials, StubError> {
    let host = deployment.manifest.host_of(component);
    Ok(match endpoint {
        Endpoint::Quic { .. } => Credentials {
            quic: Some(caller_identity(deployment, host)?),
            ..Credentials::default()
        },
        Endpoint::Nats { .. } => Credentials {
            nats: deployment
                .manifest
                .nats_auth(host)
                .map_err(|source| StubError::NatsAuth {
                    host: host.to_string(),
                    source,
                })?,
            ..Credentials::default()
        },
        Endpoint::Tcp { .. } | Endpoint::Unix { .. } => Credentials::default(),
    })
}

/// The QUIC client side of `host`'s TLS identity: what its calls present,
/// read again for a new connection when its files change.
fn caller_identity(deployment: &Deployment, host: &str) -> Result<QuicIdentity, StubError> {
    let files = deployment
        .manifest
        .identity_files(host)
        .ok_or_else(|| StubError::NoIdentity {
            host: host.to_string(),
        })?;
    QuicIdentity::load(files).map_err(|source| StubError::Identity {
        host: host.to_string(),
        source,
    })
}

/// Why a wrpc resolution cannot become a stub.
#[derive(Debug, thiserror::Error)]
enum StubError {
    #[error("host `{host}` calls over QUIC but has no TLS identity")]
    NoIdentity { host: String },
    #[error("host `{host}`: its TLS identity cannot be used")]
    Identity {
        host: String,
        #[source]
        source: crate::wrpc::tls::TlsError,
    },
    #[error("host `{host}`: its NATS credentials cannot be used")]
    NatsAuth {
        host: String,
        #[source]
        source: crate::wrpc::nats_auth::NatsAuthError,
    },
    #[error("the plan gives this wrpc link no endpoint")]
    NoEndpoint,
    #[error("not an interface import")]
    NotAnInterface,
    #[error("it defines resource `{resource}`: handles cannot cross a wrpc link (weld's wRPC stubs carry values only); place `{component}` and `{peer}` on one host")]
    Resource {
        resource: String,
        component: String,
        peer: String,
    },
}

/// The stub of one wrpc resolution: its endpoint's client (shared by all
/// links to that endpoint), timeout and which functions are wRPC-safe.
fn stub_link(
    deployment: &Deployment,
    r: &Resolution,
    observer: Option<&Observer>,
    remotes: &mut HashMap<Endpoint, Arc<Remote>>,
) -> Result<remote::StubLink, StubError> {
    let endpoint = r.endpoint.clone().ok_or(StubError::NoEndpoint)?;
    let transport = endpoint.kind();
    let peer = r.peer.as_deref().unwrap_or("?");
    let peer_host = deployment.plan.host_of(peer).unwrap_or("?");
    let info = &deployment.components[&r.component];
    let iface = info
        .import_interface(&r.import)
        .ok_or(StubError::NotAnInterface)?;
    let resolve = &info.resolve;
    if let Some(res) = wit::resources_of(resolve, iface).first() {
        return Err(StubError::Resource {
            resource: res.clone(),
            component: r.component.clone(),
            peer: peer.to_string(),
        });
    }
    let safe = resolve.interfaces[iface]
        .functions
        .iter()
        .map(|(name, f)| (name.clone(), wit::is_wrpc_safe(resolve, f)))
        .collect();
    let remote = match remotes.get(&endpoint) {
        Some(remote) => remote,
        None => {
            let credentials = caller_credentials(deployment, &r.component, &endpoint)?;
            remotes
                .entry(endpoint.clone())
                .or_insert(Arc::new(Remote::with_credentials(endpoint, credentials)))
        }
    };
    let observe = observer.map(|o| {
        let key = LinkKey {
            caller: r.component.clone(),
            callee: peer.to_string(),
            interface: r.import.clone(),
            function: String::new(),
            transport: transport.to_string(),
            peer_host: peer_host.to_string(),
        };
        (o.clone(), key)
    });
    Ok(remote::StubLink {
        observe,
        import: r.import.clone(),
        label: format!("`{}` → `{peer}` on host `{peer_host}`", r.component),
        remote: Arc::clone(remote),
        timeout: r
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT),
        safe,
        limits: Limits::DEFAULT,
    })
}
