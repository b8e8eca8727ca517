//! Calls against a small synthetic component (real `ComponentFunc` types,
//! no fixture build): `demo:calc/calculate`, whose functions do nothing.

use super::*;
use std::collections::HashMap;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;
use wasmtime::Engine;

const WIT: &str = r#"
package demo:calc@0.1.0;

interface calculate {
  enum op { add, sub }
  flags mode { fast, exact }
  record pt { x: u8, y: s32 }
  variant shape { dot, circle(u32) }

  eval-expression: func(op: op, x: u32, y: u32) -> u32;
  pair: func(a: u32, b: s32) -> u32;
  place: func(p: pt, m: mode, s: shape, scale: option<u8>) -> u32;
  flag: func(b: bool, c: char, f: f64) -> u32;
}

world calculator {
  export calculate;
}
"#;

const INTERFACE: &str = "demo:calc/calculate@0.1.0";

/// The core functions of [`WIT`]'s exports: name and flat `i32` params,
/// each returning an `i32`.
const CORE: [(&str, usize); 4] = [
    ("eval-expression", 3),
    ("pair", 2),
    // pt (2) + mode (1) + shape (2) + option<u8> (2).
    ("place", 7),
    // bool, char, f64 flatten to i32, i32, f64: declared below.
    ("flag", 3),
];

/// A core module exporting each of [`CORE`] as `INTERFACE#name`, returning 0.
fn core_module() -> Vec<u8> {
    let funcs: String = CORE
        .iter()
        .map(|(name, params)| {
            // `flag`'s third parameter is an f64.
            let params: Vec<&str> = (0..*params)
                .map(|i| {
                    if *name == "flag" && i == 2 {
                        "f64"
                    } else {
                        "i32"
                    }
                })
                .collect();
            format!(
                "(func (export \"{INTERFACE}#{name}\") (param {}) (result i32) i32.const 0)\n",
                params.join(" ")
            )
        })
        .collect();
    wat::parse_str(format!("(module\n{funcs})")).expect("the core module reads")
}

/// The function types of `demo:calc/calculate`, by function name.
fn calculate() -> HashMap<String, ComponentFunc> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("calc.wit", WIT).unwrap();
    let world = resolve
        .select_world(&[package], Some("calculator"))
        .unwrap();
    let mut module = core_module();
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )
    .unwrap();
    let bytes = wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    let engine = Engine::default();
    let component = Component::new(&engine, bytes).unwrap();
    let ty = component.component_type();
    let (_, instance) = ty.exports(&engine).find(|(n, _)| *n == INTERFACE).unwrap();
    let ComponentItem::ComponentInstance(instance) = instance.ty else {
        panic!("{INTERFACE} is not an instance");
    };
    instance
        .exports(&engine)
        .filter_map(|(name, item)| match item.ty {
            ComponentItem::ComponentFunc(f) => Some((name.to_string(), f)),
            _ => None,
        })
        .collect()
}

/// The error of calling `text` on the one-component deployment `calculator`.
fn error(funcs: &HashMap<String, ComponentFunc>, text: &str) -> String {
    let call = Call::parse_in(text, &["calculator"]).unwrap();
    let name = call.function.rsplit(['.', '#']).next().unwrap();
    match call.params_for(&funcs[name]) {
        Ok(v) => panic!("`{text}` was read as {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn values(funcs: &HashMap<String, ComponentFunc>, text: &str) -> Vec<Val> {
    let call = Call::parse_in(text, &["calculator"]).unwrap();
    let name = call.function.rsplit(['.', '#']).next().unwrap();
    call.params_for(&funcs[name])
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

const OP: &str = "enum { add, sub }";

#[test]
fn the_example_from_the_brief() {
    let funcs = calculate();
    assert_eq!(
        error(&funcs, "calculator.eval-expression(add, 1, -2)"),
        "argument 3 (`y`) of `calculator.eval-expression`: `-2` is not a `u32`: a negative number"
    );
    assert_eq!(
        values(&funcs, "eval-expression(sub, 1, 2)"),
        [Val::Enum("sub".into()), Val::U32(1), Val::U32(2)]
    );
}

#[test]
fn negative_for_unsigned() {
    let e = error(&calculate(), "eval-expression(add, -1, 2)");
    assert!(e.contains("argument 2 (`x`)"), "{e}");
    assert!(e.contains("`-1` is not a `u32`: a negative number"), "{e}");
}

#[test]
fn out_of_range() {
    let funcs = calculate();
    let e = error(&funcs, "eval-expression(add, 4294967296, 2)");
    assert!(
        e.contains("argument 2 (`x`) of `calculator.eval-expression`: `4294967296` is not a `u32`: out of range for u32 (0..=4294967295)"),
        "{e}"
    );
    let e = error(&funcs, "pair(1, -2147483649)");
    assert!(
        e.contains("argument 2 (`b`) of `calculator.pair`: `-2147483649` is not an `s32`: out of range for s32 (-2147483648..=2147483647)"),
        "{e}"
    );
    // Inside a record: the path down to the field.
    let e = error(&funcs, "place({x: 256, y: 0}, {}, dot)");
    assert!(
        e.contains("argument 1 (`p`) of `calculator.place`: `{x: 256, y: 0}` is not a `record { x: u8, y: s32 }`: field `x`: `256` is not a `u8`: out of range for u8 (0..=255)"),
        "{e}"
    );
}

#[test]
fn not_an_integer_and_not_a_number() {
    let funcs = calculate();
    let e = error(&funcs, "eval-expression(add, 1.5, 2)");
    assert!(e.contains("`1.5` is not a `u32`: not an integer"), "{e}");
    let e = error(&funcs, r#"eval-expression(add, 1, "2")"#);
    assert!(
        e.contains(r#"argument 3 (`y`) of `calculator.eval-expression`: `"2"` is not a `u32`: a string, not a number"#),
        "{e}"
    );
    let e = error(&funcs, "flag(1, 'a', 1.0)");
    assert!(
        e.contains("argument 1 (`b`) of `calculator.flag`: `1` is not a `bool`: a number, not `true` or `false`"),
        "{e}"
    );
    let e = error(&funcs, "flag(true, 'ab', 1.0)");
    assert!(e.contains("argument 2 (`c`)"), "{e}");
}

#[test]
fn wrong_enum_case_lists_the_cases() {
    let e = error(&calculate(), "eval-expression(mul, 1, 2)");
    assert_eq!(
        e,
        format!("argument 1 (`op`) of `calculator.eval-expression`: `mul` is not an `{OP}`: `mul` is not one of its cases: add, sub")
    );
}

#[test]
fn record_missing_and_unknown_fields() {
    let funcs = calculate();
    let e = error(&funcs, "place({x: 1}, {}, dot)");
    assert!(
        e.contains("argument 1 (`p`) of `calculator.place`: `{x: 1}` is not a `record { x: u8, y: s32 }`: missing field `y`"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: 2, z: 3}, {}, dot)");
    assert!(
        e.contains("`{x: 1, y: 2, z: 3}` is not a `record { x: u8, y: s32 }`: unknown field `z`"),
        "{e}"
    );
}

#[test]
fn flags_and_variants() {
    let funcs = calculate();
    let e = error(&funcs, "place({x: 1, y: 2}, {slow}, dot)");
    assert!(
        e.contains("argument 2 (`m`) of `calculator.place`: `{slow}` is not a `flags { fast, exact }`: `slow` is not one of its flags: fast, exact"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: 2}, {fast}, circle)");
    assert!(
        e.contains("argument 3 (`s`) of `calculator.place`: `circle` is not a `variant { dot, circle(u32) }`: the case `circle` needs a payload: `circle(u32)`"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: 2}, {fast}, circle(-1))");
    assert!(
        e.contains("the `circle` payload: `-1` is not a `u32`: a negative number"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: 2}, {fast}, dot, 300)");
    assert!(
        e.contains("argument 4 (`scale`) of `calculator.place`: `300` is not an `option<u8>`: out of range for u8 (0..=255)"),
        "{e}"
    );
    assert_eq!(
        values(
            &funcs,
            "place({y: -2, x: 1}, {exact, fast}, circle(7), some(3))"
        ),
        [
            Val::Record(vec![("x".into(), Val::U8(1)), ("y".into(), Val::S32(-2))]),
            // Wave (as of wasmtime 50) gives flags in declaration order.
            Val::Flags(vec!["fast".into(), "exact".into()]),
            Val::Variant("circle".into(), Some(Box::new(Val::U32(7)))),
            Val::Option(Some(Box::new(Val::U8(3)))),
        ]
    );
}

#[test]
fn wrong_arity_shows_the_signature() {
    let funcs = calculate();
    assert_eq!(
        error(&funcs, "eval-expression(add, 1)"),
        format!(
            "`calculator.eval-expression(op: {OP}, x: u32, y: u32)` expects 3 arguments, got 2"
        )
    );
    let e = error(&funcs, "eval-expression(add, 1, 2, 3)");
    assert!(e.ends_with("expects 3 arguments, got 4"), "{e}");
    let e = error(&funcs, "eval-expression()");
    assert!(e.ends_with("expects 3 arguments, got 0"), "{e}");
    // A trailing option may be left out.
    let e = error(&funcs, "place({x: 1, y: 2})");
    assert!(
        e.contains("place(p: record { x: u8, y: s32 }, m: flags { fast, exact }, s: variant { dot, circle(u32) }, scale: option<u8>)` expects 3 to 4 arguments (trailing options may be left out), got 1"),
        "{e}"
    );
    assert_eq!(
        values(&funcs, "place({x: 1, y: 2}, {}, dot)")[3],
        Val::Option(None)
    );
}

#[test]
fn syntax_error_inside_one_argument() {
    let funcs = calculate();
    let e = error(&funcs, "place({x: 1, y: 2}, {fast}, circle(1 2))");
    assert!(
        e.contains("argument 3 (`s`) of `calculator.place`: `circle(1 2)` is not a `variant { dot, circle(u32) }`: syntax error at column 10: unexpected `2`"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: [2}, {fast}, dot)");
    assert!(
        e.contains("argument 1 (`p`) of `calculator.place`: `{x: 1, y: [2}` is not a `record { x: u8, y: s32 }`: syntax error at column 13: unexpected `}`"),
        "{e}"
    );
    let e = error(&funcs, "eval-expression(add, 1 2, 3)");
    assert!(
        e.contains("argument 2 (`x`) of `calculator.eval-expression`: `1 2` is not a `u32`: syntax error at column 3: unexpected `2` after the value (a missing comma?)"),
        "{e}"
    );
    let e = error(&funcs, "eval-expression(add, , 3)");
    assert!(e.contains("argument 2 (`x`)"), "{e}");
    assert!(e.contains("the argument is empty"), "{e}");
    let e = error(&funcs, r"flag(true, '\q', 1.0)");
    assert!(
        e.contains(r"argument 2 (`c`) of `calculator.flag`: `'\q'` is not a `char`: syntax error at column 1: an invalid char"),
        "{e}"
    );
    let e = error(&funcs, "place({x: 1, y: 2}, {}, dot, none(1))");
    assert!(
        e.contains("`none(1)` is not an `option<u8>`: syntax error at column 5: unexpected `(`: `none` takes no payload"),
        "{e}"
    );
    let e = error(&funcs, r#"flag(true, 'a', "x)"#);
    assert!(e.contains("argument 3 (`f`)"), "{e}");
    assert!(e.contains("an unterminated string"), "{e}");
}

#[test]
fn parse_in_one_component_without_prefix() {
    for text in [
        "eval-expression(add, 1, 2)",
        "calc.eval-expression(add, 1, 2)",
    ] {
        let call = Call::parse_in(text, &["calc"]).unwrap();
        assert_eq!(
            (
                call.component.as_str(),
                call.function.as_str(),
                call.args.as_str()
            ),
            ("calc", "eval-expression", "add, 1, 2")
        );
    }
}

#[test]
fn parse_in_interface_function() {
    let call = Call::parse_in("calculate.eval-expression(add, 1, 2)", &["calc"]).unwrap();
    assert_eq!(
        (call.component.as_str(), call.function.as_str()),
        ("calc", "calculate.eval-expression")
    );
    let call = Call::parse_in("calc.calculate.eval-expression(add, 1, 2)", &["calc"]).unwrap();
    assert_eq!(
        (call.component.as_str(), call.function.as_str()),
        ("calc", "calculate.eval-expression")
    );
    // With several components, the first `.` names one.
    let call = Call::parse_in("b.runner.run(1)", &["a", "b"]).unwrap();
    assert_eq!(
        (call.component.as_str(), call.function.as_str()),
        ("b", "runner.run")
    );
}

#[test]
fn parse_in_full_name_with_version() {
    let call = Call::parse_in(
        "demo:calc/calculate@0.1.0#eval-expression(add, 1, 2)",
        &["calc"],
    )
    .unwrap();
    assert_eq!(
        (call.component.as_str(), call.function.as_str()),
        ("calc", "demo:calc/calculate@0.1.0#eval-expression")
    );
    let call = Call::parse_in(
        "calc.demo:calc/calculate@0.1.0#eval-expression(add, 1, 2)",
        &["calc", "other"],
    )
    .unwrap();
    assert_eq!(
        (call.component.as_str(), call.function.as_str()),
        ("calc", "demo:calc/calculate@0.1.0#eval-expression")
    );
    // And the types resolve: the full name reads the same arguments.
    let funcs = calculate();
    assert_eq!(
        values(
            &funcs,
            "demo:calc/calculate@0.1.0#eval-expression(add, 1, 2)"
        ),
        [Val::Enum("add".into()), Val::U32(1), Val::U32(2)]
    );
}

#[test]
fn parse_in_several_components_lists_them() {
    let e = Call::parse_in("run(1)", &["a", "b"]).unwrap_err();
    assert!(matches!(e, InvokeError::NoComponent { .. }));
    assert_eq!(
        e.to_string(),
        "`run(1)`: name the component: `component.function(args)`, one of `a`, `b`"
    );
    // A prefix that is not a component is no help either.
    let e = Call::parse_in("c.run(1)", &["a", "b"]).unwrap_err();
    assert!(e.to_string().contains("one of `a`, `b`"), "{e}");
    assert!(matches!(
        Call::parse_in("a.(1)", &["a", "b"]),
        Err(InvokeError::EmptyName { .. })
    ));
}

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

#[test]
fn splits_arguments_outside_brackets_and_strings() {
    let args = r#" 1, [2, 3], {a: "x, y"}, ',' ,"#;
    let pieces: Vec<&str> = split_arguments(args)
        .into_iter()
        .map(|r| &args[r])
        .collect();
    assert_eq!(pieces, ["1", "[2, 3]", r#"{a: "x, y"}"#, "','"]);
    assert!(split_arguments("  ").is_empty());
    let args = "{x: 1, y: [2}, {fast}, dot)";
    let pieces: Vec<&str> = split_arguments(args)
        .into_iter()
        .map(|r| &args[r])
        .collect();
    assert_eq!(pieces, ["{x: 1, y: [2}", "{fast}", "dot)"]);
    assert_eq!(split_arguments("1,,2").len(), 3);
}

proptest::proptest! {
    #[test]
    fn formatted_integers_round_trip(a in proptest::num::u32::ANY, b in proptest::num::i32::ANY) {
        thread_local! {
            static FUNCS: HashMap<String, ComponentFunc> = calculate();
        }
        let got = FUNCS.with(|funcs| values(funcs, &format!("pair({a}, {b})")));
        proptest::prop_assert_eq!(got, vec![Val::U32(a), Val::S32(b)]);
    }
}
