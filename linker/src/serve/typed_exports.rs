//! Typed fast paths of served calls: for common signatures (scalars,
//! strings, `list<u8>`; wRPC-safe or not) the parameters are read from the
//! wire straight into Rust values, passed to the guest through a typed
//! function, and the result written back the same way, with no `Val` tree
//! on either side: a 64 KiB `list<u8>` is one buffer, not 65 536 values.
//! Any other signature takes the dynamic path. The bytes on the wire are
//! the same either way (see [`crate::wrpc::codec::typed`]).

use super::report::Cause;
use crate::runtime::host::WrpcError;
use crate::runtime::{Deployed, RuntimeError};
use crate::wrpc::codec::typed::{dispatch, ShapeVisitor, WireList, WireParams, WireResults};
use crate::wrpc::codec::{CodecError, Limits};
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use wasmtime::component::{ComponentNamedList, Func, Lower, Resource, Type};

/// Decoded parameters, of the shape that decoded them.
pub(crate) type Params = Box<dyn Any + Send>;

/// One shape's way through a call.
pub(crate) trait TypedCall: Send + Sync {
    /// Reads the parameters, with the dynamic decoder's checks.
    fn decode(&self, bytes: &[u8], limits: &Limits) -> Result<Params, CodecError>;
    /// Calls `func` with them; returns the encoded wire result.
    fn call(
        &self,
        d: &mut Deployed,
        component: &str,
        full: &str,
        func: Func,
        params: Params,
    ) -> Result<Vec<u8>, Failure>;
}

/// Why a call has no result: the cause and what to log.
pub(crate) type Failure = (Cause, String);

/// What a failed guest call means for the caller.
pub(crate) fn failure(e: RuntimeError) -> Failure {
    match e {
        RuntimeError::DeadlineExceeded { .. } => (Cause::Deadline, e.to_string()),
        RuntimeError::MemoryCap { .. } => (Cause::MemoryCap, e.to_string()),
        RuntimeError::Interrupted { .. } => (Cause::Stopping, e.to_string()),
        e => (Cause::Trap, e.to_string()),
    }
}

/// The typed way through a function whose parameters are `params` and
/// whose results on the wire are `wire_results`, if its shape is in the
/// catalogue ([`dispatch`]).
pub(crate) fn shape(
    params: &[Type],
    wire_results: &[Type],
    safe: bool,
) -> Option<Arc<dyn TypedCall>> {
    struct Build {
        safe: bool,
    }
    impl ShapeVisitor for Build {
        type Output = Arc<dyn TypedCall>;
        fn visit<P: WireParams, R: WireResults>(self) -> Self::Output {
            Arc::new(Shape::<P, R>::new(self.safe))
        }
    }
    dispatch(params, wire_results, Build { safe })
}

/// Parameters `P`, results `R` (inside `result<_, error>` when safe).
struct Shape<P, R> {
    safe: bool,
    _types: PhantomData<fn() -> (P, R)>,
}

impl<P, R> Shape<P, R> {
    fn new(safe: bool) -> Self {
        Shape {
            safe,
            _types: PhantomData,
        }
    }
}

impl<P, R> TypedCall for Shape<P, R>
where
    P: WireList + ComponentNamedList + Lower + Send + Sync + 'static,
    R: WireResults,
{
    fn decode(&self, bytes: &[u8], limits: &Limits) -> Result<Params, CodecError> {
        Ok(Box::new(P::decode(bytes, limits)?))
    }

    fn call(
        &self,
        d: &mut Deployed,
        component: &str,
        full: &str,
        func: Func,
        params: Params,
    ) -> Result<Vec<u8>, Failure> {
        let Ok(params) = params.downcast::<P>() else {
            return Err((Cause::Trap, "parameters of another shape".to_string()));
        };
        let encode = |r: R| {
            r.encode()
                .map_err(|e| (Cause::Reply, format!("cannot encode the results: {e}")))
        };
        if !self.safe {
            let r = d
                .invoke_typed::<P, R>(component, full, func, *params)
                .map_err(failure)?;
            return encode(r);
        }
        let (r,) = d
            .invoke_typed::<P, (Result<R::Ok, Resource<WrpcError>>,)>(
                component, full, func, *params,
            )
            .map_err(failure)?;
        match r {
            Ok(v) => encode(R::from_ok(v)),
            Err(error) => {
                let message = d
                    .store()
                    .data_mut()
                    .take_wrpc_error(error)
                    .unwrap_or_else(|e| format!("(unreadable error: {e})"));
                Err((
                    Cause::GuestError,
                    format!("`{component}` `{full}` returned an error: {message}"),
                ))
            }
        }
    }
}
