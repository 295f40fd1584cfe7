//! The gRPC channel to ferryd over its unix socket.

use std::path::PathBuf;

use anyhow::bail;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::errors::CannotConnect;

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
        .map_err(|_| CannotConnect(host.to_string()).into())
}
