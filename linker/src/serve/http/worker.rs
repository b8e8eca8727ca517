//! Worker threads: each takes one request at a time and calls its route's
//! handler in a fresh instance, on the thread, because calls into wasmtime
//! block.

use super::admit::RequestBody;
use crate::runtime::{Deployed, Runtime, RuntimeError};
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;
use wasmtime::component::Resource;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};
use wasmtime_wasi_http::WasiHttpView;

/// What the handler sets: its response, or an error code.
pub(super) type Answer = Result<hyper::Response<HyperOutgoingBody>, ErrorCode>;
/// How the handler's call ended.
pub(super) type Outcome = Result<(), RuntimeError>;

/// One request handed to a worker: which route's handler, where the
/// handler's answer goes, and where the call's outcome goes (read when
/// there is no answer).
pub(super) struct Job {
    pub(super) route: usize,
    pub(super) request: hyper::Request<RequestBody>,
    pub(super) answer: oneshot::Sender<Answer>,
    pub(super) outcome: oneshot::Sender<Outcome>,
    /// Held until the handler returns: a worker is busy until then, even
    /// after its response has gone.
    pub(super) permit: tokio::sync::OwnedSemaphorePermit,
}

/// A handler to call: its component and its `handle` function.
pub(super) struct Target {
    pub(super) component: String,
    pub(super) function: String,
}

/// A worker thread's loop over the shared queue.
pub(super) struct Worker {
    pub(super) runtime: Runtime,
    /// By route index.
    pub(super) targets: Arc<[Target]>,
    pub(super) queue: Arc<Mutex<mpsc::Receiver<Job>>>,
}

impl Worker {
    /// Takes jobs until the queue closes.
    pub(super) fn run(&self) {
        loop {
            let job = match self.queue.lock() {
                Ok(queue) => queue.recv(),
                Err(_) => return,
            };
            let Ok(job) = job else { return };
            let Job {
                route,
                request,
                answer,
                outcome,
                permit,
            } = job;
            let ended = self.call(&self.targets[route], request, answer);
            // Free before the outcome is told: a client answered from it
            // may come back at once.
            drop(permit);
            let _ = outcome.send(ended);
        }
    }

    /// Instantiates the handler and calls it with `request`; its answer
    /// goes to `answer` as soon as it sets one (the body streams while the
    /// handler runs on).
    fn call(
        &self,
        target: &Target,
        request: hyper::Request<RequestBody>,
        answer: oneshot::Sender<Answer>,
    ) -> Outcome {
        let mut deployed: Deployed = self.runtime.instantiate_for(&target.component)?;
        let (func, full) = deployed.func(&target.component, &target.function)?;
        let mut http = deployed.store().data_mut().http();
        let handed = http
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| Ok((req, http.new_response_outparam(answer)?)));
        let (req, out) = handed.map_err(|e| RuntimeError::Store(e.into()))?;
        deployed.invoke_typed::<(
            Resource<HostIncomingRequest>,
            Resource<HostResponseOutparam>,
        ), ()>(&target.component, &full, func, (req, out))
    }
}
