//! Remote imports: a caller's import defined as wRPC calls (the sibling of
//! [`hostlinked`](super::hostlinked) for links that cross hosts).
//!
//! Each function of the imported interface becomes a dynamic host function
//! that encodes its arguments with [`codec`](crate::wrpc::codec), invokes the
//! function of the same name on the remote instance named like the import,
//! and decodes the reply.
//!
//! Common signatures (scalars, strings, `list<u8>`; see [`typed`]) get a
//! typed host function instead: the arguments go from the guest's values
//! straight to the wire, with no `Val` tree (a `list<u8>` is one copy).
//!
//! For a wRPC-safe function (`result<T, wrpc:rpc/error.error>`) only `T`
//! travels; a transport failure becomes an `error` resource whose
//! `to-debug-string` names the link, the endpoint and the cause, so the guest
//! handles it. Any other function (allowed only with `allow-trap`) traps on
//! failure, with the same message.

use super::host::HostState;
use crate::observe::{trace, CallCells, Ended, LinkKey, Observer};
use crate::wrpc::client::Message;
use crate::wrpc::client::{CallError, Remote};
use crate::wrpc::codec::{self, CodecError, Limits};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Type, Val};
use wasmtime::error::Context as _;
use wasmtime::Engine;

/// A caller's import carried over wRPC.
pub(crate) struct StubLink {
    /// The import (and wire instance) name.
    pub import: String,
    /// "`caller` → `callee` on host `h`", for messages.
    pub label: String,
    /// The endpoint's client, shared by every link to it.
    pub remote: Arc<Remote>,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Function name → whether it is wRPC-safe (from the WIT).
    pub safe: HashMap<String, bool>,
    /// Cap on a reply.
    pub limits: Limits,
    /// Where its calls are counted, and the link's key (its function left
    /// empty, set per function).
    pub observe: Option<(Observer, LinkKey)>,
}

impl StubLink {
    /// The counters of `function`'s calls, when the link is observed.
    fn cells(&self, function: &str) -> Option<Arc<CallCells>> {
        let (observer, key) = self.observe.as_ref()?;
        Some(observer.link(LinkKey {
            function: function.to_string(),
            ..key.clone()
        }))
    }
}

/// Sends the encoded `params` with `call` (given what to carry beside
/// them where the transport `carries` headers, and setting the bytes it
/// received) and, when `cells` are given,
/// records the call: its time, how it ended (parameters that could not
/// be encoded included), the bytes each way; with traces on, its span,
/// whose context is what the call carries.
pub(crate) fn observed<T>(
    cells: Option<&CallCells>,
    carries: bool,
    params: Result<Vec<u8>, CodecError>,
    call: impl FnOnce(Bytes, &[(String, String)], &mut usize) -> Result<T, CallError>,
) -> Result<T, CallError> {
    let mut received = 0;
    let Some(cells) = cells else {
        let params = params.map_err(CallError::Encode)?;
        return call(Bytes::from(params), &[], &mut received);
    };
    let started = cells.start();
    let carried = match started.context() {
        Some(cx) if carries => trace::inject(cx),
        _ => Vec::new(),
    };
    let sent = params.as_ref().map_or(0, Vec::len);
    let outcome = params
        .map_err(CallError::Encode)
        .and_then(|params| call(Bytes::from(params), &carried, &mut received));
    let ended = match &outcome {
        Ok(_) => Ended::Ok,
        Err(e) => Ended::Failed(e.kind()),
    };
    cells.end(started, ended, sent, received);
    outcome
}

/// Defines every function of `link.import` in `linker` as a wRPC call;
/// returns the functions (`import#function`) that got a typed stub.
pub(crate) fn define(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    caller: &Component,
    link: StubLink,
) -> wasmtime::Result<Vec<String>> {
    let ty = caller.component_type();
    let item = ty
        .imports(engine)
        .find(|(n, _)| *n == link.import)
        .map(|(_, item)| item)
        .context("the component does not import it")?;
    let ComponentItem::ComponentInstance(instance) = item.ty else {
        wasmtime::bail!("only interface (instance) imports can be carried over wRPC");
    };
    let funcs: Vec<(String, Vec<Type>, Vec<Type>)> = instance
        .exports(engine)
        .filter_map(|(n, i)| match i.ty {
            ComponentItem::ComponentFunc(f) => Some((
                n.to_string(),
                f.params().map(|(_, t)| t).collect(),
                f.results().collect(),
            )),
            _ => None,
        })
        .collect();
    let link = Arc::new(link);
    let mut inst = linker.instance(&link.import)?;
    let mut typed_stubs = Vec::new();
    for (name, params, results) in funcs {
        let safe = link.safe.get(&name).copied().unwrap_or(false);
        let Some(wire_results) = crate::wrpc::wire_results(safe, results) else {
            wasmtime::bail!("function `{name}` is not wRPC-safe as its type says");
        };
        let link = Arc::clone(&link);
        let what = format!("wrpc link {} call `{}.{name}`", link.label, link.import);
        let cells = link.cells(&name);
        let call = typed_stubs::StubCall {
            cells: cells.clone(),
            link: Arc::clone(&link),
            func: name.clone(),
            what: what.clone(),
            wire_results: wire_results.clone(),
            safe,
        };
        if typed_stubs::define(&mut inst, &name, &params, call)? {
            typed_stubs.push(format!("{}#{name}", link.import));
            continue;
        }
        let func = name.clone();
        inst.func_new(&name, move |mut store, _ty, args, out| {
            let limits = &link.limits;
            let encoded = codec::encode_values(args, &params);
            let carries = link.remote.carries_headers();
            let outcome = observed(
                cells.as_deref(),
                carries,
                encoded,
                |bytes, carried, received| {
                    let reply = Message::new(limits, wire_results.is_empty(), |buf: &[u8]| {
                        *received = buf.len();
                        codec::decode_values(&wire_results, buf, limits)
                    });
                    link.remote.call_blocking_with(
                        &link.import,
                        &func,
                        bytes,
                        carried,
                        link.timeout,
                        reply,
                    )
                },
            );
            match outcome {
                Ok(mut vals) => {
                    if safe {
                        out[0] = Val::Result(Ok(vals.pop().map(Box::new)));
                    } else {
                        for (o, v) in out.iter_mut().zip(vals) {
                            *o = v;
                        }
                    }
                    Ok(())
                }
                Err(e) => {
                    let message = failure(&what, &e);
                    tracing::warn!("{message}");
                    if !safe {
                        wasmtime::bail!("{message} (the link allows traps)");
                    }
                    let error = store.data_mut().new_wrpc_error(message)?;
                    let error = error.try_into_resource_any(&mut store)?;
                    out[0] = Val::Result(Err(Some(Box::new(Val::Resource(error)))));
                    Ok(())
                }
            }
        })?;
    }
    Ok(typed_stubs)
}

/// What a guest (or its trap) is told of a failed call: which call, and
/// every cause.
fn failure(what: &str, e: &CallError) -> String {
    format!("{what} failed: {}", crate::diagnostic::chain(e))
}

/// Typed stubs for common signatures: parameters are lifted into Rust
/// values (a `list<u8>` in one copy) and written with the typed codec
/// ([`crate::wrpc::codec::typed`]); any other signature takes the dynamic
/// path above.
pub(crate) mod typed_stubs {
    use super::HostState;
    use crate::runtime::host::WrpcError;
    use crate::wrpc::client::Message;
    use crate::wrpc::codec::typed::{dispatch, ShapeVisitor, WireList, WireParams, WireResults};
    use crate::wrpc::codec::CodecError;
    use std::sync::Arc;
    use wasmtime::component::{ComponentNamedList, Lift, LinkerInstance, Resource, Type};

    /// One function of a link, as its stub calls it.
    pub(crate) struct StubCall {
        /// Where its calls are counted, when the link is observed.
        pub cells: Option<Arc<crate::observe::CallCells>>,
        pub link: Arc<super::StubLink>,
        pub func: String,
        pub what: String,
        pub wire_results: Vec<Type>,
        pub safe: bool,
    }

    impl StubCall {
        /// Sends the encoded parameters; returns the wire results, read
        /// with the typed codec, or why the call failed (in words the guest
        /// or the trap shows).
        fn run<R: WireResults>(&self, params: Result<Vec<u8>, CodecError>) -> Result<R, String> {
            let link = &self.link;
            let limits = link.limits;
            super::observed(
                self.cells.as_deref(),
                link.remote.carries_headers(),
                params,
                |params, carried, received| {
                    let reply = Message::new(&limits, false, |buf: &[u8]| {
                        *received = buf.len();
                        R::decode(buf, &limits)
                    });
                    link.remote.call_blocking_with(
                        &link.import,
                        &self.func,
                        params,
                        carried,
                        link.timeout,
                        reply,
                    )
                },
            )
            .map_err(|e| super::failure(&self.what, &e))
        }
    }

    /// Defines `name` with a typed stub if its parameters and its wire
    /// results are a shape of the catalogue ([`dispatch`]); returns whether
    /// it did.
    pub(crate) fn define(
        inst: &mut LinkerInstance<'_, HostState>,
        name: &str,
        params: &[Type],
        call: StubCall,
    ) -> wasmtime::Result<bool> {
        struct Define<'a, 'b> {
            inst: &'a mut LinkerInstance<'b, HostState>,
            name: &'a str,
            call: StubCall,
        }
        impl ShapeVisitor for Define<'_, '_> {
            type Output = wasmtime::Result<()>;
            fn visit<P: WireParams, R: WireResults>(self) -> Self::Output {
                stub::<P, R>(self.inst, self.name, self.call)
            }
        }
        let wire = call.wire_results.clone();
        match dispatch(params, &wire, Define { inst, name, call }) {
            Some(defined) => defined.map(|()| true),
            None => Ok(false),
        }
    }

    /// The typed host function of one shape: `result<_, error>` for a
    /// wRPC-safe function (a failure is an `error` the guest gets), the
    /// results otherwise (a failure traps: the link allows traps).
    fn stub<P, R>(
        inst: &mut LinkerInstance<'_, HostState>,
        name: &str,
        call: StubCall,
    ) -> wasmtime::Result<()>
    where
        P: ComponentNamedList + Lift + WireList + Send + Sync + 'static,
        R: WireResults,
    {
        if call.safe {
            inst.func_wrap(name, move |mut store, params: P| {
                match call.run::<R>(params.encode()) {
                    Ok(r) => Ok((Ok::<R::Ok, Resource<WrpcError>>(r.into_ok()),)),
                    Err(message) => {
                        tracing::warn!("{message}");
                        let error = store.data_mut().new_wrpc_error(message)?;
                        Ok((Err(error),))
                    }
                }
            })
        } else {
            inst.func_wrap(name, move |_store, params: P| {
                call.run::<R>(params.encode()).map_err(|message| {
                    tracing::warn!("{message}");
                    wasmtime::format_err!("{message} (the link allows traps)")
                })
            })
        }
    }
}
