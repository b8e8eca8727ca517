//! weld's versioned JSON files — a cost calibration, a bench baseline —
//! open with `"format"` and `"version"`. The two are read first, alone, so
//! a file of another kind or another version is named as such, not as a
//! missing field of this one.

use serde::Deserialize;

/// A kind of versioned file: the `format` it declares and the one version
/// of it this weld reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// The `format` field (`"weld-costs"`).
    pub format: &'static str,
    /// The `version` field.
    pub version: u32,
    /// What such a file is, for errors ("a weld calibration").
    pub what: &'static str,
}

/// Why a file is not of the kind expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Not JSON, or not an object.
    #[error("not JSON of a weld file")]
    Json(#[source] serde_json::Error),
    /// Another kind of file.
    #[error("not {what}: `format` is {}, not \"{expected}\"", .found.as_ref().map_or("missing".to_string(), |f| format!("{f:?}")))]
    Format {
        /// What was expected.
        what: &'static str,
        /// The `format` expected.
        expected: &'static str,
        /// The `format` found, if any.
        found: Option<String>,
    },
    /// The kind expected, another version.
    #[error("format version {}; this weld reads version {expected}", .found.map_or("missing".to_string(), |v| v.to_string()))]
    Version {
        /// The version this weld reads.
        expected: u32,
        /// The version found, if any.
        found: Option<u32>,
    },
}

/// The first fields only.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

impl FileKind {
    /// Checks that `bytes` are JSON of this kind and version (the rest of
    /// the document is not read).
    ///
    /// # Errors
    /// [`HeaderError::Json`] when the bytes are not a JSON object,
    /// [`HeaderError::Format`] for another kind of file,
    /// [`HeaderError::Version`] for another version.
    pub fn check(&self, bytes: &[u8]) -> Result<(), HeaderError> {
        let header: Header = serde_json::from_slice(bytes).map_err(HeaderError::Json)?;
        if header.format.as_deref() != Some(self.format) {
            return Err(HeaderError::Format {
                what: self.what,
                expected: self.format,
                found: header.format,
            });
        }
        if header.version != Some(self.version) {
            return Err(HeaderError::Version {
                expected: self.version,
                found: header.version,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: FileKind = FileKind {
        format: "weld-x",
        version: 2,
        what: "a weld x",
    };

    #[test]
    fn another_kind_or_version_is_named_as_such() {
        assert!(KIND
            .check(br#"{"format":"weld-x","version":2,"more":[]}"#)
            .is_ok());
        let e = KIND.check(br#"{"rows":[]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "not a weld x: `format` is missing, not \"weld-x\""
        );
        let e = KIND
            .check(br#"{"format":"weld-y","version":2}"#)
            .unwrap_err();
        assert!(matches!(&e, HeaderError::Format { found: Some(f), .. } if f == "weld-y"));
        let e = KIND
            .check(br#"{"format":"weld-x","version":9}"#)
            .unwrap_err();
        assert_eq!(e.to_string(), "format version 9; this weld reads version 2");
        assert!(matches!(KIND.check(b"[1]"), Err(HeaderError::Json(_))));
        assert!(matches!(
            KIND.check(b"{\"format\":"),
            Err(HeaderError::Json(_))
        ));
    }
}
