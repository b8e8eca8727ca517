//! Decoding: value-definition bytes, directed by a [`Type`], into a [`Val`];
//! bounded by [`Limits`] because the input is untrusted.

use wasmtime::component::{Type, Val};

use super::types::{min_encoded_len, unsupported};
use super::{CodecError, Limits};

/// `input` past it. Bytes after the value are left for the caller.
///
/// At most `limits.max_bytes` bytes are read. On error `input` is left as it
/// was; error offsets count from its start.
///
/// # Errors
/// [`CodecError`] at the byte offset where the input stops being a value of
/// type `ty`, or past `limits`.
pub fn decode(ty: &Type, input: &mut &[u8], limits: &Limits) -> Result<Val, CodecError> {
    let mut reader = Reader::new(input, limits);
    let val = reader.value(ty, 1)?;
    *input = &input[reader.pos..];
    Ok(val)
}

/// Decodes one value for each of `types` (for instance a function's
/// parameters), one after the other, and requires that they use all of
/// `input`.
///
/// # Errors
/// As [`decode`], and bytes left over.
pub fn decode_values(
    types: &[Type],
    input: &[u8],
    limits: &Limits,
) -> Result<Vec<Val>, CodecError> {
    decode_values_measured(types, input, limits).map(|(vals, _)| vals)
}

/// [`decode_values`], also returning the decoded values' memory as
/// [`super::footprint`] counts it (counted while they were built, within
/// [`Limits::max_footprint`]).
///
/// # Errors
/// As [`decode_values`].
pub fn decode_values_measured(
    types: &[Type],
    input: &[u8],
    limits: &Limits,
) -> Result<(Vec<Val>, usize), CodecError> {
    let mut reader = Reader::whole(input, limits)?;
    let mut vals = Vec::with_capacity(types.len());
    for ty in types {
        vals.push(reader.value(ty, 1)?);
    }
    reader.finish()?;
    Ok((vals, reader.footprint()))
}

/// A cursor over the input that knows the limits (also the typed fast
/// paths' reader, so both read with the same checks).
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    /// `min(input.len(), max_bytes)`: reading stops here.
    end: usize,
    limits: Limits,
    /// The memory of the values built so far, as [`super::footprint`]
    /// counts it.
    footprint: usize,
}

impl<'a> Reader<'a> {
    /// A reader of a whole message: refused at once when it is longer
    /// than `limits.max_bytes`, as [`decode_values`] refuses it.
    pub(crate) fn whole(input: &'a [u8], limits: &Limits) -> Result<Self, CodecError> {
        if input.len() > limits.max_bytes {
            return Err(CodecError::LimitExceeded {
                offset: limits.max_bytes,
                max_bytes: limits.max_bytes,
            });
        }
        Ok(Reader::new(input, limits))
    }

    /// Checks that the message was read to its end.
    pub(crate) fn finish(&self) -> Result<(), CodecError> {
        if self.pos != self.input.len() {
            return Err(CodecError::TrailingBytes {
                offset: self.pos,
                count: self.input.len() - self.pos,
            });
        }
        Ok(())
    }

    /// An `f64`, its NaNs canonical.
    pub(crate) fn f64(&mut self) -> Result<f64, CodecError> {
        let bytes = self.take(8, "f64")?;
        let v = f64::from_le_bytes(bytes.try_into().expect("eight bytes"));
        Ok(if v.is_nan() { f64::NAN } else { v })
    }

    /// A `list<u8>`: its count, checked against what remains before
    /// anything is allocated, then its bytes in one copy.
    pub(crate) fn bytes(&mut self) -> Result<Vec<u8>, CodecError> {
        let count = self.u32("list length")? as usize;
        self.check_count(count, &Type::U8)?;
        Ok(self.take(count, "u8")?.to_vec())
    }

    fn new(input: &'a [u8], limits: &Limits) -> Self {
        Reader {
            input,
            pos: 0,
            end: input.len().min(limits.max_bytes),
            limits: *limits,
            footprint: 0,
        }
    }

    /// The memory of the values decoded so far.
    pub(crate) fn footprint(&self) -> usize {
        self.footprint
    }

    /// Counts `bytes` more of decoded memory, refused past the cap.
    fn grow(&mut self, bytes: usize) -> Result<(), CodecError> {
        let total = self.footprint.saturating_add(bytes);
        if total > self.limits.max_footprint {
            return Err(CodecError::FootprintExceeded {
                offset: self.pos,
                max_footprint: self.limits.max_footprint,
            });
        }
        self.footprint = total;
        Ok(())
    }

    /// Whether `more` bytes would still fit under the cap (nothing counted).
    fn room_for(&self, more: usize) -> Result<(), CodecError> {
        if self.footprint.saturating_add(more) > self.limits.max_footprint {
            return Err(CodecError::FootprintExceeded {
                offset: self.pos,
                max_footprint: self.limits.max_footprint,
            });
        }
        Ok(())
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
    pub(crate) fn uleb(&mut self, bits: u32, ty: &'static str) -> Result<u64, CodecError> {
        self.leb::<false>(bits, ty)
    }

    /// Signed LEB128 of an `bits`-bit integer (`core:sN`): at most ⌈bits/7⌉
    /// bytes, and the unused bits of the last possible byte must repeat the
    /// sign bit.
    pub(crate) fn sleb(&mut self, bits: u32, ty: &'static str) -> Result<i64, CodecError> {
        self.leb::<true>(bits, ty).map(|v| v as i64)
    }

    /// The one LEB128 reader of the codec; `SIGNED` decides what the last
    /// possible byte may carry and whether the value is sign-extended (as
    /// two's complement bits in a `u64`).
    #[inline]
    fn leb<const SIGNED: bool>(&mut self, bits: u32, ty: &'static str) -> Result<u64, CodecError> {
        let start = self.pos;
        let max_len = bits.div_ceil(7);
        let mut value = 0u64;
        for i in 0..max_len {
            let byte = self.byte(ty)?;
            let low = u64::from(byte & 0x7f);
            let shift = 7 * i;
            if i == max_len - 1 {
                let used = bits - shift; // value bits this byte may carry: 1..=7
                let fits = if SIGNED {
                    // Bit `used - 1` is the sign; the bits above repeat it.
                    let upper = low >> (used - 1);
                    upper == 0 || upper == 0x7f >> (used - 1)
                } else {
                    low >> used == 0
                };
                if byte & 0x80 != 0 || !fits {
                    return Err(CodecError::InvalidLeb128 { offset: start, ty });
                }
            }
            value |= low << shift;
            if byte & 0x80 == 0 {
                let consumed = shift + 7;
                if SIGNED && consumed < 64 && byte & 0x40 != 0 {
                    value |= !0u64 << consumed;
                }
                return Ok(value);
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

    // One arm per WIT type, each a few lines: split, the codec would be
    // scattered over functions that each decode one type's shape.
    #[allow(clippy::too_many_lines)]
    fn value(&mut self, ty: &Type, depth: usize) -> Result<Val, CodecError> {
        if depth > self.limits.max_depth {
            return Err(CodecError::DepthExceeded {
                offset: self.pos,
                max_depth: self.limits.max_depth,
            });
        }
        // Every value is one node; a list's elements are nodes of their own
        // (inside the list's allocation), as `footprint` counts them.
        self.grow(std::mem::size_of::<Val>())?;
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
            Type::Float64 => Val::Float64(self.f64()?),
            Type::Char => Val::Char(self.char()?),
            Type::String => {
                let s = self.string()?;
                self.grow(s.capacity())?;
                Val::String(s)
            }
            Type::List(list) => {
                let count = self.u32("list length")? as usize;
                let elem_ty = list.ty();
                self.check_count(count, &elem_ty)?;
                self.room_for(count.saturating_mul(std::mem::size_of::<Val>()))?;
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
                    // The name is cloned into every record: counted too.
                    self.grow(
                        std::mem::size_of::<(String, Val)>() + field.name.len()
                            - std::mem::size_of::<Val>(),
                    )?;
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
                self.grow(case.name.len())?;
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
                self.grow(name.len())?;
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
                let set: Vec<String> = names
                    .enumerate()
                    .filter(|(i, _)| bits[i / 8] & (1 << (i % 8)) != 0)
                    .map(|(_, name)| name.to_string())
                    .collect();
                self.grow(
                    set.iter()
                        .map(|n| std::mem::size_of::<String>() + n.len())
                        .sum(),
                )?;
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

    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
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
