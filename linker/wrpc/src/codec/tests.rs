use super::types::unsupported;
use super::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::sync::OnceLock;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Type, Val};
use wasmtime::Engine;

/// One function of a fixture component, with its parameter and result
/// types.
struct Func {
    name: String,
    params: Vec<Type>,
    results: Vec<Type>,
}

/// Every function imported or exported by every fixture component.
fn funcs() -> &'static [Func] {
    static FUNCS: OnceLock<Vec<Func>> = OnceLock::new();
    FUNCS.get_or_init(|| {
        let engine = Engine::default();
        let mut out = Vec::new();
        for fixture in weld_fixtures::names() {
            let component = Component::from_file(&engine, weld_fixtures::path(fixture))
                .unwrap_or_else(|e| panic!("fixture {fixture}: {e:#}"));
            let ty = component.component_type();
            for (name, item) in ty.imports(&engine).chain(ty.exports(&engine)) {
                collect(&engine, format!("{fixture}:{name}"), &item.ty, &mut out);
            }
        }
        out
    })
}

fn collect(engine: &Engine, name: String, item: &ComponentItem, out: &mut Vec<Func>) {
    match item {
        ComponentItem::ComponentFunc(f) => out.push(Func {
            name,
            params: f.params().map(|(_, ty)| ty).collect(),
            results: f.results().collect(),
        }),
        ComponentItem::ComponentInstance(instance) => {
            for (export, item) in instance.exports(engine) {
                collect(engine, format!("{name}#{export}"), &item.ty, out);
            }
        }
        _ => {}
    }
}

fn func(name: &str) -> &'static Func {
    funcs()
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture function {name}"))
}

/// The parameter type of `demo:types/all#id-<name>` in the `types`
/// fixture.
fn ty(name: &str) -> Type {
    let f = func(&format!("types:demo:types/all@0.1.0#id-{name}"));
    assert_eq!(f.results, f.params[..1], "identity function");
    f.params[0].clone()
}

/// Every parameter and result type of every fixture function.
fn all_types() -> Vec<(String, Type)> {
    funcs()
        .iter()
        .flat_map(|f| {
            let params = f.params.iter().enumerate().map(|(i, t)| (i, "param", t));
            let results = f.results.iter().enumerate().map(|(i, t)| (i, "result", t));
            params
                .chain(results)
                .map(|(i, kind, t)| (format!("{} {kind} {i}", f.name), t.clone()))
        })
        .collect()
}

fn supported(ty: &Type) -> bool {
    match ty {
        Type::List(l) => supported(&l.ty()),
        Type::Record(r) => r.fields().all(|f| supported(&f.ty)),
        Type::Tuple(t) => t.types().all(|t| supported(&t)),
        Type::Variant(v) => v.cases().all(|c| c.ty.as_ref().is_none_or(supported)),
        Type::Option(o) => supported(&o.ty()),
        Type::Result(r) => {
            r.ok().as_ref().is_none_or(supported) && r.err().as_ref().is_none_or(supported)
        }
        other => unsupported(other).is_none(),
    }
}

/// Arbitrary values of type `ty` (which must be [`supported`]).
fn arb_val(ty: &Type) -> BoxedStrategy<Val> {
    match ty {
        Type::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Type::U8 => any::<u8>().prop_map(Val::U8).boxed(),
        Type::S8 => any::<i8>().prop_map(Val::S8).boxed(),
        Type::U16 => any::<u16>().prop_map(Val::U16).boxed(),
        Type::S16 => any::<i16>().prop_map(Val::S16).boxed(),
        Type::U32 => any::<u32>().prop_map(Val::U32).boxed(),
        Type::S32 => any::<i32>().prop_map(Val::S32).boxed(),
        Type::U64 => any::<u64>().prop_map(Val::U64).boxed(),
        Type::S64 => any::<i64>().prop_map(Val::S64).boxed(),
        // Any bit pattern, NaNs with payloads included.
        Type::Float32 => prop_oneof![any::<f32>(), any::<u32>().prop_map(f32::from_bits)]
            .prop_map(Val::Float32)
            .boxed(),
        Type::Float64 => prop_oneof![any::<f64>(), any::<u64>().prop_map(f64::from_bits)]
            .prop_map(Val::Float64)
            .boxed(),
        Type::Char => any::<char>().prop_map(Val::Char).boxed(),
        Type::String => any::<String>().prop_map(Val::String).boxed(),
        Type::List(list) => vec(arb_val(&list.ty()), 0..6).prop_map(Val::List).boxed(),
        Type::Record(record) => {
            let names: Vec<String> = record.fields().map(|f| f.name.to_string()).collect();
            let fields: Vec<_> = record.fields().map(|f| arb_val(&f.ty)).collect();
            fields
                .prop_map(move |vals| Val::Record(names.iter().cloned().zip(vals).collect()))
                .boxed()
        }
        Type::Tuple(tuple) => {
            let members: Vec<_> = tuple.types().map(|t| arb_val(&t)).collect();
            members.prop_map(Val::Tuple).boxed()
        }
        Type::Variant(variant) => Union::new(variant.cases().map(|case| {
            let name = case.name.to_string();
            match &case.ty {
                Some(t) => arb_val(t)
                    .prop_map(move |v| Val::Variant(name.clone(), Some(Box::new(v))))
                    .boxed(),
                None => Just(Val::Variant(name, None)).boxed(),
            }
        }))
        .boxed(),
        Type::Enum(enum_ty) => {
            let names: Vec<String> = enum_ty.names().map(String::from).collect();
            proptest::sample::select(names).prop_map(Val::Enum).boxed()
        }
        Type::Option(option) => prop_oneof![
            Just(Val::Option(None)),
            arb_val(&option.ty()).prop_map(|v| Val::Option(Some(Box::new(v)))),
        ]
        .boxed(),
        Type::Result(result) => {
            let ok = match result.ok() {
                Some(t) => arb_val(&t)
                    .prop_map(|v| Val::Result(Ok(Some(Box::new(v)))))
                    .boxed(),
                None => Just(Val::Result(Ok(None))).boxed(),
            };
            let err = match result.err() {
                Some(t) => arb_val(&t)
                    .prop_map(|v| Val::Result(Err(Some(Box::new(v)))))
                    .boxed(),
                None => Just(Val::Result(Err(None))).boxed(),
            };
            prop_oneof![ok, err].boxed()
        }
        Type::Flags(flags) => {
            let names: Vec<String> = flags.names().map(String::from).collect();
            vec(any::<bool>(), names.len())
                .prop_map(move |bits| {
                    let set = names.iter().zip(bits).filter(|(_, on)| *on);
                    Val::Flags(set.map(|(n, _)| n.clone()).collect())
                })
                .boxed()
        }
        other => panic!("arb_val: unsupported type {}", type_name(other)),
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn fail(e: CodecError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn enc(val: Val, ty: &Type) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&val, ty, &mut out).unwrap_or_else(|e| panic!("encode {val:?}: {e}"));
    out
}

fn dec(ty: &Type, bytes: &[u8]) -> Result<Val, CodecError> {
    decode_values(std::slice::from_ref(ty), bytes, &Limits::default()).map(|mut v| v.remove(0))
}

/// Encodes `val`, checks the bytes, and decodes them back to `val`.
#[track_caller]
fn vector(ty: &Type, val: Val, bytes: &[u8]) {
    assert_eq!(enc(val.clone(), ty), bytes, "encoding of {val:?}");
    assert_eq!(dec(ty, bytes).unwrap(), val, "decoding of {bytes:?}");
}

fn s(v: &str) -> Val {
    Val::String(v.into())
}

fn some(v: Val) -> Val {
    Val::Option(Some(Box::new(v)))
}

// -- Known byte vectors, from the value-definition grammar ------------

#[test]
fn wrpc_codec_scalars() {
    // val(bool) ::= 0x00 => false | 0x01 => true
    vector(&ty("bool"), Val::Bool(false), &[0]);
    vector(&ty("bool"), Val::Bool(true), &[1]);
    // val(u8) ::= v:<core:byte>; val(s8): v' = v - 256 if v >= 128
    vector(&ty("u8"), Val::U8(255), &[0xff]);
    vector(&ty("s8"), Val::S8(-1), &[0xff]);
    vector(&ty("s8"), Val::S8(-128), &[0x80]);
    vector(&ty("s8"), Val::S8(127), &[0x7f]);
    // core:uN: unsigned LEB128
    vector(&ty("u16"), Val::U16(u16::MAX), &[0xff, 0xff, 0x03]);
    vector(&ty("u32"), Val::U32(0), &[0]);
    vector(&ty("u32"), Val::U32(300), &[0xac, 0x02]);
    vector(
        &ty("u32"),
        Val::U32(u32::MAX),
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
    );
    let mut u64_max = vec![0xff; 9];
    u64_max.push(0x01);
    vector(&ty("u64"), Val::U64(u64::MAX), &u64_max);
    // core:sN: signed LEB128 (two's complement, sign-extended), not zig-zag
    vector(&ty("s16"), Val::S16(-1), &[0x7f]);
    vector(&ty("s16"), Val::S16(i16::MIN), &[0x80, 0x80, 0x7e]);
    vector(&ty("s32"), Val::S32(63), &[0x3f]);
    vector(&ty("s32"), Val::S32(64), &[0xc0, 0x00]);
    vector(&ty("s32"), Val::S32(-64), &[0x40]);
    vector(&ty("s32"), Val::S32(-128), &[0x80, 0x7f]);
    vector(
        &ty("s32"),
        Val::S32(i32::MIN),
        &[0x80, 0x80, 0x80, 0x80, 0x78],
    );
    vector(
        &ty("s32"),
        Val::S32(i32::MAX),
        &[0xff, 0xff, 0xff, 0xff, 0x07],
    );
    let mut s64_min = vec![0x80; 9];
    s64_min.push(0x7f);
    vector(&ty("s64"), Val::S64(i64::MIN), &s64_min);
    let mut s64_max = vec![0xff; 9];
    s64_max.push(0x00);
    vector(&ty("s64"), Val::S64(i64::MAX), &s64_max);
    // core:f32 / core:f64: IEEE 754 little-endian
    vector(&ty("f32"), Val::Float32(1.5), &[0x00, 0x00, 0xc0, 0x3f]);
    vector(&ty("f32"), Val::Float32(-0.0), &[0x00, 0x00, 0x00, 0x80]);
    vector(&ty("f64"), Val::Float64(1.0), &1.0f64.to_le_bytes());
    // char: core:utf8(c)
    vector(&ty("char"), Val::Char('a'), b"a");
    vector(&ty("char"), Val::Char('é'), &[0xc3, 0xa9]);
    vector(&ty("char"), Val::Char('€'), &[0xe2, 0x82, 0xac]);
    vector(&ty("char"), Val::Char('😀'), &[0xf0, 0x9f, 0x98, 0x80]);
    // string: core:name = vec(byte), length-prefixed UTF-8
    vector(&ty("string"), s(""), &[0]);
    vector(&ty("string"), s("hi"), &[2, b'h', b'i']);
}

#[test]
fn wrpc_codec_nan_is_canonical() {
    // val(f32) ::= ... | 0x00 0x00 0xC0 0x7F => nan
    let payload_nan = f32::from_bits(0x7fc0_0001);
    assert_eq!(
        enc(Val::Float32(payload_nan), &ty("f32")),
        [0x00, 0x00, 0xc0, 0x7f]
    );
    assert_eq!(
        enc(Val::Float32(-f32::NAN), &ty("f32")),
        [0x00, 0x00, 0xc0, 0x7f]
    );
    // val(f64) ::= ... | 0x00 0x00 0x00 0x00 0x00 0x00 0xF8 0x7F => nan
    let payload_nan = f64::from_bits(0xfff0_0000_0000_0001);
    assert_eq!(
        enc(Val::Float64(payload_nan), &ty("f64")),
        [0, 0, 0, 0, 0, 0, 0xf8, 0x7f]
    );
    // A non-canonical NaN from a lenient sender decodes to the canonical NaN.
    let Val::Float32(v) = dec(&ty("f32"), &0x7f80_0001u32.to_le_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(v.to_bits(), f32::NAN.to_bits());
}

#[test]
fn wrpc_codec_compound() {
    // list: vec(val(t)) = u32 count, then the elements
    vector(
        &ty("list-u32"),
        Val::List(vec![Val::U32(1), Val::U32(300)]),
        &[2, 1, 0xac, 0x02],
    );
    vector(&ty("list-u32"), Val::List(vec![]), &[0]);
    vector(
        &ty("list-list-string"),
        Val::List(vec![Val::List(vec![s("a")]), Val::List(vec![])]),
        &[2, 1, 1, b'a', 0],
    );
    // record: the fields concatenated, in declaration order
    let point = |x, y| Val::Record(vec![("x".into(), Val::S32(x)), ("y".into(), Val::S32(y))]);
    vector(
        &ty("list-point"),
        Val::List(vec![point(1, -1)]),
        &[1, 1, 0x7f],
    );
    let mut nested = vec![1, b'n', 1, 0x7f, 1, 1, b't', 0];
    nested.extend_from_slice(&0.5f64.to_le_bytes());
    vector(
        &ty("record"),
        Val::Record(vec![
            ("name".into(), s("n")),
            ("origin".into(), point(1, -1)),
            ("tags".into(), Val::List(vec![s("t")])),
            ("extra".into(), Val::Option(None)),
            ("scale".into(), Val::Float64(0.5)),
        ]),
        &nested,
    );
    // tuple: the members concatenated
    vector(
        &ty("tuple"),
        Val::Tuple(vec![Val::U8(7), s("x"), some(Val::U64(300))]),
        &[7, 1, b'x', 1, 0xac, 0x02],
    );
    // variant: i:<core:u32> v?:<val(t[i])>?
    let shape = ty("variant");
    let mut circle = vec![0];
    circle.extend_from_slice(&2.0f64.to_le_bytes());
    vector(
        &shape,
        Val::Variant("circle".into(), Some(Box::new(Val::Float64(2.0)))),
        &circle,
    );
    vector(
        &shape,
        Val::Variant("rect".into(), Some(Box::new(point(2, 3)))),
        &[1, 2, 3],
    );
    vector(&shape, Val::Variant("empty".into(), None), &[2]);
    vector(
        &shape,
        Val::Variant("named".into(), Some(Box::new(s("z")))),
        &[3, 1, b'z'],
    );
    // enum: i:<core:u32>
    vector(&ty("enum"), Val::Enum("red".into()), &[0]);
    vector(&ty("enum"), Val::Enum("blue".into()), &[2]);
    // option: 0x00 => none | 0x01 v => some
    let oo = ty("option-option");
    vector(&oo, Val::Option(None), &[0]);
    vector(&oo, some(Val::Option(None)), &[1, 0]);
    vector(&oo, some(some(Val::U8(1))), &[1, 1, 1]);
    // result: 0x00 (ok payload) | 0x01 (error payload)
    let ok = |v: Option<Val>| Val::Result(Ok(v.map(Box::new)));
    let err = |v: Option<Val>| Val::Result(Err(v.map(Box::new)));
    vector(&ty("result"), ok(Some(s("a"))), &[0, 1, b'a']);
    vector(&ty("result"), err(Some(Val::U32(5))), &[1, 5]);
    vector(&ty("result-ok"), ok(Some(Val::U8(9))), &[0, 9]);
    vector(&ty("result-ok"), err(None), &[1]);
    vector(&ty("result-err"), ok(None), &[0]);
    vector(&ty("result-err"), err(Some(s("e"))), &[1, 1, b'e']);
    vector(&ty("result-unit"), ok(None), &[0]);
    vector(&ty("result-unit"), err(None), &[1]);
}

#[test]
fn wrpc_codec_flags() {
    // (v:<core:byte>)^N, N = ceil(10 / 8) = 2; flag i is bit i % 8 of byte i / 8
    let perms = ty("flags");
    let flags = |names: &[&str]| Val::Flags(names.iter().map(|n| n.to_string()).collect());
    vector(&perms, flags(&[]), &[0, 0]);
    vector(&perms, flags(&["read"]), &[0x01, 0x00]);
    vector(&perms, flags(&["write", "owner"]), &[0x02, 0x02]);
    vector(&perms, flags(&["audit", "share"]), &[0x80, 0x01]);
    let all = [
        "read", "write", "exec", "list", "create", "delete", "admin", "audit", "share", "owner",
    ];
    vector(&perms, flags(&all), &[0xff, 0x03]);
    // Any order in, declaration order out.
    assert_eq!(enc(flags(&["owner", "write"]), &perms), [0x02, 0x02]);
    // Bits past the last flag are not part of any flag.
    assert_eq!(dec(&perms, &[0x00, 0xfc]).unwrap(), flags(&[]));
}

#[test]
fn wrpc_codec_encode_values_params() {
    let f = func("types:demo:types/all@0.1.0#id-many");
    let vals = [
        Val::U8(4),
        s("ab"),
        Val::List(vec![Val::U8(1), Val::U8(2)]),
        Val::Enum("green".into()),
    ];
    let bytes = encode_values(&vals, &f.params).unwrap();
    assert_eq!(bytes, [4, 2, b'a', b'b', 2, 1, 2, 1]);
    assert_eq!(
        decode_values(&f.params, &bytes, &Limits::default()).unwrap(),
        vals
    );
    assert_eq!(
        encode_values(&vals[..2], &f.params),
        Err(CodecError::ArityMismatch {
            expected: 4,
            found: 2
        })
    );
    // The adder fixture: add(u32, u32) -> u32.
    let add = func("adder:demo:math/adder@0.1.0#add");
    let bytes = encode_values(&[Val::U32(300), Val::U32(1)], &add.params).unwrap();
    assert_eq!(bytes, [0xac, 0x02, 0x01]);
}

// -- Decoding errors --------------------------------------------------

#[test]
fn wrpc_codec_truncated_input() {
    let err = dec(&ty("u32"), &[0x80]).unwrap_err();
    assert_eq!(
        err,
        CodecError::Truncated {
            offset: 1,
            expected: "u32",
            needed: 1,
            available: 0
        }
    );
    assert!(err.to_string().contains("at byte 1"), "{err}");
    assert!(err.to_string().contains("expected u32"), "{err}");
    assert!(matches!(
        dec(&ty("string"), &[3, b'a']),
        Err(CodecError::Truncated {
            offset: 1,
            expected: "string bytes",
            ..
        })
    ));
    assert!(matches!(
        dec(&ty("f64"), &[0; 7]),
        Err(CodecError::Truncated { offset: 0, .. })
    ));
    assert!(matches!(
        dec(&ty("char"), &[0xe2, 0x82]),
        Err(CodecError::Truncated { offset: 0, .. })
    ));
    assert!(matches!(
        dec(&ty("u8"), &[]),
        Err(CodecError::Truncated { offset: 0, .. })
    ));
}

#[test]
fn wrpc_codec_huge_length_does_not_allocate() {
    // 2^32 - 1 elements announced, 3 bytes follow: refused before allocating.
    let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3];
    for t in ["list-u32", "list-list-string", "list-point", "string"] {
        let err = dec(&ty(t), &bytes).unwrap_err();
        assert!(
            matches!(
                err,
                CodecError::Truncated {
                    offset: 5,
                    needed: 0xffff_ffff..,
                    available: 3,
                    ..
                }
            ),
            "{t}: {err}"
        );
    }
    // list<point> needs at least two bytes per element.
    assert!(matches!(
        dec(&ty("list-point"), &[2, 1, 1, 1]),
        Err(CodecError::Truncated {
            offset: 1,
            needed: 4,
            available: 3,
            ..
        })
    ));
}

#[test]
fn wrpc_codec_invalid_leb128() {
    let invalid = |t: &str, bytes: &[u8]| {
        assert!(
            matches!(
                dec(&ty(t), bytes),
                Err(CodecError::InvalidLeb128 { offset: 0, .. })
            ),
            "{t} {bytes:x?}: {:?}",
            dec(&ty(t), bytes)
        )
    };
    // Too many bytes.
    invalid("u32", &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    invalid("u16", &[0x80, 0x80, 0x80, 0x00]);
    invalid("s64", &[0x80; 11]);
    // Value out of range in the last byte.
    invalid("u32", &[0xff, 0xff, 0xff, 0xff, 0x1f]);
    invalid("u16", &[0xff, 0xff, 0x04]);
    invalid(
        "u64",
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
    );
    invalid("s32", &[0x80, 0x80, 0x80, 0x80, 0x08]); // 2^31
    invalid("s32", &[0xff, 0xff, 0xff, 0xff, 0x70]); // bad sign extension
    invalid("s16", &[0x80, 0x80, 0x02]);
    // Non-minimal encodings within the length bound are valid core LEB128.
    assert_eq!(dec(&ty("u32"), &[0x80, 0x00]).unwrap(), Val::U32(0));
    assert_eq!(dec(&ty("s32"), &[0xff, 0x7f]).unwrap(), Val::S32(-1));
    // A list length is a core:u32 too.
    assert!(matches!(
        dec(&ty("list-u32"), &[0xff, 0xff, 0xff, 0xff, 0x7f]),
        Err(CodecError::InvalidLeb128 {
            offset: 0,
            ty: "list length"
        })
    ));
}

#[test]
fn wrpc_codec_invalid_tags_and_discriminants() {
    assert_eq!(
        dec(&ty("bool"), &[2]),
        Err(CodecError::InvalidTag {
            offset: 0,
            what: "bool",
            byte: 2
        })
    );
    assert_eq!(
        dec(&ty("option-option"), &[1, 2]),
        Err(CodecError::InvalidTag {
            offset: 1,
            what: "option tag",
            byte: 2
        })
    );
    assert!(matches!(
        dec(&ty("result-unit"), &[0x80]),
        Err(CodecError::InvalidTag {
            what: "result tag",
            byte: 0x80,
            ..
        })
    ));
    assert_eq!(
        dec(&ty("enum"), &[3]),
        Err(CodecError::BadDiscriminant {
            offset: 0,
            kind: "enum",
            value: 3,
            count: 3
        })
    );
    let err = dec(&ty("variant"), &[0x85, 0x01]).unwrap_err();
    assert_eq!(
        err,
        CodecError::BadDiscriminant {
            offset: 0,
            kind: "variant",
            value: 133,
            count: 5
        }
    );
    assert!(err.to_string().contains("133"), "{err}");
}

#[test]
fn wrpc_codec_invalid_text() {
    assert_eq!(
        dec(&ty("string"), &[3, b'a', 0xff, b'b']),
        Err(CodecError::InvalidUtf8 { offset: 2 })
    );
    // A surrogate, an overlong encoding, a lone continuation byte, and a
    // code point past U+10FFFF are not chars.
    for bytes in [
        &[0xed, 0xa0, 0x80][..],
        &[0xc0, 0x80],
        &[0xe0, 0x80, 0x80],
        &[0x80],
        &[0xf4, 0x90, 0x80, 0x80],
        &[0xf5, 0x80, 0x80, 0x80],
        &[0xc3, 0x41],
    ] {
        assert_eq!(
            dec(&ty("char"), bytes),
            Err(CodecError::InvalidChar { offset: 0 }),
            "{bytes:x?}"
        );
    }
}

#[test]
fn wrpc_codec_trailing_bytes_and_streaming() {
    assert_eq!(
        dec(&ty("u8"), &[1, 2]),
        Err(CodecError::TrailingBytes {
            offset: 1,
            count: 1
        })
    );
    // `decode` leaves what follows the value to the caller.
    let bytes = [2, b'h', b'i', 0xac, 0x02, 9];
    let mut input = &bytes[..];
    let limits = Limits::default();
    assert_eq!(decode(&ty("string"), &mut input, &limits), Ok(s("hi")));
    assert_eq!(decode(&ty("u32"), &mut input, &limits), Ok(Val::U32(300)));
    assert_eq!(input, [9]);
    // On error the input is not advanced.
    assert!(decode(&ty("string"), &mut input, &limits).is_err());
    assert_eq!(input, [9]);
}

#[test]
fn wrpc_codec_limits() {
    // Nesting: list<list<string>> puts the strings at depth 3.
    let bytes = [1, 1, 1, b'a'];
    let t = ty("list-list-string");
    let depth = |max_depth| {
        decode_values(
            std::slice::from_ref(&t),
            &bytes,
            &Limits {
                max_bytes: 100,
                max_depth,
                ..Limits::DEFAULT
            },
        )
    };
    assert_eq!(
        depth(2),
        Err(CodecError::DepthExceeded {
            offset: 2,
            max_depth: 2
        })
    );
    assert!(depth(3).is_ok());
    assert!(matches!(
        depth(0),
        Err(CodecError::DepthExceeded { offset: 0, .. })
    ));
    // Bytes: decode_values refuses longer input up front …
    let small = Limits {
        max_bytes: 3,
        max_depth: 8,
        ..Limits::DEFAULT
    };
    let hello = [5, b'h', b'e', b'l', b'l', b'o'];
    assert_eq!(
        decode_values(&[ty("string")], &hello, &small),
        Err(CodecError::LimitExceeded {
            offset: 3,
            max_bytes: 3
        })
    );
    // … and decode stops reading at the limit.
    let mut input = &hello[..];
    assert_eq!(
        decode(&ty("string"), &mut input, &small),
        Err(CodecError::LimitExceeded {
            offset: 1,
            max_bytes: 3
        })
    );
    let mut input = &[2, b'o', b'k', 7][..];
    assert_eq!(decode(&ty("string"), &mut input, &small), Ok(s("ok")));
}

// -- Encoding errors --------------------------------------------------

#[test]
fn wrpc_codec_encode_mismatch() {
    let mut out = vec![0xaa];
    let err = encode(&s("x"), &ty("u32"), &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "type mismatch: expected a value of type `u32`, found a string value"
    );
    // Nothing is left behind on error.
    let bad_point = Val::Record(vec![("x".into(), Val::S32(1)), ("y".into(), Val::U8(1))]);
    let err = encode(&Val::List(vec![bad_point]), &ty("list-point"), &mut out).unwrap_err();
    assert_eq!(out, [0xaa]);
    assert_eq!(
        err.to_string(),
        "type mismatch at element 0 → field `y`: expected a value of type `s32`, found a u8 value"
    );
    let swapped = Val::Record(vec![("y".into(), Val::S32(1)), ("x".into(), Val::S32(1))]);
    assert!(matches!(
        encode(&Val::List(vec![swapped]), &ty("list-point"), &mut out),
        Err(CodecError::FieldMismatch { index: 0, .. })
    ));
    assert!(matches!(
        encode(&Val::Enum("mauve".into()), &ty("enum"), &mut out),
        Err(CodecError::UnknownName { kind: "case", .. })
    ));
    let err = encode(&Val::Flags(vec!["fly".into()]), &ty("flags"), &mut out).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("flag `fly` is not declared by type `flags { read, write"),
        "{err}"
    );
    assert!(matches!(
        encode(&Val::Variant("rect".into(), None), &ty("variant"), &mut out),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        encode(
            &Val::Variant("empty".into(), Some(Box::new(Val::U8(1)))),
            &ty("variant"),
            &mut out
        ),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        encode(&Val::Result(Err(None)), &ty("result"), &mut out),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        encode(&Val::Tuple(vec![Val::U8(1)]), &ty("tuple"), &mut out),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert_eq!(
        encode_values(&[Val::U8(1), s("x")], &[ty("u8"), ty("u8")])
            .unwrap_err()
            .to_string(),
        "type mismatch at value 1: expected a value of type `u8`, found a string value"
    );
    assert_eq!(out, [0xaa]);
}

#[test]
fn wrpc_codec_resources_unsupported() {
    // greet's hello returns result<string, own<error>>.
    let hello = func("greet:demo:greet/greeter@0.1.0#hello");
    let t = &hello.results[0];
    assert_eq!(type_name(t), "result<string, own<resource>>");
    // The ok side carries no handle and works.
    let ok = Val::Result(Ok(Some(Box::new(s("hi")))));
    assert_eq!(enc(ok.clone(), t), [0, 2, b'h', b'i']);
    assert_eq!(dec(t, &[0, 2, b'h', b'i']), Ok(ok));
    // The error side is a resource handle.
    assert_eq!(
        dec(t, &[1, 1, 7]),
        Err(CodecError::Unsupported("resource handles"))
    );
    let err = Val::Result(Err(Some(Box::new(Val::U32(1)))));
    let e = encode(&err, t, &mut Vec::new()).unwrap_err();
    assert_eq!(e, CodecError::Unsupported("resource handles"));
    assert_eq!(
        e.to_string(),
        "resource handles are not supported by the wRPC value codec yet"
    );
}

#[test]
fn wrpc_codec_type_names() {
    // wasm-wave's WIT-like spelling.
    assert_eq!(
        type_name(&ty("list-point")),
        "list<record { x: s32, y: s32 }>"
    );
    assert_eq!(
        type_name(&ty("variant")),
        "variant { circle(f64), rect(record { x: s32, y: s32 }), empty, named(string), many(list<u16>) }"
    );
    assert_eq!(type_name(&ty("option-option")), "option<option<u8>>");
    // The kinds wave does not name keep weld's names, nested too.
    let hello = func("greet:demo:greet/greeter@0.1.0#hello");
    assert_eq!(
        type_name(&hello.results[0]),
        "result<string, own<resource>>"
    );
    // Every fixture type gets a name, none with wave's markers.
    for (name, t) in all_types() {
        let shown = type_name(&t);
        assert!(
            !shown.contains("UNSUPPORTED") && !shown.contains("_,N"),
            "{name}: {shown}"
        );
    }
}

// -- Properties over every fixture type -------------------------------

/// decode(encode(v)) == v for arbitrary values of every supported type
/// in the fixtures; every strict prefix of an encoding is truncated
/// input; `decode` consumes exactly the encoding.
#[test]
fn wrpc_codec_roundtrip_every_fixture_type() {
    let mut tested = 0;
    for (name, t) in all_types() {
        if !supported(&t) {
            continue;
        }
        tested += 1;
        let limits = Limits::default();
        runner(48)
            .run(&arb_val(&t), |v| {
                let mut bytes = Vec::new();
                encode(&v, &t, &mut bytes).map_err(fail)?;
                let (back, measured) =
                    decode_values_measured(std::slice::from_ref(&t), &bytes, &limits)
                        .map_err(fail)?;
                prop_assert_eq!(&back[0], &v);
                // Counted while built, as `footprint` counts the result.
                prop_assert_eq!(measured, footprint(&back[0]));
                bytes.push(0x5a);
                let mut input = &bytes[..];
                prop_assert_eq!(decode(&t, &mut input, &limits).map_err(fail)?, v);
                prop_assert_eq!(input, &[0x5a][..]);
                bytes.pop();
                for cut in 0..bytes.len() {
                    let err = decode_values(std::slice::from_ref(&t), &bytes[..cut], &limits)
                        .unwrap_err();
                    prop_assert!(
                        matches!(err, CodecError::Truncated { .. }),
                        "prefix {cut}: {err}"
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name} ({}): {e}", type_name(&t)));
    }
    assert!(tested >= 40, "only {tested} fixture types tested");
}

/// Arbitrary bytes, and valid encodings with a byte changed, never make
/// decoding panic; whatever decodes re-encodes to at most as many bytes
/// and decodes again to the same value.
#[test]
fn wrpc_codec_decode_arbitrary_bytes() {
    let limits = Limits {
        max_bytes: 1 << 12,
        max_depth: 16,
        ..Limits::DEFAULT
    };
    let check = |t: &Type, bytes: &[u8]| -> Result<(), TestCaseError> {
        let _ = decode_values(std::slice::from_ref(t), bytes, &limits);
        let mut input = bytes;
        if let Ok(v) = decode(t, &mut input, &limits) {
            let consumed = bytes.len() - input.len();
            let mut again = Vec::new();
            encode(&v, t, &mut again).map_err(fail)?;
            prop_assert!(again.len() <= consumed);
            let back = decode_values(std::slice::from_ref(t), &again, &limits).map_err(fail)?;
            prop_assert_eq!(&back[0], &v);
        }
        Ok(())
    };
    for (name, t) in all_types() {
        runner(128)
            .run(&vec(any::<u8>(), 0..256), |bytes| check(&t, &bytes))
            .unwrap_or_else(|e| panic!("{name} ({}): {e}", type_name(&t)));
        if supported(&t) {
            let mutated = (arb_val(&t), any::<usize>(), 1..=255u8);
            runner(64)
                .run(&mutated, |(v, at, x)| {
                    let mut bytes = Vec::new();
                    encode(&v, &t, &mut bytes).map_err(fail)?;
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                    check(&t, &bytes)
                })
                .unwrap_or_else(|e| panic!("{name} ({}): {e}", type_name(&t)));
        }
    }
}

#[test]
fn footprint_counts_names_cloned_into_every_element() {
    let record = |i: u32| {
        Val::Record(vec![
            ("a-rather-long-field-name".to_string(), Val::U32(i)),
            (
                "another-long-field-name".to_string(),
                Val::String("v".into()),
            ),
        ])
    };
    let one = footprint(&record(0));
    let list = footprint(&Val::List((0..1000).map(record).collect()));
    // Each element carries its own copies of the field names.
    assert!(list >= 1000 * one, "{list} < 1000 × {one}");
    assert!(one > "a-rather-long-field-name".len() + "another-long-field-name".len());
}

/// `list<u8>`, from the adder fixture's `sum`.
fn list_u8() -> Type {
    func("adder:demo:math/adder@0.1.0#sum").params[0].clone()
}

/// The typed fast path writes exactly the dynamic codec's bytes, and reads
/// back what it wrote; on arbitrary bytes it agrees with the dynamic
/// decoder on what is valid and on the values.
fn typed_agrees<L: typed::WireList + PartialEq + std::fmt::Debug>(
    values: L,
    vals: Vec<Val>,
    types: &[Type],
    noise: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(L::matches(types));
    let typed_bytes = values.encode().unwrap();
    let dynamic = encode_values(&vals, types).unwrap();
    prop_assert_eq!(&typed_bytes, &dynamic);
    let limits = Limits::default();
    prop_assert_eq!(L::decode(&typed_bytes, &limits).unwrap(), values);
    let typed = L::decode(noise, &limits);
    let dynamic = decode_values(types, noise, &limits);
    prop_assert_eq!(
        typed.is_ok(),
        dynamic.is_ok(),
        "{:?} vs {:?}",
        typed,
        dynamic
    );
    Ok(())
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn typed_scalars_match_the_dynamic_codec(a: u32, b: u64, c: i32, d: i64, noise in vec(any::<u8>(), 0..12)) {
        typed_agrees((a, a.wrapping_mul(3)), vec![Val::U32(a), Val::U32(a.wrapping_mul(3))], &[ty("u32"), ty("u32")], &noise)?;
        typed_agrees((b,), vec![Val::U64(b)], &[ty("u64")], &noise)?;
        typed_agrees((c, d), vec![Val::S32(c), Val::S64(d)], &[ty("s32"), ty("s64")], &noise)?;
        typed_agrees((), vec![], &[], &noise)?;
    }

    #[test]
    fn typed_floats_match_the_dynamic_codec(x: f64, noise in vec(any::<u8>(), 0..10)) {
        // NaN != NaN: compare the bytes only for NaN.
        let bytes = typed::WireList::encode(&(x,)).unwrap();
        prop_assert_eq!(&bytes, &encode_values(&[Val::Float64(x)], &[ty("f64")]).unwrap());
        if !x.is_nan() {
            typed_agrees((x,), vec![Val::Float64(x)], &[ty("f64")], &noise)?;
        }
    }

    #[test]
    fn typed_strings_and_bytes_match_the_dynamic_codec(s in ".{0,40}", xs in vec(any::<u8>(), 0..300), noise in vec(any::<u8>(), 0..40)) {
        typed_agrees((s.clone(),), vec![Val::String(s)], &[ty("string")], &noise)?;
        let vals = vec![Val::List(xs.iter().map(|x| Val::U8(*x)).collect())];
        typed_agrees((xs,), vals, &[list_u8()], &noise)?;
    }
}

#[test]
fn typed_lists_are_bounded_like_the_dynamic_ones() {
    use typed::WireList;
    let limits = Limits {
        max_bytes: 64,
        ..Limits::default()
    };
    // A list that claims 4 GiB in five bytes: refused before allocating.
    let claim = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert!(matches!(
        <(Vec<u8>,)>::decode(&claim, &limits),
        Err(CodecError::LimitExceeded { .. } | CodecError::Truncated { .. })
    ));
    // Longer than the cap: refused whole.
    let long = vec![0u8; 65];
    assert!(matches!(
        <(Vec<u8>,)>::decode(&long, &limits),
        Err(CodecError::LimitExceeded { .. })
    ));
    // Trailing bytes are an error, as for the dynamic decoder.
    assert!(matches!(
        <(u32,)>::decode(&[1, 2], &limits),
        Err(CodecError::TrailingBytes { .. })
    ));
    assert!(!<(u32,)>::matches(&[list_u8()]));
    assert!(<(Vec<u8>,)>::matches(&[list_u8()]));
}

/// A message of empty inner lists: one wire byte per `Val`. Its decoded
/// tree is bounded by `max_footprint`, checked as it is built (and before
/// a list's room is allocated), not after.
#[test]
fn decoded_memory_is_bounded_while_it_is_built() {
    let t = ty("list-list-string");
    let count: usize = 1 << 20;
    let mut bytes = Vec::new();
    write_uleb(&mut bytes, count as u64);
    bytes.resize(bytes.len() + count, 0);
    let node = std::mem::size_of::<Val>();
    let limits = Limits {
        max_footprint: 8 << 20,
        ..Limits::DEFAULT
    };
    let err = decode_values(std::slice::from_ref(&t), &bytes, &limits).unwrap_err();
    assert!(
        matches!(err, CodecError::FootprintExceeded { max_footprint, .. } if max_footprint == 8 << 20),
        "{err}"
    );
    // Within a cap that holds it, it decodes, and the count is exact.
    let roomy = Limits {
        max_footprint: (count + 2) * node,
        ..Limits::DEFAULT
    };
    let (vals, measured) =
        decode_values_measured(std::slice::from_ref(&t), &bytes, &roomy).unwrap();
    assert_eq!(measured, footprint(&vals[0]));
    assert_eq!(measured, (count + 1) * node);
}

/// The one catalogue: each shape it lists is found with its own Rust
/// types, and a signature outside it is not.
#[test]
fn the_shape_catalogue_names_each_shape_once() {
    struct Name;
    impl typed::ShapeVisitor for Name {
        type Output = String;
        fn visit<P: typed::WireParams, R: typed::WireResults>(self) -> String {
            format!(
                "{} -> {}",
                std::any::type_name::<P>(),
                std::any::type_name::<R>()
            )
        }
    }
    let types = |names: &[&str]| -> Vec<Type> {
        let one = |n: &&str| if *n == "list<u8>" { list_u8() } else { ty(n) };
        names.iter().map(one).collect()
    };
    let shape = |p: &[&str], r: &[&str]| typed::dispatch(&types(p), &types(r), Name);
    let (string, bytes) = ("alloc::string::String", "alloc::vec::Vec<u8>");
    assert_eq!(
        shape(&["u32", "u32"], &["u32"]).as_deref(),
        Some("(u32, u32) -> (u32,)")
    );
    assert_eq!(shape(&[], &[]).as_deref(), Some("() -> ()"));
    assert_eq!(shape(&["string"], &[]), Some(format!("({string},) -> ()")));
    assert_eq!(
        shape(&["list<u8>"], &["list<u8>"]),
        Some(format!("({bytes},) -> ({bytes},)"))
    );
    assert_eq!(
        shape(&["f64", "f64"], &["f64"]).as_deref(),
        Some("(f64, f64) -> (f64,)")
    );
    // Mixed pairs and results of another type are not listed: the
    // dynamic path takes them.
    assert_eq!(shape(&["s32", "s32"], &["u32"]), None);
    assert_eq!(shape(&["u32"], &[]), None);
    assert_eq!(shape(&["u32", "s32"], &["f64"]), None);
    assert_eq!(shape(&["string", "string"], &["string"]), None);
}
