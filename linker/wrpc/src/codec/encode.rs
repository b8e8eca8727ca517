//! Encoding: a [`Val`] directed by its [`Type`] into the value-definition
//! bytes.

use wasmtime::component::{Type, Val};

use super::types::{type_name, unsupported, val_kind};
use super::CodecError;

/// Nesting deeper than this is refused when encoding (component types are
/// never that deep in practice; the bound keeps recursion off the stack's end).
const MAX_ENCODE_DEPTH: usize = 512;

/// Appends the encoding of `val`, a value of type `ty`, to `out`.
///
/// On error `out` is left as it was.
///
/// # Errors
/// [`CodecError`] when `val` is not of type `ty`, is nested too deep, or a list
/// or string is longer than wRPC can declare.
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
///
/// # Errors
/// As [`encode`], and a count of values other than of types.
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

/// Unsigned LEB128 of `v`, appended to `out`.
pub(crate) fn write_uleb(out: &mut Vec<u8>, v: u64) {
    let (bytes, len) = leb128fmt::encode_u64(v).expect("every u64 has a 64-bit encoding");
    out.extend_from_slice(&bytes[..len]);
}

/// Signed LEB128 of `v`, appended to `out`.
pub(crate) fn write_sleb(out: &mut Vec<u8>, v: i64) {
    let (bytes, len) = leb128fmt::encode_s64(v).expect("every i64 has a 64-bit encoding");
    out.extend_from_slice(&bytes[..len]);
}

pub(crate) fn write_len(out: &mut Vec<u8>, len: usize) -> Result<(), CodecError> {
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

// One arm per WIT type, each a few lines (the mirror of the decoder's).
#[allow(clippy::too_many_lines)]
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
