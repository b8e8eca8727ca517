//! QUIC for the peer: quinn endpoints under mutual TLS (TLS 1.3, client
//! certificates required), for `wrpc-transport-quic`, which leaves the
//! endpoint and its TLS to the embedder.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The files of the peer's identity.
#[derive(Debug, Clone)]
pub struct Files {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// CA bundle trusted for the other side (PEM).
    pub ca: PathBuf,
}

struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<rustls::RootCertStore>,
}

fn load(files: &Files) -> anyhow::Result<Identity> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .with_context(|| format!("failed to read `{}`", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("failed to read `{}`", files.key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&files.ca)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| format!("failed to read `{}`", files.ca.display()))?
    {
        roots.add(ca)?;
    }
    Ok(Identity {
        certs,
        key,
        roots: Arc::new(roots),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server endpoint on `addr` requiring client certificates.
pub fn server(addr: &str, files: &Files) -> anyhow::Result<quinn::Endpoint> {
    let id = load(files)?;
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(id.roots, provider())
            .build()?;
    let tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.certs, id.key)?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls)?,
    ));
    let addr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not ip:port"))?;
    Ok(quinn::Endpoint::server(config, addr)?)
}

/// A connection to the server at `addr` (its certificate checked for
/// `localhost`), presenting the peer's certificate.
pub async fn connect(addr: &str, files: &Files) -> anyhow::Result<quinn::Connection> {
    let id = load(files)?;
    let tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(id.roots)
        .with_client_auth_cert(id.certs, id.key)?;
    let config = quinn::ClientConfig::new(Arc::new(
        quinn::crypto::rustls::QuicClientConfig::try_from(tls)?,
    ));
    let addr: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not ip:port"))?;
    let mut endpoint = quinn::Endpoint::client((std::net::Ipv4Addr::UNSPECIFIED, 0).into())?;
    endpoint.set_default_client_config(config);
    let conn = endpoint
        .connect(addr, "localhost")?
        .await
        .with_context(|| format!("failed to connect to `{addr}` over QUIC"))?;
    Ok(conn)
}
