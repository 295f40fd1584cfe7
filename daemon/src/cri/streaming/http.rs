//! The HTTP side: `/exec/TOKEN`, `/attach/TOKEN`, `/portforward/TOKEN` on GET or POST.
//! A request is checked (token, path, upgrade, protocol) before anything is upgraded, and
//! answered with a plain HTTP error when it fails; the session then runs on its own task.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request as HttpRequest, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming as Body;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::protocol::{self, negotiate};
use super::{session, ws, Request};
use crate::cri::Cri;

pub type Reply = Response<Full<Bytes>>;

/// Accepts connections until `stop`; sessions under way are not waited for.
pub async fn serve(listener: TcpListener, cri: Arc<Cri>, stop: CancellationToken) {
    loop {
        let tcp = tokio::select! {
            a = listener.accept() => a,
            () = stop.cancelled() => return,
        };
        let Ok((tcp, _)) = tcp else { continue };
        let cri = Arc::clone(&cri);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(req, Arc::clone(&cri)));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "streaming connection");
            }
        });
    }
}

async fn handle(req: HttpRequest<Body>, cri: Arc<Cri>) -> Result<Reply, Infallible> {
    Ok(route(req, cri).unwrap_or_else(|(code, msg)| plain(code, msg)))
}

fn route(req: HttpRequest<Body>, cri: Arc<Cri>) -> Result<Reply, (StatusCode, String)> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "GET or POST only".into()));
    }
    let (kind, token) =
        split_path(req.uri().path()).ok_or((StatusCode::NOT_FOUND, "no such endpoint".into()))?;
    // The token is spent even when the request then fails: single use means single try.
    let r = cri
        .streaming
        .take(token)
        .filter(|r| r.kind() == kind)
        .ok_or((StatusCode::NOT_FOUND, "unknown or expired token".into()))?;
    if ws::is_websocket(&req) {
        return ws::accept(req, r, cri);
    }
    let spdy = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("SPDY/3.1"));
    if !spdy {
        let msg = "this endpoint needs an Upgrade to SPDY/3.1 or a WebSocket";
        return Err((StatusCode::BAD_REQUEST, msg.into()));
    }
    spdy_upgrade(req, r, cri)
}

/// `/exec/TOKEN` → ("exec", "TOKEN").
pub fn split_path(path: &str) -> Option<(&str, &str)> {
    let (kind, token) = path.strip_prefix('/')?.split_once('/')?;
    let known = matches!(kind, "exec" | "attach" | "portforward");
    (known && !token.is_empty() && !token.contains('/')).then_some((kind, token))
}

fn spdy_upgrade(
    mut req: HttpRequest<Body>,
    r: Request,
    cri: Arc<Cri>,
) -> Result<Reply, (StatusCode, String)> {
    let ours = match r {
        Request::PortForward(_) => protocol::SPDY_PORTFORWARD,
        _ => protocol::SPDY_REMOTECOMMAND,
    };
    let offered = req.headers().get_all("x-stream-protocol-version");
    let offered = offered.iter().filter_map(|v| v.to_str().ok());
    let chosen = negotiate(offered, ours).map_err(|_| refuse(ours))?;
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(up) => session::spdy(cri, r, TokioIo::new(up), chosen).await,
            Err(e) => tracing::debug!(error = %e, "spdy upgrade"),
        }
    });
    let mut resp = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1");
    if let Some(p) = chosen {
        resp = resp.header("X-Stream-Protocol-Version", p);
    }
    resp.body(Full::default())
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn refuse(ours: &[&str]) -> (StatusCode, String) {
    let msg = format!(
        "unable to upgrade: unable to negotiate protocol: server supports {}",
        ours.join(", ")
    );
    (StatusCode::FORBIDDEN, msg)
}

pub fn plain(code: StatusCode, msg: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(msg)));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::split_path;

    #[test]
    fn paths_name_a_kind_and_a_token() {
        assert_eq!(split_path("/exec/abc"), Some(("exec", "abc")));
        assert_eq!(
            split_path("/portforward/x-y_z"),
            Some(("portforward", "x-y_z"))
        );
        for bad in ["/exec/", "/exec", "/shell/abc", "/exec/a/b", "", "/"] {
            assert_eq!(split_path(bad), None, "{bad}");
        }
    }
}
