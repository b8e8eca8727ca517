//! The checks a manifest passes before any component is read: hosts and
//! their endpoints, providers, exposed interfaces, links, and the rules of
//! component names. Every problem is reported at once, with its position.

use super::*;
use crate::diagnostic::{Diagnostic, DiagnosticKind, Diagnostics};
use indexmap::IndexMap;
use std::ops::Range;

/// The longest caller identity an `expose` entry may name.
pub const MAX_IDENTITY_BYTES: usize = 2048;

impl Manifest {
    /// Checks every declared endpoint by syntax, each queue group, and that
    /// no two hosts serve on one endpoint.
    pub(super) fn validate_hosts(&self, errors: &mut Vec<Diagnostic>) {
        let mut seen: Vec<(Endpoint, &str)> = Vec::new();
        for (host, spec) in &self.hosts {
            let spec = spec.get_ref();
            if let Some(q) = &spec.queue_group {
                if let Err(e) = crate::wrpc::endpoint::check_subject("queue group", q.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!("host `{host}`: {e}"))
                            .with_kind(DiagnosticKind::Endpoint)
                            .at(self.locate_host(host, q.span())),
                    );
                }
            }
            self.validate_identity(host, errors);
            self.validate_nats_secret(host, errors);
            let Some(declared) = &spec.wrpc else {
                continue;
            };
            let at = self.locate_host(host, declared.span());
            let endpoint = self.endpoint_of(host);
            if let Err(e) = endpoint.check() {
                errors.push(
                    Diagnostic::new(format!("host `{host}`: {e}"))
                        .with_kind(DiagnosticKind::Endpoint)
                        .at(at),
                );
                continue;
            }
            // A desired state's socket is the host's, never in its folder
            // (which moves with every revision).
            if let (Some(_), Endpoint::Unix { path }) = (&self.desired, &endpoint) {
                if let Err(d) = self.host_file("Unix socket", path, at.clone()) {
                    errors.push(d);
                    continue;
                }
            }
            match seen.iter().find(|(e, _)| *e == endpoint) {
                Some((_, other)) => errors.push(
                    Diagnostic::new(format!(
                        "hosts `{other}` and `{host}` both serve on {endpoint}"
                    ))
                    .with_kind(DiagnosticKind::Duplicate)
                    .at(at)
                    .with_help("give each host its own address, socket path or NATS prefix"),
                ),
                None => seen.push((endpoint, host)),
            }
        }
    }

    /// A QUIC host has an identity, and a host's identity can be read:
    /// each file inside the folders the manifest may read, a regular file,
    /// the key its owner's alone, the PEM parsed.
    fn validate_identity(&self, host: &str, errors: &mut Vec<Diagnostic>) {
        let spec = self.hosts[host].get_ref();
        let quic = spec
            .wrpc
            .as_ref()
            .filter(|e| matches!(e.get_ref(), Endpoint::Quic { .. }));
        let Some(tls) = &spec.tls else {
            if let Some(quic) = quic {
                errors.push(
                    Diagnostic::new(format!(
                        "host `{host}` serves wRPC over QUIC, which needs the host's TLS identity"
                    ))
                    .with_kind(DiagnosticKind::Identity)
                    .at(self.locate_host(host, quic.span()))
                    .with_help(format!(
                        "give it one under [hosts.{host}]: tls = {{ cert = \"{host}.pem\", key = \"{host}.key\", ca = \"ca.pem\" }}"
                    )),
                );
            }
            return;
        };
        let files = self.identity_files(host).expect("a tls table");
        let tls = tls.get_ref();
        let mut confined = true;
        for (path, at) in [
            (&files.cert, tls.cert.span()),
            (&files.key, tls.key.span()),
            (&files.ca, tls.ca.span()),
        ] {
            if let Err(d) = self.host_file("TLS file", path, self.locate_host(host, at)) {
                errors.push(d);
                confined = false;
            }
        }
        if !confined {
            return;
        }
        if let Err(e) = crate::wrpc::tls::Identity::load(&files) {
            let span = match &e {
                crate::wrpc::tls::TlsError::KeyExposed { .. }
                | crate::wrpc::tls::TlsError::KeyNotOwned { .. } => tls.key.span(),
                _ => spec.tls.as_ref().expect("a tls table").span(),
            };
            errors.push(
                Diagnostic::new(format!("host `{host}`: {}", crate::diagnostic::chain(&e)))
                    .with_kind(DiagnosticKind::Identity)
                    .at(self.locate_host(host, span)),
            );
        }
    }

    /// A host's `nats` table names at most one secret (and something: a
    /// secret or `tls = true`, which needs the host's identity), inside the
    /// folders the manifest may read, and a secret file holds what it says
    /// and is its owner's alone.
    fn validate_nats_secret(&self, host: &str, errors: &mut Vec<Diagnostic>) {
        let Some(spec) = &self.hosts[host].get_ref().nats else {
            return;
        };
        let at = self.locate_host(host, spec.span());
        let named = {
            let s = spec.get_ref();
            usize::from(s.creds.is_some())
                + usize::from(s.nkey.is_some())
                + usize::from(s.token_env.is_some())
        };
        let tls = spec.get_ref().tls;
        if named > 1 || (named == 0 && !tls) {
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}`: `nats` names {named} secrets; it names at most one (`creds`, `nkey` or `token-env`), and names something"
                ))
                .with_kind(DiagnosticKind::InvalidValue)
                .at(at)
                .with_help("nats = { creds = \"FILE\" }, { nkey = \"FILE\" }, { token-env = \"VARIABLE\" }, and `tls = true` to present the host's TLS identity"),
            );
            return;
        }
        if tls && self.hosts[host].get_ref().tls.is_none() {
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}`: `nats` asks for the host's TLS identity (`tls = true`), but the host has none"
                ))
                .with_kind(DiagnosticKind::Identity)
                .at(at.clone())
                .with_help(format!(
                    "give it one under [hosts.{host}]: tls = {{ cert = \"{host}.pem\", key = \"{host}.key\", ca = \"ca.pem\" }}"
                )),
            );
        }
        let Some(secret) = self.nats_secret(host) else {
            return;
        };
        if let crate::wrpc::nats_auth::NatsSecret::Creds(path)
        | crate::wrpc::nats_auth::NatsSecret::Nkey(path) = &secret
        {
            if let Err(d) = self.host_file("NATS secret file", path, at.clone()) {
                errors.push(d);
                return;
            }
        }
        if let Err(e) = secret.check() {
            errors.push(
                Diagnostic::new(format!("host `{host}`: {}", crate::diagnostic::chain(&e)))
                    .with_kind(DiagnosticKind::Identity)
                    .at(at),
            );
        }
    }

    /// Checks each provider: its name, that its host declares where it
    /// serves and runs no component, and that it names what it serves.
    pub(super) fn validate_providers(&self, errors: &mut Vec<Diagnostic>) {
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
                    .with_kind(DiagnosticKind::InvalidName)
                    .at(at.clone()),
                );
            }
            if self.components.contains_key(name) {
                errors.push(
                    Diagnostic::new(format!(
                        "`{name}` is both a component and a provider; give them different names"
                    ))
                    .with_kind(DiagnosticKind::Duplicate)
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
                    )).with_kind(DiagnosticKind::Endpoint)
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
                    )).with_kind(DiagnosticKind::Placement)
                    .at(self.locate_provider(name, p.host.span()))
                    .with_help("place components on hosts weld runs, and providers on hosts of their own"),
                );
            }
            if p.exports.is_empty() {
                errors.push(
                    Diagnostic::new(format!(
                        "provider `{name}` exports nothing: list the interfaces it serves"
                    ))
                    .with_kind(DiagnosticKind::Provider)
                    .at(at),
                );
            }
            for e in &p.exports {
                if !crate::wit::is_interface_name(e.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "provider `{name}`: `{}` is not an interface name like `acme:billing/charge@0.1.0`",
                            e.get_ref()
                        )).with_kind(DiagnosticKind::InvalidValue)
                        .at(self.locate_provider(name, e.span())),
                    );
                }
            }
        }
    }

    /// Checks each `expose` entry names a component placed on that host,
    /// and that its `callers`, when it names them, are identities the
    /// host's transport can tell apart.
    pub(super) fn validate_exposed(&self, errors: &mut Vec<Diagnostic>) {
        for (host, spec) in &self.hosts {
            for e in &spec.get_ref().expose {
                let at = self.locate_host(host, e.span());
                let entry = &e.get_ref().interface;
                if let Some(callers) = &e.get_ref().callers {
                    self.validate_callers(host, entry, callers, at.clone(), errors);
                }
                let Some(r) = Manifest::split_import(entry) else {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{entry}` must be `<component>:<interface>`"
                        ))
                        .with_kind(DiagnosticKind::InvalidValue)
                        .at(at),
                    );
                    continue;
                };
                if !self.components.contains_key(&r.component) {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{entry}` names unknown component `{}`",
                            r.component
                        ))
                        .with_kind(DiagnosticKind::UnknownName)
                        .at(at)
                        .with_help(known(self.components.keys())),
                    );
                } else if self.host_of(&r.component) != host {
                    errors.push(
                        Diagnostic::new(format!(
                            "host `{host}`: expose `{entry}`: component `{}` runs on host `{}`",
                            r.component,
                            self.host_of(&r.component)
                        ))
                        .with_kind(DiagnosticKind::Placement)
                        .at(at),
                    );
                }
            }
        }
    }

    /// An exposed interface's `callers`: at least one, each an identity as
    /// a certificate names it (visible ASCII, at most
    /// [`MAX_IDENTITY_BYTES`]), on a host whose transport authenticates
    /// its callers (QUIC's client certificates).
    fn validate_callers(
        &self,
        host: &str,
        entry: &str,
        callers: &[String],
        at: Option<Location>,
        errors: &mut Vec<Diagnostic>,
    ) {
        let endpoint = self.endpoint_of(host);
        if !matches!(endpoint, Endpoint::Quic { .. }) {
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}`: expose `{entry}` names its callers, but host `{host}` serves at {endpoint}, which does not tell who calls"
                ))
                .with_kind(DiagnosticKind::Identity)
                .at(at.clone())
                .with_help(
                    "callers are named by their certificates: serve the host over QUIC with a TLS identity (wrpc = { transport = \"quic\", … } and tls = { cert, key, ca }); on NATS, the broker's permissions on the host's subjects decide who may call",
                ),
            );
        }
        if callers.is_empty() {
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}`: expose `{entry}` has an empty `callers` list"
                ))
                .with_kind(DiagnosticKind::InvalidValue)
                .at(at.clone())
                .with_help("name the callers' identities, or write the plain string form to admit any caller the transport authenticates"),
            );
        }
        for c in callers {
            if c.is_empty()
                || c.len() > MAX_IDENTITY_BYTES
                || !c.bytes().all(|b| b.is_ascii_graphic())
            {
                errors.push(
                    Diagnostic::new(format!(
                        "host `{host}`: expose `{entry}`: caller {c:?} is not an identity a certificate names"
                    ))
                    .with_kind(DiagnosticKind::InvalidValue)
                    .at(at.clone())
                    .with_help(format!("an identity is a URI SAN such as `spiffe://example.org/host/edge-1` or a DNS name, in visible ASCII, at most {MAX_IDENTITY_BYTES} bytes")),
                );
            }
        }
    }

    /// Checks what can be checked without reading components, every
    /// problem at once.
    pub(super) fn validate(&self) -> Result<(), Diagnostics> {
        let mut errors = Vec::new();
        self.validate_components(&mut errors);
        self.validate_unused_hosts(&mut errors);
        self.validate_links(&mut errors);
        self.validate_hosts(&mut errors);
        self.validate_providers(&mut errors);
        self.validate_exposed(&mut errors);
        self.validate_http(&mut errors);
        self.validate_compose(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(errors))
        }
    }

    /// Names, hosts, deadlines and memory caps of the components.
    fn validate_components(&self, errors: &mut Vec<Diagnostic>) {
        for (name, spec) in &self.components {
            if !valid_name(name) {
                errors.push(
                    Diagnostic::new(format!(
                        "component name `{name}` must be letters, digits, `-` or `_`"
                    ))
                    .with_kind(DiagnosticKind::InvalidName)
                    .at(self.locate(spec.span())),
                );
            }
            if let Some(host) = &spec.get_ref().host {
                if !valid_name(host.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "component `{name}`: host name `{}` must be letters, digits, `-` or `_`",
                            host.get_ref()
                        )).with_kind(DiagnosticKind::InvalidName)
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
                        .with_kind(DiagnosticKind::InvalidValue)
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
                        )).with_kind(DiagnosticKind::InvalidValue)
                        .at(self.locate(m.span())),
                    );
                }
            }
        }
    }

    /// Hosts of this file that nothing is placed on.
    fn validate_unused_hosts(&self, errors: &mut Vec<Diagnostic>) {
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
                        .with_kind(DiagnosticKind::Placement)
                        .at(self.locate_host(name, spec.span()))
                        .with_help("place a component on it with `host = \"...\"`, or remove it"),
                );
            }
        }
    }

    /// Each link: its import's form and component, no import linked twice, a known exporter, its timeout.
    fn validate_links(&self, errors: &mut Vec<Diagnostic>) {
        let mut seen: IndexMap<(String, String), Range<usize>> = IndexMap::new();
        for link in &self.links {
            let l = link.get_ref();
            match Manifest::split_import(l.import.get_ref()) {
                None => errors.push(
                    Diagnostic::new(format!(
                        "link import `{}` must be `<component>:<interface>`, e.g. `driver:demo:math/adder@0.1.0`",
                        l.import.get_ref()
                    )).with_kind(DiagnosticKind::InvalidValue)
                    .at(self.locate(l.import.span())),
                ),
                Some(r) => {
                    if !self.components.contains_key(&r.component) {
                        errors.push(
                            Diagnostic::new(format!(
                                "link import `{}` names unknown component `{}`",
                                l.import.get_ref(),
                                r.component
                            )).with_kind(DiagnosticKind::UnknownName)
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
                            )).with_kind(DiagnosticKind::Duplicate)
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
                    .with_kind(DiagnosticKind::UnknownName)
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
                    .with_kind(DiagnosticKind::InvalidValue)
                    .at(self.locate(link.span())),
                );
            }
        }
    }

    /// HTTP addresses (no two hosts on one, none on a host's wRPC TCP
    /// address) and the form of each component's `route`. Which routes
    /// overlap, and whether a component has a handler, the plan decides.
    fn validate_http(&self, errors: &mut Vec<Diagnostic>) {
        let mut seen: Vec<(std::net::SocketAddr, &str)> = Vec::new();
        for (host, spec) in &self.hosts {
            let Some(http) = &spec.get_ref().http else {
                continue;
            };
            let address = *http.get_ref().address.get_ref();
            let at = self.locate_host(host, http.get_ref().address.span());
            if let Some((_, other)) = seen.iter().find(|(a, _)| *a == address) {
                errors.push(
                    Diagnostic::new(format!(
                        "hosts `{other}` and `{host}` both serve HTTP on {address}"
                    ))
                    .with_kind(DiagnosticKind::Duplicate)
                    .at(at.clone()),
                );
            }
            seen.push((address, host));
            let wrpc_on_it = self.hosts.iter().find_map(|(h, s)| {
                let declared = s.get_ref().wrpc.as_ref()?;
                matches!(declared.get_ref(), Endpoint::Tcp { address: a }
                    if a.parse::<std::net::SocketAddr>() == Ok(address))
                .then_some(h)
            });
            if let Some(other) = wrpc_on_it {
                errors.push(
                    Diagnostic::new(format!(
                        "host `{host}` serves HTTP on {address}, where host `{other}` serves wRPC"
                    ))
                    .with_kind(DiagnosticKind::Duplicate)
                    .at(at)
                    .with_help("give HTTP and wRPC their own ports"),
                );
            }
        }
        for (name, spec) in &self.components {
            let Some(route) = &spec.get_ref().route else {
                continue;
            };
            if let Err(why) = check_route(route.get_ref()) {
                errors.push(
                    Diagnostic::new(format!(
                        "component `{name}`: route `{}` {why}",
                        route.get_ref()
                    ))
                    .with_kind(DiagnosticKind::InvalidValue)
                    .at(self.locate(route.span()))
                    .with_help("a route is a path prefix such as \"/pay\" or \"/api/v1\""),
                );
            }
        }
    }

    /// `[compose] exports` names components.
    fn validate_compose(&self, errors: &mut Vec<Diagnostic>) {
        if let Some(exports) = &self.compose.exports {
            for e in exports {
                if !self.components.contains_key(e.get_ref()) {
                    errors.push(
                        Diagnostic::new(format!(
                            "[compose] exports names unknown component `{}`",
                            e.get_ref()
                        ))
                        .with_kind(DiagnosticKind::UnknownName)
                        .at(self.locate(e.span()))
                        .with_help(known(self.components.keys())),
                    );
                }
            }
        }
    }
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

/// Whether `route` is a path prefix a request path can be matched
/// against: `/`, or `/` followed by segments of visible ASCII, none empty,
/// `.` or `..`, with no query or fragment.
fn check_route(route: &str) -> Result<(), &'static str> {
    let Some(rest) = route.strip_prefix('/') else {
        return Err("must start with `/`");
    };
    if rest.is_empty() {
        return Ok(());
    }
    if !route.bytes().all(|b| b.is_ascii_graphic()) || route.contains(['?', '#']) {
        return Err("must be visible ASCII with no query (`?`) or fragment (`#`)");
    }
    if rest
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err("must not have empty, `.` or `..` segments (nor end with `/`)");
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// "known components: a, b" help text.
fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names = crate::diagnostic::quoted(names);
    if names.is_empty() {
        "the manifest declares no components".to_string()
    } else {
        format!("known components: {names}")
    }
}
