//! `weld run --invoke` text against the real `types` fixture: the component
//! may be left out, and an argument that does not fit its parameter is
//! named, quoted and explained, with the expected type in full.

use wasmtime::component::Val;
use weld_linker::runtime::invoke::{Call, InvokeError};
use weld_linker::runtime::{Deployed, Runtime, RuntimeOptions};
use weld_linker::Deployment;

fn deployment() -> (tempfile::TempDir, Deployment) {
    let dir = tempfile::tempdir().unwrap();
    let path =
        weld_fixtures::write_manifest(dir.path(), "[components.types]\npath = \"{types}\"\n");
    let d = Deployment::load(&path).unwrap_or_else(|e| panic!("{e}"));
    (dir, d)
}

/// Reads `text` against the deployment's components and the function's
/// real type.
fn read(rt: &Runtime, app: &mut Deployed, text: &str) -> Result<(Call, Vec<Val>), InvokeError> {
    let call = Call::parse_in(text, rt.components())?;
    let (func, _) = app
        .func(&call.component, &call.function)
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let params = call.params(app.store(), &func)?;
    Ok((call, params))
}

const POINT: &str = "record { x: s32, y: s32 }";

#[test]
fn argument_errors_name_the_argument_and_spell_the_type() {
    let (_dir, d) = deployment();
    let rt = Runtime::new(&d, &RuntimeOptions::default()).unwrap();
    let mut app = rt.instantiate().unwrap();
    let nested = format!(
        "record {{ name: string, origin: {POINT}, tags: list<string>, extra: option<{POINT}>, scale: f64 }}"
    );
    let cases: Vec<(&str, String)> = vec![
        // Negative for unsigned.
        ("id-u32(-1)", "argument 1 (`v`) of `types.id-u32`: `-1` is not a `u32`: a negative number".into()),
        // Out of range.
        ("types.id-u8(300)", "argument 1 (`v`) of `types.id-u8`: `300` is not a `u8`: out of range for u8 (0..=255)".into()),
        ("id-s8(-129)", "argument 1 (`v`) of `types.id-s8`: `-129` is not an `s8`: out of range for s8 (-128..=127)".into()),
        // A string where a number is expected.
        (r#"id-u64("12")"#, r#"argument 1 (`v`) of `types.id-u64`: `"12"` is not a `u64`: a string, not a number"#.into()),
        // A wrong enum case: the cases are listed.
        ("id-enum(purple)", "argument 1 (`v`) of `types.id-enum`: `purple` is not an `enum { red, green, blue }`: `purple` is not one of its cases: red, green, blue".into()),
        // A record field missing, one unknown.
        (
            r#"id-record({name: "a", origin: {x: 1, y: 2}, tags: []})"#,
            format!(r#"argument 1 (`v`) of `types.id-record`: `{{name: "a", origin: {{x: 1, y: 2}}, tags: []}}` is not a `{nested}`: missing field `scale`"#),
        ),
        (
            r#"id-record({name: "a", origin: {x: 1, y: 2, z: 3}, tags: [], scale: 1.0})"#,
            format!("field `origin`: `{{x: 1, y: 2, z: 3}}` is not a `{POINT}`: unknown field `z`"),
        ),
        // Inside a list inside a record.
        (
            r#"id-record({name: "a", origin: {x: 1, y: 2}, tags: ["t", 3], scale: 1.0})"#,
            "field `tags`: element 2: `3` is not a `string`: a number, not a string".into(),
        ),
        // Wrong arity: the signature in full.
        (
            r#"id-many(1, "b")"#,
            "`types.id-many(a: u8, b: string, c: list<u8>, d: enum { red, green, blue })` expects 4 arguments, got 2".into(),
        ),
        // A syntax error inside one argument: its position and the column in it.
        (
            r#"id-many(1, "b", [1, 2 3], red)"#,
            "argument 3 (`c`) of `types.id-many`: `[1, 2 3]` is not a `list<u8>`: syntax error at column 7: unexpected `3`".into(),
        ),
        (
            r#"id-many(1, "b", [1, 2], %red, )"#,
            String::new(),
        ),
    ];
    for (text, want) in cases {
        match read(&rt, &mut app, text) {
            Err(e) => {
                let got = e.to_string();
                assert!(
                    !want.is_empty() && got.contains(&want),
                    "{text}:\n got  {got}\n want {want}"
                );
            }
            Ok((_, params)) => assert!(want.is_empty(), "{text} was read as {params:?}"),
        }
    }
}

#[test]
fn the_component_may_be_left_out_with_one_component() {
    let (_dir, d) = deployment();
    let rt = Runtime::new(&d, &RuntimeOptions::default()).unwrap();
    let mut app = rt.instantiate().unwrap();
    for text in [
        "id-many(7, \"b\", [1, 2], blue)",
        "types.id-many(7, \"b\", [1, 2], blue)",
        "all.id-many(7, \"b\", [1, 2], blue)",
        "types.all.id-many(7, \"b\", [1, 2], blue)",
        "demo:types/all@0.1.0#id-many(7, \"b\", [1, 2], blue)",
        "types.demo:types/all@0.1.0#id-many(7, \"b\", [1, 2], blue)",
    ] {
        let (call, params) = read(&rt, &mut app, text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(call.component, "types");
        let (func, full) = app.func(&call.component, &call.function).unwrap();
        let results = app.invoke(&call.component, &full, func, &params).unwrap();
        assert_eq!(
            weld_linker::runtime::invoke::format_results(&results),
            "(7, \"b\", [1, 2], blue)",
            "{text}"
        );
    }
}
