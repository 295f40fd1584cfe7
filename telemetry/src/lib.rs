//! OpenTelemetry for Ferry's three processes: `ferry`, `ferryd` and `ferry-shim`.
//!
//! - [`Setup`] reads the standard `OTEL_*` variables and, only when an OTLP endpoint is set,
//!   builds a tracer provider with a batch exporter; [`Telemetry`] is the guard that flushes and
//!   shuts it down on drop, and hands out the `tracing` layer that turns spans into OTel spans.
//!   With no endpoint there is no provider, no layer and no export thread.
//! - [`grpc`] carries W3C trace context in gRPC metadata: [`ClientLayer`] opens a client span
//!   per call and injects its `traceparent`; [`ServerLayer`] extracts it and makes it the parent
//!   of the request's server span (which also carries `trace_id` for the log lines under it).
//! - [`propagate`] reads and writes the context as text: the `TRACEPARENT` environment
//!   variable of a launched process (ferryd → ferry-shim) and the trace ID a CLI prints.

pub mod grpc;
mod init;
pub mod propagate;

pub use grpc::{ClientLayer, ServerLayer, Traced};
pub use init::{export_config, ExportConfig, Protocol, Setup, Telemetry};

/// Marks `span` as failed with `err` as its status message (a no-op with tracing off).
pub fn record_error(span: &tracing::Span, err: &dyn std::fmt::Display) {
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    span.set_status(opentelemetry::trace::Status::error(err.to_string()));
}
