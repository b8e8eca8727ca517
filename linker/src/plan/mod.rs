//! The plan: every import of every component with exactly one
//! resolution — `compose`, `in-process`, `wrpc` or `host` — and a one-line
//! reason; the hosts, providers and exposed interfaces; the one place a
//! host is chosen ([`Plan::choose_host`]).
//!
//! * [`resolve`]: the planner, which makes a plan from a manifest and its
//!   components' types, or reports every error at once;
//! * [`cost`]: what a link costs, once the `cost` module's `annotate` has
//!   estimated it (that module reads the plan; the plan never calls it);
//! * `ingress`: the hosts that serve HTTP handlers, and their routes;
//! * `render`: the plan as a table and as a Graphviz graph.

use crate::diagnostic::{quoted, Diagnostic};
use crate::manifest::Strategy;
use crate::wrpc::Endpoint;
use serde::Serialize;
use std::path::PathBuf;

pub mod cost;
mod ingress;
mod render;
pub mod resolve;
mod security;

pub use ingress::{Ingress, Route};
pub use resolve::{plan, plan_with};
pub use security::{Access, Callers, Security};

/// How a resolved import is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Fused at build time into one artifact.
    Compose,
    /// Called in the same wasmtime `Store`.
    InProcess,
    /// Called over wRPC.
    Wrpc,
    /// Provided by the host (WASI, the wRPC error resource).
    Host,
}

impl Transport {
    /// The name used in the manifest, the table and the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Compose => "compose",
            Transport::InProcess => "in-process",
            Transport::Wrpc => "wrpc",
            Transport::Host => "host",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component placed on a host.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedComponent {
    /// Name from the manifest.
    pub name: String,
    /// Host it runs on.
    pub host: String,
    /// Path of its file (absent for a component given as bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The hosts its outgoing HTTP requests may reach (`http-out`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_out: Vec<crate::manifest::OutboundHost>,
}

/// An external wRPC server a deployment links to.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedProvider {
    /// Name from the manifest.
    pub name: String,
    /// The host it is reached at.
    pub host: String,
    /// Where it serves.
    pub endpoint: Endpoint,
    /// The WIT it is known by.
    pub wit: PathBuf,
    /// The interfaces it serves.
    pub exports: Vec<String>,
}

/// An interface a host serves to callers outside the manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Exposed {
    /// The host serving it.
    pub host: String,
    /// The component implementing it.
    pub component: String,
    /// The interface, served under exactly this name.
    pub interface: String,
    /// Its functions, in WIT order.
    pub functions: Vec<String>,
    /// The callers the `expose` entry names, by their certificates'
    /// identities; absent when it names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callers: Option<Vec<String>>,
}

/// The resolution of one import of one component.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// The importing component.
    pub component: String,
    /// The imported interface, as the importer names it.
    pub import: String,
    /// How it is carried.
    pub transport: Transport,
    /// The exporting component (absent for `host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// The exporter's interface name (differs from `import` when a
    /// semver-compatible version was matched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<String>,
    /// Where the peer serves wRPC (for `wrpc`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// How an `in-process` link is realised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// A transport failure traps the caller instead of returning an error.
    pub allow_trap: bool,
    /// Per-call timeout for `wrpc`, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Whether a `[[link]]` asked for it (otherwise matched by name).
    pub explicit: bool,
    /// Whether the peer is a provider: an external wRPC server weld does
    /// not run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provider: bool,
    /// Why this resolution, in one line.
    pub reason: String,
    /// The estimated cost of a call (`weld plan --costs`), absent
    /// otherwise.
    #[serde(flatten)]
    pub cost: Option<cost::LinkCost>,
    /// How a `wrpc` link is secured (from its endpoint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    /// Whether weld runs code on each call of the link, and so can count
    /// it (`weld serve --metrics`): a wRPC or host-linked link. A fused
    /// or composed call runs none; `observe = true` on a link plans it
    /// host-linked.
    pub observed: bool,
    /// The link's `observe = true`: planned host-linked so that its calls
    /// are counted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub observe: bool,
    /// What the link's calls cost while a host ran them (`weld plan
    /// --costs` given a host's metrics), absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<cost::MeasuredCost>,
}

impl Resolution {
    /// Whether weld runs code on each call of a link of this transport
    /// and strategy.
    pub fn observable(transport: Transport, strategy: Option<Strategy>) -> bool {
        transport == Transport::Wrpc
            || (transport == Transport::InProcess && strategy == Some(Strategy::HostLinked))
    }
}

/// The fields of `weld plan --json` (in a [`crate::json::Document`]): the
/// plan's, then what its costs rest on when they were estimated.
#[derive(Debug, Serialize)]
pub struct PlanReport<'a, C> {
    /// The plan.
    #[serde(flatten)]
    pub plan: &'a Plan,
    /// What the link costs rest on (`weld plan --costs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub costs: Option<C>,
}

/// A complete plan: every import of every component resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The manifest it was made from.
    pub manifest: PathBuf,
    /// Components in manifest order.
    pub components: Vec<PlannedComponent>,
    /// Providers (external wRPC servers) in manifest order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<PlannedProvider>,
    /// Interfaces hosts serve to callers outside the manifest (`expose`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<Exposed>,
    /// Who may call each interface each host serves over wRPC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub access: Vec<Access>,
    /// Hosts that serve HTTP handlers, with their routes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<Ingress>,
    /// Resolutions, grouped by component in manifest order, then by import
    /// order within each component.
    pub resolutions: Vec<Resolution>,
    /// Settings that have no effect (e.g. `allow-trap` on an in-process
    /// link): the plan is complete, but the manifest says something it does
    /// not mean.
    pub warnings: Vec<Diagnostic>,
}

/// What the planner is told besides the manifest and the components.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Interfaces the embedding application defines itself: an import of
    /// one that no `[[link]]` names resolves to the host.
    pub provided: Vec<String>,
    /// Refuse every `wrpc` link whose bytes would travel unencrypted
    /// beyond this machine ([`Security::is_exposed`]).
    pub strict_security: bool,
}

/// Why no host could be chosen to run or serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostChoiceError {
    /// The host asked for has no component.
    #[error("no component is placed on host `{host}` (hosts: {hosts})")]
    Unknown {
        /// The host asked for.
        host: String,
        /// The hosts that have components.
        hosts: String,
    },
    /// No host was asked for and there are several.
    #[error("the deployment spans several hosts ({hosts}); choose one")]
    Several {
        /// The hosts.
        hosts: String,
    },
}

impl Plan {
    /// The host to run or serve: `requested` when it has components, or the
    /// deployment's only host. The one place weld chooses a host.
    ///
    /// # Errors
    /// [`HostChoiceError`] when `requested` has no components, or none is
    /// requested and the deployment spans several hosts.
    pub fn choose_host(&self, requested: Option<&str>) -> Result<String, HostChoiceError> {
        let hosts = self.hosts();
        match requested {
            Some(h) if hosts.contains(h) => Ok(h.to_string()),
            Some(h) => Err(HostChoiceError::Unknown {
                host: h.to_string(),
                hosts: quoted(hosts),
            }),
            None if hosts.len() == 1 => Ok(hosts[0].to_string()),
            None => Err(HostChoiceError::Several {
                hosts: quoted(hosts),
            }),
        }
    }

    /// Resolutions of one component's imports.
    pub fn imports_of<'a>(
        &'a self,
        component: &'a str,
    ) -> impl Iterator<Item = &'a Resolution> + 'a {
        self.resolutions
            .iter()
            .filter(move |r| r.component == component)
    }

    /// The hosts components are placed on, in manifest order.
    pub fn hosts(&self) -> indexmap::IndexSet<&str> {
        self.components.iter().map(|c| c.host.as_str()).collect()
    }

    /// Who may call `instance` served by `host`: as the plan decided, or
    /// anyone for an instance it does not name (none is served).
    pub fn callers_of(&self, host: &str, instance: &str) -> Callers {
        self.access
            .iter()
            .find(|a| a.host == host && a.instance == instance)
            .map_or(Callers::Anyone, |a| a.callers.clone())
    }

    /// The HTTP ingress of `host`, if it has handlers.
    pub fn ingress_of(&self, host: &str) -> Option<&Ingress> {
        self.ingress.iter().find(|i| i.host == host)
    }

    /// The host a component runs on, or a provider is reached at.
    pub fn host_of(&self, component: &str) -> Option<&str> {
        self.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| c.host.as_str())
            .or_else(|| {
                self.providers
                    .iter()
                    .find(|p| p.name == component)
                    .map(|p| p.host.as_str())
            })
    }
}
