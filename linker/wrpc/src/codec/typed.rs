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

/// A function's parameters as the wire carries them: a [`WireList`] that
/// is also a component-model tuple in either direction.
pub trait WireParams: WireList + ComponentNamedList + Lift + Lower + Send + Sync + 'static {}

impl<P> WireParams for P where
    P: WireList + ComponentNamedList + Lift + Lower + Send + Sync + 'static
{
}

/// A function's results as the wire carries them: none, or one [`Wire`]
/// value. A wRPC-safe function returns them inside `result<_, error>`:
/// [`Ok`](WireResults::Ok) is what its `ok` case holds.
pub trait WireResults:
    WireList + ComponentNamedList + Lift + Lower + Send + Sync + 'static
{
    /// The `ok` payload of `result<_, error>` carrying these results:
    /// `()` for none, `T` for `(T,)`.
    type Ok: ComponentType + Lift + Lower + Send + Sync + 'static;
    /// The results an `ok` payload carries.
    fn from_ok(ok: Self::Ok) -> Self;
    /// The `ok` payload carrying these results.
    fn into_ok(self) -> Self::Ok;
}

impl WireResults for () {
    type Ok = ();
    fn from_ok(_ok: ()) -> Self {}
    fn into_ok(self) {}
}

impl<T: Wire + ComponentType + Lift + Lower + Send + Sync + 'static> WireResults for (T,) {
    type Ok = T;
    fn from_ok(ok: T) -> Self {
        (ok,)
    }
    fn into_ok(self) -> T {
        self.0
    }
}

/// What a caller builds for one shape of the catalogue: parameters `P`
/// and results `R`, both usable in either direction (lifted from and
/// lowered into a guest).
pub trait ShapeVisitor {
    /// What it builds.
    type Output;
    /// Builds it for parameters `P` and results `R`.
    fn visit<P: WireParams, R: WireResults>(self) -> Self::Output;
}

/// The catalogue of typed shapes, the one place it is written down, for
/// every typed path (remote stubs, served exports, host-linked imports):
///
/// | parameters | results |
/// |---|---|
/// | `(u32, u32)`, `(u64, u64)`, `(u32)`, `(u64)`, `(list<u8>)` | `u32`, `u64`, `string` or `list<u8>` |
/// | `()`, `(string)` | none, `u32`, `u64`, `string` or `list<u8>` |
/// | `(s32, s32)`, `(s64, s64)`, `(f64, f64)` | the same type |
///
/// Calls `visitor` with the shape of `params` and `results` when it is one
/// of them. Each shape is one instantiation of every visitor, so the list
/// is what the benchmarks and common interfaces use, not every pair.
pub fn dispatch<V: ShapeVisitor>(
    params: &[Type],
    results: &[Type],
    visitor: V,
) -> Option<V::Output> {
    // `$p` with one of the results `$r`, or no shape.
    macro_rules! shapes {
        ($p:ty => $($r:ty),*) => {
            if <$p>::matches(params) {
                $( if <$r>::matches(results) { return Some(visitor.visit::<$p, $r>()); } )*
                return None;
            }
        };
    }
    shapes!((u32, u32) => (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((u64, u64) => (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((u32,) => (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((u64,) => (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((Vec<u8>,) => (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!(() => (), (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((String,) => (), (u32,), (u64,), (String,), (Vec<u8>,));
    shapes!((i32, i32) => (i32,));
    shapes!((i64, i64) => (i64,));
    shapes!((f64, f64) => (f64,));
    None
}
