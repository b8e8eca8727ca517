//! Arbitrary bytes → `Manifest::parse` → `plan` against a fixed catalogue of
//! components (and providers) described in WIT. Nothing here may panic.
//!
//! A declared component whose name is a catalogue label (`adder`, `driver`,
//! `greeter`, ...) gets that entry; any other name gets the catalogue's
//! entries in turn, by its position in the manifest.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use weld_linker::manifest::Manifest;
use weld_linker::plan::plan_with;

// Shared with `linker/tests/plan_props.rs`.
#[path = "../../fixtures/catalogue/wit_catalogue.rs"]
mod wit_catalogue;
use wit_catalogue::{components_for, providers_for};

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
    let components = components_for(&manifest);
    let providers = providers_for(&manifest);
    match plan_with(&manifest, &components, &providers, &Default::default()) {
        Ok(p) => {
            let _ = p.to_table(true, "");
            let _ = p.to_table(false, "");
            let _ = p.to_dot();
        }
        Err(d) => {
            assert!(!d.0.is_empty(), "a plan error without diagnostics");
            let _ = d.to_string();
        }
    }
});
