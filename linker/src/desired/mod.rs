//! Desired state held in a NATS JetStream bucket: `weld plan --apply M
//! --to nats://…/BUCKET/KEY` writes a checked deployment there, and a host
//! serving with `--plan-from` the same URL takes its plan from it and
//! follows every change (`serve::follow`), publishing its status beside it.
//!
//! A desired state is a small document under the key (a [`Bundle`]: each
//! file of the deployment by path and SHA-256) and the files' bytes in the
//! bucket's object store, named by digest, so an unchanged component is
//! stored once however many revisions name it. A host lays a revision's
//! files out in a folder of its own and loads the deployment from there as
//! from any manifest; whatever the bucket holds is checked first (sizes,
//! paths, digests), since whoever may write to it is not thereby trusted
//! with the host's files.

mod bundle;
mod open;
mod store;

pub use bundle::{
    sha256_hex, Bundle, BundleFile, FORMAT, MAX_DOCUMENT_BYTES, MAX_FILES, MAX_PATH_BYTES,
    MAX_TOTAL_BYTES,
};
pub use open::{file_cap, open, prepare, OpenError};
pub use store::{Change, Changes, PlanStore, PlanUrl, OP_TIMEOUT};

use std::path::PathBuf;

/// Why a desired state cannot be written, read or laid out.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// The URL is not `nats://HOST[:PORT]/BUCKET/KEY` (or `tls://…`).
    #[error("`{url}` is not a desired-state URL (`nats://HOST:PORT/BUCKET/KEY`): {problem}")]
    Url {
        /// The URL, without user information.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The broker cannot be reached, or refused the connection.
    #[error("cannot connect to the NATS server at {server}")]
    Connect {
        /// The server.
        server: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A request to the broker failed or took too long (worth trying
    /// again: the desired state itself may be fine).
    #[error("NATS JetStream: cannot {what}")]
    Broker {
        /// What was asked.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The bucket holds nothing under the key.
    #[error("no desired state under key `{key}` of bucket `{bucket}`")]
    Missing {
        /// The bucket.
        bucket: String,
        /// The key.
        key: String,
    },
    /// Reading was stopped (the host is stopping).
    #[error("stopped before the desired state was read")]
    Stopped,
    /// The document under the key is not a desired state this weld reads.
    #[error("the desired state is refused: {0}")]
    Document(String),
    /// A file's bytes are not those its digest names.
    #[error("the bytes of `{path}` in the object store do not match its SHA-256")]
    Digest {
        /// The file.
        path: String,
    },
    /// A file of the deployment cannot be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::input::InputError,
    },
    /// A file cannot be laid out.
    #[error("cannot write `{path}`")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
