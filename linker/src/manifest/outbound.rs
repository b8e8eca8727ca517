//! `http-out`: the hosts a component may send HTTP requests to.
//!
//! An entry names one host, by DNS name or IP address, with an optional
//! port: `"api.example.com"`, `"api.example.com:8443"`, `"10.0.0.7:80"`,
//! `"[::1]:8080"`. Without a port it allows the scheme's default port only
//! (80 for `http`, 443 for `https`): a grant is as narrow as it reads. No
//! wildcards, schemes or paths: a user who writes a URL is told to write
//! the host alone.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// One host a component may reach with `wasi:http` outgoing requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboundHost {
    /// A lowercase DNS name, or an IP address.
    host: Host,
    /// The only port allowed; `None`: the scheme's default port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Host {
    Name(String),
    Ip(IpAddr),
}

impl OutboundHost {
    /// Parses one `http-out` entry.
    ///
    /// # Errors
    /// A message saying what does not read: a URL, a path, a wildcard, an
    /// IPv6 address without brackets, a bad port or an invalid name.
    pub fn parse(text: &str) -> Result<OutboundHost, String> {
        if text.contains("://") {
            return Err(format!(
                "`{text}` is a URL: write the host alone, such as \"api.example.com\""
            ));
        }
        if text.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{text}` is not a host: write a name or address with an optional port, such as \"api.example.com:8443\""
            ));
        }
        if text.contains('*') {
            return Err(format!(
                "`{text}`: wildcards are not allowed: name each host"
            ));
        }
        let (host, port) = split_port(text)?;
        let host = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(check_name(host)?),
        };
        Ok(OutboundHost { host, port })
    }

    /// Whether a request to `host` on `port` is allowed, where
    /// `default_port` is the port of the request's scheme. `host` is a
    /// URI's host: a name in any case, an IPv4 address, or an IPv6 address
    /// with or without brackets.
    pub fn allows(&self, host: &str, port: u16, default_port: u16) -> bool {
        if self.port.unwrap_or(default_port) != port {
            return false;
        }
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match (&self.host, bare.parse::<IpAddr>()) {
            (Host::Ip(ip), Ok(asked)) => *ip == asked,
            (Host::Name(name), Err(_)) => name.eq_ignore_ascii_case(bare.trim_end_matches('.')),
            _ => false,
        }
    }
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let parse_port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{text}`: `{p}` is not a port (1 to 65535)")),
        Ok(n) => Ok(Some(n)),
    };
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: an IPv6 address needs its closing `]`"))?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(format!("`{text}`: `{v6}` is not an IPv6 address"));
        }
        return match after {
            "" => Ok((v6, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((v6, parse_port(p)?)),
                None => Err(format!("`{text}`: expected `:PORT` after `]`")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => {
            let (host, port) = text.split_once(':').expect("one colon");
            Ok((host, parse_port(port)?))
        }
        _ => Err(format!(
            "`{text}`: write an IPv6 address in brackets, such as \"[::1]:8080\""
        )),
    }
}

/// A DNS name in lowercase: labels of letters, digits and `-`, not
/// starting or ending with `-`, at most 63 bytes each and 253 in all.
fn check_name(name: &str) -> Result<String, String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("`{name}` is not a host name or an IP address"));
    }
    Ok(name.to_ascii_lowercase())
}

impl fmt::Display for OutboundHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (Host::Ip(IpAddr::V6(ip)), Some(p)) => write!(f, "[{ip}]:{p}"),
            (Host::Ip(IpAddr::V6(ip)), None) => write!(f, "[{ip}]"),
            (Host::Ip(ip), Some(p)) => write!(f, "{ip}:{p}"),
            (Host::Ip(ip), None) => write!(f, "{ip}"),
            (Host::Name(n), Some(p)) => write!(f, "{n}:{p}"),
            (Host::Name(n), None) => f.write_str(n),
        }
    }
}

impl Serialize for OutboundHost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OutboundHost {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<OutboundHost, D::Error> {
        let text = String::deserialize(d)?;
        OutboundHost::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host(text: &str) -> OutboundHost {
        OutboundHost::parse(text).unwrap()
    }

    #[test]
    fn a_grant_without_a_port_allows_the_default_port_only() {
        let api = host("API.example.com");
        assert!(api.allows("api.example.com", 443, 443));
        assert!(api.allows("Api.Example.COM", 80, 80));
        assert!(api.allows("api.example.com.", 443, 443));
        assert!(!api.allows("api.example.com", 8443, 443));
        assert!(!api.allows("evil-api.example.com", 443, 443));
        assert!(!api.allows("api.example.com.evil.net", 443, 443));
        assert!(!api.allows("example.com", 443, 443));
    }

    #[test]
    fn a_grant_with_a_port_allows_that_port_only() {
        let local = host("127.0.0.1:8081");
        assert!(local.allows("127.0.0.1", 8081, 80));
        assert!(!local.allows("127.0.0.1", 80, 80));
        assert!(!local.allows("127.0.0.2", 8081, 80));
        // A name is not its address: no resolution at check time.
        assert!(!local.allows("localhost", 8081, 80));
        let v6 = host("[::1]:8080");
        assert!(v6.allows("[::1]", 8080, 80));
        assert!(v6.allows("::1", 8080, 80));
        assert!(v6.allows("[0:0::1]", 8080, 80));
        assert!(!v6.allows("[::2]", 8080, 80));
    }

    #[test]
    fn what_is_not_a_host_is_refused_with_the_reason() {
        for (text, says) in [
            ("https://api.example.com", "is a URL"),
            ("api.example.com/v1", "is not a host"),
            ("user@api.example.com", "is not a host"),
            ("*.example.com", "wildcards"),
            ("::1", "in brackets"),
            ("[::1", "closing"),
            ("[::1]8080", "expected `:PORT`"),
            ("[example]:80", "not an IPv6 address"),
            ("api.example.com:0", "not a port"),
            ("api.example.com:65536", "not a port"),
            ("api.example.com:", "not a port"),
            ("-api.example.com", "not a host name"),
            ("api..example.com", "not a host name"),
            ("", "not a host name"),
            ("ex ample.com", "not a host name"),
        ] {
            let e = OutboundHost::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    proptest! {
        /// What is written back parses to the same grant.
        #[test]
        fn display_parses_back(
            name in "[a-z0-9]{1,10}(\\.[a-z0-9]{1,10}){0,3}",
            port in proptest::option::of(1u16..),
            v6 in any::<[u16; 8]>(),
            pick in 0u8..2,
        ) {
            let text = match (pick, port) {
                (0, Some(p)) => format!("{name}:{p}"),
                (0, None) => name.clone(),
                (_, p) => {
                    let ip = Ipv6Addr::from(v6);
                    p.map_or(format!("[{ip}]"), |p| format!("[{ip}]:{p}"))
                }
            };
            let parsed = OutboundHost::parse(&text).unwrap();
            prop_assert_eq!(OutboundHost::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }
}
