//! `wrpc-peer serve`: native implementations of the demo interfaces, served
//! over TCP, a Unix socket or NATS.

use std::io::Write as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use futures::stream::select_all;
use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use wit_bindgen_wrpc::bytes::Bytes;
use wrpc::transport::frame::Oneshot;

use crate::bindings;
use crate::bindings::exports::demo::greet::greeter;
use crate::bindings::exports::demo::math::adder;
use crate::bindings::exports::demo::types::all::{
    self as types, Color, Nested, Perms, Point, Shape,
};
use crate::Target;

/// The framed-transport server: the per-connection context is dropped
/// (`Oneshot` has none) because no handler needs the caller's address.
type FrameServer<I, O> = wrpc::transport::Server<(), I, O>;

/// Implements every served function; cheap to clone (one per invocation).
#[derive(Clone, Default)]
struct Peer {
    /// `hello` calls served so far, returned by `count`.
    hellos: Arc<AtomicU64>,
}

impl<C: Send> types::Handler<C> for Peer {
    async fn id_bool(&self, _: C, v: bool) -> anyhow::Result<bool> {
        Ok(v)
    }
    async fn id_u8(&self, _: C, v: u8) -> anyhow::Result<u8> {
        Ok(v)
    }
    async fn id_u16(&self, _: C, v: u16) -> anyhow::Result<u16> {
        Ok(v)
    }
    async fn id_u32(&self, _: C, v: u32) -> anyhow::Result<u32> {
        Ok(v)
    }
    async fn id_u64(&self, _: C, v: u64) -> anyhow::Result<u64> {
        Ok(v)
    }
    async fn id_s8(&self, _: C, v: i8) -> anyhow::Result<i8> {
        Ok(v)
    }
    async fn id_s16(&self, _: C, v: i16) -> anyhow::Result<i16> {
        Ok(v)
    }
    async fn id_s32(&self, _: C, v: i32) -> anyhow::Result<i32> {
        Ok(v)
    }
    async fn id_s64(&self, _: C, v: i64) -> anyhow::Result<i64> {
        Ok(v)
    }
    async fn id_f32(&self, _: C, v: f32) -> anyhow::Result<f32> {
        Ok(v)
    }
    async fn id_f64(&self, _: C, v: f64) -> anyhow::Result<f64> {
        Ok(v)
    }
    async fn id_char(&self, _: C, v: char) -> anyhow::Result<char> {
        Ok(v)
    }
    async fn id_string(&self, _: C, v: String) -> anyhow::Result<String> {
        Ok(v)
    }
    async fn id_list_u32(&self, _: C, v: Vec<u32>) -> anyhow::Result<Vec<u32>> {
        Ok(v)
    }
    async fn id_list_list_string(
        &self,
        _: C,
        v: Vec<Vec<String>>,
    ) -> anyhow::Result<Vec<Vec<String>>> {
        Ok(v)
    }
    async fn id_list_point(&self, _: C, v: Vec<Point>) -> anyhow::Result<Vec<Point>> {
        Ok(v)
    }
    async fn id_record(&self, _: C, v: Nested) -> anyhow::Result<Nested> {
        Ok(v)
    }
    async fn id_tuple(
        &self,
        _: C,
        v: (u8, String, Option<u64>),
    ) -> anyhow::Result<(u8, String, Option<u64>)> {
        Ok(v)
    }
    async fn id_variant(&self, _: C, v: Shape) -> anyhow::Result<Shape> {
        Ok(v)
    }
    async fn id_enum(&self, _: C, v: Color) -> anyhow::Result<Color> {
        Ok(v)
    }
    async fn id_flags(&self, _: C, v: Perms) -> anyhow::Result<Perms> {
        Ok(v)
    }
    async fn id_option_option(
        &self,
        _: C,
        v: Option<Option<u8>>,
    ) -> anyhow::Result<Option<Option<u8>>> {
        Ok(v)
    }
    async fn id_result(&self, _: C, v: Result<String, u32>) -> anyhow::Result<Result<String, u32>> {
        Ok(v)
    }
    async fn id_result_ok(&self, _: C, v: Result<u8, ()>) -> anyhow::Result<Result<u8, ()>> {
        Ok(v)
    }
    async fn id_result_err(
        &self,
        _: C,
        v: Result<(), String>,
    ) -> anyhow::Result<Result<(), String>> {
        Ok(v)
    }
    async fn id_result_unit(&self, _: C, v: Result<(), ()>) -> anyhow::Result<Result<(), ()>> {
        Ok(v)
    }
    async fn id_list_variant(
        &self,
        _: C,
        v: Vec<Option<Shape>>,
    ) -> anyhow::Result<Vec<Option<Shape>>> {
        Ok(v)
    }
    async fn id_many(
        &self,
        _: C,
        a: u8,
        b: String,
        c: Bytes,
        d: Color,
    ) -> anyhow::Result<(u8, String, Bytes, Color)> {
        Ok((a, b, c, d))
    }
}

impl<C: Send> adder::Handler<C> for Peer {
    async fn add(&self, _: C, a: u32, b: u32) -> anyhow::Result<u32> {
        Ok(a.wrapping_add(b))
    }
    async fn echo(&self, _: C, s: String) -> anyhow::Result<String> {
        Ok(s)
    }
    async fn sum(&self, _: C, xs: Bytes) -> anyhow::Result<u64> {
        Ok(xs.iter().map(|&x| u64::from(x)).sum())
    }
}

impl<C: Send> greeter::Handler<C> for Peer {
    async fn hello(&self, _: C, name: String) -> anyhow::Result<String> {
        self.hellos.fetch_add(1, Ordering::Relaxed);
        Ok(format!("hello, {name}"))
    }
    async fn count(&self, _: C) -> anyhow::Result<u64> {
        Ok(self.hellos.load(Ordering::Relaxed))
    }
}

/// Serves on `target` until SIGINT/SIGTERM.
pub async fn run(target: Target) -> anyhow::Result<ExitCode> {
    let peer = Peer::default();
    match target {
        Target::Tcp(addr) => {
            let lis = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("failed to listen on TCP address `{addr}`"))?;
            let srv = Arc::new(FrameServer::default());
            let invocations = bindings::serve(srv.as_ref(), peer)
                .await
                .context("failed to register the served functions")?;
            let accept = tokio::spawn(async move {
                loop {
                    match lis.accept().await {
                        Ok((stream, _)) => {
                            let (rx, tx) = stream.into_split();
                            accept_connection(&srv, rx, tx);
                        }
                        Err(err) => accept_failed(err).await,
                    }
                }
            });
            let result = serve_until_shutdown(invocations).await;
            accept.abort();
            result
        }
        Target::Unix(path) => {
            remove_stale_socket(&path)?;
            let lis = UnixListener::bind(&path)
                .with_context(|| format!("failed to listen on Unix socket `{}`", path.display()))?;
            let srv = Arc::new(FrameServer::default());
            let invocations = bindings::serve(srv.as_ref(), peer)
                .await
                .context("failed to register the served functions")?;
            let accept = tokio::spawn(async move {
                loop {
                    match lis.accept().await {
                        Ok((stream, _)) => {
                            let (rx, tx) = stream.into_split();
                            accept_connection(&srv, rx, tx);
                        }
                        Err(err) => accept_failed(err).await,
                    }
                }
            });
            let result = serve_until_shutdown(invocations).await;
            accept.abort();
            // Best effort: a leftover socket file would only be replaced by
            // the next `serve` anyway.
            let _ = std::fs::remove_file(&path);
            result
        }
        Target::Quic { addr, tls } => {
            let endpoint = crate::quic::server(&addr, &tls)?;
            let srv = Arc::new(wrpc::transport::quic::Server::new());
            let invocations = bindings::serve(srv.as_ref(), peer)
                .await
                .context("failed to register the served functions")?;
            let accept = tokio::spawn(async move {
                while let Some(incoming) = endpoint.accept().await {
                    let srv = Arc::clone(&srv);
                    tokio::spawn(async move {
                        let conn = match incoming.await {
                            Ok(conn) => conn,
                            Err(err) => {
                                eprintln!("wrpc-peer: a QUIC handshake failed: {err}");
                                return;
                            }
                        };
                        // Every stream of the connection is one invocation.
                        let client = wrpc::transport::quic::Client::from(conn);
                        while srv.accept(&client).await.is_ok() {}
                    });
                }
            });
            let result = serve_until_shutdown(invocations).await;
            accept.abort();
            result
        }
        Target::Nats { url, prefix } => {
            let (client, nats) = crate::connect_nats(&url, &prefix).await?;
            let invocations = bindings::serve(&client, peer)
                .await
                .context("failed to subscribe the served functions on NATS")?;
            // `serve` subscribes and flushes, which only writes the socket:
            // `ready` waits until the broker has the subscriptions.
            crate::settle(&nats).await?;
            serve_until_shutdown(invocations).await
        }
    }
}

/// Reads the connection's header in its own task, so one slow or silent
/// client cannot hold up the accept loop.
fn accept_connection<I, O>(srv: &Arc<FrameServer<I, O>>, rx: I, tx: O)
where
    I: AsyncRead + Send + Sync + Unpin + 'static,
    O: AsyncWrite + Send + Sync + Unpin + 'static,
{
    let srv = Arc::clone(srv);
    tokio::spawn(async move {
        if let Err(err) = srv.accept(Oneshot::from((rx, tx))).await {
            eprintln!("wrpc-peer: failed to accept a connection: {err}");
        }
    });
}

/// Logs and backs off briefly, so a persistent error (e.g. out of file
/// descriptors) does not spin the CPU.
async fn accept_failed(err: std::io::Error) {
    eprintln!("wrpc-peer: failed to accept a connection: {err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// `bind` fails on an existing path; a socket left behind by a killed peer
/// is safe to replace, anything else is not ours to delete.
fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .with_context(|| format!("failed to remove stale socket `{}`", path.display())),
        Ok(_) => bail!(
            "`{}` exists and is not a socket; refusing to replace it",
            path.display()
        ),
        Err(_) => Ok(()),
    }
}

/// One stream of accepted invocations per served function.
type Invocations = Vec<(
    &'static str,
    &'static str,
    std::pin::Pin<
        Box<
            dyn Stream<
                    Item = anyhow::Result<
                        std::pin::Pin<
                            Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>,
                        >,
                    >,
                > + Send,
        >,
    >,
)>;

/// Announces `ready`, then runs every invocation in its own task (so calls
/// are served concurrently) until SIGINT or SIGTERM.
async fn serve_until_shutdown(invocations: Invocations) -> anyhow::Result<ExitCode> {
    let mut invocations = select_all(
        invocations
            .into_iter()
            .map(|(instance, name, stream)| stream.map(move |res| (instance, name, res))),
    );
    let mut sigterm = signal(SignalKind::terminate()).context("failed to handle SIGTERM")?;
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready")
        .and_then(|()| stdout.flush())
        .context("failed to write `ready` to stdout")?;
    drop(stdout);

    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            next = invocations.next() => match next {
                Some((instance, name, Ok(invocation))) => {
                    tasks.spawn(async move {
                        if let Err(err) = invocation.await {
                            eprintln!("wrpc-peer: serving `{instance}.{name}` failed: {err:#}");
                        }
                    });
                }
                Some((instance, name, Err(err))) => {
                    eprintln!("wrpc-peer: failed to accept an invocation of `{instance}.{name}`: {err:#}");
                }
                None => bail!("every invocation stream ended (transport closed)"),
            },
            Some(joined) = tasks.join_next() => {
                if let Err(err) = joined {
                    eprintln!("wrpc-peer: an invocation task failed: {err}");
                }
            }
            res = &mut ctrl_c => {
                res.context("failed to wait for Ctrl-C")?;
                break;
            }
            _ = sigterm.recv() => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}
