//! The layers of weld-linker run one way, as docs/architecture.md draws
//! them — manifest → introspect → check → plan → deployment → fuse →
//! runtime → serve, with `cost` beside the plan, `desired` beside fuse,
//! `observe` (the counters runtime and serve record calls in) beside the
//! manifest, and the shared helpers
//! under everything — and no two modules of one folder import each other.
//! A `use` that breaks either fails here, by file and line. (The wire is
//! the `weld-wrpc` crate, which depends on no other weld crate: the
//! compiler keeps it at the bottom.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Helpers any layer may use: names, messages, file reading, the JSON
/// documents' envelope, the wire.
const SHARED: [&str; 6] = ["wit", "diagnostic", "input", "versioned", "json", "wrpc"];

/// Each layer and the layers below it that it may use.
const LAYERS: [(&str, &[&str]); 11] = [
    ("manifest", &[]),
    ("observe", &[]),
    ("introspect", &[]),
    ("check", &["introspect"]),
    ("plan", &["manifest", "introspect", "check"]),
    ("cost", &["introspect", "plan", "observe"]),
    ("deployment", &["manifest", "introspect", "plan"]),
    ("desired", &["manifest", "plan", "deployment"]),
    ("fuse", &["manifest", "plan", "deployment"]),
    (
        "runtime",
        &[
            "manifest",
            "introspect",
            "plan",
            "deployment",
            "fuse",
            "observe",
        ],
    ),
    (
        "serve",
        &[
            "manifest",
            "introspect",
            "plan",
            "deployment",
            "desired",
            "observe",
            "runtime",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `.rs` files under `dir` (or `dir.rs` itself).
fn files(dir: &Path) -> Vec<PathBuf> {
    if dir.with_extension("rs").is_file() {
        return vec![dir.with_extension("rs")];
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Every name that follows `prefix` in `path`'s text, with its line.
fn names_after(path: &Path, prefix: &str) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at + prefix.len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((i + 1, name));
            rest = tail;
        }
    }
    out
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let mut bad = Vec::new();
    for (module, below) in LAYERS {
        for file in files(&src().join(module)) {
            for (line, name) in names_after(&file, "crate::") {
                if name != module
                    && !below.contains(&name.as_str())
                    && !SHARED.contains(&name.as_str())
                {
                    bad.push(format!(
                        "{}:{line}: `{module}` uses `{name}`",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "layers reached past: {bad:#?}");
}

#[test]
fn every_module_is_in_a_layer() {
    let known: BTreeSet<&str> = LAYERS
        .iter()
        .map(|(m, _)| *m)
        .chain(SHARED)
        .chain(["lib"])
        .collect();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        assert!(
            known.contains(name.as_str()),
            "`{name}` is in no layer: add it to LAYERS (and docs/architecture.md)"
        );
    }
}

/// The submodules of a folder module and the siblings each names (through
/// `super::x` or `crate::folder::x`).
fn sibling_uses(folder: &str) -> BTreeMap<String, BTreeSet<String>> {
    let dir = src().join(folder);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files(&dir) {
        let rel = file.strip_prefix(&dir).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.trim_end_matches(".rs").to_string();
        if module == "mod" || module == "tests" {
            continue;
        }
        // Inside a nested folder `super::` is that folder's parent module.
        let nested = rel.components().count() > 1 && !rel.ends_with("mod.rs");
        let mut names: Vec<String> = names_after(&file, &format!("crate::{folder}::"))
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        if !nested {
            names.extend(names_after(&file, "super::").into_iter().map(|(_, n)| n));
        }
        let entry = uses.entry(module.clone()).or_default();
        for n in names {
            let sibling = dir.join(format!("{n}.rs")).is_file() || dir.join(&n).is_dir();
            if sibling && n != module {
                entry.insert(n);
            }
        }
    }
    uses
}

#[test]
fn no_two_modules_of_a_folder_import_each_other() {
    for folder in ["runtime", "serve", "plan", "manifest"] {
        let uses = sibling_uses(folder);
        // Depth-first search for a cycle; report its path.
        fn visit<'a>(
            at: &'a str,
            uses: &'a BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<&'a str>,
            done: &mut BTreeSet<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| *p == at) {
                return Some(path[i..].iter().map(|s| s.to_string()).collect());
            }
            if !done.insert(at) {
                return None;
            }
            path.push(at);
            for next in uses.get(at).into_iter().flatten() {
                if let Some(cycle) = visit(next, uses, path, done) {
                    return Some(cycle);
                }
            }
            path.pop();
            None
        }
        let mut done = BTreeSet::new();
        for start in uses.keys() {
            let cycle = visit(start, &uses, &mut Vec::new(), &mut done);
            assert!(
                cycle.is_none(),
                "`{folder}`: modules import each other: {cycle:?}"
            );
        }
    }
}
