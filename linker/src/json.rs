//! The documents weld prints for machines (`--json`, `docs/json.md`): each
//! opens with the schema version and whether the command succeeded, then
//! the command's own fields, all of them typed structures here or in the
//! layer that produces them.

use crate::diagnostic::Diagnostic;
use serde::Serialize;

/// The version of every `--json` document's schema. Fields are only ever
/// added within a version; a removal or a change of meaning bumps it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// One `--json` document: `{"version": …, "ok": …, <body's fields>}`.
#[derive(Debug, Serialize)]
pub struct Document<T> {
    /// [`JSON_SCHEMA_VERSION`].
    pub version: u32,
    /// Whether the command did what it was asked.
    pub ok: bool,
    /// The command's fields, at the top level of the document.
    #[serde(flatten)]
    pub body: T,
}

impl<T: Serialize> Document<T> {
    /// A successful command's document.
    pub fn ok(body: T) -> Self {
        Document {
            version: JSON_SCHEMA_VERSION,
            ok: true,
            body,
        }
    }

    /// The document, indented, with a final newline.
    ///
    /// # Panics
    /// If `T`'s `Serialize` fails, which the structures weld prints never
    /// do (no maps with non-string keys, no failing custom serialisers).
    #[must_use]
    pub fn to_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("weld's documents serialise");
        text.push('\n');
        text
    }
}

/// The fields of a failed command's document.
#[derive(Debug, Serialize)]
pub struct Errors<'a> {
    /// Every error found, in order.
    pub errors: &'a [Diagnostic],
}

impl<'a> Document<Errors<'a>> {
    /// A failed command's document, listing `errors`.
    #[must_use]
    pub fn failed(errors: &'a [Diagnostic]) -> Self {
        Document {
            version: JSON_SCHEMA_VERSION,
            ok: false,
            body: Errors { errors },
        }
    }
}

/// A message to a reader, as its own object (`{"message": …}`), so fields
/// can be added beside it.
#[derive(Debug, Serialize)]
pub struct Message {
    /// The text.
    pub message: String,
}
