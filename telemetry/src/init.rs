//! The tracer provider: configured by `OTEL_*` variables, built only when there is somewhere to
//! export to, shut down (and so flushed) by dropping [`Telemetry`].
//!
//! Two pitfalls of opentelemetry-otlp shape the gRPC path. The SDK's batch processor runs
//! exports on its own thread with a plain `block_on`, where tonic's timers and lazy channel find
//! no tokio reactor and panic (opentelemetry-rust#3125); and borrowing the caller's runtime
//! deadlocks a single-worker runtime (the CLI's and the shim's `current_thread`) when the main
//! thread blocks in a flush that needs that runtime to make progress (#3380). So the gRPC exporter
//! gets a runtime of its own ([`OwnRuntime`]: one worker, its own I/O and timer drivers), built
//! and entered only here; nothing of the caller's runtime is used, and shutdown may be called
//! from anywhere outside an async context. The HTTP exporter uses reqwest's blocking client,
//! which brings its own thread. Exports are not retried: a failed batch is dropped.
//!
//! A short-lived command (the CLI) asks for [`Setup::deferred`] instead: its few spans are kept
//! in memory and exported in one call when it shuts down, on its own thread (gRPC through a
//! throwaway `current_thread` runtime), so tracing starts no thread at all and the only cost on
//! the command's path is that one export.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanExporter as _;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

/// How long a shutdown waits for the last export.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// OTLP transport, from `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `grpc`
    Grpc,
    /// `http/protobuf`, the specification's default.
    HttpProtobuf,
}

/// Where spans go; the exporter reads the endpoint, headers and timeout from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub protocol: Protocol,
    pub endpoint: String,
}

/// The export configuration the environment asks for, or why there is none: `Ok(None)` when no
/// endpoint is set (or `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`).
pub fn export_config(env: impl Fn(&str) -> Option<String>) -> Result<Option<ExportConfig>, String> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if get("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    match get("OTEL_TRACES_EXPORTER").as_deref().map(str::trim) {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other} is not supported (otlp, none)"
            ))
        }
    }
    let Some(endpoint) =
        get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    else {
        return Ok(None);
    };
    let protocol = match get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
        .map(str::trim)
    {
        Some("grpc") => Protocol::Grpc,
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported (grpc, http/protobuf)"
            ))
        }
    };
    Ok(Some(ExportConfig { protocol, endpoint }))
}

/// `service.name`: `OTEL_SERVICE_NAME`, else the one in `OTEL_RESOURCE_ATTRIBUTES`, else the
/// binary's own name.
fn service_name(env: &impl Fn(&str) -> Option<String>, default: &str) -> String {
    if let Some(n) = env("OTEL_SERVICE_NAME").filter(|n| !n.trim().is_empty()) {
        return n.trim().to_string();
    }
    let attrs = env("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    attrs
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim() == "service.name")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

/// How a process wants its telemetry.
#[derive(Debug, Clone)]
pub struct Setup {
    service: &'static str,
    always_on: bool,
    deferred: bool,
    attributes: Vec<KeyValue>,
}

impl Setup {
    /// `service` is the default `service.name`: the binary's name.
    pub fn new(service: &'static str) -> Self {
        Setup {
            service,
            always_on: false,
            deferred: false,
            attributes: Vec::new(),
        }
    }

    /// Keep the spans and export them once, at shutdown, on the calling thread: for a
    /// short-lived command. See the module docs.
    pub fn deferred(mut self, on: bool) -> Self {
        self.deferred = on;
        self
    }

    /// Trace even with no endpoint (spans get IDs and propagate, nothing is exported): what
    /// `ferry --debug` needs to print a trace ID that ferryd's log lines carry.
    pub fn always_on(mut self, on: bool) -> Self {
        self.always_on = on;
        self
    }

    /// An extra resource attribute (e.g. a shim's `container.id`).
    pub fn attribute(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.attributes.push(KeyValue::new(key, value.into()));
        self
    }

    /// Reads the process environment. Errors (a bad variable, an exporter that cannot be
    /// built) leave tracing off and are returned in [`Telemetry::problem`] for the caller to
    /// log; telemetry never stops a process from working.
    pub fn init(self) -> Telemetry {
        self.init_from(|k| std::env::var(k).ok())
    }

    /// [`Setup::init`] with the environment given as a lookup.
    pub fn init_from(self, env: impl Fn(&str) -> Option<String>) -> Telemetry {
        let config = match export_config(&env) {
            Ok(c) => c,
            Err(e) => return Telemetry::off(Some(e)),
        };
        if config.is_none() && !self.always_on {
            return Telemetry::off(None);
        }
        let resource = Resource::builder()
            .with_service_name(service_name(&env, self.service))
            .with_attributes(self.attributes)
            .build();
        let builder = SdkTracerProvider::builder().with_resource(resource);
        let mut deferred = None;
        let builder = match &config {
            None => builder,
            Some(c) if self.deferred => {
                let collect = Collect::default();
                deferred = Some((collect.clone(), c.clone()));
                builder.with_span_processor(collect)
            }
            Some(c) => match exporter(c) {
                Ok(Exporter::Grpc(e)) => builder.with_batch_exporter(e),
                Ok(Exporter::Http(e)) => builder.with_batch_exporter(e),
                Err(e) => return Telemetry::off(Some(e)),
            },
        };
        Telemetry {
            provider: Some(builder.build()),
            service: self.service,
            exporting: config.is_some(),
            deferred,
            problem: None,
        }
    }
}

/// The spans of a deferred export, and the resource the provider gave them.
#[derive(Debug, Clone, Default)]
struct Collect {
    spans: Arc<Mutex<Vec<SpanData>>>,
    resource: Arc<Mutex<Option<Resource>>>,
}

impl SpanProcessor for Collect {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.spans
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        *self.resource.lock().unwrap_or_else(PoisonError::into_inner) = Some(resource.clone());
    }
}

impl Collect {
    /// Exports what was collected in one call, within `timeout`. Outside any async context.
    fn export(&self, c: &ExportConfig, timeout: Duration) -> Result<(), String> {
        let spans = std::mem::take(&mut *self.spans.lock().unwrap_or_else(PoisonError::into_inner));
        if spans.is_empty() {
            return Ok(());
        }
        let resource = self
            .resource
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let fail = |e: &dyn fmt::Display| format!("OTLP export to {}: {e}", c.endpoint);
        match c.protocol {
            Protocol::Grpc => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| fail(&e))?;
                rt.block_on(async {
                    let mut exp = SpanExporter::builder()
                        .with_tonic()
                        .with_timeout(timeout)
                        .build()
                        .map_err(|e| fail(&e))?;
                    if let Some(r) = &resource {
                        exp.set_resource(r);
                    }
                    let sent = tokio::time::timeout(timeout, exp.export(spans)).await;
                    match sent {
                        Ok(r) => r.map_err(|e| fail(&e)),
                        Err(e) => Err(fail(&e)),
                    }
                })
            }
            Protocol::HttpProtobuf => {
                let mut exp = SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_timeout(timeout)
                    .build()
                    .map_err(|e| fail(&e))?;
                if let Some(r) = &resource {
                    exp.set_resource(r);
                }
                futures_executor::block_on(exp.export(spans)).map_err(|e| fail(&e))
            }
        }
    }
}

enum Exporter {
    Grpc(OwnRuntime),
    Http(SpanExporter),
}

fn exporter(c: &ExportConfig) -> Result<Exporter, String> {
    let fail = |e: &dyn fmt::Display| format!("OTLP exporter for {}: {e}", c.endpoint);
    match c.protocol {
        Protocol::HttpProtobuf => SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .build()
            .map(Exporter::Http)
            .map_err(|e| fail(&e)),
        Protocol::Grpc => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("otlp-export")
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| fail(&e))?;
            // tonic's lazy channel spawns its worker on the runtime entered here.
            let inner = {
                let _entered = rt.enter();
                SpanExporter::builder().with_tonic().build()
            }
            .map_err(|e| fail(&e))?;
            Ok(Exporter::Grpc(OwnRuntime { rt, inner }))
        }
    }
}

/// The gRPC exporter and the runtime that drives it; see the module docs.
struct OwnRuntime {
    rt: tokio::runtime::Runtime,
    inner: SpanExporter,
}

impl fmt::Debug for OwnRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnRuntime").finish_non_exhaustive()
    }
}

impl opentelemetry_sdk::trace::SpanExporter for OwnRuntime {
    // Called on the batch processor's thread, never inside a runtime.
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.rt.block_on(self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The process's tracing state; dropping it flushes the spans and shuts the exporter down.
/// Drop it outside any async context (after the runtime's `block_on` returns), and before
/// `std::process::exit`, which runs no destructors.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    service: &'static str,
    exporting: bool,
    deferred: Option<(Collect, ExportConfig)>,
    problem: Option<String>,
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("tracing", &self.provider.is_some())
            .field("exporting", &self.exporting)
            .field("problem", &self.problem)
            .finish()
    }
}

impl Telemetry {
    fn off(problem: Option<String>) -> Self {
        Telemetry {
            provider: None,
            service: "",
            exporting: false,
            deferred: None,
            problem,
        }
    }

    /// Spans become OTel spans (exported or not).
    pub fn is_tracing(&self) -> bool {
        self.provider.is_some()
    }

    /// An exporter is installed.
    pub fn is_exporting(&self) -> bool {
        self.exporting
    }

    /// Why tracing is off although the environment asked for it.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    /// The `tracing` layer to add to the process's subscriber; `None` when tracing is off.
    pub fn layer<S>(&self) -> Option<OpenTelemetryLayer<S, SdkTracer>>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = self.provider.as_ref()?.tracer(self.service);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false),
        )
    }

    /// Exports what is buffered and stops the exporter; later spans are dropped. Idempotent.
    pub fn shutdown(&mut self) {
        self.shutdown_within(SHUTDOWN_TIMEOUT);
    }

    /// [`Telemetry::shutdown`], giving up on the last export after `timeout` (an unreachable
    /// collector then costs a short-lived command at most that).
    pub fn shutdown_within(&mut self, timeout: Duration) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown_with_timeout(timeout);
        }
        if let Some((collected, config)) = self.deferred.take() {
            if let Err(e) = collected.export(&config, timeout) {
                self.problem = Some(e);
            }
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    fn export_threads() -> usize {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        dir.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|c| c.starts_with("otlp-export") || c.starts_with("OpenTelemetry"))
            .count()
    }

    #[test]
    fn no_endpoint_installs_no_exporter() {
        let before = export_threads();
        let t = Setup::new("ferry").init_from(env(&[("OTEL_SERVICE_NAME", "x")]));
        assert!(!t.is_tracing() && !t.is_exporting());
        assert!(t.problem().is_none());
        assert!(t.layer::<tracing_subscriber::Registry>().is_none());
        assert_eq!(export_threads(), before, "no batch or export thread");
        let t = Setup::new("ferry").always_on(true).init_from(env(&[]));
        assert!(t.is_tracing() && !t.is_exporting());
    }

    #[test]
    fn export_config_follows_the_otel_variables() {
        let cfg = |vars: &[(&str, &str)]| export_config(env(vars));
        assert_eq!(cfg(&[]), Ok(None));
        let ep = "http://127.0.0.1:4317";
        assert_eq!(
            cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", ep)]),
            Ok(Some(ExportConfig {
                protocol: Protocol::HttpProtobuf,
                endpoint: ep.into()
            }))
        );
        let grpc = cfg(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ep),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ]);
        assert_eq!(
            grpc.map(|c| c.map(|c| c.protocol)),
            Ok(Some(Protocol::Grpc))
        );
        let with = |extra: (&'static str, &'static str)| {
            cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", ep), extra])
        };
        assert_eq!(with(("OTEL_SDK_DISABLED", "true")), Ok(None));
        assert_eq!(with(("OTEL_TRACES_EXPORTER", "none")), Ok(None));
        assert!(with(("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")).is_err());
        assert!(with(("OTEL_TRACES_EXPORTER", "zipkin")).is_err());
    }

    #[test]
    fn service_name_prefers_the_variable_then_the_resource_then_the_binary() {
        assert_eq!(service_name(&env(&[]), "ferryd"), "ferryd");
        let attrs = ("OTEL_RESOURCE_ATTRIBUTES", "a=b, service.name=edge ,c=d");
        assert_eq!(service_name(&env(&[attrs]), "ferryd"), "edge");
        let both = [attrs, ("OTEL_SERVICE_NAME", "mine")];
        assert_eq!(service_name(&env(&both), "ferryd"), "mine");
    }
}
