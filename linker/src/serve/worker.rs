//! Guest workers: calls into wasmtime block, so guests run on their own
//! threads — one owning the `shared` store, a pool making a store per call.

use super::report::Cause;
use super::typed_exports::{failure, Params};
use super::Served;
use crate::runtime::host::WrpcError;
use crate::runtime::{Deployed, Runtime};
use crate::wrpc::client::io_runtime;
use crate::wrpc::codec;
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Mutex};
use wasmtime::component::{Func, Val};

/// A call handed to a worker.
pub(super) struct Job {
    /// Which served function.
    pub index: usize,
    /// Its decoded parameters.
    pub args: Args,
    /// What to do with the outcome: the worker replies itself.
    pub answer: Answer,
    /// When its parameters had arrived: its deadline counts from then.
    pub arrived: std::time::Instant,
    /// The deadline of a call into its component.
    pub deadline: std::time::Duration,
    /// The context holding the call's span, when traces are on: current
    /// while the guest runs.
    pub trace: Option<opentelemetry::Context>,
}

impl Job {
    /// Ends the job as `deadline` when its deadline passed while it
    /// waited for a worker: a call nobody waits for any more is not run.
    /// Returns the job when it may run.
    fn unexpired(self) -> Option<Job> {
        let waited = self.arrived.elapsed();
        if waited < self.deadline {
            return Some(self);
        }
        let message = format!(
            "waited {} ms for a worker, its whole {} ms deadline; not run",
            waited.as_millis(),
            self.deadline.as_millis()
        );
        self.answer.send(Err((Cause::Deadline, message)));
        None
    }
}

/// Decoded parameters: `Val`s, or Rust values of the function's shape.
pub(super) enum Args {
    /// The dynamic path.
    Vals(Vec<Val>),
    /// The typed fast path.
    Typed(Params),
}

/// The encoded wire results of a call, or why there are none.
pub(super) type Outcome = Result<Vec<u8>, (Cause, String)>;

/// The rest of a call once the guest has run: reply, close, report, and
/// give back what the call held (its permits, its share of the budget).
type Finish = Box<dyn FnOnce(Outcome) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// How a worker ends a call. The worker writes the reply itself, as far as
/// the socket takes it without waiting, so a call crosses threads once (I/O
/// thread to worker), not twice; only a reply the socket cannot take at once
/// goes back to the I/O runtime. Dropped unused (a worker gone, a queue
/// closed at shutdown), it ends the call as `stopping`.
pub(super) struct Answer(Option<Finish>);

impl Answer {
    /// An answer running `finish`.
    pub fn new(
        finish: impl FnOnce(Outcome) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static,
    ) -> Answer {
        Answer(Some(Box::new(finish)))
    }

    /// Ends the call with `outcome`.
    pub fn send(mut self, outcome: Outcome) {
        if let Some(finish) = self.0.take() {
            drive(finish(outcome));
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(finish) = self.0.take() {
            drive(finish(Err((
                Cause::Stopping,
                "the server is stopping".to_string(),
            ))));
        }
    }
}

/// Polls `fut` once on this thread, inside the I/O runtime's context (its
/// timers and spawns work), and hands it to the I/O runtime if it must
/// wait. A future polled once with a no-op waker and then spawned is polled
/// again by its task, which registers the real waker: nothing is lost.
fn drive(mut fut: Pin<Box<dyn Future<Output = ()> + Send>>) {
    let io = io_runtime();
    let _context = io.enter();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if fut.as_mut().poll(&mut cx).is_pending() {
        io.spawn(fut);
    }
}

fn trap(e: impl std::fmt::Display) -> (Cause, String) {
    (Cause::Trap, e.to_string())
}

/// Runs jobs of the `shared` components `group` in one store (holding
/// what calling them needs), re-instantiating it if a trap poisons it.
pub(super) fn shared(
    runtime: &Runtime,
    served: &[Served],
    group: &[String],
    rx: mpsc::Receiver<Job>,
) {
    let group: Vec<&str> = group.iter().map(String::as_str).collect();
    let mut deployed: Option<Deployed> = None;
    let mut funcs: Vec<Option<Func>> = vec![None; served.len()];
    while let Ok(job) = rx.recv() {
        let Some(job) = job.unexpired() else {
            continue;
        };
        if deployed.is_none() {
            match runtime.instantiate_for_all(&group) {
                Ok(d) => {
                    deployed = Some(d);
                    funcs.iter_mut().for_each(|f| *f = None);
                }
                Err(e) => {
                    job.answer
                        .send(Err(trap(format!("cannot instantiate: {e}"))));
                    continue;
                }
            }
        }
        let d = deployed.as_mut().expect("instantiated above");
        let result = crate::observe::trace::within(job.trace, || {
            execute(d, &served[job.index], &mut funcs[job.index], job.args)
        });
        if let (Err(e), true) = (&result, d.is_poisoned()) {
            tracing::warn!(
                component = %served[job.index].component,
                "the shared instance is replaced and its state was lost: {}",
                e.1
            );
            deployed = None;
        }
        job.answer.send(result);
    }
}

/// Hands `per-call` jobs to the worker that went idle last (its caches and
/// ready stores are the warmest), straight to that worker's own channel: a
/// job wakes one thread, not a convoy of workers queued on a shared
/// receiver. Jobs wait in a backlog while every worker is busy.
#[derive(Default)]
pub(super) struct PerCallQueue {
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    /// One single-use channel per idle worker, the last to go idle last.
    idle: Vec<mpsc::SyncSender<Job>>,
    backlog: std::collections::VecDeque<Job>,
    closed: bool,
}

impl PerCallQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`; a closed queue drops it (its answer ends the call as
    /// `stopping`).
    pub fn submit(&self, mut job: Job) {
        let mut s = self.lock();
        if s.closed {
            drop(s);
            drop(job);
            return;
        }
        while let Some(worker) = s.idle.pop() {
            match worker.try_send(job) {
                Ok(()) => return,
                // A worker gone (it panicked): try the next.
                Err(mpsc::TrySendError::Disconnected(j) | mpsc::TrySendError::Full(j)) => job = j,
            }
        }
        s.backlog.push_back(job);
    }

    /// A worker's next job, waiting while there is none; `None` once the
    /// queue is closed.
    fn next(&self) -> Option<Job> {
        let rx = {
            let mut s = self.lock();
            if let Some(job) = s.backlog.pop_front() {
                return Some(job);
            }
            if s.closed {
                return None;
            }
            let (tx, rx) = mpsc::sync_channel(1);
            s.idle.push(tx);
            rx
        };
        rx.recv().ok()
    }

    /// Stops the workers once they are done with their job: idle ones at
    /// once. Jobs still waiting are dropped, and end as `stopping`.
    pub fn close(&self) {
        let (idle, backlog) = {
            let mut s = self.lock();
            s.closed = true;
            (std::mem::take(&mut s.idle), std::mem::take(&mut s.backlog))
        };
        drop(idle);
        drop(backlog);
    }
}

/// Runs jobs of `per-call` components, each in a fresh store holding only
/// what the call needs ([`Runtime::instantiate_for`]). The store for a
/// component's next call is made right after answering, while the caller
/// reads its reply: a call finds its store ready instead of waiting for
/// instantiation, and the used store is dropped after the reply is out.
pub(super) fn pool(runtime: &Runtime, served: &[Served], queue: &PerCallQueue) {
    // One ready store per per-call component, by served index of the
    // component's first function.
    let mut ready: Vec<Option<Deployed>> = (0..served.len()).map(|_| None).collect();
    let first = |component: &str| {
        served
            .iter()
            .position(|s| s.component == component)
            .expect("a served component")
    };
    while let Some(job) = queue.next() {
        let Some(job) = job.unexpired() else {
            continue;
        };
        let component = &served[job.index].component;
        let slot = first(component);
        let made = match ready[slot].take() {
            Some(d) => Ok(d),
            None => runtime.instantiate_for(component),
        };
        let used = match made {
            Ok(mut d) => {
                let result = crate::observe::trace::within(job.trace, || {
                    execute(&mut d, &served[job.index], &mut None, job.args)
                });
                job.answer.send(result);
                Some(d)
            }
            Err(e) => {
                job.answer
                    .send(Err(trap(format!("cannot instantiate: {e}"))));
                None
            }
        };
        drop(used);
        if !runtime.is_interrupted() {
            // A failure here is met again, and reported, by the next call.
            ready[slot] = runtime.instantiate_for(component).ok();
        }
    }
}

/// Calls one served function; returns the encoded wire results (the ok
/// value of a wRPC-safe function) or why nothing travels back.
fn execute(d: &mut Deployed, s: &Served, func: &mut Option<Func>, args: Args) -> Outcome {
    match call(d, s, func, args)? {
        Results::Bytes(bytes) => Ok(bytes),
        Results::Vals(vals) => codec::encode_values(&vals, &s.wire_results)
            .map_err(|e| (Cause::Reply, format!("cannot encode the results: {e}"))),
    }
}

/// What travels back before encoding: the typed path has encoded already,
/// the dynamic path has the wire `Val`s.
enum Results {
    Vals(Vec<Val>),
    Bytes(Vec<u8>),
}

/// [`execute`] up to the encoding.
fn call(
    d: &mut Deployed,
    s: &Served,
    func: &mut Option<Func>,
    args: Args,
) -> Result<Results, (Cause, String)> {
    let full = format!("{}#{}", s.export, s.function);
    let f = match func {
        Some(f) => *f,
        None => {
            let (f, _) = d.func(&s.component, &full).map_err(trap)?;
            *func = Some(f);
            f
        }
    };
    let args = match (args, &s.shape) {
        (Args::Typed(params), Some(shape)) => {
            return shape
                .0
                .call(d, &s.component, &full, f, params)
                .map(Results::Bytes)
        }
        (Args::Vals(args), _) => args,
        (Args::Typed(_), None) => return Err(trap("typed parameters for a dynamic function")),
    };
    let mut results = d.invoke(&s.component, &full, f, &args).map_err(failure)?;
    if !s.safe {
        return Ok(Results::Vals(results));
    }
    match results.pop() {
        Some(Val::Result(Ok(v))) => Ok(Results::Vals(v.map(|v| vec![*v]).unwrap_or_default())),
        Some(Val::Result(Err(Some(e)))) => {
            let message = match *e {
                Val::Resource(any) => {
                    let store = d.store();
                    any.try_into_resource::<WrpcError>(&mut *store)
                        .and_then(|r| store.data_mut().take_wrpc_error(r))
                        .unwrap_or_else(|e| format!("(unreadable error: {e})"))
                }
                other => format!("{other:?}"),
            };
            Err((
                Cause::GuestError,
                format!("`{}` `{full}` returned an error: {message}", s.component),
            ))
        }
        other => Err((
            Cause::GuestError,
            format!(
                "`{}` `{full}` returned {other:?}, not a result",
                s.component
            ),
        )),
    }
}
