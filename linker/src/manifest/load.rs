//! Reading a manifest: its text, the files it includes (nested, cycles
//! refused, at most [`MAX_INCLUDED`]), each confined to the folders the
//! top-level manifest may read, and the manifest generated for component
//! files given alone.

use super::*;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics, Location};
use indexmap::IndexMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

impl Manifest {
    /// Reads and validates a manifest file.
    ///
    /// # Errors
    /// Every problem found at once, as [`Diagnostics`]: the file cannot be
    /// read, does not parse, or does not validate.
    pub fn load(path: &Path) -> Result<Manifest, Diagnostics> {
        Manifest::load_capped(path, crate::input::MAX_MANIFEST_BYTES)
    }

    /// [`Manifest::load`] reading at most `cap` bytes.
    ///
    /// # Errors
    /// As [`Manifest::load`], and a file larger than `cap`.
    pub fn load_capped(path: &Path, cap: u64) -> Result<Manifest, Diagnostics> {
        let cannot = |e: &dyn std::fmt::Display| {
            Diagnostic::new(format!("cannot read manifest `{}`: {e}", path.display()))
                .with_kind(DiagnosticKind::Unreadable)
        };
        let bytes = crate::input::read_file(path, cap).map_err(|e| cannot(&e))?;
        let source = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        Manifest::parse(path, &source)
    }

    /// Reads a manifest laid out from a desired state in `root`, whose
    /// writer is not trusted with the host's files: everything it is made
    /// from (what it includes, providers' WIT, its components) must lie in
    /// `root`, checked before anything of it is read; `allow-dirs` is
    /// refused; the host's own files it names (TLS identity, NATS secret)
    /// must lie outside `root`, named by absolute paths.
    ///
    /// # Errors
    /// As [`Manifest::load_capped`], and a file outside `root` (or a
    /// host's file inside it).
    pub fn load_desired(path: &Path, cap: u64, root: &Path) -> Result<Manifest, Diagnostics> {
        let cannot = |e: &dyn std::fmt::Display| {
            Diagnostic::new(format!("cannot read manifest `{}`: {e}", path.display()))
                .with_kind(DiagnosticKind::Unreadable)
        };
        let root = std::fs::canonicalize(root).map_err(|e| cannot(&e))?;
        let bytes = crate::input::read_file(path, cap).map_err(|e| cannot(&e))?;
        let source = String::from_utf8(bytes).map_err(|e| cannot(&e))?;
        Manifest::parse_with(path, &source, false, Some(root))
    }

    /// Parses and validates manifest text; `file` is used in messages and to
    /// resolve relative component paths.
    ///
    /// # Errors
    /// Every problem found at once, as [`Diagnostics`], each with its line and
    /// column.
    pub fn parse(file: &Path, source: &str) -> Result<Manifest, Diagnostics> {
        Manifest::parse_as(file, source, false)
    }

    /// [`Manifest::parse`]; a `generated` manifest's diagnostics carry no
    /// location (they would point into a file nobody wrote).
    pub(super) fn parse_as(
        file: &Path,
        source: &str,
        generated: bool,
    ) -> Result<Manifest, Diagnostics> {
        Manifest::parse_with(file, source, generated, None)
    }

    /// [`Manifest::parse_as`], of a desired state laid out in `desired`
    /// when it is given (see [`Manifest::load_desired`]).
    fn parse_with(
        file: &Path,
        source: &str,
        generated: bool,
        desired: Option<PathBuf>,
    ) -> Result<Manifest, Diagnostics> {
        let raw: RawManifest = toml::from_str(source).map_err(|e| {
            let location = e
                .span()
                .filter(|_| !generated)
                .map(|s| Location::from_span(file, source, s));
            Diagnostic::new(format!("invalid manifest: {}", e.message().trim_end()))
                .with_kind(DiagnosticKind::Syntax)
                .at(location)
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
            desired,
        };
        manifest.read_roots = manifest.read_roots(&raw.allow_dirs)?;
        let mut chain = vec![file.to_path_buf()];
        manifest.include(0, &raw.include, &mut chain)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The canonical folders text files may be read from: this manifest's
    /// own and those `allow_dirs` names (relative to it).
    pub(super) fn read_roots(
        &self,
        allow_dirs: &[Spanned<PathBuf>],
    ) -> Result<Vec<PathBuf>, Diagnostics> {
        let here = self.dir_of(0);
        let here = if here.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            here
        };
        if let Some(root) = &self.desired {
            return match allow_dirs.first() {
                None => Ok(vec![root.clone()]),
                Some(dir) => Err(Diagnostic::new(
                    "a desired state reads only the files it carries: `allow-dirs` is refused",
                )
                .with_kind(DiagnosticKind::Confined)
                .at(self.locate(dir.span()))
                .into()),
            };
        }
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
                    .with_kind(DiagnosticKind::Unreadable)
                    .at(self.locate(dir.span())),
                ),
                Err(e) => errors.push(
                    Diagnostic::new(format!(
                        "`allow-dirs` names `{}`: {e}",
                        dir.get_ref().display()
                    ))
                    .with_kind(DiagnosticKind::Unreadable)
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
    pub(super) fn confined(
        &self,
        what: &str,
        path: &Path,
        at: Option<Location>,
    ) -> Result<(), Diagnostic> {
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
        )).with_kind(DiagnosticKind::Confined)
        .at(at)
        .with_help(
            "move it under the manifest's folder, or name its folder in the top-level manifest's `allow-dirs`",
        ))
    }

    /// Refuses a component file outside the folder of a desired state,
    /// before anything of it is read; any path passes for another manifest
    /// (components are read wherever they are named).
    ///
    /// # Errors
    /// A diagnostic naming the path as written, never anything of the file.
    pub fn component_readable(&self, path: &Path, at: Option<Location>) -> Result<(), Diagnostic> {
        if self.desired.is_none() {
            return Ok(());
        }
        let inside = std::fs::canonicalize(path)
            .is_ok_and(|real| self.read_roots.iter().any(|root| real.starts_with(root)));
        if inside {
            return Ok(());
        }
        Err(Diagnostic::new(format!(
            "component `{}` is outside the desired state's files; it is not read",
            path.display()
        ))
        .with_kind(DiagnosticKind::Confined)
        .at(at))
    }

    /// Refuses a host's own file (TLS identity, NATS secret, Unix socket)
    /// that a manifest may not name: for a desired state, one inside its folder
    /// (a relative path: the desired state carries no secrets); otherwise
    /// one outside the folders it may read from ([`Manifest::confined`]).
    pub(super) fn host_file(
        &self,
        what: &str,
        path: &Path,
        at: Option<Location>,
    ) -> Result<(), Diagnostic> {
        let Some(root) = &self.desired else {
            return self.confined(what, path, at);
        };
        let real = path
            .parent()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .zip(path.file_name())
            .map(|(p, f)| p.join(f));
        let inside = path.is_relative()
            || path.starts_with(root)
            || path.starts_with(self.dir_of(0))
            || real.is_some_and(|r| r.starts_with(root));
        if !inside {
            return Ok(());
        }
        Err(Diagnostic::new(format!(
            "{what} `{}` is inside the desired state; a desired state carries no host's files",
            path.display()
        ))
        .with_kind(DiagnosticKind::Confined)
        .at(at)
        .with_help("name the host's file by its absolute path on the host"))
    }

    /// Reads the files `entries` (of the file at `origin`) name, and the
    /// files they include, depth first; `chain` is the path of includes
    /// that led here, to name a cycle.
    pub(super) fn include(
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
                .with_kind(DiagnosticKind::Include)
                .at(at)
                .into());
            }
            if self.included.len() >= MAX_INCLUDED {
                return Err(
                    Diagnostic::new(format!("more than {MAX_INCLUDED} included files"))
                        .with_kind(DiagnosticKind::Include)
                        .at(at)
                        .into(),
                );
            }
            self.confined("included", &path, at.clone())?;
            let cannot = |e: &dyn std::fmt::Display| {
                Diagnostic::new(format!("cannot read included `{}`: {e}", path.display()))
                    .with_kind(DiagnosticKind::Unreadable)
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
                )).with_kind(DiagnosticKind::Syntax)
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
    pub(super) fn defined_twice(
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
        .with_kind(DiagnosticKind::Duplicate)
        .at(self.locate_in(second.0, second.1))
    }

    /// The file at `origin` (0: this manifest; i: the i-th included).
    pub(super) fn file_of(&self, origin: usize) -> &Path {
        match origin {
            0 => &self.file,
            i => &self.included[i - 1].file,
        }
    }

    /// The folder paths in the file at `origin` are relative to.
    pub(super) fn dir_of(&self, origin: usize) -> PathBuf {
        self.file_of(origin)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Location of a span of the file at `origin`.
    pub(super) fn locate_in(&self, origin: usize, span: Range<usize>) -> Option<Location> {
        match origin {
            0 => self.locate(span),
            i => {
                let inc = &self.included[i - 1];
                Some(Location::from_span(&inc.file, &inc.source, span))
            }
        }
    }

    /// The manifest of component files deployed together on the default
    /// host, named by `(name, path)`, with no links: every import is linked
    /// by interface name.
    ///
    /// # Errors
    /// [`Diagnostics`] when a path is not UTF-8 or a name breaks the naming
    /// rules.
    pub fn for_files(files: &[(String, PathBuf)]) -> Result<Manifest, Diagnostics> {
        let mut text = String::new();
        for (name, path) in files {
            let path = path.to_str().ok_or_else(|| {
                Diagnostic::new(format!(
                    "component file `{}` has a path that is not UTF-8",
                    path.display()
                ))
                .with_kind(DiagnosticKind::Unreadable)
            })?;
            text.push_str(&format!(
                "[components.{}]\npath = {}\n",
                toml::Value::String(name.clone()),
                toml::Value::String(path.to_string())
            ));
        }
        Manifest::parse_as(Path::new("<component files>/weld.toml"), &text, true)
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
