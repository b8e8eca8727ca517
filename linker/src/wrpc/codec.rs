//! Dynamic wRPC value codec over [`wasmtime::component::Val`].
//!
//! wRPC (bytecodealliance/wrpc `SPEC.md`) "relies on [component model value
//! definition encoding] for data encoding on the wire": the `val(t)` grammar
//! of the component model's `Binary.md` (section "Value Definitions"). This
//! module implements that grammar, directed by a
//! [`wasmtime::component::Type`], for the values a synchronous call carries:
//!
//! | type | encoding |
//! | --- | --- |
//! | `bool` | one byte, `0x00` false or `0x01` true |
//! | `u8`, `s8` | one byte (`s8` in two's complement) |
//! | `u16` `u32` `u64` | unsigned LEB128 (`core:u16` …), at most ⌈N/7⌉ bytes |
//! | `s16` `s32` `s64` | signed LEB128 (`core:s16` …), not zig-zag |
//! | `f32`, `f64` | IEEE 754 little-endian; every NaN is sent as the canonical NaN |
//! | `char` | its UTF-8 encoding (1 to 4 bytes) |
//! | `string` | `core:name`: LEB128 `u32` byte length, then UTF-8 bytes |
//! | `list<T>` | LEB128 `u32` element count, then each element |
//! | `record`, `tuple` | the fields (members) in declaration order, concatenated |
//! | `variant` | LEB128 `u32` case index, then the case's payload if it has one |
//! | `enum` | LEB128 `u32` case index |
//! | `option<T>` | `0x00` for none, `0x01` then the value for some |
//! | `result<T, E>` | `0x00` then the ok payload (if any), `0x01` then the error payload (if any) |
//! | `flags` | ⌈n/8⌉ bytes; flag `i` is bit `i % 8` of byte `i / 8` |
//!
//! Not supported yet (encoding and decoding return
//! [`CodecError::Unsupported`]): resource handles (`own`, `borrow`; wRPC sends
//! them as opaque `list<u8>` blobs whose meaning is up to the application),
//! `future` and `stream` (wRPC sends them partly on other channels), and the
//! types the wRPC specification does not cover (`error-context`, `map`,
//! fixed-length lists).
//!
//! Decoding is meant for untrusted input: it never panics, checks every length
//! against the bytes that remain before it allocates, bounds value nesting
//! ([`Limits::max_depth`]) and the bytes it reads ([`Limits::max_bytes`]), and
//! says in its error what it expected at which byte offset.
//!
//! ```no_run
//! # fn demo(ty: &wasmtime::component::Type) -> Result<(), weld_linker::wrpc::codec::CodecError> {
//! use wasmtime::component::Val;
//! use weld_linker::wrpc::codec::{decode_values, encode_values, Limits};
//!
//! // `ty` is `u32`, e.g. a parameter type read from a component.
//! let bytes = encode_values(&[Val::U32(300)], std::slice::from_ref(ty))?;
//! assert_eq!(bytes, [0xac, 0x02]);
//! let vals = decode_values(std::slice::from_ref(ty), &bytes, &Limits::default())?;
//! assert_eq!(vals, [Val::U32(300)]);
//! # Ok(()) }
//! ```
//!
//! [component model value definition encoding]: https://github.com/WebAssembly/component-model/blob/main/design/mvp/Binary.md#-value-definitions

use wasmtime::component::{Type, Val};

/// Bounds on what decoding may consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of input one call may read. Reading past this is
    /// [`CodecError::LimitExceeded`]; [`decode_values`] refuses longer input
    /// up front.
    pub max_bytes: usize,
    /// Deepest value nesting accepted: a scalar at the top level has depth 1,
    /// the elements of a top-level `list<u8>` depth 2, and so on. Deeper is
    /// [`CodecError::DepthExceeded`].
    pub max_depth: usize,
}

impl Limits {
    /// 16 MiB of input, nesting depth 128.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 16 << 20,
        max_depth: 128,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Nesting deeper than this is refused when encoding (component types are
/// never that deep in practice; the bound keeps recursion off the stack's end).
const MAX_ENCODE_DEPTH: usize = 512;

/// Why a value could not be encoded or decoded.
///
/// Encoding errors name the place in the value (`path`, e.g.
/// ``field `origin` → field `x` ``, empty for the value itself); decoding
/// errors name the byte offset from the start of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value does not have the shape of the type (encoding).
    #[error("type mismatch{}: expected {expected}, found {found}", at(.path))]
    TypeMismatch {
        path: String,
        expected: String,
        found: String,
    },
    /// A record field whose name differs from the one the type declares at
    /// that position (encoding; fields must come in declaration order).
    #[error("record field {index}{}: expected `{expected}`, found `{found}`", at(.path))]
    FieldMismatch {
        path: String,
        index: usize,
        expected: String,
        found: String,
    },
    /// A variant case, enum case or flag name that the type does not declare
    /// (encoding).
    #[error("{kind} `{name}`{} is not declared by type `{ty}`", at(.path))]
    UnknownName {
        path: String,
        kind: &'static str,
        name: String,
        ty: String,
    },
    /// A list or string longer than its `u32` length prefix can say.
    #[error("cannot encode{}: length {len} does not fit the u32 length prefix", at(.path))]
    TooLong { path: String, len: usize },
    /// The number of values differs from the number of types.
    #[error("expected {expected} values, found {found}")]
    ArityMismatch { expected: usize, found: usize },
    /// The input ends before the value does.
    #[error(
        "unexpected end of input at byte {offset}: expected {expected} \
         (needs at least {needed} more bytes, {available} left)"
    )]
    Truncated {
        offset: usize,
        expected: &'static str,
        needed: usize,
        available: usize,
    },
    /// Decoding would read more than [`Limits::max_bytes`].
    #[error("input exceeds the decoding limit of {max_bytes} bytes at byte {offset}")]
    LimitExceeded { offset: usize, max_bytes: usize },
    /// A LEB128 integer with too many bytes or a value out of its range.
    #[error("invalid LEB128 {ty} at byte {offset}: too many bytes or value out of range")]
    InvalidLeb128 { offset: usize, ty: &'static str },
    /// A `bool`, `option` or `result` byte other than `0x00` or `0x01`.
    #[error("invalid {what} at byte {offset}: expected 0x00 or 0x01, found {byte:#04x}")]
    InvalidTag {
        offset: usize,
        what: &'static str,
        byte: u8,
    },
    /// A string whose bytes are not UTF-8.
    #[error("invalid UTF-8 in string at byte {offset}")]
    InvalidUtf8 { offset: usize },
    /// Bytes that are not the UTF-8 encoding of one Unicode scalar value.
    #[error(
        "invalid char at byte {offset}: expected the UTF-8 encoding of a Unicode scalar value"
    )]
    InvalidChar { offset: usize },
    /// A variant or enum case index past the type's last case.
    #[error("invalid {kind} discriminant {value} at byte {offset}: the type has {count} cases")]
    BadDiscriminant {
        offset: usize,
        kind: &'static str,
        value: u32,
        count: usize,
    },
    /// Value nesting deeper than [`Limits::max_depth`] (decoding; `offset` is
    /// the input offset) or than the encoder's bound (`offset` is the output
    /// offset).
    #[error("value nesting exceeds the depth limit of {max_depth} at byte {offset}")]
    DepthExceeded { offset: usize, max_depth: usize },
    /// Bytes left over after the last value ([`decode_values`]).
    #[error("{count} trailing bytes at byte {offset} after the last value")]
    TrailingBytes { offset: usize, count: usize },
    /// A kind of value this codec cannot carry yet.
    #[error("{0} are not supported by the wRPC value codec yet")]
    Unsupported(&'static str),
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}

impl CodecError {
    /// Prefixes the value path of an encoding error with `segment`.
    fn within(mut self, segment: impl FnOnce() -> String) -> Self {
        match &mut self {
            CodecError::TypeMismatch { path, .. }
            | CodecError::UnknownName { path, .. }
            | CodecError::FieldMismatch { path, .. }
            | CodecError::TooLong { path, .. } => {
                let seg = segment();
                *path = if path.is_empty() {
                    seg
                } else {
                    format!("{seg} → {path}")
                };
            }
            _ => {}
        }
        self
    }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Appends the encoding of `val`, a value of type `ty`, to `out`.
///
/// On error `out` is left as it was.
pub fn encode(val: &Val, ty: &Type, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = out.len();
    let res = encode_val(val, ty, out, 1);
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Encodes `vals` (for instance a function's parameters) one after the other;
/// `vals[i]` has type `types[i]`.
pub fn encode_values(vals: &[Val], types: &[Type]) -> Result<Vec<u8>, CodecError> {
    if vals.len() != types.len() {
        return Err(CodecError::ArityMismatch {
            expected: types.len(),
            found: vals.len(),
        });
    }
    let mut out = Vec::new();
    for (i, (val, ty)) in vals.iter().zip(types).enumerate() {
        encode_val(val, ty, &mut out, 1).map_err(|e| e.within(|| format!("value {i}")))?;
    }
    Ok(out)
}

fn mismatch(ty: &Type, val: &Val) -> CodecError {
    CodecError::TypeMismatch {
        path: String::new(),
        expected: format!("a value of type `{}`", type_name(ty)),
        found: val_kind(val),
    }
}

fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7; // arithmetic shift keeps the sign
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_len(out: &mut Vec<u8>, len: usize) -> Result<(), CodecError> {
    let n = u32::try_from(len).map_err(|_| CodecError::TooLong {
        path: String::new(),
        len,
    })?;
    write_uleb(out, n.into());
    Ok(())
}

/// Case indices are `core:u32`; component types cannot declare more cases.
fn write_index(out: &mut Vec<u8>, index: usize) {
    write_uleb(out, index as u64);
}

fn encode_val(val: &Val, ty: &Type, out: &mut Vec<u8>, depth: usize) -> Result<(), CodecError> {
    if depth > MAX_ENCODE_DEPTH {
        return Err(CodecError::DepthExceeded {
            offset: out.len(),
            max_depth: MAX_ENCODE_DEPTH,
        });
    }
    match (ty, val) {
        (Type::Bool, Val::Bool(v)) => out.push(u8::from(*v)),
        (Type::U8, Val::U8(v)) => out.push(*v),
        (Type::S8, Val::S8(v)) => out.push(*v as u8),
        (Type::U16, Val::U16(v)) => write_uleb(out, (*v).into()),
        (Type::U32, Val::U32(v)) => write_uleb(out, (*v).into()),
        (Type::U64, Val::U64(v)) => write_uleb(out, *v),
        (Type::S16, Val::S16(v)) => write_sleb(out, (*v).into()),
        (Type::S32, Val::S32(v)) => write_sleb(out, (*v).into()),
        (Type::S64, Val::S64(v)) => write_sleb(out, *v),
        (Type::Float32, Val::Float32(v)) => {
            // `val(f32) ::= v:<core:f32> (if !isnan(v)) | 0x00 0x00 0xC0 0x7F => nan`
            let v = if v.is_nan() { f32::NAN } else { *v };
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Type::Float64, Val::Float64(v)) => {
            let v = if v.is_nan() { f64::NAN } else { *v };
            out.extend_from_slice(&v.to_le_bytes());
        }
        (Type::Char, Val::Char(c)) => {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        (Type::String, Val::String(s)) => {
            write_len(out, s.len())?;
            out.extend_from_slice(s.as_bytes());
        }
        (Type::List(list), Val::List(elems)) => {
            write_len(out, elems.len())?;
            let elem_ty = list.ty();
            for (i, elem) in elems.iter().enumerate() {
                encode_val(elem, &elem_ty, out, depth + 1)
                    .map_err(|e| e.within(|| format!("element {i}")))?;
            }
        }
        (Type::Record(record), Val::Record(fields)) => {
            let field_tys = record.fields();
            if field_tys.len() != fields.len() {
                return Err(CodecError::TypeMismatch {
                    path: String::new(),
                    expected: format!("a value of type `{}`", type_name(ty)),
                    found: format!("a record with {} fields", fields.len()),
                });
            }
            for (index, (field_ty, (name, field))) in field_tys.zip(fields).enumerate() {
                if field_ty.name != name {
                    return Err(CodecError::FieldMismatch {
                        path: String::new(),
                        index,
                        expected: field_ty.name.to_string(),
                        found: name.clone(),
                    });
                }
                encode_val(field, &field_ty.ty, out, depth + 1)
                    .map_err(|e| e.within(|| format!("field `{name}`")))?;
            }
        }
        (Type::Tuple(tuple), Val::Tuple(members)) => {
            let member_tys = tuple.types();
            if member_tys.len() != members.len() {
                return Err(CodecError::TypeMismatch {
                    path: String::new(),
                    expected: format!("a value of type `{}`", type_name(ty)),
                    found: format!("a tuple of {} members", members.len()),
                });
            }
            for (i, (member_ty, member)) in member_tys.zip(members).enumerate() {
                encode_val(member, &member_ty, out, depth + 1)
                    .map_err(|e| e.within(|| format!("member {i}")))?;
            }
        }
        (Type::Variant(variant), Val::Variant(name, payload)) => {
            let Some((index, case)) = variant
                .cases()
                .enumerate()
                .find(|(_, case)| case.name == name)
            else {
                return Err(CodecError::UnknownName {
                    path: String::new(),
                    kind: "case",
                    name: name.clone(),
                    ty: type_name(ty),
                });
            };
            match (&case.ty, payload) {
                (None, None) => write_index(out, index),
                (Some(payload_ty), Some(payload)) => {
                    write_index(out, index);
                    encode_val(payload, payload_ty, out, depth + 1)
                        .map_err(|e| e.within(|| format!("case `{name}`")))?;
                }
                (None, Some(_)) => {
                    return Err(CodecError::TypeMismatch {
                        path: format!("case `{name}`"),
                        expected: "no payload".into(),
                        found: "a payload".into(),
                    })
                }
                (Some(payload_ty), None) => {
                    return Err(CodecError::TypeMismatch {
                        path: format!("case `{name}`"),
                        expected: format!("a payload of type `{}`", type_name(payload_ty)),
                        found: "no payload".into(),
                    })
                }
            }
        }
        (Type::Enum(enum_ty), Val::Enum(name)) => {
            let Some(index) = enum_ty.names().position(|n| n == name) else {
                return Err(CodecError::UnknownName {
                    path: String::new(),
                    kind: "case",
                    name: name.clone(),
                    ty: type_name(ty),
                });
            };
            write_index(out, index);
        }
        (Type::Option(option), Val::Option(v)) => match v {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                encode_val(v, &option.ty(), out, depth + 1)
                    .map_err(|e| e.within(|| "some".into()))?;
            }
        },
        (Type::Result(result), Val::Result(v)) => {
            let (tag, payload, payload_ty, label) = match v {
                Ok(payload) => (0, payload, result.ok(), "ok"),
                Err(payload) => (1, payload, result.err(), "err"),
            };
            match (payload_ty, payload) {
                (None, None) => out.push(tag),
                (Some(payload_ty), Some(payload)) => {
                    out.push(tag);
                    encode_val(payload, &payload_ty, out, depth + 1)
                        .map_err(|e| e.within(|| label.into()))?;
                }
                (None, Some(_)) => {
                    return Err(CodecError::TypeMismatch {
                        path: label.into(),
                        expected: "no payload".into(),
                        found: "a payload".into(),
                    })
                }
                (Some(payload_ty), None) => {
                    return Err(CodecError::TypeMismatch {
                        path: label.into(),
                        expected: format!("a payload of type `{}`", type_name(&payload_ty)),
                        found: "no payload".into(),
                    })
                }
            }
        }
        (Type::Flags(flags), Val::Flags(set)) => {
            let names: Vec<&str> = flags.names().collect();
            let mut bits = vec![0u8; names.len().div_ceil(8)];
            for name in set {
                let Some(i) = names.iter().position(|n| n == name) else {
                    return Err(CodecError::UnknownName {
                        path: String::new(),
                        kind: "flag",
                        name: name.clone(),
                        ty: type_name(ty),
                    });
                };
                bits[i / 8] |= 1 << (i % 8);
            }
            out.extend_from_slice(&bits);
        }
        (ty, val) => {
            if let Some(what) = unsupported(ty) {
                return Err(CodecError::Unsupported(what));
            }
            return Err(mismatch(ty, val));
        }
    }
    Ok(())
}

/// The kinds of type this codec does not handle, by the name its error uses.
fn unsupported(ty: &Type) -> Option<&'static str> {
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

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Decodes one value of type `ty` from the front of `input` and advances
/// `input` past it. Bytes after the value are left for the caller.
///
/// At most `limits.max_bytes` bytes are read. On error `input` is left as it
/// was; error offsets count from its start.
pub fn decode(ty: &Type, input: &mut &[u8], limits: &Limits) -> Result<Val, CodecError> {
    let mut reader = Reader::new(input, limits);
    let val = reader.value(ty, 1)?;
    *input = &input[reader.pos..];
    Ok(val)
}

/// Decodes one value for each of `types` (for instance a function's
/// parameters), one after the other, and requires that they use all of
/// `input`.
pub fn decode_values(
    types: &[Type],
    input: &[u8],
    limits: &Limits,
) -> Result<Vec<Val>, CodecError> {
    if input.len() > limits.max_bytes {
        return Err(CodecError::LimitExceeded {
            offset: limits.max_bytes,
            max_bytes: limits.max_bytes,
        });
    }
    let mut reader = Reader::new(input, limits);
    let mut vals = Vec::with_capacity(types.len());
    for ty in types {
        vals.push(reader.value(ty, 1)?);
    }
    if reader.pos != input.len() {
        return Err(CodecError::TrailingBytes {
            offset: reader.pos,
            count: input.len() - reader.pos,
        });
    }
    Ok(vals)
}

/// A cursor over the input that knows the limits.
struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// `min(input.len(), max_bytes)`: reading stops here.
    end: usize,
    limits: Limits,
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8], limits: &Limits) -> Self {
        Reader {
            input,
            pos: 0,
            end: input.len().min(limits.max_bytes),
            limits: *limits,
        }
    }

    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// The error for wanting `needed` bytes when fewer remain.
    fn short(&self, needed: usize, expected: &'static str) -> CodecError {
        if self.input.len() - self.pos >= needed {
            CodecError::LimitExceeded {
                offset: self.pos,
                max_bytes: self.limits.max_bytes,
            }
        } else {
            CodecError::Truncated {
                offset: self.pos,
                expected,
                needed,
                available: self.remaining(),
            }
        }
    }

    fn take(&mut self, n: usize, expected: &'static str) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(self.short(n, expected));
        }
        let bytes = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn byte(&mut self, expected: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, expected)?[0])
    }

    fn tag(&mut self, what: &'static str) -> Result<bool, CodecError> {
        let offset = self.pos;
        match self.byte(what)? {
            0 => Ok(false),
            1 => Ok(true),
            byte => Err(CodecError::InvalidTag { offset, what, byte }),
        }
    }

    /// Unsigned LEB128 of an `bits`-bit integer (`core:uN`): at most
    /// ⌈bits/7⌉ bytes, and the last possible byte may not carry bits beyond
    /// `bits`.
    fn uleb(&mut self, bits: u32, ty: &'static str) -> Result<u64, CodecError> {
        let start = self.pos;
        let max_len = bits.div_ceil(7);
        let mut value = 0u64;
        for i in 0..max_len {
            let byte = self.byte(ty)?;
            let low = u64::from(byte & 0x7f);
            let shift = 7 * i;
            if i == max_len - 1 {
                let used = bits - shift; // value bits this byte may carry: 1..=7
                if byte & 0x80 != 0 || low >> used != 0 {
                    return Err(CodecError::InvalidLeb128 { offset: start, ty });
                }
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::InvalidLeb128 { offset: start, ty })
    }

    /// Signed LEB128 of an `bits`-bit integer (`core:sN`): at most ⌈bits/7⌉
    /// bytes, and the unused bits of the last possible byte must repeat the
    /// sign bit.
    fn sleb(&mut self, bits: u32, ty: &'static str) -> Result<i64, CodecError> {
        let start = self.pos;
        let max_len = bits.div_ceil(7);
        let mut value = 0u64;
        for i in 0..max_len {
            let byte = self.byte(ty)?;
            let low = u64::from(byte & 0x7f);
            let shift = 7 * i;
            if i == max_len - 1 {
                let used = bits - shift; // 1..=7; bit `used - 1` is the sign
                let upper = low >> (used - 1);
                if byte & 0x80 != 0 || (upper != 0 && upper != 0x7f >> (used - 1)) {
                    return Err(CodecError::InvalidLeb128 { offset: start, ty });
                }
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                let consumed = shift + 7;
                if consumed < 64 && byte & 0x40 != 0 {
                    value |= !0u64 << consumed;
                }
                return Ok(value as i64);
            }
        }
        Err(CodecError::InvalidLeb128 { offset: start, ty })
    }

    /// A `core:u32` count or case index.
    fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        Ok(self.uleb(32, what)? as u32)
    }

    /// A variant or enum discriminant, checked against its case count.
    fn discriminant(&mut self, kind: &'static str, count: usize) -> Result<usize, CodecError> {
        let offset = self.pos;
        let what = if kind == "variant" {
            "variant discriminant"
        } else {
            "enum discriminant"
        };
        let value = self.u32(what)?;
        if value as usize >= count {
            return Err(CodecError::BadDiscriminant {
                offset,
                kind,
                value,
                count,
            });
        }
        Ok(value as usize)
    }

    fn value(&mut self, ty: &Type, depth: usize) -> Result<Val, CodecError> {
        if depth > self.limits.max_depth {
            return Err(CodecError::DepthExceeded {
                offset: self.pos,
                max_depth: self.limits.max_depth,
            });
        }
        Ok(match ty {
            Type::Bool => Val::Bool(self.tag("bool")?),
            Type::U8 => Val::U8(self.byte("u8")?),
            Type::S8 => Val::S8(self.byte("s8")? as i8),
            Type::U16 => Val::U16(self.uleb(16, "u16")? as u16),
            Type::U32 => Val::U32(self.uleb(32, "u32")? as u32),
            Type::U64 => Val::U64(self.uleb(64, "u64")?),
            Type::S16 => Val::S16(self.sleb(16, "s16")? as i16),
            Type::S32 => Val::S32(self.sleb(32, "s32")? as i32),
            Type::S64 => Val::S64(self.sleb(64, "s64")?),
            Type::Float32 => {
                let bytes = self.take(4, "f32")?;
                let v = f32::from_le_bytes(bytes.try_into().expect("took 4 bytes"));
                Val::Float32(if v.is_nan() { f32::NAN } else { v })
            }
            Type::Float64 => {
                let bytes = self.take(8, "f64")?;
                let v = f64::from_le_bytes(bytes.try_into().expect("took 8 bytes"));
                Val::Float64(if v.is_nan() { f64::NAN } else { v })
            }
            Type::Char => Val::Char(self.char()?),
            Type::String => Val::String(self.string()?),
            Type::List(list) => {
                let count = self.u32("list length")? as usize;
                let elem_ty = list.ty();
                self.check_count(count, &elem_ty)?;
                let mut elems = Vec::with_capacity(count);
                for _ in 0..count {
                    elems.push(self.value(&elem_ty, depth + 1)?);
                }
                Val::List(elems)
            }
            Type::Record(record) => {
                let fields = record.fields();
                let mut vals = Vec::with_capacity(fields.len());
                for field in fields {
                    let v = self.value(&field.ty, depth + 1)?;
                    vals.push((field.name.to_string(), v));
                }
                Val::Record(vals)
            }
            Type::Tuple(tuple) => {
                let types = tuple.types();
                let mut vals = Vec::with_capacity(types.len());
                for ty in types {
                    vals.push(self.value(&ty, depth + 1)?);
                }
                Val::Tuple(vals)
            }
            Type::Variant(variant) => {
                let mut cases = variant.cases();
                let index = self.discriminant("variant", cases.len())?;
                let case = cases.nth(index).expect("index checked against the count");
                let payload = match &case.ty {
                    Some(ty) => Some(Box::new(self.value(ty, depth + 1)?)),
                    None => None,
                };
                Val::Variant(case.name.to_string(), payload)
            }
            Type::Enum(enum_ty) => {
                let mut names = enum_ty.names();
                let index = self.discriminant("enum", names.len())?;
                let name = names.nth(index).expect("index checked against the count");
                Val::Enum(name.to_string())
            }
            Type::Option(option) => {
                if self.tag("option tag")? {
                    Val::Option(Some(Box::new(self.value(&option.ty(), depth + 1)?)))
                } else {
                    Val::Option(None)
                }
            }
            Type::Result(result) => {
                let is_err = self.tag("result tag")?;
                let payload_ty = if is_err { result.err() } else { result.ok() };
                let payload = match payload_ty {
                    Some(ty) => Some(Box::new(self.value(&ty, depth + 1)?)),
                    None => None,
                };
                Val::Result(if is_err { Err(payload) } else { Ok(payload) })
            }
            Type::Flags(flags) => {
                let names = flags.names();
                let bits = self.take(names.len().div_ceil(8), "flags")?;
                // Bits past the last flag carry nothing: the grammar only
                // reads bits `0..n`.
                let set = names
                    .enumerate()
                    .filter(|(i, _)| bits[i / 8] & (1 << (i % 8)) != 0)
                    .map(|(_, name)| name.to_string())
                    .collect();
                Val::Flags(set)
            }
            other => {
                return Err(CodecError::Unsupported(
                    unsupported(other).unwrap_or("values of this type"),
                ))
            }
        })
    }

    /// Checks that `count` elements of `elem_ty` can fit in what remains,
    /// before anything is allocated for them.
    fn check_count(&self, count: usize, elem_ty: &Type) -> Result<(), CodecError> {
        let min = min_encoded_len(elem_ty);
        if min == 0 {
            // Cannot happen for validated component types (records, tuples
            // and flags are never empty), but an element that takes no
            // bytes must not let a short input ask for a huge list.
            if count > self.limits.max_bytes {
                return Err(CodecError::LimitExceeded {
                    offset: self.pos,
                    max_bytes: self.limits.max_bytes,
                });
            }
            return Ok(());
        }
        let needed = count.saturating_mul(min);
        if needed > self.remaining() {
            return Err(self.short(needed, "list elements"));
        }
        Ok(())
    }

    fn char(&mut self) -> Result<char, CodecError> {
        let offset = self.pos;
        let first = self.byte("char")?;
        let len = match first {
            0x00..=0x7f => 1,
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return Err(CodecError::InvalidChar { offset }),
        };
        self.pos = offset;
        let bytes = self.take(len, "char")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.chars().next().expect("one UTF-8 sequence")),
            Err(_) => {
                self.pos = offset;
                Err(CodecError::InvalidChar { offset })
            }
        }
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let len = self.u32("string length")? as usize;
        let start = self.pos;
        let bytes = self.take(len, "string bytes")?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(CodecError::InvalidUtf8 {
                offset: start + e.valid_up_to(),
            }),
        }
    }
}

/// A lower bound on the encoded length of any value of `ty`, cheap to
/// compute (it does not recurse): every component value takes at least one
/// byte, floats take 4 or 8, flags ⌈n/8⌉, records and tuples at least one
/// byte per field.
fn min_encoded_len(ty: &Type) -> usize {
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

// ---------------------------------------------------------------------------
// Names for error messages
// ---------------------------------------------------------------------------

/// A WIT-like rendering of `ty`, shortened past a few levels of nesting.
pub fn type_name(ty: &Type) -> String {
    let mut s = String::new();
    write_type(&mut s, ty, 3);
    s
}

/// Members of a record, tuple, variant, enum or flags listed in a type name.
const MAX_MEMBERS: usize = 6;

fn write_type(s: &mut String, ty: &Type, depth: usize) {
    if depth == 0 {
        s.push('…');
        return;
    }
    let d = depth - 1;
    let simple = match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext => "error-context",
        _ => "",
    };
    if !simple.is_empty() {
        s.push_str(simple);
        return;
    }
    fn members<I: ExactSizeIterator>(
        s: &mut String,
        iter: I,
        mut each: impl FnMut(&mut String, I::Item),
    ) {
        let n = iter.len();
        for (i, item) in iter.enumerate() {
            if i == MAX_MEMBERS {
                s.push_str(&format!(", … {} more", n - i));
                break;
            }
            if i > 0 {
                s.push_str(", ");
            }
            each(s, item);
        }
    }
    match ty {
        Type::List(list) => {
            s.push_str("list<");
            write_type(s, &list.ty(), d);
            s.push('>');
        }
        Type::FixedLengthList(list) => {
            s.push_str("list<");
            write_type(s, &list.ty(), d);
            s.push_str(&format!(", {}>", list.len()));
        }
        Type::Map(map) => {
            s.push_str("map<");
            write_type(s, &map.key(), d);
            s.push_str(", ");
            write_type(s, &map.value(), d);
            s.push('>');
        }
        Type::Record(record) => {
            s.push_str("record { ");
            members(s, record.fields(), |s, f| {
                s.push_str(f.name);
                s.push_str(": ");
                write_type(s, &f.ty, d);
            });
            s.push_str(" }");
        }
        Type::Tuple(tuple) => {
            s.push_str("tuple<");
            members(s, tuple.types(), |s, t| write_type(s, &t, d));
            s.push('>');
        }
        Type::Variant(variant) => {
            s.push_str("variant { ");
            members(s, variant.cases(), |s, c| {
                s.push_str(c.name);
                if let Some(t) = &c.ty {
                    s.push('(');
                    write_type(s, t, d);
                    s.push(')');
                }
            });
            s.push_str(" }");
        }
        Type::Enum(enum_ty) => {
            s.push_str("enum { ");
            members(s, enum_ty.names(), |s, n| s.push_str(n));
            s.push_str(" }");
        }
        Type::Flags(flags) => {
            s.push_str("flags { ");
            members(s, flags.names(), |s, n| s.push_str(n));
            s.push_str(" }");
        }
        Type::Option(option) => {
            s.push_str("option<");
            write_type(s, &option.ty(), d);
            s.push('>');
        }
        Type::Result(result) => {
            s.push_str("result");
            match (result.ok(), result.err()) {
                (None, None) => {}
                (Some(ok), None) => {
                    s.push('<');
                    write_type(s, &ok, d);
                    s.push('>');
                }
                (ok, Some(err)) => {
                    s.push('<');
                    match ok {
                        Some(ok) => write_type(s, &ok, d),
                        None => s.push('_'),
                    }
                    s.push_str(", ");
                    write_type(s, &err, d);
                    s.push('>');
                }
            }
        }
        Type::Own(_) => s.push_str("own<resource>"),
        Type::Borrow(_) => s.push_str("borrow<resource>"),
        Type::Future(future) => {
            s.push_str("future");
            if let Some(t) = future.ty() {
                s.push('<');
                write_type(s, &t, d);
                s.push('>');
            }
        }
        Type::Stream(stream) => {
            s.push_str("stream");
            if let Some(t) = stream.ty() {
                s.push('<');
                write_type(s, &t, d);
                s.push('>');
            }
        }
        _ => s.push('?'),
    }
}

/// What kind of value `val` is, for "found …" in error messages.
fn val_kind(val: &Val) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::strategy::Union;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    use std::sync::OnceLock;
    use wasmtime::component::types::ComponentItem;
    use wasmtime::component::Component;
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
                    let back =
                        decode_values(std::slice::from_ref(&t), &bytes, &limits).map_err(fail)?;
                    prop_assert_eq!(&back[0], &v);
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
}
