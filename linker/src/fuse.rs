//! Which components of a plan fuse into one, and fusing them with
//! `weld-compose`.
//!
//! Used by `weld compose` (build time: `compose` and `in-process` links) and
//! by the runtime's fused strategy (deploy time: one host's in-process links).

use crate::deployment::Deployment;
use crate::diagnostic::quoted;
use crate::manifest::Strategy;
use crate::plan::{HostChoiceError, Resolution, Transport};
use std::path::Path;
pub use weld_compose::{ComposeError, Composition};
use weld_compose::{Link, Member, Spec};

/// What to fuse.
#[derive(Debug, Clone, Default)]
pub struct FuseOptions {
    /// Only these components (manifest names). Default: every component of
    /// `host`.
    pub only: Option<Vec<String>>,
    /// The host whose components to fuse when `only` is absent. Default: the
    /// deployment's single host (an error when there are several).
    pub host: Option<String>,
    /// Export the exports of these components instead of the roots
    /// (overrides the manifest's `[compose] exports`).
    pub exports: Option<Vec<String>>,
    /// Which resolutions to fuse. Default: [`fuse_for_build`].
    pub fuse: Option<fn(&Resolution) -> bool>,
}

/// Build-time rule: `compose` and `in-process` links are fused.
pub fn fuse_for_build(r: &Resolution) -> bool {
    matches!(r.transport, Transport::Compose | Transport::InProcess)
}

/// Deploy-time rule of the fused strategy: `compose` links, and
/// `in-process` links that do not ask for the host-linked strategy.
pub fn fuse_for_runtime(r: &Resolution) -> bool {
    match r.transport {
        Transport::Compose => true,
        Transport::InProcess => r.strategy != Some(Strategy::HostLinked),
        _ => false,
    }
}

/// Why fusing failed.
#[derive(Debug, thiserror::Error)]
pub enum FuseError {
    /// The selection named an unknown component.
    #[error("unknown component `{name}` (known: {known})")]
    UnknownComponent {
        /// The name.
        name: String,
        /// Known components.
        known: String,
    },
    /// No host (or not the one asked for) to fuse.
    #[error(transparent)]
    Host(#[from] HostChoiceError),
    /// Composition failed.
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

/// The components `options` selects, in manifest order.
///
/// # Errors
/// [`FuseError`] when the selection names no component, or one the deployment
/// does not have, or the components span several hosts and none is chosen.
pub fn select(deployment: &Deployment, options: &FuseOptions) -> Result<Vec<String>, FuseError> {
    let plan = &deployment.plan;
    let known = || quoted(plan.components.iter().map(|c| &c.name));
    let selected: Vec<String> = match (&options.only, &options.host) {
        (Some(only), _) => {
            for name in only {
                if plan.host_of(name).is_none() {
                    return Err(FuseError::UnknownComponent {
                        name: name.clone(),
                        known: known(),
                    });
                }
            }
            plan.components
                .iter()
                .filter(|c| only.contains(&c.name))
                .map(|c| c.name.clone())
                .collect()
        }
        (None, host) => {
            let host = plan.choose_host(host.as_deref())?;
            plan.components
                .iter()
                .filter(|c| c.host == host)
                .map(|c| c.name.clone())
                .collect()
        }
    };
    Ok(selected)
}

/// The composition spec for a deployment and a selection.
///
/// # Errors
/// As [`select`].
pub fn spec(deployment: &Deployment, options: &FuseOptions) -> Result<Spec, FuseError> {
    let selected = select(deployment, options)?;
    let fuse = options.fuse.unwrap_or(fuse_for_build);
    let mut components = Vec::new();
    for name in &selected {
        components.push(Member {
            name: name.clone(),
            bytes: deployment.bytes(name).to_vec(),
            path: deployment.manifest.component_path(name),
        });
    }
    let links = deployment
        .plan
        .resolutions
        .iter()
        .filter(|r| selected.contains(&r.component))
        .filter(|r| r.peer.as_ref().is_some_and(|p| selected.contains(p)))
        .filter(|r| fuse(r))
        .map(|r| Link {
            component: r.component.clone(),
            import: r.import.clone(),
            peer: r.peer.clone().expect("filtered"),
            export: r.export.clone().expect("links have an export"),
        })
        .collect();
    let exports = options.exports.clone().or_else(|| {
        deployment
            .manifest
            .compose
            .exports
            .as_ref()
            .map(|e| e.iter().map(|s| s.get_ref().clone()).collect())
    });
    Ok(Spec {
        components,
        links,
        exports,
    })
}

/// Fuses the selected components of a deployment into one component.
///
/// # Errors
/// As [`select`], and [`FuseError::Compose`] when the composition fails.
pub fn fuse(deployment: &Deployment, options: &FuseOptions) -> Result<Composition, FuseError> {
    let spec = spec(deployment, options)?;
    Ok(weld_compose::compose(&spec)?)
}

/// The fields of `weld compose --json` (in a [`crate::json::Document`]).
#[derive(Debug, serde::Serialize)]
pub struct ComposeReport<'a> {
    /// Where the component was written, if it was.
    pub output: Option<&'a Path>,
    /// Where the WAC source was written, if it was.
    pub wac: Option<&'a Path>,
    /// The size of the composed component.
    pub bytes: usize,
    /// The components fused into it, in instantiation order.
    pub fused: &'a [String],
    /// The links wired inside it.
    pub links: Vec<FusedLink<'a>>,
    /// Its exports.
    pub exports: Vec<FusedExport<'a>>,
    /// Its imports (left for the host or remote links).
    pub imports: &'a [String],
    /// What the user should know.
    pub warnings: Vec<crate::json::Message>,
}

/// A link wired inside a composition.
#[derive(Debug, serde::Serialize)]
pub struct FusedLink<'a> {
    /// The importing component.
    pub component: &'a str,
    /// Its import.
    pub import: &'a str,
    /// The component exporting it.
    pub peer: &'a str,
}

/// An export of a composition.
#[derive(Debug, serde::Serialize)]
pub struct FusedExport<'a> {
    /// The export's name.
    pub name: &'a str,
    /// The component it comes from.
    pub from: &'a str,
}

impl<'a> ComposeReport<'a> {
    /// The report of `composition`, written to `output` and its WAC source
    /// to `wac` when they are given.
    #[must_use]
    pub fn new(
        composition: &'a Composition,
        output: Option<&'a Path>,
        wac: Option<&'a Path>,
    ) -> Self {
        ComposeReport {
            output,
            wac,
            bytes: composition.bytes.len(),
            fused: &composition.fused,
            links: composition
                .links
                .iter()
                .map(|(component, import, peer)| FusedLink {
                    component,
                    import,
                    peer,
                })
                .collect(),
            exports: composition
                .exports
                .iter()
                .map(|(name, from)| FusedExport { name, from })
                .collect(),
            imports: &composition.imports,
            warnings: composition
                .warnings
                .iter()
                .map(|w| crate::json::Message {
                    message: w.to_string(),
                })
                .collect(),
        }
    }
}
