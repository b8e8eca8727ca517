//! HTTP ingress (`weld serve --http`): a `wasi:http/incoming-handler`
//! served with hyper, asked by hyper's client over loopback. Each limit is
//! exceeded once: a trap, a loop past the deadline, a body declared too
//! large, more requests than workers, and more than can wait for one.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use weld_linker::input::InputLimits;
use weld_linker::serve::{HttpBackground, HttpOptions, HttpServer, HttpStats};
use weld_linker::{Deployment, PlanOptions};

/// A running server and how to stop it.
pub(crate) struct Running {
    pub(crate) address: SocketAddr,
    server: HttpBackground,
}

impl Running {
    /// Stops the server; returns its counts.
    pub(crate) fn stop(self) -> HttpStats {
        self.server.stop().unwrap()
    }
}

/// Serves the `http-hello` fixture, alone on host `default`, with
/// `configure`'s options.
fn serve(configure: impl FnOnce(&mut HttpOptions)) -> Running {
    serve_host(weld_fixtures::path("http-hello"), "default", configure)
}

/// Serves the HTTP handlers of `host` of the deployment `input` (a
/// manifest or a component).
pub(crate) fn serve_host(
    input: std::path::PathBuf,
    host: &str,
    configure: impl FnOnce(&mut HttpOptions),
) -> Running {
    let deployment = Deployment::open(&[input], &PlanOptions::default(), &InputLimits::default())
        .unwrap_or_else(|d| panic!("{d}"));
    let mut options = HttpOptions::new(host, "127.0.0.1:0".parse().unwrap());
    configure(&mut options);
    let server = HttpServer::new(&deployment, options)
        .and_then(HttpServer::spawn)
        .unwrap();
    Running {
        address: server.address(),
        server,
    }
}

/// One request on a new connection: its status, `Retry-After` and body.
pub(crate) fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    declared: Option<u64>,
) -> (u16, Option<String>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", address.to_string());
        if let Some(n) = declared {
            builder = builder.header("content-length", n.to_string());
        }
        let request = builder
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
            .await
            .expect("an answer within 30 s")
            .unwrap();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry, String::from_utf8_lossy(&body).into_owned())
    })
}

#[test]
fn a_handler_answers_from_a_fresh_instance_per_request() {
    let server = serve(|_| {});
    let a = server.address;
    assert_eq!(
        request(a, "GET", "/hi?x=1", b"", None),
        (200, None, "hello from weld: GET /hi?x=1".to_string())
    );
    let (status, _, body) = request(a, "POST", "/upload", &[7; 10_000], None);
    assert_eq!(
        (status, body.as_str()),
        (200, "hello from weld: POST /upload (10000 bytes)")
    );
    assert_eq!(request(a, "GET", "/status/418", b"", None).0, 418);
    let stats = server.stop();
    assert_eq!((stats.answered, stats.failed), (3, 0), "{stats}");
}

#[test]
fn a_trapping_handler_answers_500_and_the_next_request_is_answered() {
    let server = serve(|_| {});
    let a = server.address;
    let (status, _, body) = request(a, "GET", "/trap", b"", None);
    assert_eq!(status, 500, "{body}");
    assert_eq!(request(a, "GET", "/after", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!((stats.answered, stats.failed), (1, 1), "{stats}");
}

#[test]
fn a_looping_handler_is_stopped_at_its_deadline_with_504() {
    let server = serve(|o| o.deadline = Some(Duration::from_millis(300)));
    let a = server.address;
    let started = Instant::now();
    let (status, _, body) = request(a, "GET", "/loop", b"", None);
    assert_eq!(status, 504, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(request(a, "GET", "/after", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!((stats.answered, stats.timed_out), (1, 1), "{stats}");
}

#[test]
fn a_body_declared_too_large_is_refused_before_the_handler_runs() {
    let server = serve(|o| o.max_body_bytes = 1024);
    let a = server.address;
    let (status, _, _) = request(a, "POST", "/upload", &[1; 2048], Some(2048));
    assert_eq!(status, 413);
    // At the limit it is the handler's.
    let (status, _, body) = request(a, "POST", "/upload", &[1; 1024], Some(1024));
    assert_eq!(
        (status, body.as_str()),
        (200, "hello from weld: POST /upload (1024 bytes)")
    );
    let stats = server.stop();
    assert_eq!((stats.answered, stats.too_large), (1, 1), "{stats}");
}

#[test]
fn a_request_that_finds_every_worker_busy_is_answered_503_with_retry_after() {
    let server = serve(|o| {
        o.workers = 1;
        o.queue_timeout = Duration::from_millis(300);
        o.deadline = Some(Duration::from_secs(2));
    });
    let a = server.address;
    let looping = std::thread::spawn(move || request(a, "GET", "/loop", b"", None).0);
    // The loop holds the one worker until its deadline: a request waits
    // 300 ms for it, then is answered 503.
    std::thread::sleep(Duration::from_millis(500));
    let asked = Instant::now();
    let (status, retry, _) = request(a, "GET", "/busy", b"", None);
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    assert!(
        asked.elapsed() >= Duration::from_millis(300),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(looping.join().unwrap(), 504);
    assert_eq!(request(a, "GET", "/after", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!(
        (stats.busy, stats.timed_out, stats.answered),
        (1, 1, 1),
        "{stats}"
    );
}

#[test]
fn requests_past_the_waiting_room_are_answered_503_at_once() {
    // One worker and four places: six requests at a looping handler.
    let server = serve(|o| {
        o.workers = 1;
        o.queue_timeout = Duration::from_secs(5);
        o.deadline = Some(Duration::from_millis(600));
    });
    let a = server.address;
    let clients: Vec<_> = (0..6)
        .map(|i| {
            std::thread::sleep(Duration::from_millis(if i == 0 { 0 } else { 50 }));
            std::thread::spawn(move || {
                let asked = Instant::now();
                (request(a, "GET", "/loop", b"", None).0, asked.elapsed())
            })
        })
        .collect();
    let answers: Vec<(u16, Duration)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert_eq!(busy.len(), 1, "{answers:?}");
    // The one that found no place was not kept waiting.
    assert!(busy[0].1 < Duration::from_millis(500), "{answers:?}");
    assert!(
        answers.iter().filter(|(s, _)| *s == 504).count() == 5,
        "{answers:?}"
    );
    let stats = server.stop();
    assert_eq!((stats.busy, stats.timed_out), (1, 5), "{stats}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let server = serve(|o| o.header_timeout = Duration::from_millis(300));
    let a = server.address;
    let mut slow = std::net::TcpStream::connect(a).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: weld\r\nx-slow: ")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert!(
        !String::from_utf8_lossy(&rest).contains("hello"),
        "{rest:?}"
    );
    // Others are served meanwhile and after.
    assert_eq!(request(a, "GET", "/", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!(stats.answered, 1, "{stats}");
}

/// The server's answer to `head` sent raw, up to its first line.
fn raw_status(a: SocketAddr, head: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(head);
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn heads_past_the_limits_are_refused_before_the_handler_runs() {
    let server = serve(|o| {
        o.max_headers = 10;
        o.max_header_bytes = 16 << 10;
    });
    let a = server.address;
    let many: String = (0..11).map(|i| format!("x-{i}: 1\r\n")).collect();
    let head = format!("GET / HTTP/1.1\r\nhost: weld\r\n{many}\r\n");
    assert_eq!(
        raw_status(a, head.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    let long = "a".repeat(32 << 10);
    let head = format!("GET / HTTP/1.1\r\nhost: weld\r\nx-long: {long}\r\n\r\n");
    assert_eq!(
        raw_status(a, head.as_bytes()),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(request(a, "GET", "/", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!(stats.answered, 1, "{stats}");
}

/// `http-greet` on host `a` calling `greet` through `link` (extra keys of
/// the `[[link]]` table), `greet` on host `b` when `endpoint` is given.
fn greet_manifest(dir: &std::path::Path, link: &str, endpoint: Option<&str>) -> std::path::PathBuf {
    let b = if endpoint.is_some() { "b" } else { "a" };
    let hosts = endpoint.map_or(String::new(), |e| format!("[hosts.b]\nwrpc = {e}\n"));
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.http-greet]\npath = \"{{http-greet}}\"\nhost = \"a\"\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"{b}\"\n\
             [[link]]\nimport = \"http-greet:demo:greet/greeter@0.1.0\"\nexport = \"greet\"\n{link}\n{hosts}"
        ),
    )
}

#[test]
fn a_handler_calls_its_import_fused_and_host_linked() {
    for strategy in ["fused", "host-linked"] {
        let dir = tempfile::tempdir().unwrap();
        let link = format!("transport = \"in-process\"\nstrategy = \"{strategy}\"");
        let server = serve_host(greet_manifest(dir.path(), &link, None), "a", |_| {});
        let (status, _, body) = request(server.address, "GET", "/weld", b"", None);
        assert_eq!((status, body.as_str()), (200, "hello, weld"), "{strategy}");
        let stats = server.stop();
        assert_eq!(stats.answered, 1, "{strategy}: {stats}");
    }
}

#[test]
fn a_handler_calls_another_host_over_wrpc_and_answers_502_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let endpoint = format!("{{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}");
    let manifest = greet_manifest(dir.path(), "transport = \"wrpc\"", Some(&endpoint));
    let remote = crate::common::serve(&manifest, "b");
    let server = serve_host(manifest, "a", |_| {});
    let (status, _, body) = request(server.address, "GET", "/weld", b"", None);
    assert_eq!((status, body.as_str()), (200, "hello, weld"));
    // The greeter's host stops: the handler gets the link's `error` value
    // and answers for itself; nothing traps.
    drop(remote);
    let (status, _, body) = request(server.address, "GET", "/weld", b"", None);
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("the greeter failed: "), "{body}");
    assert!(body.contains(&format!("127.0.0.1:{port}")), "{body}");
    let stats = server.stop();
    assert_eq!((stats.answered, stats.failed), (2, 0), "{stats}");
}

#[test]
fn a_host_without_a_handler_is_refused_by_name() {
    let deployment = Deployment::open(
        &[weld_fixtures::path("adder")],
        &PlanOptions::default(),
        &InputLimits::default(),
    )
    .unwrap();
    let options = HttpOptions::new("default", "127.0.0.1:0".parse().unwrap());
    let e = HttpServer::new(&deployment, options).err().unwrap();
    assert!(
        matches!(&e, weld_linker::serve::ServeError::NoHttpHandler { host } if host == "default"),
        "{e}"
    );
}

/// A manifest of `http-hello` and `http-greet` (with `greet`) on host `a`,
/// with `extra` appended.
fn two_handlers(
    dir: &std::path::Path,
    hello: &str,
    greet: &str,
    extra: &str,
) -> std::path::PathBuf {
    weld_fixtures::write_manifest(
        dir,
        &format!(
            "[components.http-hello]\npath = \"{{http-hello}}\"\nhost = \"a\"\n{hello}\n\
             [components.http-greet]\npath = \"{{http-greet}}\"\nhost = \"a\"\n{greet}\n\
             [components.greet]\npath = \"{{greet}}\"\nhost = \"a\"\n{extra}\n"
        ),
    )
}

#[test]
fn requests_are_routed_to_the_handler_whose_prefix_they_fall_under() {
    let dir = tempfile::tempdir().unwrap();
    let m = two_handlers(
        dir.path(),
        "route = \"/hello\"",
        "route = \"/greet\"",
        "[hosts.a.http]\naddress = \"127.0.0.1:0\"",
    );
    let deployment = Deployment::open(
        std::slice::from_ref(&m),
        &PlanOptions::default(),
        &InputLimits::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let ingress = deployment.plan.ingress_of("a").expect("host a serves HTTP");
    assert_eq!(ingress.address, Some("127.0.0.1:0".parse().unwrap()));
    let routes: Vec<_> = ingress
        .routes
        .iter()
        .map(|r| (r.prefix.as_str(), r.component.as_str()))
        .collect();
    assert_eq!(routes, [("/hello", "http-hello"), ("/greet", "http-greet")]);
    // `weld plan` shows them: text, JSON and DOT.
    let text = ingress.to_string();
    assert!(text.starts_with("host `a` serves HTTP on http://127.0.0.1:0:\n  /hello  → `http-hello` (wasi:http/incoming-handler@0.2."), "{text}");
    let json = serde_json::to_value(&deployment.plan).unwrap();
    assert_eq!(
        json["ingress"][0]["routes"][1]["prefix"], "/greet",
        "{json}"
    );
    let dot = deployment.plan.to_dot();
    assert!(
        dot.contains(
            "\"http a\" -> \"http-greet\" [label=\"/greet\nwasi:http/incoming-handler@0.2."
        ),
        "{dot}"
    );
    let server = serve_host(m, "a", |_| {});
    let a = server.address;
    assert_eq!(
        request(a, "GET", "/hello/there", b"", None),
        (200, None, "hello from weld: GET /hello/there".to_string())
    );
    // The greeter greets what follows the first `/`: the whole path.
    let (status, _, body) = request(a, "GET", "/greet", b"", None);
    assert_eq!((status, body.as_str()), (200, "hello, greet"));
    for outside in ["/", "/hellothere", "/greeting/x"] {
        let (status, _, _) = request(a, "GET", outside, b"", None);
        assert_eq!(status, 404, "{outside}");
    }
    // A path that climbs out of one route into another reaches neither.
    for climbing in ["/hello/../greet", "/greet/%2E%2e/hello"] {
        let (status, _, _) = request(a, "GET", climbing, b"", None);
        assert_eq!(status, 400, "{climbing}");
    }
    let stats = server.stop();
    assert_eq!(
        (stats.answered, stats.not_found, stats.bad_path),
        (2, 3, 2),
        "{stats}"
    );
}

/// The `ingress` errors of a manifest that does not plan.
fn ingress_errors(manifest: &std::path::Path) -> Vec<String> {
    let opened = Deployment::open(
        &[manifest.to_path_buf()],
        &PlanOptions::default(),
        &InputLimits::default(),
    );
    let Err(d) = opened else {
        panic!("the plan is refused")
    };
    d.0.iter()
        .filter(|e| e.kind == weld_linker::DiagnosticKind::Ingress)
        .map(|e| {
            format!(
                "{} @{}",
                e.message,
                e.location.as_ref().map_or(0, |l| l.line)
            )
        })
        .collect()
}

#[test]
fn routes_that_cannot_be_served_are_refused_at_plan_time() {
    let dir = tempfile::tempdir().unwrap();
    // Two handlers, one without a route.
    let m = two_handlers(dir.path(), "route = \"/hello\"", "", "");
    assert_eq!(
        ingress_errors(&m),
        ["host `a` has several HTTP handlers (`http-hello`, `http-greet`): `http-greet` needs a `route` @5"]
    );
    // Nested routes overlap; equal ones too.
    for (hello, greet, long) in [("/api", "/api/greet", "/api/greet"), ("/x", "/x", "/x")] {
        let m = two_handlers(
            dir.path(),
            &format!("route = \"{hello}\""),
            &format!("route = \"{greet}\""),
            "",
        );
        assert_eq!(
            ingress_errors(&m),
            [format!("host `a`: route `{greet}` of `http-greet` overlaps route `{hello}` of `http-hello`: a request for `{long}` would match both @8")]
        );
    }
    // A route on a component with no handler; `shared` on a handler.
    let m = two_handlers(
        dir.path(),
        "instances = \"shared\"",
        "route = \"/greet\"",
        "route = \"/g\"",
    );
    assert_eq!(
        ingress_errors(&m),
        [
            "component `http-hello` exports `wasi:http/incoming-handler@0.2.12`: an HTTP handler gets an instance per request, so `instances = \"shared\"` cannot apply to it @4".to_string(),
            "component `greet` has a `route` but exports no HTTP handler (`wasi:http/incoming-handler@0.2.x` or `wasi:http/handler@0.3.x`) @12".to_string(),
            "host `a` has several HTTP handlers (`http-hello`, `http-greet`): `http-hello` needs a `route` @1".to_string(),
        ]
    );
    // An HTTP address on a host without a handler.
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.greet]\npath = \"{greet}\"\nhost = \"a\"\n[hosts.a]\nhttp = { address = \"127.0.0.1:8080\" }\n",
    );
    assert_eq!(
        ingress_errors(&m),
        ["host `a` declares `http` but none of its components exports an HTTP handler (`wasi:http/incoming-handler@0.2.x` or `wasi:http/handler@0.3.x`) @5"]
    );
}

#[test]
fn routes_and_http_addresses_of_the_wrong_form_are_refused_with_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let port = weld_fixtures::peer::free_port();
    let m = two_handlers(
        dir.path(),
        "route = \"hello\"",
        "route = \"/greet/../x\"",
        &format!(
            "[hosts.a]\nwrpc = {{ transport = \"tcp\", address = \"127.0.0.1:{port}\" }}\nhttp = {{ address = \"127.0.0.1:{port}\" }}"
        ),
    );
    let Err(d) = Deployment::open(&[m], &PlanOptions::default(), &InputLimits::default()) else {
        panic!("the manifest is refused")
    };
    let messages: Vec<&str> = d.0.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            format!("host `a` serves HTTP on 127.0.0.1:{port}, where host `a` serves wRPC"),
            "component `http-hello`: route `hello` must start with `/`".to_string(),
            "component `http-greet`: route `/greet/../x` must not have empty, `.` or `..` segments (nor end with `/`)".to_string(),
        ]
    );
}

#[test]
fn a_wasi_0_3_handler_answers_streams_its_body_and_fails_like_a_0_2_one() {
    // `wasi:http/handler@0.3.0`: the response is returned, its body written
    // by a task that outlives `handle`.
    let server = serve_host(weld_fixtures::path("http-hello-p3"), "default", |o| {
        o.deadline = Some(Duration::from_millis(500));
    });
    let a = server.address;
    assert_eq!(
        request(a, "GET", "/hi?x=1", b"", None),
        (
            200,
            None,
            "hello from weld over WASI 0.3: GET /hi?x=1".to_string()
        )
    );
    let (status, _, body) = request(a, "POST", "/upload", &[7; 100_000], None);
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            "hello from weld over WASI 0.3: POST /upload (100000 bytes)"
        )
    );
    assert_eq!(request(a, "GET", "/status/418", b"", None).0, 418);
    assert_eq!(request(a, "GET", "/trap", b"", None).0, 500);
    let started = Instant::now();
    assert_eq!(request(a, "GET", "/loop", b"", None).0, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(request(a, "GET", "/after", b"", None).0, 200);
    let stats = server.stop();
    assert_eq!(
        (stats.answered, stats.failed, stats.timed_out),
        (4, 1, 1),
        "{stats}"
    );
}

#[test]
fn handlers_of_both_wasi_releases_share_a_host() {
    // With a WASI 0.3 component on it, the host's stores are async: the
    // 0.2 handler is called through wasmtime's async entry too.
    let dir = tempfile::tempdir().unwrap();
    let m = weld_fixtures::write_manifest(
        dir.path(),
        "[components.http-hello]\npath = \"{http-hello}\"\nroute = \"/two\"\n\
         [components.http-hello-p3]\npath = \"{http-hello-p3}\"\nroute = \"/three\"\n",
    );
    let server = serve_host(m, "default", |_| {});
    let a = server.address;
    assert_eq!(
        request(a, "GET", "/two", b"", None).2,
        "hello from weld: GET /two"
    );
    assert_eq!(
        request(a, "GET", "/three", b"", None).2,
        "hello from weld over WASI 0.3: GET /three"
    );
    assert_eq!(server.stop().answered, 2);
}
