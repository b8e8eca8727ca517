//! A deployment: a manifest, its components (bytes read once, and their
//! introspected types) and the plan made from them. Everything after the
//! planner — composition, the runtime, serving — starts from one.
//!
//! ```no_run
//! let deployment = weld_linker::Deployment::load("weld.toml".as_ref())
//!     .map_err(|d| d.to_string())
//!     .unwrap();
//! print!("{}", deployment.plan.to_table(false, ""));
//! ```
//!
//! An embedding application can build one from bytes it already holds, and
//! name interfaces it provides itself ([`PlanOptions::provided`]):
//!
//! ```no_run
//! # let driver_bytes: Vec<u8> = Vec::new();
//! use weld_linker::{Deployment, PlanOptions};
//! let deployment = Deployment::from_memory(
//!     "[components.driver]\n",
//!     [("driver".to_string(), driver_bytes)],
//!     &PlanOptions { provided: vec!["demo:math/adder@0.1.0".into()], ..PlanOptions::default() },
//! )
//! .map_err(|d| d.to_string())
//! .unwrap();
//! ```

use crate::diagnostic::chain;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use crate::input::InputLimits;
use crate::introspect::ComponentInfo;
use crate::manifest::Manifest;
use crate::plan::{plan_with, Plan, PlanOptions};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A manifest, its components' bytes and types, and the plan made from them.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The manifest.
    pub manifest: Manifest,
    /// Each component's introspected types, by name.
    pub components: IndexMap<String, ComponentInfo>,
    /// Each provider's types, read from its WIT, by name.
    pub providers: IndexMap<String, ComponentInfo>,
    /// The plan.
    pub plan: Plan,
    /// Each component's bytes, read once.
    bytes: IndexMap<String, Arc<[u8]>>,
    /// Component files given without a manifest whose stem is not a valid
    /// name, with the name weld gave them: `(name, file)`. A front end
    /// says so once, so the user knows what to call in `--invoke`.
    pub renamed: Vec<(String, PathBuf)>,
}

impl Deployment {
    /// Loads a manifest, reads and introspects its components, and plans it.
    ///
    /// # Errors
    /// Every problem found at once, as [`Diagnostics`]: the manifest, a
    /// component or provider that cannot be read or decoded, the plan.
    pub fn load(path: &Path) -> Result<Deployment, Diagnostics> {
        Deployment::load_with(path, &PlanOptions::default())
    }

    /// [`Deployment::load`] with planning options.
    ///
    /// # Errors
    /// As [`Deployment::load`].
    pub fn load_with(path: &Path, options: &PlanOptions) -> Result<Deployment, Diagnostics> {
        Deployment::open(&[path.to_path_buf()], options, &InputLimits::default())
    }

    /// Deploys the manifest of a desired state laid out in `root` (see
    /// [`Manifest::load_desired`]): nothing outside `root` is read for it.
    ///
    /// # Errors
    /// As [`Deployment::load`], and a file it is made from outside `root`
    /// or a host's file inside it.
    pub fn open_desired(
        manifest: &std::path::Path,
        root: &std::path::Path,
        options: &PlanOptions,
        limits: &InputLimits,
    ) -> Result<Deployment, Diagnostics> {
        let manifest = Manifest::load_desired(manifest, limits.manifest_bytes, root)?;
        let bytes = read_components(&manifest, IndexMap::new(), limits)?;
        Deployment::assemble(manifest, bytes, options)
    }

    /// Deploys what a user names: one manifest, or component files deployed
    /// together on one host. A file is a component when it starts with the
    /// wasm magic (`\0asm`), whatever its extension; each component is
    /// named after its file's stem, and imports are linked by interface
    /// name, as in a manifest without `[[link]]`s.
    ///
    /// # Errors
    /// As [`Deployment::load`], and inputs that are neither one manifest nor
    /// component files, or two files that would name one component.
    pub fn open(
        inputs: &[PathBuf],
        options: &PlanOptions,
        limits: &InputLimits,
    ) -> Result<Deployment, Diagnostics> {
        let mut wasm = Vec::with_capacity(inputs.len());
        for path in inputs {
            let is_wasm = crate::input::is_wasm(path).map_err(|e| {
                Diagnostic::new(format!("cannot read `{}`: {e}", path.display()))
                    .with_kind(DiagnosticKind::Unreadable)
            })?;
            wasm.push(is_wasm);
        }
        match (inputs, wasm.as_slice()) {
            ([], _) => Err(Diagnostic::new("no manifest or component file given").with_kind(DiagnosticKind::InvalidInput).into()),
            ([manifest], [false]) => {
                let manifest = Manifest::load_capped(manifest, limits.manifest_bytes)?;
                let bytes = read_components(&manifest, IndexMap::new(), limits)?;
                Deployment::assemble(manifest, bytes, options)
            }
            _ => match inputs.iter().zip(&wasm).find(|(_, w)| !**w) {
                Some((path, _)) => Err(Diagnostic::new(format!(
                    "`{}` is not a component (it does not start with the wasm magic `\\0asm`); a manifest is given alone, without component files",
                    path.display()
                )).with_kind(DiagnosticKind::InvalidInput)
                .into()),
                None => Deployment::from_files(inputs, options, limits),
            },
        }
    }

    /// Component files deployed together (see [`Deployment::open`]).
    fn from_files(
        paths: &[PathBuf],
        options: &PlanOptions,
        limits: &InputLimits,
    ) -> Result<Deployment, Diagnostics> {
        let mut files: Vec<(String, PathBuf)> = Vec::with_capacity(paths.len());
        let mut renamed = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let stem = path.file_stem().and_then(|s| s.to_str());
            let name = stem
                .and_then(crate::manifest::name_from_stem)
                .ok_or_else(|| {
                    Diagnostic::new(format!(
                        "cannot name a component after `{}`: its file name has no UTF-8 stem with a letter or digit",
                        path.display()
                    )).with_kind(DiagnosticKind::InvalidName)
                })?;
            if stem != Some(name.as_str()) {
                renamed.push((name.clone(), path.clone()));
            }
            let name = name.as_str();
            if let Some(j) = files.iter().position(|(n, _)| n == name) {
                return Err(Diagnostic::new(format!(
                    "`{}` (file {}) and `{}` (file {}) would both be component `{name}` (components are named after their file stems); rename one, or write a manifest",
                    paths[j].display(),
                    j + 1,
                    path.display(),
                    i + 1
                )).with_kind(DiagnosticKind::Duplicate)
                .into());
            }
            let absolute = std::path::absolute(path).map_err(|e| {
                Diagnostic::new(format!("cannot resolve `{}`: {e}", path.display()))
                    .with_kind(DiagnosticKind::Unreadable)
            })?;
            files.push((name.to_string(), absolute));
        }
        let manifest = Manifest::for_files(&files)?;
        let bytes = read_components(&manifest, IndexMap::new(), limits)?;
        let mut deployment = Deployment::assemble(manifest, bytes, options)?;
        deployment.renamed = renamed;
        Ok(deployment)
    }

    /// A deployment from manifest text and component bytes held in memory.
    /// A component whose bytes are given needs no `path`; one without bytes
    /// is read from its `path`, relative to the current directory.
    ///
    /// # Errors
    /// As [`Deployment::load`], and bytes given for a component the manifest
    /// does not declare.
    pub fn from_memory(
        manifest: &str,
        components: impl IntoIterator<Item = (String, Vec<u8>)>,
        options: &PlanOptions,
    ) -> Result<Deployment, Diagnostics> {
        let manifest = Manifest::parse(Path::new("<memory>/weld.toml"), manifest)?;
        let given = components
            .into_iter()
            .map(|(name, bytes)| (name, Arc::<[u8]>::from(bytes)))
            .collect();
        let bytes = read_components(&manifest, given, &InputLimits::default())?;
        Deployment::assemble(manifest, bytes, options)
    }

    fn assemble(
        manifest: Manifest,
        bytes: IndexMap<String, Arc<[u8]>>,
        options: &PlanOptions,
    ) -> Result<Deployment, Diagnostics> {
        let components = introspect(&manifest, &bytes)?;
        let providers = read_providers(&manifest)?;
        let plan = plan_with(&manifest, &components, &providers, options)?;
        Ok(Deployment {
            manifest,
            components,
            providers,
            plan,
            bytes,
            renamed: Vec::new(),
        })
    }

    /// The bytes of a component of this deployment.
    ///
    /// # Panics
    /// When `name` is not one of its components.
    pub fn bytes(&self, name: &str) -> &Arc<[u8]> {
        self.bytes
            .get(name)
            .unwrap_or_else(|| panic!("no component `{name}` in this deployment"))
    }
}

/// The bytes of every component of `manifest`: those `given`, the others
/// read from their paths. Reports every unreadable file at once, at the
/// `path` that names it.
fn read_components(
    manifest: &Manifest,
    mut given: IndexMap<String, Arc<[u8]>>,
    limits: &InputLimits,
) -> Result<IndexMap<String, Arc<[u8]>>, Diagnostics> {
    let mut out = IndexMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &manifest.components {
        if let Some(bytes) = given.shift_remove(name) {
            out.insert(name.clone(), bytes);
            continue;
        }
        let Some(path_spec) = &spec.get_ref().path else {
            errors.push(
                Diagnostic::new(format!("component `{name}` has no `path`"))
                    .with_kind(DiagnosticKind::Unreadable)
                    .at(manifest.locate(spec.span())),
            );
            continue;
        };
        let path = manifest.component_path(name).expect("it has a path");
        if let Err(d) = manifest.component_readable(&path, manifest.locate(path_spec.span())) {
            errors.push(d);
            continue;
        }
        tracing::debug!(component = %name, path = %path.display(), "reading");
        match crate::input::read_file(&path, limits.component_bytes) {
            Ok(bytes) => {
                out.insert(name.clone(), Arc::from(bytes));
            }
            Err(e) => errors.push(
                Diagnostic::new(format!(
                    "component `{name}`: cannot read `{}`: {e}",
                    path.display()
                ))
                .with_kind(DiagnosticKind::Unreadable)
                .at(manifest.locate(path_spec.span())),
            ),
        }
    }
    for name in given.keys() {
        errors.push(
            Diagnostic::new(format!(
                "bytes were given for component `{name}`, which the manifest does not declare"
            ))
            .with_kind(DiagnosticKind::UnknownName),
        );
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// Reads every provider's WIT; reports every unreadable or incomplete one
/// at once, at the manifest entry that names the problem.
fn read_providers(manifest: &Manifest) -> Result<IndexMap<String, ComponentInfo>, Diagnostics> {
    let mut out = IndexMap::new();
    let mut errors = Vec::new();
    for (name, spec) in &manifest.providers {
        let spec = spec.get_ref();
        let path = manifest.provider_wit(name).expect("a provider");
        let exports: Vec<String> = spec.exports.iter().map(|e| e.get_ref().clone()).collect();
        match ComponentInfo::from_provider_wit(name, &path, &exports) {
            Ok(info) => {
                out.insert(name.clone(), info);
            }
            Err(e) => {
                let span = match &e {
                    crate::introspect::ProviderWitError::Missing { interface, .. } => spec
                        .exports
                        .iter()
                        .find(|x| x.get_ref() == interface)
                        .map_or(spec.wit.span(), |x| x.span()),
                    _ => spec.wit.span(),
                };
                errors.push(
                    Diagnostic::new(format!("provider `{name}`: {}", chain(&e)))
                        .with_kind(DiagnosticKind::Provider)
                        .at(manifest.locate_provider(name, span)),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}

/// Introspects every component; reports every invalid one at once.
fn introspect(
    manifest: &Manifest,
    bytes: &IndexMap<String, Arc<[u8]>>,
) -> Result<IndexMap<String, ComponentInfo>, Diagnostics> {
    let mut out = IndexMap::new();
    let mut errors = Vec::new();
    for (name, bytes) in bytes {
        let spec = &manifest.components[name];
        let label = manifest
            .component_path(name)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("<bytes of `{name}`>"));
        match ComponentInfo::from_bytes(&label, bytes) {
            Ok(info) => {
                out.insert(name.clone(), info);
            }
            Err(e) => errors.push(
                Diagnostic::new(format!("component `{name}`: {}", chain(&e)))
                    .with_kind(DiagnosticKind::InvalidComponent)
                    .at(manifest.locate(
                        spec.get_ref()
                            .path
                            .as_ref()
                            .map_or(spec.span(), |p| p.span()),
                    )),
            ),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Diagnostics(errors))
    }
}
