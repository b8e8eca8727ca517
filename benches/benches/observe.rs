//! What counting and tracing calls costs (`weld serve --metrics`,
//! `--otlp`, an embedder's `Observer`): `driver.run-add(n)` loops `n`
//! calls of `adder.add`, each series measured in one run without an
//! observer (`off`), counting (`on`), and counting with one span per call
//! exported over OTLP to a collector in this process (`traced`: every
//! trace kept; `traced-1pct`: 1% kept, as a busy host would run), the
//! observer on both sides of the link. A host-linked call records its time
//! (two clock reads, two atomic additions); a wRPC call records it on the
//! stub and on the served side, and carries its trace context over NATS.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use weld_benches::series::{run_add, runtime_observed, serve_pair_observed, tcp_endpoint};
use weld_fixtures::otlp::Collector;
use weld_linker::manifest::Strategy;
use weld_linker::observe::otlp::{Otlp, OtlpConfig};
use weld_linker::observe::Observer;
use weld_linker::Deployment;

/// Off, counting, counting and tracing 1% of the calls, and every call
/// (the heaviest last: its export's backlog and heat do not fall on the
/// lighter modes).
const MODES: [&str; 4] = ["off", "on", "traced-1pct", "traced"];

/// The observer of `mode`, and the export it traces to (shut down, its
/// queue sent, when dropped).
struct Observed {
    observer: Option<Observer>,
    otlp: Option<Otlp>,
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(otlp) = self.otlp.take() {
            let _ = otlp.shutdown();
        }
    }
}

fn observer(mode: &str, collector: &Collector) -> Observed {
    let ratio = match mode {
        "off" => {
            return Observed {
                observer: None,
                otlp: None,
            }
        }
        "on" => {
            return Observed {
                observer: Some(Observer::new()),
                otlp: None,
            }
        }
        "traced" => 1.0,
        _ => 0.01,
    };
    let mut otlp = Otlp::start(&OtlpConfig {
        endpoint: collector.url(),
        service: "weld".into(),
        resource: vec![],
        sample_ratio: Some(ratio),
        metrics_interval: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    Observed {
        observer: Some(otlp.observer()),
        otlp: Some(otlp),
    }
}

fn host_linked(c: &mut Criterion) {
    let (_dir, manifest) = weld_benches::adder_manifest("adder");
    let deployment = Deployment::load(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let collector = Collector::counting();
    let mut group = c.benchmark_group("observe-add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for mode in MODES {
        let observed = observer(mode, &collector);
        let rt = runtime_observed(
            &deployment,
            Strategy::HostLinked,
            true,
            observed.observer.clone(),
        );
        let (mut app, typed) = run_add(&rt);
        group.bench_function(BenchmarkId::new("host-linked", mode), |b| {
            weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
        });
    }
    group.finish();
}

fn wrpc(c: &mut Criterion) {
    let nats = weld_fixtures::nats::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = [
        ("tcp", tcp_endpoint()),
        (
            "unix",
            format!(
                r#"{{ transport = "unix", path = {:?} }}"#,
                dir.path().join("b.sock").display().to_string()
            ),
        ),
        (
            "nats",
            format!(
                r#"{{ transport = "nats", url = "{}", prefix = "bench" }}"#,
                nats.url()
            ),
        ),
    ];
    let collector = Collector::counting();
    let mut group = c.benchmark_group("observe-add");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for (transport, endpoint) in &endpoints {
        for mode in MODES {
            let observed = observer(mode, &collector);
            let (server, mut app) =
                serve_pair_observed(dir.path(), endpoint, "", observed.observer.clone());
            let (func, _) = app.func("driver", "run-add").unwrap();
            let typed = func.typed::<(u32,), (u32,)>(app.store()).unwrap();
            let id = BenchmarkId::new(format!("wrpc-{transport}"), mode);
            group.bench_function(id, |b| {
                weld_benches::bench_wasm_loop(b, |n| typed.call(app.store(), (n,)).unwrap())
            });
            drop(app);
            server.stop().unwrap_or_else(|e| panic!("{e}"));
            drop(observed);
        }
    }
    group.finish();
    eprintln!("the collector received {} spans", collector.count());
}

criterion_group!(benches, host_linked, wrpc);
criterion_main!(benches);
