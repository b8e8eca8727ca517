//! Where a wRPC peer is reached: TCP, a Unix socket, QUIC or NATS.

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
    /// wRPC over QUIC (wrpc-transport-quic's wire): one connection per
    /// peer, each call a bidirectional stream of it, under mutual TLS.
    Quic {
        /// `ip:port` to listen on / connect to (UDP).
        address: String,
        /// The name the server's certificate must carry (a DNS SAN), when
        /// not the address's IP (`server-name` in a manifest).
        #[serde(
            default,
            rename(deserialize = "server-name"),
            skip_serializing_if = "Option::is_none"
        )]
        server_name: Option<String>,
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
            Endpoint::Quic { address, .. } => write!(f, "quic://{address}"),
            Endpoint::Nats { url, prefix } => match prefix {
                Some(p) => write!(f, "{url} (prefix {p})"),
                None => write!(f, "{url}"),
            },
        }
    }
}

/// Why an endpoint cannot be served on or called: checked by syntax only
/// (no name lookup), so a manifest is refused before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// A TCP address that is not `host:port`.
    #[error("TCP address `{0}` is not `host:port` (e.g. `127.0.0.1:7761`)")]
    Address(String),
    /// A port outside 0..=65535.
    #[error("port `{0}` is not a number from 0 to 65535")]
    Port(String),
    /// A host name that is not a valid DNS name or IP literal.
    #[error("host `{0}` is not a valid host name or IP address")]
    Host(String),
    /// A socket path the kernel cannot bind (`sun_path` holds 107 bytes).
    #[error("Unix socket path `{path}` is {len} bytes; the limit is {SUN_PATH_MAX}")]
    UnixPath {
        /// The path.
        path: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A NATS URL with another scheme.
    #[error("NATS URL `{0}` must start with `nats://` or `tls://`")]
    Scheme(String),
    /// A NATS URL that carries a user, password or token: a secret in the
    /// manifest, which is committed, included and printed.
    #[error("NATS URL `{0}` carries credentials; a manifest names where the host's secret is, never the secret: nats = {{ creds = \"FILE\" }}, {{ nkey = \"FILE\" }} or {{ token-env = \"VARIABLE\" }} under the host")]
    Credentials(String),
    /// A subject prefix or queue group that NATS would read as a pattern.
    #[error("NATS {what} `{value}` {problem}")]
    Token {
        /// `prefix` or `queue group`.
        what: &'static str,
        /// The value.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// The longest Unix socket path, in bytes (`sun_path` minus its NUL).
pub const SUN_PATH_MAX: usize = 107;

impl Endpoint {
    /// The transport's name: `tcp`, `unix`, `quic` or `nats`.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Tcp { .. } => "tcp",
            Endpoint::Unix { .. } => "unix",
            Endpoint::Quic { .. } => "quic",
            Endpoint::Nats { .. } => "nats",
        }
    }

    /// Checks the endpoint's syntax: the address parses and its port is in
    /// range, a Unix path fits `sun_path`, a NATS URL has a NATS scheme and
    /// its prefix is a literal subject (no wildcards, no empty tokens).
    ///
    /// # Errors
    /// [`EndpointError`] naming what is wrong with the address, path, URL or
    /// prefix.
    pub fn check(&self) -> Result<(), EndpointError> {
        match self {
            Endpoint::Tcp { address } => check_host_port(address),
            Endpoint::Quic {
                address,
                server_name,
            } => {
                check_host_port(address)?;
                match server_name {
                    Some(name) => check_host(name),
                    None => Ok(()),
                }
            }
            Endpoint::Unix { path } => {
                let len = path.as_os_str().len();
                if len > SUN_PATH_MAX {
                    return Err(EndpointError::UnixPath {
                        path: path.display().to_string(),
                        len,
                    });
                }
                Ok(())
            }
            Endpoint::Nats { url, prefix } => {
                let (_, server) =
                    nats_server(url).ok_or_else(|| EndpointError::Scheme(url.clone()))?;
                if url.contains('@') {
                    // Shown without what came before the `@`.
                    let (tls, _) = nats_server(url).expect("a NATS scheme");
                    let scheme = if tls { "tls" } else { "nats" };
                    return Err(EndpointError::Credentials(format!("{scheme}://…@{server}")));
                }
                if server.contains(':') {
                    check_host_port(server)?;
                } else {
                    check_host(server)?;
                }
                if let Some(prefix) = prefix {
                    check_subject("prefix", prefix)?;
                }
                Ok(())
            }
        }
    }
}

/// A NATS URL's server (`host[:port]`) and whether it is reached over TLS
/// (`tls://`); `None` for another scheme. Credentials before the server
/// (`nats://user:pw@host`) and a trailing `/` are left out.
pub fn nats_server(url: &str) -> Option<(bool, &str)> {
    let (tls, rest) = match url.strip_prefix("tls://") {
        Some(rest) => (true, rest),
        None => (false, url.strip_prefix("nats://")?),
    };
    let server = rest.rsplit_once('@').map_or(rest, |(_, s)| s);
    Some((tls, server.trim_end_matches('/')))
}

/// `text` with the user information of every URL in it (what lies
/// between `://` and an `@` before the URL ends) replaced by `…`, so a
/// line that holds a secret can be shown.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '/' | ',' | '}'))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(user_end) => {
                out.push('…');
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Checks a NATS subject or queue group is literal: dot-separated tokens,
/// none empty, no wildcard (`*`, `>`) and no whitespace.
///
/// # Errors
/// [`EndpointError`] for an empty subject, an empty token, a wildcard or white
/// space.
pub fn check_subject(what: &'static str, value: &str) -> Result<(), EndpointError> {
    let problem = if value.is_empty() {
        Some("is empty")
    } else if value.split('.').any(str::is_empty) {
        Some("has an empty token (a leading, trailing or doubled `.`)")
    } else if value.contains(['*', '>']) {
        Some("contains a wildcard (`*` or `>`), which would match other hosts' calls")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("contains whitespace or a control character")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(EndpointError::Token {
            what,
            value: value.to_string(),
            problem,
        }),
        None => Ok(()),
    }
}

fn check_host_port(address: &str) -> Result<(), EndpointError> {
    if address.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| EndpointError::Address(address.to_string()))?;
    if port.parse::<u16>().is_err() {
        return Err(EndpointError::Port(port.to_string()));
    }
    check_host(host)
}

fn check_host(host: &str) -> Result<(), EndpointError> {
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if bracketed.is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok())
        || host.parse::<std::net::IpAddr>().is_ok()
    {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(EndpointError::Host(host.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(a: &str) -> Result<(), EndpointError> {
        Endpoint::Tcp { address: a.into() }.check()
    }

    fn nats(url: &str, prefix: Option<&str>) -> Result<(), EndpointError> {
        Endpoint::Nats {
            url: url.into(),
            prefix: prefix.map(Into::into),
        }
        .check()
    }

    #[test]
    fn tcp_addresses_parse_without_lookups() {
        for ok in [
            "127.0.0.1:7761",
            "[::1]:80",
            "localhost:0",
            "edge-2.example:65535",
        ] {
            assert_eq!(tcp(ok), Ok(()), "{ok}");
        }
        assert!(matches!(
            tcp("127.0.0.1:99999"),
            Err(EndpointError::Port(_))
        ));
        assert!(matches!(tcp("no port"), Err(EndpointError::Address(_))));
        assert!(matches!(tcp("bad host!:80"), Err(EndpointError::Host(_))));
        assert!(matches!(tcp(":80"), Err(EndpointError::Host(_))));
    }

    #[test]
    fn unix_paths_must_fit_sun_path() {
        let fits = Endpoint::Unix {
            path: "a".repeat(SUN_PATH_MAX).into(),
        };
        assert_eq!(fits.check(), Ok(()));
        let long = Endpoint::Unix {
            path: "a".repeat(SUN_PATH_MAX + 1).into(),
        };
        assert!(matches!(long.check(), Err(EndpointError::UnixPath { .. })));
    }

    #[test]
    fn nats_urls_and_prefixes_are_literal() {
        assert_eq!(nats("nats://127.0.0.1:4222", Some("edge-2")), Ok(()));
        assert_eq!(nats("tls://nats.example", Some("a.b")), Ok(()));
        // A secret in the URL is refused, and not repeated in the error.
        let e = nats("tls://user:s3cret@nats.example", None).unwrap_err();
        assert_eq!(e, EndpointError::Credentials("tls://…@nats.example".into()));
        assert!(!e.to_string().contains("s3cret"));
        assert_eq!(
            redact_credentials(
                r#"wrpc = { url = "tls://user:s3cret@nats.example:4222", a = "nats://x" }"#
            ),
            r#"wrpc = { url = "tls://…@nats.example:4222", a = "nats://x" }"#
        );
        assert_eq!(
            redact_credentials("nats://a@b nats://c@d"),
            "nats://…@b nats://…@d"
        );
        assert!(matches!(
            nats("nats://token@127.0.0.1:4222", None),
            Err(EndpointError::Credentials(_))
        ));
        assert!(matches!(
            nats("http://x:4222", None),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            nats("nats://x:70000", None),
            Err(EndpointError::Port(_))
        ));
        for bad in ["*", "a.*.>", "a..b", ".a", "a.", "", "a b"] {
            assert!(
                matches!(
                    nats("nats://x", Some(bad)),
                    Err(EndpointError::Token { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
