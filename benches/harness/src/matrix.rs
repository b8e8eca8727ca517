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
use anyhow::Context as _;
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};
use wasmtime::component::Val;
use weld_linker::manifest::Strategy;
use weld_linker::runtime::engine::EngineSettings;
use weld_linker::runtime::invoke::Call;
use weld_linker::runtime::{Runtime, RuntimeOptions};
use weld_linker::serve::{ServeOptions, Server};
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

/// The bytes of bundled fixture components, next to the workspace this
/// binary was built from.
pub fn fixtures<const N: usize>(names: [&str; N]) -> anyhow::Result<[Vec<u8>; N]> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/wasm");
    let mut out = Vec::with_capacity(N);
    for name in names {
        match std::fs::read(dir.join(format!("{name}.wasm"))) {
            Ok(bytes) => out.push(bytes),
            Err(_) => anyhow::bail!(
                "the bundled fixtures are not built ({}); run `cargo build -p weld-fixtures`, or pass a manifest",
                dir.display()
            ),
        }
    }
    Ok(out.try_into().expect("one per name"))
}

/// The bundled pair (`driver` calling `adder`), built from the fixture
/// files' bytes. With an `endpoint` (a TOML inline table such as
/// `{ transport = "tcp", address = "127.0.0.1:7761" }`), split over hosts
/// `a` (driver) and `b` (adder) linked over wRPC there; `adder` is not
/// wRPC-safe, so the link allows traps.
pub fn bundled(
    driver: Vec<u8>,
    adder: Vec<u8>,
    endpoint: Option<&str>,
) -> anyhow::Result<Deployment> {
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
    .map_err(|d| anyhow::anyhow!("{d}"))
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
pub fn run_remote(
    deployment: &Deployment,
    caller: &str,
    callee: &str,
    series: Series,
    calls: &[BenchCall],
    budget: Duration,
    progress: impl FnMut(&str, &str),
) -> anyhow::Result<Vec<Row>> {
    let server = Server::new(deployment, ServeOptions::new(callee))
        .and_then(Server::spawn)
        .with_context(|| format!("serving host `{callee}`"))?;
    let rows = run(
        deployment,
        Some(caller.to_string()),
        calls,
        &[series],
        budget,
        progress,
    );
    server
        .stop()
        .with_context(|| format!("stopping the server of `{callee}`"))?;
    rows
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
/// A call of the host-import loop that fails.
pub fn host_floor_rows(deployment: &Deployment, budget: Duration) -> anyhow::Result<Vec<Row>> {
    const N: u32 = 10_000;
    let mut import = host_floor::HostImport::new(TUNED, deployment, "driver");
    let run_add = import.run_add();
    let times = sample(budget, N.into(), || {
        run_add.call(import.store(), (N,)).map(|_| ())
    })
    .map_err(|e| anyhow::anyhow!("the host-import floor's loop failed: {e:?}"))?;
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
pub fn run(
    deployment: &Deployment,
    host: Option<String>,
    calls: &[BenchCall],
    series: &[Series],
    budget: Duration,
    mut progress: impl FnMut(&str, &str),
) -> anyhow::Result<Vec<Row>> {
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
        )?;
        let mut app = rt.instantiate()?;
        for c in calls {
            progress(s.name, &c.label);
            let call = Call::parse_in(&c.call, rt.components())?;
            let (func, full) = app.func(&call.component, &call.function)?;
            let params = call.params(app.store(), &func)?;
            let times = sample(budget, c.inner, || {
                app.invoke(&call.component, &full, func, &params)
                    .map(|_| ())
            })?;
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

/// One load measurement: `calls` calls of `driver.add-once` from
/// `concurrency` threads against a served `adder`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    /// The transport series.
    pub series: String,
    /// Calling threads, each with its own store.
    pub concurrency: usize,
    /// Calls made.
    pub calls: usize,
    /// Calls per second over the whole run.
    pub calls_per_s: f64,
    /// Median latency of one call, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, in microseconds.
    pub p99_us: f64,
    /// Calls without their correct result (failed or wrong).
    pub lost: u64,
    /// Executions past one per call (the servers answered more calls than
    /// were made).
    pub duplicated: u64,
}

/// Serves `callee` on a background thread and makes `calls` calls of
/// `driver.add-once(i, 1)` from host `caller` on `concurrency` threads;
/// every result is checked against its call.
pub fn run_load(
    deployment: &Deployment,
    (caller, callee): (&str, &str),
    series: &str,
    calls: usize,
    concurrency: usize,
) -> anyhow::Result<LoadRow> {
    let server = Server::new(deployment, ServeOptions::new(callee))
        .and_then(Server::spawn)
        .with_context(|| format!("serving host `{callee}`"))?;
    let rt = Runtime::new(
        deployment,
        &RuntimeOptions {
            host: Some(caller.to_string()),
            strategy: Some(Strategy::Fused),
            engine: Some(TUNED),
            ..RuntimeOptions::default()
        },
    )?;
    let concurrency = concurrency.clamp(1, calls.max(1));
    let started = Instant::now();
    let per_thread: Vec<anyhow::Result<(Vec<f64>, u64)>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..concurrency)
            .map(|t| {
                let rt = rt.clone();
                s.spawn(move || {
                    let mut app = rt.instantiate()?;
                    let (func, full) = app.func("driver", "add-once")?;
                    let mut times = Vec::new();
                    let mut ok = 0u64;
                    for i in (t..calls).step_by(concurrency) {
                        let i = i as u32;
                        let t0 = Instant::now();
                        let got = app.invoke("driver", &full, func, &[Val::U32(i), Val::U32(1)]);
                        times.push(t0.elapsed().as_secs_f64() * 1e6);
                        if matches!(got.as_deref(), Ok([Val::U32(r)]) if *r == i.wrapping_add(1)) {
                            ok += 1;
                        } else if app.is_poisoned() {
                            // allow-trap: a failed call traps; go on in a fresh store.
                            app = rt.instantiate()?;
                        }
                    }
                    Ok((times, ok))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a load thread panicked"))
            .collect()
    });
    let took = started.elapsed();
    let stats = server
        .stop()
        .with_context(|| format!("stopping the server of `{callee}`"))?;
    let mut times = Vec::with_capacity(calls);
    let mut ok = 0;
    for r in per_thread {
        let (t, o) = r?;
        times.extend(t);
        ok += o;
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(LoadRow {
        series: series.to_string(),
        concurrency,
        calls,
        calls_per_s: calls as f64 / took.as_secs_f64(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        lost: calls as u64 - ok,
        duplicated: stats.answered.saturating_sub(calls as u64),
    })
}

/// Renders load rows as a Markdown table.
pub fn load_markdown(rows: &[LoadRow]) -> String {
    let mut out = String::from("| series | concurrency | calls | calls/s | p50 | p99 | lost | duplicated |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} |\n",
            r.series,
            r.concurrency,
            r.calls,
            r.calls_per_s,
            format_ns(r.p50_us * 1e3),
            format_ns(r.p99_us * 1e3),
            r.lost,
            r.duplicated
        ));
    }
    out
}
