//! Outgoing HTTP (`wasi:http/outgoing-handler`, `wasi:http/client`) as
//! the manifest grants it: a request leaves the host only for a host on
//! the store's `http-out` list, over wasmtime-wasi-http's own client
//! (hyper, with rustls and the webpki roots for `https`), and never waits
//! longer than the store's cap for a connection or a byte.

use crate::manifest::OutboundHost;
use http::uri::Scheme;
use std::future::Future;
use std::time::Duration;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How long an outgoing request waits for its connection, its first byte
/// or each next byte when no component of the store sets `deadline-ms`:
/// wasmtime-wasi-http's own default is ten minutes, and a stalled upstream
/// must not hold a worker that long.
pub const DEFAULT_OUTGOING_WAIT: Duration = Duration::from_secs(30);

/// A response on its way: the response, and the future that ends with
/// its connection.
type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

/// The `wasi:http` hooks of one store: which hosts its requests may reach
/// and how long each wait may last.
pub(crate) struct Outgoing {
    /// The union of the `http-out` grants of the store's components (a
    /// store is the unit of grants, as for `env` and `dirs`); empty: no
    /// request leaves.
    allowed: Vec<OutboundHost>,
    /// The longest wait for a connection, a first byte or a next byte.
    wait: Duration,
}

impl Outgoing {
    /// Hooks allowing requests to `allowed`, each wait capped at `wait`.
    pub(crate) fn new(allowed: Vec<OutboundHost>, wait: Duration) -> Outgoing {
        Outgoing { allowed, wait }
    }

    /// Whether a request to `uri` may leave: a scheme of `http` or
    /// `https`, no user information, and a host and port on the list.
    fn allows(&self, uri: &http::Uri) -> bool {
        let default_port = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => 80,
            Some(s) if *s == Scheme::HTTPS => 443,
            _ => return false,
        };
        let Some(authority) = uri.authority() else {
            return false;
        };
        if authority.as_str().contains('@') {
            return false;
        }
        let port = authority.port_u16().unwrap_or(default_port);
        self.allowed
            .iter()
            .any(|h| h.allows(authority.host(), port, default_port))
    }

    /// The guest's options with every wait capped.
    fn capped(&self, options: Option<RequestOptions>) -> RequestOptions {
        let cap = |t: Option<Duration>| Some(t.map_or(self.wait, |t| t.min(self.wait)));
        let o = options.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(o.connect_timeout),
            first_byte_timeout: cap(o.first_byte_timeout),
            between_bytes_timeout: cap(o.between_bytes_timeout),
        }
    }
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        if !self.allows(request.uri()) {
            tracing::warn!(
                uri = %request.uri(),
                "outgoing HTTP request denied: its host is not in the component's `http-out`"
            );
            return Box::new(std::future::ready(Err(Error::HttpRequestDenied)));
        }
        let options = self.capped(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(allowed: &[&str]) -> Outgoing {
        let allowed = allowed
            .iter()
            .map(|h| OutboundHost::parse(h).unwrap())
            .collect();
        Outgoing::new(allowed, Duration::from_secs(2))
    }

    #[test]
    fn only_listed_hosts_on_http_or_https_are_allowed() {
        let h = hooks(&["api.example.com", "127.0.0.1:8081"]);
        let allows = |u: &str| h.allows(&u.parse().unwrap());
        assert!(allows("https://api.example.com/v1"));
        assert!(allows("http://API.example.com/"));
        assert!(allows("http://127.0.0.1:8081/x"));
        assert!(!allows("https://api.example.com:8443/"));
        assert!(!allows("http://127.0.0.1/"));
        assert!(!allows("http://127.0.0.1:8082/"));
        assert!(!allows("ftp://api.example.com/"));
        assert!(!allows("/relative"));
        assert!(!allows("http://evil.net@api.example.com/"));
        assert!(!hooks(&[]).allows(&"https://api.example.com/".parse().unwrap()));
    }

    #[test]
    fn every_wait_is_capped() {
        let h = hooks(&[]);
        let o = h.capped(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(600)),
            first_byte_timeout: Some(Duration::from_millis(5)),
            between_bytes_timeout: None,
        }));
        assert_eq!(o.connect_timeout, Some(Duration::from_secs(2)));
        assert_eq!(o.first_byte_timeout, Some(Duration::from_millis(5)));
        assert_eq!(o.between_bytes_timeout, Some(Duration::from_secs(2)));
        assert_eq!(h.capped(None).connect_timeout, Some(Duration::from_secs(2)));
    }
}
