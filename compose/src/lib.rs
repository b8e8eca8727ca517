//! weld-compose: fuse components into one component with `wac-graph`.
//!
//! The input is a [`Spec`]: named components (their bytes), the links to
//! wire between them, and which components' exports to export. weld's
//! planner builds the spec from a deployment plan (`weld_linker::fuse`); this
//! crate knows nothing of manifests or hosts, only of composition:
//!
//! * every component is registered and instantiated once, so one exporter
//!   instance serves all its importers;
//! * every link becomes an instantiation argument, transitively (a chain
//!   `a → b → c` becomes one component with `b`'s imports satisfied — what
//!   `wac plug` cannot do);
//! * the composed component exports the exports of the *roots* (components
//!   no link imports from), or of the components [`Spec::exports`] names;
//! * a component that is not exported and that no link reaches from an
//!   exported one is left out, with a [`Warning`];
//! * every import not satisfied by a link stays an import of the composed
//!   component.
//!
//! The output is validated before it is returned; a validation failure is
//! traced back to the link it came from.
//!
//! ```no_run
//! use weld_compose::{compose, Link, Member, Spec};
//! let spec = Spec {
//!     components: vec![
//!         Member::new("adder", std::fs::read("adder.wasm").unwrap()),
//!         Member::new("driver", std::fs::read("driver.wasm").unwrap()),
//!     ],
//!     links: vec![Link {
//!         component: "driver".into(),
//!         import: "demo:math/adder@0.1.0".into(),
//!         peer: "adder".into(),
//!         export: "demo:math/adder@0.1.0".into(),
//!     }],
//!     exports: None,
//! };
//! let composed = compose(&spec).unwrap();
//! std::fs::write("app.wasm", &composed.bytes).unwrap();
//! ```

use indexmap::{IndexMap, IndexSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use wac_graph::{types::Package, CompositionGraph, EncodeOptions, NodeId, Processor};

/// One component to fuse.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its name (the manifest's), used in errors and in the WAC source.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Where it was read from, for the `wac compose --dep` hint.
    pub path: Option<PathBuf>,
}

impl Member {
    /// A member from a name and bytes.
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Member {
        Member {
            name: name.into(),
            bytes,
            path: None,
        }
    }
}

/// One link to wire: `component`'s import `import` is satisfied by `peer`'s
/// export `export` (the names may differ by a semver-compatible version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The importing component.
    pub component: String,
    /// The import's name.
    pub import: String,
    /// The exporting component.
    pub peer: String,
    /// The export's name.
    pub export: String,
}

/// What to compose.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// The components, in a stable order (it decides the output bytes).
    pub components: Vec<Member>,
    /// The links between them.
    pub links: Vec<Link>,
    /// Export the exports of these components; the roots when `None`.
    pub exports: Option<Vec<String>>,
}

/// Why a composition failed. Every variant names the component or link.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A link or `exports` named a component the spec lacks.
    #[error("unknown component `{name}` (known: {known})")]
    UnknownComponent {
        /// The name given.
        name: String,
        /// Known components.
        known: String,
    },
    /// The selection is empty.
    #[error("nothing to compose: no component is selected")]
    Empty,
    /// [`Spec::exports`] names no component, so nothing would be exported.
    #[error("nothing to compose: the list of components to export is empty")]
    NoExports,
    /// A component's bytes could not be parsed by wac, or its exports
    /// wired.
    #[error("component `{component}`")]
    Component {
        /// The component.
        component: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// A link could not be wired.
    #[error("component `{component}` import `{import}` linked to `{peer}` export `{export}`")]
    Link {
        /// Importer.
        component: String,
        /// Imported interface.
        import: String,
        /// Exporter.
        peer: String,
        /// Exported interface.
        export: String,
        /// What went wrong.
        #[source]
        source: BoxError,
    },
    /// Two exported components export the same name.
    #[error(
        "components `{first}` and `{second}` both export `{name}`; name the components to export"
    )]
    ExportClash {
        /// The export name.
        name: String,
        /// First exporter.
        first: String,
        /// Second exporter.
        second: String,
    },
    /// Encoding failed.
    #[error("composition failed")]
    Encode(#[source] BoxError),
    /// The composed component does not validate, and no single link
    /// explains it.
    #[error("the composed component does not validate")]
    Invalid(#[source] wasmparser::BinaryReaderError),
}

/// An error with its cause chain (from wac here; weld-linker uses the same
/// for wasmtime and the transports).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A composed component and what went into it.
#[derive(Debug, Clone)]
pub struct Composition {
    /// The encoded, validated component.
    pub bytes: Vec<u8>,
    /// The components fused into it, in instantiation order.
    pub fused: Vec<String>,
    /// The links wired inside it: (importer, import, exporter).
    pub links: Vec<(String, String, String)>,
    /// Its exports: (export name, the component it comes from).
    pub exports: Vec<(String, String)>,
    /// Its imports (left for the host or remote links).
    pub imports: Vec<String>,
    /// Equivalent WAC source, under a `// Generated by weld.` line; see
    /// [`Composition::wac_source`] for the source with the command that
    /// reproduces the composition.
    pub wac: String,
    /// What `wac compose` needs besides the source: each fused component's
    /// package name and the file its bytes were read from (or
    /// `<name>.wasm`), in instantiation order.
    pub deps: Vec<(String, PathBuf)>,
    /// What the user should know: components left out.
    pub warnings: Vec<Warning>,
}

/// Something about a composition that succeeded which the user should
/// know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    /// A component of the spec that is not exported and that no link
    /// reaches from an exported component: nothing could call it, so it is
    /// not part of the output.
    #[error("component `{component}` is not linked from any exported component; left out of the composition")]
    LeftOut {
        /// The component.
        component: String,
    },
}

impl Composition {
    /// [`Composition::wac`] with a second header line telling how to
    /// reproduce the composition with `wac`, once the source is saved as
    /// `file`: `// Reproduce: wac compose FILE --dep …`. When the source is
    /// not saved yet, `save` is the command that saves it (its words, shell
    /// quoted here), and the line reads `// Reproduce: SAVE && wac compose
    /// FILE --dep …`.
    pub fn wac_source(&self, file: &str, save: Option<&[String]>) -> String {
        let mut line = String::from("// Reproduce: ");
        if let Some(save) = save {
            for word in save {
                line.push_str(&shell_word(word));
                line.push(' ');
            }
            line.push_str("&& ");
        }
        let _ = write!(line, "wac compose {}", shell_word(file));
        for (package, path) in &self.deps {
            let _ = write!(
                line,
                " --dep {}",
                shell_word(&format!("{package}={}", path.display()))
            );
        }
        match self.wac.split_once('\n') {
            Some((first, rest)) => format!("{first}\n{line}\n{rest}"),
            None => format!("{line}\n{}", self.wac),
        }
    }
}

/// `word` as one shell word: as it is when it holds only characters no
/// shell treats specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@+,%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The package name a component is registered under (and named by in WAC).
fn package_name(component: &str) -> String {
    format!("weld:{}", wac_id(component))
}

/// A WAC-safe kebab identifier for a component name.
fn wac_id(name: &str) -> String {
    let mut id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while id.contains("--") {
        id = id.replace("--", "-");
    }
    let id = id.trim_matches('-').to_string();
    // Each `-`-separated word must start with a letter.
    let id = id
        .split('-')
        .map(|w| {
            if w.starts_with(|c: char| c.is_ascii_digit()) {
                format!("c{w}")
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("-");
    if id.is_empty() {
        "component".into()
    } else {
        id
    }
}

/// Composes the components of `spec` into one validated component.
///
/// # Errors
/// [`ComposeError`] naming the component, link or export: an unknown name,
/// nothing to export, a package that does not load, a link that does not wire,
/// two exports of one name, an invalid result.
pub fn compose(spec: &Spec) -> Result<Composition, ComposeError> {
    if spec.components.is_empty() {
        return Err(ComposeError::Empty);
    }
    let built = build(spec)?;
    match validate(&built.bytes) {
        Ok(()) => Ok(built),
        Err(invalid) => Err(blame(spec, &built.links).unwrap_or(ComposeError::Invalid(invalid))),
    }
}

/// Builds the graph and encodes it, without validating, in named steps:
/// names checked, the order and what is kept, packages registered and
/// instantiated, links wired, exports aliased, bytes encoded.
fn build(spec: &Spec) -> Result<Composition, ComposeError> {
    check_names(spec)?;
    let kept = Kept::of(spec)?;
    let mut graph = CompositionGraph::new();
    let instances = instantiate(&mut graph, spec, &kept.order)?;
    wire(&mut graph, &instances, &kept.links)?;
    let exports = export(&mut graph, &instances, &kept.exporters)?;
    let bytes = graph
        .encode(EncodeOptions {
            define_components: true,
            validate: false,
            processor: Some(Processor {
                name: "weld",
                version: env!("CARGO_PKG_VERSION"),
            }),
        })
        .map_err(|e| ComposeError::Encode(e.into()))?;
    // What the artifact imports, read back from its bytes: the graph's
    // import list counts semver-compatible imports (two WASI patch
    // versions) once each, the encoded component merges them.
    let imports = top_level_imports(&bytes).map_err(ComposeError::Invalid)?;
    let wac = render_wac(&kept.links, &kept.order, &exports);
    let deps = kept
        .order
        .iter()
        .map(|name| {
            let path = member(spec, name)
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("{name}.wasm")));
            (package_name(name), path)
        })
        .collect();
    Ok(Composition {
        bytes,
        links: kept
            .links
            .iter()
            .map(|l| (l.component.clone(), l.import.clone(), l.peer.clone()))
            .collect(),
        fused: kept.order,
        exports,
        imports,
        wac,
        deps,
        warnings: kept.warnings,
    })
}

/// Every component a link or an export names is in the spec.
fn check_names(spec: &Spec) -> Result<(), ComposeError> {
    let names = spec
        .links
        .iter()
        .flat_map(|l| [&l.component, &l.peer])
        .chain(spec.exports.iter().flatten());
    for name in names {
        if !spec.components.iter().any(|c| &c.name == name) {
            return Err(ComposeError::UnknownComponent {
                name: name.clone(),
                known: spec
                    .components
                    .iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

/// The member named `name` (checked by [`check_names`]).
fn member<'a>(spec: &'a Spec, name: &str) -> &'a Member {
    spec.components
        .iter()
        .find(|c| c.name == name)
        .expect("names are checked first")
}

/// What the artifact keeps: the exporters, what they reach through links
/// (exporters before importers), those links, and a warning per component
/// left out.
struct Kept<'a> {
    exporters: Vec<String>,
    order: Vec<String>,
    links: Vec<&'a Link>,
    warnings: Vec<Warning>,
}

impl<'a> Kept<'a> {
    fn of(spec: &'a Spec) -> Result<Kept<'a>, ComposeError> {
        // Instantiate exporters before importers: a topological order of
        // the links (the planner has already refused cycles).
        let names: Vec<String> = spec.components.iter().map(|c| c.name.clone()).collect();
        let order = topo_order(&names, &spec.links);
        // Exports: named components, or the roots.
        let exporters: Vec<String> = match &spec.exports {
            Some(names) => order
                .iter()
                .filter(|n| names.contains(n))
                .cloned()
                .collect(),
            None => order
                .iter()
                .filter(|n| !spec.links.iter().any(|r| &r.peer == *n))
                .cloned()
                .collect(),
        };
        if exporters.is_empty() {
            return Err(ComposeError::NoExports);
        }
        let reached = reachable(&exporters, &spec.links);
        let warnings = order
            .iter()
            .filter(|n| !reached.contains(*n))
            .map(|n| Warning::LeftOut {
                component: n.clone(),
            })
            .collect();
        Ok(Kept {
            order: order.into_iter().filter(|n| reached.contains(n)).collect(),
            links: spec
                .links
                .iter()
                .filter(|l| reached.contains(&l.component))
                .collect(),
            exporters,
            warnings,
        })
    }
}

/// Registers each kept component as a package and instantiates it, in
/// `order`; returns the instance of each.
fn instantiate(
    graph: &mut CompositionGraph,
    spec: &Spec,
    order: &[String],
) -> Result<IndexMap<String, NodeId>, ComposeError> {
    let mut instances = IndexMap::new();
    for name in order {
        let failed = |e: BoxError| ComposeError::Component {
            component: name.clone(),
            source: e,
        };
        let bytes = member(spec, name).bytes.clone();
        let package = Package::from_bytes(&package_name(name), None, bytes, graph.types_mut())
            .map_err(|e| failed(e.into()))?;
        let id = graph
            .register_package(package)
            .map_err(|e| failed(e.into()))?;
        let node = graph.instantiate(id);
        graph.set_node_name(node, wac_id(name));
        instances.insert(name.clone(), node);
    }
    Ok(instances)
}

/// Wires each link: the peer's export becomes the importer's argument.
fn wire(
    graph: &mut CompositionGraph,
    instances: &IndexMap<String, NodeId>,
    links: &[&Link],
) -> Result<(), ComposeError> {
    for r in links {
        let link_err = |source: BoxError| ComposeError::Link {
            component: r.component.clone(),
            import: r.import.clone(),
            peer: r.peer.clone(),
            export: r.export.clone(),
            source,
        };
        let alias = graph
            .alias_instance_export(instances[r.peer.as_str()], &r.export)
            .map_err(|e| link_err(e.into()))?;
        graph
            .set_instantiation_argument(instances[&r.component], &r.import, alias)
            .map_err(|e| link_err(e.into()))?;
    }
    Ok(())
}

/// Exports every export of each exporter from the artifact; two exporters
/// of one name clash. Returns each export with the component it is from.
fn export(
    graph: &mut CompositionGraph,
    instances: &IndexMap<String, NodeId>,
    exporters: &[String],
) -> Result<Vec<(String, String)>, ComposeError> {
    let mut exports: Vec<(String, String)> = Vec::new();
    for name in exporters {
        let failed = |e: BoxError| ComposeError::Component {
            component: name.clone(),
            source: e,
        };
        let package = graph
            .get_package_by_name(&package_name(name), None)
            .expect("registered by instantiate")
            .1;
        let export_names: Vec<String> = graph.types()[package.ty()]
            .exports
            .keys()
            .cloned()
            .collect();
        for export in export_names {
            if let Some((_, first)) = exports.iter().find(|(e, _)| *e == export) {
                return Err(ComposeError::ExportClash {
                    name: export,
                    first: first.clone(),
                    second: name.clone(),
                });
            }
            let alias = graph
                .alias_instance_export(instances[name], &export)
                .map_err(|e| failed(e.into()))?;
            graph
                .export(alias, export.clone())
                .map_err(|e| failed(e.into()))?;
            exports.push((export, name.clone()));
        }
    }
    Ok(exports)
}

/// The components `exporters` reach by following links from importer to
/// exporter, the exporters included.
fn reachable(exporters: &[String], links: &[Link]) -> IndexSet<String> {
    let mut reached: IndexSet<String> = exporters.iter().cloned().collect();
    let mut next = 0;
    while let Some(name) = reached.get_index(next).cloned() {
        for l in links.iter().filter(|l| l.component == name) {
            reached.insert(l.peer.clone());
        }
        next += 1;
    }
    reached
}

/// Exporters first; ties keep manifest order so output is deterministic
/// (Kahn's order over the links' graph, lowest index first among the
/// ready ones).
fn topo_order(selected: &[String], links: &[Link]) -> Vec<String> {
    let mut graph = petgraph::graph::DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..selected.len()).map(|i| graph.add_node(i)).collect();
    let index = |name: &str| selected.iter().position(|s| s == name);
    for l in links {
        if let (Some(a), Some(b)) = (index(&l.peer), index(&l.component)) {
            graph.update_edge(nodes[a], nodes[b], ());
        }
    }
    let mut order: Vec<usize> = Vec::with_capacity(selected.len());
    while order.len() < selected.len() {
        let ready = (0..selected.len()).find(|i| {
            !order.contains(i)
                && graph
                    .neighbors_directed(nodes[*i], petgraph::Direction::Incoming)
                    .all(|d| order.contains(&graph[d]))
        });
        // A cycle cannot reach here (the planner refuses them); fall back to
        // manifest order rather than loop forever.
        let next = ready.unwrap_or_else(|| {
            (0..selected.len())
                .find(|i| !order.contains(i))
                .expect("some left")
        });
        order.push(next);
    }
    order.into_iter().map(|i| selected[i].clone()).collect()
}

fn render_wac(links: &[&Link], order: &[String], exports: &[(String, String)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// Generated by weld.");
    out.push_str("package weld:composition;\n\n");
    for name in order {
        let _ = write!(out, "let {} = new {} {{", wac_id(name), package_name(name));
        for l in links.iter().filter(|l| &l.component == name) {
            let _ = write!(
                out,
                " \"{}\": {}[\"{}\"],",
                l.import,
                wac_id(&l.peer),
                l.export
            );
        }
        out.push_str(" ... };\n");
    }
    out.push('\n');
    for (name, from) in exports {
        let _ = writeln!(out, "export {}[\"{name}\"];", wac_id(from));
    }
    out
}

/// The names a component imports at its top level (not those of the
/// components and modules nested in it), in order.
///
/// # Errors
/// The bytes do not parse as a component.
pub fn top_level_imports(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    let mut depth = 0usize;
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(import?.name.full_name().into_owned());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Validates an encoded component with wasmparser.
///
/// # Errors
/// wasmparser's error at the first invalid byte.
pub fn validate(bytes: &[u8]) -> Result<(), wasmparser::BinaryReaderError> {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .map(|_| ())
}

/// Finds the link whose composition fails validation by composing each
/// fused link on its own (importer + exporter), so the error names an edge
/// instead of a raw validator message. Only the links `wired` into the
/// output (importer, import, exporter) are suspects.
fn blame(spec: &Spec, wired: &[(String, String, String)]) -> Option<ComposeError> {
    let suspects = spec.links.iter().filter(|r| {
        wired
            .iter()
            .any(|(c, i, p)| *c == r.component && *i == r.import && *p == r.peer)
    });
    for r in suspects {
        let pair = Spec {
            components: spec
                .components
                .iter()
                .filter(|c| c.name == r.component || c.name == r.peer)
                .cloned()
                .collect(),
            links: vec![r.clone()],
            exports: Some(vec![r.component.clone()]),
        };
        let Ok(built) = build(&pair) else { continue };
        if let Err(invalid) = validate(&built.bytes) {
            return Some(ComposeError::Link {
                component: r.component.clone(),
                import: r.import.clone(),
                peer: r.peer.clone(),
                export: r.export.clone(),
                source: Box::new(ComposeError::Invalid(invalid)),
            });
        }
    }
    None
}
