//! The WAVE type checker behind the argument errors: walks an argument's
//! syntax tree against its parameter's type and says, for the first value
//! that does not fit, where it is (field, element, case) and why.

use super::article;
use super::split::source_text;
use crate::wrpc::codec::type_name;
use std::ops::Range;
use wasmtime::component::wasm_wave::ast::{Node, NodeType};
use wasmtime::component::wasm_wave::parser::ParserErrorKind;
use wasmtime::component::Type;

/// Why a value (part of an argument) does not fit its type.
pub(super) struct Problem {
    /// From the argument down to the value at fault: `field `age``,
    /// `element 2`, …; empty when the argument itself is at fault.
    path: Vec<String>,
    /// The value at fault, in `f(args)`.
    span: Range<usize>,
    /// Its expected type.
    ty: Type,
    reason: String,
}

impl Problem {
    fn new(node: &Node, ty: &Type, reason: impl Into<String>) -> Problem {
        Problem {
            path: Vec::new(),
            span: node.span(),
            ty: ty.clone(),
            reason: reason.into(),
        }
    }

    fn within(mut self, step: String) -> Problem {
        self.path.insert(0, step);
        self
    }

    pub(super) fn render(&self, source: &str) -> String {
        if self.path.is_empty() {
            return self.reason.clone();
        }
        let expected = type_name(&self.ty);
        format!(
            "{}: `{}` is not {} `{expected}`: {}",
            self.path.join(": "),
            source_text(self.span.clone(), source),
            article(&expected),
            self.reason
        )
    }
}

/// Checks that `node` is a value of `ty`, as wave's conversion will read
/// it, and says why not. Stricter than wave in one way: a record field the
/// type does not have is an error (wave drops it).
pub(super) fn check(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
    let fail = |reason: &str| Err(Problem::new(node, ty, reason));
    match ty {
        Type::Bool
        | Type::Float32
        | Type::Float64
        | Type::Char
        | Type::String
        | Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::S8
        | Type::S16
        | Type::S32
        | Type::S64 => check_scalar(node, ty, src),
        Type::List(list) => match node.ty() {
            NodeType::List => children(node).iter().enumerate().try_for_each(|(i, n)| {
                check(n, &list.ty(), src).map_err(|p| p.within(format!("element {}", i + 1)))
            }),
            _ => fail(&format!(
                "{}, not a list (a list is written `[a, b]`)",
                describe(node, src)
            )),
        },
        Type::Record(_) => check_record(node, ty, src),
        Type::Tuple(tuple) => check_tuple(node, ty, &tuple.types().collect::<Vec<_>>(), src),
        Type::Variant(_) | Type::Enum(_) | Type::Flags(_) => check_named(node, ty, src),
        Type::Option(_) | Type::Result(_) => check_option_or_result(node, ty, src),
        Type::FixedLengthList(_) => {
            fail("a fixed-length list cannot be written in WAVE (wasm-wave has no syntax for it)")
        }
        Type::Own(_) | Type::Borrow(_) => fail("a resource handle cannot be written as text"),
        Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            fail("futures, streams and error-contexts cannot be written as text")
        }
        Type::Map(_) => fail("a map cannot be written in WAVE (wasm-wave has no syntax for it)"),
    }
}

/// Bools, numbers, chars and strings.
fn check_scalar(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
    let fail = |reason: String| Err(Problem::new(node, ty, reason));
    let text = &src[node.span()];
    match ty {
        Type::Bool => match node.ty() {
            NodeType::BoolTrue | NodeType::BoolFalse => Ok(()),
            _ => fail(format!("{}, not `true` or `false`", describe(node, src))),
        },
        Type::U8 => integer(node, ty, src, "u8", 0, u8::MAX.into()),
        Type::U16 => integer(node, ty, src, "u16", 0, u16::MAX.into()),
        Type::U32 => integer(node, ty, src, "u32", 0, u32::MAX.into()),
        Type::U64 => integer(node, ty, src, "u64", 0, u64::MAX.into()),
        Type::S8 => integer(node, ty, src, "s8", i8::MIN.into(), i8::MAX.into()),
        Type::S16 => integer(node, ty, src, "s16", i16::MIN.into(), i16::MAX.into()),
        Type::S32 => integer(node, ty, src, "s32", i32::MIN.into(), i32::MAX.into()),
        Type::S64 => integer(node, ty, src, "s64", i64::MIN.into(), i64::MAX.into()),
        Type::Float32 | Type::Float64 => match node.ty() {
            NodeType::Number if text.parse::<f64>().is_ok() => Ok(()),
            NodeType::Number => fail("not a number".into()),
            _ => fail(format!("{}, not a number", describe(node, src))),
        },
        Type::Char => match node.ty() {
            NodeType::Char => node
                .as_char(src)
                .map(drop)
                .or_else(|e| fail(char_reason(e.kind()))),
            _ => fail(format!(
                "{}, not a char (a char is written `'x'`)",
                describe(node, src)
            )),
        },
        _ => match node.ty() {
            NodeType::String | NodeType::MultilineString => node
                .as_str(src)
                .map(drop)
                .or_else(|e| fail(char_reason(e.kind()))),
            NodeType::Label => fail(format!(
                "an unquoted name, not a string (a string is quoted: `\"{text}\"`)"
            )),
            _ => fail(format!(
                "{}, not a string (a string is written `\"…\"`)",
                describe(node, src)
            )),
        },
    }
}

/// A record: no unknown field, none missing (but options), each field's
/// value of its type.
fn check_record(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
    let Type::Record(record) = ty else {
        unreachable!("a record type")
    };
    let Ok(given) = node.as_record(src) else {
        return Err(Problem::new(
            node,
            ty,
            format!(
                "{}, not a record (a record is written `{{name: value, …}}`{})",
                describe(node, src),
                if node.ty() == NodeType::Flags {
                    ", an empty one `{:}`"
                } else {
                    ""
                }
            ),
        ));
    };
    let given: Vec<(&str, &Node)> = given.collect();
    let fields: Vec<_> = record.fields().collect();
    let mut wrong: Vec<String> = given
        .iter()
        .filter(|(name, _)| !fields.iter().any(|f| f.name == *name))
        .map(|(name, _)| format!("unknown field `{name}`"))
        .collect();
    wrong.extend(
        fields
            .iter()
            .filter(|f| !matches!(f.ty, Type::Option(_)))
            .filter(|f| !given.iter().any(|(name, _)| *name == f.name))
            .map(|f| format!("missing field `{}`", f.name)),
    );
    if !wrong.is_empty() {
        return Err(Problem::new(node, ty, wrong.join(", ")));
    }
    given.iter().try_for_each(|(name, value)| {
        let field = fields.iter().find(|f| f.name == *name).expect("checked");
        check(value, &field.ty, src).map_err(|p| p.within(format!("field `{name}`")))
    })
}

/// A tuple of `types`.
fn check_tuple(node: &Node, ty: &Type, types: &[Type], src: &str) -> Result<(), Problem> {
    let fail = |reason: String| Err(Problem::new(node, ty, reason));
    if node.ty() != NodeType::Tuple {
        return fail(format!(
            "{}, not a tuple (a tuple is written `(a, b)`)",
            describe(node, src)
        ));
    }
    let values = children(node);
    if values.len() != types.len() {
        return fail(format!("{} elements, not {}", values.len(), types.len()));
    }
    values
        .iter()
        .zip(types)
        .enumerate()
        .try_for_each(|(i, (n, t))| {
            check(n, t, src).map_err(|p| p.within(format!("element {}", i + 1)))
        })
}

/// Variants, enums and flags: values named by their cases.
fn check_named(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
    let fail = |reason: String| Err(Problem::new(node, ty, reason));
    match ty {
        Type::Variant(variant) => {
            let cases: Vec<(String, Option<Type>)> = variant
                .cases()
                .map(|c| (c.name.to_string(), c.ty))
                .collect();
            let Ok((label, payload)) = node.as_variant(src) else {
                return fail(not_a_case(node, src, cases.iter().map(|(n, _)| n.as_str())));
            };
            let Some((_, payload_ty)) = cases.iter().find(|(n, _)| n == label) else {
                let names: Vec<String> = cases
                    .iter()
                    .map(|(n, t)| match t {
                        Some(t) => format!("{n}({})", type_name(t)),
                        None => n.clone(),
                    })
                    .collect();
                return fail(format!(
                    "`{label}` is not one of its cases: {}",
                    names.join(", ")
                ));
            };
            payload_fits(node, ty, src, label, payload_ty.as_ref(), payload)
        }
        Type::Enum(en) => {
            let cases: Vec<&str> = en.names().collect();
            match node.ty() {
                NodeType::Label => {
                    let text = &src[node.span()];
                    let label = text.strip_prefix('%').unwrap_or(text);
                    if cases.contains(&label) {
                        Ok(())
                    } else {
                        fail(format!(
                            "`{label}` is not one of its cases: {}",
                            cases.join(", ")
                        ))
                    }
                }
                NodeType::VariantWithPayload => fail("an enum case takes no payload".into()),
                _ => fail(not_a_case(node, src, cases.iter().copied())),
            }
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            let Ok(given) = node.as_flags(src) else {
                return fail(format!(
                    "{}, not flags (flags are written `{{a, b}}`)",
                    describe(node, src)
                ));
            };
            let unknown: Vec<String> = given
                .map(|f| f.strip_prefix('%').unwrap_or(f))
                .filter(|f| !names.contains(f))
                .map(|f| format!("`{f}`"))
                .collect();
            if unknown.is_empty() {
                return Ok(());
            }
            fail(format!(
                "{} {} not one of its flags: {}",
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                names.join(", ")
            ))
        }
        _ => unreachable!("a variant, enum or flags type"),
    }
}

/// Options and results, written `some(…)`/`none`, `ok(…)`/`err(…)`, or as
/// the bare payload when that is not itself an option or a result.
fn check_option_or_result(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
    let fail = |reason: String| Err(Problem::new(node, ty, reason));
    let flattens = |t: &Type| !matches!(t, Type::Option(_) | Type::Result(_));
    match ty {
        Type::Option(option) => {
            let inner = option.ty();
            match node.as_option() {
                Ok(Some(payload)) => check(payload, &inner, src)
                    .map_err(|p| p.within("the `some` payload".to_string())),
                Ok(None) => Ok(()),
                Err(_) if flattens(&inner) => check(node, &inner, src),
                Err(_) => fail(format!("{}, not `some(…)` or `none`", describe(node, src))),
            }
        }
        Type::Result(result) => {
            let (ok, err) = (result.ok(), result.err());
            match node.as_result() {
                Ok(Ok(payload)) => payload_fits(node, ty, src, "ok", ok.as_ref(), payload),
                Ok(Err(payload)) => payload_fits(node, ty, src, "err", err.as_ref(), payload),
                Err(_) => match ok {
                    Some(ok) if flattens(&ok) => check(node, &ok, src),
                    _ => fail(format!("{}, not `ok(…)` or `err(…)`", describe(node, src))),
                },
            }
        }
        _ => unreachable!("an option or result type"),
    }
}

/// The children of a list or tuple node.
fn children(node: &Node) -> Vec<&Node> {
    match node.ty() {
        NodeType::List => node.as_list().map(Iterator::collect).unwrap_or_default(),
        _ => node.as_tuple().map(Iterator::collect).unwrap_or_default(),
    }
}

/// An integer of the type named `name`, `min..=max`.
fn integer(
    node: &Node,
    ty: &Type,
    src: &str,
    name: &str,
    min: i128,
    max: i128,
) -> Result<(), Problem> {
    let fail = |reason: String| Err(Problem::new(node, ty, reason));
    if node.ty() != NodeType::Number {
        return fail(format!("{}, not a number", describe(node, src)));
    }
    let text = &src[node.span()];
    let integral = text
        .strip_prefix('-')
        .unwrap_or(text)
        .bytes()
        .all(|b| b.is_ascii_digit());
    if !integral {
        return fail("not an integer".into());
    }
    if min == 0 && text.starts_with('-') {
        return fail("a negative number".into());
    }
    match text.parse::<i128>() {
        Ok(v) if (min..=max).contains(&v) => Ok(()),
        _ => fail(format!("out of range for {name} ({min}..={max})")),
    }
}

/// Why a char or string literal does not decode.
fn char_reason(kind: ParserErrorKind) -> String {
    match kind {
        ParserErrorKind::InvalidEscape => "an invalid escape (`\\n`, `\\t`, `\\u{…}` …)".into(),
        ParserErrorKind::MultipleChars => "more than one character".into(),
        other => other.to_string(),
    }
}

/// A case's payload against the case's payload type.
fn payload_fits(
    node: &Node,
    ty: &Type,
    src: &str,
    case: &str,
    payload_ty: Option<&Type>,
    payload: Option<&Node>,
) -> Result<(), Problem> {
    match (payload_ty, payload) {
        (Some(t), Some(p)) => {
            check(p, t, src).map_err(|p| p.within(format!("the `{case}` payload")))
        }
        (None, None) => Ok(()),
        (Some(t), None) => Err(Problem::new(
            node,
            ty,
            format!(
                "the case `{case}` needs a payload: `{case}({})`",
                type_name(t)
            ),
        )),
        (None, Some(_)) => Err(Problem::new(
            node,
            ty,
            format!("the case `{case}` takes no payload"),
        )),
    }
}

/// Why `node`, not a label, is not a case of an enum or variant whose cases
/// are `cases`: a case named like a WAVE keyword must be written `%name`.
fn not_a_case<'a>(node: &Node, src: &str, mut cases: impl Iterator<Item = &'a str>) -> String {
    let text = &src[node.span()];
    let word: String = text
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if !word.is_empty() && cases.any(|c| c == word) {
        format!("`{word}` is a WAVE keyword; write the case as `%{word}`")
    } else {
        format!("{}, not a case name", describe(node, src))
    }
}

/// What kind of WAVE value `node` is, for "…, not a number".
fn describe(node: &Node, src: &str) -> String {
    let text = &src[node.span()];
    match node.ty() {
        NodeType::BoolTrue | NodeType::BoolFalse => "a bool".into(),
        NodeType::Number => "a number".into(),
        NodeType::Char => "a char".into(),
        NodeType::String | NodeType::MultilineString => "a string".into(),
        NodeType::Tuple => "a tuple".into(),
        NodeType::List => "a list".into(),
        NodeType::Record => "a record".into(),
        NodeType::Label => format!("the name `{text}`"),
        NodeType::VariantWithPayload => "a case with a payload".into(),
        NodeType::OptionSome => "an option (`some`)".into(),
        NodeType::OptionNone => "an option (`none`)".into(),
        NodeType::ResultOk => "a result (`ok`)".into(),
        NodeType::ResultErr => "a result (`err`)".into(),
        NodeType::Flags => "flags".into(),
    }
}
