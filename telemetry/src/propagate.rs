//! W3C trace context (`traceparent`, `tracestate`) in and out of carriers: HTTP/2 headers (gRPC
//! metadata) and the `TRACEPARENT`/`TRACESTATE` environment variables of a launched process.
//! No global propagator: each call uses a [`TraceContextPropagator`] of its own.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TraceId};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The environment variables a launched process reads its parent context from.
pub const TRACEPARENT: &str = "TRACEPARENT";
pub const TRACESTATE: &str = "TRACESTATE";

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::header::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes `cx`'s span context into `headers` (nothing if it has no valid span).
pub fn inject_headers(cx: &Context, headers: &mut http::HeaderMap) {
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    }
}

/// The remote context in `headers`; an empty context if there is none or it is malformed.
pub fn extract_headers(headers: &http::HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// `TRACEPARENT` (and `TRACESTATE`) for a process launched inside `span`: empty when tracing
/// is off.
pub fn child_env(span: &tracing::Span) -> Vec<(&'static str, String)> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut map = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut map);
    let mut env = Vec::new();
    for (var, key) in [(TRACEPARENT, "traceparent"), (TRACESTATE, "tracestate")] {
        if let Some(v) = map.remove(key).filter(|v| !v.is_empty()) {
            env.push((var, v));
        }
    }
    env
}

/// The parent context given as `TRACEPARENT`/`TRACESTATE` values.
pub fn context_from_env(traceparent: Option<&str>, tracestate: Option<&str>) -> Context {
    let mut map = HashMap::new();
    if let Some(p) = traceparent {
        map.insert("traceparent".to_string(), p.to_string());
    }
    if let Some(s) = tracestate {
        map.insert("tracestate".to_string(), s.to_string());
    }
    TraceContextPropagator::new().extract(&map)
}

/// Reads and clears `TRACEPARENT`/`TRACESTATE`, so that nothing this process launches
/// inherits them. Call it while the process is single-threaded (first thing in `main`).
pub fn take_env_context() -> Context {
    let (p, s) = (
        std::env::var(TRACEPARENT).ok(),
        std::env::var(TRACESTATE).ok(),
    );
    std::env::remove_var(TRACEPARENT);
    std::env::remove_var(TRACESTATE);
    context_from_env(p.as_deref(), s.as_deref())
}

/// Makes `cx` the parent of `span` (before the span is first entered); a no-op when tracing
/// is off or `cx` is empty.
pub fn set_parent(span: &tracing::Span, cx: Context) {
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The span's trace ID in hex, when tracing is on.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    valid(span.context().span().span_context().trace_id())
}

/// The trace ID of a context, when it has one.
pub fn context_trace_id(cx: &Context) -> Option<String> {
    valid(cx.span().span_context().trace_id())
}

fn valid(id: TraceId) -> Option<String> {
    (id != TraceId::INVALID).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn headers_round_trip_and_bad_values_are_ignored() {
        let cx = context_from_env(Some(TP), Some("k=v"));
        let mut h = http::HeaderMap::new();
        inject_headers(&cx, &mut h);
        assert_eq!(
            h.get("traceparent").map(|v| v.to_str().ok()),
            Some(Some(TP))
        );
        let back = extract_headers(&h);
        assert_eq!(
            context_trace_id(&back).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert!(back.span().span_context().is_remote());
        let mut bad = http::HeaderMap::new();
        bad.insert("traceparent", http::HeaderValue::from_static("00-zz-01"));
        assert_eq!(context_trace_id(&extract_headers(&bad)), None);
        let mut none = http::HeaderMap::new();
        inject_headers(&Context::new(), &mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn no_span_no_child_env() {
        assert!(child_env(&tracing::Span::none()).is_empty());
        assert_eq!(trace_id(&tracing::Span::none()), None);
        assert_eq!(context_trace_id(&context_from_env(None, None)), None);
    }
}
