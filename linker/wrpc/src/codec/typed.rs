//! Typed fast paths: values of a few common Rust types written to and read
//! from the wire directly, with no [`Val`](wasmtime::component::Val) tree in
//! between — a `list<u8>` stays one byte buffer instead of one `Val` per
//! byte. The bytes are exactly those the dynamic codec writes for the same
//! component type (a property test checks it), and reading applies the
//! same limits and checks.
//!
//! Signatures are known only at run time, so the callers (the remote stubs
//! and the server) pick a shape from a fixed catalogue by the component
//! types and fall back to the dynamic codec for anything else.

use super::decode::Reader;
use super::encode::{write_len, write_sleb, write_uleb};
use super::{CodecError, Limits};
use wasmtime::component::{ComponentNamedList, ComponentType, Lift, Lower, Type};

/// A Rust type with a wRPC encoding.
pub trait Wire: Sized {
    /// Whether `ty` is the component type this Rust type stands for.
    fn is(ty: &Type) -> bool;
    /// Appends the encoding of `self`.
    ///
    /// # Errors
    /// [`CodecError::TooLong`] for a string or list longer than wRPC can
    /// declare.
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError>;
    /// Reads one value.
    ///
    /// # Errors
    /// [`CodecError`] at the offset where the input stops being one value.
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError>;
}

impl Wire for u32 {
    fn is(ty: &Type) -> bool {
        *ty == Type::U32
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_uleb(out, (*self).into());
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(r.uleb(32, "u32")? as u32)
    }
}

impl Wire for u64 {
    fn is(ty: &Type) -> bool {
        *ty == Type::U64
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_uleb(out, *self);
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.uleb(64, "u64")
    }
}

impl Wire for i32 {
    fn is(ty: &Type) -> bool {
        *ty == Type::S32
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_sleb(out, (*self).into());
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(r.sleb(32, "s32")? as i32)
    }
}

impl Wire for i64 {
    fn is(ty: &Type) -> bool {
        *ty == Type::S64
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_sleb(out, *self);
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.sleb(64, "s64")
    }
}

impl Wire for f64 {
    fn is(ty: &Type) -> bool {
        *ty == Type::Float64
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let v = if self.is_nan() { f64::NAN } else { *self };
        out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.f64()
    }
}

impl Wire for String {
    fn is(ty: &Type) -> bool {
        *ty == Type::String
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_len(out, self.len())?;
        out.extend_from_slice(self.as_bytes());
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.string()
    }
}

/// `list<u8>`: a count, then the bytes.
impl Wire for Vec<u8> {
    fn is(ty: &Type) -> bool {
        matches!(ty, Type::List(l) if l.ty() == Type::U8)
    }
    fn write(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        write_len(out, self.len())?;
        out.extend_from_slice(self);
        Ok(())
    }
    fn read(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        r.bytes()
    }
}

/// A function's parameters or wire results as a tuple of [`Wire`] values.
pub trait WireList: Sized {
    /// Whether `types` are the component types of this tuple.
    fn matches(types: &[Type]) -> bool;
    /// The encoding of the values, one after the other.
    ///
    /// # Errors
    /// As [`Wire::write`].
    fn encode(&self) -> Result<Vec<u8>, CodecError>;
    /// Reads the values from `input`, which they must use entirely, within
    /// `limits` (as [`decode_values`](super::decode_values) does).
    ///
    /// # Errors
    /// As [`Wire::read`], bytes left over, or past `limits`.
    fn decode(input: &[u8], limits: &Limits) -> Result<Self, CodecError>;
}

macro_rules! wire_list {
    ($($t:ident),*) => {
        impl<$($t: Wire),*> WireList for ($($t,)*) {
            fn matches(types: &[Type]) -> bool {
                #[allow(unused_mut, unused_variables)]
                let mut i = types.iter();
                $( if !i.next().is_some_and(|ty| $t::is(ty)) { return false; } )*
                i.next().is_none()
            }
            #[allow(non_snake_case)]
            fn encode(&self) -> Result<Vec<u8>, CodecError> {
                #[allow(unused_mut)]
                let mut out = Vec::new();
                let ($($t,)*) = self;
                $( $t.write(&mut out)?; )*
                Ok(out)
            }
            fn decode(input: &[u8], limits: &Limits) -> Result<Self, CodecError> {
                #[allow(unused_mut)]
                let mut r = Reader::whole(input, limits)?;
                let values = ($($t::read(&mut r)?,)*);
                r.finish()?;
                Ok(values)
            }
        }
    };
}

wire_list!();
wire_list!(A);
wire_list!(A, B);

/// What a caller builds for one shape of the catalogue: parameters `P`
/// and one wire result `T`, both usable in either direction (lifted from
/// and lowered into a guest).
pub trait ShapeVisitor {
    /// What it builds.
    type Output;
    /// Builds it for parameters `P` and wire result `T`.
    fn visit<P, T>(self) -> Self::Output
    where
        P: WireList + ComponentNamedList + Lift + Lower + Send + Sync + 'static,
        T: Wire + ComponentType + Lift + Lower + Send + Sync + 'static;
}

/// The catalogue of typed shapes, the one place it is written down:
/// parameters `()`, `(u32)`, `(u64)`, `(u32, u32)`, `(u64, u64)`,
/// `(string)` or `(list<u8>)`, and one wire result `u32`, `u64`, `string`
/// or `list<u8>`. Calls `visitor` with the shape of `params` and
/// `wire_results` when it is one of them.
pub fn dispatch<V: ShapeVisitor>(
    params: &[Type],
    wire_results: &[Type],
    visitor: V,
) -> Option<V::Output> {
    macro_rules! results {
        ($p:ty) => {
            if <$p>::matches(params) {
                return if <(u32,)>::matches(wire_results) {
                    Some(visitor.visit::<$p, u32>())
                } else if <(u64,)>::matches(wire_results) {
                    Some(visitor.visit::<$p, u64>())
                } else if <(String,)>::matches(wire_results) {
                    Some(visitor.visit::<$p, String>())
                } else if <(Vec<u8>,)>::matches(wire_results) {
                    Some(visitor.visit::<$p, Vec<u8>>())
                } else {
                    None
                };
            }
        };
    }
    results!((u32, u32));
    results!((u64, u64));
    results!((u32,));
    results!((u64,));
    results!(());
    results!((String,));
    results!((Vec<u8>,));
    None
}
