//! Property tests for the manifest parser and the planner.
//!
//! Components are described by WIT text (`ComponentInfo::from_wit`), so no
//! wasm is built: a fixed catalogue of worlds is combined into random
//! deployments (random names, hosts, `[[link]]`s and transports, right and
//! wrong), rendered as `weld.toml` text, parsed and planned. The properties:
//!
//! - parsing and planning never panic (nor do rendering diagnostics or plans);
//! - a successful plan resolves every interface import of every component
//!   exactly once, and nothing else;
//! - a successful plan's `in-process`/`compose` resolutions have both ends
//!   on one host, `wrpc` ones carry the exporter host's endpoint, `host` ones
//!   are WASI or the wRPC error interface, and explicit links are honoured;
//! - a failed plan has at least one diagnostic, and none is empty;
//! - `Manifest::parse` never panics on arbitrary or mutated text.

use indexmap::IndexMap;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;
use weld_linker::introspect::{ComponentInfo, ItemKind};
use weld_linker::manifest::{Manifest, TransportChoice, DEFAULT_HOST};
use weld_linker::plan::{plan, Plan, Transport};
use weld_linker::wit::{is_host_interface, semver_compatible};
use weld_linker::Diagnostics;

// ---------------------------------------------------------------------------
// The catalogue, shared with the `manifest_plan` fuzz target.

#[path = "../../../fixtures/catalogue/wit_catalogue.rs"]
mod wit_catalogue;
use wit_catalogue::{components_for, CATALOGUE};

/// Every import and export name of the catalogue, plus names nothing has.
static INTERFACES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut names: Vec<String> = Vec::new();
    for e in CATALOGUE.iter() {
        for item in e.info.imports().into_iter().chain(e.info.exports()) {
            if !names.contains(&item.name) {
                names.push(item.name);
            }
        }
    }
    for extra in [
        "demo:math/adder@0.3.0",
        "demo:math/adder",
        "demo:math/adder@not-a-version",
        "nope:x/y@1.0.0",
        "wasi:cli/stdout@0.2.6",
        "wrpc:rpc/error@0.1.2",
        "",
    ] {
        names.push(extra.to_string());
    }
    names
});

// ---------------------------------------------------------------------------
// Random deployments.

/// The last entry of each list is invalid, and picked rarely.
const HOSTS: &[&str] = &[DEFAULT_HOST, "edge-1", "edge-2", "edge-3", "bad host"];
const TRANSPORTS: &[&str] = &["auto", "compose", "in-process", "wrpc", "pigeon"];
const STRATEGIES: &[&str] = &["fused", "host-linked"];

/// An index into a list of `len` whose last entry is invalid: that one is
/// picked one time in about forty.
fn index_strategy(len: usize) -> impl Strategy<Value = usize> {
    prop_oneof![40 => 0..len - 1, 1 => Just(len - 1)]
}

#[derive(Debug, Clone)]
struct Comp {
    name: String,
    entry: usize,
    host: Option<usize>,
}

#[derive(Debug, Clone)]
enum Pick {
    /// A declared component, by index (modulo their number).
    Declared(usize),
    /// A name the manifest may not declare.
    Ghost(String),
}

#[derive(Debug, Clone)]
enum Iface {
    /// One of the importer's own imports, by index (modulo their number).
    OfImporter(usize),
    /// Any name from [`INTERFACES`].
    Any(usize),
}

#[derive(Debug, Clone)]
enum LinkImport {
    /// A plausible link: an interface import of a component that has some
    /// (indexes modulo their numbers), exported by a component that exports
    /// it or a compatible version when there is one (the link's `export` is
    /// then ignored).
    Plausible(usize, usize, usize),
    Split(Pick, Iface),
    Raw(String),
}

#[derive(Debug, Clone)]
struct Link {
    import: LinkImport,
    export: Pick,
    transport: Option<usize>,
    allow_trap: Option<bool>,
    strategy: Option<usize>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Clone)]
enum EndpointGen {
    Tcp(Option<String>),
    Unix(String),
    Nats(Option<String>),
}

#[derive(Debug, Clone)]
struct HostEntry {
    host: usize,
    /// Kept even when no component is on the host (a validation error).
    keep_unused: bool,
    wrpc: Option<EndpointGen>,
    strategy: Option<usize>,
}

#[derive(Debug, Clone)]
struct Deployment {
    comps: Vec<Comp>,
    links: Vec<Link>,
    hosts: Vec<HostEntry>,
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => (0..CATALOGUE.len()).prop_map(|i| CATALOGUE[i].label.to_string()),
        40 => "[a-z][a-z0-9_-]{0,8}",
        1 => "[ -~]{0,6}",
        1 => ".{0,4}",
    ]
}

fn comp_strategy() -> impl Strategy<Value = Comp> {
    (
        name_strategy(),
        index_strategy(CATALOGUE.len()),
        prop::option::weighted(0.7, index_strategy(HOSTS.len())),
    )
        .prop_map(|(name, entry, host)| Comp { name, entry, host })
}

fn pick_strategy() -> impl Strategy<Value = Pick> {
    prop_oneof![
        20 => any::<usize>().prop_map(Pick::Declared),
        1 => name_strategy().prop_map(Pick::Ghost),
    ]
}

fn link_strategy() -> impl Strategy<Value = Link> {
    let import = prop_oneof![
        60 => (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, b, c)| LinkImport::Plausible(a, b, c)),
        15 => (
            pick_strategy(),
            prop_oneof![
                3 => any::<usize>().prop_map(Iface::OfImporter),
                1 => any::<usize>().prop_map(Iface::Any),
            ],
        )
            .prop_map(|(p, i)| LinkImport::Split(p, i)),
        1 => ".{0,12}".prop_map(LinkImport::Raw),
        1 => "[a-z:/@.0-9-]{0,20}".prop_map(LinkImport::Raw),
    ];
    (
        import,
        pick_strategy(),
        prop::option::of(index_strategy(TRANSPORTS.len())),
        prop::option::of(prop::bool::weighted(0.7)),
        prop::option::weighted(0.2, 0..STRATEGIES.len()),
        prop::option::weighted(0.2, prop_oneof![1 => Just(0u64), 10 => 1..10_000u64]),
    )
        .prop_map(
            |(import, export, transport, allow_trap, strategy, timeout_ms)| Link {
                import,
                export,
                transport,
                allow_trap,
                strategy,
                timeout_ms,
            },
        )
}

fn endpoint_strategy() -> impl Strategy<Value = EndpointGen> {
    prop_oneof![
        prop::option::of(Just("127.0.0.1:7800".to_string())).prop_map(EndpointGen::Tcp),
        Just(EndpointGen::Unix("/tmp/weld.sock".to_string())),
        prop::option::of(Just("edge".to_string())).prop_map(EndpointGen::Nats),
    ]
}

fn host_strategy() -> impl Strategy<Value = HostEntry> {
    (
        index_strategy(HOSTS.len()),
        prop::bool::weighted(0.1),
        prop::option::of(endpoint_strategy()),
        prop::option::weighted(0.3, 0..STRATEGIES.len()),
    )
        .prop_map(|(host, keep_unused, wrpc, strategy)| HostEntry {
            host,
            keep_unused,
            wrpc,
            strategy,
        })
}

/// Adds providers until every import some component has is exported by
/// another one (choosing among candidates with `seed`), so that a good share
/// of deployments can plan.
fn complete(comps: &mut Vec<Comp>, seed: usize) {
    for round in 0..8 {
        let mut added = Vec::new();
        for c in comps.iter() {
            for item in CATALOGUE[c.entry].info.imports() {
                if item.kind != ItemKind::Interface || is_host_interface(&item.name) {
                    continue;
                }
                let served = comps.iter().chain(&added).any(|o| {
                    o.name != c.name && CATALOGUE[o.entry].info.find_export(&item.name).is_some()
                });
                if served {
                    continue;
                }
                let candidates: Vec<usize> = (0..CATALOGUE.len())
                    .filter(|&i| CATALOGUE[i].info.find_export(&item.name).is_some())
                    .collect();
                if candidates.is_empty() {
                    continue;
                }
                let k = seed.wrapping_add(round + added.len());
                let entry = candidates[k % candidates.len()];
                // Mostly on the importer's host; one time in four on another
                // valid host, which only a wRPC-safe interface (or a link
                // with `allow-trap`) can plan.
                let host = if (k / candidates.len()).is_multiple_of(4) {
                    Some((c.host.unwrap_or(0) + 1 + k % 3) % (HOSTS.len() - 1))
                } else {
                    c.host
                };
                added.push(Comp {
                    name: format!("{}-{}", CATALOGUE[entry].label, comps.len() + added.len()),
                    entry,
                    host,
                });
            }
        }
        if added.is_empty() {
            return;
        }
        comps.extend(added);
    }
}

fn deployment_strategy() -> impl Strategy<Value = Deployment> {
    (
        prop::collection::vec(comp_strategy(), 1..6),
        prop::collection::vec(link_strategy(), 0..3),
        prop::collection::vec(host_strategy(), 0..3),
        prop::option::weighted(0.7, any::<usize>()),
    )
        .prop_map(|(comps, links, hosts, complete_seed)| {
            // Duplicate TOML keys are a parse error; keep names unique so
            // most deployments get as far as the planner.
            let mut seen = HashSet::new();
            let mut comps: Vec<Comp> = comps
                .into_iter()
                .filter(|c| seen.insert(c.name.clone()))
                .collect();
            if let Some(seed) = complete_seed {
                complete(&mut comps, seed);
            }
            let mut seen = HashSet::new();
            let hosts = hosts.into_iter().filter(|h| seen.insert(h.host)).collect();
            Deployment {
                comps,
                links,
                hosts,
            }
        })
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Deployment {
    fn pick(&self, p: &Pick) -> (String, Option<usize>) {
        match p {
            Pick::Declared(i) => {
                let c = &self.comps[i % self.comps.len()];
                (c.name.clone(), Some(c.entry))
            }
            Pick::Ghost(name) => (name.clone(), None),
        }
    }

    /// The deployment as `weld.toml` text.
    // Every table of a manifest, written out in one place.
    #[allow(clippy::too_many_lines)]
    fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.comps {
            out.push_str(&format!("[components.{}]\n", q(&c.name)));
            out.push_str(&format!("path = {}\n", q(&format!("{}.wasm", c.name))));
            if let Some(h) = c.host {
                out.push_str(&format!("host = {}\n", q(HOSTS[h])));
            }
            out.push('\n');
        }
        for l in &self.links {
            out.push_str("[[link]]\n");
            let mut export = self.pick(&l.export).0;
            let import = match &l.import {
                LinkImport::Raw(s) => s.clone(),
                LinkImport::Plausible(a, b, c) => {
                    let importers: Vec<(&Comp, Vec<String>)> = self
                        .comps
                        .iter()
                        .map(|c| {
                            let imports = CATALOGUE[c.entry].info.imports();
                            let names = imports
                                .into_iter()
                                .filter(|i| i.kind == ItemKind::Interface)
                                .map(|i| i.name)
                                .collect();
                            (c, names)
                        })
                        .filter(|(_, names): &(&Comp, Vec<String>)| !names.is_empty())
                        .collect();
                    if importers.is_empty() {
                        format!(
                            "{}:{}",
                            self.comps[0].name,
                            INTERFACES[a % INTERFACES.len()]
                        )
                    } else {
                        let (importer, names) = &importers[a % importers.len()];
                        let iface = &names[b % names.len()];
                        let exporters: Vec<&Comp> = self
                            .comps
                            .iter()
                            .filter(|o| CATALOGUE[o.entry].info.find_export(iface).is_some())
                            .collect();
                        if !exporters.is_empty() {
                            export = exporters[c % exporters.len()].name.clone();
                        }
                        format!("{}:{iface}", importer.name)
                    }
                }
                LinkImport::Split(p, iface) => {
                    let (name, entry) = self.pick(p);
                    let iface = match (iface, entry) {
                        (Iface::OfImporter(k), Some(e)) => {
                            let imports = CATALOGUE[e].info.imports();
                            if imports.is_empty() {
                                INTERFACES[k % INTERFACES.len()].clone()
                            } else {
                                imports[k % imports.len()].name.clone()
                            }
                        }
                        (Iface::OfImporter(k), None) | (Iface::Any(k), _) => {
                            INTERFACES[k % INTERFACES.len()].clone()
                        }
                    };
                    format!("{name}:{iface}")
                }
            };
            out.push_str(&format!("import = {}\n", q(&import)));
            out.push_str(&format!("export = {}\n", q(&export)));
            if let Some(t) = l.transport {
                out.push_str(&format!("transport = {}\n", q(TRANSPORTS[t])));
            }
            if let Some(a) = l.allow_trap {
                out.push_str(&format!("allow-trap = {a}\n"));
            }
            if let Some(s) = l.strategy {
                out.push_str(&format!("strategy = {}\n", q(STRATEGIES[s])));
            }
            if let Some(t) = l.timeout_ms {
                out.push_str(&format!("timeout-ms = {t}\n"));
            }
            out.push('\n');
        }
        for h in &self.hosts {
            let used = self.comps.iter().any(|c| c.host == Some(h.host));
            if !used && !h.keep_unused {
                continue;
            }
            out.push_str(&format!("[hosts.{}]\n", q(HOSTS[h.host])));
            match &h.wrpc {
                None => {}
                Some(EndpointGen::Tcp(None)) => out.push_str("wrpc = { transport = \"tcp\" }\n"),
                Some(EndpointGen::Tcp(Some(a))) => out.push_str(&format!(
                    "wrpc = {{ transport = \"tcp\", address = {} }}\n",
                    q(a)
                )),
                Some(EndpointGen::Unix(p)) => out.push_str(&format!(
                    "wrpc = {{ transport = \"unix\", path = {} }}\n",
                    q(p)
                )),
                Some(EndpointGen::Nats(None)) => out.push_str("wrpc = { transport = \"nats\" }\n"),
                Some(EndpointGen::Nats(Some(p))) => out.push_str(&format!(
                    "wrpc = {{ transport = \"nats\", prefix = {} }}\n",
                    q(p)
                )),
            }
            if let Some(s) = h.strategy {
                out.push_str(&format!("strategy = {}\n", q(STRATEGIES[s])));
            }
            out.push('\n');
        }
        out
    }

    /// The components the manifest declares, with their types.
    fn components(&self) -> IndexMap<String, ComponentInfo> {
        self.comps
            .iter()
            .map(|c| (c.name.clone(), CATALOGUE[c.entry].info.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Properties.

fn parse(text: &str) -> Result<Manifest, Diagnostics> {
    Manifest::parse(Path::new("weld.toml"), text)
}

fn check_diagnostics(d: &Diagnostics) -> Result<(), TestCaseError> {
    prop_assert!(!d.0.is_empty(), "an error without diagnostics");
    for diag in &d.0 {
        prop_assert!(
            !diag.message.trim().is_empty(),
            "an empty diagnostic: {diag:?}"
        );
    }
    // Rendering must not panic either.
    let _ = d.to_string();
    Ok(())
}

/// The checks on a successful plan.
// The properties of a plan, one after another, each a few lines.
#[allow(clippy::too_many_lines)]
fn check_plan(
    manifest: &Manifest,
    components: &IndexMap<String, ComponentInfo>,
    plan: &Plan,
) -> Result<(), TestCaseError> {
    // (b) every interface import resolved exactly once, nothing else.
    let mut wanted: HashSet<(String, String)> = HashSet::new();
    for (name, info) in components {
        for item in info.imports() {
            if item.kind == ItemKind::Interface {
                wanted.insert((name.clone(), item.name));
            }
        }
    }
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for r in &plan.resolutions {
        *counts
            .entry((r.component.clone(), r.import.clone()))
            .or_default() += 1;
    }
    for key in &wanted {
        prop_assert_eq!(
            counts.get(key).copied().unwrap_or(0),
            1,
            "import `{}` of `{}` is not resolved exactly once",
            &key.1,
            &key.0
        );
    }
    for key in counts.keys() {
        prop_assert!(
            wanted.contains(key),
            "resolution of `{}` for `{}`, which imports no such interface",
            &key.1,
            &key.0
        );
    }

    // (c) transports agree with hosts.
    for r in &plan.resolutions {
        let host_a = manifest.host_of(&r.component);
        match r.transport {
            Transport::Host => {
                prop_assert!(r.peer.is_none() && r.endpoint.is_none(), "{r:?}");
                prop_assert!(is_host_interface(&r.import), "{r:?}");
                prop_assert!(!r.explicit, "{r:?}");
            }
            t => {
                let peer = r.peer.as_deref();
                prop_assert!(
                    peer.is_some_and(|p| components.contains_key(p)),
                    "peer of {r:?}"
                );
                let peer = peer.unwrap();
                let host_b = manifest.host_of(peer);
                let export = r.export.as_deref().unwrap_or("");
                prop_assert!(
                    export == r.import || semver_compatible(&r.import, export),
                    "{r:?}"
                );
                prop_assert!(
                    components[peer].exports().iter().any(|e| e.name == export),
                    "{r:?}"
                );
                match t {
                    Transport::InProcess | Transport::Compose => {
                        prop_assert_eq!(host_a, host_b, "{:?}", r);
                        prop_assert!(r.endpoint.is_none(), "{r:?}");
                    }
                    Transport::Wrpc => {
                        prop_assert_eq!(
                            r.endpoint.as_ref(),
                            Some(&manifest.endpoint_of(host_b)),
                            "{:?}",
                            r
                        );
                    }
                    Transport::Host => unreachable!(),
                }
                prop_assert_eq!(r.strategy.is_some(), t == Transport::InProcess, "{:?}", r);
            }
        }
    }

    // Explicit links are honoured.
    for link in &manifest.links {
        let l = link.get_ref();
        let Some(r) = Manifest::split_import(l.import.get_ref()) else {
            return Err(TestCaseError::fail(format!(
                "a plan despite the malformed link {l:?}"
            )));
        };
        let interface_import = components[&r.component]
            .imports()
            .iter()
            .any(|i| i.name == r.interface && i.kind == ItemKind::Interface);
        if !interface_import {
            continue;
        }
        let res = plan
            .resolutions
            .iter()
            .find(|x| x.component == r.component && x.import == r.interface)
            .expect("checked above");
        prop_assert!(res.explicit, "{res:?}");
        prop_assert_eq!(res.peer.as_deref(), Some(l.export.get_ref().as_str()));
        prop_assert_eq!(res.allow_trap, l.allow_trap);
        let expected = match l.transport() {
            TransportChoice::Auto => None,
            TransportChoice::Compose => Some(Transport::Compose),
            TransportChoice::InProcess => Some(Transport::InProcess),
            TransportChoice::Wrpc => Some(Transport::Wrpc),
        };
        if let Some(t) = expected {
            prop_assert_eq!(res.transport, t, "{:?}", res);
        }
    }

    // No cycles between components.
    let edges: Vec<(&str, &str)> = plan
        .resolutions
        .iter()
        .filter_map(|r| Some((r.component.as_str(), r.peer.as_deref()?)))
        .collect();
    let mut remaining: HashSet<&str> = components.keys().map(String::as_str).collect();
    loop {
        let sinks: Vec<&str> = remaining
            .iter()
            .copied()
            .filter(|n| !edges.iter().any(|(a, b)| a == n && remaining.contains(b)))
            .collect();
        if sinks.is_empty() {
            break;
        }
        for s in sinks {
            remaining.remove(s);
        }
    }
    prop_assert!(
        remaining.is_empty(),
        "a plan with a cycle among {remaining:?}"
    );

    // Components in manifest order; rendering does not panic.
    let names: Vec<_> = plan.components.iter().map(|c| c.name.as_str()).collect();
    let declared: Vec<_> = manifest.components.keys().map(String::as_str).collect();
    prop_assert_eq!(names, declared);
    let _ = plan.to_table(true, "");
    let _ = plan.to_table(false, "");
    let _ = plan.to_dot();
    Ok(())
}

/// Parses and plans `text` against `components`, checking every property;
/// returns the plan when one was made.
fn run_deployment(
    text: &str,
    components: impl FnOnce(&Manifest) -> IndexMap<String, ComponentInfo>,
) -> Result<Option<Plan>, TestCaseError> {
    let manifest = match parse(text) {
        Ok(m) => m,
        Err(d) => {
            check_diagnostics(&d)?;
            return Ok(None);
        }
    };
    let components = components(&manifest);
    match plan(&manifest, &components) {
        Ok(p) => {
            check_plan(&manifest, &components, &p)?;
            Ok(Some(p))
        }
        Err(d) => {
            check_diagnostics(&d)?;
            Ok(None)
        }
    }
}

/// Small edits to manifest text: deletions, insertions, swaps, repeats.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    SwapLines(usize, usize),
    RepeatLine(usize),
    Truncate(usize),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
        (
            any::<usize>(),
            prop_oneof![
                "[\\[\\]{}=\",.:@#\\\\\n ]{1,3}",
                "[a-z0-9_-]{1,6}",
                ".{1,3}",
                Just("\"\"\"".to_string()),
                Just("[[link]]\n".to_string()),
                Just("[components.x]\n".to_string()),
            ]
        )
            .prop_map(|(a, s)| Mutation::Insert(a, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::RepeatLine),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        match m {
            Mutation::Delete(at, n) => {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    let end = (at + n).min(chars.len());
                    chars.drain(at..end);
                }
            }
            Mutation::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Mutation::SwapLines(a, b) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let n = lines.len();
                    lines.swap(a % n, b % n);
                }
                chars = lines.join("\n").chars().collect();
            }
            Mutation::RepeatLine(a) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let a = a % lines.len();
                    lines.insert(a, lines[a]);
                }
                chars = lines.join("\n").chars().collect();
            }
            Mutation::Truncate(at) => {
                let at = at % (chars.len() + 1);
                chars.truncate(at);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    /// (a)–(d) on random deployments.
    #[test]
    fn random_deployments_plan_soundly(d in deployment_strategy()) {
        let text = d.render();
        run_deployment(&text, |_| d.components())?;
    }

    /// Mutated valid manifests: parsing never panics, and whatever parses
    /// plans soundly.
    #[test]
    fn mutated_manifests_never_panic(
        d in deployment_strategy(),
        mutations in prop::collection::vec(mutation_strategy(), 1..5),
    ) {
        let text = mutate(&d.render(), &mutations);
        run_deployment(&text, components_for)?;
    }
}

proptest! {
    #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

    /// Arbitrary text: parsing never panics.
    #[test]
    fn parse_never_panics_on_arbitrary_text(text in ".{0,200}") {
        if let Err(d) = parse(&text) {
            check_diagnostics(&d)?;
        }
    }

    /// TOML-shaped noise gets further into the parser and the validation.
    #[test]
    fn parse_never_panics_on_toml_like_text(
        text in "(\\[\\[?(components|link|hosts|compose)(\\.[a-z\"é-]{0,4})?\\]\\]?\n|[a-z-]{1,10} = (\"[^\"\n]{0,10}\"|[0-9]{1,3}|true|\\[\\]|\\{ ?[a-z]+ = \"[a-z]{0,4}\" ?\\})\n){0,12}",
    ) {
        run_deployment(&text, components_for)?;
    }
}

// ---------------------------------------------------------------------------
// The generators must reach the planner, and it must both succeed and fail.

#[test]
fn catalogue_builds() {
    assert_eq!(CATALOGUE.len(), 20);
    let greet = &CATALOGUE
        .iter()
        .find(|e| e.label == "greet-caller")
        .unwrap()
        .info;
    let names: Vec<_> = greet.imports().into_iter().map(|i| i.name).collect();
    assert!(
        names.contains(&"wrpc:rpc/error@0.1.0".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"demo:greet/greeter@0.1.0".to_string()),
        "{names:?}"
    );
}

#[test]
fn known_deployment_plans() {
    let text = r#"
[components.driver]
path = "driver.wasm"
host = "edge-1"

[components.adder]
path = "adder.wasm"
host = "edge-2"

[components.greet-caller]
path = "gc.wasm"

[components.greeter]
path = "g.wasm"
host = "edge-2"

[components.hello]
path = "hello.wasm"

[[link]]
import = "driver:demo:math/adder@0.1.0"
export = "adder"
allow-trap = true

[hosts.edge-2]
wrpc = { transport = "unix", path = "/tmp/w.sock" }
"#;
    let made = run_deployment(text, components_for).unwrap();
    let plan = made.unwrap_or_else(|| {
        panic!(
            "{}",
            parse(text)
                .and_then(|m| plan(&m, &components_for(&m)))
                .unwrap_err()
        )
    });
    let rows: Vec<(&str, &str, Transport, Option<&str>)> = plan
        .resolutions
        .iter()
        .map(|r| {
            (
                r.component.as_str(),
                r.import.as_str(),
                r.transport,
                r.peer.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "driver",
                "demo:math/adder@0.1.0",
                Transport::Wrpc,
                Some("adder")
            ),
            (
                "greet-caller",
                "wrpc:rpc/error@0.1.0",
                Transport::Host,
                None
            ),
            (
                "greet-caller",
                "demo:greet/greeter@0.1.0",
                Transport::Wrpc,
                Some("greeter")
            ),
            ("greeter", "wrpc:rpc/error@0.1.0", Transport::Host, None),
            ("hello", "wasi:cli/stdout@0.2.0", Transport::Host, None),
        ]
    );
}

#[test]
fn generators_reach_both_outcomes() {
    let mut runner = TestRunner::deterministic();
    let strategy = deployment_strategy();
    let (mut planned, mut failed) = (0, 0);
    let mut transports: HashMap<Transport, usize> = HashMap::new();
    let mut explicit = 0;
    for _ in 0..1000 {
        let d = strategy.new_tree(&mut runner).unwrap().current();
        match run_deployment(&d.render(), |_| d.components()) {
            Ok(Some(p)) => {
                planned += 1;
                for r in &p.resolutions {
                    *transports.entry(r.transport).or_default() += 1;
                    explicit += usize::from(r.explicit);
                }
            }
            Ok(None) => failed += 1,
            Err(e) => panic!("{e}\n{}", d.render()),
        }
    }
    eprintln!(
        "{planned} planned, {failed} failed; resolutions {transports:?}, {explicit} explicit"
    );
    assert!(planned >= 100, "only {planned} of 1000 deployments planned");
    assert!(failed >= 100, "only {failed} of 1000 deployments failed");
    for t in [
        Transport::InProcess,
        Transport::Compose,
        Transport::Wrpc,
        Transport::Host,
    ] {
        assert!(
            transports.contains_key(&t),
            "no `{t}` resolution: {transports:?}"
        );
    }
    assert!(explicit > 0, "no explicit link was ever planned");
}

/// Regression, found by `generators_reach_both_outcomes`: an inline
/// interface import `foo` whose only name match is another component's root
/// *function* export `foo` used to get no resolution and no error. Only
/// interfaces satisfy interface imports now.
#[test]
fn root_function_export_named_like_an_inline_import() {
    let importer = ComponentInfo::from_wit(
        "package demo:odd@0.1.0; world w { import foo: interface { f: func(); } }",
        "w",
    )
    .unwrap();
    let exporter = ComponentInfo::from_wit(
        "package demo:odd@0.1.0; world w { export foo: func(); }",
        "w",
    )
    .unwrap();
    let components: IndexMap<String, ComponentInfo> =
        [("a".to_string(), importer), ("b".to_string(), exporter)]
            .into_iter()
            .collect();
    let text = "[components.a]\npath = \"a.wasm\"\n[components.b]\npath = \"b.wasm\"\n";
    let link = "[[link]]\nimport = \"a:foo\"\nexport = \"b\"\n";
    for text in [text.to_string(), format!("{text}{link}")] {
        let manifest = parse(&text).unwrap();
        match plan(&manifest, &components) {
            Ok(p) => panic!(
                "planned with import `foo` of `a` resolved {} times: {:?}\n{text}",
                p.imports_of("a").count(),
                p.resolutions
            ),
            Err(d) => check_diagnostics(&d).unwrap(),
        }
    }
}

/// A `wasi:*` interface the host does not provide (`wasi:keyvalue`, a WASI
/// 0.3 draft) is refused at plan time naming it and listing what the host
/// provides at its release, and outgoing HTTP without a grant as such;
/// the ones it provides resolve to the host; a component exporting the
/// missing one satisfies it like any interface.
#[test]
fn only_the_wasi_the_host_provides_resolves_to_the_host() {
    let handler = ComponentInfo::from_wit(
        r#"package demo:h@0.1.0;
package wasi:http@0.2.6 { interface outgoing-handler { type t = u32; } }
package wasi:keyvalue@0.2.0 { interface store { type t = u32; } }
package wasi:cli@0.3.0-rc-2025-09-16 { interface environment { get-arguments: func() -> list<string>; } }
package wasi:clocks@0.2.6 { interface wall-clock { now: func() -> u64; } }
world w {
  import wasi:http/outgoing-handler@0.2.6;
  import wasi:keyvalue/store@0.2.0;
  import wasi:cli/environment@0.3.0-rc-2025-09-16;
  import wasi:clocks/wall-clock@0.2.6;
}"#,
        "w",
    )
    .unwrap();
    let components: IndexMap<String, ComponentInfo> = [("handler".to_string(), handler.clone())]
        .into_iter()
        .collect();
    let manifest = parse("[components.handler]\npath = \"h.wasm\"\n").unwrap();
    let d = plan(&manifest, &components).unwrap_err().to_string();
    // Outgoing HTTP is the host's only to a component granted it.
    assert!(
        d.contains("component `handler` imports `wasi:http/outgoing-handler@0.2.6` (outgoing HTTP), which the manifest does not grant it"),
        "{d}"
    );
    for refused in [
        "wasi:keyvalue/store@0.2.0",
        "wasi:cli/environment@0.3.0-rc-2025-09-16",
    ] {
        assert!(
            d.contains(&format!(
                "component `handler` import `{refused}`: weld's host does not provide this WASI interface"
            )),
            "{d}"
        );
    }
    assert!(!d.contains("wasi:clocks/wall-clock@0.2.6`:"), "{d}");
    assert!(
        d.contains("the host provides WASI 0.2.x: wasi:cli/environment, "),
        "{d}"
    );
    assert!(
        d.contains("the host provides WASI 0.3.x: wasi:cli/environment, "),
        "{d}"
    );

    // A component that exports the missing interfaces provides them.
    let http = ComponentInfo::from_wit(
        r#"package demo:p@0.1.0;
package wasi:http@0.2.6 { interface outgoing-handler { type t = u32; } }
package wasi:keyvalue@0.2.0 { interface store { type t = u32; } }
package wasi:cli@0.3.0-rc-2025-09-16 { interface environment { get-arguments: func() -> list<string>; } }
world w { export wasi:http/outgoing-handler@0.2.6; export wasi:keyvalue/store@0.2.0; export wasi:cli/environment@0.3.0-rc-2025-09-16; }"#,
        "w",
    )
    .unwrap();
    let components: IndexMap<String, ComponentInfo> =
        [("handler".to_string(), handler), ("virt".to_string(), http)]
            .into_iter()
            .collect();
    let manifest =
        parse("[components.handler]\npath = \"h.wasm\"\n[components.virt]\npath = \"v.wasm\"\n")
            .unwrap();
    let p = plan(&manifest, &components).unwrap_or_else(|d| panic!("{d}"));
    let peers: Vec<_> = p
        .imports_of("handler")
        .map(|r| (r.import.as_str(), r.peer.as_deref()))
        .collect();
    assert!(
        peers.contains(&("wasi:http/outgoing-handler@0.2.6", Some("virt"))),
        "{peers:?}"
    );
    assert!(
        peers.contains(&("wasi:clocks/wall-clock@0.2.6", None)),
        "{peers:?}"
    );

    // The WASI 0.3 release resolves to the host, named as such.
    let p3 = ComponentInfo::from_wit(
        r#"package demo:q@0.1.0;
package wasi:cli@0.3.0 { interface environment { get-arguments: func() -> list<string>; } }
world w { import wasi:cli/environment@0.3.0; }"#,
        "w",
    )
    .unwrap();
    let components: IndexMap<String, ComponentInfo> =
        [("cmd".to_string(), p3)].into_iter().collect();
    let p = plan(
        &parse("[components.cmd]\npath = \"c.wasm\"\n").unwrap(),
        &components,
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let r = p.imports_of("cmd").next().unwrap();
    assert_eq!(r.peer, None);
    assert!(
        r.reason.starts_with("WASI 0.3, provided by the host"),
        "{}",
        r.reason
    );
}

/// wRPC 0.29's framing in weld carries no streams, futures or async tasks:
/// a wrpc link or an `expose` of an interface with an async function or a
/// `stream`/`future` anywhere in a signature is refused at plan time,
/// naming the function and why, even with `allow-trap` (the call could not
/// be made at all).
#[test]
fn async_functions_streams_and_futures_are_refused_over_wrpc() {
    let wit = |body: &str, world: &str| {
        ComponentInfo::from_wit(
            &format!(
                "package demo:s@0.1.0;\n\
                 package wrpc:rpc@0.1.0 {{ interface error {{ resource error; }} }}\n\
                 interface api {{\n  use wrpc:rpc/error@0.1.0.{{error}};\n{body}\n}}\n{world}"
            ),
            "w",
        )
        .unwrap()
    };
    for (body, why) in [
        (
            "  fetch: async func() -> result<u32, error>;",
            "`fetch` is an async function",
        ),
        (
            "  bytes: func() -> result<stream<u8>, error>;",
            "`bytes` carries a `stream<u8>`",
        ),
        (
            "  record r { done: option<future<u32>> }\n  later: func(x: r) -> result<_, error>;",
            "`later` carries a `future<u32>`",
        ),
    ] {
        let components: IndexMap<String, ComponentInfo> = [
            ("a".to_string(), wit(body, "world w { import api; }")),
            ("b".to_string(), wit(body, "world w { export api; }")),
        ]
        .into_iter()
        .collect();
        let hosts = "[hosts.b]\nwrpc = { transport = \"tcp\", address = \"127.0.0.1:1\" }\n";
        let linked = format!(
            "[components.a]\npath = \"a.wasm\"\nhost = \"a\"\n\
             [components.b]\npath = \"b.wasm\"\nhost = \"b\"\n\
             [[link]]\nimport = \"a:demo:s/api@0.1.0\"\nexport = \"b\"\nallow-trap = true\n{hosts}"
        );
        let d = plan(&parse(&linked).unwrap(), &components)
            .unwrap_err()
            .to_string();
        assert!(
            d.contains(&format!(
                "cannot use wrpc: {why}, which weld's wRPC framing cannot carry"
            )),
            "{d}"
        );
        let exposed = format!(
            "[components.b]\npath = \"b.wasm\"\nhost = \"b\"\n{hosts}expose = [\"b:demo:s/api@0.1.0\"]\n"
        );
        let d = plan(&parse(&exposed).unwrap(), &components)
            .unwrap_err()
            .to_string();
        assert!(
            d.contains(&format!(
                "cannot serve it: {why}, which weld's wRPC framing cannot carry"
            )),
            "{d}"
        );
    }
}

/// `observe = true` on a link whose two ends other fused links already
/// join into one fused component is refused by line: the runtime would
/// fuse it too, and nothing would count its calls. With one of those
/// links host-linked, the ends stay apart and the link is observed.
#[test]
fn observe_is_refused_where_fused_links_join_both_ends() {
    const WIT: &str = "package t:x@0.1.0;
        interface p { f: func() -> u32; }
        interface q { g: func() -> u32; }
        world a { import p; import q; }
        world b { export p; }
        world c { import p; export q; }";
    let components: IndexMap<String, ComponentInfo> = ["a", "b", "c"]
        .iter()
        .map(|w| (w.to_string(), ComponentInfo::from_wit(WIT, w).unwrap()))
        .collect();
    let manifest = |c_to_b: &str| {
        format!(
            "[components.a]\npath = \"a.wasm\"\n[components.b]\npath = \"b.wasm\"\n[components.c]\npath = \"c.wasm\"\n\n\
             [[link]]\nimport = \"a:t:x/p@0.1.0\"\nexport = \"b\"\nobserve = true\n\n\
             [[link]]\nimport = \"c:t:x/p@0.1.0\"\nexport = \"b\"\n{c_to_b}"
        )
    };
    let joined = parse(&manifest("")).unwrap();
    let e = plan(&joined, &components).unwrap_err();
    let message = e.to_string();
    assert!(message.contains("weld.toml:8:1"), "{message}");
    assert!(
        message.contains(
            "`observe = true` cannot count its calls: other fused links join `a` and `b`"
        ),
        "{message}"
    );
    let apart = parse(&manifest("strategy = \"host-linked\"\n")).unwrap();
    let p = plan(&apart, &components).unwrap();
    let observed = p
        .resolutions
        .iter()
        .find(|r| r.component == "a" && r.import == "t:x/p@0.1.0")
        .unwrap();
    assert!(observed.observed && observed.observe, "{observed:?}");
}
