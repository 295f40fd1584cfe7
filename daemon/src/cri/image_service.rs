//! `runtime.v1.ImageService`: a thin translator onto the image service (the same store the CLI
//! uses: `ferry images` shows what the kubelet pulled).

use std::sync::Arc;

use ferry_image_service::images::ImageRecord;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_server::ImageService;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::Cri;
use crate::error::Error;
use crate::services::to_status;

type Reply<T> = Result<Response<T>, Status>;

fn st(e: Error) -> Status {
    to_status(&e)
}

#[derive(Debug, Clone)]
pub struct ImageServiceImpl {
    cri: Arc<Cri>,
}

impl ImageServiceImpl {
    pub fn new(cri: Arc<Cri>) -> Self {
        ImageServiceImpl { cri }
    }

    fn user_of(&self) -> impl Fn(&ImageRecord) -> String + '_ {
        |r| {
            self.cri
                .containers
                .image_runtime_config(r)
                .ok()
                .and_then(|c| c.user)
                .unwrap_or_default()
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Cri) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, Status> {
        let cri = Arc::clone(&self.cri);
        tokio::task::spawn_blocking(move || f(&cri))
            .await
            .map_err(|e| st(Error::Blocking("cri images", e.to_string())))?
            .map_err(st)
    }
}

fn spec_image(spec: Option<&cri::ImageSpec>) -> Result<String, Status> {
    match spec.map(|s| s.image.as_str()) {
        Some(i) if !i.is_empty() => Ok(i.to_string()),
        _ => Err(Status::invalid_argument("image spec must name an image")),
    }
}

#[tonic::async_trait]
impl ImageService for ImageServiceImpl {
    async fn list_images(
        &self,
        r: Request<cri::ListImagesRequest>,
    ) -> Reply<cri::ListImagesResponse> {
        let filter = r.into_inner().filter.and_then(|f| f.image).map(|i| i.image);
        let images = super::images::list(
            &self.cri.containers.store,
            filter.as_deref(),
            self.user_of(),
        )
        .map_err(st)?;
        Ok(Response::new(cri::ListImagesResponse { images }))
    }

    async fn image_status(
        &self,
        r: Request<cri::ImageStatusRequest>,
    ) -> Reply<cri::ImageStatusResponse> {
        let r = r.into_inner();
        let name = spec_image(r.image.as_ref())?;
        let image =
            super::images::status(&self.cri.containers.store, &name, self.user_of()).map_err(st)?;
        let mut info = std::collections::HashMap::new();
        if r.verbose {
            if let Some(i) = &image {
                let json = serde_json::json!({"id": i.id, "repoTags": i.repo_tags, "size": i.size});
                info.insert("info".to_string(), json.to_string());
            }
        }
        Ok(Response::new(cri::ImageStatusResponse { image, info }))
    }

    async fn pull_image(&self, r: Request<cri::PullImageRequest>) -> Reply<cri::PullImageResponse> {
        let r = r.into_inner();
        let name = spec_image(r.image.as_ref())?;
        // Progress events have no reader here: a small channel drained in the background.
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let out = self
            .cri
            .puller
            .pull(&name, "", tx, CancellationToken::new())
            .await
            .map_err(|e| st(Error::from(e)))?;
        Ok(Response::new(cri::PullImageResponse {
            image_ref: out.image_id,
        }))
    }

    async fn remove_image(
        &self,
        r: Request<cri::RemoveImageRequest>,
    ) -> Reply<cri::RemoveImageResponse> {
        let name = spec_image(r.into_inner().image.as_ref())?;
        self.blocking(move |cri| super::images::remove(&cri.containers.store, &name))
            .await?;
        Ok(Response::new(cri::RemoveImageResponse {}))
    }

    async fn image_fs_info(
        &self,
        _r: Request<cri::ImageFsInfoRequest>,
    ) -> Reply<cri::ImageFsInfoResponse> {
        let (used, mountpoint) = self
            .blocking(|cri| {
                let store = &cri.containers.store;
                let du = ferry_image_service::images::usage::disk_usage(store)?;
                Ok((du.layers_size, store.snapshots.root().display().to_string()))
            })
            .await?;
        let fs = cri::FilesystemUsage {
            timestamp: super::sandbox::now_ns(),
            fs_id: Some(cri::FilesystemIdentifier { mountpoint }),
            used_bytes: Some(cri::UInt64Value { value: used }),
            inodes_used: None,
        };
        Ok(Response::new(cri::ImageFsInfoResponse {
            image_filesystems: vec![fs],
            container_filesystems: Vec::new(),
        }))
    }
}
