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
//! * Compiled components are cached in memory (per process) and on disk as
//!   serialized `Component`s under `$XDG_CACHE_HOME/weld` (or
//!   `~/.cache/weld`), keyed by the bytes and the engine's compatibility
//!   hash, so repeated runs don't recompile.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, Inlining};

/// The engine settings weld varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EngineSettings {
    /// Component-model async support (needed only by async components).
    pub concurrency: bool,
    /// Cross-module inlining (fused adapters).
    pub inlining: bool,
    /// The pooling allocator, for many short-lived instances.
    pub pooling: bool,
    /// Epoch interruption, for deadlines and interrupting guests.
    pub epoch: bool,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            concurrency: false,
            inlining: true,
            pooling: false,
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
            pooling: false,
            epoch: false,
        }
    }
}

/// One engine per settings per process: engines are expensive and
/// components compiled for one engine cannot run in another.
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
    if settings.pooling {
        // Sized for a host's worth of live stores; every slot reserves
        // virtual address space up front, so keep the pool modest.
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(64);
        pool.total_memories(128);
        pool.total_tables(128);
        pool.total_core_instances(256);
        pool.max_memory_size(POOL_MAX_MEMORY as usize);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config)?;
    engines.insert(settings, engine.clone());
    if settings.epoch {
        tick(&engine);
    }
    Ok(engine)
}

/// The per-memory size of the pooling allocator's slots.
pub const POOL_MAX_MEMORY: u64 = 64 << 20;

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
/// `WELD_CACHE_DIR=off` disables the disk cache.
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

/// Compiles `bytes` for `engine`, using the caches.
pub fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<(Component, CompileSource)> {
    // Keyed by bytes and compatibility hash; several engines (pooling or
    // not) can share a hash, and a `Component` only runs in its own engine.
    type Memo = Mutex<HashMap<(u64, u64), Vec<Component>>>;
    static COMPILED: OnceLock<Memo> = OnceLock::new();
    let key = cache_key(engine, bytes);
    let memo = COMPILED.get_or_init(Default::default);
    let remember = |c: &Component| {
        memo.lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default()
            .push(c.clone());
    };
    if let Some(list) = memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        if let Some(c) = list.iter().find(|c| Engine::same(c.engine(), engine)) {
            return Ok((c.clone(), CompileSource::Memory));
        }
    }
    let path = cache_dir().map(|d| d.join(format!("{:016x}{:016x}.cwasm", key.0, key.1)));
    if let Some(path) = &path {
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` for an
            // engine with the same compatibility hash (part of the key); a
            // corrupted or foreign file fails deserialization's own checks.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(c) => {
                    remember(&c);
                    return Ok((c, CompileSource::Disk));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {e:#}")
                }
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Some(path) = &path {
        if let Err(e) = write_cache(path, &component) {
            tracing::debug!(path = %path.display(), "could not write the compile cache: {e:#}");
        }
    }
    remember(&component);
    Ok((component, CompileSource::Compiled))
}

fn write_cache(path: &std::path::Path, component: &Component) -> wasmtime::Result<()> {
    let dir = path.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize()?;
    // Write then rename: a reader never sees a half-written file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn cache_key(engine: &Engine, bytes: &[u8]) -> (u64, u64) {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut a);
    bytes.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    bytes.len().hash(&mut b);
    bytes.hash(&mut b);
    env!("CARGO_PKG_VERSION").hash(&mut b);
    (a.finish(), b.finish())
}
