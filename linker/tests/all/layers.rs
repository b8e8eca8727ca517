//! The layers of weld-linker run one way: the runtime does not reach up
//! into serving. A `use` that breaks this fails here, by file and line.
//! (The wire is the `weld-wrpc` crate, which depends on no other weld
//! crate: the compiler keeps it at the bottom.)

use std::path::Path;

/// Every `crate::…` path a module's sources mention, with file and line.
fn crate_paths(dir: &Path) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let mut rest = line;
                    while let Some(at) = rest.find("crate::") {
                        let tail = &rest[at + "crate::".len()..];
                        let name: String = tail
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        out.push((path.display().to_string(), i + 1, name));
                        rest = tail;
                    }
                }
            }
        }
    }
    out
}

fn assert_only(module: &str, allowed: &[&str]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(module);
    let bad: Vec<_> = crate_paths(&src)
        .into_iter()
        .filter(|(_, _, name)| !allowed.contains(&name.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "`{module}` reaches outside its layer: {bad:#?}"
    );
}

#[test]
fn the_runtime_does_not_reach_up_into_serving() {
    assert_only(
        "runtime",
        &[
            "runtime",
            "wrpc",
            "wit",
            "diagnostic",
            "input",
            "manifest",
            "introspect",
            "plan",
            "deployment",
            "fuse",
        ],
    );
}
