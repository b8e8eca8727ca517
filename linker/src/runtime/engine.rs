//! Engine configuration chosen from the plan, and a compile cache.
//!
//! * `concurrency_support(false)` unless a component uses component-model
//!   async: every crossing is 2–3× cheaper without it (DESIGN.md).
//! * `compiler_inlining(Inlining::Yes)`: fused adapters inline into callers.
//! * `epoch_interruption(true)` only when a deadline or an interrupt is in
//!   use: it adds a check at loop headers and function entries, so it
//!   changes the compiled code (and the compatibility hash the compile
//!   cache is keyed by). One process-wide ticker thread bumps the epoch of
//!   every such engine each [`TICK`].
//!
//! # The compile cache
//!
//! Compiled components are memoised in memory (per process) and cached on
//! disk as serialized `Component`s under `$XDG_CACHE_HOME/weld` (or
//! `~/.cache/weld`; `WELD_CACHE_DIR` overrides, `WELD_CACHE_DIR=off`
//! disables), so repeated runs don't recompile. Loading an entry runs the
//! native code in it, so the disk cache keeps these invariants:
//!
//! * The directory is created 0700 and used only while it is a real
//!   directory (not a symbolic link) owned by the current user that group
//!   and others cannot write; otherwise the process compiles without it,
//!   after one warning naming the directory and why.
//! * An entry is named by the hex SHA-256 of weld's version, the engine's
//!   `precompile_compatibility_hash()` and the component's bytes, and holds
//!   a header (`weld-cwasm\0`, a format number, that key and the SHA-256 of
//!   the payload) then the payload (`Component::serialize`). It is written
//!   0600 to a fresh file in the directory, then renamed into place.
//! * An entry is read once into memory (no symbolic link followed, a
//!   regular file owned by the user and not writable by group or others,
//!   at most 4 GiB) and its header and digest checked on those bytes; only
//!   then are the same bytes deserialized. Anything else — short, bad
//!   magic, another key, digest mismatch, deserialize error — is reported
//!   with a warning, recompiled and overwritten.
//!
//! Costs: one SHA-256 of the component's bytes per [`compile`] (also on a
//! memo hit), one `mkdir` and `lstat` of the directory per miss of the
//! memo, and on a disk hit one read and one SHA-256 of the entry before
//! deserializing it (wasmtime copies the bytes into executable memory
//! anyway; nothing is mapped from the file).

use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Inlining};

pub use super::pool::PoolLimits;

/// The engine settings weld varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EngineSettings {
    /// Component-model async support (needed only by async components).
    pub concurrency: bool,
    /// Cross-module inlining (fused adapters).
    pub inlining: bool,
    /// The pooling allocator, for many short-lived instances, and its size
    /// (see [`PoolLimits`]).
    pub pooling: Option<PoolLimits>,
    /// Epoch interruption, for deadlines and interrupting guests.
    pub epoch: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            concurrency: false,
            inlining: true,
            pooling: None,
            epoch: false,
        }
    }
}

impl EngineSettings {
    /// wasmtime's own defaults (for comparison in benches).
    pub fn wasmtime_default() -> Self {
        EngineSettings {
            concurrency: true,
            inlining: false,
            pooling: None,
            epoch: false,
        }
    }
}

/// One engine per settings per process: engines are expensive and
/// components compiled for one engine cannot run in another.
///
/// # Errors
/// wasmtime's error when the settings cannot make an engine on this machine.
pub fn engine(settings: EngineSettings) -> wasmtime::Result<Engine> {
    static ENGINES: OnceLock<Mutex<HashMap<EngineSettings, Engine>>> = OnceLock::new();
    let engines = ENGINES.get_or_init(Default::default);
    let mut engines = engines.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = engines.get(&settings) {
        return Ok(e.clone());
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.concurrency_support(settings.concurrency);
    config.compiler_inlining(if settings.inlining {
        Inlining::Yes
    } else {
        Inlining::No
    });
    config.epoch_interruption(settings.epoch);
    if let Some(pool) = &settings.pooling {
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool.config()));
    }
    let engine = Engine::new(&config)?;
    engines.insert(settings, engine.clone());
    if settings.epoch {
        tick(&engine);
    }
    Ok(engine)
}

/// How often the ticker bumps the epoch: one tick is one millisecond, the
/// unit of `deadline-ms`, so a deadline is a number of ticks with no
/// conversion. Its cost is one thread waking 1000 times a second to do one
/// atomic increment per epoch engine; the guest pays only the check it
/// would pay at any tick rate.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// Adds `engine` to the engines the process-wide ticker bumps, starting
/// the ticker on first use. Engines are cached for the life of the
/// process, so the list only grows (by at most one per settings).
fn tick(engine: &Engine) {
    static TICKED: OnceLock<Mutex<Vec<Engine>>> = OnceLock::new();
    let mut started = false;
    let ticked = TICKED.get_or_init(|| {
        started = true;
        Mutex::new(Vec::new())
    });
    ticked
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(engine.clone());
    if started {
        let spawned = std::thread::Builder::new()
            .name("weld-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                for e in ticked.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    e.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            // Without a ticker deadlines never fire; say so loudly.
            tracing::error!(
                "cannot start the epoch ticker thread; guest deadlines will not fire: {e}"
            );
        }
    }
}

/// Where serialized components are cached; `WELD_CACHE_DIR` overrides,
/// `WELD_CACHE_DIR=off` disables the disk cache. Read on every call. The
/// directory is only used if [`load_or_compile`] accepts it.
pub fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("WELD_CACHE_DIR") {
        Some(v) if v == "off" => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("weld"))
}

/// How a component was obtained, for progress output and benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Already compiled in this process.
    Memory,
    /// Deserialized from the disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

/// A cache key: SHA-256 of weld's version, the engine's compatibility hash
/// and the component's bytes.
type Key = [u8; 32];

/// Components larger than this (in bytes, a fused unit's members summed)
/// turn cross-module inlining off for their host.
///
/// Inlining pays where fused adapters sit between small modules (a fused
/// `add` in ~1 ns against ~5 without). On a guest-language component — an
/// interpreter of megabytes — it buys nothing a call can measure and costs
/// much: a 12 MB componentize-js component compiled in 20 s with a peak of
/// 6.6 GB with it, and in 6.8 s and 0.36 GB without (`wasmtime compile`:
/// 7.5 s, 0.37 GB); a 1.6 MB componentize-qjs one in 2.4 s and 1.0 GB with
/// it (BENCHMARKS.md). weld's Rust fixtures are 0.05–0.2 MB.
pub const INLINING_MAX_BYTES: usize = 1 << 20;

/// Told when a unit starts compiling and when it is done (not when it
/// comes from a cache): a long compile can show progress. Called on the
/// thread that compiles.
#[derive(Clone)]
pub struct CompileProgress(Arc<dyn Fn(CompileEvent<'_>) + Send + Sync>);

impl CompileProgress {
    /// Progress reported to `report`.
    pub fn new(report: impl Fn(CompileEvent<'_>) + Send + Sync + 'static) -> CompileProgress {
        CompileProgress(Arc::new(report))
    }

    pub(crate) fn report(&self, event: CompileEvent<'_>) {
        (self.0)(event)
    }
}

impl std::fmt::Debug for CompileProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompileProgress(..)")
    }
}

/// One step of a unit's compile, for [`CompileProgress`].
#[derive(Debug, Clone, Copy)]
pub enum CompileEvent<'a> {
    /// Compiling starts: neither the memo nor the disk cache had it.
    Started {
        /// The unit ("component `a`" or "fused unit (`a` + `b`)").
        unit: &'a str,
        /// The size of its component.
        bytes: usize,
    },
    /// Compiling ended, well or not.
    Finished {
        /// The unit.
        unit: &'a str,
        /// The size of its component.
        bytes: usize,
        /// How long it took.
        elapsed: std::time::Duration,
    },
}

/// Compiles `bytes` for `engine`, using the in-memory memo and the disk
/// cache under [`cache_dir`].
///
/// # Errors
/// wasmtime's error when the component does not compile.
pub fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, CompileSource)> {
    compile_reporting(engine, bytes, &mut || {})
}

/// [`compile`], calling `compiling` just before a compile that neither
/// cache could spare.
pub(crate) fn compile_reporting(
    engine: &Engine,
    bytes: &[u8],
    compiling: &mut dyn FnMut(),
) -> wasmtime::Result<(Component, CompileSource)> {
    // Keyed by bytes and compatibility hash; several engines (pooling or
    // not) can share a hash, and a `Component` only runs in its own engine.
    type Memo = Mutex<HashMap<Key, Vec<Component>>>;
    static COMPILED: OnceLock<Memo> = OnceLock::new();
    let key = cache_key(engine, bytes);
    let memo = COMPILED.get_or_init(Default::default);
    if let Some(list) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if let Some(c) = list.iter().find(|c| Engine::same(c.engine(), engine)) {
            return Ok((c.clone(), CompileSource::Memory));
        }
    }
    let (component, source) = match cache_dir() {
        Some(dir) => load_or_compile_keyed(engine, bytes, &dir, &key, compiling)?,
        None => {
            compiling();
            (Component::new(engine, bytes)?, CompileSource::Compiled)
        }
    };
    memo.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_default()
        .push(component.clone());
    Ok((component, source))
}

/// The disk layer of [`compile`], with an explicit cache directory and no
/// memo: loads the verified entry for `bytes` from `dir`, or compiles and
/// writes one. `dir` is created private (0700) when missing, and refused
/// (the component is compiled without a cache, with one warning per
/// directory per process) when it is a symbolic link, is not owned by the
/// current user, or group or others can write to it. An entry that is
/// corrupt or not weld's is reported, recompiled and overwritten.
///
/// # Errors
/// wasmtime's error when the component does not compile; a cache that cannot be
/// read or written is not an error (the component is compiled).
pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    dir: &Path,
) -> wasmtime::Result<(Component, CompileSource)> {
    load_or_compile_keyed(engine, bytes, dir, &cache_key(engine, bytes), &mut || {})
}

fn load_or_compile_keyed(
    engine: &Engine,
    bytes: &[u8],
    dir: &Path,
    key: &Key,
    compiling: &mut dyn FnMut(),
) -> wasmtime::Result<(Component, CompileSource)> {
    if !private_dir(dir) {
        compiling();
        return Ok((Component::new(engine, bytes)?, CompileSource::Compiled));
    }
    let path = dir.join(format!("{}.cwasm", hex(key)));
    match load_entry(engine, &path, key) {
        Ok(component) => return Ok((component, CompileSource::Disk)),
        Err(Unusable::Missing) => {}
        Err(Unusable::Corrupt(why)) => tracing::warn!(
            "cache entry {} is corrupt ({why}); recompiling",
            path.display()
        ),
        Err(Unusable::Refused(why)) => tracing::warn!(
            "cache entry {} cannot be used ({why}); recompiling",
            path.display()
        ),
    }
    compiling();
    let component = Component::new(engine, bytes)?;
    if let Err(e) = write_cache(&path, key, &component) {
        tracing::debug!(path = %path.display(), "could not write the compile cache: {e:#}");
    }
    Ok((component, CompileSource::Compiled))
}

/// The largest cache entry weld reads. Compiled code is a few times the
/// size of the component (at most [`crate::input::MAX_COMPONENT_BYTES`]).
const MAX_ENTRY_BYTES: u64 = 4 << 30;

/// Why a cache entry was not used.
enum Unusable {
    /// There is none yet.
    Missing,
    /// It is weld's file, but its bytes are not what weld wrote.
    Corrupt(String),
    /// It is not a file weld would have written (a symbolic link, a FIFO,
    /// another user's file), or it cannot be read.
    Refused(String),
}

/// Reads the entry at `path` once, verifies it, and deserializes the very
/// bytes it verified.
fn load_entry(engine: &Engine, path: &Path, key: &Key) -> Result<Component, Unusable> {
    use std::os::unix::fs::MetadataExt as _;
    let (file, meta) = match crate::input::read_own_file(path, MAX_ENTRY_BYTES) {
        Ok(read) => read,
        Err(crate::input::InputError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Unusable::Missing)
        }
        Err(e) => return Err(Unusable::Refused(e.to_string())),
    };
    // The file read, not the name: a file another user could have written
    // is refused even if the directory was swapped after it was checked.
    if let Some(why) = not_private(meta.uid(), meta.mode()) {
        return Err(Unusable::Refused(why));
    }
    let payload = verify_entry(&file, key).map_err(|e| Unusable::Corrupt(e.to_string()))?;
    // SAFETY: `Component::deserialize` runs native code from `payload`, so
    // the bytes must be a `Component::serialize` output of a compatible
    // engine. They are: `verify_entry` checked, on these same in-memory
    // bytes (the file is not read again), that they carry weld's header
    // for this key (weld's version, this engine's compatibility hash and
    // this component's bytes) and that their SHA-256 is the one recorded
    // there when weld serialized them, so a torn write, a flipped bit or
    // an entry copied from another key is refused before wasmtime sees
    // it. The digest is not a signature: it does not stop someone who can
    // write the directory. The directory is private (owned by this user,
    // not writable by group or others) and so is the file read, so that
    // is this user, who could as well replace the weld binary.
    unsafe { Component::deserialize(engine, payload) }
        .map_err(|e| Unusable::Corrupt(format!("deserialize: {e}")))
}

/// Creates `dir` (0700) when missing and says whether it may hold the
/// cache: a directory, not a symbolic link, owned by the current user and
/// not writable by group or others. A refused directory is refused for the
/// rest of the process, with one warning.
fn private_dir(dir: &Path) -> bool {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    static REFUSED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let refused = REFUSED.get_or_init(Default::default);
    if refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(dir)
    {
        return false;
    }
    let why = match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| std::fs::symlink_metadata(dir))
    {
        Err(e) => Some(format!("cannot create or inspect it: {e}")),
        Ok(m) if m.file_type().is_symlink() => Some("it is a symbolic link".to_string()),
        Ok(m) if !m.is_dir() => Some("it is not a directory".to_string()),
        Ok(m) => not_private(m.uid(), m.mode()),
    };
    let Some(why) = why else {
        return true;
    };
    if refused
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dir.to_path_buf())
    {
        tracing::warn!(
            "compile cache directory {} refused ({why}); compiling without a disk cache",
            dir.display()
        );
    }
    false
}

/// Why a file or directory with this owner and mode could hold bytes
/// someone other than the current user wrote, if it could.
fn not_private(uid: u32, mode: u32) -> Option<String> {
    // SAFETY: `geteuid` has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if uid != me {
        Some(format!(
            "it is owned by uid {uid}, not by the current user (uid {me})"
        ))
    } else if mode & 0o022 != 0 {
        Some(format!(
            "group or others can write to it (mode {:03o})",
            mode & 0o777
        ))
    } else {
        None
    }
}

/// Writes `component` to `path` as a cache entry (header, then payload):
/// to a fresh 0600 file in the same directory, then renamed over `path`,
/// so a reader never sees a half-written entry (and a torn one, after a
/// crash, fails its digest).
fn write_cache(path: &Path, key: &Key, component: &Component) -> wasmtime::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let payload = component.serialize()?;
    let header = entry_header(key, &payload);
    let tmp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    // `create_new` never follows or reuses what is already at `tmp`.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = file
        .write_all(&header)
        .and_then(|()| file.write_all(&payload))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// The first bytes of every cache entry.
const MAGIC: &[u8; 11] = b"weld-cwasm\0";
/// The entry format; bumped when the header changes.
const FORMAT: u32 = 1;
/// Magic, format (little-endian), key, SHA-256 of the payload.
const HEADER_LEN: usize = MAGIC.len() + 4 + 32 + 32;

/// The header of the entry holding `payload` under `key`.
fn entry_header(key: &Key, payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT.to_le_bytes());
    header.extend_from_slice(key);
    header.extend_from_slice(&Sha256::digest(payload));
    header
}

/// Why an entry's bytes are not an entry weld wrote for the key.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum EntryError {
    #[error("{0} bytes, shorter than the header")]
    Short(usize),
    #[error("bad magic")]
    Magic,
    #[error("format {0}, not {FORMAT}")]
    Format(u32),
    #[error("written for another key")]
    Key,
    #[error("digest mismatch")]
    Digest,
}

/// Checks `entry` (header and payload) against `key` and returns the
/// payload, whose SHA-256 is the one recorded in the header.
fn verify_entry<'a>(entry: &'a [u8], key: &Key) -> Result<&'a [u8], EntryError> {
    if entry.len() < HEADER_LEN {
        return Err(EntryError::Short(entry.len()));
    }
    let (header, payload) = entry.split_at(HEADER_LEN);
    let (magic, rest) = header.split_at(MAGIC.len());
    let (format, rest) = rest.split_at(4);
    let (stored_key, digest) = rest.split_at(32);
    if magic != MAGIC {
        return Err(EntryError::Magic);
    }
    let format = u32::from_le_bytes(format.try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(EntryError::Format(format));
    }
    if stored_key != key {
        return Err(EntryError::Key);
    }
    if Sha256::digest(payload).as_slice() != digest {
        return Err(EntryError::Digest);
    }
    Ok(payload)
}

/// SHA-256 of weld's version, the engine's compatibility hash and `bytes`.
fn cache_key(engine: &Engine, bytes: &[u8]) -> Key {
    /// Feeds what a `Hash` impl writes into SHA-256 (`finish` is unused).
    struct Feed(Sha256);
    impl Hasher for Feed {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0
        }
    }
    let mut compat = Feed(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut compat);
    let mut key = Sha256::new();
    key.update(b"weld-cache-key\0");
    key.update(env!("CARGO_PKG_VERSION").as_bytes());
    key.update(b"\0");
    key.update(compat.0.finalize());
    key.update(bytes);
    key.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Key = [7; 32];

    fn entry(payload: &[u8]) -> Vec<u8> {
        let mut e = entry_header(&KEY, payload);
        e.extend_from_slice(payload);
        e
    }

    #[test]
    fn a_written_entry_verifies_to_its_payload() {
        let payload = b"serialized component".as_slice();
        assert_eq!(verify_entry(&entry(payload), &KEY), Ok(payload));
        assert_eq!(verify_entry(&entry(b""), &KEY), Ok(b"".as_slice()));
    }

    #[test]
    fn a_truncated_entry_is_refused() {
        let e = entry(b"serialized component");
        assert_eq!(
            verify_entry(&e[..e.len() - 1], &KEY),
            Err(EntryError::Digest)
        );
        assert_eq!(
            verify_entry(&e[..HEADER_LEN - 1], &KEY),
            Err(EntryError::Short(HEADER_LEN - 1))
        );
        assert_eq!(verify_entry(&[], &KEY), Err(EntryError::Short(0)));
    }

    #[test]
    fn a_flipped_bit_in_the_payload_is_refused() {
        let mut e = entry(b"serialized component");
        let last = e.len() - 1;
        e[last] ^= 1;
        assert_eq!(verify_entry(&e, &KEY), Err(EntryError::Digest));
    }

    #[test]
    fn a_flipped_bit_in_the_digest_is_refused() {
        let mut e = entry(b"serialized component");
        e[HEADER_LEN - 1] ^= 0x80;
        assert_eq!(verify_entry(&e, &KEY), Err(EntryError::Digest));
    }

    #[test]
    fn a_wrong_magic_format_or_key_is_refused() {
        let good = entry(b"serialized component");
        let mut e = good.clone();
        e[0] = b'W';
        assert_eq!(verify_entry(&e, &KEY), Err(EntryError::Magic));
        let mut e = good.clone();
        e[MAGIC.len()] = 2;
        assert_eq!(verify_entry(&e, &KEY), Err(EntryError::Format(2)));
        assert_eq!(verify_entry(&good, &[8; 32]), Err(EntryError::Key));
    }

    #[test]
    fn only_private_places_are_accepted() {
        // SAFETY: as in `not_private`.
        let me = unsafe { libc::geteuid() };
        assert_eq!(not_private(me, 0o40700), None);
        assert_eq!(not_private(me, 0o100644), None);
        assert!(not_private(me, 0o40770)
            .unwrap()
            .contains("group or others"));
        assert!(not_private(me, 0o40702).unwrap().contains("mode 702"));
        assert!(not_private(me.wrapping_add(1), 0o40700)
            .unwrap()
            .contains("owned by uid"));
    }

    #[test]
    fn the_key_covers_the_bytes_and_the_engine() {
        let plain = engine(EngineSettings::default()).unwrap();
        let other = engine(EngineSettings::wasmtime_default()).unwrap();
        let a = cache_key(&plain, b"a");
        assert_eq!(a, cache_key(&plain, b"a"));
        assert_ne!(a, cache_key(&plain, b"b"));
        assert_ne!(a, cache_key(&other, b"a"));
        assert_eq!(hex(&a).len(), 64);
    }
}
