//! One `weld bench` run's matrix: which deployment, which invocations,
//! which series — chosen from a [`Selection`] — and its measurement, stage
//! by stage (the native floor, the host-linked floors, the in-process
//! series, the wRPC series).

use crate::matrix::{self, BenchCall, Row, Series, PLANNED, SERIES, WRPC_SERIES};
use crate::progress::{stage, Progress};
use crate::regress::{self, baseline::SeriesInfo};
use crate::Error;
use std::time::Duration;
use weld_linker::Deployment;

/// Every series key, in the order the matrix prints them.
pub const SERIES_KEYS: [&str; 12] = [
    "native",
    "host-floors",
    "fused-tuned",
    "fused-tuned-deadline",
    "fused-default",
    "host-linked-tuned",
    "host-linked-tuned-deadline",
    "host-linked-default",
    "planned",
    "wrpc-tcp",
    "wrpc-unix",
    "wrpc-nats",
];

/// The series that measure the bundled `driver` and `adder` only: the
/// floors and the wRPC series.
pub fn needs_bundled(key: &str) -> bool {
    key == "native" || key == "host-floors" || key.starts_with("wrpc-")
}

/// Which series a run measures.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The series asked for by key ([`SERIES_KEYS`]); empty for the
    /// defaults: with a deployment `planned` (each link as its manifest
    /// plans it), with the bundled fixtures every series but `planned`.
    pub keys: Vec<String>,
    /// With a deployment and no keys: every in-process series beside
    /// `planned`.
    pub every_in_process: bool,
    /// With the bundled fixtures and no keys: leave the wRPC series out.
    pub no_wrpc: bool,
    /// A NATS server (`nats://…`) for the `wrpc-nats` series; without one
    /// that series is not measured.
    pub nats: Option<String>,
}

impl Selection {
    /// Whether the series `key` is measured, on the bundled fixtures or on
    /// a deployment of the user's.
    pub fn wants(&self, key: &str, bundled: bool) -> bool {
        if !self.keys.is_empty() {
            self.keys.iter().any(|k| k == key)
        } else if bundled {
            key != "planned"
                && !(key.starts_with("wrpc-") && self.no_wrpc)
                && (key != "wrpc-nats" || self.nats.is_some())
        } else {
            key == "planned" || (self.every_in_process && !needs_bundled(key))
        }
    }
}

/// How each cell is measured.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The time budget of each cell.
    pub budget: Duration,
    /// The host whose components are called (a deployment's; the bundled
    /// pair has one).
    pub host: Option<String>,
    /// The NATS server of the `wrpc-nats` series.
    pub nats: Option<String>,
}

/// What one run measures: the deployment, its invocations, the series.
#[derive(Debug)]
pub struct Suite {
    /// The deployment measured.
    pub deployment: Deployment,
    /// The invocations timed.
    pub calls: Vec<BenchCall>,
    /// The native floor (bundled fixtures only).
    pub native: bool,
    /// The two floors of a host-linked `add` (bundled fixtures only).
    pub host_floors: bool,
    /// The in-process series.
    pub in_process: Vec<Series>,
    /// The wRPC series (bundled fixtures only).
    pub wrpc: Vec<Series>,
}

impl Suite {
    /// The bundled `driver` + `adder` pair and its loops, under the
    /// series `selection` wants.
    ///
    /// # Errors
    /// [`Error::FixtureMissing`] when the fixtures are not built.
    pub fn bundled(selection: &Selection) -> Result<Suite, Error> {
        let [driver, adder] = matrix::fixtures(["driver", "adder"])?;
        Ok(Suite {
            deployment: matrix::bundled(driver, adder, None)?,
            calls: matrix::default_calls(),
            native: selection.wants("native", true),
            host_floors: selection.wants("host-floors", true),
            in_process: in_process(selection, true),
            wrpc: WRPC_SERIES
                .iter()
                .filter(|(key, _)| selection.wants(key, true))
                .map(|&(key, name)| matrix::wrpc_series(key, name))
                .collect(),
        })
    }

    /// A deployment of the user's and its invocations, under the
    /// in-process series `selection` wants (the floors and wRPC series
    /// measure the bundled pair only).
    pub fn deployed(deployment: Deployment, calls: Vec<BenchCall>, selection: &Selection) -> Suite {
        Suite {
            deployment,
            calls,
            native: false,
            host_floors: false,
            in_process: in_process(selection, false),
            wrpc: Vec::new(),
        }
    }

    /// How the series measured are recorded in a baseline.
    pub fn series_infos(&self) -> Vec<SeriesInfo> {
        let mut out = Vec::new();
        if self.native {
            out.push(regress::native_info());
        }
        if self.host_floors {
            out.extend(regress::host_floor_infos());
        }
        out.extend(
            self.in_process
                .iter()
                .map(|s| regress::series_info(s, "in-process")),
        );
        out.extend(self.wrpc.iter().map(|s| regress::series_info(s, "wrpc")));
        out
    }

    /// Measures every cell, grouped by payload for reading.
    ///
    /// # Errors
    /// The first cell that cannot be measured ([`Error::Measure`] names
    /// it), a host that cannot be served for a wRPC series.
    pub fn measure(
        &self,
        settings: &Settings,
        progress: &mut dyn Progress,
    ) -> Result<Vec<Row>, Error> {
        let mut rows = Vec::new();
        if self.native {
            rows.extend(stage(progress, 1, |progress| {
                progress.step("the native floor");
                Ok::<_, Error>(matrix::native_rows(settings.budget))
            })?);
        }
        if self.host_floors {
            rows.extend(stage(progress, 1, |progress| {
                progress.step("the host-linked floors");
                matrix::host_floor_rows(&self.deployment, settings.budget)
            })?);
        }
        let cells = self.calls.len() * self.in_process.len();
        rows.extend(stage(progress, cells, |progress| {
            matrix::run(
                &self.deployment,
                settings.host.clone(),
                &self.calls,
                &self.in_process,
                settings.budget,
                |series, payload| progress.step(&format!("{series}: {payload}")),
            )
        })?);
        if !self.wrpc.is_empty() {
            rows.extend(crate::remote::rows(
                &self.wrpc,
                settings.nats.as_deref(),
                settings.budget,
                progress,
            )?);
        }
        let mut ordered = Vec::with_capacity(rows.len());
        for c in &self.calls {
            ordered.extend(rows.iter().filter(|r| r.payload == c.label).cloned());
        }
        Ok(ordered)
    }
}

/// The in-process series `selection` wants, `planned` last.
fn in_process(selection: &Selection, bundled: bool) -> Vec<Series> {
    SERIES
        .iter()
        .chain([&PLANNED])
        .filter(|s| selection.wants(s.key, bundled))
        .copied()
        .collect()
}

impl BenchCall {
    /// An invocation to time, `component.function(args)`, with `*N`
    /// appended when one invocation makes N component calls
    /// (`driver.run-add(10000)*10000`).
    ///
    /// # Errors
    /// [`Error::Invocation`] when the count after `*` is not a positive
    /// integer.
    pub fn parse(text: &str) -> Result<BenchCall, Error> {
        let (call, inner) = match text.rsplit_once(")*") {
            Some((c, n)) => match n.parse::<u64>() {
                Ok(n) if n > 0 => (format!("{c})"), n),
                _ => {
                    return Err(Error::Invocation {
                        text: text.to_string(),
                        reason: "the count after `*` must be a positive integer",
                    })
                }
            },
            None => (text.to_string(), 1),
        };
        Ok(BenchCall {
            label: call.clone(),
            call,
            inner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_count_must_be_a_positive_integer() {
        let c = BenchCall::parse("driver.run-add(10)*10").unwrap();
        assert_eq!((c.call.as_str(), c.inner), ("driver.run-add(10)", 10));
        assert_eq!(BenchCall::parse("a.f(1)").unwrap().inner, 1);
        for bad in ["a.f(1)*0", "a.f(1)*-3", "a.f(1)*x", "a.f(1)*"] {
            assert!(
                matches!(BenchCall::parse(bad), Err(Error::Invocation { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_defaults_follow_what_is_measured() {
        let none = Selection::default();
        assert!(none.wants("planned", false) && !none.wants("fused-tuned", false));
        assert!(!none.wants("planned", true) && none.wants("wrpc-tcp", true));
        assert!(!none.wants("wrpc-nats", true), "NATS only with a server");
        let every = Selection {
            every_in_process: true,
            ..Selection::default()
        };
        assert!(every.wants("host-linked-default", false) && !every.wants("native", false));
        let keys = Selection {
            keys: vec!["native".into()],
            ..Selection::default()
        };
        assert!(keys.wants("native", true) && !keys.wants("fused-tuned", true));
    }
}
