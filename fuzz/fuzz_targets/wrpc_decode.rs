//! Fuzzes weld's wRPC value decoder with the parameter and result types of
//! every function of the `types` fixture (`demo:types/all`): arbitrary bytes
//! must decode or fail with an error, never panic, and within the limits;
//! whatever decodes must re-encode and decode to the same values.
//!
//! Where a type list is a shape of the typed fast paths' catalogue, the
//! typed decoder must accept exactly what the dynamic one accepts, and its
//! re-encoding must be the dynamic re-encoding byte for byte.
//!
//! The first input byte picks the type list, the rest is the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type};
use weld_linker::wrpc::codec::typed::{dispatch, ShapeVisitor, WireList, WireParams, WireResults};
use weld_linker::wrpc::codec::{
    decode_values, decode_values_measured, encode_values, footprint, CodecError, Limits,
};

/// Decodes a message as the shape's parameters `P` or as its results `R`,
/// returning its re-encoding.
struct Typed<'a> {
    message: &'a [u8],
    limits: Limits,
    as_result: bool,
}

impl ShapeVisitor for Typed<'_> {
    type Output = Option<Vec<u8>>;
    fn visit<P: WireParams, R: WireResults>(self) -> Self::Output {
        if self.as_result {
            R::decode(self.message, &self.limits).ok().map(|v| v.encode().expect("re-encodes"))
        } else {
            P::decode(self.message, &self.limits).ok().map(|v| v.encode().expect("re-encodes"))
        }
    }
}

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
        ..Limits::DEFAULT
    };
    let dynamic = decode_values(types, message, &limits);
    // Decoded memory: counted while built as `footprint` counts the
    // result, never past the cap (a small one here, so it is reached).
    let small = Limits {
        max_footprint: 16 * 1024,
        ..limits
    };
    match decode_values_measured(types, message, &small) {
        Ok((vals, measured)) => {
            assert_eq!(measured, vals.iter().map(footprint).sum::<usize>());
            assert!(measured <= small.max_footprint);
        }
        Err(CodecError::FootprintExceeded { .. }) => {}
        Err(e) => assert_eq!(Err::<(), _>(e), dynamic.as_ref().map(drop).map_err(Clone::clone)),
    }
    if let Ok(vals) = &dynamic {
        let bytes = encode_values(vals, types).expect("decoded values re-encode");
        let again = decode_values(types, &bytes, &Limits::DEFAULT).expect("the re-encoding decodes");
        // Debug, not PartialEq: a decoded NaN must compare equal to itself.
        assert_eq!(format!("{vals:?}"), format!("{again:?}"));
    }
    // As parameters (with a result the catalogue pairs them with: `u32`,
    // or a pair's own type), then as results (of `()`, or of a pair of
    // their own type).
    let visitor = |as_result| Typed { message, limits, as_result };
    let first: Vec<Type> = types.iter().take(1).cloned().collect();
    let pair: Vec<Type> = first.iter().chain(&first).cloned().collect();
    let as_params = dispatch(types, &[Type::U32], visitor(false))
        .or_else(|| dispatch(types, &first, visitor(false)));
    let as_result =
        dispatch(&[], types, visitor(true)).or_else(|| dispatch(&pair, types, visitor(true)));
    for typed in [as_params, as_result].into_iter().flatten() {
        match (&dynamic, typed) {
            (Ok(vals), Some(bytes)) => {
                assert_eq!(bytes, encode_values(vals, types).expect("re-encodes"))
            }
            (Err(_), None) => {}
            (d, t) => panic!("the typed and dynamic decoders disagree: {d:?} vs {t:?}"),
        }
    }
});
