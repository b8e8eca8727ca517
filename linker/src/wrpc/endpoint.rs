//! Where a wRPC peer is reached: TCP, a Unix socket or NATS.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The wRPC TCP address a host serves on when the manifest names none.
pub const DEFAULT_TCP_ADDRESS: &str = "127.0.0.1:7761";

/// A wRPC endpoint a host serves on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(tag = "transport", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Endpoint {
    /// wRPC over TCP.
    Tcp {
        /// `ip:port` to listen on / connect to.
        #[serde(default = "default_tcp")]
        address: String,
    },
    /// wRPC over a Unix domain socket.
    Unix {
        /// Socket path.
        path: PathBuf,
    },
    /// wRPC over NATS.
    Nats {
        /// NATS server URL, e.g. `nats://127.0.0.1:4222`.
        #[serde(default = "default_nats")]
        url: String,
        /// Subject prefix (the host's name when absent).
        #[serde(default)]
        prefix: Option<String>,
    },
}

fn default_tcp() -> String {
    DEFAULT_TCP_ADDRESS.to_string()
}

fn default_nats() -> String {
    "nats://127.0.0.1:4222".to_string()
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { address } => write!(f, "tcp://{address}"),
            Endpoint::Unix { path } => write!(f, "unix://{}", path.display()),
            Endpoint::Nats { url, prefix } => match prefix {
                Some(p) => write!(f, "{url} (prefix {p})"),
                None => write!(f, "{url}"),
            },
        }
    }
}

