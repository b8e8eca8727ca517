//! `weld serve weld.toml --host edge-2`: serve the exports of one host that
//! the plan's wrpc links call, and its HTTP handlers when it has an HTTP
//! address (`http` in the manifest, or `--http`), and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;
use weld_linker::desired::OpenError;
use weld_linker::input::InputLimits;
use weld_linker::serve::{
    follow, run_together, watch, FailureHook, HttpOptions, HttpServer, Live, MetricsServer,
    PlanSource, Reload, Revision, ServeError, ServeEvent, ServeOptions, Server, WatchEvent,
    WatchOptions, Watcher,
};
use weld_linker::wrpc::Endpoint;
use weld_linker::Deployment;

/// Arguments of `weld serve`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").args(["watch", "plan_from"])))]
pub struct Args {
    #[arg(required_unless_present = "plan_from", conflicts_with = "plan_from", value_name = "MANIFEST|COMPONENT", help = super::INPUTS_HELP)]
    inputs: Vec<PathBuf>,
    /// The host to serve (default: the deployment's only host).
    #[arg(long)]
    host: Option<String>,
    /// Serve the host's HTTP handlers on this TCP address (instead of the
    /// manifest's `http` address), a fresh instance per request (README:
    /// "Serving HTTP").
    #[arg(long, value_name = "IP:PORT")]
    http: Option<std::net::SocketAddr>,
    /// Listen on this TCP address instead of the host's endpoint (port 0
    /// picks a free port; the address bound is printed).
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<String>,
    /// Refuse to start when a wRPC link of the deployment would carry its
    /// calls unencrypted beyond this machine (as `weld plan
    /// --strict-security`).
    #[arg(long)]
    strict_security: bool,
    /// Most calls of one served component handled at once (each component
    /// has its own; four times as many may wait, then calls are refused as
    /// `busy`).
    #[arg(long, default_value_t = 64)]
    max_concurrency: usize,
    /// Largest parameter message accepted, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_message_bytes: usize,
    /// Most memory the decoded parameters of all calls in flight may hold,
    /// in bytes (a call waits for its share within the read timeout).
    #[arg(long, default_value_t = 256 << 20)]
    max_in_flight_bytes: usize,
    /// Most TCP or Unix connections open at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// How long a client may take to send its invocation header, and then
    /// its parameters, in milliseconds.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    read_timeout_ms: u64,
    /// After SIGTERM or Ctrl-C, how long in-flight calls may run before
    /// they are cut, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    grace_ms: u64,
    /// Deadline of each call into a component whose manifest sets no
    /// `deadline-ms`, in milliseconds (default: the largest `timeout-ms` of
    /// the links served).
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    deadline_ms: Option<u64>,
    /// Print the served functions, each failed call and the final counts as
    /// JSON lines.
    #[arg(long)]
    json: bool,
    /// Apply every change to the manifest, the files it includes and the
    /// components it names while serving: only what changed is
    /// restarted, calls in flight finish on what they started on
    /// (README: "Changing a running deployment").
    #[arg(long)]
    watch: bool,
    /// Take the deployment from the desired state `weld plan --apply --to
    /// URL` wrote to a NATS JetStream bucket (`nats://HOST:PORT/BUCKET/KEY`),
    /// apply every change to it while serving, and publish the host's
    /// status under `KEY.status.HOST` (README: "Changing a running
    /// deployment").
    #[arg(long, value_name = "URL")]
    plan_from: Option<String>,
    #[command(flatten)]
    nats: super::PlanNatsArgs,
    /// How often a host following a bucket publishes its status while
    /// nothing changes, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000, requires = "plan_from", value_parser = clap::value_parser!(u64).range(100..=600_000))]
    heartbeat_ms: u64,
    /// Write the host's status (plan version, component digests, the last
    /// change's outcome) to this file at start and after every change;
    /// `weld status FILE` reads it.
    #[arg(long, value_name = "FILE", requires = "source")]
    status: Option<PathBuf>,
    /// Serve Prometheus metrics on this TCP address, at `/metrics`: every
    /// call across the host's links and every served call (counts,
    /// failures by cause, latency, bytes), and each served component's
    /// calls in flight, waiting and refused (README: "Watching links").
    #[arg(long, value_name = "IP:PORT")]
    metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    otlp: super::OtlpArgs,
}

/// Runs `weld serve` until Ctrl-C or SIGTERM; in-flight calls get the grace
/// period to finish, then are cut.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Parameter buffers of up to the message cap come and go with hostile
    // peers: glibc's dynamic mmap threshold would move them into the heap,
    // whose freed blocks it keeps, so what the in-flight budget counts
    // would take up to twice its memory. Buffers of 1 MiB and more stay
    // mapped and go back to the system when freed.
    // SAFETY: mallopt only changes the allocator's tuning.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    if args.watch && !is_one_manifest(&args.inputs) {
        return Ok(super::fail(
            "--watch watches a manifest: give one manifest, not component files",
            args.json,
        ));
    }
    let (source, first) = match &args.plan_from {
        Some(url) => match from_bucket(&args, url) {
            Ok((source, first)) => (Some(source), Some(first)),
            Err(code) => return Ok(code),
        },
        None => (None, None),
    };
    let loaded;
    let deployment = match &first {
        Some(first) => &first.deployment,
        None => {
            match Deployment::open(&args.inputs, &options_plan(&args), &InputLimits::default()) {
                Ok(d) => loaded = d,
                Err(diagnostics) => return Ok(super::report(&diagnostics, args.json)),
            }
            &loaded
        }
    };
    let fail = |message: String| Ok(super::fail(message, args.json));
    let host = match deployment.plan.choose_host(args.host.as_deref()) {
        Ok(h) => h,
        Err(e) => return fail(super::describe(&e)),
    };
    let mut options = ServeOptions::new(&host);
    options.progress = crate::compiling::progress();
    let reload = Reload::new();
    options.reload = Some(reload.clone());
    options.endpoint = args.listen.clone().map(|address| Endpoint::Tcp { address });
    options.max_concurrency = args.max_concurrency;
    options.limits.max_bytes = args.max_message_bytes;
    options.max_connections = args.max_connections;
    options.max_in_flight_bytes = args.max_in_flight_bytes;
    options.read_timeout = std::time::Duration::from_millis(args.read_timeout_ms);
    if args.json {
        options.on_failure = Some(FailureHook::new(|failed| {
            super::emit(&ServeEvent::Failed { call: failed }.to_line());
        }));
    }
    options.grace = std::time::Duration::from_millis(args.grace_ms);
    options.deadline = args.deadline_ms.map(std::time::Duration::from_millis);
    // Spans queued when the host stops are sent as this goes.
    let mut exporting = match args.otlp.start(&host) {
        Ok(e) => e,
        Err(message) => return fail(message),
    };
    options.observer = exporting.observer(args.metrics.is_some());
    // Bound before anything compiles: a taken address fails at once.
    let _metrics = match start_metrics(&args, options.observer.as_ref()) {
        Ok(m) => m,
        Err(message) => return fail(message),
    };
    let live = (args.watch || first.is_some()).then(Live::new);
    options.live.clone_from(&live);
    let http = args
        .http
        .or_else(|| deployment.plan.ingress_of(&host)?.address)
        .map(|address| HttpOptions::from_serve(&options, address));
    let server = Server::new(deployment, options);
    // SIGHUP reloads a QUIC host's TLS identity; elsewhere there is
    // nothing to reload and it keeps its usual meaning.
    if matches!(&server, Ok(s) if matches!(s.endpoint(), Endpoint::Quic { .. })) {
        reload_on_sighup(reload);
    }
    // Started before the servers run: a change seen before they take
    // plans is refused (nothing serves yet) and the next one applied.
    let watcher = match start_watching(&args, live.as_ref(), source, first.as_ref(), deployment) {
        Ok(w) => w,
        Err(message) => return fail(message),
    };
    let server = match (server, http) {
        (Err(ServeError::NothingToServe { .. } | ServeError::NoHttpAddress { .. }), Some(http)) => {
            return serve_http(&args, deployment, None, http)
        }
        (Err(e), _) => return fail(super::describe(&e)),
        (Ok(s), None) => s,
        (Ok(s), Some(http)) => return serve_http(&args, deployment, Some(&s), http),
    };
    let ran = server.run(|bound| ready(&args, &server, bound), shutdown_signal());
    // No change is applied to a stopped server.
    drop(watcher);
    let stats = match ran {
        Ok(s) => s,
        Err(e) => return fail(super::describe(&e)),
    };
    stopped(&args, &ServeEvent::Stopped { stats: &stats });
    Ok(ExitCode::SUCCESS)
}

/// The metrics endpoint, when `--metrics` asks for one (it reads
/// `observer`'s counters); a `metrics-ready` event says where it is bound.
fn start_metrics(
    args: &Args,
    observer: Option<&weld_linker::observe::Observer>,
) -> Result<Option<MetricsServer>, String> {
    let (Some(address), Some(observer)) = (args.metrics, observer) else {
        return Ok(None);
    };
    let m = MetricsServer::start(address, observer.clone()).map_err(|e| super::describe(&e))?;
    let endpoint = format!("http://{}/metrics", m.local_addr());
    let event = ServeEvent::MetricsReady { endpoint };
    super::emit(&if args.json {
        event.to_line()
    } else {
        format!("{event}\n")
    });
    Ok(Some(m))
}

/// Whether `inputs` name one manifest (not component files).
fn is_one_manifest(inputs: &[PathBuf]) -> bool {
    matches!(inputs, [one] if !weld_linker::input::is_wasm(one).unwrap_or(false))
}

/// How the deployment is planned, first and after every change.
fn options_plan(args: &Args) -> weld_linker::PlanOptions {
    weld_linker::PlanOptions {
        strict_security: args.strict_security,
        ..Default::default()
    }
}

/// A live host's source of changes, started: the bucket's follower or the
/// manifest's watcher; none for a host that is not live.
fn start_watching(
    args: &Args,
    live: Option<&Live>,
    source: Option<PlanSource>,
    first: Option<&Revision>,
    deployment: &Deployment,
) -> Result<Option<Watcher>, String> {
    let Some(live) = live else {
        return Ok(None);
    };
    match (source, first) {
        (Some(source), Some(first)) => {
            let heartbeat = std::time::Duration::from_millis(args.heartbeat_ms);
            follow(source, first, live.clone(), watch_options(args), heartbeat)
                .map_err(|e| format!("cannot follow the desired state: {e}"))
        }
        _ => watch(
            deployment.manifest.file.clone(),
            deployment,
            live.clone(),
            watch_options(args),
        )
        .map_err(|e| format!("cannot watch the manifest: {e}")),
    }
    .map(Some)
}

/// The first desired state of the bucket at `url`, loaded, and the source
/// that follows it; on failure the error is printed and its exit code
/// returned.
fn from_bucket(args: &Args, url: &str) -> Result<(PlanSource, Revision), ExitCode> {
    let fail = |message: String| super::fail(message, args.json);
    let store = args.nats.connect(url, false).map_err(fail)?;
    let mut source = PlanSource::new(store)
        .map_err(|e| fail(format!("cannot lay out the desired state: {e}")))?;
    match source.current(&watch_options(args)) {
        Ok(first) => Ok((source, first)),
        Err(OpenError::Plan(diagnostics)) => Err(super::report(&diagnostics, args.json)),
        Err(e) => Err(fail(super::describe(&e))),
    }
}

/// How a live host plans each change, and prints what each did.
fn watch_options(args: &Args) -> WatchOptions {
    let json = args.json;
    WatchOptions {
        plan: options_plan(args),
        status_file: args.status.clone(),
        on_event: Some(std::sync::Arc::new(move |event: &WatchEvent<'_>| {
            if json {
                super::emit(&event.to_line());
            } else {
                match event {
                    WatchEvent::Applied { applied, revision } => eprintln!(
                        "applied{}: now serving plan version {} ({} kept, {} started, {:.1} ms)",
                        revision.map_or(String::new(), |r| format!(" revision {r}")),
                        applied.version,
                        applied.kept,
                        applied.started,
                        applied.took.as_secs_f64() * 1e3
                    ),
                    // Said by the log's warning.
                    WatchEvent::Refused { .. } => {}
                }
            }
        })),
        ..WatchOptions::default()
    }
}

/// Prints that `server` serves on `bound`.
fn ready(args: &Args, server: &Server, bound: &Endpoint) {
    let ready = ServeEvent::Ready {
        host: server.runtime().host(),
        endpoint: bound.to_string(),
        served: server.served(),
    };
    print_ready(args, &ready, "calls");
}

/// Prints a server's ready event: a JSON line, or its text and how to stop.
fn print_ready(args: &Args, ready: &ServeEvent<'_>, what: &str) {
    super::emit(&if args.json {
        ready.to_line()
    } else {
        format!("{ready}\nready; Ctrl-C stops (in-flight {what} finish first)\n")
    });
}

/// Prints a server's stopped event: a JSON line, or its counts on stderr.
fn stopped(args: &Args, stopped: &ServeEvent<'_>) {
    if args.json {
        super::emit(&stopped.to_line());
    } else {
        eprintln!("{stopped}");
    }
}

/// `weld serve` of a host with an HTTP address: its HTTP ingress, beside
/// its wRPC server when it has one, until Ctrl-C or SIGTERM.
fn serve_http(
    args: &Args,
    d: &Deployment,
    wrpc: Option<&Server>,
    options: HttpOptions,
) -> anyhow::Result<ExitCode> {
    let http = match HttpServer::new(d, options) {
        Ok(s) => s,
        Err(e) => return Ok(super::fail(super::describe(&e), args.json)),
    };
    let on_http_ready = |bound| print_ready(args, &http.ready(bound), "requests");
    let (wrpc_ended, http_ended) = match wrpc {
        None => (None, http.run(on_http_ready, shutdown_signal())),
        Some(w) => {
            let on_ready = |bound: &Endpoint| ready(args, w, bound);
            let t = run_together(w, on_ready, &http, on_http_ready, shutdown_signal());
            (Some(t.wrpc), t.http)
        }
    };
    let mut failed = None;
    match wrpc_ended {
        Some(Ok(stats)) => stopped(args, &ServeEvent::Stopped { stats: &stats }),
        Some(Err(e)) => failed = Some(super::describe(&e)),
        None => {}
    }
    match http_ended {
        Ok(stats) => stopped(args, &ServeEvent::HttpStopped { stats: &stats }),
        Err(e) => failed = Some(super::describe(&e)),
    }
    Ok(failed.map_or(ExitCode::SUCCESS, |m| super::fail(m, args.json)))
}

/// `reload` told on every SIGHUP (which then no longer ends the
/// process), watched on a thread of its own for the life of the process.
fn reload_on_sighup(signal: Reload) {
    // The handler is in place before this returns, before the server
    // starts.
    let watched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .and_then(|rt| {
            let hup = {
                let _in = rt.enter();
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?
            };
            Ok((rt, hup))
        });
    let (rt, mut hup) = match watched {
        Ok(w) => w,
        Err(e) => return tracing::warn!("cannot watch SIGHUP: {e}"),
    };
    let watch = move || {
        rt.block_on(async {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the host's TLS identity");
                signal.now();
            }
        });
    };
    if let Err(e) = std::thread::Builder::new()
        .name("weld-sighup".into())
        .spawn(watch)
    {
        tracing::warn!("cannot watch SIGHUP: {e}");
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("cannot watch SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("stopping: waiting for in-flight calls");
}
