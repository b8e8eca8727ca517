//! A host's wRPC server and its HTTP ingress in one process: one shutdown
//! for both, and neither left running when the other cannot start.

use super::{HttpServer, HttpStats, ServeError, ServeStats, Server};
use crate::wrpc::client::io_runtime;
use crate::wrpc::Endpoint;
use std::future::Future;
use std::net::SocketAddr;

/// How each server of [`run_together`] ended.
#[derive(Debug)]
pub struct Together {
    /// The wRPC server's counts, or why it stopped.
    pub wrpc: Result<ServeStats, ServeError>,
    /// The HTTP server's counts, or why it stopped.
    pub http: Result<HttpStats, ServeError>,
}

/// Runs `wrpc` and `http` side by side until `shutdown` completes, or
/// until either of them stops on its own (an address that cannot be
/// bound stops the other too, so a host never runs half of what it was
/// told). Each drains its in-flight work within its own grace period.
/// The callbacks receive what each bound, from the server's thread.
pub fn run_together(
    wrpc: &Server,
    on_wrpc_ready: impl FnOnce(&Endpoint) + Send,
    http: &HttpServer,
    on_http_ready: impl FnOnce(SocketAddr) + Send,
    shutdown: impl Future<Output = ()> + Send,
) -> Together {
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    std::thread::scope(|scope| {
        let stop = &stop;
        let http_side = scope.spawn({
            let rx = stopping.clone();
            move || {
                let r = http.run(on_http_ready, stopped(rx));
                let _ = stop.send(true);
                r
            }
        });
        scope.spawn({
            let rx = stopping.clone();
            move || {
                io_runtime().block_on(async {
                    tokio::select! {
                        () = shutdown => {}
                        () = stopped(rx) => {}
                    }
                });
                let _ = stop.send(true);
            }
        });
        let wrpc = wrpc.run(on_wrpc_ready, stopped(stopping));
        let _ = stop.send(true);
        Together {
            wrpc,
            http: http_side.join().unwrap_or(Err(ServeError::Panicked)),
        }
    })
}
