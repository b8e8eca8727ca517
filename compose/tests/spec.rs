//! weld-compose on its own: specs built by hand, failures named by edge.

use weld_compose::{compose, ComposeError, Link, Member, Spec, Warning};

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
    let greeter = |component: &str| Link {
        component: component.into(),
        import: "demo:greet/greeter@0.1.0".into(),
        peer: "greet".into(),
        export: "demo:greet/greeter@0.1.0".into(),
    };
    let spec = Spec {
        components: vec![
            member("greet", "greet"),
            member("caller", "greet-caller"),
            member("relay", "greet-relay"),
        ],
        links: vec![greeter("caller"), greeter("relay")],
        exports: None,
    };
    let c = compose(&spec).unwrap();
    assert_eq!(c.fused, ["greet", "caller", "relay"]);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    // The WAC source instantiates `greet` once and passes it to both.
    assert_eq!(c.wac.matches("new weld:greet ").count(), 1, "{}", c.wac);
    assert_eq!(
        c.wac.matches("greet[\"demo:greet/greeter@0.1.0\"]").count(),
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

#[test]
fn unreached_components_are_left_out_with_a_warning() {
    let spec = Spec {
        components: vec![
            member("driver", "driver"),
            member("adder", "adder"),
            member("greet", "greet"),
        ],
        links: vec![adder_link("adder")],
        exports: Some(vec!["driver".into()]),
    };
    let c = compose(&spec).unwrap();
    assert_eq!(c.fused, ["adder", "driver"]);
    assert_eq!(
        c.warnings,
        [Warning::LeftOut {
            component: "greet".into()
        }]
    );
    assert_eq!(
        c.warnings[0].to_string(),
        "component `greet` is not linked from any exported component; left out of the composition"
    );
    assert!(!c.wac.contains("greet"), "{}", c.wac);
    assert!(!c.deps.iter().any(|(p, _)| p == "weld:greet"));

    // Exported, it stays: as a root when no component is named.
    let c = compose(&Spec {
        exports: None,
        ..spec.clone()
    })
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.fused.len(), 3);

    let err = compose(&Spec {
        exports: Some(Vec::new()),
        ..spec
    })
    .unwrap_err();
    assert!(matches!(err, ComposeError::NoExports), "{err}");
}

#[test]
fn the_wac_header_is_a_shell_command() {
    let mut adder = member("adder", "adder");
    adder.path = Some("my dir/adder.wasm".into());
    let spec = Spec {
        components: vec![member("driver", "driver"), adder],
        links: vec![adder_link("adder")],
        exports: None,
    };
    let c = compose(&spec).unwrap();
    let saved = c.wac_source("out.wac", None);
    assert_eq!(
        saved.lines().nth(1).unwrap(),
        "// Reproduce: wac compose out.wac --dep 'weld:adder=my dir/adder.wasm' --dep weld:driver=driver.wasm"
    );
    let save = ["weld", "compose", "it's.toml", "--wac", "out.wac"].map(String::from);
    let unsaved = c.wac_source("out.wac", Some(&save));
    assert_eq!(
        unsaved.lines().nth(1).unwrap(),
        "// Reproduce: weld compose 'it'\\''s.toml' --wac out.wac && wac compose out.wac --dep 'weld:adder=my dir/adder.wasm' --dep weld:driver=driver.wasm"
    );
    assert_eq!(unsaved.lines().next(), Some("// Generated by weld."));
    assert_eq!(
        unsaved.lines().skip(2).collect::<Vec<_>>(),
        c.wac.lines().skip(1).collect::<Vec<_>>()
    );
}
