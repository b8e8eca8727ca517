//! The baseline file of `weld bench --save-baseline` / `--baseline`: every
//! cell's samples, and what they were measured on and with.
//!
//! JSON, `"format": "weld-bench-baseline"`, `"version": 1` (the schema is
//! in docs/json.md). A cell is identified by its payload (the invocation's
//! label) and its series name, never by component digests: comparing a
//! changed deployment with its old baseline is the point. The digests,
//! versions and machine are recorded so a comparison can say what else
//! changed.

use serde::{Deserialize, Serialize};
use std::path::Path;
use weld_linker::diagnostic::one_line;
use weld_linker::input::InputError;
use weld_linker::versioned::{FileKind, HeaderError};

/// The `format` of a baseline file.
pub const FORMAT: &str = "weld-bench-baseline";

/// The version of the format this weld writes and reads.
pub const VERSION: u32 = 1;

/// The most samples a baseline cell may hold: as many as `weld bench`
/// takes. The comparison resamples every cell thousands of times, so a
/// hand-made cell of millions of samples would take minutes.
pub const MAX_CELL_SAMPLES: usize = 10_000;

/// The largest baseline weld reads. A bundled-matrix baseline at the
/// default budget is about 2 MB (a cell keeps at most 10 000 samples).
pub const MAX_BASELINE_BYTES: u64 = 256 << 20;

/// A saved run of `weld bench`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When it was measured (RFC 3339, UTC).
    pub created: String,
    /// What it was measured on and with.
    pub environment: Environment,
    /// The time budget of each cell, in milliseconds.
    pub budget_ms: u64,
    /// What was measured.
    pub deployment: DeploymentInfo,
    /// The series measured, with their settings.
    pub series: Vec<SeriesInfo>,
    /// Every cell, with its samples.
    pub cells: Vec<Cell>,
}

/// The machine and the software a run was measured on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// weld's version.
    pub weld: String,
    /// wasmtime's version.
    pub wasmtime: String,
    /// `rustc -V` of the compiler that built weld.
    pub rustc: String,
    /// The operating system (`linux`).
    pub os: String,
    /// The CPU architecture (`x86_64`).
    pub arch: String,
    /// The CPU model (`/proc/cpuinfo`'s `model name`), or `unknown`.
    pub cpu: String,
    /// The cores available to the process.
    pub cores: usize,
}

impl Environment {
    /// This process's: versions built in, the CPU model from
    /// `/proc/cpuinfo`.
    pub fn current() -> Environment {
        Environment {
            weld: env!("CARGO_PKG_VERSION").to_string(),
            wasmtime: env!("WELD_WASMTIME_VERSION").to_string(),
            rustc: env!("WELD_RUSTC_VERSION").to_string(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            cpu: cpu_model().unwrap_or_else(|| "unknown".to_string()),
            cores: std::thread::available_parallelism().map_or(1, usize::from),
        }
    }
}

/// `model name` of the first CPU in `/proc/cpuinfo` (Linux; read bounded).
fn cpu_model() -> Option<String> {
    let bytes = weld_linker::input::read_file(Path::new("/proc/cpuinfo"), 4 << 20).ok()?;
    String::from_utf8_lossy(&bytes).lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// The deployment measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    /// The inputs as named on the command line (empty: the bundled pair).
    pub inputs: Vec<String>,
    /// The host run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// SHA-256 of each component's bytes.
    pub components: Vec<ComponentDigest>,
}

/// One component's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentDigest {
    /// The component's name in the deployment.
    pub name: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A series and its settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesInfo {
    /// Its name (a cell's `series`).
    pub name: String,
    /// Its `--series` key.
    pub key: String,
    /// `native`, `host-floor`, `in-process` or `wrpc`.
    pub transport: String,
    /// The strategy forced on in-process links (`planned`: the manifest's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The deadline armed on every call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The engine settings (absent for `native`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineInfo>,
}

/// The engine settings of a series (`EngineSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    /// Component-model async support.
    pub concurrency: bool,
    /// Cross-module inlining.
    pub inlining: bool,
    /// The pooling allocator.
    pub pooling: bool,
    /// Epoch interruption.
    pub epoch: bool,
}

/// One measured cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// The payload: the invocation's label.
    pub payload: String,
    /// The series name.
    pub series: String,
    /// Component calls per sample.
    pub calls_per_sample: u64,
    /// The median of `samples_ns`.
    pub median_ns: f64,
    /// Every sample, nanoseconds per component call, in the order taken.
    pub samples_ns: Vec<f64>,
}

/// Why a baseline cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The file could not be read.
    #[error("cannot read baseline `{path}`")]
    Read {
        /// The file.
        path: String,
        /// Why (not a regular file, too large, an I/O error).
        source: InputError,
    },
    /// Not JSON, or not of a baseline's shape.
    #[error("baseline `{path}` is corrupt")]
    Parse {
        /// The file.
        path: String,
        /// serde's explanation, with line and column.
        source: serde_json::Error,
    },
    /// JSON, but another kind of file or another version.
    #[error("baseline `{path}`")]
    Header {
        /// The file.
        path: String,
        /// What it is instead.
        source: HeaderError,
    },
    /// A cell that cannot be compared.
    #[error(
        "baseline `{path}` is corrupt: cell {index} (`{}` / `{}`): {problem}",
        one_line(payload),
        one_line(series)
    )]
    Cell {
        /// The file.
        path: String,
        /// Its position in `cells`, from 0.
        index: usize,
        /// Its payload.
        payload: String,
        /// Its series.
        series: String,
        /// What is wrong.
        problem: String,
    },
    /// The file could not be written.
    #[error("cannot write baseline `{path}`")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// What a baseline file declares itself to be.
pub const BASELINE_FILE: FileKind = FileKind {
    format: FORMAT,
    version: VERSION,
    what: "a weld bench baseline",
};

impl Baseline {
    /// Reads a baseline file: at most [`MAX_BASELINE_BYTES`], a regular
    /// file, JSON of this format and version, every cell with finite
    /// positive samples.
    ///
    /// # Errors
    /// [`BaselineError::Read`] when the file cannot be read, and the errors of
    /// [`Baseline::from_slice`].
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let label = path.display().to_string();
        let bytes = weld_linker::input::read_file(path, MAX_BASELINE_BYTES).map_err(|source| {
            BaselineError::Read {
                path: label.clone(),
                source,
            }
        })?;
        Baseline::from_slice(&label, &bytes)
    }

    /// Parses and checks a baseline; `label` names it in errors.
    ///
    /// # Errors
    /// [`BaselineError::Parse`] for JSON that is not a baseline,
    /// [`BaselineError::Header`] for another kind of file or version,
    /// [`BaselineError::Cell`] for a cell that cannot be compared.
    pub fn from_slice(label: &str, bytes: &[u8]) -> Result<Baseline, BaselineError> {
        let parse = |source| BaselineError::Parse {
            path: label.to_string(),
            source,
        };
        BASELINE_FILE.check(bytes).map_err(|e| match e {
            HeaderError::Json(source) => parse(source),
            other => BaselineError::Header {
                path: label.to_string(),
                source: other,
            },
        })?;
        let baseline: Baseline = serde_json::from_slice(bytes).map_err(parse)?;
        for (index, cell) in baseline.cells.iter().enumerate() {
            let problem = if cell.samples_ns.is_empty() {
                Some("no samples".to_string())
            } else if cell.samples_ns.len() > MAX_CELL_SAMPLES {
                Some(format!(
                    "{} samples, more than the {MAX_CELL_SAMPLES} weld bench takes and compares",
                    cell.samples_ns.len()
                ))
            } else {
                cell.samples_ns
                    .iter()
                    .position(|x| !(x.is_finite() && *x > 0.0))
                    .map(|i| {
                        format!(
                            "sample {i} is {}, not a positive number of nanoseconds",
                            cell.samples_ns[i]
                        )
                    })
            };
            if let Some(problem) = problem {
                return Err(BaselineError::Cell {
                    path: label.to_string(),
                    index,
                    payload: cell.payload.clone(),
                    series: cell.series.clone(),
                    problem,
                });
            }
        }
        Ok(baseline)
    }

    /// The baseline as JSON: the header pretty-printed, one cell per line
    /// (a baseline holds tens of thousands of samples; one per line would
    /// make a file nobody can read, one line in all a diff nobody can).
    pub fn to_json(&self) -> String {
        /// Everything but the cells, in the struct's order.
        #[derive(Serialize)]
        struct Head<'a> {
            format: &'a str,
            version: u32,
            created: &'a str,
            environment: &'a Environment,
            budget_ms: u64,
            deployment: &'a DeploymentInfo,
            series: &'a [SeriesInfo],
        }
        let head = Head {
            format: &self.format,
            version: self.version,
            created: &self.created,
            environment: &self.environment,
            budget_ms: self.budget_ms,
            deployment: &self.deployment,
            series: &self.series,
        };
        let head = serde_json::to_string_pretty(&head).expect("a baseline serialises");
        let head = head
            .strip_suffix("\n}")
            .expect("a pretty object ends with }");
        let cells: Vec<String> = self
            .cells
            .iter()
            .map(|c| {
                format!(
                    "    {}",
                    serde_json::to_string(c).expect("a cell serialises")
                )
            })
            .collect();
        format!("{head},\n  \"cells\": [\n{}\n  ]\n}}\n", cells.join(",\n"))
    }

    /// Writes the baseline to `path`.
    ///
    /// # Errors
    /// [`BaselineError::Write`] when the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        std::fs::write(path, self.to_json()).map_err(|source| BaselineError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The cell of `payload` in `series`.
    pub fn cell(&self, payload: &str, series: &str) -> Option<&Cell> {
        self.cells
            .iter()
            .find(|c| c.payload == payload && c.series == series)
    }
}

/// Now, as RFC 3339 in UTC to the second (`2026-11-26T10:00:00Z`).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// `secs` since the Unix epoch as RFC 3339 UTC. Howard Hinnant's
/// `civil_from_days`: a dozen lines, where a date crate would be a
/// dependency for one timestamp.
fn rfc3339(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Rounds a sample to a picosecond: finer digits are below the clock's
/// resolution per call and only make the file larger.
/// Never to zero: a sample is a positive time.
pub fn round_ns(ns: f64) -> f64 {
    ((ns * 1000.0).round() / 1000.0).max(0.001)
}

/// One way two runs' circumstances differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What differs (`weld version`, `CPU`, `series \`x\` engine`).
    pub what: String,
    /// In the baseline.
    pub then: String,
    /// Now.
    pub now: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} then, {} now", self.what, self.then, self.now)
    }
}

/// How the baseline's circumstances differ from now's: the machine (CPU,
/// cores, OS, architecture), the software (weld, wasmtime, rustc), and
/// the settings of series measured in both.
pub fn differences(
    then: &Baseline,
    now_env: &Environment,
    now_series: &[SeriesInfo],
) -> Vec<Difference> {
    let mut out = Vec::new();
    let (a, b) = (&then.environment, now_env);
    let mut check = |what: &str, x: String, y: String| {
        if x != y {
            out.push(Difference {
                what: what.to_string(),
                then: x,
                now: y,
            });
        }
    };
    check("weld version", a.weld.clone(), b.weld.clone());
    check("wasmtime version", a.wasmtime.clone(), b.wasmtime.clone());
    check("rustc", a.rustc.clone(), b.rustc.clone());
    check("CPU", a.cpu.clone(), b.cpu.clone());
    check("cores", a.cores.to_string(), b.cores.to_string());
    check("OS", a.os.clone(), b.os.clone());
    check("architecture", a.arch.clone(), b.arch.clone());
    for s in now_series {
        if let Some(old) = then.series.iter().find(|o| o.name == s.name) {
            if old != s {
                check(
                    &format!("series `{}` settings", s.name),
                    serde_json::to_string(old).expect("serialises"),
                    serde_json::to_string(s).expect("serialises"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn environment() -> Environment {
        Environment {
            weld: "0.1.0".into(),
            wasmtime: "48.0.8".into(),
            rustc: "rustc 1.95.0".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpu: "Test CPU".into(),
            cores: 2,
        }
    }

    fn sample() -> Baseline {
        Baseline {
            format: FORMAT.into(),
            version: VERSION,
            created: "2026-11-26T10:00:00Z".into(),
            environment: environment(),
            budget_ms: 100,
            deployment: DeploymentInfo {
                inputs: vec![],
                host: None,
                components: vec![ComponentDigest {
                    name: "driver".into(),
                    sha256: "00".repeat(32),
                }],
            },
            series: vec![SeriesInfo {
                name: "fused (tuned)".into(),
                key: "fused-tuned".into(),
                transport: "in-process".into(),
                strategy: Some("fused".into()),
                deadline_ms: None,
                engine: Some(EngineInfo {
                    concurrency: false,
                    inlining: true,
                    pooling: false,
                    epoch: false,
                }),
            }],
            cells: vec![
                Cell {
                    payload: "add(u32,u32)".into(),
                    series: "fused (tuned)".into(),
                    calls_per_sample: 10_000,
                    median_ns: 1.3,
                    samples_ns: vec![1.3, 1.25, 1.4],
                },
                Cell {
                    payload: "echo 32 B".into(),
                    series: "fused (tuned)".into(),
                    calls_per_sample: 2000,
                    median_ns: 61.0,
                    samples_ns: vec![61.0],
                },
            ],
        }
    }

    #[test]
    fn a_baseline_round_trips_one_cell_per_line() {
        let b = sample();
        let text = b.to_json();
        assert_eq!(Baseline::from_slice("b.json", text.as_bytes()).unwrap(), b);
        let cell_lines = text.lines().filter(|l| l.contains("samples_ns")).count();
        assert_eq!(cell_lines, 2, "{text}");
        assert!(
            text.starts_with("{\n  \"format\": \"weld-bench-baseline\",\n  \"version\": 1,"),
            "{text}"
        );
    }

    fn error(text: &str) -> String {
        weld_linker::diagnostic::chain(
            &Baseline::from_slice("b.json", text.as_bytes()).unwrap_err(),
        )
    }

    #[test]
    fn a_corrupt_baseline_says_where_and_what() {
        let text = sample().to_json();
        // Cut short: the line and column of the end.
        let cut = &text[..text.len() / 2];
        let e = error(cut);
        assert!(e.starts_with("baseline `b.json` is corrupt: "), "{e}");
        assert!(e.contains(" line "), "{e}");
        // A missing field.
        let e = error(&text.replace("\"budget_ms\": 100,", ""));
        assert!(e.contains("missing field `budget_ms`"), "{e}");
        // Not a baseline at all.
        let e = error("{\"rows\": []}");
        assert!(e.contains("not a weld bench baseline"), "{e}");
        let e = error("[1, 2]");
        assert!(
            e.starts_with("baseline `b.json` is corrupt: invalid type"),
            "{e}"
        );
        // Another version.
        let e = error(&text.replace("\"version\": 1", "\"version\": 9"));
        assert!(
            e.contains("format version 9; this weld reads version 1"),
            "{e}"
        );
        // A cell without samples, or with a sample that is no time.
        let e = error(&text.replace("[61.0]", "[]"));
        assert!(
            e.contains("cell 1 (`echo 32 B` / `fused (tuned)`): no samples"),
            "{e}"
        );
        let e = error(&text.replace("[61.0]", "[61.0,-2.0]"));
        assert!(e.contains("sample 1 is -2"), "{e}");
        // A cell past the cap is refused, with the limit, before any
        // comparison resamples it.
        let many = vec!["61.0"; MAX_CELL_SAMPLES + 1].join(",");
        let e = error(&text.replace("[61.0]", &format!("[{many}]")));
        assert!(
            e.contains(
                "cell 1 (`echo 32 B` / `fused (tuned)`): 10001 samples, more than the 10000"
            ),
            "{e}"
        );
        let at_cap = vec!["61.0"; MAX_CELL_SAMPLES].join(",");
        assert!(Baseline::from_slice(
            "b.json",
            text.replace("[61.0]", &format!("[{at_cap}]")).as_bytes()
        )
        .is_ok());
    }

    #[test]
    fn differences_name_the_machine_the_software_and_the_settings() {
        let b = sample();
        assert!(differences(&b, &environment(), &b.series).is_empty());
        let mut env = environment();
        env.weld = "0.2.0".into();
        env.cpu = "Other CPU".into();
        let mut series = b.series.clone();
        series[0].engine.as_mut().unwrap().inlining = false;
        let d = differences(&b, &env, &series);
        let what: Vec<_> = d.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(
            what,
            ["weld version", "CPU", "series `fused (tuned)` settings"]
        );
        assert_eq!(d[0].to_string(), "weld version: 0.1.0 then, 0.2.0 now");
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        let env = Environment::current();
        assert!(env.cores >= 1 && !env.wasmtime.is_empty() && env.rustc.starts_with("rustc"));
    }

    #[test]
    fn samples_are_kept_to_the_picosecond() {
        assert_eq!(round_ns(1.234_567), 1.235);
        assert_eq!(round_ns(159_580.000_4), 159_580.0);
    }
}
