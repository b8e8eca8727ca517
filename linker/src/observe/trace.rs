//! Spans: one per call across a link (on the calling side: a wRPC stub or
//! a host-linked import) and one per served call, made with an
//! OpenTelemetry SDK tracer ([`Traces`]) and exported by whatever the
//! embedder gave it (`weld serve --otlp`: [`super::otlp`]).
//!
//! Every span of one observed function shares a [`SpanTemplate`] made
//! once, with the [`CallCells`](super::CallCells) its calls are counted
//! in: its name and the attributes that name the link come from the plan,
//! never from a peer. A span the sampler drops gets no attributes at all
//! (they are set only on a recording span): a host sampling 1% pays for
//! the other 99% the sampling decision, the ids, the span's name and the
//! context it is carried in (and, over NATS, its `traceparent`).
//!
//! Context: a call's span is the parent of what runs inside it. In
//! process, the current span is OpenTelemetry's thread-local context,
//! attached while a host-linked callee or a served guest runs (guests run
//! synchronously on the thread that called them). Across wRPC, the
//! context travels only where the transport has room for it beside wRPC
//! 0.17's bytes: NATS message headers (W3C `traceparent`/`tracestate`;
//! a wRPC 0.17 server hands headers to its handler as the call's context
//! and otherwise ignores them). TCP, Unix sockets and QUIC streams
//! carry the invocation and nothing else, so a served span over them
//! starts its own trace and names, instead of a parent, the plan's link
//! into the function and the caller's host (see `serve`).

use super::cells::Ended;
use super::{LinkKey, ServedKey};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;

/// Where spans are made: an OpenTelemetry SDK tracer (its provider
/// decides sampling and export).
#[derive(Clone, Debug)]
pub struct Traces {
    tracer: SdkTracer,
}

impl Traces {
    /// Spans made with `tracer`.
    pub fn new(tracer: SdkTracer) -> Traces {
        Traces { tracer }
    }

    /// The template of the spans of calls across `key`'s link: a client
    /// span over wRPC, an internal one for a host-linked call.
    pub(crate) fn link(&self, key: &LinkKey) -> SpanTemplate {
        let kind = if key.transport == "host-linked" {
            SpanKind::Internal
        } else {
            SpanKind::Client
        };
        SpanTemplate {
            tracer: self.tracer.clone(),
            name: format!("{} → {}: {}", key.caller, key.callee, key.function),
            kind,
            attributes: vec![
                shared("weld.link", &format!("{} → {}", key.caller, key.callee)),
                shared("weld.caller", &key.caller),
                shared("weld.callee", &key.callee),
                KeyValue::new("rpc.system", rpc_system(&key.transport)),
                shared("rpc.service", &key.interface),
                shared("rpc.method", &key.function),
                shared("weld.transport", &key.transport),
                shared("weld.peer_host", &key.peer_host),
            ],
        }
    }

    /// The template of the spans of calls served as `key` (an HTTP
    /// route's requests, when its transport is `http`).
    pub(crate) fn served(&self, key: &ServedKey) -> SpanTemplate {
        if key.transport == "http" {
            return SpanTemplate {
                tracer: self.tracer.clone(),
                name: format!("serve {}: {}", key.component, key.function),
                kind: SpanKind::Server,
                attributes: vec![
                    shared("weld.callee", &key.component),
                    shared("weld.handler", &key.interface),
                    shared("http.route", &key.function),
                    shared("weld.transport", &key.transport),
                ],
            };
        }
        SpanTemplate {
            tracer: self.tracer.clone(),
            name: format!("serve {}: {}", key.component, key.function),
            kind: SpanKind::Server,
            attributes: vec![
                shared("weld.callee", &key.component),
                KeyValue::new("rpc.system", "wrpc"),
                shared("rpc.service", &key.interface),
                shared("rpc.method", &key.function),
                shared("weld.transport", &key.transport),
            ],
        }
    }
}

/// An attribute whose value is reference-counted: the template's copy per
/// span is a count, not an allocation.
fn shared(key: &'static str, value: &str) -> KeyValue {
    KeyValue::new(
        key,
        opentelemetry::StringValue::from(std::sync::Arc::<str>::from(value)),
    )
}

fn rpc_system(transport: &str) -> &'static str {
    if transport == "host-linked" {
        "weld"
    } else {
        "wrpc"
    }
}

/// What every span of one observed function has: made once, when its
/// counters are.
pub(crate) struct SpanTemplate {
    tracer: SdkTracer,
    name: String,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
}

impl std::fmt::Debug for SpanTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanTemplate")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SpanTemplate {
    /// Starts a span under `parent`; `more` adds attributes of this call
    /// (asked only when the span is recorded). The context returned holds
    /// the span: what runs inside the call runs under it.
    pub(crate) fn start(&self, parent: &Context, more: impl FnOnce(&mut Vec<KeyValue>)) -> Context {
        let mut span = self
            .tracer
            .span_builder(self.name.clone())
            .with_kind(self.kind.clone())
            .start_with_context(&self.tracer, parent);
        if span.is_recording() {
            let mut attributes = self.attributes.clone();
            more(&mut attributes);
            span.set_attributes(attributes);
        }
        parent.with_span(span)
    }
}

/// Runs `f` with `cx` as the thread's current context (so spans started
/// inside it are its children), when given; just `f` otherwise.
pub fn within<T>(cx: Option<Context>, f: impl FnOnce() -> T) -> T {
    match cx {
        Some(cx) => {
            let _current = cx.attach();
            f()
        }
        None => f(),
    }
}

/// Ends the span `cx` holds: its outcome (`ok`, or the cause of the
/// failure, with an error status) and the bytes each way.
pub(crate) fn end(cx: &Context, ended: Ended, sent: usize, received: usize) {
    let span = cx.span();
    if span.is_recording() {
        let outcome = match ended {
            Ended::Ok => "ok",
            Ended::Failed(cause) | Ended::Refused(cause) => {
                span.set_status(Status::error(cause));
                cause
            }
        };
        span.set_attributes([
            KeyValue::new("weld.outcome", outcome),
            KeyValue::new("weld.sent_bytes", sent as i64),
            KeyValue::new("weld.received_bytes", received as i64),
        ]);
        if let Ended::Refused(_) = ended {
            span.set_attribute(KeyValue::new("weld.refused", true));
        }
    }
    span.end();
}

/// The trace context of `cx` as W3C trace-context headers
/// (`traceparent`, and `tracestate` when it is not empty): what a call
/// sends where its transport carries headers. A span the sampler dropped
/// is sent too (its flags say so: the callee drops its spans as well);
/// empty when `cx` holds no span.
pub fn inject(cx: &Context) -> Vec<(String, String)> {
    struct Pairs(Vec<(String, String)>);
    impl Injector for Pairs {
        fn set(&mut self, key: &str, value: String) {
            if !value.is_empty() {
                self.0.push((key.to_string(), value));
            }
        }
    }
    let mut pairs = Pairs(Vec::new());
    TraceContextPropagator::new().inject_context(cx, &mut pairs);
    pairs.0
}

/// The header names [`extract`] reads: a server keeps only these of what a
/// caller sends.
pub const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Longest trace-context header kept (W3C's `tracestate` is at most 512
/// bytes; `traceparent` is 55).
pub const MAX_HEADER: usize = 512;

/// The trace context a caller sent, read with `get` (a header's value by
/// name): only [`HEADERS`], each at most [`MAX_HEADER`] bytes; `None`
/// when it sent none. Anything else a caller sends is not kept.
pub fn carried<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = HEADERS
        .iter()
        .filter_map(|name| {
            let value = get(name)?;
            (value.len() <= MAX_HEADER).then(|| (name.to_string(), value.to_string()))
        })
        .collect();
    (!pairs.is_empty()).then_some(pairs)
}

/// The remote parent `headers` name (W3C trace context; malformed or
/// absent headers give an empty context: the served span starts a trace).
pub fn extract(headers: &[(String, String)]) -> Context {
    struct Pairs<'a>(&'a [(String, String)]);
    impl Extractor for Pairs<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| k.as_str()).collect()
        }
    }
    TraceContextPropagator::new().extract_with_context(&Context::new(), &Pairs(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};

    /// Keeps what it is given (the SDK's in-memory exporter needs its
    /// `testing` feature, which would build metrics and logs into weld).
    #[derive(Clone, Debug, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn traces() -> (Traces, Kept, SdkTracerProvider) {
        let kept = Kept::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(kept.clone())
            .build();
        (Traces::new(provider.tracer("weld")), kept, provider)
    }

    fn key() -> LinkKey {
        LinkKey {
            caller: "front".into(),
            callee: "back".into(),
            interface: "weld:t/i".into(),
            function: "f".into(),
            transport: "nats".into(),
            peer_host: "b".into(),
        }
    }

    #[test]
    fn a_context_crosses_headers_and_parents_the_served_span() {
        let (traces, exporter, _provider) = traces();
        let call = traces.link(&key()).start(&Context::new(), |_| {});
        let headers = inject(&call);
        assert_eq!(headers[0].0, "traceparent");
        let served_key = ServedKey {
            component: "back".into(),
            interface: "weld:t/i".into(),
            function: "f".into(),
            transport: "nats".into(),
        };
        let parent = extract(&headers);
        let served = traces.served(&served_key).start(&parent, |a| {
            a.push(KeyValue::new("weld.peer", "x"));
        });
        end(&served, Ended::Refused("busy"), 0, 3);
        end(&call, Ended::Ok, 3, 0);
        let spans = exporter.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 2);
        let (server, client) = (&spans[0], &spans[1]);
        assert_eq!(server.parent_span_id, client.span_context.span_id());
        assert_eq!(
            server.span_context.trace_id(),
            client.span_context.trace_id()
        );
        assert_eq!(client.span_kind, SpanKind::Client);
        assert!(server
            .attributes
            .contains(&KeyValue::new("weld.outcome", "busy")));
        assert!(server.attributes.contains(&KeyValue::new("weld.peer", "x")));
    }

    #[test]
    fn hostile_headers_start_a_trace_of_their_own() {
        for value in [
            "",
            "00-zz-yy-01",
            &"0".repeat(10_000),
            "00-00000000000000000000000000000000-0000000000000000-01",
        ] {
            let cx = extract(&[("traceparent".into(), value.to_string())]);
            assert!(!cx.span().span_context().is_valid(), "{value:.40}");
        }
    }
}
