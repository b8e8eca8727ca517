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
//! # fn demo(ty: &wasmtime::component::Type) -> Result<(), weld_wrpc::codec::CodecError> {
//! use wasmtime::component::Val;
//! use weld_wrpc::codec::{decode_values, encode_values, Limits};
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

mod decode;
mod encode;
#[cfg(test)]
mod tests;
pub mod typed;
mod types;

pub use decode::{decode, decode_values, decode_values_measured};
pub(crate) use encode::write_uleb;
pub use encode::{encode, encode_values};
pub use types::{footprint, type_name};

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
    /// Most memory a dynamically decoded message may take, counted as
    /// [`footprint`] counts it while the values are built (a list's room is
    /// checked before it is allocated). One wire byte can become a whole
    /// `Val` (an empty list in a `list<list<T>>`), so the decoded tree of a
    /// hostile message is many times its bytes; past this it is
    /// [`CodecError::FootprintExceeded`]. Typed fast paths build compact
    /// Rust values and are bounded by `max_bytes`.
    pub max_footprint: usize,
}

impl Limits {
    /// 16 MiB of input, nesting depth 128, 128 MiB decoded.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 16 << 20,
        max_depth: 128,
        max_footprint: 128 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

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
    /// The decoded values would take more memory than
    /// [`Limits::max_footprint`].
    #[error(
        "the decoded value exceeds the limit of {max_footprint} bytes in memory at byte {offset}"
    )]
    FootprintExceeded { offset: usize, max_footprint: usize },
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
