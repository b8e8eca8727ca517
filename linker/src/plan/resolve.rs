//! The planner: every import of every component gets exactly one resolution
//! — `compose`, `in-process`, `wrpc` or `host` — with a one-line reason, or
//! an error that names the edge.
//!
//! Rules, in order:
//! 1. `wasi:*` and `wrpc:rpc/error` imports come from the host, unless a
//!    `[[link]]` names them.
//! 2. An explicit `[[link]]` wins.
//! 3. Otherwise the import is matched by interface name (or a
//!    semver-compatible version) when exactly one other component exports
//!    it; none or several is an error listing the candidates.
//! 4. `auto` becomes `in-process` on the same host and `wrpc` across hosts;
//!    `wrpc` needs every function of the interface to be wRPC-safe unless
//!    the link says `allow-trap = true`.
//! 5. Every link is type-checked ([`crate::check`]); link cycles are errors.
//!
//! The planner never stops at the first error: a [`Diagnostics`] holds them
//! all.

use super::{
    Access, Exposed, Plan, PlanOptions, PlannedComponent, PlannedProvider, Resolution, Security,
    Transport,
};
use crate::check::{check_interface, Side};
use crate::diagnostic::{quoted, Diagnostic, DiagnosticKind, Diagnostics, Location};
use crate::introspect::{ComponentInfo, ItemKind};
use crate::manifest::{Endpoint, InstancePolicy, LinkSpec, Manifest, Strategy, TransportChoice};
use crate::wit;
use indexmap::IndexMap;
use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use std::fmt::Write as _;

struct Planner<'a> {
    manifest: &'a Manifest,
    components: &'a IndexMap<String, ComponentInfo>,
    providers: &'a IndexMap<String, ComponentInfo>,
    options: &'a PlanOptions,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// Resolves every import of every component of `manifest`.
///
/// # Errors
/// Every problem found at once, as [`Diagnostics`]: no exporter or several, a
/// type mismatch, a transport the link cannot have, a cycle.
pub fn plan(
    manifest: &Manifest,
    components: &IndexMap<String, ComponentInfo>,
) -> Result<Plan, Diagnostics> {
    plan_with(
        manifest,
        components,
        &IndexMap::new(),
        &PlanOptions::default(),
    )
}

/// [`plan`] with the providers' types (read from their WIT) and options.
///
/// # Errors
/// As [`plan`].
pub fn plan_with(
    manifest: &Manifest,
    components: &IndexMap<String, ComponentInfo>,
    providers: &IndexMap<String, ComponentInfo>,
    options: &PlanOptions,
) -> Result<Plan, Diagnostics> {
    let mut p = Planner {
        manifest,
        components,
        providers,
        options,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut resolutions = p.resolve_all();
    p.check_cycles(&resolutions);
    p.check_observed(&resolutions);
    let exposed = p.exposed();
    let access = p.access(&mut resolutions, &exposed);
    let ingress = super::ingress::plan_ingress(manifest, components, &mut p.errors);
    if !p.errors.is_empty() {
        return Err(Diagnostics(p.errors));
    }
    Ok(Plan {
        manifest: manifest.file.clone(),
        providers: manifest
            .providers
            .iter()
            .map(|(name, spec)| PlannedProvider {
                name: name.clone(),
                host: manifest.host_of(name).to_string(),
                endpoint: manifest.endpoint_of(manifest.host_of(name)),
                wit: manifest.provider_wit(name).expect("a provider"),
                exports: spec
                    .get_ref()
                    .exports
                    .iter()
                    .map(|e| e.get_ref().clone())
                    .collect(),
            })
            .collect(),
        exposed,
        access,
        ingress,
        components: manifest
            .components
            .keys()
            .map(|name| PlannedComponent {
                name: name.clone(),
                host: manifest.host_of(name).to_string(),
                path: manifest.component_path(name),
                http_out: manifest.components[name].get_ref().http_out().to_vec(),
            })
            .collect(),
        resolutions,
        warnings: p.warnings,
    })
}

impl Planner<'_> {
    /// The types of a component or a provider.
    fn info(&self, name: &str) -> &ComponentInfo {
        self.components
            .get(name)
            .or_else(|| self.providers.get(name))
            .expect("peers are components or providers")
    }

    /// Each host's `expose` entries, checked: the component exports the
    /// interface under exactly that name, and it can be served (no
    /// resources, no async functions).
    fn exposed(&mut self) -> Vec<Exposed> {
        let mut out = Vec::new();
        for (host, spec) in &self.manifest.hosts {
            for entry in &spec.get_ref().expose {
                let at = self.manifest.locate_host(host, entry.span());
                let (entry, callers) = (&entry.get_ref().interface, &entry.get_ref().callers);
                let Some(r) = Manifest::split_import(entry) else {
                    continue; // reported by the manifest
                };
                let Some(info) = self.components.get(&r.component) else {
                    continue;
                };
                let label = format!("host `{host}` expose `{entry}`");
                let exports = info.exports();
                let Some(iface) = exports
                    .iter()
                    .find(|e| e.name == r.interface)
                    .and_then(|e| e.interface)
                else {
                    let names = quoted(
                        exports
                            .iter()
                            .filter(|e| e.kind == ItemKind::Interface)
                            .map(|e| &e.name),
                    );
                    self.errors.push(
                        Diagnostic::new(format!(
                            "{label}: `{}` does not export `{}` (an exposed interface is served under its exact name)",
                            r.component, r.interface
                        )).with_kind(DiagnosticKind::NoExporter)
                        .at(at)
                        .with_help(if names.is_empty() {
                            format!("`{}` exports no interfaces", r.component)
                        } else {
                            format!("`{}` exports {names}", r.component)
                        }),
                    );
                    continue;
                };
                let resolve = &info.resolve;
                if let Some(res) = wit::resources_of(resolve, iface).first() {
                    self.errors.push(
                        Diagnostic::new(format!(
                            "{label}: cannot serve it: the interface defines resource `{res}`, and resource handles cannot cross wRPC"
                        )).with_kind(DiagnosticKind::WrpcUnsupported)
                        .at(at),
                    );
                    continue;
                }
                let functions = &resolve.interfaces[iface].functions;
                if let Some(why) = wit::interface_wrpc_async_obstacle(resolve, iface) {
                    self.errors.push(
                        Diagnostic::new(format!(
                            "{label}: cannot serve it: {why}, which weld's wRPC framing cannot carry"
                        )).with_kind(DiagnosticKind::WrpcUnsupported)
                        .at(at),
                    );
                    continue;
                }
                if let Some(first) = out
                    .iter()
                    .find(|e: &&Exposed| e.host == *host && e.interface == r.interface)
                {
                    // One name on one host is one served instance: two
                    // entries would merge their callers, or serve one
                    // component under the other's name.
                    self.errors.push(
                        Diagnostic::new(format!(
                            "{label}: host `{host}` already exposes `{}` (from `{}`); an interface is served once per host",
                            r.interface, first.component
                        ))
                        .with_kind(DiagnosticKind::Duplicate)
                        .at(at),
                    );
                    continue;
                }
                out.push(Exposed {
                    host: host.clone(),
                    component: r.component,
                    interface: r.interface,
                    functions: functions.keys().cloned().collect(),
                    callers: callers.clone(),
                });
            }
        }
        out
    }

    /// Who may call each interface each host serves ([`security::access`]),
    /// written into the security of each link that calls one. A calling
    /// host's identity is the one its certificate names; a certificate
    /// that names none is an error where a link needs it.
    fn access(&mut self, resolutions: &mut [Resolution], exposed: &[Exposed]) -> Vec<Access> {
        let mut identities: IndexMap<String, Option<String>> = IndexMap::new();
        let mut linked = Vec::new();
        // Providers are not weld's to serve: who may call them is theirs.
        for r in resolutions.iter().filter(|r| !r.provider) {
            let (Some(peer), Transport::Wrpc) = (&r.peer, r.transport) else {
                continue;
            };
            let caller = self.manifest.host_of(&r.component);
            let identity = match r.endpoint {
                Some(Endpoint::Quic { .. }) => {
                    if !identities.contains_key(caller) {
                        let identity = self.host_identity(caller);
                        identities.insert(caller.to_string(), identity);
                    }
                    identities[caller].clone()
                }
                _ => None,
            };
            linked.push((self.manifest.host_of(peer), r.import.as_str(), identity));
        }
        let manifest = self.manifest;
        let access = super::security::access(
            |host| matches!(manifest.endpoint_of(host), Endpoint::Quic { .. }),
            linked,
            exposed
                .iter()
                .map(|e| (e.host.as_str(), e.interface.as_str(), e.callers.as_deref())),
        );
        for r in resolutions.iter_mut() {
            if let (Some(security), Some(peer)) = (&mut r.security, &r.peer) {
                let host = self.manifest.host_of(peer);
                if let Some(a) = access
                    .iter()
                    .find(|a| a.host == host && a.instance == r.import)
                {
                    security.callers = a.callers.clone();
                }
            }
        }
        access
    }

    /// The identity `host`'s certificate names, for the callers it is
    /// allowed as; `None` when it has no certificate or the certificate
    /// cannot be read (the manifest reports both).
    fn host_identity(&mut self, host: &str) -> Option<String> {
        let files = self.manifest.identity_files(host)?;
        match crate::wrpc::tls::certificate_identity(&files.cert) {
            Ok(Some(identity)) => Some(identity),
            Ok(None) => {
                self.errors.push(
                    Diagnostic::new(format!(
                        "host `{host}`: certificate `{}` names no identity (no URI or DNS subject alternative name), so it cannot be allowed to call",
                        files.cert.display()
                    ))
                    .with_kind(DiagnosticKind::Identity),
                );
                None
            }
            Err(_) => None,
        }
    }

    fn link_location(&self, link: &toml::Spanned<LinkSpec>) -> Option<Location> {
        self.manifest.locate(link.span())
    }

    fn resolve_all(&mut self) -> Vec<Resolution> {
        // Explicit links by (component, interface); validated by the manifest.
        let mut explicit: IndexMap<(String, String), &toml::Spanned<LinkSpec>> = IndexMap::new();
        for link in &self.manifest.links {
            if let Some(r) = Manifest::split_import(link.get_ref().import.get_ref()) {
                explicit.insert((r.component, r.interface), link);
            }
        }

        // Links naming an import the component does not have.
        for ((component, interface), link) in &explicit {
            let Some(info) = self.components.get(component) else {
                continue;
            };
            let imports = info.imports();
            if !imports
                .iter()
                .any(|i| &i.name == interface && i.kind == ItemKind::Interface)
            {
                let names = quoted(
                    imports
                        .iter()
                        .filter(|i| i.kind == ItemKind::Interface)
                        .map(|i| &i.name),
                );
                self.errors.push(
                    Diagnostic::new(format!(
                        "component `{component}` does not import `{interface}`"
                    ))
                    .with_kind(DiagnosticKind::NoImport)
                    .at(self.manifest.locate(link.get_ref().import.span()))
                    .with_help(if names.is_empty() {
                        format!("`{component}` imports no interfaces")
                    } else {
                        format!("`{component}` imports {names}")
                    }),
                );
            }
        }

        let mut out = Vec::new();
        for (name, info) in self.components {
            for item in info.imports() {
                let key = (name.clone(), item.name.clone());
                let link = explicit.get(&key).copied();
                if item.kind != ItemKind::Interface {
                    if item.kind == ItemKind::Function {
                        self.errors.push(Diagnostic::new(format!(
                            "component `{name}` imports the function `{}` at the root of its world; weld links interfaces only",
                            item.name
                        )).with_kind(DiagnosticKind::Unsupported));
                    }
                    continue;
                }
                if let Some(r) = self.resolve_one(name, &item.name, link) {
                    out.push(r);
                }
            }
            self.warn_unused_http_out(name, info);
        }
        out
    }

    /// A warning for `http-out` on a component that sends no HTTP request:
    /// a grant that reads as if it did something.
    fn warn_unused_http_out(&mut self, name: &str, info: &ComponentInfo) {
        let Some(http_out) = self
            .manifest
            .components
            .get(name)
            .and_then(|s| s.get_ref().http_out.as_ref())
        else {
            return;
        };
        if info
            .imports()
            .iter()
            .any(|i| wit::http_outgoing(&i.name).is_some())
        {
            return;
        }
        self.warnings.push(
            Diagnostic::new(format!(
                "component `{name}`: `http-out` has no effect: it imports neither {}",
                wit::HTTP_OUTGOING.replace("` or `", "` nor `")
            ))
            .with_kind(DiagnosticKind::UnusedSetting)
            .at(self.manifest.locate(http_out.span())),
        );
    }

    /// One import: its peer, the type check, the transport, the reason.
    fn resolve_one(
        &mut self,
        component: &str,
        import: &str,
        link: Option<&toml::Spanned<LinkSpec>>,
    ) -> Option<Resolution> {
        let edge = Edge {
            component,
            import,
            label: format!("component `{component}` import `{import}`"),
        };
        if link.is_none() {
            if let Some(release) = wit::http_outgoing(import) {
                match self.outgoing(component, import, release) {
                    Outgoing::Granted(r) => return Some(*r),
                    Outgoing::Refused => return None,
                    Outgoing::ToAComponent => {}
                }
            }
            if let Some(reason) = self.host_provides(import) {
                return Some(Resolution::host(component, import, reason));
            }
        }
        let peer = self.find_peer(&edge, link)?;
        let types_ok = self.check_types(&edge, &peer);
        let transport = self.choose_transport(&edge, &peer, link);
        if !(types_ok && transport.is_some()) {
            return None;
        }
        let (transport, choice) = transport.expect("checked");
        let spec = link.map(|l| l.get_ref());
        let host_a = self.manifest.host_of(component);
        let host_b = self.manifest.host_of(&peer.name);
        let observe = spec.is_some_and(|s| s.observe);
        let strategy = (transport == Transport::InProcess).then(|| {
            spec.and_then(|s| s.strategy)
                // A fused call runs no weld code that could count it.
                .or(observe.then_some(Strategy::HostLinked))
                .or_else(|| {
                    self.manifest
                        .hosts
                        .get(host_a)
                        .and_then(|h| h.get_ref().strategy)
                })
                .unwrap_or(Strategy::Fused)
        });
        if let Some(link) = link {
            self.warn_unused(&edge.label, link, transport);
            if observe && strategy == Some(Strategy::Fused) {
                self.errors.push(
                    Diagnostic::new(format!(
                        "{}: `observe = true` with `strategy = \"fused\"`: a fused call runs no weld code, so it cannot be counted; drop one of them",
                        edge.label
                    ))
                    .with_kind(DiagnosticKind::InvalidValue)
                    .at(self.link_location(link)),
                );
            }
        }
        let allow_trap = spec.is_some_and(|s| s.allow_trap);
        let security = (transport == Transport::Wrpc)
            .then(|| Security::of(&self.manifest.endpoint_of(host_b)));
        if let Some(security) = &security {
            self.check_caller_identity(&edge.label, host_a, host_b, link);
            self.check_strict_security(&edge.label, host_b, security, link);
        }
        Some(Resolution {
            component: component.to_string(),
            import: import.to_string(),
            transport,
            endpoint: (transport == Transport::Wrpc).then(|| self.manifest.endpoint_of(host_b)),
            strategy,
            allow_trap,
            timeout_ms: spec
                .and_then(|s| s.timeout_ms)
                .filter(|_| transport == Transport::Wrpc),
            explicit: link.is_some(),
            provider: self.manifest.is_provider(&peer.name),
            reason: reason(&peer, import, choice, transport, host_a, host_b, allow_trap)
                + observed_note(transport, strategy, observe)
                + &self.serving_note(&peer, transport),
            observed: Resolution::observable(transport, strategy),
            observe: observe && transport == Transport::InProcess,
            measured: None,
            peer: Some(peer.name),
            export: Some(peer.export),
            cost: None,
            security,
        })
    }

    /// A call over QUIC presents the calling host's certificate: a host
    /// without an identity cannot make one.
    fn check_caller_identity(
        &mut self,
        edge: &str,
        caller: &str,
        callee: &str,
        link: Option<&toml::Spanned<LinkSpec>>,
    ) {
        let quic = matches!(self.manifest.endpoint_of(callee), Endpoint::Quic { .. });
        let has_identity = self
            .manifest
            .hosts
            .get(caller)
            .is_some_and(|h| h.get_ref().tls.is_some());
        if quic && !has_identity {
            self.errors.push(
                Diagnostic::new(format!(
                    "{edge}: host `{callee}` is reached over QUIC, which needs the calling host `{caller}`'s TLS identity"
                ))
                .with_kind(DiagnosticKind::Identity)
                .at(link.and_then(|l| self.link_location(l)))
                .with_help(format!(
                    "give it one under [hosts.{caller}]: tls = {{ cert = \"{caller}.pem\", key = \"{caller}.key\", ca = \"ca.pem\" }}"
                )),
            );
        }
    }

    /// Under `strict_security`, a link whose bytes would travel in the
    /// clear beyond this machine is refused.
    fn check_strict_security(
        &mut self,
        edge: &str,
        callee: &str,
        security: &Security,
        link: Option<&toml::Spanned<LinkSpec>>,
    ) {
        if !(self.options.strict_security && security.is_exposed()) {
            return;
        }
        let endpoint = self.manifest.endpoint_of(callee);
        self.errors.push(
            Diagnostic::new(format!(
                "{edge}: the link to host `{callee}` ({endpoint}) would carry its calls unencrypted beyond this machine"
            ))
            .with_kind(DiagnosticKind::Insecure)
            .at(link.and_then(|l| self.link_location(l)))
            .with_help(format!(
                "serve host `{callee}` over QUIC with TLS identities (wrpc = {{ transport = \"quic\", … }} and tls = {{ cert, key, ca }}), NATS over tls://, or keep the link on this machine"
            )),
        );
    }

    /// How the peer of a wrpc link serves it: one shared instance runs its
    /// calls one at a time, which a reader of the plan should see.
    fn serving_note(&self, peer: &Peer, transport: Transport) -> String {
        if transport != Transport::Wrpc {
            return String::new();
        }
        if self.manifest.is_provider(&peer.name) {
            return format!(
                "; `{}` is an external wRPC server weld does not run",
                peer.name
            );
        }
        match self.manifest.components[&peer.name].get_ref().instances() {
            InstancePolicy::Shared => {
                format!(
                    "; `{}` serves it from one shared instance, one call at a time",
                    peer.name
                )
            }
            InstancePolicy::PerCall => {
                format!("; `{}` serves it from a fresh instance per call", peer.name)
            }
        }
    }

    /// An outgoing `wasi:http` import: provided by the host to a component
    /// granted `http-out`, else by a component that exports it, else
    /// refused, saying where the grant goes.
    fn outgoing(&mut self, component: &str, import: &str, release: wit::WasiRelease) -> Outgoing {
        let spec = self.manifest.components.get(component).map(|s| s.get_ref());
        let granted = spec.map_or(&[][..], |s| s.http_out());
        if !granted.is_empty() {
            let hosts: Vec<String> = granted.iter().map(|h| format!("`{h}`")).collect();
            let reason = format!(
                "outgoing HTTP (WASI {}), provided by the host to {} only",
                release.version(),
                hosts.join(", ")
            );
            return Outgoing::Granted(Box::new(Resolution::host(component, import, &reason)));
        }
        let exported = self
            .components
            .iter()
            .chain(self.providers)
            .any(|(n, info)| n != component && info.find_export(import).is_some());
        if exported {
            return Outgoing::ToAComponent;
        }
        let mut d = Diagnostic::new(format!(
            "component `{component}` imports `{import}` (outgoing HTTP), which the manifest does not grant it"
        ))
        .with_kind(DiagnosticKind::NotGranted)
        .with_help(format!(
            "list the hosts it may reach under [components.{component}]: http-out = [\"api.example.com\", \"127.0.0.1:8080\"]"
        ));
        if let Some(http_out) = spec.and_then(|s| s.http_out.as_ref()) {
            d = d.at(self.manifest.locate(http_out.span()));
        }
        self.errors.push(d);
        Outgoing::Refused
    }

    /// Why the host provides `import` without a link, if it does.
    fn host_provides(&self, import: &str) -> Option<&'static str> {
        if let Some(release) = wit::host_wasi(import) {
            Some(release.reason())
        } else if wit::is_host_interface(import) {
            Some("wRPC error resource, provided by weld")
        } else if self.options.provided.iter().any(|p| p == import) {
            Some("provided by the embedding application")
        } else {
            None
        }
    }

    /// The component that satisfies the import: the link's, or the only
    /// one exporting the interface (or a semver-compatible version).
    fn find_peer(&mut self, edge: &Edge, link: Option<&toml::Spanned<LinkSpec>>) -> Option<Peer> {
        let manifest = self.manifest;
        let (component, import) = (edge.component, edge.import);
        let edge = &edge.label;
        if let Some(link) = link {
            let name = link.get_ref().export.get_ref().clone();
            let at = manifest.locate(link.get_ref().export.span());
            let Some(info) = self
                .components
                .get(&name)
                .or_else(|| self.providers.get(&name))
            else {
                self.errors.push(
                    Diagnostic::new(format!("{edge}: linked component `{name}` was not loaded"))
                        .with_kind(DiagnosticKind::UnknownName)
                        .at(at),
                );
                return None;
            };
            let Some(e) = info.find_export(import) else {
                let exports = quoted(info.exports().iter().map(|e| &e.name));
                self.errors.push(
                    Diagnostic::new(format!(
                        "{edge}: linked component `{name}` does not export `{import}` or a semver-compatible version of it"
                    )).with_kind(DiagnosticKind::NoExporter)
                    .at(at)
                    .with_help(if exports.is_empty() {
                        format!("`{name}` exports nothing")
                    } else {
                        format!("`{name}` exports {exports}")
                    }),
                );
                return None;
            };
            return Some(Peer {
                name,
                export: e.name,
                location: self.link_location(link),
            });
        }
        let mut candidates: Vec<(String, String)> = self
            .components
            .iter()
            .chain(self.providers)
            .filter(|(n, _)| n.as_str() != component)
            .filter_map(|(n, info)| info.find_export(import).map(|e| (n.clone(), e.name)))
            .collect();
        match candidates.len() {
            1 => {
                let (name, export) = candidates.pop().expect("one");
                Some(Peer {
                    name,
                    export,
                    location: None,
                })
            }
            0 if import.starts_with("wasi:") => {
                // Refused here, not when the runtime fails to link it.
                self.errors.push(
                    Diagnostic::new(format!(
                        "{edge}: weld's host does not provide this WASI interface, and no component exports it"
                    )).with_kind(DiagnosticKind::NoExporter)
                    .with_help({
                        let release = wit::split_version(import)
                            .1
                            .and_then(wit::WasiRelease::of_version)
                            .unwrap_or(wit::WasiRelease::P2);
                        format!(
                            "the host provides WASI {}.x: {}; add a component that exports `{import}` to the manifest",
                            release.version(),
                            release.interfaces().join(", ")
                        )
                    }),
                );
                None
            }
            0 => {
                self.errors.push(
                    Diagnostic::new(format!("{edge}: no component exports it")).with_kind(DiagnosticKind::NoExporter).with_help(format!(
                        "add a component (or a provider) that exports `{import}` to the manifest, or link the import with a [[link]] entry"
                    )),
                );
                None
            }
            _ => {
                let list: Vec<_> = candidates
                    .iter()
                    .map(|(n, e)| format!("`{n}` (exports `{e}`)"))
                    .collect();
                self.errors.push(
                    Diagnostic::new(format!("{edge}: ambiguous, exported by {}", list.join(", "))).with_kind(DiagnosticKind::Ambiguous)
                        .with_help(format!(
                            "choose one with\n[[link]]\nimport = \"{component}:{import}\"\nexport = \"{}\"",
                            candidates[0].0
                        )),
                );
                None
            }
        }
    }

    /// Type-checks the importer's interface against the peer's export;
    /// reports every mismatch. True when they match.
    fn check_types(&mut self, edge: &Edge, peer: &Peer) -> bool {
        let (component, import) = (edge.component, edge.import);
        let edge = &edge.label;
        let importer = &self.components[component];
        let exporter = self.info(&peer.name);
        let exported = exporter
            .exports()
            .into_iter()
            .find(|e| e.name == peer.export)
            .and_then(|e| e.interface);
        let (Some(iface_imp), Some(iface_exp)) = (importer.import_interface(import), exported)
        else {
            // find_export only returns interfaces, so this is unreachable;
            // report rather than silently drop the import.
            self.errors.push(
                Diagnostic::new(format!(
                    "{edge}: `{}` export `{}` is not an interface",
                    peer.name, peer.export
                ))
                .with_kind(DiagnosticKind::Unsupported),
            );
            return false;
        };
        let mismatches = check_interface(
            Side {
                resolve: &importer.resolve,
                interface: iface_imp,
            },
            Side {
                resolve: &exporter.resolve,
                interface: iface_exp,
            },
        );
        let via = peer.via(import);
        for m in &mismatches {
            self.errors.push(
                Diagnostic::new(format!("{edge} linked to {via}: {m}"))
                    .with_kind(DiagnosticKind::TypeMismatch)
                    .at(peer.location.clone()),
            );
        }
        mismatches.is_empty()
    }

    /// The transport the link asks for (or `auto` picks), checked against
    /// placement and, for `wrpc`, against what can cross the wire.
    fn choose_transport(
        &mut self,
        edge: &Edge,
        peer: &Peer,
        link: Option<&toml::Spanned<LinkSpec>>,
    ) -> Option<(Transport, TransportChoice)> {
        let manifest = self.manifest;
        let component = edge.component;
        let choice = link.map(|l| l.get_ref().transport()).unwrap_or_default();
        let host_a = manifest.host_of(component);
        let host_b = manifest.host_of(&peer.name);
        let same_host = host_a == host_b;
        let transport = match choice {
            TransportChoice::Auto if same_host => Transport::InProcess,
            TransportChoice::Auto => Transport::Wrpc,
            TransportChoice::InProcess => Transport::InProcess,
            TransportChoice::Compose => Transport::Compose,
            TransportChoice::Wrpc => Transport::Wrpc,
        };
        let at = link
            .and_then(|l| l.get_ref().transport_spec.as_ref().map(|t| t.span()))
            .and_then(|s| manifest.locate(s))
            .or(peer.location.clone());
        let via = peer.via(edge.import);
        let name = &peer.name;
        if manifest.is_provider(name) && transport != Transport::Wrpc {
            self.errors.push(
                Diagnostic::new(format!(
                    "{} linked to {via}: `{transport}` cannot reach provider `{name}`: it is an external wRPC server that weld does not run, so it has no code to compose or call in-process",
                    edge.label
                )).with_kind(DiagnosticKind::Placement)
                .at(at)
                .with_help("use `transport = \"wrpc\"` (or `auto`)"),
            );
            return None;
        }
        if matches!(transport, Transport::InProcess | Transport::Compose) && !same_host {
            self.errors.push(
                Diagnostic::new(format!(
                    "{} linked to {via}: `{transport}` needs both components on one host, but `{component}` is on `{host_a}` and `{name}` is on `{host_b}`",
                    edge.label
                )).with_kind(DiagnosticKind::Placement)
                .at(at)
                .with_help("use `transport = \"wrpc\"` (or `auto`), or place both components on the same host"),
            );
            return None;
        }
        if transport == Transport::Wrpc {
            let allow_trap = link.is_some_and(|l| l.get_ref().allow_trap);
            let why = if choice == TransportChoice::Auto {
                format!(" (`{component}` is on `{host_a}`, `{name}` on `{host_b}`)")
            } else {
                String::new()
            };
            self.check_wrpc(edge, &via, peer, allow_trap, &why, at)?;
        }
        Some((transport, choice))
    }

    /// Whether the import may cross a wrpc link: no resources, and every
    /// function wRPC-safe unless traps are allowed.
    fn check_wrpc(
        &mut self,
        edge: &Edge,
        via: &str,
        peer: &Peer,
        allow_trap: bool,
        why: &str,
        at: Option<Location>,
    ) -> Option<()> {
        let (component, import, peer) = (edge.component, edge.import, &peer.name);
        let edge = &edge.label;
        let importer = &self.components[component];
        let iface = importer.import_interface(import)?;
        let resolve = &importer.resolve;
        // weld's stubs carry values; a handle names state in another store
        // and cannot travel.
        if let Some(res) = wit::resources_of(resolve, iface).first() {
            self.errors.push(
                Diagnostic::new(format!(
                    "{edge} linked to {via}: cannot use wrpc: the interface defines resource `{res}`, and resource handles cannot cross a wrpc link"
                )).with_kind(DiagnosticKind::WrpcUnsupported)
                .at(at)
                .with_help(format!(
                    "place `{component}` and `{peer}` on one host (in-process links carry resources)"
                )),
            );
            return None;
        }
        // No framing for streams, futures or async tasks: `allow-trap`
        // cannot help, the call could not be made at all.
        if let Some(why) = wit::interface_wrpc_async_obstacle(resolve, iface) {
            self.errors.push(
                Diagnostic::new(format!(
                    "{edge} linked to {via}: cannot use wrpc: {why}, which weld's wRPC framing cannot carry"
                )).with_kind(DiagnosticKind::WrpcUnsupported)
                .at(at)
                .with_help(format!(
                    "place `{component}` and `{peer}` on one host, or compose them (`weld compose`)"
                )),
            );
            return None;
        }
        if allow_trap {
            return Some(());
        }
        let unsafe_fns: Vec<_> = resolve.interfaces[iface]
            .functions
            .values()
            .filter(|f| !wit::is_wrpc_safe(resolve, f))
            .collect();
        if unsafe_fns.is_empty() {
            return Some(());
        }
        let names = quoted(unsafe_fns.iter().map(|f| wit::display_name(f)));
        let mut help = format!(
            "make every function return `result<T, error>` with `error` from `{}`:\n  use wrpc:rpc/error@0.1.0.{{error}};",
            wit::WRPC_ERROR_INTERFACE
        );
        for f in &unsafe_fns {
            let _ = write!(
                help,
                "\n  {}: {}  // now: {}",
                wit::display_name(f),
                wit::wrpc_safe_signature(resolve, f),
                wit::func_signature(resolve, f)
            );
        }
        let _ = write!(
            help,
            "\nor accept that a transport failure traps `{component}`: set `allow-trap = true` on the link"
        );
        self.errors.push(
            Diagnostic::new(format!(
                "{edge} linked to {via}: cannot use wrpc{why}: {} not wRPC-safe: {}",
                if unsafe_fns.len() == 1 {
                    "this function is"
                } else {
                    "these functions are"
                },
                names
            ))
            .with_kind(DiagnosticKind::NotWrpcSafe)
            .at(at)
            .with_help(help),
        );
        None
    }

    /// Warns about link settings that mean nothing for its transport.
    fn warn_unused(&mut self, edge: &str, link: &toml::Spanned<LinkSpec>, transport: Transport) {
        let l = link.get_ref();
        let mut unused = Vec::new();
        if l.allow_trap && transport != Transport::Wrpc {
            unused.push("`allow-trap`");
        }
        if l.timeout_ms.is_some() && transport != Transport::Wrpc {
            unused.push("`timeout-ms`");
        }
        if l.strategy.is_some() && transport != Transport::InProcess {
            unused.push("`strategy`");
        }
        // A wRPC link is observed anyway; a composed one never can be.
        if l.observe && transport != Transport::InProcess {
            unused.push("`observe`");
        }
        if !unused.is_empty() {
            self.warnings.push(
                Diagnostic::new(format!(
                    "{edge}: {} {} no effect on `{transport}` links",
                    unused.join(", "),
                    if unused.len() == 1 { "has" } else { "have" }
                ))
                .with_kind(DiagnosticKind::UnusedSetting)
                .at(self.link_location(link)),
            );
        }
    }

    /// An `observe = true` link is host-linked so that weld can count its
    /// calls; when other fused links join its two ends into one fused
    /// component, the runtime fuses it too and would count nothing:
    /// refused by name.
    fn check_observed(&mut self, resolutions: &[Resolution]) {
        let names: Vec<&str> = self.components.keys().map(String::as_str).collect();
        let index = |n: &str| names.iter().position(|x| *x == n);
        let mut fused = petgraph::unionfind::UnionFind::<usize>::new(names.len());
        let ends = |r: &Resolution| Some((index(&r.component)?, index(r.peer.as_deref()?)?));
        for r in resolutions {
            if let (Transport::InProcess, Some(Strategy::Fused), Some((a, b))) =
                (r.transport, r.strategy, ends(r))
            {
                fused.union(a, b);
            }
        }
        for r in resolutions.iter().filter(|r| r.observe) {
            let Some((a, b)) = ends(r) else { continue };
            if !fused.equiv(a, b) {
                continue;
            }
            let link = self.manifest.links.iter().find(|l| {
                Manifest::split_import(l.get_ref().import.get_ref())
                    .is_some_and(|i| i.component == r.component && i.interface == r.import)
            });
            let peer = r.peer.as_deref().unwrap_or("-");
            self.errors.push(
                Diagnostic::new(format!(
                    "link `{}:{}` → `{peer}`: `observe = true` cannot count its calls: other fused links join `{}` and `{peer}` into one component, whose calls run no weld code; make those links host-linked too, or drop `observe`",
                    r.component, r.import, r.component
                ))
                .with_kind(DiagnosticKind::InvalidValue)
                .at(link.and_then(|l| self.link_location(l))),
            );
        }
    }

    /// Reports every cycle of links between components, once per strongly
    /// connected set, as a path from its first member in manifest order.
    fn check_cycles(&mut self, resolutions: &[Resolution]) {
        let mut edges: IndexMap<&str, Vec<&str>> = IndexMap::new();
        let mut graph = DiGraph::<&str, ()>::new();
        let nodes: IndexMap<&str, _> = self
            .components
            .keys()
            .map(|n| (n.as_str(), graph.add_node(n.as_str())))
            .collect();
        for r in resolutions {
            let Some(peer) = r.peer.as_deref() else {
                continue;
            };
            if let (Some(a), Some(b)) = (nodes.get(r.component.as_str()), nodes.get(peer)) {
                graph.update_edge(*a, *b, ());
                edges.entry(r.component.as_str()).or_default().push(peer);
            }
        }
        let mut cycles: Vec<Vec<&str>> = tarjan_scc(&graph)
            .into_iter()
            .filter(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
            .map(|scc| {
                let members: Vec<&str> = scc.iter().map(|n| graph[*n]).collect();
                let start = *members
                    .iter()
                    .min_by_key(|n| nodes.get_index_of(*n))
                    .expect("an SCC is never empty");
                cycle_path(&edges, &members, start)
            })
            .collect();
        cycles.sort_by_key(|c| nodes.get_index_of(c[0]));
        for cycle in cycles {
            let path: Vec<_> = cycle.iter().map(|c| format!("`{c}`")).collect();
            self.errors.push(
                Diagnostic::new(format!("link cycle: {}", path.join(" → "))).with_kind(DiagnosticKind::Cycle)
                    .with_help("components cannot import from each other in a loop; break the cycle by moving the shared interface into a third component"),
            );
        }
    }
}

/// A path `start → … → start` inside one strongly connected set, following
/// links in import order (depth first).
fn cycle_path<'a>(
    edges: &IndexMap<&'a str, Vec<&'a str>>,
    members: &[&'a str],
    start: &'a str,
) -> Vec<&'a str> {
    fn walk<'a>(
        n: &'a str,
        start: &'a str,
        edges: &IndexMap<&'a str, Vec<&'a str>>,
        members: &[&'a str],
        path: &mut Vec<&'a str>,
    ) -> bool {
        path.push(n);
        for &m in edges.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            if m == start {
                path.push(m);
                return true;
            }
            if members.contains(&m) && !path.contains(&m) && walk(m, start, edges, members, path) {
                return true;
            }
        }
        path.pop();
        false
    }
    let mut path = Vec::new();
    walk(start, start, edges, members, &mut path);
    path
}

/// The edge being resolved: an import of a component, and its label for
/// messages.
struct Edge<'a> {
    component: &'a str,
    import: &'a str,
    label: String,
}

/// The component that satisfies an import, and which of its exports.
struct Peer {
    name: String,
    export: String,
    /// The `[[link]]` that named it, if one did.
    location: Option<Location>,
}

impl Peer {
    /// "`peer`", or "`peer` (exports `x`)" when it exports another version.
    fn via(&self, import: &str) -> String {
        if self.export == import {
            format!("`{}`", self.name)
        } else {
            format!("`{}` (exports `{}`)", self.name, self.export)
        }
    }
}

/// The one-line reason of a resolution.
fn reason(
    peer: &Peer,
    import: &str,
    choice: TransportChoice,
    transport: Transport,
    host_a: &str,
    host_b: &str,
    allow_trap: bool,
) -> String {
    let origin = match &peer.location {
        Some(loc) => format!("link at line {}", loc.line),
        None => format!("only `{}` exports it", peer.name),
    };
    let version = if peer.export != import {
        format!(", semver-compatible `{}`", peer.export)
    } else {
        String::new()
    };
    match (choice, transport) {
        (TransportChoice::Auto, Transport::InProcess) => {
            format!("{origin}{version}; same host `{host_a}`")
        }
        (TransportChoice::Auto, Transport::Wrpc) => format!(
            "{origin}{version}; `{}` is on host `{host_b}`{}",
            peer.name,
            if allow_trap {
                "; allow-trap"
            } else {
                "; every function is wRPC-safe"
            }
        ),
        (_, t) => format!("{origin}{version}; transport `{t}` requested"),
    }
}

/// What the reason says of an in-process link's calls being counted: a
/// fused link's are not, and one that asked to be is host-linked.
fn observed_note(transport: Transport, strategy: Option<Strategy>, observe: bool) -> &'static str {
    match (transport, strategy, observe) {
        (Transport::InProcess, Some(Strategy::HostLinked), true) => {
            "; observe = true: host-linked, so each call is counted"
        }
        (Transport::InProcess, Some(Strategy::Fused), _) => {
            "; fused: its calls run no weld code and are not counted (observe = true plans it host-linked)"
        }
        _ => "",
    }
}

/// How the plan meets an outgoing `wasi:http` import.
enum Outgoing {
    /// The host provides it: the component is granted `http-out`.
    Granted(Box<Resolution>),
    /// Not granted, and no component exports it: an error was reported.
    Refused,
    /// Not granted, but a component exports it: resolved as any import.
    ToAComponent,
}

impl Resolution {
    /// An import the host provides.
    fn host(component: &str, import: &str, reason: &str) -> Resolution {
        Resolution {
            component: component.to_string(),
            import: import.to_string(),
            transport: Transport::Host,
            peer: None,
            export: None,
            endpoint: None,
            strategy: None,
            allow_trap: false,
            timeout_ms: None,
            explicit: false,
            provider: false,
            reason: reason.to_string(),
            cost: None,
            security: None,
            observed: false,
            observe: false,
            measured: None,
        }
    }
}
