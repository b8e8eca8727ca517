//! How a remote link or an endpoint is secured, read from the endpoint:
//! whether its bytes are encrypted, whether the server knows who calls,
//! whether it can leave the machine, and so who may call.

use crate::wrpc::endpoint::nats_server;
use crate::wrpc::Endpoint;
use serde::Serialize;
use std::fmt;

/// The security of a wRPC endpoint, as the plan shows it per link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Security {
    /// The bytes are encrypted on the way: QUIC (TLS 1.3), or NATS over
    /// `tls://` as far as the broker.
    pub encrypted: bool,
    /// The server knows who calls: QUIC's client certificates.
    pub authenticated: bool,
    /// The endpoint is reachable beyond this machine: not a Unix socket,
    /// not a loopback address (`localhost` counts as loopback; another
    /// name is taken to leave the machine).
    pub leaves_machine: bool,
    /// Who may call what the endpoint serves.
    pub callers: Callers,
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Callers {
    /// Anyone who reaches it (TCP, a Unix socket's file permissions, NATS
    /// subjects the broker lets them publish on).
    Anyone,
    /// Holders of a certificate the serving host's CA signed.
    CaSigned,
}

impl Security {
    /// What `endpoint` gives a link over it.
    pub fn of(endpoint: &Endpoint) -> Security {
        match endpoint {
            Endpoint::Tcp { address } => Security {
                encrypted: false,
                authenticated: false,
                leaves_machine: !is_loopback_authority(address),
                callers: Callers::Anyone,
            },
            Endpoint::Unix { .. } => Security {
                encrypted: false,
                authenticated: false,
                leaves_machine: false,
                callers: Callers::Anyone,
            },
            Endpoint::Quic { address, .. } => Security {
                encrypted: true,
                authenticated: true,
                leaves_machine: !is_loopback_authority(address),
                callers: Callers::CaSigned,
            },
            Endpoint::Nats { url, .. } => {
                // A URL of another scheme does not plan (`Endpoint::check`).
                let (tls, server) = nats_server(url).unwrap_or((false, url));
                Security {
                    encrypted: tls,
                    authenticated: false,
                    leaves_machine: !is_loopback_authority(server),
                    callers: Callers::Anyone,
                }
            }
        }
    }

    /// Whether `--strict-security`-style planning refuses it: bytes in the
    /// clear beyond this machine.
    pub fn is_exposed(&self) -> bool {
        self.leaves_machine && !self.encrypted
    }
}

/// Whether `host[:port]` names this machine: a loopback IP or `localhost`.
fn is_loopback_authority(authority: &str) -> bool {
    if let Ok(addr) = authority.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.encrypted {
            "encrypted"
        } else {
            "unencrypted"
        })?;
        f.write_str(if self.authenticated {
            ", callers authenticated (mutual TLS)"
        } else {
            ", callers not authenticated"
        })?;
        f.write_str(if self.leaves_machine {
            ", reachable beyond this machine"
        } else {
            ", this machine only"
        })?;
        f.write_str(match self.callers {
            Callers::Anyone => "; anyone who reaches it may call",
            Callers::CaSigned => "; holders of a certificate the host's CA signed may call",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(toml: &str) -> Security {
        #[derive(serde::Deserialize)]
        struct T {
            e: Endpoint,
        }
        Security::of(&toml::from_str::<T>(&format!("e = {toml}")).unwrap().e)
    }

    #[test]
    fn each_transport_says_what_it_protects() {
        let tcp = of(r#"{ transport = "tcp", address = "10.0.0.7:7761" }"#);
        assert!(tcp.is_exposed());
        assert_eq!(tcp.callers, Callers::Anyone);
        assert!(!of(r#"{ transport = "tcp", address = "127.0.0.1:7761" }"#).is_exposed());
        assert!(!of(r#"{ transport = "tcp", address = "localhost:7761" }"#).is_exposed());
        assert!(!of(r#"{ transport = "tcp", address = "[::1]:7761" }"#).is_exposed());
        assert!(of(r#"{ transport = "tcp", address = "edge-2.internal:7761" }"#).is_exposed());
        assert!(!of(r#"{ transport = "unix", path = "/run/weld.sock" }"#).is_exposed());
        let quic = of(r#"{ transport = "quic", address = "10.0.0.7:7800" }"#);
        assert!(quic.encrypted && quic.authenticated && quic.leaves_machine);
        assert!(!quic.is_exposed());
        assert_eq!(quic.callers, Callers::CaSigned);
        assert!(of(r#"{ transport = "nats", url = "nats://broker:4222" }"#).is_exposed());
        assert!(!of(r#"{ transport = "nats", url = "tls://broker:4222" }"#).is_exposed());
        assert!(!of(r#"{ transport = "nats", url = "nats://127.0.0.1:4222" }"#).is_exposed());
    }
}
