//! weld-compose on its own: specs built by hand, failures named by edge.

use weld_compose::{compose, ComposeError, Link, Member, Spec};

fn member(name: &str, fixture: &str) -> Member {
    Member::new(name, weld_fixtures::bytes(fixture))
}

fn adder_link(peer: &str) -> Link {
    Link {
        component: "driver".into(),
        import: "demo:math/adder@0.1.0".into(),
        peer: peer.into(),
        export: "demo:math/adder@0.1.0".into(),
    }
}

#[test]
fn composes_and_validates() {
    let spec = Spec {
        components: vec![member("driver", "driver"), member("adder", "adder")],
        links: vec![adder_link("adder")],
        exports: None,
    };
    let c = compose(&spec).unwrap();
    weld_compose::validate(&c.bytes).unwrap();
    // Exporters are instantiated first whatever the input order.
    assert_eq!(c.fused, ["adder", "driver"]);
    assert_eq!(
        c.exports,
        [("demo:math/runner@0.1.0".to_string(), "driver".to_string())]
    );
    assert!(
        !c.imports.iter().any(|i| i.starts_with("demo:")),
        "{:?}",
        c.imports
    );
    assert_eq!(compose(&spec).unwrap().bytes, c.bytes, "deterministic");
}

#[test]
fn one_exporter_instance_serves_every_importer() {
    let spec = Spec {
        components: vec![
            member("adder", "adder"),
            member("driver", "driver"),
            member("driver2", "driver"),
        ],
        links: vec![
            adder_link("adder"),
            Link {
                component: "driver2".into(),
                ..adder_link("adder")
            },
        ],
        exports: Some(vec!["driver".into()]),
    };
    let c = compose(&spec).unwrap();
    assert_eq!(c.fused.iter().filter(|f| *f == "adder").count(), 1);
    // The WAC source instantiates `adder` once and passes it to both.
    assert_eq!(c.wac.matches("new weld:adder").count(), 1, "{}", c.wac);
    assert_eq!(
        c.wac.matches("adder[\"demo:math/adder@0.1.0\"]").count(),
        2,
        "{}",
        c.wac
    );
}

#[test]
fn a_type_mismatch_names_the_edge() {
    let spec = Spec {
        components: vec![member("driver", "driver"), member("wide", "adder-wide")],
        links: vec![adder_link("wide")],
        exports: None,
    };
    let err = compose(&spec).unwrap_err();
    // The message and its causes, as a user reads them.
    let mut msg = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        msg.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(matches!(err, ComposeError::Link { .. }), "{msg}");
    assert!(
        msg.starts_with("component `driver` import `demo:math/adder@0.1.0` linked to `wide` export `demo:math/adder@0.1.0`:"),
        "{msg}"
    );
    assert!(msg.contains("add"), "{msg}");
}

#[test]
fn missing_exports_and_components_are_named() {
    let spec = Spec {
        components: vec![member("driver", "driver"), member("c", "chain-c")],
        links: vec![adder_link("c")],
        exports: None,
    };
    let msg = compose(&spec).unwrap_err().to_string();
    assert!(
        msg.starts_with("component `driver` import `demo:math/adder@0.1.0` linked to `c`"),
        "{msg}"
    );

    let spec = Spec {
        components: vec![member("driver", "driver")],
        links: vec![adder_link("ghost")],
        exports: None,
    };
    let msg = compose(&spec).unwrap_err().to_string();
    assert_eq!(msg, "unknown component `ghost` (known: `driver`)");

    assert!(matches!(
        compose(&Spec::default()),
        Err(ComposeError::Empty)
    ));
}

#[test]
fn non_components_are_refused() {
    let spec = Spec {
        components: vec![Member::new("junk", b"\0asm\x01\0\0\0".to_vec())],
        links: vec![],
        exports: None,
    };
    let err = compose(&spec).unwrap_err();
    // The component is named, and the cause is kept.
    let msg = err.to_string();
    assert!(msg.starts_with("component `junk`"), "{msg}");
    assert!(std::error::Error::source(&err).is_some(), "{msg}");
}
