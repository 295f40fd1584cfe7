//! Tower layers for tonic that carry trace context across a gRPC call.
//!
//! Client: `ShimClient::new(ClientLayer.layer(channel))`. Each call opens an `rpc` span
//! (kind client, named `package.Service/Method`) under the caller's current span and injects its
//! context as `traceparent` metadata, so a client kept across requests still parents each call
//! correctly. Server: `Server::builder().layer(ServerLayer)`. Each request gets an `rpc` span
//! (kind server) whose parent is the caller's context, and whose `trace_id` field puts the trace
//! ID on every log line emitted under it. Both record a non-OK `grpc-status` found in the
//! response headers (unary errors are trailers-only responses) as the span's error status.
//!
//! With tracing off the spans are disabled or cost one registry entry; nothing is injected.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use opentelemetry::trace::Status;
use tower::{Layer, Service};
use tracing::{field, info_span, Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::propagate;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Wraps a client service (a tonic `Channel`) in [`Traced`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientLayer;

impl<S> Layer<S> for ClientLayer {
    type Service = Traced<S>;

    fn layer(&self, inner: S) -> Traced<S> {
        Traced { inner }
    }
}

/// A client service that traces each call and injects its context.
#[derive(Debug, Clone)]
pub struct Traced<S> {
    inner: S,
}

impl<S> Traced<S> {
    pub fn new(inner: S) -> Self {
        Traced { inner }
    }
}

impl<S, B, R> Service<http::Request<B>> for Traced<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let span = info_span!(
            "rpc",
            otel.name = %method(req.uri()),
            otel.kind = "client",
        );
        propagate::inject_headers(&span.context(), req.headers_mut());
        let fut = span.in_scope(|| self.inner.call(req));
        let s = span.clone();
        Box::pin(
            async move {
                let res = fut.await;
                record(&s, &res);
                res
            }
            .instrument(span),
        )
    }
}

/// Wraps a tonic server's routes in [`ServerTrace`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLayer;

impl<S> Layer<S> for ServerLayer {
    type Service = ServerTrace<S>;

    fn layer(&self, inner: S) -> ServerTrace<S> {
        ServerTrace { inner }
    }
}

/// A server service that continues the caller's trace.
#[derive(Debug, Clone)]
pub struct ServerTrace<S> {
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for ServerTrace<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let span = server_span(&req);
        let fut = span.in_scope(|| self.inner.call(req));
        let s = span.clone();
        let start = std::time::Instant::now();
        Box::pin(
            async move {
                let res = fut.await;
                let code = record(&s, &res);
                tracing::debug!(grpc_status = code, elapsed = ?start.elapsed(), "rpc answered");
                res
            }
            .instrument(span),
        )
    }
}

/// The request's span, child of the context in its metadata, with the trace ID as a field.
pub fn server_span<B>(req: &http::Request<B>) -> Span {
    let span = info_span!(
        "rpc",
        otel.name = %method(req.uri()),
        otel.kind = "server",
        trace_id = field::Empty,
    );
    let remote = propagate::extract_headers(req.headers());
    // Fails only when tracing is off (no layer): the remote trace ID still goes in the logs.
    let _ = span.set_parent(remote.clone());
    let id = propagate::trace_id(&span).or_else(|| propagate::context_trace_id(&remote));
    if let Some(id) = id {
        span.record("trace_id", field::display(id));
    }
    span
}

/// `package.Service/Method`, the span name the RPC conventions ask for.
fn method(uri: &http::Uri) -> &str {
    uri.path().trim_start_matches('/')
}

/// Records the outcome on `span`; returns the `grpc-status` in the headers, if any (a stream's
/// comes later, in its trailers).
fn record<R, E: std::fmt::Display>(span: &Span, res: &Result<http::Response<R>, E>) -> Option<i64> {
    match res {
        Ok(r) => {
            let code = r
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            if let Some(code) = code {
                span.set_attribute("rpc.grpc.status_code", code);
                if code != 0 {
                    let msg = r
                        .headers()
                        .get("grpc-message")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    span.set_status(Status::error(format!("grpc-status {code}: {msg}")));
                }
            }
            code
        }
        Err(e) => {
            span.set_status(Status::error(e.to_string()));
            None
        }
    }
}
