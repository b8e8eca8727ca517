//! How a host proves itself to a NATS broker: a `.creds` file (a user JWT
//! and its nkey seed), an nkey seed file, or a token from an environment
//! variable; and, where the host has a TLS identity, its certificate as
//! the client certificate of the broker's TLS, verified against its CA
//! bundle.
//!
//! A manifest names where a secret is, never the secret. Secret files are
//! read as [`tls::read_file`] reads private keys (a regular file, at most
//! 1 MiB, its owner's alone), and parsed when they are read, so a file that
//! is not what it says is refused before anything connects. Nothing here
//! prints a secret: [`NatsAuth`]'s `Debug` names only its kind.

use crate::tls::{self, Identity, TlsError};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a host's NATS secret is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NatsSecret {
    /// A `.creds` file: a user JWT and its nkey seed (NATS accounts).
    Creds(PathBuf),
    /// A file holding a user nkey seed (`SU…`).
    Nkey(PathBuf),
    /// An environment variable holding a token.
    TokenEnv(String),
}

/// A host's NATS credentials, read: what its connections to a broker
/// present.
#[derive(Clone, Default)]
pub struct NatsAuth {
    secret: Option<Secret>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Clone)]
enum Secret {
    Creds(Arc<str>),
    Nkey(Arc<str>),
    Token(Arc<str>),
}

/// Why a host's NATS credentials cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NatsAuthError {
    /// A secret file cannot be read, is not a regular file, is too large,
    /// or others may read it.
    #[error(transparent)]
    File(TlsError),
    /// A `.creds` file that does not hold a user JWT and its seed.
    #[error("`{path}` is not a NATS credentials file (a user JWT and its nkey seed)")]
    Creds {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: std::io::Error,
    },
    /// A seed file that does not hold a user nkey seed.
    #[error("`{path}` does not hold an nkey seed (`SU…`)")]
    Nkey {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: nkeys::error::Error,
    },
    /// The token's variable is not set, or empty.
    #[error("environment variable `{name}` (the host's NATS token) is not set")]
    TokenUnset {
        /// The variable.
        name: String,
    },
    /// A variable name the environment cannot hold.
    #[error("`{name}` is not an environment variable name (letters, digits and `_`, not starting with a digit)")]
    TokenName {
        /// The name as written.
        name: String,
    },
    /// The host's TLS identity cannot be used for the broker's TLS.
    #[error("the host's TLS identity cannot be used for NATS")]
    Tls(#[source] TlsError),
}

impl NatsSecret {
    /// Checks what can be checked before the host runs: a secret file is
    /// readable by its owner alone and holds what it says; a token's
    /// variable has a name the environment can hold (it need not be set
    /// where the plan is made).
    ///
    /// # Errors
    /// [`NatsAuthError`] naming the file or the variable.
    pub fn check(&self) -> Result<(), NatsAuthError> {
        match self {
            NatsSecret::TokenEnv(name) => check_variable(name),
            _ => self.read().map(drop),
        }
    }

    fn read(&self) -> Result<Secret, NatsAuthError> {
        match self {
            NatsSecret::Creds(path) => {
                let text = read_text(path)?;
                async_nats::ConnectOptions::new()
                    .credentials(&text)
                    .map_err(|source| NatsAuthError::Creds {
                        path: path.clone(),
                        source,
                    })?;
                Ok(Secret::Creds(text.into()))
            }
            NatsSecret::Nkey(path) => {
                let text = read_text(path)?;
                let seed = text.trim();
                nkeys::KeyPair::from_seed(seed).map_err(|source| NatsAuthError::Nkey {
                    path: path.clone(),
                    source,
                })?;
                Ok(Secret::Nkey(seed.into()))
            }
            NatsSecret::TokenEnv(name) => {
                check_variable(name)?;
                match std::env::var(name) {
                    Ok(token) if !token.is_empty() => Ok(Secret::Token(token.into())),
                    _ => Err(NatsAuthError::TokenUnset { name: name.clone() }),
                }
            }
        }
    }
}

/// A secret file's text: read as a private key is, and UTF-8.
fn read_text(path: &std::path::Path) -> Result<String, NatsAuthError> {
    let bytes = tls::read_file(path, true).map_err(NatsAuthError::File)?;
    String::from_utf8(bytes).map_err(|e| {
        NatsAuthError::File(TlsError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        })
    })
}

fn check_variable(name: &str) -> Result<(), NatsAuthError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(NatsAuthError::TokenName {
            name: name.to_string(),
        })
    }
}

impl NatsAuth {
    /// Reads `secret` (a token from the environment now) and takes
    /// `identity` as the client certificate of TLS connections.
    ///
    /// # Errors
    /// [`NatsAuthError`] naming the file or variable that cannot be used.
    pub fn load(
        secret: Option<&NatsSecret>,
        identity: Option<&Identity>,
    ) -> Result<NatsAuth, NatsAuthError> {
        Ok(NatsAuth {
            secret: secret.map(NatsSecret::read).transpose()?,
            tls: identity
                .map(|i| i.client_tls().map(Arc::new))
                .transpose()
                .map_err(NatsAuthError::Tls)?,
        })
    }

    /// Connection options for `url` carrying these credentials: TLS is
    /// required for a `tls://` URL, and the identity (when there is one)
    /// is used whenever the broker asks for TLS.
    ///
    /// # Errors
    /// Never for credentials [`NatsAuth::load`] read (they were parsed
    /// then); kept for the parser's signature.
    pub fn options(&self, url: &str) -> std::io::Result<async_nats::ConnectOptions> {
        let mut options = async_nats::ConnectOptions::new();
        options = match &self.secret {
            None => options,
            Some(Secret::Creds(text)) => options.credentials(text)?,
            Some(Secret::Nkey(seed)) => options.nkey(seed.to_string()),
            Some(Secret::Token(token)) => options.token(token.to_string()),
        };
        if let Some(tls) = &self.tls {
            options = options.tls_client_config((**tls).clone());
        }
        if url.starts_with("tls://") {
            options = options.require_tls(true);
        }
        Ok(options)
    }
}

impl std::fmt::Debug for NatsAuth {
    /// The kind of secret only: a secret is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = match &self.secret {
            None => "none",
            Some(Secret::Creds(_)) => "creds",
            Some(Secret::Nkey(_)) => "nkey",
            Some(Secret::Token(_)) => "token",
        };
        f.debug_struct("NatsAuth")
            .field("secret", &secret)
            .field("tls_identity", &self.tls.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn private(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn secrets_are_read_as_private_keys_and_parsed_before_use() {
        let dir = tempfile::tempdir().unwrap();
        let seed = nkeys::KeyPair::new_user().seed().unwrap();
        let good = private(dir.path(), "user.nk", &format!("{seed}\n"));
        assert!(NatsSecret::Nkey(good.clone()).check().is_ok());
        let auth = NatsAuth::load(Some(&NatsSecret::Nkey(good.clone())), None).unwrap();
        // Debug never shows the seed.
        assert!(!format!("{auth:?}").contains(&seed));
        assert!(auth.options("nats://127.0.0.1:4222").is_ok());

        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            NatsSecret::Nkey(good).check(),
            Err(NatsAuthError::File(TlsError::KeyExposed { .. }))
        ));
        let bad = private(dir.path(), "bad.nk", "not a seed");
        assert!(matches!(
            NatsSecret::Nkey(bad.clone()).check(),
            Err(NatsAuthError::Nkey { .. })
        ));
        assert!(matches!(
            NatsSecret::Creds(bad).check(),
            Err(NatsAuthError::Creds { .. })
        ));
    }

    #[test]
    fn a_token_comes_from_a_variable_that_must_be_set_when_the_host_runs() {
        assert!(NatsSecret::TokenEnv("WELD_TEST_UNSET_TOKEN".into())
            .check()
            .is_ok());
        assert!(matches!(
            NatsAuth::load(
                Some(&NatsSecret::TokenEnv("WELD_TEST_UNSET_TOKEN".into())),
                None
            ),
            Err(NatsAuthError::TokenUnset { .. })
        ));
        for bad in ["", "1ABC", "A-B", "A=B"] {
            assert!(
                matches!(
                    NatsSecret::TokenEnv(bad.into()).check(),
                    Err(NatsAuthError::TokenName { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
