//! Times each gRPC request into `ferryd_grpc_request_duration_seconds`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::{Method, Metrics};

#[derive(Debug, Clone)]
pub struct RpcLatencyLayer(pub(super) Arc<Metrics>);

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
