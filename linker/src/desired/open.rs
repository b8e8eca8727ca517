//! From a deployment to a desired state and back: [`prepare`] makes the
//! bundle a writer stores, after loading it exactly as a host will;
//! [`open`] loads one laid out in a folder and checks it stays there.

use super::{Bundle, DesiredError};
use crate::deployment::Deployment;
use crate::diagnostic::Diagnostics;
use crate::input::InputLimits;
use crate::plan::PlanOptions;
use std::path::Path;

/// Why a desired state cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its files cannot be had.
    #[error(transparent)]
    Desired(#[from] DesiredError),
    /// The deployment they make does not load or plan, or names a file
    /// outside its folder (or a host's file inside it).
    #[error("{0}")]
    Plan(Diagnostics),
}

/// The largest file of a desired state: a component, or a manifest.
#[must_use]
pub fn file_cap(limits: &InputLimits) -> u64 {
    limits.component_bytes.max(limits.manifest_bytes)
}

/// Loads and plans the deployment whose manifest is `manifest`, laid out
/// below `dir`, reading nothing outside `dir` and naming none of the
/// host's own files inside it (each file is checked before it is read:
/// [`Deployment::open_desired`]).
///
/// # Errors
/// [`OpenError::Plan`] with every problem of the deployment, a file
/// outside `dir` or a host's file inside it among them.
pub fn open(
    manifest: &Path,
    dir: &Path,
    plan: &PlanOptions,
    limits: &InputLimits,
) -> Result<Deployment, OpenError> {
    Deployment::open_desired(manifest, dir, plan, limits).map_err(OpenError::Plan)
}

/// The desired state of `deployment` (loaded from its manifest): its
/// bundle and each file's bytes, read again from disk. It is laid out in a
/// scratch folder and loaded from there as a host would, so a desired
/// state a host would refuse is refused here, before it is stored.
///
/// # Errors
/// [`OpenError`]: a file that cannot be read, a deployment that reads a
/// file outside its manifest's files' common folder or names a host's
/// file relative to it, or one that no longer plans.
pub fn prepare(
    deployment: &Deployment,
    plan: &PlanOptions,
    limits: &InputLimits,
) -> Result<(Bundle, Vec<Vec<u8>>), OpenError> {
    let (bundle, bytes) = Bundle::of(&deployment.manifest, file_cap(limits))?;
    let scratch = tempfile::Builder::new()
        .prefix("weld-desired-")
        .tempdir()
        .map_err(|source| DesiredError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
    let dir = scratch.path().join("state");
    let mut files = bundle.files.iter().zip(&bytes);
    let manifest = bundle.lay_out(&dir, |_| Ok(files.next().expect("one file each").1.clone()))?;
    open(&manifest, &dir, plan, limits)?;
    Ok((bundle, bytes))
}
