//! `[component.]function(args)` in WAVE syntax: parsing a call, reading its
//! arguments against the function's parameter types, and printing results.
//!
//! ```
//! use weld_linker::runtime::invoke::Call;
//! let call = Call::parse_in("driver.run-add(1000)", &["driver", "adder"]).unwrap();
//! assert_eq!(call.component, "driver");
//! assert_eq!(call.function, "run-add");
//! // With one component, it may be left out.
//! let call = Call::parse_in("runner.run-add(1000)", &["driver"]).unwrap();
//! assert_eq!((call.component.as_str(), call.function.as_str()), ("driver", "runner.run-add"));
//! ```
//!
//! Each argument is read separately against its parameter's type, so an
//! error names the argument, shows its text and the expected type in full,
//! and says why the text does not fit:
//!
//! ```text
//! argument 3 (`y`) of `calculator.eval-expression`: `-2` is not a `u32`: a negative number
//! ```

use std::ops::Range;

use wasmtime::component::types::ComponentFunc;
use wasmtime::component::wasm_wave::ast::{Node, NodeType};
use wasmtime::component::wasm_wave::parser::{ParserError, ParserErrorKind};
use wasmtime::component::wasm_wave::untyped::{UntypedFuncCall, UntypedValue};
use wasmtime::component::{Func, Type, Val};
use wasmtime::AsContext;

use crate::wrpc::codec::type_name;

/// Why a call's text is not `[component.]function(args)`, or its arguments
/// do not fit the function.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
// The parser errors are boxed so the `Result`s stay small.
pub enum InvokeError {
    /// No `(` in the text.
    #[error("`{text}`: expected `component.function(args)`, e.g. `driver.run-add(1000)`")]
    NoArguments { text: String },
    /// The text does not end with `)`.
    #[error("`{text}`: the argument list must end with `)`")]
    Unclosed { text: String },
    /// The text names no component, and the deployment has several (or
    /// none were given, with [`Call::parse`]).
    #[error(
        "`{text}`: name the component: `component.function(args)`{}",
        if components.is_empty() { String::new() } else { format!(", one of {}", quoted(components)) }
    )]
    NoComponent {
        text: String,
        /// The deployment's components (empty with [`Call::parse`]).
        components: Vec<String>,
    },
    /// The component or the function name is empty.
    #[error("`{text}`: expected `component.function(args)`")]
    EmptyName { text: String },
    /// Too few or too many arguments.
    #[error(
        "`{component}.{function}({signature})` expects {}, got {got}",
        count_arguments(*required, *expected)
    )]
    Arity {
        component: String,
        function: String,
        /// The parameters, `name: type` separated by commas, types in full.
        signature: String,
        /// How many parameters the function has.
        expected: usize,
        /// How many must be given: trailing `option` parameters may be left
        /// out (they are `none`).
        required: usize,
        /// How many arguments the call has.
        got: usize,
    },
    /// An argument is not WAVE: a syntax error inside it.
    #[error("{argument}: syntax error at column {column}: {reason}")]
    Syntax {
        argument: Box<ArgumentAt>,
        /// 1-based column, in characters, inside the argument's text.
        column: usize,
        reason: String,
        /// Wave's error; its span is relative to the argument's text.
        #[source]
        source: Box<ParserError>,
    },
    /// The argument list is not WAVE, and no one argument is at fault.
    #[error("cannot parse the arguments `({args})` of `{component}.{function}`: syntax error at column {column}: {reason}")]
    ArgumentList {
        component: String,
        function: String,
        args: String,
        /// 1-based column, in characters, inside `args`.
        column: usize,
        reason: String,
        /// Wave's error; its span is relative to `f(args)`.
        #[source]
        source: Box<ParserError>,
    },
    /// An argument is WAVE but not a value of its parameter's type.
    #[error("{argument}: {reason}")]
    Argument {
        argument: Box<ArgumentAt>,
        /// Why the text is not a value of the expected type; for a part of
        /// the value, which part (`field `age`: `300` is not a `u8`: …`).
        reason: String,
        /// Wave's error, when wave refused a value weld's own check let
        /// through.
        #[source]
        source: Option<Box<ParserError>>,
    },
}

/// The argument an [`InvokeError::Argument`] or [`InvokeError::Syntax`] is
/// about. Displays as ``argument 3 (`y`) of `calc.eval-expression`: `-2` is
/// not a `u32` ``.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentAt {
    pub component: String,
    pub function: String,
    /// 1-based.
    pub position: usize,
    /// The parameter's name.
    pub name: String,
    /// The argument as written.
    pub text: String,
    /// The parameter's type, in full (`enum { add, sub }`).
    pub expected: String,
}

impl std::fmt::Display for ArgumentAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "argument {} (`{}`) of `{}.{}`: `{}` is not {} `{}`",
            self.position,
            self.name,
            self.component,
            self.function,
            self.text,
            article(&self.expected),
            self.expected
        )
    }
}

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The component (manifest name).
    pub component: String,
    /// The function: `run-add`, `runner.run-add` or
    /// `demo:math/runner@0.1.0#run-add`.
    pub function: String,
    /// The argument list as written, without the parentheses.
    pub args: String,
}

/// What the argument list is wrapped in for wave's call parser.
const WRAPPER: &str = "f(";

impl Call {
    /// Parses `component.function(args)`, the component always named.
    /// Prefer [`Call::parse_in`], which knows the deployment's components
    /// and lets the component be left out.
    pub fn parse(text: &str) -> Result<Call, InvokeError> {
        let (text, target, args) = split_call(text)?;
        let (component, function) =
            target
                .split_once('.')
                .ok_or_else(|| InvokeError::NoComponent {
                    text: text.to_string(),
                    components: Vec::new(),
                })?;
        Call::new(text, component, function, args)
    }

    /// Parses `[component.]function(args)` (WAVE arguments) for a
    /// deployment whose components are `components`.
    ///
    /// The text before `(` is `[component.]function`. The component is the
    /// text before the first `.` when that text names one of the
    /// deployment's components; otherwise, when the deployment has exactly
    /// one component, the whole text is the function; otherwise it is an
    /// error that lists the components. The function is a bare name
    /// (`run-add`), `interface.function` (`runner.run-add`), or the full
    /// `namespace:package/interface@version#function`
    /// (`demo:math/runner@0.1.0#run-add`): `#` separates the interface from
    /// the function, so the dots of a version are never read as a
    /// separator.
    ///
    /// ```
    /// use weld_linker::runtime::invoke::Call;
    /// for text in [
    ///     "eval-expression(add, 1, 2)",
    ///     "calc.eval-expression(add, 1, 2)",
    ///     "demo:calc/calculate@0.1.0#eval-expression(add, 1, 2)",
    /// ] {
    ///     let call = Call::parse_in(text, &["calc"]).unwrap();
    ///     assert_eq!(call.component, "calc");
    ///     assert!(call.function.ends_with("eval-expression"));
    ///     assert_eq!(call.args, "add, 1, 2");
    /// }
    /// let error = Call::parse_in("run(1)", &["a", "b"]).unwrap_err();
    /// assert!(error.to_string().contains("one of `a`, `b`"));
    /// ```
    pub fn parse_in(text: &str, components: &[impl AsRef<str>]) -> Result<Call, InvokeError> {
        let (text, target, args) = split_call(text)?;
        let named = target
            .split_once('.')
            .filter(|(c, _)| components.iter().any(|n| n.as_ref() == *c));
        let (component, function) = match (named, components) {
            (Some(pair), _) => pair,
            (None, [only]) => (only.as_ref(), target),
            (None, _) => {
                return Err(InvokeError::NoComponent {
                    text: text.to_string(),
                    components: components.iter().map(|c| c.as_ref().to_string()).collect(),
                })
            }
        };
        Call::new(text, component, function, args)
    }

    fn new(text: &str, component: &str, function: &str, args: &str) -> Result<Call, InvokeError> {
        if component.is_empty() || function.is_empty() {
            return Err(InvokeError::EmptyName {
                text: text.to_string(),
            });
        }
        Ok(Call {
            component: component.to_string(),
            function: function.to_string(),
            args: args.to_string(),
        })
    }

    /// Reads the arguments against `func`'s parameter types.
    pub fn params(&self, store: impl AsContext, func: &Func) -> Result<Vec<Val>, InvokeError> {
        self.params_for(&func.ty(&store))
    }

    /// Reads the arguments against the parameter types of `ty`: one value
    /// per parameter. Trailing `option` parameters may be left out (they are
    /// `none`).
    pub fn params_for(&self, ty: &ComponentFunc) -> Result<Vec<Val>, InvokeError> {
        let params: Vec<(&str, Type)> = ty.params().collect();
        let source = format!("{WRAPPER}{})", self.args);
        let call = match UntypedFuncCall::parse(&source) {
            Ok(call) => call,
            Err(error) => return Err(self.syntax_error(&params, error)),
        };
        let nodes: Vec<&Node> = match call.params_node() {
            // Wave parses the argument list as a tuple.
            Some(node) => node.as_tuple().map(Iterator::collect).unwrap_or_default(),
            None => Vec::new(),
        };
        self.check_arity(&params, nodes.len())?;
        params
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| match nodes.get(i) {
                Some(node) => self.argument(i, name, ty, node, &source),
                // `check_arity` let it out: a trailing option.
                None => Ok(Val::Option(None)),
            })
            .collect()
    }

    /// Converts argument `index` (0-based) of the parsed `f(args)`.
    fn argument(
        &self,
        index: usize,
        name: &str,
        ty: &Type,
        node: &Node,
        source: &str,
    ) -> Result<Val, InvokeError> {
        let error = |reason: String, wave: Option<Box<ParserError>>| InvokeError::Argument {
            argument: Box::new(self.argument_at(
                index,
                name,
                ty,
                source_text(source_of(node.span()), &self.args),
            )),
            reason,
            source: wave,
        };
        if let Err(problem) = check(node, ty, source) {
            return Err(error(problem.render(source), None));
        }
        node.to_wasm_value::<Val>(ty, source).map_err(|e| {
            let mut reason = wave_reason(&e);
            if e.span() != node.span() {
                reason = format!("`{}`: {reason}", source_text(e.span(), source));
            }
            error(reason, Some(Box::new(e)))
        })
    }

    fn argument_at(&self, index: usize, name: &str, ty: &Type, text: &str) -> ArgumentAt {
        ArgumentAt {
            component: self.component.clone(),
            function: self.function.clone(),
            position: index + 1,
            name: name.to_string(),
            text: text.to_string(),
            expected: type_name(ty),
        }
    }

    fn check_arity(&self, params: &[(&str, Type)], got: usize) -> Result<(), InvokeError> {
        let optional = params
            .iter()
            .rev()
            .take_while(|(_, t)| matches!(t, Type::Option(_)))
            .count();
        let required = params.len() - optional;
        if (required..=params.len()).contains(&got) {
            return Ok(());
        }
        Err(InvokeError::Arity {
            component: self.component.clone(),
            function: self.function.clone(),
            signature: signature(params),
            expected: params.len(),
            required,
            got,
        })
    }

    /// The error for an argument list wave cannot parse: the first argument
    /// that does not parse on its own, with the column inside it.
    fn syntax_error(&self, params: &[(&str, Type)], whole: ParserError) -> InvokeError {
        let pieces = split_arguments(&self.args);
        for (i, range) in pieces.iter().enumerate() {
            let text = &self.args[range.clone()];
            let Err(error) = UntypedValue::parse(text) else {
                continue;
            };
            let Some((name, ty)) = params.get(i) else {
                break;
            };
            return InvokeError::Syntax {
                argument: Box::new(self.argument_at(i, name, ty, text)),
                column: column(text, error.span().start),
                reason: if text.is_empty() {
                    "the argument is empty".to_string()
                } else {
                    syntax_reason(&error, text)
                },
                source: Box::new(error),
            };
        }
        if let Err(arity) = self.check_arity(params, pieces.len()) {
            return arity;
        }
        let source = format!("{WRAPPER}{})", self.args);
        let start = whole.span().start.saturating_sub(WRAPPER.len());
        InvokeError::ArgumentList {
            component: self.component.clone(),
            function: self.function.clone(),
            args: self.args.clone(),
            column: column(&self.args, start),
            reason: syntax_reason(&whole, &source),
            source: Box::new(whole),
        }
    }
}

/// Splits `component.function(args)` into the trimmed text, the target
/// before `(` and the arguments inside the parentheses.
fn split_call(text: &str) -> Result<(&str, &str, &str), InvokeError> {
    let text = text.trim();
    let open = text.find('(').ok_or_else(|| InvokeError::NoArguments {
        text: text.to_string(),
    })?;
    if !text.ends_with(')') {
        return Err(InvokeError::Unclosed {
            text: text.to_string(),
        });
    }
    Ok((text, &text[..open], &text[open + 1..text.len() - 1]))
}

/// A span of `f(args)` as a span of `args`.
fn source_of(span: Range<usize>) -> Range<usize> {
    span.start.saturating_sub(WRAPPER.len())..span.end.saturating_sub(WRAPPER.len())
}

/// `text[span]`, or all of `text` when the span does not fit it.
fn source_text(span: Range<usize>, text: &str) -> &str {
    text.get(span).unwrap_or(text)
}

/// The 1-based column, in characters, of byte `offset` of `text`.
fn column(text: &str, offset: usize) -> usize {
    let mut at = offset.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text[..at].chars().count() + 1
}

/// The top-level arguments of an argument list, trimmed: split at the commas
/// outside brackets, strings, chars and comments. A trailing comma ends the
/// list without an empty last argument. Only used on text wave could not
/// parse, so it recovers from broken literals and brackets as best it can.
fn split_arguments(args: &str) -> Vec<Range<usize>> {
    let bytes = args.as_bytes();
    let mut cuts = Vec::new();
    // The closing brackets awaited, innermost last. A closing bracket closes
    // the innermost open one of its kind and any left open inside it
    // (`{y: [2}`); one that matches none is ignored.
    let mut open = Vec::new();
    let mut i = 0;
    // The end of a quoted literal starting at `from` (after the opening
    // quote): after the closing `quote`, or at the end of the line.
    let literal_end = |from: usize, quote: u8| {
        let mut j = from;
        while j < bytes.len() && bytes[j] != b'\n' {
            match bytes[j] {
                b'\\' => j += 2,
                b if b == quote => return j + 1,
                _ => j += 1,
            }
        }
        j.min(bytes.len())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'(' => open.push(b')'),
            b'[' => open.push(b']'),
            b'{' => open.push(b'}'),
            close @ (b')' | b']' | b'}') => {
                if let Some(at) = open.iter().rposition(|t| *t == close) {
                    open.truncate(at);
                }
            }
            b',' if open.is_empty() => cuts.push(i..i + 1),
            b'"' if args[i..].starts_with("\"\"\"") => {
                i = args[i + 3..]
                    .find("\"\"\"")
                    .map_or(args.len(), |at| i + 3 + at + 3);
                continue;
            }
            b'"' => {
                i = literal_end(i + 1, b'"');
                continue;
            }
            // A char is one character or one escape; a lone `'` is skipped.
            b'\'' => {
                let one = args[i + 1..].chars().next().map_or(0, char::len_utf8);
                if bytes.get(i + 1) == Some(&b'\\') {
                    i = literal_end(i + 1, b'\'');
                    continue;
                }
                if one > 0 && bytes.get(i + 1 + one) == Some(&b'\'') {
                    i += one + 2;
                    continue;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = args[i..].find('\n').map_or(args.len(), |at| i + at);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in &cuts {
        pieces.push(start..cut.start);
        start = cut.end;
    }
    pieces.push(start..args.len());
    let trimmed: Vec<Range<usize>> = pieces
        .into_iter()
        .map(|r| {
            let piece = &args[r.clone()];
            let lead = piece.len() - piece.trim_start().len();
            r.start + lead..r.start + lead + piece.trim().len()
        })
        .collect();
    match trimmed.last() {
        // `()` and `(1, 2,)`.
        Some(last) if last.is_empty() && (cuts.is_empty() || trimmed.len() > 1) => {
            trimmed[..trimmed.len() - 1].to_vec()
        }
        _ => trimmed,
    }
}

/// Why wave's parser refused `text` (which the error's span points into),
/// in words.
fn syntax_reason(error: &ParserError, text: &str) -> String {
    let at = text.get(error.span()).unwrap_or("");
    match error.kind() {
        ParserErrorKind::UnexpectedEnd => {
            "it ends too early (an unclosed bracket or quote?)".to_string()
        }
        ParserErrorKind::InvalidToken if at.starts_with('"') => "an unterminated string".into(),
        ParserErrorKind::InvalidToken if at.starts_with('\'') => {
            "an invalid char (one character or one escape such as `\\n` between `'`s)".into()
        }
        ParserErrorKind::InvalidToken => format!("`{at}` is not WAVE"),
        ParserErrorKind::UnexpectedToken => format!("unexpected `{at}`"),
        ParserErrorKind::TrailingCharacters if at == "(" => {
            let value = text.get(..error.span().start).unwrap_or("").trim();
            format!("unexpected `(`: `{value}` takes no payload")
        }
        ParserErrorKind::TrailingCharacters if matches!(at, ")" | "]" | "}") => {
            format!("an unmatched `{at}`")
        }
        ParserErrorKind::TrailingCharacters => {
            format!("unexpected `{at}` after the value (a missing comma?)")
        }
        ParserErrorKind::EmptyTuple => "an empty tuple `()`".into(),
        ParserErrorKind::DuplicateField => format!("the field `{at}` is given twice"),
        ParserErrorKind::DuplicateFlag => format!("the flag `{at}` is given twice"),
        ParserErrorKind::NestingTooDeep => "nested too deeply".into(),
        _ => wave_reason(error),
    }
}

/// Wave's error without its span.
fn wave_reason(error: &ParserError) -> String {
    match (error.detail(), std::error::Error::source(error)) {
        (Some(detail), _) => format!("{}: {detail}", error.kind()),
        (None, Some(source)) => format!("{}: {source}", error.kind()),
        (None, None) => error.kind().to_string(),
    }
}

/// `name: type, …`, the types in full.
fn signature(params: &[(&str, Type)]) -> String {
    params
        .iter()
        .map(|(n, t)| format!("{n}: {}", type_name(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `3 arguments`, `1 argument`, `2 to 3 arguments`.
fn count_arguments(required: usize, expected: usize) -> String {
    let noun = |n: usize| if n == 1 { "argument" } else { "arguments" };
    if required == expected {
        format!("{expected} {}", noun(expected))
    } else {
        format!(
            "{required} to {expected} {} (trailing options may be left out)",
            noun(expected)
        )
    }
}

/// `a` or `an` before a type name: `an s32`, `an enum { … }`, `a u32`.
fn article(type_name: &str) -> &'static str {
    let mut chars = type_name.chars();
    match (chars.next(), chars.next()) {
        (Some('a' | 'e' | 'i' | 'o'), _) => "an",
        (Some('s' | 'f'), Some(d)) if d.is_ascii_digit() => "an",
        _ => "a",
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a value (part of an argument) does not fit its type.
struct Problem {
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

    fn render(&self, source: &str) -> String {
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
fn check(node: &Node, ty: &Type, src: &str) -> Result<(), Problem> {
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

/// WAVE text of results: one value, or a tuple-like list.
pub fn format_results(results: &[Val]) -> String {
    let parts: Vec<String> = results
        .iter()
        .map(|v| v.to_wave().unwrap_or_else(|e| format!("<{e}>")))
        .collect();
    match parts.len() {
        0 => "()".into(),
        1 => parts.into_iter().next().unwrap(),
        _ => format!("({})", parts.join(", ")),
    }
}

#[cfg(test)]
mod tests;
