//! The fields of `weld bench --json`'s documents, one structure per job
//! (each printed in a `weld_linker::json::Document`; `docs/json.md`).

use crate::external::ExternalRow;
use crate::http::HttpRow;
use crate::load::LoadRow;
use crate::matrix::Row;
use crate::regress::compare;
use serde::Serialize;
use std::path::Path;

/// The matrix, and its comparison with a baseline when one was given.
#[derive(Debug, Serialize)]
pub struct MatrixReport<'a> {
    /// The time budget of each measurement, in milliseconds.
    pub budget_ms: u64,
    /// One row per call and link kind.
    pub rows: &'a [Row],
    /// The comparison with `--baseline`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<&'a compare::Report>,
}

/// `--calibrate FILE`: the rows measured and the file they were written to.
#[derive(Debug, Serialize)]
pub struct CalibrationReport<'a> {
    /// The time budget of each measurement, in milliseconds.
    pub budget_ms: u64,
    /// The calibration file written.
    pub calibration: &'a Path,
    /// The rows measured.
    pub rows: &'a [Row],
}

/// `--load`: one row per transport and concurrency.
#[derive(Debug, Serialize)]
pub struct LoadReport<'a> {
    /// The rows.
    pub load: &'a [LoadRow],
}

/// `--external`: the rows, and what was skipped and why.
#[derive(Debug, Serialize)]
pub struct ExternalReport<'a> {
    /// The rows.
    pub external: &'a [ExternalRow],
    /// What a reader should know (peers missing, series skipped).
    pub notes: &'a [String],
}

/// `--http`: the rows, and what was skipped and why.
#[derive(Debug, Serialize)]
pub struct HttpReport<'a> {
    /// The rows.
    pub http: &'a [HttpRow],
    /// What a reader should know (the anchor's version, or its absence).
    pub notes: &'a [String],
}
