//! Performance regressions: `weld bench --save-baseline` / `--baseline`
//! (a run's samples saved, and a later run compared with them cell by
//! cell), and `--svg` (the matrix as a chart).
//!
//! The pieces are plain data and functions, tested without running
//! anything: [`stats`] (the ratio of medians and its bootstrap interval,
//! the verdict), [`baseline`] (the file: its format, reading it bounded,
//! what differs between two runs' circumstances), [`compare`] (a run
//! against a baseline, and its reports) and [`chart`]. The CLI's command
//! (`cli/src/commands/bench.rs`) measures, calls them and prints.

pub mod baseline;
pub mod chart;
pub mod compare;
pub mod stats;

use crate::matrix::{Row, Series, HOST_FLOORS, TUNED};
use baseline::{
    round_ns, Baseline, Cell, ComponentDigest, DeploymentInfo, EngineInfo, Environment, SeriesInfo,
};
use sha2::Digest as _;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::Deployment;

/// How a series is recorded in a baseline; `transport` is `in-process` or
/// `wrpc`.
pub fn series_info(s: &Series, transport: &str) -> SeriesInfo {
    SeriesInfo {
        name: s.name.to_string(),
        key: s.key.to_string(),
        transport: transport.to_string(),
        strategy: Some(
            s.strategy
                .map_or("planned", |st| match st {
                    weld_linker::manifest::Strategy::Fused => "fused",
                    weld_linker::manifest::Strategy::HostLinked => "host-linked",
                })
                .to_string(),
        ),
        deadline_ms: s.deadline_ms,
        engine: Some(engine_info(&s.engine, s.deadline_ms.is_some())),
    }
}

/// How engine settings are recorded; `deadline` turns epochs on.
fn engine_info(e: &EngineSettings, deadline: bool) -> EngineInfo {
    EngineInfo {
        concurrency: e.concurrency,
        inlining: e.inlining,
        pooling: e.pooling.is_some(),
        epoch: e.epoch || deadline,
    }
}

/// The native floor's record.
pub fn native_info() -> SeriesInfo {
    SeriesInfo {
        name: "native".into(),
        key: "native".into(),
        transport: "native".into(),
        strategy: None,
        deadline_ms: None,
        engine: None,
    }
}

/// The records of the two floors of a host-linked call
/// ([`crate::matrix::host_floor_rows`]), under their one key `host-floors`.
pub fn host_floor_infos() -> Vec<SeriesInfo> {
    HOST_FLOORS
        .iter()
        .map(|name| SeriesInfo {
            name: name.to_string(),
            key: "host-floors".into(),
            transport: "host-floor".into(),
            strategy: None,
            deadline_ms: None,
            engine: Some(engine_info(&TUNED, false)),
        })
        .collect()
}

/// Lower-case hex SHA-256 of each component of `deployment`.
pub fn digests(deployment: &Deployment) -> Vec<ComponentDigest> {
    deployment
        .components
        .keys()
        .map(|name| {
            let digest = sha2::Sha256::digest(deployment.bytes(name));
            ComponentDigest {
                name: name.clone(),
                sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            }
        })
        .collect()
}

/// A baseline of `rows`, measured with `series` on `deployment`.
pub fn baseline_of(
    rows: &[Row],
    series: Vec<SeriesInfo>,
    deployment: DeploymentInfo,
    budget_ms: u64,
) -> Baseline {
    Baseline {
        format: baseline::FORMAT.to_string(),
        version: baseline::VERSION,
        created: baseline::now_utc(),
        environment: Environment::current(),
        budget_ms,
        deployment,
        series,
        cells: rows
            .iter()
            .map(|r| Cell {
                payload: r.payload.clone(),
                series: r.series.clone(),
                calls_per_sample: r.inner,
                median_ns: round_ns(r.ns_per_call),
                samples_ns: r.times.iter().copied().map(round_ns).collect(),
            })
            .collect(),
    }
}
