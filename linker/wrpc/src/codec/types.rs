//! What the codec knows about types: which it cannot carry, how few bytes a
//! value takes, and how types and values are named in error messages.

use wasmtime::component::wasm_wave::wasm::DisplayType;
use wasmtime::component::{Type, Val};

/// The kinds of type this codec does not handle, by the name its error uses.
pub(super) fn unsupported(ty: &Type) -> Option<&'static str> {
    match ty {
        Type::Own(_) | Type::Borrow(_) => Some("resource handles"),
        Type::Future(_) => Some("futures"),
        Type::Stream(_) => Some("streams"),
        Type::ErrorContext => Some("error-context values"),
        Type::Map(_) => Some("maps"),
        Type::FixedLengthList(_) => Some("fixed-length lists"),
        _ => None,
    }
}

/// A lower bound on the encoded length of any value of `ty`, cheap to
/// compute (it does not recurse): every component value takes at least one
/// byte, floats take 4 or 8, flags ⌈n/8⌉, records and tuples at least one
/// byte per field.
pub(super) fn min_encoded_len(ty: &Type) -> usize {
    match ty {
        Type::Float32 => 4,
        Type::Float64 => 8,
        Type::Flags(flags) => flags.names().len().div_ceil(8),
        Type::Record(record) => record.fields().len(),
        Type::Tuple(tuple) => tuple.types().len(),
        Type::FixedLengthList(_) => 0,
        _ => 1,
    }
}

/// What wasm-wave's [`DisplayType`] prints for the kinds of type it does not
/// model: resource handles, futures, streams, `error-context` and maps.
const WAVE_UNSUPPORTED: &str = "<<UNSUPPORTED>>";
/// What [`DisplayType`] prints for any fixed-length list.
const WAVE_FIXED_LIST: &str = "list<_,N>";
/// Longest type name put in an error message; longer ones end in `…`.
const MAX_TYPE_NAME: usize = 240;

/// The WIT-like name of `ty`: wasm-wave's [`DisplayType`], with weld's names
/// for the kinds wave leaves unnamed (`own<resource>`, `future<T>`,
/// `list<T, N>` …), cut short past a few hundred characters.
pub fn type_name(ty: &Type) -> String {
    let wave = DisplayType(ty).to_string();
    let mut opaque = Vec::new();
    opaque_leaves(ty, &mut opaque);
    let mut name = String::with_capacity(wave.len());
    let mut rest = wave.as_str();
    // Wave prints the opaque leaves in the order `opaque_leaves` finds them,
    // and no WIT name contains `<`, so each marker is the next leaf's.
    for leaf in opaque {
        let marker = match leaf {
            Type::FixedLengthList(_) => WAVE_FIXED_LIST,
            _ => WAVE_UNSUPPORTED,
        };
        let Some(at) = rest.find(marker) else { break };
        name.push_str(&rest[..at]);
        name.push_str(&opaque_name(&leaf));
        rest = &rest[at + marker.len()..];
    }
    name.push_str(rest);
    if name.len() > MAX_TYPE_NAME {
        let mut cut = MAX_TYPE_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push('…');
    }
    name
}

/// The types [`DisplayType`] prints as a bare marker, in the order it
/// prints them (it walks the same members, depth first).
fn opaque_leaves(ty: &Type, out: &mut Vec<Type>) {
    match ty {
        Type::List(list) => opaque_leaves(&list.ty(), out),
        Type::Record(record) => record.fields().for_each(|f| opaque_leaves(&f.ty, out)),
        Type::Tuple(tuple) => tuple.types().for_each(|t| opaque_leaves(&t, out)),
        Type::Variant(variant) => variant
            .cases()
            .filter_map(|c| c.ty)
            .for_each(|t| opaque_leaves(&t, out)),
        Type::Option(option) => opaque_leaves(&option.ty(), out),
        Type::Result(result) => {
            for t in [result.ok(), result.err()].into_iter().flatten() {
                opaque_leaves(&t, out);
            }
        }
        Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext
        | Type::Map(_)
        | Type::FixedLengthList(_) => out.push(ty.clone()),
        _ => {}
    }
}

/// Weld's name for a type [`DisplayType`] does not name.
fn opaque_name(ty: &Type) -> String {
    let generic = |kind: &str, inner: Option<Type>| match inner {
        Some(t) => format!("{kind}<{}>", type_name(&t)),
        None => kind.to_string(),
    };
    match ty {
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        Type::Future(future) => generic("future", future.ty()),
        Type::Stream(stream) => generic("stream", stream.ty()),
        Type::ErrorContext => "error-context".into(),
        Type::Map(map) => format!(
            "map<{}, {}>",
            type_name(&map.key()),
            type_name(&map.value())
        ),
        Type::FixedLengthList(list) => format!("list<{}, {}>", type_name(&list.ty()), list.len()),
        _ => type_name(ty),
    }
}
/// What kind of value `val` is, for "found …" in error messages.
pub(super) fn val_kind(val: &Val) -> String {
    let kind = match val {
        Val::Bool(_) => "a bool",
        Val::S8(_) => "an s8",
        Val::U8(_) => "a u8",
        Val::S16(_) => "an s16",
        Val::U16(_) => "a u16",
        Val::S32(_) => "an s32",
        Val::U32(_) => "a u32",
        Val::S64(_) => "an s64",
        Val::U64(_) => "a u64",
        Val::Float32(_) => "an f32",
        Val::Float64(_) => "an f64",
        Val::Char(_) => "a char",
        Val::String(_) => "a string",
        Val::List(_) => "a list",
        Val::Map(_) => "a map",
        Val::Record(_) => "a record",
        Val::Tuple(_) => "a tuple",
        Val::Variant(..) => "a variant",
        Val::Enum(_) => "an enum",
        Val::Option(_) => "an option",
        Val::Result(_) => "a result",
        Val::Flags(_) => "flags",
        Val::Resource(_) => "a resource",
        Val::Future(_) => "a future",
        Val::Stream(_) => "a stream",
        Val::ErrorContext(_) => "an error-context",
        Val::FixedLengthList(_) => "a fixed-length list",
    };
    format!("{kind} value")
}

/// The memory a decoded value holds, in bytes: one `Val` per node plus the
/// heap bytes of its strings, names and vectors. Decoded values can be far
/// larger than their wire bytes (a record's field names are cloned into
/// every element of a list of records), so a server budgets on this, not on
/// the message size.
pub fn footprint(v: &Val) -> usize {
    let node = std::mem::size_of::<Val>();
    let many = |vs: &[Val]| vs.iter().map(footprint).sum::<usize>();
    node + match v {
        Val::String(s) | Val::Enum(s) => s.capacity(),
        Val::List(vs) | Val::Tuple(vs) | Val::FixedLengthList(vs) => many(vs),
        Val::Record(fields) => fields
            .iter()
            // The field's `Val` is inside the pair: counted by `footprint(v)`.
            .map(|(name, v)| {
                std::mem::size_of::<(String, Val)>() - node + name.capacity() + footprint(v)
            })
            .sum(),
        Val::Variant(case, payload) => case.capacity() + payload.as_deref().map_or(0, footprint),
        Val::Option(v) => v.as_deref().map_or(0, footprint),
        Val::Result(r) => match r {
            Ok(v) | Err(v) => v.as_deref().map_or(0, footprint),
        },
        Val::Flags(names) => names
            .iter()
            .map(|n| std::mem::size_of::<String>() + n.capacity())
            .sum(),
        Val::Map(entries) => entries
            .iter()
            .map(|(k, v)| footprint(k) + footprint(v))
            .sum(),
        _ => 0,
    }
}
