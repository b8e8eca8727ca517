//! Guest workers: calls into wasmtime block, so guests run on their own
//! threads — one owning the `shared` store, a pool making a store per call.

use super::report::Cause;
use super::typed::{failure, Params};
use super::Served;
use crate::runtime::host::WrpcError;
use crate::runtime::{Deployed, Runtime};
use std::sync::{mpsc, Mutex};
use wasmtime::component::{Func, Val};

/// A call handed to a worker.
pub(super) struct Job {
    /// Which served function.
    pub index: usize,
    /// Its decoded parameters.
    pub args: Args,
    /// Where the wire results (or why there are none) go.
    pub reply: tokio::sync::oneshot::Sender<Outcome>,
}

/// Decoded parameters: `Val`s, or Rust values of the function's shape.
pub(super) enum Args {
    /// The dynamic path.
    Vals(Vec<Val>),
    /// The typed fast path.
    Typed(Params),
}

/// What travels back: `Val`s still to encode, or the encoded bytes.
pub(super) enum Results {
    /// The dynamic path.
    Vals(Vec<Val>),
    /// The typed fast path, already encoded.
    Bytes(Vec<u8>),
}

/// The wire results of a call, or why there are none.
pub(super) type Outcome = Result<Results, (Cause, String)>;

fn trap(e: impl std::fmt::Display) -> (Cause, String) {
    (Cause::Trap, e.to_string())
}

/// Runs jobs of `shared` components in one store, re-instantiating it if a
/// trap poisons it.
pub(super) fn shared(runtime: &Runtime, served: &[Served], rx: mpsc::Receiver<Job>) {
    let mut deployed: Option<Deployed> = None;
    let mut funcs: Vec<Option<Func>> = vec![None; served.len()];
    while let Ok(job) = rx.recv() {
        if deployed.is_none() {
            match runtime.instantiate() {
                Ok(d) => {
                    deployed = Some(d);
                    funcs.iter_mut().for_each(|f| *f = None);
                }
                Err(e) => {
                    let _ = job
                        .reply
                        .send(Err(trap(format!("cannot instantiate: {e}"))));
                    continue;
                }
            }
        }
        let d = deployed.as_mut().expect("instantiated above");
        let result = execute(d, &served[job.index], &mut funcs[job.index], job.args);
        if let (Err(e), true) = (&result, d.is_poisoned()) {
            tracing::warn!(
                component = %served[job.index].component,
                "the shared instance is replaced and its state was lost: {}",
                e.1
            );
            deployed = None;
        }
        let _ = job.reply.send(result);
    }
}

/// Runs jobs of `per-call` components, each in a fresh store.
pub(super) fn pool(runtime: &Runtime, served: &[Served], rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let result = match runtime.instantiate() {
            Ok(mut d) => execute(&mut d, &served[job.index], &mut None, job.args),
            Err(e) => Err(trap(format!("cannot instantiate: {e}"))),
        };
        let _ = job.reply.send(result);
    }
}

/// Calls one served function; returns what travels back (the ok value of a
/// wRPC-safe function) or why nothing does.
fn execute(d: &mut Deployed, s: &Served, func: &mut Option<Func>, args: Args) -> Outcome {
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
