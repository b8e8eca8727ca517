//! Host identities for the secured transport (QUIC): a certificate chain,
//! its private key and the CA bundle a host trusts for its peers, read from
//! files; the rustls configurations of both sides of mutual TLS; and the
//! identity a peer's certificate names.
//!
//! Files are read as a hostile environment may present them: a path that
//! is not a regular file (a FIFO, a device, a directory) is refused after
//! opening it without blocking and before reading a byte, a file over
//! [`MAX_PEM_BYTES`] is refused, and a private key readable by anyone but
//! its owner, or owned by another user, is refused.

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The largest PEM file weld reads (a chain of a few certificates is a few
/// KiB).
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// Most calls (streams) one QUIC connection may have open at once; a peer
/// waits for one to end before opening more.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 256;

/// How long a QUIC connection may be silent before it is closed; both
/// sides send keep-alives at a third of it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an identity cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be opened, inspected or read.
    #[error("cannot read `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// Not a regular file.
    #[error("`{path}` is a {kind}, not a regular file")]
    NotAFile {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// Larger than [`MAX_PEM_BYTES`].
    #[error("`{path}` is {len} bytes; a PEM file weld reads is at most {MAX_PEM_BYTES}")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A private key others may read.
    #[error("private key `{path}` can be read by others (mode {mode:03o}): make it readable by its owner only (chmod 600)")]
    KeyExposed {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A private key owned by another user.
    #[error("private key `{path}` belongs to user {owner}, not to the user weld runs as ({me})")]
    KeyNotOwned {
        /// The key file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// weld's effective uid.
        me: u32,
    },
    /// A file without what it should hold, or with PEM that does not parse.
    #[error("`{path}` holds no readable {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
        /// The parser's complaint, when it had one.
        #[source]
        source: Option<rustls::pki_types::pem::Error>,
    },
    /// rustls refused the certificates, the key or the CA bundle.
    #[error("the TLS identity is refused")]
    Config(#[source] rustls::Error),
    /// The CA bundle cannot verify client certificates.
    #[error("the CA bundle cannot verify peers")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    /// No cipher suite QUIC can use.
    #[error("the TLS configuration has no cipher suite QUIC can use")]
    Quic(#[source] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// The files of a host's identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentityFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The leaf's private key (PEM; readable by its owner only).
    pub key: PathBuf,
    /// The CA certificates trusted for peers (PEM).
    pub ca: PathBuf,
}

/// What an identity's files are, as far as telling a change goes.
pub type Fingerprint = Vec<Option<[i64; 7]>>;

impl IdentityFiles {
    /// Each file's device, inode, size and change times (a rename over the
    /// file, as certificate tools and mounted secrets do, changes the
    /// inode; a `chmod` changes the status time): equal fingerprints, the
    /// same files. Three `stat`s, following symbolic links.
    pub fn fingerprint(&self) -> Fingerprint {
        use std::os::unix::fs::MetadataExt as _;
        [&self.cert, &self.key, &self.ca]
            .iter()
            .map(|p| {
                std::fs::metadata(p).ok().map(|m| {
                    [
                        m.dev() as i64,
                        m.ino() as i64,
                        m.size() as i64,
                        m.mtime(),
                        m.mtime_nsec(),
                        m.ctime(),
                        m.ctime_nsec(),
                    ]
                })
            })
            .collect()
    }
}

/// A host's identity, read: what it presents and whom it trusts.
#[derive(Debug)]
pub struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    roots: Arc<rustls::RootCertStore>,
}

/// Opens `path` without blocking (a FIFO opens at once), checks what it is
/// through the open handle, and reads it within [`MAX_PEM_BYTES`]. A
/// `private` file must be its owner's alone.
///
/// # Errors
/// [`TlsError`] naming the file: unreadable, not a regular file, too
/// large, or a private key others may read or that another user owns.
pub fn read_file(path: &Path, private: bool) -> Result<Vec<u8>, TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(TlsError::NotAFile {
            path: path.to_path_buf(),
            kind: kind_of(&meta.file_type()),
        });
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    if private {
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TlsError::KeyExposed {
                path: path.to_path_buf(),
                mode,
            });
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(TlsError::KeyNotOwned {
                path: path.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // A file that grew since the check is still cut at the cap.
    (&mut file)
        .take(MAX_PEM_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else {
        "special file"
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path, false)?;
    let pem = |source| TlsError::Pem {
        path: path.to_path_buf(),
        what: "certificate",
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem(Some(e)))?;
    if certs.is_empty() {
        return Err(pem(None));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Identity {
    /// Reads an identity's three files.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that cannot be read or parsed, or the
    /// CA bundle rustls refuses.
    pub fn load(files: &IdentityFiles) -> Result<Identity, TlsError> {
        let certs = certificates(&files.cert)?;
        let key_bytes = read_file(&files.key, true)?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| TlsError::Pem {
            path: files.key.clone(),
            what: "private key",
            source: Some(e),
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates(&files.ca)? {
            roots.add(ca).map_err(TlsError::Config)?;
        }
        Ok(Identity {
            certs,
            key,
            roots: Arc::new(roots),
        })
    }

    /// The QUIC server side: TLS 1.3, this identity's certificate, and a
    /// client certificate required and verified against the CA bundle.
    ///
    /// # Errors
    /// [`TlsError`] when rustls refuses the key, the certificates or the
    /// bundle.
    pub fn server_config(&self) -> Result<quinn::ServerConfig, TlsError> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::clone(&self.roots),
            provider(),
        )
        .build()
        .map_err(TlsError::Verifier)?;
        let tls = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Config)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.certs.clone(), self.key.clone_key())
            .map_err(TlsError::Config)?;
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(TlsError::Quic)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = transport();
        transport.max_concurrent_bidi_streams(MAX_STREAMS_PER_CONNECTION.into());
        config.transport_config(Arc::new(transport));
        Ok(config)
    }

    /// The QUIC client side: TLS 1.3, servers verified against the CA
    /// bundle, this identity presented as the client certificate.
    ///
    /// # Errors
    /// [`TlsError`] when rustls refuses the key, the certificates or the
    /// bundle.
    pub fn client_config(&self) -> Result<quinn::ClientConfig, TlsError> {
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(TlsError::Config)?;
        let tls = self.with_client_auth(tls)?;
        let crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(TlsError::Quic)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = transport();
        // The server opens no stream towards its callers.
        transport.max_concurrent_bidi_streams(0u32.into());
        config.transport_config(Arc::new(transport));
        Ok(config)
    }
}

impl Identity {
    /// The TLS client side for other transports (a NATS broker's TLS): TLS
    /// 1.2 or 1.3, servers verified against the CA bundle, this identity
    /// presented when the server asks for a client certificate.
    ///
    /// # Errors
    /// [`TlsError`] when rustls refuses the key, the certificates or the
    /// bundle.
    pub fn client_tls(&self) -> Result<rustls::ClientConfig, TlsError> {
        let tls = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?;
        self.with_client_auth(tls)
    }

    fn with_client_auth(
        &self,
        builder: rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>,
    ) -> Result<rustls::ClientConfig, TlsError> {
        builder
            .with_root_certificates(Arc::clone(&self.roots))
            .with_client_auth_cert(self.certs.clone(), self.key.clone_key())
            .map_err(TlsError::Config)
    }
}

/// What both sides of a connection share: no unidirectional streams (weld
/// carries values only, no wRPC async streams), an idle timeout, and
/// keep-alives within it.
fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_uni_streams(0u32.into());
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(IDLE_TIMEOUT).expect("30 s fits a QUIC varint"),
    ));
    t.keep_alive_interval(Some(IDLE_TIMEOUT / 3));
    t
}

/// Who is at the other end of a connection: the first URI SAN of its
/// certificate (a SPIFFE id), else its first DNS SAN; `None` without a
/// certificate or without either name. The subject's common name is not
/// an identity: a name the CA put in a free-form field must not match a
/// URI or a DNS name an allow-list holds.
pub fn peer_identity(conn: &quinn::Connection) -> Option<String> {
    let certs = conn
        .peer_identity()?
        .downcast::<Vec<CertificateDer<'static>>>()
        .ok()?;
    identity_of(certs.first()?)
}

/// The identity the first certificate of the PEM file at `path` names
/// (see [`peer_identity`]), for the plan to allow a host as a caller.
///
/// # Errors
/// [`TlsError`] when the file cannot be read or holds no certificate.
pub fn certificate_identity(path: &Path) -> Result<Option<String>, TlsError> {
    Ok(certificates(path)?.first().and_then(identity_of))
}

/// The identity a certificate names (see [`peer_identity`]).
pub fn identity_of(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let names = &san.value.general_names;
    let uri = names.iter().find_map(|n| match n {
        GeneralName::URI(u) => Some(u.to_string()),
        _ => None,
    });
    uri.or_else(|| {
        names.iter().find_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_string()),
            _ => None,
        })
    })
}
