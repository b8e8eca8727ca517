//! The manifest's tables as Rust types: strict (unknown keys are errors)
//! and spanned, so every error can name its line and column.

pub use super::outbound::OutboundHost;
use crate::wrpc::endpoint::Endpoint;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use toml::Spanned;

/// The largest `deadline-ms` accepted: one hour.
pub const MAX_DEADLINE_MS: u64 = 3_600_000;

/// The host components run on when the manifest names none.
pub const DEFAULT_HOST: &str = "default";

/// The longest per-call timeout a link may set: one hour. Past that a
/// caller has long given up, and a huge value would make a silent server
/// hang the call.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// How a link is carried at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TransportChoice {
    /// Same host: in-process; different hosts: wRPC.
    #[default]
    Auto,
    /// Static composition into one artifact at build time.
    Compose,
    /// Same wasmtime `Store`, in-process calls.
    InProcess,
    /// A wRPC stub in the caller, served by `weld serve` on the callee's host.
    Wrpc,
}

/// How an in-process link is realised in the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Components composed in memory and instantiated as one: fused adapters.
    Fused,
    /// Separate instances in one store; imports are host functions that call
    /// the callee's export.
    HostLinked,
}

/// How `weld serve` instantiates a served component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstancePolicy {
    /// One instance; calls are serialised and state is kept.
    #[default]
    Shared,
    /// A fresh instance for every call.
    PerCall,
}

/// What the manifest says about one component.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComponentSpec {
    /// Path of the component, relative to the manifest. Required in a
    /// manifest file; a deployment built from bytes in memory may omit it.
    #[serde(default)]
    pub path: Option<Spanned<PathBuf>>,
    /// The host it runs on.
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    /// Instance policy for `weld serve` (see [`ComponentSpec::instances`]).
    #[serde(default, rename = "instances")]
    pub instances_spec: Option<Spanned<InstancePolicy>>,
    /// The path prefix of HTTP requests this component's handler serves,
    /// when its host serves several handlers (`"/pay"`: `/pay` and
    /// `/pay/...`, not `/payment`).
    #[serde(default)]
    pub route: Option<Spanned<String>>,
    /// Environment variables granted to the guest (deny by default).
    #[serde(default)]
    pub env: IndexMap<String, String>,
    /// Host directories preopened for the guest, `guest path -> host path`.
    #[serde(default)]
    pub dirs: IndexMap<String, PathBuf>,
    /// Wall-clock limit on a call into this component, in milliseconds. The
    /// deadline belongs to the store, so it bounds the whole call tree
    /// (fused and host-linked callees) while wasm runs.
    #[serde(default)]
    pub deadline_ms: Option<Spanned<u64>>,
    /// Cap on each linear memory (and table) of the store this component
    /// runs in: `"256MiB"`, `"64KiB"`, `"1GiB"` or a number of bytes.
    #[serde(default)]
    pub max_memory: Option<Spanned<ByteSize>>,
    /// The hosts this component may send HTTP requests to through
    /// `wasi:http/outgoing-handler` (0.2) or `wasi:http/client` (0.3): none
    /// unless listed, and a component importing either without this key is
    /// refused at plan time.
    #[serde(default)]
    pub http_out: Option<Spanned<Vec<OutboundHost>>>,
}

impl ComponentSpec {
    /// The instance policy: the manifest's, or `shared`.
    pub fn instances(&self) -> InstancePolicy {
        self.instances_spec
            .as_ref()
            .map(|i| *i.get_ref())
            .unwrap_or_default()
    }

    /// The hosts granted by `http-out` (empty when none are).
    pub fn http_out(&self) -> &[OutboundHost] {
        self.http_out.as_ref().map_or(&[], |h| h.get_ref())
    }
}

/// A size in bytes, written as a number of bytes or a string with a
/// binary unit (`"512KiB"`, `"256MiB"`, `"1GiB"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `"256MiB"`, `"64 KiB"`, `"1GiB"`, `"4096"` or `"4096B"`.
    ///
    /// # Errors
    /// A message naming what does not read: no number, or an unknown unit.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}` is not a size: write e.g. \"256MiB\""))?;
        let scale: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` in `{text}`: use B, KiB, MiB or GiB"
                ))
            }
        };
        n.checked_mul(scale)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        for (unit, scale) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= scale && n.is_multiple_of(scale) {
                return write!(f, "{} {unit}", n / scale);
            }
        }
        write!(f, "{n} bytes")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"256MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("a size cannot be negative ({n})")))
            }
            fn visit_str<E: serde::de::Error>(self, t: &str) -> Result<ByteSize, E> {
                ByteSize::parse(t).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One `[[link]]`: an import of one component satisfied by another's export.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkSpec {
    /// `<component>:<interface>`, e.g. `driver:demo:math/adder@0.1.0`.
    pub import: Spanned<String>,
    /// The component whose export satisfies the import.
    pub export: Spanned<String>,
    /// Transport; `auto` when absent (see [`LinkSpec::transport`]).
    #[serde(default, rename = "transport")]
    pub transport_spec: Option<Spanned<TransportChoice>>,
    /// Let a `wrpc` link carry an interface that is not wRPC-safe: a
    /// transport failure then traps the caller.
    #[serde(default)]
    pub allow_trap: bool,
    /// In-process strategy for this link.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Count each call of the link while it runs (`weld serve --metrics`):
    /// an in-process link is then host-linked, not fused, since a fused
    /// call runs no weld code to count it. wRPC and host-linked links are
    /// observed anyway.
    #[serde(default)]
    pub observe: bool,
    /// Per-call timeout for `wrpc` links, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl LinkSpec {
    /// The transport the link asks for.
    pub fn transport(&self) -> TransportChoice {
        self.transport_spec
            .as_ref()
            .map(|t| *t.get_ref())
            .unwrap_or_default()
    }
}

/// What the manifest says about a host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HostSpec {
    /// Where this host serves wRPC.
    #[serde(default)]
    pub wrpc: Option<Spanned<Endpoint>>,
    /// The NATS queue group replicas of this host share calls through
    /// (default: the host's name).
    #[serde(default)]
    pub queue_group: Option<Spanned<String>>,
    /// Default in-process strategy for links whose both ends are here.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Interfaces `weld serve` serves to callers outside the manifest, as
    /// `component:interface` (the component on this host, the interface one
    /// of its exports), whether or not a link calls them; each may name
    /// the callers allowed.
    #[serde(default)]
    pub expose: Vec<Spanned<Expose>>,
    /// Where this host serves its components' HTTP handlers.
    #[serde(default)]
    pub http: Option<Spanned<HttpSpec>>,
    /// The host's identity on secured transports (QUIC): what it presents
    /// as a server and as a caller, and whom it trusts; also its client
    /// certificate for a NATS broker's TLS.
    #[serde(default)]
    pub tls: Option<Spanned<TlsSpec>>,
    /// How the host proves itself to NATS brokers, serving or calling.
    #[serde(default)]
    pub nats: Option<Spanned<NatsSpec>>,
}

/// `nats = { creds = "edge-1.creds" }`, `{ nkey = "edge-1.nk" }` or
/// `{ token-env = "EDGE_1_NATS_TOKEN" }` under a host: where its NATS secret
/// is (at most one of them), files relative to the manifest file that
/// declares the host; the secret stays in the file or the environment.
/// `tls = true` adds the host's TLS identity as its client certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatsSpec {
    /// A `.creds` file: a user JWT and its nkey seed.
    #[serde(default)]
    pub creds: Option<Spanned<PathBuf>>,
    /// A file holding a user nkey seed.
    #[serde(default)]
    pub nkey: Option<Spanned<PathBuf>>,
    /// The environment variable that holds a token.
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
    /// Present the host's `tls` identity to the broker as its client
    /// certificate, and verify the broker against the host's `ca` bundle
    /// (instead of the TLS client's default roots).
    #[serde(default)]
    pub tls: bool,
}

/// An `expose` entry: `"component:interface"`, which any caller the
/// transport admits may call (any holder of a certificate the host's CA
/// signed, on QUIC), or `{ interface = "component:interface", callers =
/// ["spiffe://example.org/host/edge-1", …] }`, which only the callers named
/// by their certificates' identities may (and the hosts whose links call
/// it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expose {
    /// `component:interface`.
    pub interface: String,
    /// The identities allowed, when the entry names them.
    pub callers: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for Expose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Expose, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            interface: String,
            callers: Vec<String>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Expose;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "\"component:interface\" or { interface = \"component:interface\", callers = [...] }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Expose, E> {
                Ok(Expose {
                    interface: v.to_string(),
                    callers: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Expose, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(Expose {
                    interface: t.interface,
                    callers: Some(t.callers),
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `tls = { cert = "edge-1.pem", key = "edge-1.key", ca = "ca.pem" }`
/// under a host: files relative to the manifest file that declares the
/// host; the secrets stay in the files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TlsSpec {
    /// The host's certificate chain, leaf first (PEM).
    pub cert: Spanned<PathBuf>,
    /// The leaf's private key (PEM), readable by its owner only.
    pub key: Spanned<PathBuf>,
    /// The CA certificates the host trusts for its peers (PEM).
    pub ca: Spanned<PathBuf>,
}

/// `http = { address = "127.0.0.1:8080" }` under a host: its HTTP ingress.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpSpec {
    /// The TCP address to listen on.
    pub address: Spanned<std::net::SocketAddr>,
}

/// `[providers.NAME]`: an external wRPC server weld does not run, known by
/// the WIT it serves and the host it is reached at.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderSpec {
    /// A WIT file, or a folder of WIT files with its dependencies under
    /// `deps/`, relative to the manifest.
    pub wit: Spanned<PathBuf>,
    /// The interfaces it serves, by full name (`acme:billing/charge@0.1.0`).
    pub exports: Vec<Spanned<String>>,
    /// The host it is reached at: `[hosts.NAME].wrpc` says where.
    pub host: Spanned<String>,
}

/// `[compose]`: options for `weld compose`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ComposeSpec {
    /// Components whose exports the composed component exports; the roots
    /// (components nothing imports from) when absent.
    #[serde(default)]
    pub exports: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawManifest {
    #[serde(default)]
    pub(super) include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) allow_dirs: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) components: IndexMap<String, Spanned<ComponentSpec>>,
    #[serde(default, rename = "link")]
    pub(super) links: Vec<Spanned<LinkSpec>>,
    #[serde(default)]
    pub(super) hosts: IndexMap<String, Spanned<HostSpec>>,
    #[serde(default)]
    pub(super) providers: IndexMap<String, Spanned<ProviderSpec>>,
    #[serde(default)]
    pub(super) compose: Option<ComposeSpec>,
}

/// An included file: platform definitions (`[hosts]`, `[providers]`)
/// written once and shared by deployments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPlatform {
    #[serde(default)]
    pub(super) include: Vec<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) hosts: IndexMap<String, Spanned<HostSpec>>,
    #[serde(default)]
    pub(super) providers: IndexMap<String, Spanned<ProviderSpec>>,
}

/// A file a manifest includes, kept to place diagnostics in it.
#[derive(Debug, Clone)]
pub struct Included {
    /// The file.
    pub file: PathBuf,
    /// Its text.
    pub source: String,
}

/// The most files one manifest may include, directly or not.
pub const MAX_INCLUDED: usize = 64;
