//! Worker threads: each takes one request at a time and calls its route's
//! handler in a fresh instance, on the thread, because calls into wasmtime
//! block.
//!
//! A WASI 0.2 handler is called with the request and a response outparam
//! it sets; a WASI 0.3 one (`wasi:http/handler.handle`, an async function)
//! returns its response, whose body the guest may go on writing after it
//! returned, so the store's event loop runs until the guest's last task
//! ends.

use super::admit::{RequestBody, Response};
use super::HttpPlan;
use crate::runtime::{Deployed, Runtime, RuntimeError};
use crate::wit::WasiRelease;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;
use wasmtime::component::{Accessor, Resource};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};
use wasmtime_wasi_http::p3::bindings::http::types as p3_types;
use wasmtime_wasi_http::{p3, WasiHttpView};

/// What the handler answers: its response, or the error code it gave
/// instead, in words.
pub(super) type Answer = Result<Response, String>;
/// How the handler's call ended.
pub(super) type Outcome = Result<(), RuntimeError>;

/// One request handed to a worker: which route's handler, where the
/// handler's answer goes, and where the call's outcome goes (read when
/// there is no answer).
pub(super) struct Job {
    /// The plan the request was routed by, held until the handler returns.
    pub(super) plan: Arc<HttpPlan>,
    pub(super) route: usize,
    pub(super) request: hyper::Request<RequestBody>,
    pub(super) answer: oneshot::Sender<Answer>,
    pub(super) outcome: oneshot::Sender<Outcome>,
    /// Held until the handler returns: a worker is busy until then, even
    /// after its response has gone.
    pub(super) permit: tokio::sync::OwnedSemaphorePermit,
    /// The context holding the request's span, when traced: current while
    /// the handler runs, so its calls across links are its children.
    pub(super) trace: Option<opentelemetry::Context>,
}

/// A handler to call: its component, its `handle` function and the WASI
/// release it is written for.
pub(super) struct Target {
    pub(super) component: String,
    pub(super) function: String,
    pub(super) release: WasiRelease,
    /// Where its requests are counted, when the server is observed.
    pub(super) cells: Option<Arc<crate::observe::CallCells>>,
}

/// A worker thread's loop over the shared queue.
pub(super) struct Worker {
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
                plan,
                route,
                request,
                answer,
                outcome,
                permit,
                trace,
            } = job;
            let ended = crate::observe::trace::within(trace, || {
                call(&plan.runtime, &plan.targets[route], request, answer)
            });
            // Free before the outcome is told: a client answered from it
            // may come back at once.
            drop(permit);
            let _ = outcome.send(ended);
        }
    }
}

/// Instantiates the handler and calls it with `request`; its answer goes
/// to `answer` as soon as it sets one (the body streams while the handler
/// runs on).
fn call(
    runtime: &Runtime,
    target: &Target,
    request: hyper::Request<RequestBody>,
    answer: oneshot::Sender<Answer>,
) -> Outcome {
    let mut deployed: Deployed = runtime.instantiate_for(&target.component)?;
    let (func, full) = deployed.func(&target.component, &target.function)?;
    let handle = Handle {
        deployed: &mut deployed,
        component: &target.component,
        full: &full,
        func,
    };
    match target.release {
        WasiRelease::P2 => handle.p2(request, answer),
        WasiRelease::P3 => handle.p3(request, answer),
    }
}

/// A handler's `handle` function in a fresh instance, ready to call.
struct Handle<'a> {
    deployed: &'a mut Deployed,
    component: &'a str,
    full: &'a str,
    func: wasmtime::component::Func,
}

impl Handle<'_> {
    /// `wasi:http/incoming-handler.handle(request, response-outparam)`.
    fn p2(self, request: hyper::Request<RequestBody>, answer: oneshot::Sender<Answer>) -> Outcome {
        let mut http = self.deployed.store().data_mut().http();
        let mut answer = Some(answer);
        let handed = http
            .new_incoming_request(Scheme::Http, request)
            .and_then(|req| {
                let out = http.new_response_outparam_from_callback(move |set| {
                    if let Some(answer) = answer.take() {
                        let _ = answer.send(set.map_err(|code| format!("{code:?}")));
                    }
                })?;
                Ok((req, out))
            });
        let (req, out) = handed.map_err(|e| RuntimeError::Store(e.into()))?;
        self.deployed.invoke_typed::<(
            Resource<HostIncomingRequest>,
            Resource<HostResponseOutparam>,
        ), ()>(self.component, self.full, self.func, (req, out))
    }

    /// `wasi:http/handler.handle(request) -> result<response, error-code>`,
    /// called concurrently; the store's event loop runs on until the guest has
    /// no task left (a body it writes after returning).
    fn p3(self, request: hyper::Request<RequestBody>, answer: oneshot::Sender<Answer>) -> Outcome {
        type Params = (Resource<p3::Request>,);
        type Results = (Result<Resource<p3::Response>, p3_types::ErrorCode>,);
        let typed = self
            .deployed
            .typed::<Params, Results>(self.component, self.full, self.func)?;
        self.deployed
            .guarded(self.component, self.full, move |store| {
                let (request, request_io) = {
                    let http = store.data_mut().http();
                    p3::Request::from_http(http.hooks, request)
                };
                let request = store.data_mut().http().table.push(request)?;
                crate::runtime::drive(store.run_concurrent(async move |accessor: &Accessor<_>| {
                    let (result,) = typed.call_concurrent(accessor, (request,)).await?;
                    let response = match result {
                        Ok(response) => accessor.with(|mut store| {
                            let response = store.get().http().table.delete(response)?;
                            response.into_http(&mut store, request_io)
                        })?,
                        Err(code) => {
                            let _ = answer.send(Err(format!("{code:?}")));
                            return Ok(());
                        }
                    };
                    let _ = answer.send(Ok(response));
                    std::future::poll_fn(|cx| accessor.poll_no_interesting_tasks(cx)).await;
                    Ok(())
                }))?
            })
    }
}
