//! The NATS side of a desired state: a JetStream key-value bucket whose
//! key holds the [`Bundle`] document and whose object store (of the same
//! name) holds the files by digest, and the status keys hosts publish
//! beside it. Blocking calls over a runtime of its own, so a host's
//! threads and the CLI use it alike; every request is bounded by
//! [`OP_TIMEOUT`].

use super::{Bundle, BundleFile, DesiredError};
use crate::wrpc::nats_auth::NatsAuth;
use async_nats::jetstream::{self, kv, object_store};
use futures::StreamExt as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt as _;

/// The longest any one request to the broker may take; a file's transfer
/// gets a second more per MiB ([`transfer_timeout`]).
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long moving a file of `size` bytes may take: [`OP_TIMEOUT`] and a
/// second per MiB (a slow link still moves large components; a stalled
/// one is given up).
fn transfer_timeout(size: u64) -> Duration {
    OP_TIMEOUT + Duration::from_secs(size >> 20)
}

/// The object store's digest of bytes whose SHA-256 is `hex`
/// (`SHA-256=` and URL-safe base64).
fn object_digest(hex: &str) -> Option<String> {
    let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
    Some(format!(
        "SHA-256={}",
        data_encoding::BASE64URL.encode(&bytes)
    ))
}

/// `nats://HOST[:PORT]/BUCKET/KEY`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanUrl {
    /// The server's URL, without the path (`nats://HOST:PORT`).
    pub server: String,
    /// The key-value bucket (and object store) name.
    pub bucket: String,
    /// The key under which the desired state is.
    pub key: String,
}

impl std::fmt::Display for PlanUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.server, self.bucket, self.key)
    }
}

impl std::str::FromStr for PlanUrl {
    type Err = DesiredError;

    /// # Errors
    /// [`DesiredError::Url`]: another scheme, user information, a bad
    /// server address, or a bucket or key NATS would refuse.
    fn from_str(url: &str) -> Result<PlanUrl, DesiredError> {
        let bad = |problem: &str| DesiredError::Url {
            url: crate::wrpc::endpoint::redact_credentials(url),
            problem: problem.to_string(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| matches!(*s, "nats" | "tls"))
            .ok_or_else(|| bad("the scheme is `nats://` or `tls://`"))?;
        let (server, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no `/BUCKET/KEY` after the server"))?;
        let server = format!("{scheme}://{server}");
        crate::wrpc::Endpoint::Nats {
            url: server.clone(),
            prefix: None,
        }
        .check()
        .map_err(|e| bad(&e.to_string()))?;
        let (bucket, key) = path
            .split_once('/')
            .ok_or_else(|| bad("no `/KEY` after the bucket"))?;
        if bucket.is_empty()
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(bad("a bucket is letters, digits, `-` and `_`"));
        }
        if key.is_empty()
            || key.len() > 256
            || key.starts_with('.')
            || key.ends_with('.')
            || key.contains("..")
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
        {
            return Err(bad(
                "a key is at most 256 of letters, digits, `-`, `/`, `_`, `=` and `.`, with no empty `.`-token",
            ));
        }
        Ok(PlanUrl {
            server,
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

/// A connection to a desired state's bucket.
pub struct PlanStore {
    url: PlanUrl,
    kv: kv::Store,
    objects: object_store::ObjectStore,
    // Dropped last: the stores' tasks run on it.
    rt: tokio::runtime::Runtime,
}

/// A change of the desired state, as [`Changes::next`] gives it.
#[derive(Debug)]
pub enum Change {
    /// A new document under the key.
    Put {
        /// Its revision in the bucket.
        revision: u64,
        /// The document.
        value: bytes::Bytes,
    },
    /// The key was deleted or purged.
    Deleted {
        /// The revision of the deletion.
        revision: u64,
    },
}

/// The changes of the key after a revision, in order.
pub struct Changes {
    watch: kv::Watch,
}

impl PlanStore {
    /// Connects to `url`'s server with `auth`, and opens its bucket and
    /// object store; `create` makes them when they are missing (a writer
    /// does; a host only reads what is there).
    ///
    /// # Errors
    /// [`DesiredError::Connect`] when the server cannot be reached or
    /// refuses the credentials; [`DesiredError::Broker`] when the bucket
    /// cannot be opened (or made).
    pub fn connect(
        url: &PlanUrl,
        auth: &NatsAuth,
        create: bool,
    ) -> Result<PlanStore, DesiredError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weld-desired")
            .enable_all()
            .build()
            .map_err(|e| DesiredError::Connect {
                server: url.server.clone(),
                source: e.into(),
            })?;
        let (kv, objects) = rt.block_on(async {
            let connect =
                |source: Box<dyn std::error::Error + Send + Sync>| DesiredError::Connect {
                    server: url.server.clone(),
                    source,
                };
            let options = auth
                .options(&url.server)
                .map_err(|e| connect(e.into()))?
                .connection_timeout(Duration::from_secs(5));
            let client = options
                .connect(url.server.as_str())
                .await
                .map_err(|e| connect(e.into()))?;
            let js = jetstream::new(client);
            let kv = match js.get_key_value(&url.bucket).await {
                Ok(kv) => kv,
                Err(_) if create => {
                    make_bucket(&js, &url.bucket).await?;
                    js.get_key_value(&url.bucket)
                        .await
                        .map_err(|e| broker(format!("open the bucket `{}`", url.bucket), e))?
                }
                Err(e) if stream_missing(&e) => {
                    return Err(DesiredError::Missing {
                        bucket: url.bucket.clone(),
                        key: url.key.clone(),
                    })
                }
                Err(e) => return Err(broker(format!("open the bucket `{}`", url.bucket), e)),
            };
            let objects = match js.get_object_store(&url.bucket).await {
                Ok(o) => o,
                Err(_) if create => js
                    .create_object_store(object_store::Config {
                        bucket: url.bucket.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| broker(format!("make the object store `{}`", url.bucket), e))?,
                Err(e) => return Err(broker(format!("open the object store `{}`", url.bucket), e)),
            };
            Ok((kv, objects))
        })?;
        Ok(PlanStore {
            url: url.clone(),
            kv,
            objects,
            rt,
        })
    }

    /// The URL connected to.
    pub fn url(&self) -> &PlanUrl {
        &self.url
    }

    /// Stores `bundle` as the desired state: the files `bytes` holds (in
    /// the bundle's order) the object store lacks first, then the
    /// document, so a host never sees a document whose files are missing.
    /// Returns the document's revision.
    ///
    /// # Errors
    /// [`DesiredError::Broker`] when a file or the document cannot be
    /// stored.
    pub fn publish(&self, bundle: &Bundle, bytes: &[Vec<u8>]) -> Result<u64, DesiredError> {
        for (f, b) in bundle.files.iter().zip(bytes) {
            let what = format!("store `{}`", f.path);
            self.block_on_for(&what, transfer_timeout(f.size), async {
                // Stored already: the same name and the digest of the same
                // bytes (an object of that name holding others is
                // replaced).
                let digest = object_digest(&f.sha256);
                if self
                    .objects
                    .info(&f.sha256)
                    .await
                    .is_ok_and(|i| !i.deleted && i.digest.is_some() && i.digest == digest)
                {
                    return Ok(());
                }
                self.objects
                    .put(f.sha256.as_str(), &mut b.as_slice())
                    .await
                    .map(|_| ())
                    .map_err(|e| broker(what.clone(), e))
            })?;
        }
        self.block_on("store the desired state", async {
            self.kv
                .put(&self.url.key, bundle.to_bytes().into())
                .await
                .map_err(|e| broker(format!("put key `{}`", self.url.key), e))
        })
    }

    /// The desired state now: its revision and document (unchecked).
    ///
    /// # Errors
    /// [`DesiredError::Missing`] when the key holds none;
    /// [`DesiredError::Broker`] when it cannot be read.
    pub fn current(&self) -> Result<(u64, bytes::Bytes), DesiredError> {
        let entry = self.block_on("read the desired state", async {
            self.kv
                .entry(&self.url.key)
                .await
                .map_err(|e| broker(format!("read key `{}`", self.url.key), e))
        })?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => Ok((e.revision, e.value)),
            _ => Err(DesiredError::Missing {
                bucket: self.url.bucket.clone(),
                key: self.url.key.clone(),
            }),
        }
    }

    /// Lays `bundle`'s files out below `dir` (see [`Bundle::lay_out`]),
    /// taking those `cache` holds from it and the others from the object
    /// store (each refused before it is read when the store's size for it
    /// is not the document's); `cache` then holds exactly this bundle's
    /// files. Returns the manifest's path.
    ///
    /// # Errors
    /// [`DesiredError::Broker`] for a file the store does not give;
    /// [`DesiredError::Digest`] for one whose bytes are not its digest's;
    /// [`DesiredError::Write`] for one that cannot be written;
    /// [`DesiredError::Stopped`] once `stop` is set.
    pub fn lay_out(
        &self,
        bundle: &Bundle,
        dir: &Path,
        cache: &mut HashMap<String, Vec<u8>>,
        stop: &AtomicBool,
    ) -> Result<PathBuf, DesiredError> {
        let mut fetched = HashMap::new();
        let manifest = bundle.lay_out(dir, |f| {
            // A host stopping waits for one file at most.
            if stop.load(Ordering::Relaxed) {
                return Err(DesiredError::Stopped);
            }
            let bytes = match cache.get(&f.sha256) {
                Some(b) => b.clone(),
                None => self.fetch(f)?,
            };
            fetched.insert(f.sha256.clone(), bytes.clone());
            Ok(bytes)
        })?;
        *cache = fetched;
        Ok(manifest)
    }

    /// One file's bytes from the object store, at most its size read.
    fn fetch(&self, f: &BundleFile) -> Result<Vec<u8>, DesiredError> {
        let what = format!("fetch `{}`", f.path);
        self.block_on_for(&what, transfer_timeout(f.size), async {
            let mut object = self
                .objects
                .get(&f.sha256)
                .await
                .map_err(|e| broker(format!("fetch `{}` ({})", f.path, f.sha256), e))?;
            if object.info().size as u64 != f.size {
                return Err(DesiredError::Digest {
                    path: f.path.clone(),
                });
            }
            // Grown as bytes arrive, not reserved from what the store says.
            let mut bytes = Vec::new();
            (&mut object)
                .take(f.size + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| broker(format!("fetch `{}`", f.path), e))?;
            Ok(bytes)
        })
    }

    /// The changes of the key after `revision`.
    ///
    /// # Errors
    /// [`DesiredError::Broker`] when the watch cannot be started.
    pub fn changes(&self, revision: u64) -> Result<Changes, DesiredError> {
        let watch = self.block_on("watch the desired state", async {
            self.kv
                .watch_from_revision(&self.url.key, revision + 1)
                .await
                .map_err(|e| broker(format!("watch key `{}`", self.url.key), e))
        })?;
        Ok(Changes { watch })
    }

    /// The next change, waiting at most `wait`; `None` when there was none.
    ///
    /// # Errors
    /// [`DesiredError::Broker`] when the watch failed or ended (start
    /// another from the last revision seen).
    pub fn next(
        &self,
        changes: &mut Changes,
        wait: Duration,
    ) -> Result<Option<Change>, DesiredError> {
        let next = self
            .rt
            .block_on(async { tokio::time::timeout(wait, changes.watch.next()).await });
        let entry = match next {
            Err(_) => return Ok(None),
            Ok(None) => {
                return Err(broker(
                    "follow the desired state".to_string(),
                    std::io::Error::other("the watch ended"),
                ))
            }
            Ok(Some(e)) => e.map_err(|e| broker("follow the desired state".to_string(), e))?,
        };
        Ok(Some(match entry.operation {
            kv::Operation::Put => Change::Put {
                revision: entry.revision,
                value: entry.value,
            },
            kv::Operation::Delete | kv::Operation::Purge => Change::Deleted {
                revision: entry.revision,
            },
        }))
    }

    /// The key under which `host` publishes its status.
    #[must_use]
    pub fn status_key(&self, host: &str) -> String {
        format!("{}.status.{host}", self.url.key)
    }

    /// Puts `host`'s status (as its JSON bytes).
    ///
    /// # Errors
    /// [`DesiredError::Broker`] when it cannot be stored.
    pub fn put_status(&self, host: &str, json: Vec<u8>) -> Result<(), DesiredError> {
        let key = self.status_key(host);
        self.block_on("publish the status", async {
            self.kv
                .put(&key, json.into())
                .await
                .map(|_| ())
                .map_err(|e| broker(format!("put key `{key}`"), e))
        })
    }

    /// `host`'s last published status (its JSON bytes), if any.
    ///
    /// # Errors
    /// [`DesiredError::Broker`] when it cannot be read.
    pub fn status(&self, host: &str) -> Result<Option<bytes::Bytes>, DesiredError> {
        let key = self.status_key(host);
        self.block_on("read the status", async {
            self.kv
                .get(&key)
                .await
                .map_err(|e| broker(format!("read key `{key}`"), e))
        })
    }

    /// Runs `f` on the store's runtime, at most [`OP_TIMEOUT`].
    fn block_on<T>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, DesiredError>>,
    ) -> Result<T, DesiredError> {
        self.block_on_for(what, OP_TIMEOUT, f)
    }

    /// Runs `f` on the store's runtime, at most `limit`.
    fn block_on_for<T>(
        &self,
        what: &str,
        limit: Duration,
        f: impl std::future::Future<Output = Result<T, DesiredError>>,
    ) -> Result<T, DesiredError> {
        self.rt.block_on(async {
            tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
                Err(broker(
                    what.to_string(),
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
                ))
            })
        })
    }
}

/// Makes the key-value bucket `bucket`: the stream a key-value bucket is
/// (`KV_<bucket>` on `$KV.<bucket>.>`, one value per key kept with 16 of
/// history, rollups allowed, deletes only as markers, direct gets).
/// async-nats's own `create_key_value` first reads the account's
/// information, whose reply from nats-server 2.9 (Debian's) lacks fields
/// it requires; the stream is the same.
async fn make_bucket(js: &jetstream::Context, bucket: &str) -> Result<(), DesiredError> {
    use jetstream::stream;
    js.create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 16,
        discard: stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| broker(format!("make the bucket `{bucket}`"), e))
}

/// Whether `e` says the stream asked for does not exist.
fn stream_missing(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(e) = cause {
        use jetstream::context::{GetStreamError, GetStreamErrorKind};
        let code = match e.downcast_ref::<GetStreamError>().map(GetStreamError::kind) {
            Some(GetStreamErrorKind::JetStream(j)) => Some(j.error_code()),
            _ => e
                .downcast_ref::<jetstream::Error>()
                .map(jetstream::Error::error_code),
        };
        if code == Some(jetstream::ErrorCode::STREAM_NOT_FOUND) {
            return true;
        }
        cause = e.source();
    }
    false
}

fn broker(what: String, e: impl std::error::Error + Send + Sync + 'static) -> DesiredError {
    DesiredError::Broker {
        what,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_take_the_object_stores_form() {
        // SHA-256 of the empty string.
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            object_digest(hex).unwrap(),
            "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(object_digest("not hex"), None);
    }

    #[test]
    fn urls_name_a_server_a_bucket_and_a_key() {
        let u: PlanUrl = "nats://127.0.0.1:4222/plans/prod".parse().unwrap();
        assert_eq!(u.server, "nats://127.0.0.1:4222");
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("plans", "prod"));
        let u: PlanUrl = "tls://nats.example/b/k.web/x".parse().unwrap();
        assert_eq!(u.key, "k.web/x");
        for (url, problem) in [
            ("http://x/b/k", "scheme"),
            ("nats://x", "BUCKET"),
            ("nats://x/b", "KEY"),
            ("nats://user:pw@x/b/k", "…@x"),
            ("nats://x/b.c/k", "bucket"),
            ("nats://x/b/k..x", "key"),
            ("nats://x/b/.k", "key"),
            ("nats://x/b/k*", "key"),
            ("nats://x:99999/b/k", "port"),
        ] {
            let e = url.parse::<PlanUrl>().unwrap_err().to_string();
            assert!(e.contains(problem), "{url}: {e}");
            assert!(!e.contains("pw"), "{e}");
        }
    }
}
