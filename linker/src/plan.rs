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

use crate::check::{check_interface, Side};
use crate::diagnostic::{quoted, Diagnostic, Diagnostics, Location};
use crate::introspect::{ComponentInfo, ItemKind};
use crate::manifest::{Endpoint, LinkSpec, Manifest, Strategy, TransportChoice};
use crate::wit;
use indexmap::IndexMap;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Version of the `weld plan --json` schema (see `docs/json.md`).
pub const PLAN_SCHEMA_VERSION: u32 = 1;

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
    /// Path of its file.
    pub path: PathBuf,
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
    /// Why this resolution, in one line.
    pub reason: String,
}

/// A complete plan: every import of every component resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Schema version of this structure's JSON form.
    pub version: u32,
    /// The manifest it was made from.
    pub manifest: PathBuf,
    /// Components in manifest order.
    pub components: Vec<PlannedComponent>,
    /// Resolutions, grouped by component in manifest order, then by import
    /// order within each component.
    pub resolutions: Vec<Resolution>,
    /// Settings that have no effect (e.g. `allow-trap` on an in-process
    /// link): the plan is complete, but the manifest says something it does
    /// not mean.
    pub warnings: Vec<Diagnostic>,
}

/// A manifest, its components' types and the plan made from them.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The manifest.
    pub manifest: Manifest,
    /// Each component's introspected types, by name.
    pub components: IndexMap<String, ComponentInfo>,
    /// The plan.
    pub plan: Plan,
}

impl Deployment {
    /// Loads a manifest, introspects its components and plans it.
    pub fn load(path: &Path) -> Result<Deployment, Diagnostics> {
        let manifest = Manifest::load(path)?;
        let components = load_components(&manifest)?;
        let plan = plan(&manifest, &components)?;
        Ok(Deployment {
            manifest,
            components,
            plan,
        })
    }

    /// The bytes of a component's file.
    pub fn component_bytes(&self, name: &str) -> std::io::Result<Vec<u8>> {
        let path = self
            .manifest
            .component_path(name)
            .ok_or_else(|| std::io::Error::other(format!("no component `{name}`")))?;
        std::fs::read(path)
    }
}

/// Reads and introspects every component of a manifest; reports every
/// unreadable or invalid file at once, at the `path` that names it.
pub fn load_components(
    manifest: &Manifest,
) -> Result<IndexMap<String, ComponentInfo>, Diagnostics> {
    let mut out = IndexMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &manifest.components {
        let path = manifest.component_path(name).expect("component exists");
        tracing::debug!(component = %name, path = %path.display(), "introspecting");
        match ComponentInfo::from_file(&path) {
            Ok(info) => {
                out.insert(name.clone(), info);
            }
            Err(e) => errors.push(
                Diagnostic::new(format!("component `{name}`: {e}"))
                    .at(manifest.locate(spec.get_ref().path.span())),
            ),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

struct Planner<'a> {
    manifest: &'a Manifest,
    components: &'a IndexMap<String, ComponentInfo>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

/// Resolves every import of every component of `manifest`.
pub fn plan(
    manifest: &Manifest,
    components: &IndexMap<String, ComponentInfo>,
) -> Result<Plan, Diagnostics> {
    let mut p = Planner {
        manifest,
        components,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let resolutions = p.resolve_all();
    p.check_cycles(&resolutions);
    if !p.errors.is_empty() {
        return Err(Diagnostics(p.errors));
    }
    Ok(Plan {
        version: PLAN_SCHEMA_VERSION,
        manifest: manifest.file.clone(),
        components: manifest
            .components
            .keys()
            .map(|name| PlannedComponent {
                name: name.clone(),
                host: manifest.host_of(name).to_string(),
                path: manifest.component_path(name).unwrap(),
            })
            .collect(),
        resolutions,
        warnings: p.warnings,
    })
}

impl Planner<'_> {
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
                        )));
                    }
                    continue;
                }
                if let Some(r) = self.resolve_one(name, &item.name, link) {
                    out.push(r);
                }
            }
        }
        out
    }

    fn resolve_one(
        &mut self,
        component: &str,
        import: &str,
        link: Option<&toml::Spanned<LinkSpec>>,
    ) -> Option<Resolution> {
        let manifest = self.manifest;
        let edge = format!("component `{component}` import `{import}`");
        let (peer, export, explicit_loc) = match link {
            None if wit::is_host_interface(import) => {
                let reason = if import.starts_with("wasi:") {
                    "WASI, provided by the host (wasmtime-wasi)"
                } else {
                    "wRPC error resource, provided by weld"
                };
                return Some(Resolution {
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
                    reason: reason.to_string(),
                });
            }
            Some(link) => {
                let peer = link.get_ref().export.get_ref().clone();
                let Some(info) = self.components.get(&peer) else {
                    self.errors.push(
                        Diagnostic::new(format!(
                            "{edge}: linked component `{peer}` was not loaded"
                        ))
                        .at(manifest.locate(link.get_ref().export.span())),
                    );
                    return None;
                };
                match info.find_export(import) {
                    Some(e) => (peer, e.name, self.link_location(link)),
                    None => {
                        let exports = quoted(info.exports().iter().map(|e| &e.name));
                        self.errors.push(
                            Diagnostic::new(format!(
                                "{edge}: linked component `{peer}` does not export `{import}` or a semver-compatible version of it"
                            ))
                            .at(manifest.locate(link.get_ref().export.span()))
                            .with_help(if exports.is_empty() {
                                format!("`{peer}` exports nothing")
                            } else {
                                format!("`{peer}` exports {exports}")
                            }),
                        );
                        return None;
                    }
                }
            }
            None => {
                let candidates: Vec<(String, String)> = self
                    .components
                    .iter()
                    .filter(|(n, _)| n.as_str() != component)
                    .filter_map(|(n, info)| info.find_export(import).map(|e| (n.clone(), e.name)))
                    .collect();
                match candidates.len() {
                    1 => {
                        let (peer, export) = candidates.into_iter().next().unwrap();
                        (peer, export, None)
                    }
                    0 => {
                        self.errors.push(
                            Diagnostic::new(format!("{edge}: no component exports it"))
                                .with_help(format!(
                                    "add a component that exports `{import}` to the manifest, or link the import with a [[link]] entry"
                                )),
                        );
                        return None;
                    }
                    _ => {
                        let list: Vec<_> = candidates
                            .iter()
                            .map(|(n, e)| format!("`{n}` (exports `{e}`)"))
                            .collect();
                        self.errors.push(
                            Diagnostic::new(format!(
                                "{edge}: ambiguous, exported by {}",
                                list.join(", ")
                            ))
                            .with_help(format!(
                                "choose one with\n[[link]]\nimport = \"{component}:{import}\"\nexport = \"{}\"",
                                candidates[0].0
                            )),
                        );
                        return None;
                    }
                }
            }
        };

        // Type check the edge.
        let importer = &self.components[component];
        let exporter = &self.components[&peer];
        let found = (
            importer.import_interface(import),
            exporter
                .exports()
                .into_iter()
                .find(|e| e.name == export)
                .and_then(|e| e.interface),
        );
        let (Some(iface_imp), Some(iface_exp)) = found else {
            // find_export only returns interfaces, so this is unreachable;
            // report rather than silently drop the import.
            self.errors.push(Diagnostic::new(format!(
                "{edge}: `{peer}` export `{export}` is not an interface"
            )));
            return None;
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
        let via = if export == import {
            format!("`{peer}`")
        } else {
            format!("`{peer}` (exports `{export}`)")
        };
        let mut ok = true;
        for m in &mismatches {
            ok = false;
            self.errors.push(
                Diagnostic::new(format!("{edge} linked to {via}: {m}")).at(explicit_loc.clone()),
            );
        }

        // Transport.
        let spec = link.map(|l| l.get_ref());
        let choice = spec.map(LinkSpec::transport).unwrap_or_default();
        let host_a = manifest.host_of(component).to_string();
        let host_b = manifest.host_of(&peer).to_string();
        let same_host = host_a == host_b;
        let transport = match choice {
            TransportChoice::Auto if same_host => Transport::InProcess,
            TransportChoice::Auto => Transport::Wrpc,
            TransportChoice::InProcess => Transport::InProcess,
            TransportChoice::Compose => Transport::Compose,
            TransportChoice::Wrpc => Transport::Wrpc,
        };
        let transport_loc = link
            .and_then(|l| l.get_ref().transport_spec.as_ref().map(|t| t.span()))
            .and_then(|s| manifest.locate(s))
            .or(explicit_loc.clone());
        if matches!(transport, Transport::InProcess | Transport::Compose) && !same_host {
            self.errors.push(
                Diagnostic::new(format!(
                    "{edge} linked to {via}: `{transport}` needs both components on one host, but `{component}` is on `{host_a}` and `{peer}` is on `{host_b}`"
                ))
                .at(transport_loc.clone())
                .with_help("use `transport = \"wrpc\"` (or `auto`), or place both components on the same host"),
            );
            ok = false;
        }
        let allow_trap = spec.map(|s| s.allow_trap).unwrap_or(false);
        if transport == Transport::Wrpc {
            // weld's stubs carry values; a handle names state in another
            // store and cannot travel.
            if let Some(res) = wit::resources_of(&importer.resolve, iface_imp).first() {
                self.errors.push(
                    Diagnostic::new(format!(
                        "{edge} linked to {via}: cannot use wrpc: the interface defines resource `{res}`, and resource handles cannot cross a wrpc link"
                    ))
                    .at(transport_loc.clone())
                    .with_help(format!(
                        "place `{component}` and `{peer}` on one host (in-process links carry resources)"
                    )),
                );
                return None;
            }
        }
        if transport == Transport::Wrpc && !allow_trap {
            let iface = &importer.resolve.interfaces[iface_imp];
            let unsafe_fns: Vec<_> = iface
                .functions
                .values()
                .filter(|f| !wit::is_wrpc_safe(&importer.resolve, f))
                .collect();
            if !unsafe_fns.is_empty() {
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
                        wit::wrpc_safe_signature(&importer.resolve, f),
                        wit::func_signature(&importer.resolve, f)
                    );
                }
                help.push_str(&format!(
                    "\nor accept that a transport failure traps `{component}`: set `allow-trap = true` on the link"
                ));
                let why = if choice == TransportChoice::Auto {
                    format!(" (`{component}` is on `{host_a}`, `{peer}` on `{host_b}`)")
                } else {
                    String::new()
                };
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
                    .at(transport_loc.clone())
                    .with_help(help),
                );
                ok = false;
            }
        }
        if !ok {
            return None;
        }

        let strategy = match transport {
            Transport::InProcess => Some(
                spec.and_then(|s| s.strategy)
                    .or_else(|| {
                        manifest
                            .hosts
                            .get(&host_a)
                            .and_then(|h| h.get_ref().strategy)
                    })
                    .unwrap_or(Strategy::Fused),
            ),
            _ => None,
        };
        let endpoint = (transport == Transport::Wrpc).then(|| manifest.endpoint_of(&host_b));
        let origin = match &explicit_loc {
            Some(loc) => format!("link at line {}", loc.line),
            None => format!("only `{peer}` exports it"),
        };
        let version = if export != import {
            format!(", semver-compatible `{export}`")
        } else {
            String::new()
        };
        if let Some(link) = link {
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
            if !unused.is_empty() {
                self.warnings.push(
                    Diagnostic::new(format!(
                        "{edge}: {} {} no effect on `{transport}` links",
                        unused.join(", "),
                        if unused.len() == 1 { "has" } else { "have" }
                    ))
                    .at(self.link_location(link)),
                );
            }
        }
        let reason = match (choice, transport) {
            (TransportChoice::Auto, Transport::InProcess) => {
                format!("{origin}{version}; same host `{host_a}`")
            }
            (TransportChoice::Auto, Transport::Wrpc) => format!(
                "{origin}{version}; `{peer}` is on host `{host_b}`{}",
                if allow_trap {
                    "; allow-trap"
                } else {
                    "; every function is wRPC-safe"
                }
            ),
            (_, t) => format!("{origin}{version}; transport `{t}` requested"),
        };
        Some(Resolution {
            component: component.to_string(),
            import: import.to_string(),
            transport,
            peer: Some(peer),
            export: Some(export),
            endpoint,
            strategy,
            allow_trap,
            timeout_ms: if transport == Transport::Wrpc {
                spec.and_then(|s| s.timeout_ms)
            } else {
                None
            },
            explicit: link.is_some(),
            reason,
        })
    }

    /// Reports every cycle of links between components, once each.
    fn check_cycles(&mut self, resolutions: &[Resolution]) {
        let mut edges: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for r in resolutions {
            if let Some(peer) = &r.peer {
                edges
                    .entry(r.component.as_str())
                    .or_default()
                    .push(peer.as_str());
            }
        }
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Active,
            Done,
        }
        let names: Vec<&str> = self.components.keys().map(String::as_str).collect();
        let mut state: IndexMap<&str, State> = names.iter().map(|n| (*n, State::New)).collect();
        let mut stack: Vec<&str> = Vec::new();
        let mut cycles: Vec<Vec<&str>> = Vec::new();
        fn visit<'a>(
            n: &'a str,
            edges: &IndexMap<&'a str, Vec<&'a str>>,
            state: &mut IndexMap<&'a str, State>,
            stack: &mut Vec<&'a str>,
            cycles: &mut Vec<Vec<&'a str>>,
        ) {
            state[n] = State::Active;
            stack.push(n);
            for &m in edges.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                match state.get(m).copied() {
                    Some(State::New) => visit(m, edges, state, stack, cycles),
                    Some(State::Active) => {
                        let start = stack.iter().position(|s| *s == m).unwrap();
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(m);
                        cycles.push(cycle);
                    }
                    _ => {}
                }
            }
            stack.pop();
            state[n] = State::Done;
        }
        for n in names {
            if state[n] == State::New {
                visit(n, &edges, &mut state, &mut stack, &mut cycles);
            }
        }
        for cycle in cycles {
            let path: Vec<_> = cycle.iter().map(|c| format!("`{c}`")).collect();
            self.errors.push(
                Diagnostic::new(format!("link cycle: {}", path.join(" → ")))
                    .with_help("components cannot import from each other in a loop; break the cycle by moving the shared interface into a third component"),
            );
        }
    }
}

impl Plan {
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

    /// The host a component runs on.
    pub fn host_of(&self, component: &str) -> Option<&str> {
        self.components
            .iter()
            .find(|c| c.name == component)
            .map(|c| c.host.as_str())
    }

    /// A human-readable table: component, import, transport, peer, reason.
    /// With `all == false`, each component's `wasi:*` imports are folded into
    /// one row.
    pub fn to_table(&self, all: bool) -> String {
        let mut rows: Vec<[String; 5]> = Vec::new();
        for c in &self.components {
            let mut wasi = 0;
            for r in self.imports_of(&c.name) {
                if !all && r.transport == Transport::Host && r.import.starts_with("wasi:") {
                    wasi += 1;
                    continue;
                }
                rows.push(Self::row(r));
            }
            if wasi > 0 {
                rows.push([
                    c.name.clone(),
                    format!("wasi:* ({wasi} interfaces)"),
                    "host".into(),
                    "-".into(),
                    "WASI, provided by the host (wasmtime-wasi); --all lists them".into(),
                ]);
            }
        }
        Self::render_table(&rows)
    }

    fn row(r: &Resolution) -> [String; 5] {
        let transport = match (r.transport, r.strategy) {
            (Transport::InProcess, Some(Strategy::HostLinked)) => {
                "in-process (host-linked)".to_string()
            }
            (t, _) => t.to_string(),
        };
        let peer = match (&r.peer, &r.endpoint) {
            (Some(p), Some(e)) => format!("{p} @ {e}"),
            (Some(p), None) => p.clone(),
            (None, _) => "-".to_string(),
        };
        [
            r.component.clone(),
            r.import.clone(),
            transport,
            peer,
            r.reason.clone(),
        ]
    }

    fn render_table(rows: &[[String; 5]]) -> String {
        let header = ["COMPONENT", "IMPORT", "TRANSPORT", "PEER", "REASON"];
        let mut widths = header.map(str::len);
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[&str]| {
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                if i + 1 == cells.len() {
                    let _ = write!(out, "{cell}");
                } else {
                    let _ = write!(out, "{cell:<w$}  ");
                }
            }
            out.push('\n');
        };
        line(&mut out, &header);
        for row in rows {
            line(
                &mut out,
                &row.iter().map(String::as_str).collect::<Vec<_>>(),
            );
        }
        out
    }

    /// A Graphviz graph: one cluster per host, one node per component, one
    /// edge per link labelled with its transport.
    pub fn to_dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let mut out = String::from("digraph weld {\n  rankdir=LR;\n  node [shape=box];\n");
        let mut hosts: IndexMap<&str, Vec<&str>> = IndexMap::new();
        for c in &self.components {
            hosts
                .entry(c.host.as_str())
                .or_default()
                .push(c.name.as_str());
        }
        for (i, (host, comps)) in hosts.iter().enumerate() {
            let _ = writeln!(
                out,
                "  subgraph cluster_{i} {{\n    label={};",
                q(&format!("host {host}"))
            );
            for c in comps {
                let _ = writeln!(out, "    {};", q(c));
            }
            out.push_str("  }\n");
        }
        for r in &self.resolutions {
            if let Some(peer) = &r.peer {
                let style = match r.transport {
                    Transport::Wrpc => ", style=dashed",
                    Transport::Compose => ", style=bold",
                    _ => "",
                };
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={}{style}];",
                    q(&r.component),
                    q(peer),
                    q(&format!("{}\n{}", r.import, r.transport))
                );
            }
        }
        out.push_str("}\n");
        out
    }
}
