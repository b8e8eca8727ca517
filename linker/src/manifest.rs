//! The deployment manifest (`weld.toml`): which components run on which
//! hosts, and which imports link to which exports over which transport.
//!
//! ```toml
//! [components.driver]
//! path = "driver.wasm"
//! host = "edge-1"                 # optional; defaults to the host "default"
//!
//! [components.adder]
//! path = "adder.wasm"
//!
//! [[link]]
//! import = "driver:demo:math/adder@0.1.0"   # <component>:<interface>
//! export = "adder"                          # the component exporting it
//! transport = "auto"                        # auto | compose | in-process | wrpc
//!
//! [hosts.edge-2]
//! wrpc = { transport = "tcp", address = "127.0.0.1:7761" }
//! expose = ["adder:demo:math/adder@0.1.0"]  # served to callers outside the manifest
//!
//! [providers.billing]                       # an external wRPC server weld does not run
//! wit = "wit/billing"
//! exports = ["acme:billing/charge@0.1.0"]
//! host = "billing-svc"                      # reached at [hosts.billing-svc].wrpc
//! ```
//!
//! `include = ["platform.toml"]` reads `[hosts]` and `[providers]` from
//! other files (relative to the including one; nested, cycles refused).
//!
//! Text files a manifest names — included files and providers' WIT, whose
//! lines a diagnostic may quote — must lie (after following symbolic links)
//! in the folder tree of the top-level manifest, or of a folder its
//! top-level `allow-dirs = ["../platform"]` names: a manifest from an
//! untrusted change cannot make weld read and print `/proc/self/environ`.
//!
//! Parsing is strict: unknown keys are errors, and every error carries the
//! file, line and column it was found at.

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
pub use crate::wrpc::endpoint::{Endpoint, DEFAULT_TCP_ADDRESS};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The largest `deadline-ms` accepted: one hour.
pub const MAX_DEADLINE_MS: u64 = 3_600_000;

/// The host components run on when the manifest names none.
pub const DEFAULT_HOST: &str = "default";

/// The longest per-call timeout a link may set: one hour. Past that a
/// caller has long given up, and a huge value would make a silent server
/// hang the call.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// How a link is carried at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TransportChoice {
    /// Same host: in-process; different hosts: wRPC.
    #[default]
    Auto,
    /// Static composition into one artifact at build time.
    Compose,
    /// Same wasmtime `Store`, in-process calls.
    InProcess,
    /// A wRPC stub in the caller, served by `weld serve` on the callee's host.
    Wrpc,
}

/// How an in-process link is realised in the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Components composed in memory and instantiated as one: fused adapters.
    Fused,
    /// Separate instances in one store; imports are host functions that call
    /// the callee's export.
    HostLinked,
}

/// How `weld serve` instantiates a served component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstancePolicy {
    /// One instance; calls are serialised and state is kept.
    #[default]
    Shared,
    /// A fresh instance for every call.
    PerCall,
}

/// What the manifest says about one component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComponentSpec {
    /// Path of the component, relative to the manifest. Required in a
    /// manifest file; a deployment built from bytes in memory may omit it.
    #[serde(default)]
    pub path: Option<Spanned<PathBuf>>,
    /// The host it runs on.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Instance policy for `weld serve`.
    #[serde(default)]
    pub instances: InstancePolicy,
    /// Environment variables granted to the guest (deny by default).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Host directories preopened for the guest, `guest path -> host path`.
    #[serde(default)]
    pub dirs: IndexMap<String, PathBuf>,
    /// Wall-clock limit on a call into this component, in milliseconds. The
    /// deadline belongs to the store, so it bounds the whole call tree
    /// (fused and host-linked callees) while wasm runs.
    #[serde(default)]
    pub deadline_ms: Option<Spanned<u64>>,
    /// Cap on each linear memory (and table) of the store this component
    /// runs in: `"256MiB"`, `"64KiB"`, `"1GiB"` or a number of bytes.
    #[serde(default)]
    pub max_memory: Option<Spanned<ByteSize>>,
}

/// A size in bytes, written as a number of bytes or a string with a
/// binary unit (`"512KiB"`, `"256MiB"`, `"1GiB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"256MiB"`, `"64 KiB"`, `"1GiB"`, `"4096"` or `"4096B"`.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is not a size: write e.g. \"256MiB\""))?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` in `{text}`: use B, KiB, MiB or GiB"
                ))
            }
        };
        n.checked_mul(scale)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= scale && n.is_multiple_of(scale) {
                return write!(f, "{} {unit}", n / scale);
            }
        }
        write!(f, "{n} bytes")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"256MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a size cannot be negative ({n})")))
            }
            fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<ByteSize, E> {
                ByteSize::parse(t).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One `[[link]]`: an import of one component satisfied by another's export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkSpec {
    /// `<component>:<interface>`, e.g. `driver:demo:math/adder@0.1.0`.
    pub import: Spanned<String>,
    /// The component whose export satisfies the import.
    pub export: Spanned<String>,
    /// Transport; `auto` when absent (see [`LinkSpec::transport`]).
    #[serde(default, rename = "transport")]
    pub transport_spec: Option<Spanned<TransportChoice>>,
    /// Let a `wrpc` link carry an interface that is not wRPC-safe: a
    /// transport failure then traps the caller.
    #[serde(default)]
    pub allow_trap: bool,
    /// In-process strategy for this link.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Per-call timeout for `wrpc` links, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl LinkSpec {
    /// The transport the link asks for.
    pub fn transport(&self) -> TransportChoice {
        self.transport_spec
            .as_ref()
            .map(|t| *t.get_ref())
            .unwrap_or_default()
    }
}

/// What the manifest says about a host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostSpec {
    /// Where this host serves wRPC.
    #[serde(default)]
    pub wrpc: Option<Spanned<Endpoint>>,
    /// The NATS queue group replicas of this host share calls through
    /// (default: the host's name).
    #[serde(default)]
    pub queue_group: Option<Spanned<String>>,
    /// Default in-process strategy for links whose both ends are here.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Interfaces `weld serve` serves to callers outside the manifest, as
    /// `component:interface` (the component on this host, the interface one
    /// of its exports), whether or not a link calls them.
    #[serde(default)]
    pub expose: Vec<Spanned<String>>,
}

/// `[providers.NAME]`: an external wRPC server weld does not run, known by
/// the WIT it serves and the host it is reached at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderSpec {
    /// A WIT file, or a folder of WIT files with its dependencies under
    /// `deps/`, relative to the manifest.
    pub wit: Spanned<PathBuf>,
    /// The interfaces it serves, by full name (`acme:billing/charge@0.1.0`).
    pub exports: Vec<Spanned<String>>,
    /// The host it is reached at: `[hosts.NAME].wrpc` says where.
    pub host: Spanned<String>,
}

/// `[compose]`: options for `weld compose`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComposeSpec {
    /// Components whose exports the composed component exports; the roots
    /// (components nothing imports from) when absent.
    #[serde(default)]
    pub exports: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    #[serde(default)]
    include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    allow_dirs: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    components: IndexMap<String, Spanned<ComponentSpec>>,
    #[serde(default, rename = "link")]
    links: Vec<Spanned<LinkSpec>>,
    #[serde(default)]
    hosts: IndexMap<String, Spanned<HostSpec>>,
    #[serde(default)]
    providers: IndexMap<String, Spanned<ProviderSpec>>,
    #[serde(default)]
    compose: Option<ComposeSpec>,
}

/// An included file: platform definitions (`[hosts]`, `[providers]`)
/// written once and shared by deployments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPlatform {
    #[serde(default)]
    include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    hosts: IndexMap<String, Spanned<HostSpec>>,
    #[serde(default)]
    providers: IndexMap<String, Spanned<ProviderSpec>>,
}

/// A file a manifest includes, kept to place diagnostics in it.
#[derive(Debug, Clone)]
pub struct Included {
    /// The file.
    pub file: PathBuf,
    /// Its text.
    pub source: String,
}

/// The most files one manifest may include, directly or not.
pub const MAX_INCLUDED: usize = 64;

/// A parsed and validated deployment manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file it was read from (or a pseudo-name for in-memory text).
    pub file: PathBuf,
    /// The text, kept to turn spans into lines and columns.
    pub source: String,
    /// Components by name, in file order.
    pub components: IndexMap<String, Spanned<ComponentSpec>>,
    /// Links in file order.
    pub links: Vec<Spanned<LinkSpec>>,
    /// Hosts by name.
    pub hosts: IndexMap<String, Spanned<HostSpec>>,
    /// External wRPC servers by name.
    pub providers: IndexMap<String, Spanned<ProviderSpec>>,
    /// Composition options.
    pub compose: ComposeSpec,
    /// Written by weld for component files given without a manifest: its
    /// spans point at no file a user wrote, so diagnostics carry no
    /// location.
    generated: bool,
    /// The files included (directly or not), in the order read.
    pub included: Vec<Included>,
    /// Which included file (index + 1; 0: this file) defines each host.
    host_origin: IndexMap<String, usize>,
    /// Which included file (index + 1; 0: this file) defines each provider.
    provider_origin: IndexMap<String, usize>,
    /// The folders (canonical) whose trees included files and providers'
    /// WIT may be read from: the top-level manifest's and `allow-dirs`.
    read_roots: Vec<PathBuf>,
}

/// The two halves of a link's `import`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRef {
    /// The importing component.
    pub component: String,
    /// The imported interface, e.g. `demo:math/adder@0.1.0`.
    pub interface: String,
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, Diagnostics> {
        Manifest::load_capped(path, crate::input::MAX_MANIFEST_BYTES)
    }

    /// [`Manifest::load`] reading at most `cap` bytes.
    pub fn load_capped(path: &Path, cap: u64) -> Result<Manifest, Diagnostics> {
        let cannot = |e: &dyn std::fmt::Display| {
            Diagnostic::new(format!("cannot read manifest `{}`: {e}", path.display()))
        };
        let bytes = crate::input::read_file(path, cap).map_err(|e| cannot(&e))?;
        let source = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        Manifest::parse(path, &source)
    }

    /// Parses and validates manifest text; `file` is used in messages and to
    /// resolve relative component paths.
    pub fn parse(file: &Path, source: &str) -> Result<Manifest, Diagnostics> {
        Manifest::parse_as(file, source, false)
    }

    /// [`Manifest::parse`]; a `generated` manifest's diagnostics carry no
    /// location (they would point into a file nobody wrote).
    fn parse_as(file: &Path, source: &str, generated: bool) -> Result<Manifest, Diagnostics> {
        let raw: RawManifest = toml::from_str(source).map_err(|e| {
            let location = e
                .span()
                .filter(|_| !generated)
                .map(|s| Location::from_span(file, source, s));
            Diagnostic::new(format!("invalid manifest: {}", e.message().trim_end())).at(location)
        })?;
        let mut manifest = Manifest {
            file: file.to_path_buf(),
            source: source.to_string(),
            components: raw.components,
            links: raw.links,
            host_origin: raw.hosts.keys().map(|h| (h.clone(), 0)).collect(),
            provider_origin: raw.providers.keys().map(|p| (p.clone(), 0)).collect(),
            hosts: raw.hosts,
            providers: raw.providers,
            compose: raw.compose.unwrap_or_default(),
            generated,
            included: Vec::new(),
            read_roots: Vec::new(),
        };
        manifest.read_roots = manifest.read_roots(&raw.allow_dirs)?;
        let mut chain = vec![file.to_path_buf()];
        manifest.include(0, &raw.include, &mut chain)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The canonical folders text files may be read from: this manifest's
    /// own and those `allow_dirs` names (relative to it).
    fn read_roots(&self, allow_dirs: &[Spanned<PathBuf>]) -> Result<Vec<PathBuf>, Diagnostics> {
        let here = self.dir_of(0);
        let here = if here.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            here
        };
        let mut roots = Vec::new();
        let mut errors = Vec::new();
        // This folder may be gone (a pseudo-name for in-memory text): then
        // no file can be read from it either.
        if let Ok(dir) = std::fs::canonicalize(&here) {
            roots.push(dir);
        }
        for dir in allow_dirs {
            match std::fs::canonicalize(here.join(dir.get_ref())) {
                Ok(d) if d.is_dir() => roots.push(d),
                Ok(_) => errors.push(
                    Diagnostic::new(format!(
                        "`allow-dirs` names `{}`, which is not a folder",
                        dir.get_ref().display()
                    ))
                    .at(self.locate(dir.span())),
                ),
                Err(e) => errors.push(
                    Diagnostic::new(format!(
                        "`allow-dirs` names `{}`: {e}",
                        dir.get_ref().display()
                    ))
                    .at(self.locate(dir.span())),
                ),
            }
        }
        if errors.is_empty() {
            Ok(roots)
        } else {
            Err(Diagnostics(errors))
        }
    }

    /// Refuses a text file outside the folders weld may read from (see the
    /// module docs), before anything of it is read. `what` names the entry
    /// ("included", "WIT of provider `p`"). A path that does not exist
    /// passes: reading it fails with its own error.
    ///
    /// # Errors
    /// A diagnostic naming the path as written and the folders allowed,
    /// never anything of the file.
    fn confined(&self, what: &str, path: &Path, at: Option<Location>) -> Result<(), Diagnostic> {
        let Ok(real) = std::fs::canonicalize(path) else {
            return Ok(());
        };
        if self.read_roots.iter().any(|root| real.starts_with(root)) {
            return Ok(());
        }
        let roots: Vec<String> = self
            .read_roots
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        Err(Diagnostic::new(format!(
            "{what} `{}` is outside the folders a manifest may read from ({})",
            path.display(),
            crate::diagnostic::quoted(&roots)
        ))
        .at(at)
        .with_help(
            "move it under the manifest's folder, or name its folder in the top-level manifest's `allow-dirs`",
        ))
    }

    /// Reads the files `entries` (of the file at `origin`) name, and the
    /// files they include, depth first; `chain` is the path of includes
    /// that led here, to name a cycle.
    fn include(
        &mut self,
        origin: usize,
        entries: &[Spanned<PathBuf>],
        chain: &mut Vec<PathBuf>,
    ) -> Result<(), Diagnostics> {
        for entry in entries {
            let at = self.locate_in(origin, entry.span());
            let path = self.dir_of(origin).join(entry.get_ref());
            let same = |p: &PathBuf| {
                p == &path
                    || std::fs::canonicalize(p)
                        .ok()
                        .is_some_and(|c| std::fs::canonicalize(&path).is_ok_and(|d| d == c))
            };
            if chain.iter().any(same) {
                let names: Vec<String> = chain
                    .iter()
                    .chain(std::iter::once(&path))
                    .map(|p| format!("`{}`", p.display()))
                    .collect();
                return Err(Diagnostic::new(format!(
                    "include cycle: {}",
                    names.join(" includes ")
                ))
                .at(at)
                .into());
            }
            if self.included.len() >= MAX_INCLUDED {
                return Err(
                    Diagnostic::new(format!("more than {MAX_INCLUDED} included files"))
                        .at(at)
                        .into(),
                );
            }
            self.confined("included", &path, at.clone())?;
            let cannot = |e: &dyn std::fmt::Display| {
                Diagnostic::new(format!("cannot read included `{}`: {e}", path.display()))
                    .at(at.clone())
            };
            let bytes = crate::input::read_file(&path, crate::input::MAX_MANIFEST_BYTES)
                .map_err(|e| cannot(&e))?;
            let source = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
            let raw: RawPlatform = toml::from_str(&source).map_err(|e| {
                let location = e.span().map(|s| Location::from_span(&path, &source, s));
                Diagnostic::new(format!(
                    "invalid included file (it may hold `include`, `[hosts]` and `[providers]`): {}",
                    e.message().trim_end()
                ))
                .at(location)
            })?;
            self.included.push(Included {
                file: path.clone(),
                source,
            });
            let here = self.included.len();
            let twice_hosts = merge(raw.hosts, here, &mut self.hosts, &mut self.host_origin);
            let twice_providers = merge(
                raw.providers,
                here,
                &mut self.providers,
                &mut self.provider_origin,
            );
            let mut errors: Vec<Diagnostic> = twice_hosts
                .into_iter()
                .map(|(name, first, span)| {
                    let first_span = self.hosts[&name].span();
                    self.defined_twice("host", &name, (first, first_span), (here, span))
                })
                .collect();
            errors.extend(twice_providers.into_iter().map(|(name, first, span)| {
                let first_span = self.providers[&name].span();
                self.defined_twice("provider", &name, (first, first_span), (here, span))
            }));
            if !errors.is_empty() {
                return Err(Diagnostics(errors));
            }
            chain.push(path);
            self.include(here, &raw.include, chain)?;
            chain.pop();
        }
        Ok(())
    }

    /// "host `x` is defined twice", at the second definition, naming the
    /// first.
    fn defined_twice(
        &self,
        what: &str,
        name: &str,
        first: (usize, Range<usize>),
        second: (usize, Range<usize>),
    ) -> Diagnostic {
        let place = |(origin, span): (usize, Range<usize>)| {
            self.locate_in(origin, span).map_or_else(
                || self.file_of(origin).display().to_string(),
                |l| l.to_string(),
            )
        };
        Diagnostic::new(format!(
            "{what} `{name}` is defined twice: at {} and at {}",
            place(first),
            place(second.clone())
        ))
        .at(self.locate_in(second.0, second.1))
    }

    /// The file at `origin` (0: this manifest; i: the i-th included).
    fn file_of(&self, origin: usize) -> &Path {
        match origin {
            0 => &self.file,
            i => &self.included[i - 1].file,
        }
    }

    /// The folder paths in the file at `origin` are relative to.
    fn dir_of(&self, origin: usize) -> PathBuf {
        self.file_of(origin)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Location of a span of the file at `origin`.
    fn locate_in(&self, origin: usize, span: Range<usize>) -> Option<Location> {
        match origin {
            0 => self.locate(span),
            i => {
                let inc = &self.included[i - 1];
                Some(Location::from_span(&inc.file, &inc.source, span))
            }
        }
    }

    /// Location of a span inside the definition of host `host` (in
    /// whichever file defines it).
    pub fn locate_host(&self, host: &str, span: Range<usize>) -> Option<Location> {
        self.locate_in(self.host_origin.get(host).copied().unwrap_or(0), span)
    }

    /// Location of a span inside the definition of provider `name`.
    pub fn locate_provider(&self, name: &str, span: Range<usize>) -> Option<Location> {
        self.locate_in(self.provider_origin.get(name).copied().unwrap_or(0), span)
    }

    /// The manifest of component files deployed together on the default
    /// host, named by `(name, path)`, with no links: every import is linked
    /// by interface name.
    pub fn for_files(files: &[(String, PathBuf)]) -> Result<Manifest, Diagnostics> {
        let mut text = String::new();
        for (name, path) in files {
            let path = path.to_str().ok_or_else(|| {
                Diagnostic::new(format!(
                    "component file `{}` has a path that is not UTF-8",
                    path.display()
                ))
            })?;
            text.push_str(&format!(
                "[components.{}]\npath = {}\n",
                toml::Value::String(name.clone()),
                toml::Value::String(path.to_string())
            ));
        }
        Manifest::parse_as(Path::new("<component files>/weld.toml"), &text, true)
    }

    /// Location of a span of this manifest (none in a generated one).
    pub fn locate(&self, span: Range<usize>) -> Option<Location> {
        (!self.generated).then(|| Location::from_span(&self.file, &self.source, span))
    }

    /// The directory component paths are relative to.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Absolute (or base-relative) path of a component's file, when the
    /// manifest gives one.
    pub fn component_path(&self, name: &str) -> Option<PathBuf> {
        let spec = self.components.get(name)?;
        let path = spec.get_ref().path.as_ref()?;
        Some(self.base_dir().join(path.get_ref()))
    }

    /// The host a component runs on, or a provider is reached at.
    pub fn host_of(&self, name: &str) -> &str {
        if let Some(p) = self.providers.get(name) {
            return p.get_ref().host.get_ref();
        }
        self.components
            .get(name)
            .and_then(|c| c.get_ref().host.as_ref())
            .map(|h| h.get_ref().as_str())
            .unwrap_or(DEFAULT_HOST)
    }

    /// The WIT path of a provider, resolved against the manifest's folder.
    pub fn provider_wit(&self, name: &str) -> Option<PathBuf> {
        let p = self.providers.get(name)?;
        let origin = self.provider_origin.get(name).copied().unwrap_or(0);
        Some(self.dir_of(origin).join(p.get_ref().wit.get_ref()))
    }

    /// Whether `name` is a provider (not a component weld runs).
    pub fn is_provider(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }

    /// The wRPC endpoint of a host: the manifest's, or TCP on the default
    /// address. A NATS prefix defaults to the host's name and a relative Unix
    /// socket path is taken from the manifest's directory.
    pub fn endpoint_of(&self, host: &str) -> Endpoint {
        let declared = self.hosts.get(host).and_then(|h| h.get_ref().wrpc.as_ref());
        match declared.map(|e| e.get_ref().clone()) {
            None => Endpoint::Tcp {
                address: DEFAULT_TCP_ADDRESS.to_string(),
            },
            // Filled in here so that the plan shows where calls really go.
            Some(Endpoint::Nats { url, prefix }) => Endpoint::Nats {
                url,
                prefix: Some(prefix.unwrap_or_else(|| host.to_string())),
            },
            Some(Endpoint::Unix { path }) => Endpoint::Unix {
                path: self
                    .dir_of(self.host_origin.get(host).copied().unwrap_or(0))
                    .join(path),
            },
            Some(tcp) => tcp,
        }
    }

    /// The NATS queue group of a host's replicas: the manifest's, or the
    /// host's name.
    pub fn queue_group_of(&self, host: &str) -> String {
        self.hosts
            .get(host)
            .and_then(|h| h.get_ref().queue_group.as_ref())
            .map_or_else(|| host.to_string(), |q| q.get_ref().clone())
    }

    /// Checks every declared endpoint by syntax, each queue group, and that
    /// no two hosts serve on one endpoint.
    fn validate_hosts(&self, errors: &mut Vec<Diagnostic>) {
        let mut seen: Vec<(Endpoint, &str)> = Vec::new();
        for (host, spec) in &self.hosts {
            let spec = spec.get_ref();
            if let Some(q) = &spec.queue_group {
                if let Err(e) = crate::wrpc::endpoint::check_subject("queue group", q.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!("host `{host}`: {e}"))
                            .at(self.locate_host(host, q.span())),
                    );
                }
            }
            let Some(declared) = &spec.wrpc else {
                continue;
            };
            let at = self.locate_host(host, declared.span());
            let endpoint = self.endpoint_of(host);
            if let Err(e) = endpoint.check() {
                errors.push(Diagnostic::new(format!("host `{host}`: {e}")).at(at));
                continue;
            }
            match seen.iter().find(|(e, _)| *e == endpoint) {
                Some((_, other)) => errors.push(
                    Diagnostic::new(format!(
                        "hosts `{other}` and `{host}` both serve on {endpoint}"
                    ))
                    .at(at)
                    .with_help("give each host its own address, socket path or NATS prefix"),
                ),
                None => seen.push((endpoint, host)),
            }
        }
    }

    /// Checks each provider: its name, that its host declares where it
    /// serves and runs no component, and that it names what it serves.
    fn validate_providers(&self, errors: &mut Vec<Diagnostic>) {
        for (name, spec) in &self.providers {
            let at = self.locate_provider(name, spec.span());
            let p = spec.get_ref();
            let wit = self.provider_wit(name).expect("a provider");
            if let Err(e) = self.confined(
                &format!("the WIT of provider `{name}`"),
                &wit,
                self.locate_provider(name, p.wit.span()),
            ) {
                errors.push(e);
            }
            let host = p.host.get_ref();
            if !valid_name(name) {
                errors.push(
                    Diagnostic::new(format!(
                        "provider name `{name}` must be letters, digits, `-` or `_`"
                    ))
                    .at(at.clone()),
                );
            }
            if self.components.contains_key(name) {
                errors.push(
                    Diagnostic::new(format!(
                        "`{name}` is both a component and a provider; give them different names"
                    ))
                    .at(at.clone()),
                );
            }
            if self
                .hosts
                .get(host)
                .and_then(|h| h.get_ref().wrpc.as_ref())
                .is_none()
            {
                errors.push(
                    Diagnostic::new(format!(
                        "provider `{name}`: host `{host}` does not say where it serves wRPC"
                    ))
                    .at(self.locate_provider(name, p.host.span()))
                    .with_help(format!(
                        "declare it, e.g.\n[hosts.{host}]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:7762\" }}"
                    )),
                );
            }
            if let Some((c, _)) = self
                .components
                .iter()
                .find(|(c, _)| self.host_of(c) == host.as_str())
            {
                errors.push(
                    Diagnostic::new(format!(
                        "provider `{name}`: host `{host}` is where an external server runs, but component `{c}` is placed on it too"
                    ))
                    .at(self.locate_provider(name, p.host.span()))
                    .with_help("place components on hosts weld runs, and providers on hosts of their own"),
                );
            }
            if p.exports.is_empty() {
                errors.push(
                    Diagnostic::new(format!(
                        "provider `{name}` exports nothing: list the interfaces it serves"
                    ))
                    .at(at),
                );
            }
            for e in &p.exports {
                if !crate::wit::is_interface_name(e.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "provider `{name}`: `{}` is not an interface name like `acme:billing/charge@0.1.0`",
                            e.get_ref()
                        ))
                        .at(self.locate_provider(name, e.span())),
                    );
                }
            }
        }
    }

    /// Checks each `expose` entry names a component placed on that host.
    fn validate_exposed(&self, errors: &mut Vec<Diagnostic>) {
        for (host, spec) in &self.hosts {
            for e in &spec.get_ref().expose {
                let at = self.locate_host(host, e.span());
                let Some(r) = Manifest::split_import(e.get_ref()) else {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{}` must be `<component>:<interface>`",
                            e.get_ref()
                        ))
                        .at(at),
                    );
                    continue;
                };
                if !self.components.contains_key(&r.component) {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{}` names unknown component `{}`",
                            e.get_ref(),
                            r.component
                        ))
                        .at(at)
                        .with_help(known(self.components.keys())),
                    );
                } else if self.host_of(&r.component) != host {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{}`: component `{}` runs on host `{}`",
                            e.get_ref(),
                            r.component,
                            self.host_of(&r.component)
                        ))
                        .at(at),
                    );
                }
            }
        }
    }

    /// Splits a link's `import` into component and interface.
    pub fn split_import(import: &str) -> Option<ImportRef> {
        let (component, interface) = import.split_once(':')?;
        if component.is_empty() || interface.is_empty() {
            return None;
        }
        Some(ImportRef {
            component: component.to_string(),
            interface: interface.to_string(),
        })
    }

    /// Checks what can be checked without reading components.
    fn validate(&self) -> Result<(), Diagnostics> {
        let mut errors = Vec::new();
        for (name, spec) in &self.components {
            if !valid_name(name) {
                errors.push(
                    Diagnostic::new(format!(
                        "component name `{name}` must be letters, digits, `-` or `_`"
                    ))
                    .at(self.locate(spec.span())),
                );
            }
            if let Some(host) = &spec.get_ref().host {
                if !valid_name(host.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "component `{name}`: host name `{}` must be letters, digits, `-` or `_`",
                            host.get_ref()
                        ))
                        .at(self.locate(host.span())),
                    );
                }
            }
            if let Some(d) = &spec.get_ref().deadline_ms {
                if *d.get_ref() == 0 || *d.get_ref() > MAX_DEADLINE_MS {
                    errors.push(
                        Diagnostic::new(format!(
                            "component `{name}`: `deadline-ms` must be in 1..={MAX_DEADLINE_MS}"
                        ))
                        .at(self.locate(d.span())),
                    );
                }
            }
            if let Some(m) = &spec.get_ref().max_memory {
                // Below one wasm page nothing can instantiate.
                if m.get_ref().0 < 1 << 16 {
                    errors.push(
                        Diagnostic::new(format!(
                            "component `{name}`: `max-memory` must be at least 64KiB (one wasm page)"
                        ))
                        .at(self.locate(m.span())),
                    );
                }
            }
        }
        // A host an included platform file defines need not be used here.
        for (name, spec) in self.hosts.iter().filter(|(h, _)| self.host_origin[*h] == 0) {
            if !self
                .components
                .values()
                .any(|c| c.get_ref().host.as_ref().map(|h| h.get_ref()) == Some(name))
                && !self
                    .providers
                    .values()
                    .any(|p| p.get_ref().host.get_ref() == name)
                && name != DEFAULT_HOST
            {
                errors.push(
                    Diagnostic::new(format!("host `{name}` has no components"))
                        .at(self.locate_host(name, spec.span()))
                        .with_help("place a component on it with `host = \"...\"`, or remove it"),
                );
            }
        }
        let mut seen: IndexMap<(String, String), Range<usize>> = IndexMap::new();
        for link in &self.links {
            let l = link.get_ref();
            match Manifest::split_import(l.import.get_ref()) {
                None => errors.push(
                    Diagnostic::new(format!(
                        "link import `{}` must be `<component>:<interface>`, e.g. `driver:demo:math/adder@0.1.0`",
                        l.import.get_ref()
                    ))
                    .at(self.locate(l.import.span())),
                ),
                Some(r) => {
                    if !self.components.contains_key(&r.component) {
                        errors.push(
                            Diagnostic::new(format!(
                                "link import `{}` names unknown component `{}`",
                                l.import.get_ref(),
                                r.component
                            ))
                            .at(self.locate(l.import.span()))
                            .with_help(known(self.components.keys())),
                        );
                    }
                    let key = (r.component.clone(), r.interface.clone());
                    if let Some(first) = seen.get(&key) {
                        let first = self
                            .locate(first.clone())
                            .map_or_else(String::new, |l| format!(" (first at line {})", l.line));
                        errors.push(
                            Diagnostic::new(format!(
                                "import `{}` is linked twice{first}",
                                l.import.get_ref(),
                            ))
                            .at(self.locate(l.import.span())),
                        );
                    } else {
                        seen.insert(key, l.import.span());
                    }
                }
            }
            if !self.components.contains_key(l.export.get_ref())
                && !self.providers.contains_key(l.export.get_ref())
            {
                errors.push(
                    Diagnostic::new(format!(
                        "link export names unknown component `{}`",
                        l.export.get_ref()
                    ))
                    .at(self.locate(l.export.span()))
                    .with_help(known(self.components.keys().chain(self.providers.keys()))),
                );
            }
            if l.timeout_ms
                .is_some_and(|t| !(1..=MAX_TIMEOUT_MS).contains(&t))
            {
                errors.push(
                    Diagnostic::new(format!(
                        "link `timeout-ms` must be from 1 to {MAX_TIMEOUT_MS} (one hour)"
                    ))
                    .at(self.locate(link.span())),
                );
            }
        }
        self.validate_hosts(&mut errors);
        self.validate_providers(&mut errors);
        self.validate_exposed(&mut errors);
        if let Some(exports) = &self.compose.exports {
            for e in exports {
                if !self.components.contains_key(e.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "[compose] exports names unknown component `{}`",
                            e.get_ref()
                        ))
                        .at(self.locate(e.span()))
                        .with_help(known(self.components.keys())),
                    );
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(errors))
        }
    }
}

/// Adds the definitions of the file at `here` to `into`, remembering
/// where each came from; returns those already defined, with the origin of
/// the first definition and the span of the second.
fn merge<T>(
    defs: IndexMap<String, Spanned<T>>,
    here: usize,
    into: &mut IndexMap<String, Spanned<T>>,
    origin: &mut IndexMap<String, usize>,
) -> Vec<(String, usize, Range<usize>)> {
    let mut twice = Vec::new();
    for (name, spec) in defs {
        match origin.get(&name) {
            Some(&first) => twice.push((name, first, spec.span())),
            None => {
                origin.insert(name.clone(), here);
                into.insert(name, spec);
            }
        }
    }
    twice
}

/// A valid component name for a file stem such as `calculator.composed`
/// (from the component-model tutorial) or `my app`: every character other
/// than a letter, digit, `-` or `_` becomes `-`. `None` when nothing valid
/// is left.
///
/// ```
/// use weld_linker::manifest::name_from_stem;
/// assert_eq!(name_from_stem("calculator.composed").as_deref(), Some("calculator-composed"));
/// assert_eq!(name_from_stem("adder").as_deref(), Some("adder"));
/// assert_eq!(name_from_stem("..."), None);
/// ```
pub fn name_from_stem(stem: &str) -> Option<String> {
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-');
    (!name.is_empty()).then(|| name.to_string())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// "known components: a, b" help text.
pub(crate) fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names = crate::diagnostic::quoted(names);
    if names.is_empty() {
        "the manifest declares no components".to_string()
    } else {
        format!("known components: {names}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Manifest, Diagnostics> {
        Manifest::parse(Path::new("weld.toml"), src)
    }

    #[test]
    fn parses_the_sketch() {
        let m = parse(
            r#"
[components.driver]
path = "driver.wasm"
host = "edge-1"

[components.adder]
path = "adder.wasm"
host = "edge-2"

[[link]]
import = "driver:demo:math/adder@0.1.0"
export = "adder"
transport = "wrpc"
allow-trap = true

[hosts.edge-2]
wrpc = { transport = "unix", path = "/tmp/w.sock" }
"#,
        )
        .unwrap();
        assert_eq!(m.host_of("driver"), "edge-1");
        assert_eq!(m.links[0].get_ref().transport(), TransportChoice::Wrpc);
        assert!(m.links[0].get_ref().allow_trap);
        assert_eq!(
            m.endpoint_of("edge-2"),
            Endpoint::Unix {
                path: "/tmp/w.sock".into()
            }
        );
        assert_eq!(
            m.endpoint_of("edge-1"),
            Endpoint::Tcp {
                address: DEFAULT_TCP_ADDRESS.into()
            }
        );
    }

    #[test]
    fn unknown_keys_are_errors_with_a_position() {
        let err = parse("[components.a]\npath = \"a.wasm\"\nhots = \"x\"\n").unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("unknown field `hots`"), "{}", d.message);
        assert_eq!(d.location.as_ref().unwrap().line, 3);
    }

    #[test]
    fn guest_limits_parse() {
        let m = parse(
            "[components.a]\npath = \"a.wasm\"\ndeadline-ms = 50\nmax-memory = \"256MiB\"\n[components.b]\npath = \"b.wasm\"\nmax-memory = 131072\n",
        )
        .unwrap();
        let a = m.components["a"].get_ref();
        assert_eq!(a.deadline_ms.as_ref().map(|d| *d.get_ref()), Some(50));
        assert_eq!(a.max_memory.as_ref().unwrap().get_ref().0, 256 << 20);
        let b = m.components["b"].get_ref();
        assert_eq!(b.max_memory.as_ref().unwrap().get_ref().0, 128 << 10);
        assert_eq!(ByteSize::parse("1GiB"), Ok(ByteSize(1 << 30)));
        assert_eq!(ByteSize::parse("64 KiB"), Ok(ByteSize(64 << 10)));
        assert_eq!(ByteSize(256 << 20).to_string(), "256 MiB");
    }

    #[test]
    fn bad_guest_limits_are_errors_with_a_position() {
        let err =
            parse("[components.a]\npath = \"a.wasm\"\nmax-memory = \"12 parsecs\"\n").unwrap_err();
        let d = &err.0[0];
        assert!(
            d.message.contains("unknown size unit `parsecs`"),
            "{}",
            d.message
        );
        let at = d.location.as_ref().unwrap();
        assert_eq!((at.line, at.column), (3, 14), "{}", d.message);
        let err = parse("[components.a]\npath = \"a.wasm\"\ndeadline-ms = 0\n").unwrap_err();
        let d = &err.0[0];
        assert!(
            d.message.contains("`deadline-ms` must be in"),
            "{}",
            d.message
        );
        assert_eq!(d.location.as_ref().unwrap().line, 3);
        let err = parse("[components.a]\npath = \"a.wasm\"\nmax-memory = \"1KiB\"\n").unwrap_err();
        assert!(
            err.0[0].message.contains("at least 64KiB"),
            "{}",
            err.0[0].message
        );
    }

    #[test]
    fn bad_transport_names_the_choices() {
        let err = parse(
            "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\ntransport = \"carrier-pigeon\"\n",
        )
        .unwrap_err();
        let d = &err.0[0];
        assert!(d.message.contains("carrier-pigeon"), "{}", d.message);
        assert!(d.message.contains("in-process"), "{}", d.message);
        assert_eq!(d.location.as_ref().unwrap().line, 6);
    }

    #[test]
    fn all_link_errors_are_reported_at_once() {
        let err = parse(
            "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"nope:x:y/z\"\nexport = \"ghost\"\n[[link]]\nimport = \"no-colon\"\nexport = \"a\"\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = err.0.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("unknown component `nope`"));
        assert!(msgs[1].contains("unknown component `ghost`"));
        assert!(msgs[2].contains("<component>:<interface>"));
        assert_eq!(err.0[1].location.as_ref().unwrap().line, 5);
    }

    #[test]
    fn duplicate_links_are_errors() {
        let err = parse(
            "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\n",
        )
        .unwrap_err();
        assert!(err.0[0].message.contains("linked twice (first at line 4)"));
    }
}
