//! Type checking of one link: can the exporter's interface be used where the
//! importer expects its own view of that interface?
//!
//! The rule follows the component model's instance subtyping: the exporter
//! may export more than the importer needs, but every function and type the
//! importer names must exist on the exporter with the same type. Types are
//! compared structurally (record and variant names do not matter, field and
//! case names do); resources are compared by identity, i.e. the interface
//! that defines them (up to semver compatibility) and their name.
//!
//! Each [`Mismatch`] carries the exact position — parameter, result, record
//! field, variant case, list element… — so an error can say where the types
//! part ways.

use crate::wit::{self, display_name, func_signature, type_name};
use std::fmt;
use wit_parser::{Function, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeId};

/// One side of a link: an interface inside a component's types.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The component's types.
    pub resolve: &'a Resolve,
    /// The interface on that side.
    pub interface: InterfaceId,
}

/// One incompatibility between an import and the export linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The function concerned (as a user reads it: `bucket.get`), or `None`
    /// for an interface-level type.
    pub function: Option<String>,
    /// Where inside the function: e.g. `["parameter 0 (`a`)"]`,
    /// `["result", "ok payload", "record field `x`"]`.
    pub path: Vec<String>,
    /// What went wrong.
    pub kind: MismatchKind,
}

/// What kind of incompatibility.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MismatchKind {
    /// The importer needs a function the exporter does not have.
    MissingFunction {
        /// The signature the importer expects.
        expected: String,
    },
    /// The importer needs a type (e.g. a resource) the exporter lacks.
    MissingType {
        /// The type's name.
        name: String,
    },
    /// Types differ.
    Type {
        /// The importer's type.
        expected: String,
        /// The exporter's type.
        found: String,
    },
    /// Different numbers of parameters.
    ParamCount {
        /// The importer's count.
        expected: usize,
        /// The exporter's count.
        found: usize,
    },
    /// Parameter names differ (they are part of a component function type).
    ParamName {
        /// The importer's name.
        expected: String,
        /// The exporter's name.
        found: String,
    },
    /// Sync vs async, or method vs freestanding.
    FunctionKind {
        /// The importer's signature.
        expected: String,
        /// The exporter's signature.
        found: String,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(func) = &self.function {
            match &self.kind {
                MismatchKind::MissingFunction { .. } => {}
                _ => write!(f, "function `{func}`: ")?,
            }
        }
        for p in &self.path {
            write!(f, "{p}: ")?;
        }
        match &self.kind {
            MismatchKind::MissingFunction { expected } => write!(
                f,
                "function `{}` is not exported (expected `{expected}`)",
                self.function.as_deref().unwrap_or("?")
            ),
            MismatchKind::MissingType { name } => {
                write!(f, "type `{name}` is not exported")
            }
            MismatchKind::Type { expected, found } => {
                write!(f, "expected `{expected}`, found `{found}`")
            }
            MismatchKind::ParamCount { expected, found } => write!(
                f,
                "expected {expected} parameter{}, found {found}",
                if *expected == 1 { "" } else { "s" }
            ),
            MismatchKind::ParamName { expected, found } => {
                write!(f, "expected name `{expected}`, found `{found}`")
            }
            MismatchKind::FunctionKind { expected, found } => {
                write!(f, "expected `{expected}`, found `{found}`")
            }
        }
    }
}

/// Checks that `export` can satisfy `import`; returns every mismatch (empty
/// when compatible).
pub fn check_interface(import: Side<'_>, export: Side<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let imp = &import.resolve.interfaces[import.interface];
    let exp = &export.resolve.interfaces[export.interface];

    // Types the importer names (resources above all) must exist.
    for (name, &ty) in &imp.types {
        match exp.types.get(name) {
            None => out.push(Mismatch {
                function: None,
                path: Vec::new(),
                kind: MismatchKind::MissingType { name: name.clone() },
            }),
            Some(&found) => {
                let mut path = vec![format!("type `{name}`")];
                compare(
                    import,
                    export,
                    &Type::Id(ty),
                    &Type::Id(found),
                    &mut path,
                    &mut out,
                    None,
                );
            }
        }
    }

    for (name, f) in &imp.functions {
        match exp.functions.get(name) {
            None => out.push(Mismatch {
                function: Some(display_name(f)),
                path: Vec::new(),
                kind: MismatchKind::MissingFunction {
                    expected: func_signature(import.resolve, f),
                },
            }),
            Some(g) => check_function(import, export, f, g, &mut out),
        }
    }
    out
}

fn check_function(
    import: Side<'_>,
    export: Side<'_>,
    f: &Function,
    g: &Function,
    out: &mut Vec<Mismatch>,
) {
    let func = display_name(f);
    let is_async = |f: &Function| {
        matches!(
            f.kind,
            wit_parser::FunctionKind::AsyncFreestanding
                | wit_parser::FunctionKind::AsyncMethod(_)
                | wit_parser::FunctionKind::AsyncStatic(_)
        )
    };
    if is_async(f) != is_async(g) {
        out.push(Mismatch {
            function: Some(func),
            path: Vec::new(),
            kind: MismatchKind::FunctionKind {
                expected: func_signature(import.resolve, f),
                found: func_signature(export.resolve, g),
            },
        });
        return;
    }
    if f.params.len() != g.params.len() {
        out.push(Mismatch {
            function: Some(func),
            path: Vec::new(),
            kind: MismatchKind::ParamCount {
                expected: f.params.len(),
                found: g.params.len(),
            },
        });
        return;
    }
    for (i, (p, q)) in f.params.iter().zip(&g.params).enumerate() {
        let mut path = vec![format!("parameter {i} (`{}`)", p.name)];
        if p.name != q.name {
            out.push(Mismatch {
                function: Some(func.clone()),
                path: path.clone(),
                kind: MismatchKind::ParamName {
                    expected: p.name.clone(),
                    found: q.name.clone(),
                },
            });
        }
        compare(import, export, &p.ty, &q.ty, &mut path, out, Some(&func));
    }
    let mut path = vec!["result".to_string()];
    match (&f.result, &g.result) {
        (None, None) => {}
        (Some(a), Some(b)) => compare(import, export, a, b, &mut path, out, Some(&func)),
        (a, b) => out.push(Mismatch {
            function: Some(func),
            path,
            kind: MismatchKind::Type {
                expected: a
                    .map(|t| type_name(import.resolve, &t))
                    .unwrap_or_else(|| "nothing".into()),
                found: b
                    .map(|t| type_name(export.resolve, &t))
                    .unwrap_or_else(|| "nothing".into()),
            },
        }),
    }
}

/// Compares two types structurally, pushing mismatches with their path.
fn compare(
    import: Side<'_>,
    export: Side<'_>,
    a: &Type,
    b: &Type,
    path: &mut Vec<String>,
    out: &mut Vec<Mismatch>,
    func: Option<&str>,
) {
    Walk {
        ra: import.resolve,
        rb: export.resolve,
        func,
        path,
        out,
    }
    .types(a, b);
}

/// One structural comparison in progress: the two sides' types, the
/// function compared, where in its types the walk is, what it found.
struct Walk<'a, 'o> {
    ra: &'a Resolve,
    rb: &'a Resolve,
    func: Option<&'a str>,
    path: &'o mut Vec<String>,
    out: &'o mut Vec<Mismatch>,
}

impl Walk<'_, '_> {
    /// Records that the types here differ: `expected` on the import's side,
    /// `found` on the export's.
    fn differ(&mut self, expected: String, found: String) {
        self.out.push(Mismatch {
            function: self.func.map(str::to_string),
            path: self.path.clone(),
            kind: MismatchKind::Type { expected, found },
        });
    }

    /// `a` and `b` differ as wholes.
    fn mismatch(&mut self, a: &Type, b: &Type) {
        let (expected, found) = (type_name(self.ra, a), type_name(self.rb, b));
        self.differ(expected, found);
    }

    /// Compares `x` and `y` one step down, at `label`.
    fn nested(&mut self, label: String, x: &Type, y: &Type) {
        self.path.push(label);
        self.types(x, y);
        self.path.pop();
    }

    fn types(&mut self, a: &Type, b: &Type) {
        let a = wit::unalias(self.ra, *a);
        let b = wit::unalias(self.rb, *b);
        let (ia, ib) = match (a, b) {
            (Type::Id(ia), Type::Id(ib)) => (ia, ib),
            (x, y) if x == y => return,
            (x, y) => return self.mismatch(&x, &y),
        };
        let (ka, kb) = (&self.ra.types[ia].kind, &self.rb.types[ib].kind);
        if !self.kinds(ka, kb, (ia, ib)) {
            self.mismatch(&a, &b);
        }
    }

    /// Compares two type definitions; `false` when they differ as wholes
    /// (another kind, other names or sizes), after recording what differs
    /// inside them otherwise.
    fn kinds(&mut self, ka: &TypeDefKind, kb: &TypeDefKind, ids: (TypeId, TypeId)) -> bool {
        let names = |x: &mut dyn Iterator<Item = &str>, y: &mut dyn Iterator<Item = &str>| x.eq(y);
        match (ka, kb) {
            (TypeDefKind::Record(x), TypeDefKind::Record(y)) => {
                let same = names(
                    &mut x.fields.iter().map(|f| f.name.as_str()),
                    &mut y.fields.iter().map(|f| f.name.as_str()),
                );
                if same {
                    for (f, g) in x.fields.iter().zip(&y.fields) {
                        self.nested(format!("record field `{}`", f.name), &f.ty, &g.ty);
                    }
                }
                same
            }
            (TypeDefKind::Tuple(x), TypeDefKind::Tuple(y)) => {
                let same = x.types.len() == y.types.len();
                if same {
                    for (i, (s, t)) in x.types.iter().zip(&y.types).enumerate() {
                        self.nested(format!("tuple element {i}"), s, t);
                    }
                }
                same
            }
            (TypeDefKind::Variant(x), TypeDefKind::Variant(y)) => self.variants(x, y),
            (TypeDefKind::Enum(x), TypeDefKind::Enum(y)) => names(
                &mut x.cases.iter().map(|c| c.name.as_str()),
                &mut y.cases.iter().map(|c| c.name.as_str()),
            ),
            (TypeDefKind::Flags(x), TypeDefKind::Flags(y)) => names(
                &mut x.flags.iter().map(|c| c.name.as_str()),
                &mut y.flags.iter().map(|c| c.name.as_str()),
            ),
            (TypeDefKind::Option(x), TypeDefKind::Option(y))
            | (TypeDefKind::List(x), TypeDefKind::List(y)) => {
                let label = if matches!(ka, TypeDefKind::Option(_)) {
                    "option payload"
                } else {
                    "list element"
                };
                self.nested(label.into(), x, y);
                true
            }
            (TypeDefKind::FixedLengthList(x, n), TypeDefKind::FixedLengthList(y, m)) => {
                if n == m {
                    self.nested("list element".into(), x, y);
                }
                n == m
            }
            (TypeDefKind::Map(k1, v1), TypeDefKind::Map(k2, v2)) => {
                self.nested("map key".into(), k1, k2);
                self.nested("map value".into(), v1, v2);
                true
            }
            (TypeDefKind::Result(x), TypeDefKind::Result(y)) => {
                // Payload by payload, in order: an ok payload that differs
                // is named before an err payload only one side has.
                for (label, s, t) in [("ok payload", x.ok, y.ok), ("err payload", x.err, y.err)] {
                    match (s, t) {
                        (None, None) => {}
                        (Some(s), Some(t)) => self.nested(label.into(), &s, &t),
                        _ => return false,
                    }
                }
                true
            }
            (TypeDefKind::Future(x), TypeDefKind::Future(y))
            | (TypeDefKind::Stream(x), TypeDefKind::Stream(y)) => match (x, y) {
                (None, None) => true,
                (Some(s), Some(t)) => {
                    self.nested("payload".into(), s, t);
                    true
                }
                _ => false,
            },
            (TypeDefKind::Handle(Handle::Own(x)), TypeDefKind::Handle(Handle::Own(y)))
            | (TypeDefKind::Handle(Handle::Borrow(x)), TypeDefKind::Handle(Handle::Borrow(y))) => {
                same_resource(self.ra, *x, self.rb, *y)
            }
            (TypeDefKind::Resource, TypeDefKind::Resource) => {
                same_resource(self.ra, ids.0, self.rb, ids.1)
            }
            _ => false,
        }
    }

    /// Variants: the same case names in order; a case's payload compared
    /// one step down, or named when only one side has one.
    fn variants(&mut self, x: &wit_parser::Variant, y: &wit_parser::Variant) -> bool {
        let same = x.cases.len() == y.cases.len()
            && x.cases.iter().zip(&y.cases).all(|(c, d)| c.name == d.name);
        if !same {
            return false;
        }
        for (c, d) in x.cases.iter().zip(&y.cases) {
            let label = format!("variant case `{}`", c.name);
            match (&c.ty, &d.ty) {
                (None, None) => {}
                (Some(s), Some(t)) => self.nested(label, s, t),
                _ => {
                    let payload = |r: &Resolve, t: &Option<Type>| {
                        t.map_or_else(|| "no payload".into(), |t| type_name(r, &t))
                    };
                    let (expected, found) = (payload(self.ra, &c.ty), payload(self.rb, &d.ty));
                    self.path.push(label);
                    self.differ(expected, found);
                    self.path.pop();
                }
            }
        }
        true
    }
}

/// Resources are nominal: the same name, defined by semver-compatible
/// versions of the same interface.
fn same_resource(ra: &Resolve, a: wit_parser::TypeId, rb: &Resolve, b: wit_parser::TypeId) -> bool {
    let a = wit::unalias_id(ra, a);
    let b = wit::unalias_id(rb, b);
    ra.types[a].name == rb.types[b].name
        && match (wit::owner_interface(ra, a), wit::owner_interface(rb, b)) {
            (Some(x), Some(y)) => wit::semver_compatible(&x, &y),
            (None, None) => true,
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::introspect::ComponentInfo;

    fn iface(src: &str) -> ComponentInfo {
        ComponentInfo::from_wit(src, "w").unwrap()
    }

    fn check(a: &str, b: &str) -> Vec<String> {
        let a = iface(a);
        let b = iface(b);
        let ia = a.exports()[0].interface.unwrap();
        let ib = b.exports()[0].interface.unwrap();
        check_interface(
            Side {
                resolve: &a.resolve,
                interface: ia,
            },
            Side {
                resolve: &b.resolve,
                interface: ib,
            },
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    const BASE: &str = "package a:b@0.1.0; interface i { record point { x: u32, y: u32 } variant shape { dot(point), none } resource r { constructor(); get: func(p: point) -> option<list<shape>>; } f: func(a: u32, b: string) -> result<u32, string>; } world w { export i; }";

    #[test]
    fn identical_interfaces_are_compatible() {
        assert!(check(BASE, BASE).is_empty());
    }

    #[test]
    fn extra_exports_are_fine_missing_ones_are_not() {
        let more = BASE
            .replace("world w", "interface unused {} world w")
            .replace("f: func", "g: func(); f: func");
        assert!(check(BASE, &more).is_empty());
        let errs = check(&more, BASE);
        assert_eq!(
            errs,
            vec!["function `g` is not exported (expected `func()`)"]
        );
    }

    #[test]
    fn positions_are_named() {
        let errs = check(BASE, &BASE.replace("func(a: u32", "func(a: u64"));
        assert_eq!(
            errs,
            vec!["function `f`: parameter 0 (`a`): expected `u32`, found `u64`"]
        );
        let errs = check(
            BASE,
            &BASE.replace("result<u32, string>", "result<u32, u8>"),
        );
        assert_eq!(
            errs,
            vec!["function `f`: result: err payload: expected `string`, found `u8`"]
        );
        let errs = check(BASE, &BASE.replace("y: u32 }", "y: s32 }"));
        assert!(
            errs.contains(&"function `r.get`: parameter 1 (`p`): record field `y`: expected `u32`, found `s32`".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"function `r.get`: result: option payload: list element: variant case `dot`: record field `y`: expected `u32`, found `s32`".to_string()),
            "{errs:?}"
        );
        let errs = check(BASE, &BASE.replace("b: string", "c: string"));
        assert_eq!(
            errs,
            vec!["function `f`: parameter 1 (`b`): expected name `b`, found `c`"]
        );
        let errs = check(
            BASE,
            &BASE.replace("func(a: u32, b: string)", "func(a: u32)"),
        );
        assert_eq!(errs, vec!["function `f`: expected 2 parameters, found 1"]);
    }

    #[test]
    fn resources_are_nominal() {
        let errs = check(
            BASE,
            &BASE
                .replace("resource r {", "resource s {")
                .replace("get: func", "get2: func"),
        );
        assert!(
            errs.iter().any(|e| e.contains("type `r` is not exported")),
            "{errs:?}"
        );
        assert!(
            errs.iter()
                .any(|e| e.contains("function `r.new` is not exported")),
            "{errs:?}"
        );
    }

    #[test]
    fn semver_compatible_resources_match() {
        assert!(check(BASE, &BASE.replace("a:b@0.1.0", "a:b@0.1.3")).is_empty());
    }
}
