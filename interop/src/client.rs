//! `wrpc-peer call`: invokes a peer's functions through the generated wRPC
//! client bindings and reports what came back.

use std::fmt::Debug;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use wit_bindgen_wrpc::bytes::Bytes;
use wrpc::Invoke;

use crate::bindings::demo::greet::greeter;
use crate::bindings::demo::math::adder;
use crate::bindings::demo::types::all::{self as types, Color, Nested, Perms, Point, Shape};
use crate::{json, Suite, Target};

/// Bounds every call: a peer that never answers must fail the suite, not
/// hang it.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `suite` against the peer at `target`.
pub async fn run(target: Target, suite: Suite) -> anyhow::Result<ExitCode> {
    match target {
        Target::Tcp(addr) => run_suite(&wrpc::transport::tcp::Client::from(addr), suite).await,
        Target::Unix(path) => run_suite(&wrpc::transport::unix::Client::from(path), suite).await,
        Target::Nats { url, .. } if matches!(&suite, Suite::Bench { func, .. } if func == "raw") => {
            let Suite::Bench {
                calls, concurrency, ..
            } = suite
            else {
                unreachable!("matched above")
            };
            raw_nats(&url, calls, concurrency).await
        }
        Target::Nats { url, prefix } => {
            let (client, _) = crate::connect_nats(&url, &prefix).await?;
            run_suite(&client, suite).await
        }
        Target::Quic { addr, tls } => {
            let conn = crate::quic::connect(&addr, &tls).await?;
            run_suite(&wrpc::transport::quic::Client::from(conn), suite).await
        }
    }
}

async fn run_suite<C>(wrpc: &C, suite: Suite) -> anyhow::Result<ExitCode>
where
    C: Invoke,
    C::Context: Default,
{
    let cx = C::Context::default;
    match suite {
        Suite::Types => Ok(types_suite(wrpc).await),
        Suite::Math => {
            let sum = timed(adder::add(wrpc, cx(), 40, 2)).await?;
            json::result("add", &sum.to_string());
            let echo = timed(adder::echo(wrpc, cx(), "héllo")).await?;
            json::result("echo", &json::string(&echo));
            let xs = Bytes::from_static(&[1, 2, 3]);
            let total = timed(adder::sum(wrpc, cx(), &xs)).await?;
            json::result("sum", &total.to_string());
            Ok(ExitCode::SUCCESS)
        }
        Suite::Greet { name } => {
            let greeting = timed(greeter::hello(wrpc, cx(), &name)).await?;
            json::result("hello", &json::string(&greeting));
            Ok(ExitCode::SUCCESS)
        }
        Suite::Count => {
            let count = timed(greeter::count(wrpc, cx())).await?;
            json::result("count", &count.to_string());
            Ok(ExitCode::SUCCESS)
        }
        Suite::Bench {
            func,
            calls,
            bytes,
            concurrency,
        } => {
            let xs = Bytes::from(vec![7u8; bytes]);
            let want = 7 * bytes as u64;
            let one = || async {
                match func.as_str() {
                    "add" => match timed(adder::add(wrpc, cx(), 40, 2)).await? {
                        42 => Ok(()),
                        other => anyhow::bail!("add(40, 2) returned {other}"),
                    },
                    "sum" => match timed(adder::sum(wrpc, cx(), &xs)).await? {
                        got if got == want => Ok(()),
                        other => anyhow::bail!("sum returned {other}, not {want}"),
                    },
                    other => anyhow::bail!("no bench `{other}`: use add or sum"),
                }
            };
            bench(&func, calls, concurrency, one).await
        }
    }
}

/// Times `calls` calls of `one` (after 10% as many untimed warm-up calls),
/// `concurrency` at a time; prints the sorted nanoseconds per call and the
/// wall time of them all.
pub async fn bench<F, Fut>(
    func: &str,
    calls: usize,
    concurrency: usize,
    one: F,
) -> anyhow::Result<ExitCode>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let concurrency = concurrency.max(1);
    for _ in 0..calls.div_ceil(10) {
        one().await?;
    }
    let started = std::time::Instant::now();
    let lanes = (0..concurrency).map(|lane| {
        let one = &one;
        async move {
            let mut ns = Vec::new();
            for _ in (lane..calls).step_by(concurrency) {
                let started = std::time::Instant::now();
                one().await?;
                ns.push(started.elapsed().as_nanos() as u64);
            }
            anyhow::Ok(ns)
        }
    });
    let mut ns: Vec<u64> = Vec::with_capacity(calls);
    for lane in futures::future::join_all(lanes).await {
        ns.extend(lane?);
    }
    let wall = started.elapsed().as_nanos();
    ns.sort_unstable();
    let list: Vec<String> = ns.iter().map(u64::to_string).collect();
    println!(
        "{{\"func\":{},\"result\":[{}],\"wall_ns\":{wall}}}",
        json::string(func),
        list.join(",")
    );
    Ok(ExitCode::SUCCESS)
}

/// The NATS floor: `calls` bare request/replies of 9 bytes through the
/// server at `url`, answered by a responder on its own connection.
pub async fn raw_nats(url: &str, calls: usize, concurrency: usize) -> anyhow::Result<ExitCode> {
    use futures::StreamExt as _;
    let responder = async_nats::connect(url).await?;
    let requester = async_nats::connect(url).await?;
    let subject = format!("weld-floor.{}", std::process::id());
    let mut requests = responder.subscribe(subject.clone()).await?;
    let probe = responder.clone();
    let answering = tokio::spawn(async move {
        while let Some(m) = requests.next().await {
            if let Some(reply) = m.reply {
                let _ = responder.publish(reply, m.payload).await;
            }
        }
    });
    let payload = Bytes::from_static(&[7; 9]);
    // One request on the responder's own connection, answered only once the
    // broker has its subscription: a flush only writes the socket, and a
    // first request from the other connection once found no responders.
    timed(async {
        probe
            .request(subject.clone(), payload.clone())
            .await
            .map_err(anyhow::Error::from)
    })
    .await?;
    let one = || async {
        let reply = timed(async {
            requester
                .request(subject.clone(), payload.clone())
                .await
                .map_err(anyhow::Error::from)
        })
        .await?;
        anyhow::ensure!(reply.payload.len() == 9, "the reply came back short");
        Ok(())
    };
    let code = bench("raw", calls, concurrency, one).await;
    answering.abort();
    code
}

/// Applies [`CALL_TIMEOUT`] to one invocation.
async fn timed<T>(call: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .with_context(|| format!("no answer within {CALL_TIMEOUT:?}"))?
}

/// Per-function verdicts of the `types` suite.
#[derive(Default)]
struct Report {
    failed: bool,
    /// Set after a timeout: the peer is presumably stuck, so the remaining
    /// functions are reported as failed instead of waiting on each in turn.
    stalled: bool,
}

impl Report {
    /// Calls `call` once per sample and checks that it returns the sample.
    async fn check<'s, T, F>(&mut self, func: &str, samples: &'s [T], call: impl Fn(&'s T) -> F)
    where
        T: Debug,
        F: Future<Output = anyhow::Result<T>>,
    {
        let mut failures = Vec::new();
        for sample in samples {
            if self.stalled {
                failures.push("skipped: an earlier call timed out".to_string());
                break;
            }
            match tokio::time::timeout(CALL_TIMEOUT, call(sample)).await {
                Ok(Ok(got)) if same(&got, sample) => {}
                Ok(Ok(got)) => failures.push(format!("sent {sample:?}, got {got:?}")),
                Ok(Err(err)) => failures.push(format!("sent {sample:?}: {err:#}")),
                Err(_) => {
                    self.stalled = true;
                    failures.push(format!(
                        "sent {sample:?}: no answer within {CALL_TIMEOUT:?}"
                    ));
                }
            }
        }
        if failures.is_empty() {
            json::verdict(func, None);
        } else {
            self.failed = true;
            json::verdict(func, Some(&truncate(failures.join("; "))));
        }
    }
}

/// Keeps a verdict line readable when a long sample fails.
fn truncate(mut s: String) -> String {
    const MAX: usize = 2000;
    if s.len() > MAX {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Exact equality through `Debug`: the generated records and variants do
/// not implement `PartialEq` (and `additional_derives` clashes with the
/// enums' own derive), and `Debug` is stricter than `==` where it matters:
/// it tells `-0.0` from `0.0` and prints floats so that they round-trip.
fn same<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn point(x: i32, y: i32) -> Point {
    Point { x, y }
}

/// Every payload-carrying and payload-free case of `shape`.
fn shapes() -> Vec<Shape> {
    vec![
        Shape::Circle(3.25),
        Shape::Circle(-0.5e-300),
        Shape::Rect(point(-7, i32::MIN)),
        Shape::Empty,
        Shape::Named("名前 ✓".to_string()),
        Shape::Named(String::new()),
        Shape::Many(vec![]),
        Shape::Many(vec![0, 1, 127, 128, u16::MAX]),
    ]
}

/// Calls every function of `demo:types/all@0.1.0`; the edge cases target
/// the encoding: LEB128 length boundaries (127/128, 16383/16384), sign
/// extension of signed LEB128 (-64/-65, s32 below -2^27), flags past the
/// first byte, nested options and every variant and enum case.
#[allow(clippy::too_many_lines)]
async fn types_suite<C>(wrpc: &C) -> ExitCode
where
    C: Invoke,
    C::Context: Default,
{
    let cx = C::Context::default;
    let mut r = Report::default();

    r.check("id-bool", &[true, false], |v| {
        types::id_bool(wrpc, cx(), *v)
    })
    .await;
    r.check("id-u8", &[0, 1, 127, 128, 255], |v| {
        types::id_u8(wrpc, cx(), *v)
    })
    .await;
    r.check("id-u16", &[0, 127, 128, 300, 16383, 16384, u16::MAX], |v| {
        types::id_u16(wrpc, cx(), *v)
    })
    .await;
    r.check("id-u32", &[0, 127, 128, 16384, 1 << 28, u32::MAX], |v| {
        types::id_u32(wrpc, cx(), *v)
    })
    .await;
    r.check("id-u64", &[0, 1, 1 << 35, 1 << 63, u64::MAX], |v| {
        types::id_u64(wrpc, cx(), *v)
    })
    .await;
    r.check("id-s8", &[0, -1, 63, 64, -64, -65, i8::MIN, i8::MAX], |v| {
        types::id_s8(wrpc, cx(), *v)
    })
    .await;
    r.check(
        "id-s16",
        &[0, -1, 64, -65, -129, -8192, -8193, i16::MIN, i16::MAX],
        |v| types::id_s16(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-s32",
        &[
            0,
            -1,
            64,
            -65,
            1 << 27,
            (1 << 27) - 1,
            -(1 << 27),
            -(1 << 27) - 1,
            -(1 << 30),
            -123_456_789,
            -987_654_321,
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
        ],
        |v| types::id_s32(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-s64",
        &[
            0,
            -1,
            -(1 << 27) - 1,
            i64::from(i32::MIN) - 1,
            -(1 << 62),
            1 << 40,
            i64::MIN,
            i64::MAX,
        ],
        |v| types::id_s64(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-f32",
        &[
            0.0,
            -0.0,
            1.5,
            -3.25,
            f32::MIN_POSITIVE,
            f32::from_bits(1), // smallest subnormal
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ],
        |v| types::id_f32(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-f64",
        &[
            0.0,
            -0.0,
            std::f64::consts::PI,
            -1e300,
            f64::MIN_POSITIVE,
            f64::from_bits(1), // smallest subnormal
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ],
        |v| types::id_f64(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-char",
        &['a', '\0', '\u{7f}', 'é', '€', '😀', '\u{10FFFF}'],
        |v| types::id_char(wrpc, cx(), *v),
    )
    .await;
    let strings = [
        String::new(),
        "hello".to_string(),
        "héllo wörld".to_string(),
        "日本語テキスト".to_string(),
        "emoji 😀🎉 and nul \0 inside".to_string(),
        "x".repeat(127),
        "y".repeat(128),
        "ü".repeat(5000), // 10000 bytes: a two-byte length prefix
    ];
    r.check("id-string", &strings, |v| types::id_string(wrpc, cx(), v))
        .await;
    r.check(
        "id-list-u32",
        &[
            vec![],
            vec![0, 1, 127, 128, u32::MAX],
            (0..300).map(|i| i * 1000).collect::<Vec<u32>>(),
        ],
        |v| types::id_list_u32(wrpc, cx(), v),
    )
    .await;
    let lists: [Vec<Vec<String>>; 4] = [
        vec![],
        vec![vec![]],
        vec![
            vec!["a".into(), "bc".into()],
            vec![],
            vec!["ü".into(), String::new(), "😀".into()],
        ],
        vec![vec![String::new()]; 3],
    ];
    r.check("id-list-list-string", &lists, |v| async move {
        let inner: Vec<Vec<&str>> = v
            .iter()
            .map(|l| l.iter().map(String::as_str).collect())
            .collect();
        let outer: Vec<&[&str]> = inner.iter().map(Vec::as_slice).collect();
        types::id_list_list_string(wrpc, cx(), &outer).await
    })
    .await;
    r.check(
        "id-list-point",
        &[
            vec![],
            vec![point(1, -2)],
            vec![
                point(i32::MIN, i32::MAX),
                point(0, 0),
                point(-(1 << 27) - 1, 64),
            ],
        ],
        |v| types::id_list_point(wrpc, cx(), v),
    )
    .await;
    r.check(
        "id-record",
        &[
            Nested {
                name: "origin".into(),
                origin: point(0, 0),
                tags: vec![],
                extra: None,
                scale: 1.0,
            },
            Nested {
                name: "größe 😀".into(),
                origin: point(-1, i32::MIN),
                tags: vec!["a".into(), String::new(), "ü".into()],
                extra: Some(point(i32::MAX, -65)),
                scale: -2.5e-10,
            },
        ],
        |v| types::id_record(wrpc, cx(), v),
    )
    .await;
    r.check(
        "id-tuple",
        &[
            (0, String::new(), None),
            (255, "tuple ✓".to_string(), Some(u64::MAX)),
            (7, "zero".to_string(), Some(0)),
        ],
        |v| types::id_tuple(wrpc, cx(), (v.0, v.1.as_str(), v.2)),
    )
    .await;
    r.check("id-variant", &shapes(), |v| {
        types::id_variant(wrpc, cx(), v)
    })
    .await;
    r.check("id-enum", &[Color::Red, Color::Green, Color::Blue], |v| {
        types::id_enum(wrpc, cx(), *v)
    })
    .await;
    r.check(
        "id-flags",
        &[
            Perms::empty(),
            Perms::READ,
            Perms::AUDIT,                              // last bit of byte 0
            Perms::SHARE,                              // first bit of byte 1
            Perms::OWNER,                              // last flag
            Perms::WRITE | Perms::LIST | Perms::OWNER, // both bytes
            Perms::all(),
        ],
        |v| types::id_flags(wrpc, cx(), v),
    )
    .await;
    r.check(
        "id-option-option",
        &[None, Some(None), Some(Some(0)), Some(Some(255))],
        |v| types::id_option_option(wrpc, cx(), *v),
    )
    .await;
    r.check(
        "id-result",
        &[
            Ok("fine ✓".to_string()),
            Ok(String::new()),
            Err(0),
            Err(u32::MAX),
        ],
        |v| types::id_result(wrpc, cx(), v),
    )
    .await;
    r.check("id-result-ok", &[Ok(0), Ok(200), Err(())], |v| {
        types::id_result_ok(wrpc, cx(), v)
    })
    .await;
    r.check(
        "id-result-err",
        &[Ok(()), Err("bad ✗".to_string()), Err(String::new())],
        |v| types::id_result_err(wrpc, cx(), v),
    )
    .await;
    r.check("id-result-unit", &[Ok(()), Err(())], |v| {
        types::id_result_unit(wrpc, cx(), v)
    })
    .await;
    let mut variants: Vec<Option<Shape>> = vec![None];
    variants.extend(shapes().into_iter().map(Some));
    variants.push(None);
    r.check("id-list-variant", &[vec![], vec![None], variants], |v| {
        types::id_list_variant(wrpc, cx(), v)
    })
    .await;
    r.check(
        "id-many",
        &[
            (0, String::new(), Bytes::new(), Color::Red),
            (
                42,
                "many ✓".to_string(),
                Bytes::from_static(&[0, 1, 255]),
                Color::Green,
            ),
            (255, "z".repeat(200), Bytes::from(vec![7; 300]), Color::Blue),
        ],
        |v| types::id_many(wrpc, cx(), v.0, &v.1, &v.2, v.3),
    )
    .await;

    if r.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
