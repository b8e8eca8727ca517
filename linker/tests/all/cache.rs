//! The disk compile cache on a real fixture: an entry is used only when it
//! is the one weld wrote for these bytes and this engine, in a private
//! directory; anything else is recompiled (and overwritten), never run.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};
use weld_linker::runtime::engine::{engine, load_or_compile, CompileSource, EngineSettings};

struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Wasi {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

fn setup() -> (Engine, Vec<u8>) {
    (
        engine(EngineSettings::default()).unwrap(),
        weld_fixtures::bytes("adder"),
    )
}

/// Instantiates the adder fixture and calls `add(a, b)`.
fn add(engine: &Engine, component: &Component, a: u32, b: u32) -> u32 {
    let mut linker = Linker::<Wasi>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let wasi = Wasi {
        ctx: WasiCtx::builder().build(),
        table: ResourceTable::new(),
    };
    let mut store = Store::new(engine, wasi);
    let instance = linker.instantiate(&mut store, component).unwrap();
    let adder = instance
        .get_export_index(&mut store, None, "demo:math/adder@0.1.0")
        .unwrap();
    let func = instance
        .get_export_index(&mut store, Some(&adder), "add")
        .unwrap();
    let func = instance
        .get_typed_func::<(u32, u32), (u32,)>(&mut store, &func)
        .unwrap();
    func.call(&mut store, (a, b)).unwrap().0
}

/// Loads (or compiles) the adder through `dir` and checks it adds.
fn load(engine: &Engine, bytes: &[u8], dir: &Path) -> CompileSource {
    let (component, source) = load_or_compile(engine, bytes, dir).unwrap();
    assert_eq!(add(engine, &component, 40, 2), 42, "{source:?}");
    source
}

/// Every file in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// The one entry in `dir`: a regular 0600 `<sha-256 hex>.cwasm` file.
fn entry(dir: &Path) -> PathBuf {
    let files = files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(".cwasm") && name.len() == 64 + 6, "{name}");
    assert!(std::fs::symlink_metadata(&files[0]).unwrap().is_file());
    assert_eq!(mode(&files[0]), 0o600);
    files[0].clone()
}

#[test]
fn a_tampered_entry_is_recompiled_and_overwritten() {
    let (engine, bytes) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("weld");
    assert_eq!(load(&engine, &bytes, &dir), CompileSource::Compiled);
    assert_eq!(mode(&dir), 0o700);
    let path = entry(&dir);
    let written = std::fs::read(&path).unwrap();
    assert_eq!(load(&engine, &bytes, &dir), CompileSource::Disk);

    // 64 bytes in the middle of the payload (compiled code, tables).
    let mut tampered = written.clone();
    let mid = tampered.len() / 2;
    for b in &mut tampered[mid..mid + 64] {
        *b ^= 0xa5;
    }
    std::fs::write(&path, &tampered).unwrap();
    assert_eq!(load(&engine, &bytes, &dir), CompileSource::Compiled);
    assert_eq!(entry(&dir), path);
    assert_ne!(std::fs::read(&path).unwrap(), tampered, "overwritten");
    assert_eq!(load(&engine, &bytes, &dir), CompileSource::Disk);

    // Truncated (a torn write), then empty, then not weld's at all.
    let whole = std::fs::read(&path).unwrap();
    for junk in [&whole[..whole.len() / 2], &[][..], b"\0asm not a cwasm"] {
        std::fs::write(&path, junk).unwrap();
        assert_eq!(load(&engine, &bytes, &dir), CompileSource::Compiled);
        assert_eq!(load(&engine, &bytes, &dir), CompileSource::Disk);
    }
}

#[test]
fn an_entry_written_for_other_bytes_is_not_used() {
    let (engine, bytes) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let other = weld_fixtures::bytes("adder-wide");
    let (_, source) = load_or_compile(&engine, &other, tmp.path()).unwrap();
    assert_eq!(source, CompileSource::Compiled);
    let foreign = entry(tmp.path());
    // Learn the adder's entry name in another directory, then give it the
    // other component's (valid, correctly digested) entry.
    let names = tempfile::tempdir().unwrap();
    load(&engine, &bytes, names.path());
    let name = entry(names.path()).file_name().unwrap().to_owned();
    std::fs::rename(&foreign, tmp.path().join(&name)).unwrap();
    assert_eq!(load(&engine, &bytes, tmp.path()), CompileSource::Compiled);
    assert_eq!(load(&engine, &bytes, tmp.path()), CompileSource::Disk);
}

#[test]
fn a_directory_others_can_write_or_a_symlink_is_refused() {
    let (engine, bytes) = setup();
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let group = tmp.path().join("group");
    std::fs::create_dir(&group).unwrap();
    std::fs::set_permissions(&group, std::fs::Permissions::from_mode(0o770)).unwrap();
    let private = tmp.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&private, &link).unwrap();
    for dir in [&open, &group, &link] {
        for _ in 0..2 {
            assert_eq!(load(&engine, &bytes, dir), CompileSource::Compiled);
        }
        assert_eq!(files(dir), Vec::<PathBuf>::new(), "{}", dir.display());
    }
    assert_eq!(files(&private), Vec::<PathBuf>::new());
    // Refused for the rest of the process, even once made private.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(load(&engine, &bytes, &open), CompileSource::Compiled);
    assert_eq!(files(&open), Vec::<PathBuf>::new());
}

#[test]
fn an_entry_that_is_a_fifo_a_symlink_or_writable_by_others_is_not_used() {
    let (engine, bytes) = setup();
    let good = tempfile::tempdir().unwrap();
    assert_eq!(load(&engine, &bytes, good.path()), CompileSource::Compiled);
    let valid = entry(good.path());
    let name = valid.file_name().unwrap().to_owned();
    let valid_bytes = std::fs::read(&valid).unwrap();

    // A FIFO: refused at once (no blocking open), replaced by an entry.
    let fifo_dir = tempfile::tempdir().unwrap();
    let fifo = fifo_dir.path().join(&name);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let started = std::time::Instant::now();
    assert_eq!(
        load(&engine, &bytes, fifo_dir.path()),
        CompileSource::Compiled
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    entry(fifo_dir.path());
    assert_eq!(load(&engine, &bytes, fifo_dir.path()), CompileSource::Disk);

    // A symbolic link to a valid entry: not followed; the link itself is
    // replaced and its target left alone.
    let link_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&valid, link_dir.path().join(&name)).unwrap();
    assert_eq!(
        load(&engine, &bytes, link_dir.path()),
        CompileSource::Compiled
    );
    entry(link_dir.path());
    assert_eq!(std::fs::read(&valid).unwrap(), valid_bytes);

    // A valid entry that group or others could have written.
    std::fs::set_permissions(&valid, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(load(&engine, &bytes, good.path()), CompileSource::Compiled);
    assert_eq!(entry(good.path()), valid);
    assert_eq!(load(&engine, &bytes, good.path()), CompileSource::Disk);
}
