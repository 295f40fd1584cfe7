//! A real OTLP trace receiver, in the test process: the OTLP `TraceService` (from the
//! OpenTelemetry protocol definitions, `opentelemetry-proto`) served by tonic on a loopback
//! port, and OTLP/HTTP (`POST /v1/traces`, protobuf) on another. Every span received is kept,
//! flattened, with its resource's `service.name`.

use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message as _;

use crate::http::{header_value, parse_head, read_head};
use crate::wait_until;

/// One received span.
#[derive(Debug, Clone)]
pub struct RecvSpan {
    /// The resource's `service.name`.
    pub service: String,
    pub name: String,
    /// Hex, as `ferry --debug` prints it.
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// OTLP `SpanKind`: 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// OTLP `StatusCode`: 0 unset, 1 ok, 2 error.
    pub status: i32,
    /// Attributes, values as text.
    pub attributes: Vec<(String, String)>,
    /// Resource attributes, values as text.
    pub resource: Vec<(String, String)>,
    pub duration: Duration,
}

impl RecvSpan {
    /// The attribute `key`, as text.
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Spans = Arc<Mutex<Vec<RecvSpan>>>;

/// The receiver; stops when dropped.
#[derive(Debug)]
pub struct OtlpSink {
    grpc: SocketAddr,
    http: SocketAddr,
    spans: Spans,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpSink {
    /// Serves gRPC and HTTP on `127.0.0.1:0`.
    pub fn start() -> OtlpSink {
        Self::start_on("127.0.0.1:0")
    }

    /// Serves gRPC on `addr` (HTTP on a free port beside it).
    pub fn start_on(addr: &str) -> OtlpSink {
        let grpc = TcpListener::bind(addr).expect("bind OTLP gRPC listener");
        let http = TcpListener::bind("127.0.0.1:0").expect("bind OTLP HTTP listener");
        let (grpc_addr, http_addr) = (
            grpc.local_addr().expect("grpc addr"),
            http.local_addr().expect("http addr"),
        );
        let spans = Spans::default();
        let s = Arc::clone(&spans);
        std::thread::spawn(move || serve_http(http, &s));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let s = Arc::clone(&spans);
        let thread = std::thread::spawn(move || serve_grpc(grpc, s, stopped));
        OtlpSink {
            grpc: grpc_addr,
            http: http_addr,
            spans,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` of the gRPC receiver.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// `http://127.0.0.1:PORT` of the HTTP receiver (the exporter appends `/v1/traces`).
    pub fn http_endpoint(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<RecvSpan> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<RecvSpan> {
        let mut t = self.spans();
        t.retain(|s| s.trace_id == trace_id);
        t
    }

    /// Waits until `cond` holds for the spans received.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&[RecvSpan]) -> bool) -> bool {
        wait_until(timeout, || cond(&self.spans()))
    }
}

impl Drop for OtlpSink {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Receiver {
    spans: Spans,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        keep(&self.spans, req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn serve_grpc(listener: TcpListener, spans: Spans, stop: tokio::sync::oneshot::Receiver<()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("OTLP sink runtime");
    rt.block_on(async move {
        listener.set_nonblocking(true).expect("nonblocking");
        let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let svc = TraceServiceServer::new(Receiver { spans });
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(l),
                async {
                    let _ = stop.await;
                },
            )
            .await;
    });
}

/// A thread per connection: exporters keep theirs alive between batches.
fn serve_http(listener: TcpListener, spans: &Spans) {
    for conn in listener.incoming().flatten() {
        let spans = Arc::clone(spans);
        std::thread::spawn(move || answer_http(conn, &spans));
    }
}

/// Answers each `POST /v1/traces` on the connection until the client closes it.
fn answer_http(conn: TcpStream, spans: &Spans) -> io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    while let Some(head) = read_head(&mut reader)? {
        let (_line, headers) = parse_head(&head)?;
        let len: usize = header_value(&headers, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        if let Ok(req) = ExportTraceServiceRequest::decode(body.as_slice()) {
            keep(spans, req);
        }
        let reply = ExportTraceServiceResponse::default().encode_to_vec();
        let mut w = &conn;
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )?;
        w.write_all(&reply)?;
    }
    Ok(())
}

fn keep(spans: &Spans, req: ExportTraceServiceRequest) {
    let mut out = spans.lock().unwrap_or_else(PoisonError::into_inner);
    for rs in req.resource_spans {
        let resource: Vec<(String, String)> = rs
            .resource
            .map(|r| r.attributes.iter().map(text).collect())
            .unwrap_or_default();
        let service = resource
            .iter()
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(RecvSpan {
                    service: service.clone(),
                    name: s.name,
                    trace_id: hex::encode(&s.trace_id),
                    span_id: hex::encode(&s.span_id),
                    parent_span_id: hex::encode(&s.parent_span_id),
                    kind: s.kind,
                    status: s.status.map_or(0, |st| st.code),
                    attributes: s.attributes.iter().map(text).collect(),
                    resource: resource.clone(),
                    duration: Duration::from_nanos(
                        s.end_time_unix_nano.saturating_sub(s.start_time_unix_nano),
                    ),
                });
            }
        }
    }
}

fn text(kv: &KeyValue) -> (String, String) {
    let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    (kv.key.clone(), v)
}
