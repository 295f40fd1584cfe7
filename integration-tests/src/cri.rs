//! A CRI v1 client for the tests, from the same bindings ferryd serves (`k8s-cri`), over the
//! daemon's CRI socket, with a runtime of its own so sync tests can drive it.

use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Debug)]
pub struct CriClient {
    pub rt: tokio::runtime::Runtime,
    pub runtime: RuntimeServiceClient<Channel>,
    pub images: ImageServiceClient<Channel>,
}

impl CriClient {
    /// Connects to `socket` (ferryd's `--cri-socket`).
    pub fn connect(socket: &Path) -> CriClient {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let path: PathBuf = socket.to_path_buf();
        let channel = rt
            .block_on(async {
                Endpoint::try_from("http://cri.local")?
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let p = path.clone();
                        async move {
                            Ok::<_, std::io::Error>(TokioIo::new(
                                tokio::net::UnixStream::connect(p).await?,
                            ))
                        }
                    }))
                    .await
            })
            .unwrap_or_else(|e| panic!("connect to {}: {e}", socket.display()));
        CriClient {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// Runs one call to completion.
    pub fn call<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}
