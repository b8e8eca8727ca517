//! `component.function(args)` in WAVE syntax: parsing a call and printing
//! results.
//!
//! ```
//! use weld_linker::runtime::invoke::Call;
//! let call = Call::parse("driver.run-add(1000)").unwrap();
//! assert_eq!(call.component, "driver");
//! assert_eq!(call.function, "run-add");
//! ```

use wasmtime::component::wasm_wave::parser::ParserError;
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Func, Val};
use wasmtime::AsContext;

use crate::wrpc::codec::type_name;

/// Why a call's text is not `component.function(args)`, or its arguments do
/// not fit the function.
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
    /// No `.` between the component and the function.
    #[error("`{text}`: name the component: `component.function(args)`")]
    NoComponent { text: String },
    /// The component or the function name is empty.
    #[error("`{text}`: expected `component.function(args)`")]
    EmptyName { text: String },
    /// The arguments are not WAVE.
    #[error("cannot parse the arguments `({args})`: {source}")]
    Syntax {
        args: String,
        #[source]
        source: Box<ParserError>,
    },
    /// The arguments are WAVE but not values of the parameter types.
    #[error("arguments `({args})` do not match `{component}.{function}({signature})`: {source}")]
    Mismatch {
        args: String,
        component: String,
        function: String,
        /// The parameters, `name: type` separated by commas.
        signature: String,
        #[source]
        source: Box<ParserError>,
    },
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

impl Call {
    /// Parses `component.function(args)`.
    pub fn parse(text: &str) -> Result<Call, InvokeError> {
        let text = text.trim();
        let owned = || text.to_string();
        let open = text
            .find('(')
            .ok_or_else(|| InvokeError::NoArguments { text: owned() })?;
        if !text.ends_with(')') {
            return Err(InvokeError::Unclosed { text: owned() });
        }
        let target = &text[..open];
        let (component, function) = target
            .split_once('.')
            .ok_or_else(|| InvokeError::NoComponent { text: owned() })?;
        if component.is_empty() || function.is_empty() {
            return Err(InvokeError::EmptyName { text: owned() });
        }
        Ok(Call {
            component: component.to_string(),
            function: function.to_string(),
            args: text[open + 1..text.len() - 1].to_string(),
        })
    }

    /// Parses the arguments against `func`'s parameter types.
    pub fn params(&self, store: impl AsContext, func: &Func) -> Result<Vec<Val>, InvokeError> {
        let ty = func.ty(&store);
        let types: Vec<_> = ty.params().map(|(_, t)| t).collect();
        let source = format!("f({})", self.args);
        let call = UntypedFuncCall::parse(&source).map_err(|source| InvokeError::Syntax {
            args: self.args.clone(),
            source: Box::new(source),
        })?;
        call.to_wasm_params::<Val>(types.iter())
            .map_err(|source| InvokeError::Mismatch {
                args: self.args.clone(),
                component: self.component.clone(),
                function: self.function.clone(),
                signature: ty
                    .params()
                    .map(|(n, t)| format!("{n}: {}", type_name(&t)))
                    .collect::<Vec<_>>()
                    .join(", "),
                source: Box::new(source),
            })
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
mod tests {
    use super::*;

    #[test]
    fn parses_calls() {
        let c = Call::parse(" kv-consumer.app#exercise(\"b\", 3) ").unwrap();
        assert_eq!(
            (c.component.as_str(), c.function.as_str(), c.args.as_str()),
            ("kv-consumer", "app#exercise", "\"b\", 3")
        );
        assert!(Call::parse("driver")
            .unwrap_err()
            .to_string()
            .contains("expected `component.function(args)`"));
        assert!(Call::parse("run-add(1)")
            .unwrap_err()
            .to_string()
            .contains("name the component"));
        assert!(Call::parse("a.b(1")
            .unwrap_err()
            .to_string()
            .contains("must end with"));
    }
}
