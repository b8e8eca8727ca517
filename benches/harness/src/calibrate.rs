//! `weld bench --calibrate FILE`: what a call costs on this machine, per
//! transport and payload class, as the table `weld plan --costs` reads
//! (`weld_linker::cost`).
//!
//! The classes are the bundled matrix's payloads: the `driver` fixture's
//! loops calling `adder` (`add(u32,u32) -> u32`, a 32-byte and a 1 KiB
//! string echoed, a 64 KiB `list<u8>` summed), and the `kv` fixture's
//! buckets (create, `len`, drop: three calls carrying a handle). Each is
//! measured fused and host-linked with weld's engine, and the adder pair
//! over each wRPC transport; resources cannot cross wRPC (the planner
//! refuses), so wRPC entries have no resource figure. `compose` links are
//! estimated from the fused entry: a composed artifact crosses the same
//! fused adapters.

use crate::matrix::{self, BenchCall, Row, Series, SERIES, WRPC_SERIES};
use crate::progress::{stage, Progress};
use crate::Error;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weld_linker::cost::{Assumptions, Calibration, CostKey, Point, TransportCosts};
use weld_linker::{Deployment, PlanOptions};

/// The in-process series calibrated.
pub const IN_PROCESS: [&str; 2] = ["fused-tuned", "host-linked-tuned"];

/// The label of the resource payload.
pub const RESOURCE: &str = "resource create + len + drop";

/// Iterations of the resource loop per invocation.
const RESOURCE_LOOPS: u64 = 500;

/// Component calls per iteration of `run-resource`: the constructor,
/// `len`, and the drop that runs the destructor.
const CALLS_PER_RESOURCE: u64 = 3;

/// The bytes each payload class carries, parameters and results together
/// (what `weld_linker::cost` counts for a signature): `add` two `u32` in
/// and one out; an echo the string in and out; the sum the list in and a
/// `u64` out.
const CLASSES: [(&str, u64); 4] = [
    ("add(u32,u32)", 12),
    ("echo 32 B", 64),
    ("echo 1 KiB", 2048),
    ("sum list<u8> 64 KiB", 65536 + 8),
];

/// Measures what [`calibration`] needs — the bundled pair fused and
/// host-linked, the `kv` resource pair the same, and the pair over each
/// wRPC transport unless `wrpc` is false (NATS through `nats` when given)
/// — and writes the table to `file`. Returns the rows measured.
///
/// # Errors
/// A fixture missing, a cell that cannot be measured, [`Error::Io`] when
/// `file` cannot be written.
pub fn run(
    budget: Duration,
    wrpc: bool,
    nats: Option<&str>,
    file: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<Row>, Error> {
    let series: Vec<Series> = SERIES
        .iter()
        .filter(|s| IN_PROCESS.contains(&s.key))
        .copied()
        .collect();
    let [driver, adder] = matrix::fixtures(["driver", "adder"])?;
    let pair = matrix::bundled(driver, adder, None)?;
    let resources = resource_deployment()?;
    let calls = matrix::default_calls();
    let mut rows = stage(progress, (calls.len() + 1) * series.len(), |progress| {
        let mut step = |s: &str, p: &str| progress.step(&format!("{s}: {p}"));
        let mut rows = matrix::run(&pair, None, &calls, &series, budget, &mut step)?;
        let resource = [resource_call()];
        rows.extend(matrix::run(
            &resources, None, &resource, &series, budget, &mut step,
        )?);
        Ok::<_, Error>(rows)
    })?;
    if wrpc {
        let wanted: Vec<Series> = WRPC_SERIES
            .iter()
            .filter(|(key, _)| *key != "wrpc-nats" || nats.is_some())
            .map(|&(key, name)| matrix::wrpc_series(key, name))
            .collect();
        rows.extend(crate::remote::rows(&wanted, nats, budget, progress)?);
    }
    let text = serde_json::to_string_pretty(&calibration(&rows)).expect("a calibration serialises");
    std::fs::write(file, text + "\n").map_err(|source| Error::Io {
        action: "write the calibration",
        path: file.to_path_buf(),
        source,
    })?;
    Ok(rows)
}

/// The `kv` provider and its consumer in-process.
///
/// # Errors
/// [`Error::FixtureMissing`], or [`Error::Deployment`] if they do not plan.
pub fn resource_deployment() -> Result<Deployment, Error> {
    let [kv, consumer] = matrix::fixtures(["kv", "kv-consumer"])?;
    Deployment::from_memory(
        "[components.kv-consumer]\n[components.kv]\n",
        [
            ("kv-consumer".to_string(), consumer),
            ("kv".to_string(), kv),
        ],
        &PlanOptions::default(),
    )
    .map_err(|source| Error::Deployment {
        what: "resource",
        source,
    })
}

/// The resource invocation: per call, a third of an iteration.
pub fn resource_call() -> BenchCall {
    BenchCall {
        label: RESOURCE.to_string(),
        call: format!("kv-consumer.run-resource({RESOURCE_LOOPS})"),
        inner: RESOURCE_LOOPS * CALLS_PER_RESOURCE,
    }
}

/// The calibration table of measured `rows` (series named as `weld
/// bench` names them).
pub fn calibration(rows: &[Row]) -> Calibration {
    let keys = [
        (CostKey::Fused, "fused (tuned)"),
        (CostKey::HostLinked, "host-linked (tuned)"),
        (CostKey::WrpcTcp, "wRPC tcp (loopback)"),
        (CostKey::WrpcUnix, "wRPC unix"),
        (CostKey::WrpcNats, "wRPC nats"),
    ];
    let env = crate::regress::baseline::Environment::current();
    let transports = keys
        .iter()
        .filter_map(|&(key, series)| {
            let of = |payload: &str| {
                rows.iter()
                    .find(|r| r.series == series && r.payload == payload)
                    .map(|r| r.ns_per_call)
            };
            let points: Vec<Point> = CLASSES
                .iter()
                .filter_map(|&(class, bytes)| {
                    Some(Point {
                        class: class.to_string(),
                        bytes,
                        ns: of(class)?,
                    })
                })
                .collect();
            (!points.is_empty()).then(|| TransportCosts {
                key,
                points,
                resource_ns: of(RESOURCE),
            })
        })
        .collect();
    Calibration {
        format: weld_linker::cost::COSTS_FORMAT.to_string(),
        version: weld_linker::cost::COSTS_VERSION,
        created: crate::regress::baseline::now_utc(),
        machine: format!(
            "{} ({} cores, {} {}), weld {}, wasmtime {}",
            env.cpu, env.cores, env.os, env.arch, env.weld, env.wasmtime
        ),
        assumptions: Assumptions::default(),
        transports,
    }
}

/// What a plan's cost estimates rest on (`"costs"` in `weld plan --json`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Basis {
    /// The calibration file.
    pub file: PathBuf,
    /// When it was measured.
    pub created: String,
    /// Where it was measured.
    pub machine: String,
    /// What the estimates assume.
    pub assumptions: Assumptions,
    /// The per-call budget links were checked against, if one was set.
    pub budget_ns: Option<f64>,
}

/// A plan with every link's estimated cost (`weld plan --costs`).
pub struct Costed {
    /// The plan, each link with its `cost`.
    pub plan: weld_linker::Plan,
    /// What the estimates rest on, for `--json` (`"costs"`); none when the
    /// plan was only given measurements.
    pub basis: Option<Basis>,
    /// Lines for a reader: the assumptions, the links over budget, what
    /// could not be estimated.
    pub notes: Vec<String>,
}

/// Estimates the cost of every link of `deployment` from `calibration`
/// (read from `path`), flagging links over `budget_ns`.
pub fn costed_plan(
    deployment: &Deployment,
    path: &std::path::Path,
    calibration: Calibration,
    budget_ns: Option<f64>,
) -> Costed {
    let mut plan = deployment.plan.clone();
    let mut notes =
        weld_linker::cost::annotate(&mut plan, &deployment.components, &calibration, budget_ns);
    let a = calibration.assumptions;
    notes.insert(
        0,
        format!(
            "costs: estimated per call from `{}` (measured {} on {}), assuming {} bytes per string and {} bytes per list; a link's cost is its dearest function's",
            path.display(),
            calibration.created,
            calibration.machine,
            a.string_bytes,
            a.list_bytes
        ),
    );
    for r in &plan.resolutions {
        if let (Some(cost), Some(budget)) = (&r.cost, budget_ns) {
            if cost.over_budget == Some(true) {
                let worst = cost
                    .cost_functions
                    .iter()
                    .max_by(|a, b| a.cost_ns.total_cmp(&b.cost_ns))
                    .map_or(String::new(), |f| format!(" (`{}`)", f.function));
                notes.push(format!(
                    "over budget: `{}` import `{}` → `{}`: ~{} per call{worst}, budget {}",
                    r.component,
                    r.import,
                    r.peer.as_deref().unwrap_or("-"),
                    weld_linker::cost::format_ns(cost.cost_ns),
                    weld_linker::cost::format_ns(budget)
                ));
            }
        }
    }
    let basis = Basis {
        file: path.to_path_buf(),
        created: calibration.created,
        machine: calibration.machine,
        assumptions: calibration.assumptions,
        budget_ns,
    };
    Costed {
        plan,
        basis: Some(basis),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_points_by_class_and_transport() {
        let rows = vec![
            Row::new("add(u32,u32)", "host-linked (tuned)", 1, vec![300.0]),
            Row::new("echo 32 B", "host-linked (tuned)", 1, vec![600.0]),
            Row::new(RESOURCE, "host-linked (tuned)", 3, vec![700.0]),
            Row::new("add(u32,u32)", "wRPC unix", 1, vec![110_000.0]),
            Row::new("add(u32,u32)", "native", 1, vec![1.5]),
        ];
        let c = calibration(&rows);
        let text = serde_json::to_string(&c).unwrap();
        let back = Calibration::from_slice("c", text.as_bytes()).unwrap();
        assert_eq!(back, c);
        let keys: Vec<_> = c.transports.iter().map(|t| t.key).collect();
        assert_eq!(keys, [CostKey::HostLinked, CostKey::WrpcUnix]);
        let hl = c.transport(CostKey::HostLinked).unwrap();
        assert_eq!(
            hl.points
                .iter()
                .map(|p| (p.bytes, p.ns))
                .collect::<Vec<_>>(),
            [(12, 300.0), (64, 600.0)]
        );
        assert_eq!(hl.resource_ns, Some(700.0));
        assert_eq!(c.transport(CostKey::WrpcUnix).unwrap().resource_ns, None);
    }
}
