//! ferryd's Prometheus metrics, served in the OpenMetrics text format by `--metrics-addr`.
//!
//! | metric | kind | updated |
//! |---|---|---|
//! | `ferryd_pulls_total{outcome}` | counter | when a pull returns: `pulled`, `up_to_date`, `failed`, `cancelled` |
//! | `ferryd_pull_bytes_total` | counter | as registry bytes arrive (layers; manifests and configs are small) |
//! | `ferryd_pull_layer_duration_seconds` | histogram | per fetched layer: download, verify and extract |
//! | `ferryd_containers{state}` | gauge | on scrape, from the container table |
//! | `ferryd_shims` | gauge | on scrape: shims ferryd holds a connection to |
//! | `ferryd_grpc_request_duration_seconds{method}` | histogram | per RPC, to its response headers (for streams: to the stream's start) |
//!
//! One registry per ferryd, passed as a handle ([`Metrics`]); the domain modules only call
//! the small recording methods.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::containers::{Containers, State};
use crate::error::{Error, Result};
use crate::pull::PullOutcome;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// ferryd's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pulls: Family<Outcome, Counter>,
    pull_bytes: Counter,
    layer_seconds: Histogram,
    containers: Family<StateLabel, Gauge>,
    shims: Gauge,
    rpc_seconds: HistogramFamily<Method>,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("ferryd")),
            pulls: Family::default(),
            pull_bytes: Counter::default(),
            // 10 ms .. ~5 min
            layer_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 15)),
            containers: Family::default(),
            shims: Gauge::default(),
            rpc_seconds: Family::new_with_constructor(rpc_histogram),
        };
        {
            let mut r = m.registry.lock().expect("registry lock is never poisoned");
            r.register("pulls", "Image pulls, by outcome", m.pulls.clone());
            r.register(
                "pull_bytes",
                "Bytes fetched from registries",
                m.pull_bytes.clone(),
            );
            r.register(
                "pull_layer_duration_seconds",
                "Time to download, verify and extract one layer",
                m.layer_seconds.clone(),
            );
            r.register("containers", "Containers, by state", m.containers.clone());
            r.register("shims", "Shims ferryd is connected to", m.shims.clone());
            r.register(
                "grpc_request_duration_seconds",
                "gRPC requests to ferryd, to the response headers",
                m.rpc_seconds.clone(),
            );
        }
        m
    }
}

fn rpc_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// A pull returned.
    pub(crate) fn pulled(&self, res: &Result<PullOutcome>) {
        let outcome = match res {
            Ok(o) if o.up_to_date => "up_to_date",
            Ok(_) => "pulled",
            Err(Error::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
        self.pulls.get_or_create(&Outcome { outcome }).inc();
    }

    /// Bytes arrived from a registry.
    pub(crate) fn fetched(&self, n: usize) {
        self.pull_bytes.inc_by(n as u64);
    }

    /// A layer was downloaded and extracted in `since.elapsed()`.
    pub(crate) fn layer_done(&self, since: Instant) {
        self.layer_seconds.observe(since.elapsed().as_secs_f64());
    }

    /// The text exposition, with the container figures read now.
    pub fn render(&self, containers: &Containers) -> String {
        self.refresh(containers);
        let mut out = String::new();
        let r = self
            .registry
            .lock()
            .expect("registry lock is never poisoned");
        if prometheus_client::encoding::text::encode(&mut out, &r).is_err() {
            out.clear();
        }
        out
    }

    fn refresh(&self, containers: &Containers) {
        const STATES: [State; 6] = [
            State::Created,
            State::Running,
            State::Paused,
            State::Restarting,
            State::Exited,
            State::Dead,
        ];
        let Ok(list) = containers.list() else {
            return;
        };
        for s in STATES {
            let n = list.iter().filter(|c| c.state == s).count();
            self.containers
                .get_or_create(&StateLabel { state: s.as_str() })
                .set(n as i64);
        }
        self.shims.set(containers.shim_count() as i64);
    }

    /// A tower layer timing every RPC.
    pub fn rpc_layer(self: &Arc<Self>) -> RpcLatencyLayer {
        RpcLatencyLayer(Arc::clone(self))
    }

    /// Serves `GET /metrics` on `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, containers: Arc<Containers>) {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (m, c) = (Arc::clone(&self), Arc::clone(&containers));
            let svc = hyper::service::service_fn(move |req| {
                let res = m.respond(&req, &c);
                async move { Ok::<_, Infallible>(res) }
            });
            tokio::spawn(async move {
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "metrics connection");
                }
            });
        }
    }

    fn respond<B>(
        &self,
        req: &http::Request<B>,
        containers: &Containers,
    ) -> http::Response<Full<Bytes>> {
        let (status, ctype, body) = match (req.method(), req.uri().path()) {
            (&http::Method::GET, "/metrics") => {
                (http::StatusCode::OK, CONTENT_TYPE, self.render(containers))
            }
            _ => (
                http::StatusCode::NOT_FOUND,
                "text/plain",
                "try /metrics\n".to_string(),
            ),
        };
        let mut res = http::Response::new(Full::new(Bytes::from(body)));
        *res.status_mut() = status;
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(ctype),
        );
        res
    }
}

/// Times each request into `ferryd_grpc_request_duration_seconds`.
#[derive(Debug, Clone)]
pub struct RpcLatencyLayer(Arc<Metrics>);

impl<S> tower::Layer<S> for RpcLatencyLayer {
    type Service = RpcLatency<S>;

    fn layer(&self, inner: S) -> RpcLatency<S> {
        RpcLatency {
            inner,
            metrics: Arc::clone(&self.0),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RpcLatency<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for RpcLatency<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<std::result::Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let start = Instant::now();
        let method = req.uri().path().to_string();
        let metrics = Arc::clone(&self.metrics);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            // Unknown methods (UNIMPLEMENTED) are not recorded: the label set stays bounded.
            let unimplemented = res
                .as_ref()
                .is_ok_and(|r| r.headers().get("grpc-status").map(|v| v.as_bytes()) == Some(b"12"));
            if !unimplemented {
                metrics
                    .rpc_seconds
                    .get_or_create(&Method { method })
                    .observe(start.elapsed().as_secs_f64());
            }
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_registry(m: &Metrics) -> String {
        let mut out = String::new();
        let r = m.registry.lock().unwrap();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn pulls_bytes_and_layers_show_in_the_text() {
        let m = Metrics::default();
        let ok = PullOutcome {
            reference: "r".into(),
            digest: "d".into(),
            image_id: "i".into(),
            up_to_date: false,
        };
        m.pulled(&Ok(ok.clone()));
        m.pulled(&Ok(PullOutcome {
            up_to_date: true,
            ..ok
        }));
        m.pulled(&Err(Error::Cancelled));
        m.fetched(1000);
        m.fetched(24);
        m.layer_done(Instant::now());
        let text = render_registry(&m);
        for line in [
            "ferryd_pulls_total{outcome=\"pulled\"} 1",
            "ferryd_pulls_total{outcome=\"up_to_date\"} 1",
            "ferryd_pulls_total{outcome=\"cancelled\"} 1",
            "ferryd_pull_bytes_total 1024",
            "ferryd_pull_layer_duration_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
