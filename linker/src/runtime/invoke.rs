//! `component.function(args)` in WAVE syntax: parsing a call and printing
//! results.
//!
//! ```
//! use weld_linker::runtime::invoke::Call;
//! let call = Call::parse("driver.run-add(1000)").unwrap();
//! assert_eq!(call.component, "driver");
//! assert_eq!(call.function, "run-add");
//! ```

use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Func, Val};
use wasmtime::AsContext;

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
    pub fn parse(text: &str) -> Result<Call, String> {
        let text = text.trim();
        let open = text.find('(').ok_or_else(|| {
            format!("`{text}`: expected `component.function(args)`, e.g. `driver.run-add(1000)`")
        })?;
        if !text.ends_with(')') {
            return Err(format!("`{text}`: the argument list must end with `)`"));
        }
        let target = &text[..open];
        let (component, function) = target
            .split_once('.')
            .ok_or_else(|| format!("`{text}`: name the component: `component.function(args)`"))?;
        if component.is_empty() || function.is_empty() {
            return Err(format!("`{text}`: expected `component.function(args)`"));
        }
        Ok(Call {
            component: component.to_string(),
            function: function.to_string(),
            args: text[open + 1..text.len() - 1].to_string(),
        })
    }

    /// Parses the arguments against `func`'s parameter types.
    pub fn params(&self, store: impl AsContext, func: &Func) -> Result<Vec<Val>, String> {
        let ty = func.ty(&store);
        let types: Vec<_> = ty.params().map(|(_, t)| t).collect();
        let source = format!("f({})", self.args);
        let call = UntypedFuncCall::parse(&source)
            .map_err(|e| format!("cannot parse the arguments `({})`: {e}", self.args))?;
        call.to_wasm_params::<Val>(types.iter()).map_err(|e| {
            let sig: Vec<String> = ty
                .params()
                .map(|(n, t)| format!("{n}: {}", type_desc(&t)))
                .collect();
            format!(
                "arguments `({})` do not match `{}.{}({})`: {e}",
                self.args,
                self.component,
                self.function,
                sig.join(", ")
            )
        })
    }
}

fn type_desc(t: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type as T;
    match t {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(l) => format!("list<{}>", type_desc(&l.ty())),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap_or("value")
            .to_lowercase(),
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
            .contains("expected `component.function(args)`"));
        assert!(Call::parse("run-add(1)")
            .unwrap_err()
            .contains("name the component"));
        assert!(Call::parse("a.b(1").unwrap_err().contains("must end with"));
    }
}
