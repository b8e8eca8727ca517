//! HTTP ingress: which components of a host serve HTTP, on which path
//! prefixes, and where the host listens.
//!
//! A component serves HTTP when it exports a `wasi:http` handler
//! ([`wit::http_handler`]). A host with one handler serves every path with
//! it; a host with several routes each request by the path prefix its
//! component declares (`route = "/pay"`), and no two prefixes of a host may
//! overlap, so a request matches one handler or none (answered 404) and the
//! order of the manifest never decides. Handlers get an instance per
//! request: `instances = "shared"` on one is refused rather than ignored.

use crate::diagnostic::{quoted, Diagnostic, DiagnosticKind};
use crate::introspect::ComponentInfo;
use crate::manifest::{InstancePolicy, Manifest};
use crate::wit;
use indexmap::IndexMap;
use serde::Serialize;
use std::net::SocketAddr;

/// A host's HTTP ingress.
#[derive(Debug, Clone, Serialize)]
pub struct Ingress {
    /// The host.
    pub host: String,
    /// Where it listens, when the manifest says (`http = { address }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// Its handlers, by path prefix, in manifest order; no two overlap.
    pub routes: Vec<Route>,
}

/// One handler of a host's ingress.
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The path prefix it serves: `/` (every path) or `/a/b`, which
    /// matches `/a/b` and `/a/b/...` but not `/a/bc`.
    pub prefix: String,
    /// The component.
    pub component: String,
    /// Its handler export, e.g. `wasi:http/incoming-handler@0.2.6`.
    pub handler: String,
    /// The WASI release the handler is written for (the export's).
    #[serde(skip)]
    pub release: wit::WasiRelease,
}

impl Route {
    /// Whether a request path (without its query) falls under this route.
    pub fn matches(&self, path: &str) -> bool {
        prefix_matches(&self.prefix, path)
    }
}

impl Ingress {
    /// The route serving `path`, if any.
    pub fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }
}

impl std::fmt::Display for Ingress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.address {
            Some(a) => write!(f, "host `{}` serves HTTP on http://{a}:", self.host)?,
            None => write!(
                f,
                "host `{}` has HTTP handlers (no address in the manifest):",
                self.host
            )?,
        }
        for r in &self.routes {
            write!(f, "\n  {}  → `{}` ({})", r.prefix, r.component, r.handler)?;
        }
        Ok(())
    }
}

/// A component's handler export and its WASI release.
type Handler = (String, wit::WasiRelease);

/// Whether `prefix` matches `path` on a segment boundary.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Each host's ingress, checked: routes only on handlers, a route on each
/// handler of a host with several, no two overlapping, no `shared`
/// handler, and an `http` address only on a host with a handler. Problems
/// go to `errors`.
pub(super) fn plan_ingress(
    manifest: &Manifest,
    components: &IndexMap<String, ComponentInfo>,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Ingress> {
    let mut hosts: IndexMap<&str, Vec<(&String, Option<Handler>)>> = IndexMap::new();
    for (name, spec) in &manifest.components {
        let Some(info) = components.get(name) else {
            continue;
        };
        let handler = info
            .exports()
            .into_iter()
            .find_map(|e| Some((e.name.clone(), wit::http_handler(&e.name)?)));
        let spec = spec.get_ref();
        match (&handler, &spec.route, &spec.instances_spec) {
            (None, Some(route), _) => errors.push(
                Diagnostic::new(format!(
                    "component `{name}` has a `route` but exports no HTTP handler ({})",
                    wit::HTTP_HANDLERS
                ))
                .with_kind(DiagnosticKind::Ingress)
                .at(manifest.locate(route.span())),
            ),
            (Some((h, _)), _, Some(i)) if *i.get_ref() == InstancePolicy::Shared => errors.push(
                Diagnostic::new(format!(
                    "component `{name}` exports `{h}`: an HTTP handler gets an instance per request, so `instances = \"shared\"` cannot apply to it"
                ))
                .with_kind(DiagnosticKind::Ingress)
                .at(manifest.locate(i.span()))
                .with_help("remove `instances`, or move the state to a component the handler imports"),
            ),
            _ => {}
        }
        hosts
            .entry(manifest.host_of(name))
            .or_default()
            .push((name, handler));
    }
    let mut out = Vec::new();
    for (host, placed) in hosts {
        let address = manifest
            .hosts
            .get(host)
            .and_then(|h| h.get_ref().http.as_ref());
        let handlers: Vec<(&String, Handler)> = placed
            .into_iter()
            .filter_map(|(c, h)| Some((c, h?)))
            .collect();
        if handlers.is_empty() {
            if let Some(http) = address {
                errors.push(
                    Diagnostic::new(format!(
                        "host `{host}` declares `http` but none of its components exports an HTTP handler ({})",
                        wit::HTTP_HANDLERS
                    ))
                    .with_kind(DiagnosticKind::Ingress)
                    .at(manifest.locate_host(host, http.span())),
                );
            }
            continue;
        }
        let routes = routes_of(manifest, host, &handlers, errors);
        out.push(Ingress {
            host: host.to_string(),
            address: address.map(|a| *a.get_ref().address.get_ref()),
            routes,
        });
    }
    out
}

/// The routes of one host's handlers, with missing and overlapping
/// prefixes reported.
fn routes_of(
    manifest: &Manifest,
    host: &str,
    handlers: &[(&String, Handler)],
    errors: &mut Vec<Diagnostic>,
) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    for (component, (handler, release)) in handlers {
        let declared = manifest.components[*component].get_ref().route.as_ref();
        if declared.is_none() && handlers.len() > 1 {
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}` has several HTTP handlers ({}): `{component}` needs a `route`",
                    quoted(handlers.iter().map(|(c, _)| *c))
                ))
                .with_kind(DiagnosticKind::Ingress)
                .at(manifest.locate(manifest.components[*component].span()))
                .with_help("give each handler its own path prefix, e.g. `route = \"/pay\"`"),
            );
            continue;
        }
        let prefix = declared.map_or_else(|| "/".to_string(), |r| r.get_ref().clone());
        if let Some(other) = routes
            .iter()
            .find(|r| prefix_matches(&r.prefix, &prefix) || prefix_matches(&prefix, &r.prefix))
        {
            let (short, long) = if other.prefix.len() <= prefix.len() {
                (&other.prefix, &prefix)
            } else {
                (&prefix, &other.prefix)
            };
            errors.push(
                Diagnostic::new(format!(
                    "host `{host}`: route `{prefix}` of `{component}` overlaps route `{}` of `{}`: a request for `{long}` would match both",
                    other.prefix, other.component
                ))
                .with_kind(DiagnosticKind::Ingress)
                .at(declared.and_then(|r| manifest.locate(r.span())))
                .with_help(format!(
                    "routes of one host must not nest: move `{long}` out from under `{short}`"
                )),
            );
            continue;
        }
        routes.push(Route {
            prefix,
            component: (*component).clone(),
            handler: handler.clone(),
            release: *release,
        });
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/", "/anything/at/all"));
        assert!(prefix_matches("/pay", "/pay"));
        assert!(prefix_matches("/pay", "/pay/"));
        assert!(prefix_matches("/pay", "/pay/42"));
        assert!(!prefix_matches("/pay", "/payment"));
        assert!(!prefix_matches("/pay", "/"));
        assert!(!prefix_matches("/a/b", "/a"));
    }
}
