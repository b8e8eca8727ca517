//! Helpers shared by the wRPC integration tests.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use wasmtime::component::Val;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::serve::{Background, ServeOptions, Server};
use weld_linker::Deployment;

pub use weld_fixtures::peer::free_port;

/// greet-caller on host `a`, greet on host `b` behind `endpoint`.
pub fn greet_manifest(dir: &Path, endpoint: &str, link: &str, greet_extra: &str) -> PathBuf {
    let toml = r#"
[components.greet-caller]
path = "{greet-caller}"
host = "a"

[components.greet]
path = "{greet}"
host = "b"
GREET_EXTRA

[[link]]
import = "greet-caller:demo:greet/greeter@0.1.0"
export = "greet"
LINK

[hosts.b]
wrpc = ENDPOINT
"#
    .replace("GREET_EXTRA", greet_extra)
    .replace("LINK", link)
    .replace("ENDPOINT", endpoint);
    weld_fixtures::write_manifest(dir, &toml)
}

pub fn tcp(port: u16) -> String {
    format!(r#"{{ transport = "tcp", address = "127.0.0.1:{port}" }}"#)
}

/// `weld serve` for one host, in a thread, stopped on drop.
pub fn serve(manifest: &Path, host: &str) -> Background {
    let deployment = Deployment::load(manifest).expect("manifest plans");
    Server::new(&deployment, ServeOptions::new(host))
        .expect("server prepares")
        .spawn()
        .expect("server starts")
}

pub fn runtime(manifest: &Path, host: &str) -> Runtime {
    let deployment = Deployment::load(manifest).expect("manifest plans");
    Runtime::new(
        &deployment,
        &RuntimeOptions {
            host: Some(host.into()),
            ..Default::default()
        },
    )
    .expect("runtime prepares")
}

/// What `greet-caller.greet(name)` returned.
pub fn greet(rt: &Runtime, name: &str) -> String {
    greet_in(&mut rt.instantiate().unwrap(), name)
}

/// What `greet-caller.greet(name)` returned, called in the store of `d`.
pub fn greet_in(d: &mut weld_linker::runtime::Deployed, name: &str) -> String {
    match d
        .call("greet-caller", "front.greet", &[Val::String(name.into())])
        .expect("the caller never traps")
        .as_slice()
    {
        [Val::String(s)] => s.clone(),
        other => panic!("unexpected results {other:?}"),
    }
}

pub fn nats(url: &str, prefix: &str) -> String {
    format!(r#"{{ transport = "nats", url = "{url}", prefix = "{prefix}" }}"#)
}

/// types-caller on `a` → types on `b` over `endpoint` (allow-trap: the
/// identity functions are not wRPC-safe).
pub fn types_manifest(dir: &Path, endpoint: &str) -> PathBuf {
    let toml = r#"
[components.types-caller]
path = "{types-caller}"
host = "a"

[components.types]
path = "{types}"
host = "b"

[[link]]
import = "types-caller:demo:types/all@0.1.0"
export = "types"
allow-trap = true

[hosts.b]
wrpc = ENDPOINT
"#
    .replace("ENDPOINT", endpoint);
    weld_fixtures::write_manifest(dir, &toml)
}

/// driver on `a` → adder on `b` over `endpoint`.
pub fn math_manifest(dir: &Path, endpoint: &str) -> PathBuf {
    weld_fixtures::write_manifest(dir, &weld_fixtures::pair_manifest("adder", Some(endpoint)))
}

/// Runs `wrpc-peer call ARGS`; asserts it succeeded and returns its stdout.
pub fn peer_ok(args: &[&str]) -> String {
    let out = weld_fixtures::peer::call(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "wrpc-peer call {}: {stdout}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
