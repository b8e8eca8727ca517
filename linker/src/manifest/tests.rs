//! The manifest's parsing and validation, on text.

use super::*;
use crate::diagnostic::{DiagnosticKind, Diagnostics};

fn parse(src: &str) -> Result<Manifest, Diagnostics> {
    Manifest::parse(Path::new("weld.toml"), src)
}

#[test]
fn parses_the_sketch() {
    let m = parse(
        r#"
[components.driver]
path = "driver.wasm"
host = "edge-1"

[components.adder]
path = "adder.wasm"
host = "edge-2"

[[link]]
import = "driver:demo:math/adder@0.1.0"
export = "adder"
transport = "wrpc"
allow-trap = true

[hosts.edge-2]
wrpc = { transport = "unix", path = "/tmp/w.sock" }
"#,
    )
    .unwrap();
    assert_eq!(m.host_of("driver"), "edge-1");
    assert_eq!(m.links[0].get_ref().transport(), TransportChoice::Wrpc);
    assert!(m.links[0].get_ref().allow_trap);
    assert_eq!(
        m.endpoint_of("edge-2"),
        Endpoint::Unix {
            path: "/tmp/w.sock".into()
        }
    );
    assert_eq!(
        m.endpoint_of("edge-1"),
        Endpoint::Tcp {
            address: DEFAULT_TCP_ADDRESS.into()
        }
    );
}

#[test]
fn unknown_keys_are_errors_with_a_position() {
    let err = parse("[components.a]\npath = \"a.wasm\"\nhots = \"x\"\n").unwrap_err();
    let d = &err.0[0];
    assert!(d.message.contains("unknown field `hots`"), "{}", d.message);
    assert_eq!(d.location.as_ref().unwrap().line, 3);
}

#[test]
fn guest_limits_parse() {
    let m = parse(
        "[components.a]\npath = \"a.wasm\"\ndeadline-ms = 50\nmax-memory = \"256MiB\"\n[components.b]\npath = \"b.wasm\"\nmax-memory = 131072\n",
    )
    .unwrap();
    let a = m.components["a"].get_ref();
    assert_eq!(a.deadline_ms.as_ref().map(|d| *d.get_ref()), Some(50));
    assert_eq!(a.max_memory.as_ref().unwrap().get_ref().0, 256 << 20);
    let b = m.components["b"].get_ref();
    assert_eq!(b.max_memory.as_ref().unwrap().get_ref().0, 128 << 10);
    assert_eq!(ByteSize::parse("1GiB"), Ok(ByteSize(1 << 30)));
    assert_eq!(ByteSize::parse("64 KiB"), Ok(ByteSize(64 << 10)));
    assert_eq!(ByteSize(256 << 20).to_string(), "256 MiB");
}

#[test]
fn bad_guest_limits_are_errors_with_a_position() {
    let err =
        parse("[components.a]\npath = \"a.wasm\"\nmax-memory = \"12 parsecs\"\n").unwrap_err();
    let d = &err.0[0];
    assert!(
        d.message.contains("unknown size unit `parsecs`"),
        "{}",
        d.message
    );
    let at = d.location.as_ref().unwrap();
    assert_eq!((at.line, at.column), (3, 14), "{}", d.message);
    let err = parse("[components.a]\npath = \"a.wasm\"\ndeadline-ms = 0\n").unwrap_err();
    let d = &err.0[0];
    assert_eq!(d.kind, DiagnosticKind::InvalidValue, "{}", d.message);
    assert!(d.message.contains("`deadline-ms`"), "{}", d.message);
    assert_eq!(d.location.as_ref().unwrap().line, 3);
    let err = parse("[components.a]\npath = \"a.wasm\"\nmax-memory = \"1KiB\"\n").unwrap_err();
    assert_eq!(
        err.0[0].kind,
        DiagnosticKind::InvalidValue,
        "{}",
        err.0[0].message
    );
}

#[test]
fn bad_transport_names_the_choices() {
    let err = parse(
        "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\ntransport = \"carrier-pigeon\"\n",
    )
    .unwrap_err();
    let d = &err.0[0];
    assert!(d.message.contains("carrier-pigeon"), "{}", d.message);
    assert!(d.message.contains("in-process"), "{}", d.message);
    assert_eq!(d.location.as_ref().unwrap().line, 6);
}

#[test]
fn all_link_errors_are_reported_at_once() {
    let err = parse(
        "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"nope:x:y/z\"\nexport = \"ghost\"\n[[link]]\nimport = \"no-colon\"\nexport = \"a\"\n",
    )
    .unwrap_err();
    let kinds: Vec<_> = err.0.iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            DiagnosticKind::UnknownName,
            DiagnosticKind::UnknownName,
            DiagnosticKind::InvalidValue
        ],
        "{err}"
    );
    // Each names what is unknown.
    assert!(err.0[0].message.contains("`nope`"), "{err}");
    assert!(err.0[1].message.contains("`ghost`"), "{err}");
    assert_eq!(err.0[1].location.as_ref().unwrap().line, 5);
}

#[test]
fn duplicate_links_are_errors() {
    let err = parse(
        "[components.a]\npath = \"a.wasm\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\n[[link]]\nimport = \"a:x:y/z\"\nexport = \"a\"\n",
    )
    .unwrap_err();
    assert_eq!(err.0[0].kind, DiagnosticKind::Duplicate, "{err}");
    assert!(err.0[0].message.contains("(first at line 4)"), "{err}");
}
