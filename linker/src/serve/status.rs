//! A live host's status: what it runs (each component's digest, the plan's
//! version, the functions served) and how its last apply went, as
//! [`Live::status`](super::Live::status) gives it and as a status file
//! holds it for `weld status` to read.

use crate::input::{read_file, InputError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The largest status file read: a host with thousands of components and
/// functions stays far below it.
pub const MAX_STATUS_BYTES: u64 = 4 << 20;

/// What a live host runs and how its last apply went (`weld status`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// The host.
    pub host: String,
    /// The endpoint served.
    pub endpoint: String,
    /// The version of the plan served (the first is 1; 0 before any).
    #[serde(rename = "plan_version")]
    pub version: u64,
    /// The host's components, with the SHA-256 of their bytes, of the plan
    /// served.
    pub components: Vec<ComponentDigest>,
    /// The functions served, as `instance#function`.
    pub served: Vec<String>,
    /// The last apply, whether it took or not.
    pub last: Option<Outcome>,
    /// The served plan's desired state's revision in its bucket, when the
    /// plan came from one (`weld serve --plan-from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// When the status was published, in seconds since the Unix epoch.
    #[serde(default)]
    pub seen: u64,
    /// How often the host publishes its status again while nothing
    /// changes (its heartbeat), in milliseconds, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
}

/// One component and the digest of its bytes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ComponentDigest {
    /// The component.
    pub name: String,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
}

/// How an apply ended.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Whether it took.
    pub applied: bool,
    /// Why it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds it took.
    pub took_ms: f64,
    /// When it ended, in seconds since the Unix epoch.
    pub at: u64,
}

/// Why a status file cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Writing it failed.
    #[error("cannot write the status file `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading it failed.
    #[error("cannot read the status file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: InputError,
    },
    /// It holds no status.
    #[error("`{path}` is not a weld status file")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl Status {
    /// Whether a host that publishes a heartbeat has missed three:
    /// measured against `now`, in seconds since the Unix epoch.
    #[must_use]
    pub fn stale(&self, now: u64) -> bool {
        self.heartbeat_ms
            .is_some_and(|h| now.saturating_sub(self.seen).saturating_mul(1000) > 3 * h.max(1000))
    }

    /// The status as published: JSON.
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a status serialises");
        json.push(b'\n');
        json
    }

    /// Parses a published status.
    ///
    /// # Errors
    /// When `bytes` hold no status.
    pub fn parse(bytes: &[u8]) -> Result<Status, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Writes the status to `path` whole or not at all: a fresh file
    /// beside it (created, never opened through a link), renamed over it,
    /// so a reader sees the old status or the new one.
    ///
    /// # Errors
    /// [`StatusError::Write`] when the folder cannot take the file.
    pub fn write(&self, path: &Path) -> Result<(), StatusError> {
        let err = |source| StatusError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // Readable by others (`weld status` run by another user), as a
        // file written with the usual umask would be; it holds no secret.
        let mut file = tempfile::Builder::new()
            .prefix(".weld-status")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(err)?;
        file.write_all(&self.to_json()).map_err(err)?;
        file.as_file().sync_all().map_err(err)?;
        file.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// Reads a status file.
    ///
    /// # Errors
    /// [`StatusError::Read`] for a file that is missing, not a regular
    /// file or over [`MAX_STATUS_BYTES`]; [`StatusError::Parse`] for one
    /// that holds no status.
    pub fn read(path: &Path) -> Result<Status, StatusError> {
        let bytes = read_file(path, MAX_STATUS_BYTES).map_err(|source| StatusError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Status::parse(&bytes).map_err(|source| StatusError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The text for people: the plan served and how the last apply went.
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What a status holds may come from a bucket anyone with write
        // access fills: it is shown escaped.
        let shown = crate::diagnostic::escaped;
        writeln!(
            f,
            "host `{}` on {}: plan version {}",
            shown(&self.host),
            shown(&self.endpoint),
            self.version
        )?;
        for c in &self.components {
            writeln!(f, "  {}  sha256:{}", shown(&c.name), shown(&c.sha256))?;
        }
        for s in &self.served {
            writeln!(f, "  serves {}", shown(s))?;
        }
        if let Some(r) = self.revision {
            writeln!(f, "desired state revision {r}")?;
        }
        if let Some(h) = self.heartbeat_ms {
            let now = unix_now();
            let ago = now.saturating_sub(self.seen);
            let stale = if self.stale(now) {
                " (stale: the host has missed three heartbeats)"
            } else {
                ""
            };
            writeln!(
                f,
                "last heard {ago} s ago, heartbeat every {:.1} s{stale}",
                h as f64 / 1e3
            )?;
        }
        match &self.last {
            None => Ok(()),
            Some(o) if o.applied => writeln!(f, "last apply: applied in {:.1} ms", o.took_ms),
            Some(o) => writeln!(
                f,
                "last apply: refused (version {} still served): {}",
                self.version,
                shown(o.error.as_deref().unwrap_or("no reason given"))
            ),
        }
    }
}

/// Seconds since the Unix epoch (0 on a clock set before it): the time
/// stamps of a status.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
