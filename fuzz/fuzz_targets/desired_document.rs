//! Arbitrary bytes → `Bundle::parse`, as a host reads the document under a
//! desired state's key (written by anyone who may write to the bucket).
//! Nothing here may panic, and every document accepted names only files
//! that lay out inside the host's folder.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Component, Path};
use weld_linker::desired::Bundle;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::parse(data, 1 << 20) else {
        return;
    };
    let root = Path::new("/weld-revision");
    for file in &bundle.files {
        let laid = root.join(&file.path);
        assert!(laid.starts_with(root), "{:?} leaves the folder", file.path);
        assert!(
            laid.strip_prefix(root)
                .unwrap()
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
            "{:?} is not plain names",
            file.path
        );
        assert!(file.size <= 1 << 20);
    }
    assert!(bundle.files.iter().any(|f| f.path == bundle.manifest));
});
