//! `GET /metrics` over HTTP/1 (hyper), in the OpenMetrics text format.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Metrics;
use crate::containers::Containers;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Metrics {
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
