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

use wasmtime::component::types::ComponentFunc;
use wasmtime::component::wasm_wave::ast::Node;
use wasmtime::component::wasm_wave::parser::{ParserError, ParserErrorKind};
use wasmtime::component::wasm_wave::untyped::{UntypedFuncCall, UntypedValue};
use wasmtime::component::{Func, Type, Val};
use wasmtime::AsContext;

use crate::wrpc::codec::type_name;
use check::check;
use split::{column, source_of, source_text, split_arguments, split_call};

mod check;
mod split;

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
    ///
    /// # Errors
    /// [`InvokeError`] when the text is not `component.function(args)` or an
    /// argument is not WAVE.
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
    ///
    /// # Errors
    /// As [`Call::parse`], and a component that is not one of `components`.
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
    ///
    /// # Errors
    /// As [`Call::params_for`].
    pub fn params(&self, store: impl AsContext, func: &Func) -> Result<Vec<Val>, InvokeError> {
        self.params_for(&func.ty(&store))
    }

    /// Reads the arguments against the parameter types of `ty`: one value
    /// per parameter. Trailing `option` parameters may be left out (they are
    /// `none`).
    ///
    /// # Errors
    /// [`InvokeError`] naming the argument: too many or too few, or one that
    /// does not fit its parameter's type.
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

/// The fields of `weld run --json` with `--invoke` (in a
/// [`crate::json::Document`]).
#[derive(Debug, serde::Serialize)]
pub struct RunReport<'a> {
    /// The host run.
    pub host: &'a str,
    /// Each call, in order.
    pub calls: Vec<CallReport>,
}

/// One call of `weld run --json`.
#[derive(Debug, serde::Serialize)]
pub struct CallReport {
    /// The call's text, as given.
    pub call: String,
    /// `component.function`, the function's full name.
    pub function: String,
    /// The results in WAVE syntax.
    pub result: String,
    /// How long the call took, in microseconds.
    pub micros: f64,
}
