//! How a remote link or an endpoint is secured, read from the endpoint:
//! whether its bytes are encrypted, whether the server knows who calls,
//! whether it can leave the machine, and so who may call.

use crate::wrpc::endpoint::nats_server;
use crate::wrpc::Endpoint;
use serde::Serialize;
use std::fmt;

/// The security of a wRPC endpoint, as the plan shows it per link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Who may call an endpoint, or one interface served on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Callers {
    /// Anyone who reaches it (TCP, a Unix socket's file permissions, NATS
    /// subjects the broker lets them publish on).
    Anyone,
    /// Holders of a certificate the serving host's CA signed.
    CaSigned,
    /// Holders of a certificate the serving host's CA signed that names
    /// one of these identities (sorted): the callers an `expose` entry
    /// names and the hosts whose links call the interface.
    Only(Vec<String>),
}

impl Callers {
    /// Whether a caller the transport names `identity` (`None`: it names
    /// none) may call. On an authenticating transport, every caller that
    /// reached a call holds a certificate the CA signed.
    pub fn admits(&self, identity: Option<&str>) -> bool {
        match self {
            Callers::Anyone | Callers::CaSigned => true,
            Callers::Only(ids) => {
                identity.is_some_and(|i| ids.binary_search_by(|id| id.as_str().cmp(i)).is_ok())
            }
        }
    }
}

impl fmt::Display for Callers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Callers::Anyone => f.write_str("anyone who reaches it may call"),
            Callers::CaSigned => {
                f.write_str("holders of a certificate the host's CA signed may call")
            }
            Callers::Only(ids) => write!(f, "only {} may call", crate::diagnostic::quoted(ids)),
        }
    }
}

/// Who may call one interface a host serves over wRPC, as the plan
/// decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The serving host.
    pub host: String,
    /// The wRPC instance (the interface as callers name it).
    pub instance: String,
    /// Who may call it.
    pub callers: Callers,
}

/// Who may call each wRPC instance each host serves: on a host whose
/// transport does not authenticate, anyone who reaches it; on one that
/// does, any CA-signed caller for an interface exposed without `callers`,
/// else only the callers it names and the hosts whose links call it.
///
/// `linked` gives each remote link into a host as (serving host, instance,
/// calling host's identity); `exposed` gives each exposed interface as
/// (host, instance, the callers it names).
pub(super) fn access<'a>(
    authenticated: impl Fn(&str) -> bool,
    linked: impl IntoIterator<Item = (&'a str, &'a str, Option<String>)>,
    exposed: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a [String]>)>,
) -> Vec<Access> {
    let mut decided: indexmap::IndexMap<(&str, &str), Callers> = indexmap::IndexMap::new();
    let mut add = |host: &'a str, instance: &'a str, who: Callers| {
        let callers = decided
            .entry((host, instance))
            .or_insert(Callers::Only(Vec::new()));
        *callers = match (std::mem::replace(callers, Callers::Anyone), who) {
            (Callers::Anyone, _) | (_, Callers::Anyone) => Callers::Anyone,
            (Callers::CaSigned, _) | (_, Callers::CaSigned) => Callers::CaSigned,
            (Callers::Only(mut a), Callers::Only(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                Callers::Only(a)
            }
        };
    };
    for (host, instance, identity) in linked {
        if authenticated(host) {
            add(
                host,
                instance,
                Callers::Only(identity.into_iter().collect()),
            );
        } else {
            add(host, instance, Callers::Anyone);
        }
    }
    for (host, instance, named) in exposed {
        match named {
            _ if !authenticated(host) => add(host, instance, Callers::Anyone),
            Some(ids) => add(host, instance, Callers::Only(ids.to_vec())),
            None => add(host, instance, Callers::CaSigned),
        }
    }
    decided
        .into_iter()
        .map(|((host, instance), callers)| Access {
            host: host.to_string(),
            instance: instance.to_string(),
            callers,
        })
        .collect()
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
        write!(f, "; {}", self.callers)
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

    #[test]
    fn callers_are_the_named_and_the_linking_hosts_on_an_authenticating_transport() {
        let named = ["spiffe://x/ops".to_string()];
        let decided = access(
            |h| h == "secure",
            [
                ("secure", "a:b/c", Some("spiffe://x/edge-1".into())),
                ("secure", "a:b/c", Some("spiffe://x/edge-1".into())),
                ("secure", "a:b/d", Some("spiffe://x/edge-2".into())),
                ("open", "a:b/c", Some("spiffe://x/edge-1".into())),
            ],
            [
                ("secure", "a:b/c", Some(&named[..])),
                ("secure", "a:b/e", None),
                ("open", "a:b/f", Some(&named[..])),
            ],
        );
        let of = |h: &str, i: &str| {
            decided
                .iter()
                .find(|a| a.host == h && a.instance == i)
                .map(|a| a.callers.clone())
        };
        let only = |ids: &[&str]| Callers::Only(ids.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            of("secure", "a:b/c"),
            Some(only(&["spiffe://x/edge-1", "spiffe://x/ops"]))
        );
        assert_eq!(of("secure", "a:b/d"), Some(only(&["spiffe://x/edge-2"])));
        assert_eq!(of("secure", "a:b/e"), Some(Callers::CaSigned));
        assert_eq!(of("open", "a:b/c"), Some(Callers::Anyone));
        assert_eq!(of("open", "a:b/f"), Some(Callers::Anyone));
        let c = only(&["spiffe://x/edge-1", "spiffe://x/ops"]);
        assert!(c.admits(Some("spiffe://x/ops")));
        assert!(!c.admits(Some("spiffe://x/edge-2")));
        assert!(!c.admits(Some("spiffe://x/op")));
        assert!(!c.admits(None));
        assert!(Callers::CaSigned.admits(None));
    }
}
