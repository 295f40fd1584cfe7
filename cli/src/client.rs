//! The gRPC channel to ferryd over its unix socket, and the command's trace: one root span
//! per command, a client span per call whose context travels to ferryd as `traceparent`.

use std::path::PathBuf;

use anyhow::bail;
use ferry_telemetry::{Telemetry, Traced};
use hyper_util::rt::TokioIo;
use tonic::transport::{Endpoint, Uri};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

use crate::errors::CannotConnect;

/// The channel every client uses: each call carries the command's trace context.
pub(crate) type Channel = Traced<tonic::transport::Channel>;

/// Tracing is on when an OTLP endpoint is set (`OTEL_*`), or with `--debug` (then without
/// export, so that there is a trace ID to print). Off, no subscriber is installed at all. The
/// spans are exported in one call when `main` shuts telemetry down, on its own thread.
pub(crate) fn init_telemetry(debug: bool) -> Telemetry {
    let t = ferry_telemetry::Setup::new("ferry")
        .always_on(debug)
        .deferred(true)
        .init();
    if let (true, Some(p)) = (debug, t.problem()) {
        eprintln!("ferry: {p}");
    }
    if let Some(layer) = t.layer() {
        let ours = Targets::new().with_target("ferry", LevelFilter::INFO);
        let _ = tracing_subscriber::registry()
            .with(layer.with_filter(ours))
            .try_init();
    }
    t
}

/// The command's root span, named `ferry <verb>`; with `debug`, prints its trace ID.
pub(crate) fn root_span(verb: &str, debug: bool) -> tracing::Span {
    let span = tracing::info_span!("ferry", otel.name = %format_args!("ferry {verb}"));
    if debug {
        match ferry_telemetry::propagate::trace_id(&span) {
            Some(id) => eprintln!("trace ID: {id}"),
            None => eprintln!("trace ID: none (tracing is off)"),
        }
    }
    span
}

/// Ends the root span; a non-zero exit code is its error status.
pub(crate) fn end_root_span(span: tracing::Span, code: i32) {
    if code != 0 {
        ferry_telemetry::record_error(&span, &format_args!("exit code {code}"));
    }
}

/// Exports the command's spans (at most a second's wait if the collector is unreachable).
pub(crate) fn export_spans(mut t: Telemetry, debug: bool) {
    t.shutdown_within(std::time::Duration::from_secs(1));
    if let (true, Some(p)) = (debug, t.problem()) {
        eprintln!("ferry: {p}");
    }
}

pub(crate) async fn connect(host: &str) -> anyhow::Result<Channel> {
    let Some(path) = host
        .strip_prefix("unix://")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
    else {
        bail!("invalid host {host:?}: only unix:///PATH is supported");
    };
    let endpoint = Endpoint::try_from("http://ferryd.local")?;
    let connector = tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move {
            Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
        }
    });
    endpoint
        .connect_with_connector(connector)
        .await
        .map(Traced::new)
        .map_err(|_| CannotConnect(host.to_string()).into())
}
