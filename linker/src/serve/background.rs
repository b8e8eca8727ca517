//! A server on its own thread, for tests, benches and `weld bench`.

use super::{ServeError, ServeStats, Server};
use crate::wrpc::Endpoint;
use std::sync::mpsc;

/// A server running on its own thread, for tests, benches and `weld bench`:
/// stopped (gracefully) by [`Background::stop`] or on drop.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<ServeStats, ServeError>>>,
    bound: Endpoint,
}

impl Server {
    /// Starts serving on a new thread; returns once calls are accepted.
    ///
    /// # Errors
    /// [`ServeError`] when the endpoint cannot be bound or the server's thread
    /// cannot start.
    pub fn spawn(self) -> Result<Background, ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("weld-serve".into())
            .spawn(move || {
                self.run(
                    |b| {
                        let _ = ready.send(b.clone());
                    },
                    async {
                        let _ = stopped.await;
                    },
                )
            })
            .map_err(ServeError::Thread)?;
        match bound.recv() {
            Ok(bound) => Ok(Background {
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
}

impl Background {
    /// Where it listens (a TCP port 0 resolved).
    pub fn endpoint(&self) -> &Endpoint {
        &self.bound
    }

    /// Stops taking calls, lets in-flight ones finish, returns the counts.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] when the server's thread panicked.
    pub fn stop(mut self) -> Result<ServeStats, ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<ServeStats, ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(ServeStats::default()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
