//! What can stop a measurement: each variant names the fixture, host,
//! series or file involved and keeps the underlying error as its source.

use std::path::PathBuf;
use weld_linker::runtime::BoxError;

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A bundled fixture component is not on disk: the fixtures crate was
    /// not built.
    #[error("the bundled fixture `{name}` is not built ({}); build the weld-fixtures crate, or measure a deployment of your own", .path.display())]
    FixtureMissing {
        /// The component's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A deployment the harness builds (the bundled pair, the resource
    /// pair) does not plan.
    #[error("the {what} deployment does not plan")]
    Deployment {
        /// Which deployment.
        what: &'static str,
        /// The planner's diagnostics.
        #[source]
        source: weld_linker::diagnostic::Diagnostics,
    },
    /// An invocation to time is not `component.function(args)` with an
    /// optional positive `*N`.
    #[error("`{text}`: {reason}")]
    Invocation {
        /// The invocation as given.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A host could not be served, or its server did not stop cleanly.
    #[error("{action} host `{host}`")]
    Serve {
        /// "serving" or "stopping the server of".
        action: &'static str,
        /// The host.
        host: String,
        /// The server's error (boxed: it is large, and rare).
        #[source]
        source: Box<weld_linker::serve::ServeError>,
    },
    /// A series could not prepare or run its cells.
    #[error("series `{series}`{}", .payload.as_ref().map(|p| format!(", payload `{p}`")).unwrap_or_default())]
    Measure {
        /// The series' name.
        series: String,
        /// The payload being measured, once a cell had started.
        payload: Option<String>,
        /// What failed: the runtime, the invocation, the call.
        #[source]
        source: BoxError,
    },
    /// A file or directory the harness writes could not be written.
    #[error("cannot {action} `{}`", .path.display())]
    Io {
        /// What was being done ("write the calibration").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// No free loopback port for the TCP series.
    #[error("no free loopback port for the TCP series")]
    NoPort(#[source] std::io::Error),
    /// A run with a caller in another process failed (the peer's build,
    /// its start, an exchange).
    #[error("the external run failed")]
    External(#[source] BoxError),
}

impl Error {
    /// A series' failure before or during a cell.
    pub(crate) fn measure(
        series: &str,
        payload: Option<&str>,
        source: impl Into<BoxError>,
    ) -> Error {
        Error::Measure {
            series: series.to_string(),
            payload: payload.map(str::to_string),
            source: source.into(),
        }
    }
}
