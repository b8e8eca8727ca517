//! The serving side of QUIC: connections accepted under mutual TLS, each
//! named by its certificate's identity, and every bidirectional stream of
//! them handed to the framed serving path as one call (wrpc-transport-quic's
//! wire: a stream is an invocation, framed as over TCP).
//!
//! Bounded as TCP is: at most [`MAX_CONNECTIONS`] connections at once
//! (more are refused during their handshake), a handshake within the read
//! timeout, at most `tls::MAX_STREAMS_PER_CONNECTION` calls open per
//! connection (QUIC's flow control makes the peer wait), and calls taken
//! only as the server's call slots allow: a connection whose streams are
//! not taken stops accepting more.

use super::fair::PeerKey;
use super::listen::{
    bind_error, boxed_read, boxed_write, serve_framed, Connection, Dispatch, Peer,
};
use super::report::{Cause, FailedCall, Reporter};
use super::{Reload, ServeError};
use crate::wrpc::{tls, Endpoint};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex, Semaphore};

/// The host's identity as the server uses it: the configuration made from
/// its files, the files (watched), and the signal to read them again.
pub(super) struct Identity {
    pub config: quinn::ServerConfig,
    pub files: tls::IdentityFiles,
    /// The files as they were before `config` was read from them.
    pub seen: tls::Fingerprint,
    pub reload: Reload,
}

/// The QUIC server configuration of the identity in `files`.
///
/// # Errors
/// [`tls::TlsError`] naming the file that cannot be read or used.
pub(super) fn load(files: &tls::IdentityFiles) -> Result<quinn::ServerConfig, tls::TlsError> {
    tls::Identity::load(files)?.server_config()
}

/// How often the identity's files are looked at for a change.
pub const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Reads the identity again when its files change or a reload is asked
/// for, and gives new connections the new one; open connections keep
/// theirs. A failed reload keeps the identity in use.
async fn watch(
    endpoint: quinn::Endpoint,
    files: tls::IdentityFiles,
    mut seen: tls::Fingerprint,
    reload: Reload,
) {
    loop {
        tokio::select! {
            () = reload.requested() => {}
            () = tokio::time::sleep(RELOAD_POLL) => {
                if files.fingerprint() == seen {
                    continue;
                }
            }
        }
        let files = files.clone();
        // Reading files blocks: off the I/O thread. What they were is taken
        // before they are read, so a change during the read is seen next.
        let read = tokio::task::spawn_blocking(move || {
            let before = files.fingerprint();
            (before, load(&files))
        });
        match read.await {
            Ok((before, Ok(config))) => {
                seen = before;
                endpoint.set_server_config(Some(config));
                tracing::info!("reloaded the host's TLS identity: new connections use it");
            }
            Ok((before, Err(e))) => {
                seen = before;
                tracing::warn!(
                    "kept the TLS identity in use: the new one cannot be used: {}",
                    crate::diagnostic::chain(&e)
                );
            }
            Err(_) => tracing::warn!("kept the TLS identity in use: its reload panicked"),
        }
    }
}

/// Binds `address` (and `server_name`, kept for the bound endpoint) with
/// the host's `identity`, and serves the calls of its connections until
/// `shutdown`; the socket is released before it returns. The identity is
/// read again when its files change or when asked.
///
/// # Errors
/// [`ServeError::Bind`] when the address does not resolve or cannot be
/// bound; the serving path's errors after that.
pub(super) async fn serve(
    (address, server_name): (&str, Option<&str>),
    identity: Identity,
    dispatch: Dispatch,
    on_ready: impl FnOnce(&Endpoint),
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> Result<(), ServeError> {
    let declared = Endpoint::Quic {
        address: address.to_string(),
        server_name: server_name.map(str::to_string),
    };
    let bind_err = bind_error(&declared);
    let socket = tokio::net::lookup_host(address)
        .await
        .map_err(|e| bind_err(e.into()))?
        .next()
        .ok_or_else(|| bind_err(format!("`{address}` resolves to no address").into()))?;
    let quic = quinn::Endpoint::server(identity.config, socket).map_err(|e| bind_err(e.into()))?;
    let bound = Endpoint::Quic {
        address: quic
            .local_addr()
            .map_err(|e| bind_err(e.into()))?
            .to_string(),
        server_name: server_name.map(str::to_string),
    };
    let (taken, acceptor) = accept(
        quic.clone(),
        dispatch.read_timeout,
        Arc::clone(&dispatch.report),
    );
    let next_call = move || {
        let taken = Arc::clone(&taken);
        async move { next(&taken).await }
    };
    let watcher = tokio::spawn(watch(
        quic.clone(),
        identity.files,
        identity.seen,
        identity.reload,
    ));
    let r = serve_framed(next_call, &bound, dispatch, on_ready, shutdown, grace).await;
    watcher.abort();
    quic.close(0u32.into(), b"the server stopped");
    acceptor.abort();
    // The socket is released once the closed connections have drained (a
    // few round trips), so a server started next on the same address can
    // bind it; bounded, as all of shutdown.
    let _ = tokio::time::timeout(Duration::from_secs(2), quic.wait_idle()).await;
    r
}

/// Most QUIC connections a server holds at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Streams accepted and waiting for a call slot, across connections.
const WAITING_STREAMS: usize = 64;

/// Accepts connections on `endpoint` until it closes; returns the calls'
/// streams as they come, for the framed accept loop.
fn accept(
    endpoint: quinn::Endpoint,
    handshake_timeout: Duration,
    report: Arc<Reporter>,
) -> (
    Arc<Mutex<mpsc::Receiver<Connection>>>,
    tokio::task::JoinHandle<()>,
) {
    let (streams, taken) = mpsc::channel(WAITING_STREAMS);
    let acceptor = tokio::spawn(connections(endpoint, streams, handshake_timeout, report));
    (Arc::new(Mutex::new(taken)), acceptor)
}

/// The next call's streams.
///
/// # Errors
/// The endpoint closed.
async fn next(taken: &Mutex<mpsc::Receiver<Connection>>) -> std::io::Result<Connection> {
    taken
        .lock()
        .await
        .recv()
        .await
        .ok_or_else(|| std::io::Error::other("the QUIC endpoint closed"))
}

/// Accepts connections until the endpoint closes. A connection refused
/// (past [`MAX_CONNECTIONS`], or in a handshake that fails or is too slow:
/// a certificate of another CA, none, an expired one) is counted as a
/// refused connection and logged with the reason.
async fn connections(
    endpoint: quinn::Endpoint,
    streams: mpsc::Sender<Connection>,
    handshake_timeout: Duration,
    report: Arc<Reporter>,
) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some(incoming) = endpoint.accept().await {
        let address = incoming.remote_address();
        let refuse = move |report: &Reporter, message: String| {
            report.failed(FailedCall {
                function: None,
                component: None,
                peer: address.to_string(),
                cause: Cause::Refused,
                message,
            });
        };
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            refuse(
                &report,
                format!("refused a QUIC connection from {address}: {MAX_CONNECTIONS} are open"),
            );
            incoming.refuse();
            continue;
        };
        let (streams, report) = (streams.clone(), Arc::clone(&report));
        tokio::spawn(async move {
            let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    return refuse(
                        &report,
                        format!(
                            "refused a QUIC connection from {address}: the handshake failed: {e}"
                        ),
                    );
                }
                Err(_) => {
                    return refuse(
                        &report,
                        format!(
                            "refused a QUIC connection from {address}: its handshake did not end within {} ms",
                            handshake_timeout.as_millis()
                        ),
                    );
                }
            };
            let identity: Option<Arc<str>> = tls::peer_identity(&conn).map(Arc::from);
            let name: Arc<str> = Arc::from(format!(
                "{} at {address}",
                identity.as_deref().unwrap_or("an unnamed peer")
            ));
            // Callers take turns by the identity their certificate proves
            // (one caller's connections share a turn, wherever they come
            // from), else by address.
            let key = identity
                .as_deref()
                .map_or(PeerKey::Ip(address.ip()), PeerKey::identity);
            while let Ok((send, recv)) = conn.accept_bi().await {
                let peer = Peer::new(Arc::clone(&name), key).with_identity(identity.clone());
                if streams
                    .send((peer, boxed_write(send), boxed_read(recv)))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            drop(slot);
        });
    }
}
