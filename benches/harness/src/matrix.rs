//! `weld bench`'s call-latency matrix: the same invocations under each
//! in-process strategy and engine configuration, against a native Rust
//! floor and the two floors of a host-linked call. (The full matrix is the
//! criterion benches in `benches/`.)
//!
//! Each cell runs its invocation repeatedly for a time budget and reports
//! the median sample. An invocation may loop inside wasm (`run-add(n)`): its
//! `inner` count divides the time so the result is per component call.
//! Every sample is kept ([`Row::times`]): a baseline stores them, and a
//! comparison resamples them (`crate::regress`).

use crate::floor::{native_add, native_echo, native_sum};
use crate::host_floor;
use crate::Error;
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::runtime::invoke::Call;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::serve::{Background, ServeOptions, Server};
use weld_linker::{Deployment, PlanOptions};

/// One invocation to time.
#[derive(Debug, Clone)]
pub struct BenchCall {
    /// A label for the table (the payload).
    pub label: String,
    /// `component.function(args)`.
    pub call: String,
    /// How many component calls one invocation makes (1 for a direct call).
    pub inner: u64,
}

/// One series: a strategy and an engine configuration.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    /// Its short name on the command line (`--series fused-tuned`).
    pub key: &'static str,
    /// Its name in the table.
    pub name: &'static str,
    /// The in-process strategy forced on every link, or `None` for the
    /// strategies the plan chose (the manifest's).
    pub strategy: Option<Strategy>,
    /// A deadline on every call (epoch interruption on), in milliseconds.
    pub deadline_ms: Option<u64>,
    /// The engine settings.
    pub engine: EngineSettings,
}

/// weld's own engine settings (what `weld run` chooses for these fixtures).
pub const TUNED: EngineSettings = EngineSettings {
    concurrency: false,
    inlining: true,
    pooling: None,
    epoch: false,
};

/// wasmtime's defaults, for comparison.
const WASMTIME_DEFAULT: EngineSettings = EngineSettings {
    concurrency: true,
    inlining: false,
    pooling: None,
    epoch: false,
};

/// The series `weld bench` compares.
pub const SERIES: [Series; 6] = [
    Series {
        key: "fused-tuned",
        name: "fused (tuned)",
        strategy: Some(Strategy::Fused),
        deadline_ms: None,
        engine: TUNED,
    },
    Series {
        key: "fused-tuned-deadline",
        name: "fused (tuned, deadline on)",
        strategy: Some(Strategy::Fused),
        deadline_ms: Some(DEADLINE_MS),
        engine: TUNED,
    },
    Series {
        key: "fused-default",
        name: "fused (wasmtime default config)",
        strategy: Some(Strategy::Fused),
        deadline_ms: None,
        engine: WASMTIME_DEFAULT,
    },
    Series {
        key: "host-linked-tuned",
        name: "host-linked (tuned)",
        strategy: Some(Strategy::HostLinked),
        deadline_ms: None,
        engine: TUNED,
    },
    Series {
        key: "host-linked-tuned-deadline",
        name: "host-linked (tuned, deadline on)",
        strategy: Some(Strategy::HostLinked),
        deadline_ms: Some(DEADLINE_MS),
        engine: TUNED,
    },
    Series {
        key: "host-linked-default",
        name: "host-linked (wasmtime default config)",
        strategy: Some(Strategy::HostLinked),
        deadline_ms: None,
        engine: WASMTIME_DEFAULT,
    },
];

/// The deployment as its manifest plans it: each in-process link with its
/// own strategy, weld's engine. Not in [`SERIES`] (on the bundled pair it
/// is `fused (tuned)` again); chosen with `--series planned`, it is the
/// series that follows a change of the manifest.
pub const PLANNED: Series = Series {
    key: "planned",
    name: "as planned (tuned)",
    strategy: None,
    deadline_ms: None,
    engine: TUNED,
};

/// The deadline of the "deadline on" series: long enough never to fire,
/// so the series measures the epoch checks and the arming of each call.
const DEADLINE_MS: u64 = 10_000;

/// One measured cell.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Payload label.
    pub payload: String,
    /// Series name (or `native`).
    pub series: String,
    /// Median nanoseconds per component call.
    pub ns_per_call: f64,
    /// Samples taken.
    pub samples: usize,
    /// Component calls per sample (the invocation's `*N`).
    #[serde(skip)]
    pub inner: u64,
    /// Every sample, in nanoseconds per component call, in the order taken.
    #[serde(skip)]
    pub times: Vec<f64>,
}

/// The bundled loops (the `driver` component calling `adder`), each
/// making `counts` component calls: `add`, a 32-byte echo, a 1 KiB echo and
/// a 64 KiB `list<u8>` sum.
fn bundled_calls([add, echo32, echo1k, sum]: [u64; 4]) -> Vec<BenchCall> {
    vec![
        BenchCall {
            label: ADD.into(),
            call: format!("driver.run-add({add})"),
            inner: add,
        },
        BenchCall {
            label: "echo 32 B".into(),
            call: format!("driver.run-echo({echo32}, \"{}\")", "x".repeat(32)),
            inner: echo32,
        },
        BenchCall {
            label: "echo 1 KiB".into(),
            call: format!("driver.run-echo({echo1k}, \"{}\")", "x".repeat(1024)),
            inner: echo1k,
        },
        BenchCall {
            label: "sum list<u8> 64 KiB".into(),
            call: format!("driver.run-sum({sum}, 65536)"),
            inner: sum,
        },
    ]
}

/// The label of the bundled `add` loop.
const ADD: &str = "add(u32,u32)";

/// The bundled loops for the in-process series.
pub fn default_calls() -> Vec<BenchCall> {
    bundled_calls([10_000, 2000, 500, 20])
}

/// The fewest samples a cell takes, whatever its budget: enough for a
/// comparison's interval to say something of a slow cell (with five, one
/// interrupted sample in the baseline hides even a doubling).
pub const MIN_SAMPLES: usize = 10;

/// The most samples a cell takes (a baseline holds no more).
pub const MAX_SAMPLES: usize = crate::regress::baseline::MAX_CELL_SAMPLES;

/// Samples `f` (which makes `inner` calls) for about `budget`: every
/// sample's nanoseconds per call.
fn sample<E>(
    budget: Duration,
    inner: u64,
    mut f: impl FnMut() -> Result<(), E>,
) -> Result<Vec<f64>, E> {
    f()?; // warm-up
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < MIN_SAMPLES || (start.elapsed() < budget && times.len() < MAX_SAMPLES) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_nanos() as f64 / inner as f64);
    }
    Ok(times)
}

impl Row {
    /// A measured cell from its samples.
    pub fn new(payload: &str, series: &str, inner: u64, times: Vec<f64>) -> Row {
        Row {
            payload: payload.to_string(),
            series: series.to_string(),
            ns_per_call: crate::regress::stats::median(&times),
            samples: times.len(),
            inner,
            times,
        }
    }
}

/// A native payload: label, calls per run, the run.
type NativeCase = (&'static str, u64, Box<dyn FnMut()>);

/// The bundled loops for wRPC series: fewer calls per invocation, since
/// each call is a network round trip.
pub fn default_wrpc_calls() -> Vec<BenchCall> {
    bundled_calls([200, 200, 100, 5])
}

/// Where the bundled fixture components are: beside the workspace this
/// binary was built from.
pub fn fixture_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/wasm")
}

/// The bytes of bundled fixture components.
///
/// # Errors
/// [`Error::FixtureMissing`] for the first that cannot be read.
pub fn fixtures<const N: usize>(names: [&str; N]) -> Result<[Vec<u8>; N], Error> {
    let dir = fixture_dir();
    let mut out = Vec::with_capacity(N);
    for name in names {
        let path = dir.join(format!("{name}.wasm"));
        match std::fs::read(&path) {
            Ok(bytes) => out.push(bytes),
            Err(source) => {
                return Err(Error::FixtureMissing {
                    name: name.to_string(),
                    path,
                    source,
                })
            }
        }
    }
    Ok(out.try_into().expect("one per name"))
}

/// The bundled pair (`driver` calling `adder`), built from the fixture
/// files' bytes. With an `endpoint` (a TOML inline table such as
/// `{ transport = "tcp", address = "127.0.0.1:7761" }`), split over hosts
/// `a` (driver) and `b` (adder) linked over wRPC there; `adder` is not
/// wRPC-safe, so the link allows traps.
///
/// # Errors
/// [`Error::Deployment`] if the pair does not plan (fixtures of another
/// version).
pub fn bundled(
    driver: Vec<u8>,
    adder: Vec<u8>,
    endpoint: Option<&str>,
) -> Result<Deployment, Error> {
    let manifest = match endpoint {
        None => "[components.driver]\n[components.adder]\n".to_string(),
        Some(endpoint) => format!(
            "[components.driver]\nhost = \"a\"\n[components.adder]\nhost = \"b\"\n\n[[link]]\nimport = \"driver:demo:math/adder@0.1.0\"\nexport = \"adder\"\nallow-trap = true\n\n[hosts.b]\nwrpc = {endpoint}\n"
        ),
    };
    Deployment::from_memory(
        &manifest,
        [("driver".to_string(), driver), ("adder".to_string(), adder)],
        &PlanOptions::default(),
    )
    .map_err(|source| Error::Deployment {
        what: "bundled",
        source,
    })
}

/// The wRPC series over each transport: `(key, name)`.
pub const WRPC_SERIES: [(&str, &str); 3] = [
    ("wrpc-tcp", "wRPC tcp (loopback)"),
    ("wrpc-unix", "wRPC unix"),
    ("wrpc-nats", "wRPC nats"),
];

/// A wRPC series: the caller's host runs fused with weld's engine; the
/// link to the served host is the transport.
pub const fn wrpc_series(key: &'static str, name: &'static str) -> Series {
    Series {
        key,
        name,
        strategy: Some(Strategy::Fused),
        deadline_ms: None,
        engine: TUNED,
    }
}

/// Serves `callee` of `deployment` on a background thread and times `calls`
/// from host `caller` against it: one wRPC `series` ([`wrpc_series`]).
///
/// # Errors
/// [`Error::Serve`] when `callee` cannot be served or stopped, and the errors
/// of [`run`].
pub fn run_remote(
    deployment: &Deployment,
    caller: &str,
    callee: &str,
    series: Series,
    calls: &[BenchCall],
    budget: Duration,
    progress: impl FnMut(&str, &str),
) -> Result<Vec<Row>, Error> {
    let server = serve(deployment, callee)?;
    let rows = run(
        deployment,
        Some(caller.to_string()),
        calls,
        &[series],
        budget,
        progress,
    );
    stop(server, callee)?;
    rows
}

/// Serves host `host` of `deployment` on a background thread.
pub(crate) fn serve(deployment: &Deployment, host: &str) -> Result<Background, Error> {
    Server::new(deployment, ServeOptions::new(host))
        .and_then(Server::spawn)
        .map_err(|source| Error::Serve {
            action: "serving",
            host: host.to_string(),
            source: Box::new(source),
        })
}

/// Stops a server of [`serve`]: what it served.
pub(crate) fn stop(
    server: Background,
    host: &str,
) -> Result<weld_linker::serve::ServeStats, Error> {
    server.stop().map_err(|source| Error::Serve {
        action: "stopping the server of",
        host: host.to_string(),
        source: Box::new(source),
    })
}

/// The native floor for the default payloads.
pub fn native_rows(budget: Duration) -> Vec<Row> {
    let s32 = "x".repeat(32);
    let s1k = "x".repeat(1024);
    let list: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
    let mut rows = Vec::new();
    let cases: Vec<NativeCase> = vec![
        (
            ADD,
            10_000,
            Box::new(|| {
                let mut acc = 0u32;
                for i in 0..10_000u32 {
                    acc = native_add(black_box(acc), black_box(i & 1));
                }
                black_box(acc);
            }),
        ),
        (
            "echo 32 B",
            2000,
            Box::new(move || {
                for _ in 0..2000 {
                    black_box(native_echo(black_box(&s32)));
                }
            }),
        ),
        (
            "echo 1 KiB",
            500,
            Box::new(move || {
                for _ in 0..500 {
                    black_box(native_echo(black_box(&s1k)));
                }
            }),
        ),
        (
            "sum list<u8> 64 KiB",
            20,
            Box::new(move || {
                for _ in 0..20 {
                    black_box(native_sum(black_box(&list)));
                }
            }),
        ),
    ];
    for (label, inner, mut f) in cases {
        let Ok(times) = sample(budget, inner, || {
            f();
            Ok::<(), std::convert::Infallible>(())
        });
        rows.push(Row::new(label, "native", inner, times));
    }
    rows
}

/// The series names of the two floors of a host-linked call.
pub const HOST_FLOORS: [&str; 2] = ["host import floor (tuned)", "host entry floor (tuned)"];

/// The two floors of the bundled host-linked `add`, in weld's engine:
/// `driver`'s loop calling a typed host function (wasmtime's own host
/// import), and the host calling `adder`'s `add` through a typed function
/// (one entry into a component per call). A host-linked `add` is the first
/// making the second, so it cannot go below their sum.
///
/// # Errors
/// [`Error::Measure`] for a call of the host-import loop that fails.
pub fn host_floor_rows(deployment: &Deployment, budget: Duration) -> Result<Vec<Row>, Error> {
    const N: u32 = 10_000;
    let mut import = host_floor::HostImport::new(TUNED, deployment, "driver");
    let run_add = import.run_add();
    let times = sample(budget, N.into(), || {
        run_add.call(import.store(), (N,)).map(|_| ())
    })
    .map_err(|e| Error::measure(HOST_FLOORS[0], Some(ADD), e))?;
    let mut rows = vec![Row::new(ADD, HOST_FLOORS[0], N.into(), times)];
    let mut entry = host_floor::HostEntry::new(TUNED, deployment, "adder");
    let Ok(times) = sample(budget, N.into(), || {
        black_box(entry.run(N));
        Ok::<(), std::convert::Infallible>(())
    });
    rows.push(Row::new(ADD, HOST_FLOORS[1], N.into(), times));
    Ok(rows)
}

/// Runs every call under every series; `progress` is told each cell.
///
/// # Errors
/// [`Error::Measure`] naming the series (and the payload, once a cell has
/// started) whose runtime, invocation or call failed.
pub fn run(
    deployment: &Deployment,
    host: Option<String>,
    calls: &[BenchCall],
    series: &[Series],
    budget: Duration,
    mut progress: impl FnMut(&str, &str),
) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();
    for s in series {
        let rt = Runtime::new(
            deployment,
            &RuntimeOptions {
                host: host.clone(),
                strategy: s.strategy,
                engine: Some(s.engine),
                deadline: s.deadline_ms.map(Duration::from_millis),
                ..RuntimeOptions::default()
            },
        )
        .map_err(|e| Error::measure(s.name, None, e))?;
        let mut app = rt
            .instantiate()
            .map_err(|e| Error::measure(s.name, None, e))?;
        for c in calls {
            progress(s.name, &c.label);
            let failed =
                |e: weld_linker::runtime::BoxError| Error::measure(s.name, Some(&c.label), e);
            let call = Call::parse_in(&c.call, rt.components()).map_err(|e| failed(e.into()))?;
            let (func, full) = app
                .func(&call.component, &call.function)
                .map_err(|e| failed(e.into()))?;
            let params = call
                .params(app.store(), &func)
                .map_err(|e| failed(e.into()))?;
            let times = sample(budget, c.inner, || {
                app.invoke(&call.component, &full, func, &params)
                    .map(|_| ())
            })
            .map_err(|e| failed(e.into()))?;
            rows.push(Row::new(&c.label, s.name, c.inner, times));
        }
    }
    Ok(rows)
}

/// Renders rows as a Markdown table: ns/call, ratio to native, ratio to the
/// first series.
pub fn to_markdown(rows: &[Row]) -> String {
    let mut out = String::from("| payload | series | ns/call (median) | × native | × fused (tuned) |\n|---|---|---:|---:|---:|\n");
    for r in rows {
        let native = rows
            .iter()
            .find(|x| x.payload == r.payload && x.series == "native")
            .map(|x| x.ns_per_call);
        let fused = rows
            .iter()
            .find(|x| x.payload == r.payload && x.series == SERIES[0].name)
            .map(|x| x.ns_per_call);
        let ratio = |base: Option<f64>| {
            base.map(|b| format!("{:.1}", r.ns_per_call / b))
                .unwrap_or_else(|| "-".into())
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.payload,
            r.series,
            format_ns(r.ns_per_call),
            ratio(native),
            ratio(fused)
        ));
    }
    out
}

use weld_linker::cost::format_ns;
