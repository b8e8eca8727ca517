//! Arbitrary bytes → `Manifest::parse` → `plan` against a fixed catalogue of
//! components described in WIT. Nothing here may panic.
//!
//! A declared component whose name is a catalogue label (`adder`, `driver`,
//! `greeter`, ...) gets that entry; any other name gets the catalogue's
//! entries in turn, by its position in the manifest.

#![no_main]

use indexmap::IndexMap;
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::LazyLock;
use weld_linker::introspect::ComponentInfo;
use weld_linker::manifest::Manifest;
use weld_linker::plan::plan;

fn math(version: &str, int: &str) -> String {
    format!(
        "package demo:math@{version};
         interface adder {{ add: func(a: {int}, b: {int}) -> {int}; }}
         interface runner {{ run: func(n: u32) -> u32; }}
         world adder-provider {{ export adder; }}
         world driver {{ import adder; export runner; }}"
    )
}

const CHAIN: &str = "package demo:chain@0.1.0;
    interface entry { go: func() -> u32; }
    interface b-api { b: func(x: u32) -> u32; }
    interface c-api { c: func(x: u32) -> u32; }
    world a { import b-api; export entry; }
    world b { import c-api; export b-api; }
    world c { export c-api; }
    world c-loop { import b-api; export c-api; }";

const GREET: &str = "package demo:greet@0.1.0;
    interface greeter {
      use wrpc:rpc/error@0.1.0.{error};
      hello: func(name: string) -> result<string, error>;
      count: func() -> result<u64, error>;
    }
    interface front { greet: func(name: string) -> string; }
    world provider { export greeter; }
    world caller { import greeter; export front; }
    package wrpc:rpc@0.1.0 {
      interface error { resource error { to-debug-string: func() -> string; } }
    }";

const KV: &str = "package demo:kv@0.1.0;
    interface store {
      resource bucket {
        constructor(name: string);
        get: func(key: string) -> option<string>;
        set: func(key: string, value: string);
      }
      open: func(name: string) -> bucket;
    }
    interface app { run: func() -> u32; }
    world provider { export store; }
    world consumer { import store; export app; }";

const HELLO: &str = "package demo:hello@0.1.0;
    interface greet { hi: func() -> string; }
    world hello { import wasi:cli/stdout@0.2.0; export greet; }
    package wasi:cli@0.2.0 { interface stdout { print: func(s: string); } }";

const ODD: &str = "package demo:odd@0.1.0;
    world inline-importer { import foo: interface { f: func(); } }
    world inline-exporter { export foo: interface { f: func(); } }
    world func-exporter { export foo: func(); }
    world func-importer { import bar: func(); }
    world empty {}";

static CATALOGUE: LazyLock<Vec<(&'static str, ComponentInfo)>> = LazyLock::new(|| {
    let math_010 = math("0.1.0", "u32");
    let math_011 = math("0.1.1", "u32");
    let math_wide = math("0.1.0", "u64");
    let math_020 = math("0.2.0", "u32");
    let entries: Vec<(&'static str, &str, &str)> = vec![
        ("adder", &math_010, "adder-provider"),
        ("driver", &math_010, "driver"),
        ("adder-next", &math_011, "adder-provider"),
        ("driver-next", &math_011, "driver"),
        ("adder-wide", &math_wide, "adder-provider"),
        ("adder-v2", &math_020, "adder-provider"),
        ("chain-a", CHAIN, "a"),
        ("chain-b", CHAIN, "b"),
        ("chain-c", CHAIN, "c"),
        ("chain-loop", CHAIN, "c-loop"),
        ("greeter", GREET, "provider"),
        ("greet-caller", GREET, "caller"),
        ("kv", KV, "provider"),
        ("kv-consumer", KV, "consumer"),
        ("hello", HELLO, "hello"),
        ("inline-importer", ODD, "inline-importer"),
        ("inline-exporter", ODD, "inline-exporter"),
        ("func-exporter", ODD, "func-exporter"),
        ("func-importer", ODD, "func-importer"),
        ("empty", ODD, "empty"),
    ];
    entries
        .into_iter()
        .map(|(label, wit, world)| {
            let info = ComponentInfo::from_wit(wit, world)
                .unwrap_or_else(|e| panic!("catalogue entry `{label}`: {e:#}"));
            (label, info)
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let manifest = match Manifest::parse(Path::new("weld.toml"), &text) {
        Ok(m) => m,
        Err(d) => {
            assert!(!d.0.is_empty(), "a parse error without diagnostics");
            let _ = d.to_string();
            return;
        }
    };
    let components: IndexMap<String, ComponentInfo> = manifest
        .components
        .keys()
        .enumerate()
        .map(|(i, name)| {
            let (_, info) = CATALOGUE
                .iter()
                .find(|(label, _)| label == name)
                .unwrap_or(&CATALOGUE[i % CATALOGUE.len()]);
            (name.clone(), info.clone())
        })
        .collect();
    match plan(&manifest, &components) {
        Ok(p) => {
            let _ = p.to_table(true);
            let _ = p.to_table(false);
            let _ = p.to_dot();
        }
        Err(d) => {
            assert!(!d.0.is_empty(), "a plan error without diagnostics");
            let _ = d.to_string();
        }
    }
});
