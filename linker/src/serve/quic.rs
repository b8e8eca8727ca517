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
use super::ServeError;
use crate::wrpc::{tls, Endpoint};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Mutex, Semaphore};

/// Binds `address` (and `server_name`, kept for the bound endpoint) with
/// the host's `config`, and serves the calls of its connections until
/// `shutdown`; the socket is released before it returns.
///
/// # Errors
/// [`ServeError::Bind`] when the address does not resolve or cannot be
/// bound; the serving path's errors after that.
pub(super) async fn serve(
    (address, server_name): (&str, Option<&str>),
    config: quinn::ServerConfig,
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
    let quic = quinn::Endpoint::server(config, socket).map_err(|e| bind_err(e.into()))?;
    let bound = Endpoint::Quic {
        address: quic
            .local_addr()
            .map_err(|e| bind_err(e.into()))?
            .to_string(),
        server_name: server_name.map(str::to_string),
    };
    let (taken, acceptor) = accept(quic.clone(), dispatch.read_timeout);
    let next_call = move || {
        let taken = Arc::clone(&taken);
        async move { next(&taken).await }
    };
    let r = serve_framed(next_call, &bound, dispatch, on_ready, shutdown, grace).await;
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
) -> (
    Arc<Mutex<mpsc::Receiver<Connection>>>,
    tokio::task::JoinHandle<()>,
) {
    let (streams, taken) = mpsc::channel(WAITING_STREAMS);
    let acceptor = tokio::spawn(connections(endpoint, streams, handshake_timeout));
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

async fn connections(
    endpoint: quinn::Endpoint,
    streams: mpsc::Sender<Connection>,
    handshake_timeout: Duration,
) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some(incoming) = endpoint.accept().await {
        let Ok(slot) = Arc::clone(&open).try_acquire_owned() else {
            tracing::warn!(
                peer = %incoming.remote_address(),
                "refused a QUIC connection: {MAX_CONNECTIONS} are open"
            );
            incoming.refuse();
            continue;
        };
        let streams = streams.clone();
        tokio::spawn(async move {
            let address = incoming.remote_address();
            let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    tracing::warn!(peer = %address, "a QUIC handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::warn!(
                        peer = %address,
                        "a QUIC handshake did not end within {} ms",
                        handshake_timeout.as_millis()
                    );
                    return;
                }
            };
            let who = tls::peer_identity(&conn).unwrap_or_else(|| "an unnamed peer".into());
            let name: Arc<str> = Arc::from(format!("{who} at {address}"));
            while let Ok((send, recv)) = conn.accept_bi().await {
                let peer = Peer::new(Arc::clone(&name), PeerKey::Ip(address.ip()));
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
