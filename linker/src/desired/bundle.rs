//! A deployment as a desired state: every file it is made from (the
//! manifest, what it includes, its components, providers' WIT), each named
//! by its path below the files' common folder and by the SHA-256 of its
//! bytes. The document is small (a key's value); the bytes are stored
//! apart, once per digest.
//!
//! A document comes from a bucket anyone with write access may fill, so
//! every part of it is checked before a byte is written: its size, its
//! format, each path (relative, no `..`, no empty or special component,
//! not too long), the number of files and their sizes. A host lays the
//! files out in a folder of its own and loads the deployment from there;
//! a deployment that reaches outside that folder for a file it is made
//! from, or inside it for one of the host's own (a key, a socket), is
//! refused as its manifest is read (`Manifest::load_desired`).

use super::DesiredError;
use crate::manifest::Manifest;
use sha2::{Digest as _, Sha256};
use std::path::{Component, Path, PathBuf};

/// The format this version of weld writes and reads.
pub const FORMAT: &str = "weld-desired-state/1";

/// The largest document read, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The most files one desired state may name.
pub const MAX_FILES: usize = 4096;

/// The longest path of a file in a desired state, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// The most bytes the files of one desired state may hold together (a
/// host holds them in memory while it loads them).
pub const MAX_TOTAL_BYTES: u64 = 4 << 30;

/// A deployment's files, as a desired state names them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`FORMAT`].
    pub format: String,
    /// The manifest's path among `files`.
    pub manifest: String,
    /// Every file, manifest first.
    pub files: Vec<BundleFile>,
}

/// One file of a desired state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleFile {
    /// Its path below the desired state's folder (`/`-separated).
    pub path: String,
    /// Hex SHA-256 of its bytes: also its name in the object store.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Bundle {
    /// The files `manifest`'s deployment is made from, read again from
    /// disk (each at most `cap` bytes), named below their common folder.
    ///
    /// # Errors
    /// [`DesiredError::Read`] for a file that cannot be read;
    /// [`DesiredError::Document`] for more than [`MAX_FILES`] files or a
    /// path longer than [`MAX_PATH_BYTES`].
    pub fn of(manifest: &Manifest, cap: u64) -> Result<(Bundle, Vec<Vec<u8>>), DesiredError> {
        let mut paths = Vec::new();
        for p in manifest.sources() {
            let p = std::fs::canonicalize(&p).map_err(|e| DesiredError::Read {
                path: p.clone(),
                source: e.into(),
            })?;
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        let root = common_folder(&paths);
        let mut files = Vec::with_capacity(paths.len());
        let mut bytes = Vec::with_capacity(paths.len());
        for p in &paths {
            let b = crate::input::read_file(p, cap).map_err(|source| DesiredError::Read {
                path: p.clone(),
                source,
            })?;
            let rel = p.strip_prefix(&root).expect("below the common folder");
            files.push(BundleFile {
                path: rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
                sha256: sha256_hex(&b),
                size: b.len() as u64,
            });
            bytes.push(b);
        }
        let bundle = Bundle {
            format: FORMAT.to_string(),
            manifest: files[0].path.clone(),
            files,
        };
        bundle.check(cap)?;
        Ok((bundle, bytes))
    }

    /// Parses and checks a document read from a bucket.
    ///
    /// # Errors
    /// [`DesiredError::Document`] naming what is wrong: too large, not
    /// JSON of this format, or a file [`Bundle::check`] refuses.
    pub fn parse(bytes: &[u8], cap: u64) -> Result<Bundle, DesiredError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(DesiredError::Document(format!(
                "the document is {} bytes, over the {MAX_DOCUMENT_BYTES} read",
                bytes.len()
            )));
        }
        let bundle: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| DesiredError::Document(format!("not a weld desired state: {e}")))?;
        bundle.check(cap)?;
        Ok(bundle)
    }

    /// The document, as stored.
    ///
    /// # Panics
    /// Never: every field serialises.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a bundle serialises")
    }

    /// Checks the document: its format, the number of files, each path
    /// (relative, `/`-separated, no `.`, `..` or empty component, no NUL
    /// or backslash, at most [`MAX_PATH_BYTES`]), each digest (64 hex
    /// digits), each size (at most `cap`), no path twice, and the manifest
    /// among the files.
    ///
    /// # Errors
    /// [`DesiredError::Document`] naming the first problem.
    pub fn check(&self, cap: u64) -> Result<(), DesiredError> {
        let bad = |m: String| Err(DesiredError::Document(m));
        if self.format != FORMAT {
            return bad(format!(
                "format `{}` is not `{FORMAT}`",
                self.format.escape_debug()
            ));
        }
        if self.files.is_empty() || self.files.len() > MAX_FILES {
            return bad(format!(
                "{} files named (1 to {MAX_FILES} are read)",
                self.files.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.files {
            if let Some(problem) = path_problem(&f.path) {
                return bad(format!("path `{}` {problem}", f.path.escape_debug()));
            }
            if !seen.insert(f.path.as_str()) {
                return bad(format!("path `{}` is named twice", f.path));
            }
            if f.sha256.len() != 64
                || !f
                    .sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            {
                return bad(format!(
                    "`{}` has no SHA-256 (64 lowercase hex digits)",
                    f.path
                ));
            }
            if f.size > cap {
                return bad(format!(
                    "`{}` is {} bytes, over the {cap} read",
                    f.path, f.size
                ));
            }
        }
        let total = self
            .files
            .iter()
            .map(|f| f.size)
            .fold(0u64, u64::saturating_add);
        if total > MAX_TOTAL_BYTES {
            return bad(format!(
                "its files hold {total} bytes together, over the {MAX_TOTAL_BYTES} read"
            ));
        }
        // A file below another file's path cannot be laid out.
        for f in &self.files {
            let mut prefix = f.path.as_str();
            while let Some((parent, _)) = prefix.rsplit_once('/') {
                if seen.contains(parent) {
                    return bad(format!("`{}` is below the file `{parent}`", f.path));
                }
                prefix = parent;
            }
        }
        if !seen.contains(self.manifest.as_str()) {
            return bad(format!(
                "the manifest `{}` is not among its files",
                self.manifest.escape_debug()
            ));
        }
        Ok(())
    }

    /// Lays the files out below `dir` (which must not exist yet; created
    /// owner-only), each file's bytes given by `bytes` (which checks them
    /// against the digest), and returns the manifest's path.
    ///
    /// # Errors
    /// What `bytes` returns; [`DesiredError::Write`] when a file cannot be
    /// written.
    pub fn lay_out(
        &self,
        dir: &Path,
        mut bytes: impl FnMut(&BundleFile) -> Result<Vec<u8>, DesiredError>,
    ) -> Result<PathBuf, DesiredError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let write = |path: &Path, source| DesiredError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| write(dir, e))?;
        for f in &self.files {
            let data = bytes(f)?;
            if data.len() as u64 != f.size || sha256_hex(&data) != f.sha256 {
                return Err(DesiredError::Digest {
                    path: f.path.clone(),
                });
            }
            let path = dir.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .recursive(true)
                    .create(parent)
                    .map_err(|e| write(parent, e))?;
            }
            // `create_new`: a path the checks let through never lands on
            // something already there.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| write(&path, e))?;
            std::io::Write::write_all(&mut file, &data).map_err(|e| write(&path, e))?;
        }
        Ok(dir.join(&self.manifest))
    }
}

/// Why a path may not be laid out, if it may not.
fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("is empty");
    }
    if path.len() > MAX_PATH_BYTES {
        return Some("is too long");
    }
    if path.contains(['\\', '\0']) || path.chars().any(char::is_control) {
        return Some("holds a backslash, NUL or control character");
    }
    if path.starts_with('/') {
        return Some("is absolute");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("has an empty, `.` or `..` component");
    }
    // What `Path` makes of it must be plain names too.
    if !Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Some("is not a plain relative path");
    }
    None
}

/// The deepest folder holding every path (all absolute).
fn common_folder(paths: &[PathBuf]) -> PathBuf {
    let mut root = paths[0].parent().map(Path::to_path_buf).unwrap_or_default();
    for p in &paths[1..] {
        while !p.starts_with(&root) {
            if !root.pop() {
                break;
            }
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> BundleFile {
        BundleFile {
            path: path.into(),
            sha256: sha256_hex(path.as_bytes()),
            size: path.len() as u64,
        }
    }

    fn bundle(paths: &[&str]) -> Bundle {
        Bundle {
            format: FORMAT.into(),
            manifest: paths[0].into(),
            files: paths.iter().map(|p| file(p)).collect(),
        }
    }

    #[test]
    fn hostile_paths_are_refused_before_anything_is_written() {
        for (path, problem) in [
            ("/etc/passwd", "absolute"),
            ("a/../../x", "`..`"),
            ("a//b", "empty"),
            ("./a", "`.`"),
            ("a\\b", "backslash"),
            ("a\0b", "NUL"),
            ("", "empty"),
        ] {
            let b = bundle(&["weld.toml", path]);
            let e = b.check(1 << 20).unwrap_err().to_string();
            assert!(e.contains(problem), "{path:?}: {e}");
        }
        let long = "a/".repeat(MAX_PATH_BYTES) + "x";
        assert!(bundle(&["weld.toml", &long]).check(1 << 20).is_err());
        let e = bundle(&["weld.toml", "weld.toml"])
            .check(1 << 20)
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        let e = bundle(&["weld.toml", "weld.toml/x"])
            .check(1 << 20)
            .unwrap_err();
        assert!(e.to_string().contains("below the file"), "{e}");
        let e = bundle(&["weld.toml"]).check(3).unwrap_err();
        assert!(e.to_string().contains("over the 3 read"), "{e}");
        let mut b = bundle(&["weld.toml"]);
        b.manifest = "other.toml".into();
        assert!(b
            .check(1 << 20)
            .unwrap_err()
            .to_string()
            .contains("not among"));
        let mut b = bundle(&["weld.toml"]);
        b.files[0].sha256 = "../../etc".into();
        assert!(b
            .check(1 << 20)
            .unwrap_err()
            .to_string()
            .contains("SHA-256"));
        let e = Bundle::parse(&vec![b' '; MAX_DOCUMENT_BYTES + 1], 1 << 20).unwrap_err();
        assert!(e.to_string().contains("over the"), "{e}");
        let e = Bundle::parse(
            br#"{"format":"weld-desired-state/1","manifest":"a","files":[],"x":1}"#,
            9,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn a_file_whose_bytes_do_not_match_its_digest_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let b = bundle(&["weld.toml", "c/x.wasm"]);
        let laid = b.lay_out(&dir.path().join("r1"), |f| Ok(f.path.as_bytes().to_vec()));
        assert_eq!(laid.unwrap(), dir.path().join("r1/weld.toml"));
        assert_eq!(
            std::fs::read(dir.path().join("r1/c/x.wasm")).unwrap(),
            b"c/x.wasm"
        );
        let e = b
            .lay_out(&dir.path().join("r2"), |_| Ok(b"something else".to_vec()))
            .unwrap_err();
        assert!(matches!(e, DesiredError::Digest { .. }), "{e}");
    }

    proptest::proptest! {
        /// Whatever a document names, a path that passes the checks lays
        /// out inside the folder.
        #[test]
        fn checked_paths_stay_inside(path in "[a-z./\\\\]{1,24}") {
            if path_problem(&path).is_none() {
                let joined = Path::new("/r").join(&path);
                proptest::prop_assert!(joined.starts_with("/r"));
                proptest::prop_assert!(joined.components().all(|c| !matches!(c, Component::ParentDir)));
            }
        }
    }
}
