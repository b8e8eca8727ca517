//! A server on its own thread, for tests, benches and `weld bench`.

use super::{HttpServer, HttpStats, ServeError, ServeStats, Server};
use crate::wrpc::Endpoint;
use std::net::SocketAddr;
use std::sync::mpsc;

/// A server running on its own thread, bound to `B`, that ends with stats
/// `S`: stopped (gracefully) by [`Spawned::stop`] or on drop.
pub struct Spawned<B, S: Default> {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<S, ServeError>>>,
    bound: B,
}

/// A wRPC server on its own thread ([`Server::spawn`]).
pub type Background = Spawned<Endpoint, ServeStats>;

/// An HTTP server on its own thread ([`HttpServer::spawn`]).
pub type HttpBackground = Spawned<SocketAddr, HttpStats>;

/// Runs `run` on a thread named `name`, handing it where to say what it
/// bound and the future that completes at shutdown; returns once it said.
fn spawn<B: Send + 'static, S: Default + Send + 'static>(
    name: &str,
    run: impl FnOnce(mpsc::Sender<B>, tokio::sync::oneshot::Receiver<()>) -> Result<S, ServeError>
        + Send
        + 'static,
) -> Result<Spawned<B, S>, ServeError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready, bound) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(ready, stopped))
        .map_err(ServeError::Thread)?;
    match bound.recv() {
        Ok(bound) => Ok(Spawned {
            stop: Some(stop),
            thread: Some(thread),
            bound,
        }),
        // The thread ended before it was ready: its error says why.
        Err(_) => Err(thread
            .join()
            .map_err(|_| ServeError::Panicked)?
            .err()
            .unwrap_or(ServeError::NotReady)),
    }
}

impl Server {
    /// Starts serving on a new thread; returns once calls are accepted.
    ///
    /// # Errors
    /// [`ServeError`] when the endpoint cannot be bound or the server's thread
    /// cannot start.
    pub fn spawn(self) -> Result<Background, ServeError> {
        spawn("weld-serve", move |ready, stopped| {
            self.run(
                |b| {
                    let _ = ready.send(b.clone());
                },
                async {
                    let _ = stopped.await;
                },
            )
        })
    }
}

impl HttpServer {
    /// Starts serving on a new thread; returns once requests are accepted.
    ///
    /// # Errors
    /// [`ServeError`] when the address cannot be bound or the server's
    /// thread cannot start.
    pub fn spawn(self) -> Result<HttpBackground, ServeError> {
        spawn("weld-serve-http", move |ready, stopped| {
            self.run(
                |b| {
                    let _ = ready.send(b);
                },
                async {
                    let _ = stopped.await;
                },
            )
        })
    }
}

impl Background {
    /// Where it listens (a TCP port 0 resolved).
    pub fn endpoint(&self) -> &Endpoint {
        &self.bound
    }
}

impl HttpBackground {
    /// Where it listens (a port 0 resolved).
    pub fn address(&self) -> SocketAddr {
        self.bound
    }
}

impl<B, S: Default> Spawned<B, S> {
    /// Stops taking calls, lets in-flight ones finish, returns the counts.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] when the server's thread panicked.
    pub fn stop(mut self) -> Result<S, ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<S, ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(S::default()),
        }
    }
}

impl<B, S: Default> Drop for Spawned<B, S> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
