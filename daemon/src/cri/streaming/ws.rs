//! WebSockets (to come).

use std::sync::Arc;

use http::{Request as HttpRequest, StatusCode};
use hyper::body::Incoming as Body;

use super::http::Reply;
use super::Request;
use crate::cri::Cri;

pub fn is_websocket<B>(req: &HttpRequest<B>) -> bool {
    req.headers()
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

pub fn accept(
    _req: HttpRequest<Body>,
    _r: Request,
    _cri: Arc<Cri>,
) -> Result<Reply, (StatusCode, String)> {
    Err((
        StatusCode::BAD_REQUEST,
        "websockets are not served yet".into(),
    ))
}
