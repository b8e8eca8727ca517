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

//!
//! * `schema`: the TOML tables as Rust types (unknown keys refused);
//! * `load`: reading a manifest and the files it includes, confined to
//!   the folders it may read;
//! * `validate`: the checks that need no component (hosts, providers,
//!   exposed interfaces, links, names).

mod load;
mod outbound;
mod schema;
mod validate;

pub use schema::*;
pub use validate::name_from_stem;

use crate::diagnostic::Location;
pub use crate::wrpc::endpoint::{Endpoint, DEFAULT_TCP_ADDRESS};
use indexmap::IndexMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

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
    /// The folder a desired state was laid out in, when the manifest is
    /// one's (see [`Manifest::load_desired`]): every file it is made from
    /// must lie in it, and the host's own files outside it.
    desired: Option<PathBuf>,
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
    /// Location of a span inside the definition of host `host` (in
    /// whichever file defines it).
    pub fn locate_host(&self, host: &str, span: Range<usize>) -> Option<Location> {
        self.locate_in(self.host_origin.get(host).copied().unwrap_or(0), span)
    }

    /// Location of a span inside the definition of provider `name`.
    pub fn locate_provider(&self, name: &str, span: Range<usize>) -> Option<Location> {
        self.locate_in(self.provider_origin.get(name).copied().unwrap_or(0), span)
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

    /// Every file the deployment is made from: this manifest, the files it
    /// includes, its components' files and its providers' WIT (what a
    /// watcher of the deployment watches).
    pub fn sources(&self) -> Vec<PathBuf> {
        let mut files = vec![self.file.clone()];
        files.extend(self.included.iter().map(|i| i.file.clone()));
        files.extend(
            self.components
                .keys()
                .filter_map(|c| self.component_path(c)),
        );
        files.extend(self.providers.keys().filter_map(|p| self.provider_wit(p)));
        files
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

    /// The files of a host's TLS identity, relative to the manifest file
    /// that declares the host; `None` when it has none.
    pub fn identity_files(&self, host: &str) -> Option<crate::wrpc::tls::IdentityFiles> {
        let tls = self.hosts.get(host)?.get_ref().tls.as_ref()?.get_ref();
        let dir = self.dir_of(self.host_origin.get(host).copied().unwrap_or(0));
        Some(crate::wrpc::tls::IdentityFiles {
            cert: dir.join(tls.cert.get_ref()),
            key: dir.join(tls.key.get_ref()),
            ca: dir.join(tls.ca.get_ref()),
        })
    }

    /// A host's TLS identity, read from its files; `None` when the host has
    /// none.
    ///
    /// # Errors
    /// [`TlsError`](crate::wrpc::tls::TlsError) naming the file that
    /// cannot be read or used.
    pub fn identity(
        &self,
        host: &str,
    ) -> Option<Result<crate::wrpc::tls::Identity, crate::wrpc::tls::TlsError>> {
        self.identity_files(host)
            .map(|files| crate::wrpc::tls::Identity::load(&files))
    }

    /// Where a host's NATS secret is, files relative to the manifest file
    /// that declares the host; `None` when it names none (or, unchecked,
    /// several: the manifest check refuses that).
    pub fn nats_secret(&self, host: &str) -> Option<crate::wrpc::nats_auth::NatsSecret> {
        use crate::wrpc::nats_auth::NatsSecret;
        let spec = self.hosts.get(host)?.get_ref().nats.as_ref()?.get_ref();
        let dir = self.dir_of(self.host_origin.get(host).copied().unwrap_or(0));
        match (&spec.creds, &spec.nkey, &spec.token_env) {
            (Some(c), None, None) => Some(NatsSecret::Creds(dir.join(c.get_ref()))),
            (None, Some(k), None) => Some(NatsSecret::Nkey(dir.join(k.get_ref()))),
            (None, None, Some(t)) => Some(NatsSecret::TokenEnv(t.get_ref().clone())),
            _ => None,
        }
    }

    /// A host's NATS credentials, read: its secret (a token from the
    /// environment now), and its TLS identity when its `nats` table asks
    /// for it (`tls = true`).
    ///
    /// # Errors
    /// [`NatsAuthError`](crate::wrpc::nats_auth::NatsAuthError) naming the
    /// file or variable that cannot be used.
    pub fn nats_auth(
        &self,
        host: &str,
    ) -> Result<crate::wrpc::nats_auth::NatsAuth, crate::wrpc::nats_auth::NatsAuthError> {
        let wants_tls = self
            .hosts
            .get(host)
            .and_then(|h| h.get_ref().nats.as_ref())
            .is_some_and(|n| n.get_ref().tls);
        let identity = match wants_tls {
            true => self
                .identity(host)
                .transpose()
                .map_err(crate::wrpc::nats_auth::NatsAuthError::Tls)?,
            false => None,
        };
        crate::wrpc::nats_auth::NatsAuth::load(self.nats_secret(host).as_ref(), identity.as_ref())
    }

    /// The NATS queue group of a host's replicas: the manifest's, or the
    /// host's name.
    pub fn queue_group_of(&self, host: &str) -> String {
        self.hosts
            .get(host)
            .and_then(|h| h.get_ref().queue_group.as_ref())
            .map_or_else(|| host.to_string(), |q| q.get_ref().clone())
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
}

#[cfg(test)]
mod tests;
