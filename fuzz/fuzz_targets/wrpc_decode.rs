//! Fuzzes weld's wRPC value decoder with the parameter and result types of
//! every function of the `types` fixture (`demo:types/all`): arbitrary bytes
//! must decode or fail with an error, never panic, and within the limits;
//! whatever decodes must re-encode and decode to the same values.
//!
//! The first input byte picks the type list, the rest is the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type};
use weld_linker::wrpc::codec::{decode_values, encode_values, Limits};

/// The type lists: each function's parameters, then each one's results.
fn type_lists() -> &'static Vec<Vec<Type>> {
    static LISTS: OnceLock<Vec<Vec<Type>>> = OnceLock::new();
    LISTS.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wasm/types.wasm");
        let engine = wasmtime::Engine::default();
        let component = Component::from_file(&engine, path)
            .unwrap_or_else(|e| panic!("{path}: {e} (build the fixtures first: cargo build -p weld-fixtures)"));
        let ty = component.component_type();
        let (_, all) = ty
            .exports(&engine)
            .find(|(n, _)| n.starts_with("demo:types/all"))
            .expect("the types fixture exports demo:types/all");
        let ComponentItem::ComponentInstance(all) = all.ty else {
            panic!("demo:types/all is an instance");
        };
        let mut lists = Vec::new();
        for (_, item) in all.exports(&engine) {
            if let ComponentItem::ComponentFunc(f) = item.ty {
                lists.push(f.params().map(|(_, t)| t).collect());
                lists.push(f.results().collect());
            }
        }
        lists
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else {
        return;
    };
    let lists = type_lists();
    let types = &lists[pick as usize % lists.len()];
    let limits = Limits {
        max_bytes: 64 * 1024,
        max_depth: 32,
    };
    if let Ok(vals) = decode_values(types, message, &limits) {
        let bytes = encode_values(&vals, types).expect("decoded values re-encode");
        let again = decode_values(types, &bytes, &Limits::DEFAULT).expect("the re-encoding decodes");
        // Debug, not PartialEq: a decoded NaN must compare equal to itself.
        assert_eq!(format!("{vals:?}"), format!("{again:?}"));
    }
});
