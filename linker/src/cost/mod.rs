//! Estimated call costs: a calibration table measured on one machine
//! (`weld bench --calibrate FILE`) and a pure function from a link's
//! transport and its functions' signatures to nanoseconds per call
//! (`weld plan M --costs FILE`).
//!
//! The model, and why it is this simple:
//!
//! * A calibration holds, per transport (fused, host-linked, wRPC over TCP,
//!   Unix, NATS), the measured cost of one call for a few payload classes,
//!   each with the bytes its values carry (a scalar call, a 32-byte and a
//!   1 KiB string echo, a 64 KiB `list<u8>`), and of a call carrying a
//!   resource handle.
//! * A function's cost is interpolated linearly, in bytes, between the
//!   calibrated points of its transport (and extrapolated past the last one
//!   with the slope of the last two): the cost of a component call is a
//!   fixed crossing plus copying, and the copy is linear in bytes. A
//!   function whose parameters or results hold a handle starts from the
//!   resource figure instead of the scalar one.
//! * The bytes of a signature are known for fixed-size values; the length
//!   of a string or a list is not known at plan time, so the estimate
//!   *assumes* sizes, recorded in the calibration file
//!   ([`Assumptions`]: 32 bytes per string, 1 KiB per list by default) and
//!   printed with the plan.
//! * A link's `cost_ns` is the dearest of its functions: a budget is
//!   about the worst call a link can make, not an average over functions
//!   that are called at unknown rates.
//!
//! Limits: the calibrated signatures all take host-linked's typed fast
//! path (scalars, strings, `list<u8>`); other signatures go through `Val`s
//! there and cost more (a 64 KiB `list<u8>` through `Val`s took ~3 ms
//! against 27 µs typed), which the estimate does not see. Guest work is not
//! part of a call's cost here, only the crossing and the copies.

mod fetch;
mod measured;

pub use fetch::{is_url, FETCH_TIMEOUT};
pub use measured::{annotate_measured, is_scrape, Measured, MAX_SCRAPE_BYTES};

use crate::introspect::ComponentInfo;
pub use crate::plan::cost::{
    format_ns, CostKey, FunctionCost, LinkCost, MeasuredCost, MeasuredFunction,
};
use crate::plan::Plan;
use crate::versioned::{FileKind, HeaderError};
use crate::wit;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::path::Path;
use wit_parser::{Function, Handle, Resolve, Type, TypeDefKind};

/// What `weld plan --costs FILE` was given: a calibration, or a running
/// host's metrics.
#[derive(Debug)]
pub enum CostFile {
    /// Estimates per transport (`weld bench --calibrate`).
    Calibration(Calibration),
    /// Latencies a host measured (`weld serve --metrics`, saved).
    Measured(Measured),
}

impl CostFile {
    /// Reads `path` as a calibration when it is JSON, else as Prometheus
    /// text.
    ///
    /// # Errors
    /// [`CostError::Read`] when it cannot be read (or passes the larger of
    /// the two caps), then the errors of [`Calibration::from_slice`] or
    /// [`Measured::parse`].
    pub fn read(path: &Path) -> Result<CostFile, CostError> {
        let label = path.display().to_string();
        let bytes =
            crate::input::read_file(path, MAX_SCRAPE_BYTES).map_err(|source| CostError::Read {
                path: label.clone(),
                source,
            })?;
        CostFile::from_bytes(label, &bytes)
    }

    /// Reads what `url` answers (a running host's metrics: `weld serve
    /// --metrics`' `http://ADDR/metrics`) as [`CostFile::read`] reads a
    /// file.
    ///
    /// # Errors
    /// [`CostError::Fetch`] when it cannot be read (see [`FETCH_TIMEOUT`],
    /// [`MAX_SCRAPE_BYTES`]), then as [`CostFile::read`].
    pub fn fetch(url: &str) -> Result<CostFile, CostError> {
        let bytes = fetch::fetch(url)?;
        CostFile::from_bytes(url.to_string(), &bytes)
    }

    /// `bytes`, read from `label`, as a calibration when they are JSON,
    /// else as Prometheus text.
    fn from_bytes(label: String, bytes: &[u8]) -> Result<CostFile, CostError> {
        if is_scrape(bytes) {
            return Measured::parse(&label, bytes).map(CostFile::Measured);
        }
        if bytes.len() as u64 > MAX_COSTS_BYTES {
            return Err(CostError::Invalid {
                path: label,
                problem: format!("a calibration is at most {MAX_COSTS_BYTES} bytes"),
            });
        }
        Calibration::from_slice(&label, bytes).map(CostFile::Calibration)
    }
}

/// The `format` of a calibration file.
pub const COSTS_FORMAT: &str = "weld-costs";

/// The version of the calibration file format.
pub const COSTS_VERSION: u32 = 1;

/// The largest calibration file weld reads (they are a few KiB).
pub const MAX_COSTS_BYTES: u64 = 4 << 20;

/// The sizes the estimate assumes for values whose length is only known
/// when they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assumptions {
    /// Bytes of every `string`.
    pub string_bytes: u64,
    /// Bytes of element data of every `list<T>` (`list_bytes / size(T)`
    /// elements, at least one).
    pub list_bytes: u64,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            string_bytes: 32,
            list_bytes: 1024,
        }
    }
}

/// One measured payload class of a transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// What was called, e.g. `echo 32 B`.
    pub class: String,
    /// The bytes its parameters and results carry.
    pub bytes: u64,
    /// Median nanoseconds per call.
    pub ns: f64,
}

/// The measured costs of one transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransportCosts {
    /// Which transport.
    pub key: CostKey,
    /// Payload classes, by increasing `bytes`.
    pub points: Vec<Point>,
    /// Nanoseconds per call of a function carrying a resource handle
    /// (absent where handles cannot go: wRPC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_ns: Option<f64>,
}

/// A calibration: what calls cost on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Always [`COSTS_FORMAT`].
    pub format: String,
    /// [`COSTS_VERSION`].
    pub version: u32,
    /// When it was measured (RFC 3339, UTC).
    pub created: String,
    /// What it was measured on (CPU model, cores) and with (weld version).
    pub machine: String,
    /// The sizes assumed for strings and lists.
    pub assumptions: Assumptions,
    /// One entry per transport measured.
    pub transports: Vec<TransportCosts>,
}

/// Why a calibration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The file could not be read.
    #[error("cannot read costs file `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: crate::input::InputError,
    },
    /// Not JSON, or not of this shape (the message has line and column).
    #[error("costs file `{path}` is not a weld calibration")]
    Parse {
        /// The file.
        path: String,
        /// serde's explanation, with line and column.
        source: serde_json::Error,
    },
    /// JSON of another kind of file, or another version.
    #[error("costs file `{path}`")]
    Header {
        /// The file.
        path: String,
        /// What it is instead.
        source: HeaderError,
    },
    /// A host's metrics could not be read from its address.
    #[error("cannot read the metrics at `{url}`: it {problem}")]
    Fetch {
        /// The address.
        url: String,
        /// What happened.
        problem: String,
    },
    /// Parsed, but not usable.
    #[error("costs file `{path}`: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// What a calibration file declares itself to be.
pub const COSTS_FILE: FileKind = FileKind {
    format: COSTS_FORMAT,
    version: COSTS_VERSION,
    what: "a weld calibration",
};

impl Calibration {
    /// Parses and checks a calibration; `label` names it in errors.
    ///
    /// # Errors
    /// [`CostError::Parse`] for JSON that is not a calibration,
    /// [`CostError::Header`] for another kind of file or version,
    /// [`CostError::Invalid`] for a transport without points or a point that is
    /// not a positive time.
    pub fn from_slice(label: &str, bytes: &[u8]) -> Result<Calibration, CostError> {
        let parse = |source| CostError::Parse {
            path: label.to_string(),
            source,
        };
        let invalid = |problem: String| CostError::Invalid {
            path: label.to_string(),
            problem,
        };
        COSTS_FILE.check(bytes).map_err(|e| match e {
            HeaderError::Json(source) => parse(source),
            other => CostError::Header {
                path: label.to_string(),
                source: other,
            },
        })?;
        let mut cal: Calibration = serde_json::from_slice(bytes).map_err(parse)?;
        for t in &mut cal.transports {
            if t.points.is_empty() {
                return Err(invalid(format!("`{}` has no points", t.key.as_str())));
            }
            let bad = |ns: f64| !(ns.is_finite() && ns > 0.0);
            if let Some(p) = t.points.iter().find(|p| bad(p.ns)) {
                return Err(invalid(format!(
                    "`{}` point `{}`: {} is not a positive number of nanoseconds",
                    t.key.as_str(),
                    p.class,
                    p.ns
                )));
            }
            if t.resource_ns.is_some_and(bad) {
                return Err(invalid(format!(
                    "`{}`: resource_ns is not a positive number of nanoseconds",
                    t.key.as_str()
                )));
            }
            t.points.sort_by_key(|p| p.bytes);
        }
        Ok(cal)
    }

    /// The costs of a transport, if it was calibrated.
    pub fn transport(&self, key: CostKey) -> Option<&TransportCosts> {
        self.transports.iter().find(|t| t.key == key)
    }
}

impl TransportCosts {
    /// Nanoseconds per call carrying `bytes`: linear between the points,
    /// the first point below them (a call costs at least the crossing),
    /// the slope of the last two past them.
    pub fn interpolate(&self, bytes: u64) -> f64 {
        let p = &self.points;
        let first = &p[0];
        if bytes <= first.bytes || p.len() == 1 {
            return first.ns;
        }
        let line = |a: &Point, b: &Point| {
            let span = (b.bytes - a.bytes).max(1) as f64;
            let slope = ((b.ns - a.ns) / span).max(0.0);
            a.ns + slope * (bytes as f64 - a.bytes as f64)
        };
        let segment = p
            .windows(2)
            .find(|w| bytes <= w[1].bytes)
            .unwrap_or(&p[p.len() - 2..]);
        // A larger payload that measured cheaper than a smaller one is
        // noise: the slope is never negative, and no call costs less than
        // the scalar crossing.
        line(&segment[0], &segment[1]).max(first.ns)
    }
}

/// What [`annotate`] could not estimate, one line each.
pub type CostNotes = Vec<String>;

/// Sets [`Resolution::cost`] on every link of `plan` (every resolution
/// with a peer) from `calibration`, flagging those whose estimate exceeds
/// `budget_ns`. Returns a note per link that could not be estimated (its
/// transport was not calibrated; the interface could not be found).
pub fn annotate(
    plan: &mut Plan,
    components: &IndexMap<String, ComponentInfo>,
    calibration: &Calibration,
    budget_ns: Option<f64>,
) -> CostNotes {
    let mut notes = Vec::new();
    for r in &mut plan.resolutions {
        if r.peer.is_none() {
            continue;
        }
        let Some(key) = CostKey::of(r) else { continue };
        let Some(costs) = calibration.transport(key) else {
            notes.push(format!(
                "`{}` import `{}`: no `{}` entry in the calibration; no estimate",
                r.component,
                r.import,
                key.as_str()
            ));
            continue;
        };
        let Some((resolve, functions)) = components
            .get(&r.component)
            .and_then(|info| Some((&info.resolve, info.import_interface(&r.import)?)))
            .map(|(resolve, iface)| (resolve, &resolve.interfaces[iface].functions))
        else {
            notes.push(format!(
                "`{}` import `{}`: interface not found; no estimate",
                r.component, r.import
            ));
            continue;
        };
        if r.observe {
            r.reason += &observing_costs(calibration, resolve, functions.values(), costs);
        }
        let functions: Vec<FunctionCost> = functions
            .values()
            .map(|f| estimate(costs, &calibration.assumptions, resolve, f))
            .collect();
        let cost_ns = functions.iter().map(|f| f.cost_ns).fold(0.0, f64::max);
        r.cost = Some(LinkCost {
            cost_ns,
            cost_basis: key,
            over_budget: budget_ns.map(|b| cost_ns > b),
            cost_functions: functions,
        });
    }
    notes
}

/// What observing a link costs, for its reason: its dearest function's
/// estimate host-linked (`costs`) against fused, from the calibration's
/// measurements; empty when the calibration has no fused entry.
fn observing_costs<'a>(
    calibration: &Calibration,
    resolve: &Resolve,
    functions: impl Iterator<Item = &'a Function> + Clone,
    costs: &TransportCosts,
) -> String {
    let Some(fused) = calibration.transport(CostKey::Fused) else {
        return String::new();
    };
    let dearest = |c: &TransportCosts| {
        functions
            .clone()
            .map(|f| estimate(c, &calibration.assumptions, resolve, f).cost_ns)
            .fold(0.0, f64::max)
    };
    let (observed, unobserved) = (dearest(costs), dearest(fused));
    format!(
        "; observing costs {} more per call than fused ({} against {}, calibrated)",
        format_ns(observed - unobserved),
        format_ns(observed),
        format_ns(unobserved)
    )
}

/// The estimate of one call of `f` over a transport with `costs`.
pub fn estimate(
    costs: &TransportCosts,
    assume: &Assumptions,
    resolve: &Resolve,
    f: &Function,
) -> FunctionCost {
    let mut size = Size::default();
    for p in &f.params {
        size.add(resolve, assume, &p.ty);
    }
    if let Some(r) = &f.result {
        size.add(resolve, assume, r);
    }
    let mut cost_ns = costs.interpolate(size.bytes);
    if size.resource {
        if let Some(res) = costs.resource_ns {
            // The resource figure replaces the scalar crossing.
            cost_ns += (res - costs.points[0].ns).max(0.0);
        }
    }
    FunctionCost {
        function: wit::display_name(f),
        bytes: size.bytes,
        resource: size.resource,
        cost_ns,
    }
}

/// The bytes a signature's values carry, and whether a handle is among
/// them.
#[derive(Debug, Default)]
struct Size {
    bytes: u64,
    resource: bool,
}

impl Size {
    fn add(&mut self, resolve: &Resolve, assume: &Assumptions, ty: &Type) {
        self.bytes =
            self.bytes
                .saturating_add(value_bytes(resolve, assume, ty, &mut self.resource));
    }
}

/// The bytes a value of `ty` carries, with strings and lists at their
/// assumed sizes; sets `resource` when a handle is inside.
fn value_bytes(resolve: &Resolve, assume: &Assumptions, ty: &Type, resource: &mut bool) -> u64 {
    let id = match ty {
        Type::Bool | Type::U8 | Type::S8 => return 1,
        Type::U16 | Type::S16 => return 2,
        Type::U32 | Type::S32 | Type::F32 | Type::Char | Type::ErrorContext => return 4,
        Type::U64 | Type::S64 | Type::F64 => return 8,
        Type::String => return assume.string_bytes,
        Type::Id(id) => *id,
    };
    let mut of = |t: &Type| value_bytes(resolve, assume, t, resource);
    match &resolve.types[id].kind {
        TypeDefKind::Type(t) => of(t),
        TypeDefKind::Record(r) => r.fields.iter().map(|f| of(&f.ty)).sum(),
        TypeDefKind::Tuple(t) => t.types.iter().map(&mut of).sum(),
        TypeDefKind::Flags(f) => (f.flags.len() as u64).div_ceil(8),
        TypeDefKind::Enum(_) => 1,
        TypeDefKind::Variant(v) => {
            1 + v
                .cases
                .iter()
                .filter_map(|c| c.ty.as_ref())
                .map(&mut of)
                .max()
                .unwrap_or(0)
        }
        TypeDefKind::Option(t) => 1 + of(t),
        TypeDefKind::Result(r) => {
            1 + r
                .ok
                .iter()
                .chain(r.err.iter())
                .map(&mut of)
                .max()
                .unwrap_or(0)
        }
        TypeDefKind::List(t) => {
            let element = of(t).max(1);
            (assume.list_bytes / element).max(1) * element
        }
        TypeDefKind::Map(k, v) => {
            let entry = (of(k) + of(v)).max(1);
            (assume.list_bytes / entry).max(1) * entry
        }
        TypeDefKind::FixedLengthList(t, n) => of(t) * u64::from(*n),
        TypeDefKind::Handle(Handle::Own(_) | Handle::Borrow(_)) | TypeDefKind::Resource => {
            *resource = true;
            4
        }
        // A stream or future is a handle; what flows through it later is
        // not a cost of this call.
        TypeDefKind::Future(_) | TypeDefKind::Stream(_) | TypeDefKind::Unknown => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(points: &[(u64, f64)], resource_ns: Option<f64>) -> TransportCosts {
        TransportCosts {
            key: CostKey::HostLinked,
            points: points
                .iter()
                .map(|&(bytes, ns)| Point {
                    class: format!("{bytes} B"),
                    bytes,
                    ns,
                })
                .collect(),
            resource_ns,
        }
    }

    #[test]
    fn interpolation_is_linear_in_bytes_and_never_below_the_crossing() {
        let c = costs(
            &[(12, 300.0), (64, 600.0), (2048, 800.0), (65544, 27_000.0)],
            None,
        );
        assert_eq!(c.interpolate(0), 300.0);
        assert_eq!(c.interpolate(12), 300.0);
        assert!((c.interpolate(38) - 450.0).abs() < 1e-9);
        assert_eq!(c.interpolate(2048), 800.0);
        // Past the last point: the last slope.
        let slope = (27_000.0 - 800.0) / (65544.0 - 2048.0);
        let far = c.interpolate(65544 * 2);
        assert!((far - (27_000.0 + slope * 65544.0)).abs() < 1e-6, "{far}");
        // A noisy calibration where a bigger payload measured cheaper.
        let noisy = costs(&[(12, 300.0), (64, 250.0), (2048, 200.0)], None);
        assert_eq!(noisy.interpolate(40), 300.0);
        assert_eq!(noisy.interpolate(100_000), 300.0);
    }

    fn info(wit: &str) -> ComponentInfo {
        ComponentInfo::from_wit(
            &format!("package a:b@0.1.0;\ninterface i {{ {wit} }}\nworld w {{ import i; }}"),
            "w",
        )
        .unwrap()
    }

    fn estimates(wit: &str, c: &TransportCosts) -> Vec<FunctionCost> {
        let info = info(wit);
        let iface = info.import_interface("a:b/i@0.1.0").unwrap();
        info.resolve.interfaces[iface]
            .functions
            .values()
            .map(|f| estimate(c, &Assumptions::default(), &info.resolve, f))
            .collect()
    }

    #[test]
    fn signatures_are_sized_with_the_assumed_string_and_list_lengths() {
        let c = costs(&[(12, 300.0), (64, 600.0), (2048, 800.0)], Some(700.0));
        let got = estimates(
            "add: func(a: u32, b: u32) -> u32;
             echo: func(s: string) -> string;
             sum: func(xs: list<u8>) -> u64;
             words: func(xs: list<u32>) -> option<u64>;
             resource bucket { get: func(k: string) -> option<string>; }",
            &c,
        );
        let by = |name: &str| got.iter().find(|f| f.function == name).unwrap();
        assert_eq!(by("add").bytes, 12);
        assert_eq!(by("add").cost_ns, 300.0);
        assert_eq!(by("echo").bytes, 64);
        assert_eq!(by("echo").cost_ns, 600.0);
        assert_eq!(by("sum").bytes, 1024 + 8);
        assert_eq!(by("words").bytes, 1024 + 9);
        let get = by("bucket.get");
        // self handle + key + option<string>.
        assert_eq!(get.bytes, 4 + 32 + 33);
        assert!(get.resource);
        // The resource figure (700) replaces the scalar crossing (300).
        let expected = c.interpolate(69) + 700.0 - 300.0;
        assert!((get.cost_ns - expected).abs() < 1e-9, "{get:?}");
    }

    fn file(body: &str) -> String {
        format!(
            r#"{{"format":"weld-costs","version":1,"created":"2026-01-01T00:00:00Z","machine":"m",
               "assumptions":{{"string_bytes":32,"list_bytes":1024}},"transports":[{body}]}}"#
        )
    }

    #[test]
    fn a_calibration_is_checked_when_read() {
        let ok = file(
            r#"{"key":"fused","points":[{"class":"b","bytes":64,"ns":2.0},{"class":"a","bytes":12,"ns":1.0}]}"#,
        );
        let cal = Calibration::from_slice("c.json", ok.as_bytes()).unwrap();
        assert_eq!(cal.transport(CostKey::Fused).unwrap().points[0].bytes, 12);
        assert!(cal.transport(CostKey::WrpcTcp).is_none());

        let err = |text: &str| {
            crate::diagnostic::chain(
                &Calibration::from_slice("c.json", text.as_bytes()).unwrap_err(),
            )
        };
        let e = err("{\"format\": \"weld-costs\",\n \"version\": 1,\n ]");
        assert!(
            e.starts_with("costs file `c.json` is not a weld calibration: "),
            "{e}"
        );
        assert!(e.contains("line 3 column 2"), "{e}");
        let e = err(r#"{"format":"weld-bench-baseline","version":1}"#);
        assert!(e.contains("not \"weld-costs\""), "{e}");
        let e = err(r#"{"format":"weld-costs","version":7}"#);
        assert!(e.contains("format version 7"), "{e}");
        let e = err(&file(r#"{"key":"fused","points":[]}"#));
        assert!(e.contains("`fused` has no points"), "{e}");
        let e = err(&file(
            r#"{"key":"fused","points":[{"class":"a","bytes":1,"ns":-1}]}"#,
        ));
        assert!(e.contains("not a positive number"), "{e}");
        let e = err(&file(r#"{"key":"carrier-pigeon","points":[]}"#));
        assert!(e.contains("unknown variant `carrier-pigeon`"), "{e}");
    }
}
