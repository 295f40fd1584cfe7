//! `ferry.images.v1.Images`: each call converts, calls one domain function, converts back.

use std::pin::Pin;
use std::sync::Arc;

use ferry_proto::images::v1 as pb;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{convert, to_status};
use crate::distribution::Reference;
use crate::error::{Error, Result};
use crate::images::ImageRecord;
use crate::pull::Puller;
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct ImagesService {
    puller: Arc<Puller>,
    store: Arc<Store>,
}

impl ImagesService {
    pub fn new(puller: Arc<Puller>) -> Self {
        let store = Arc::clone(&puller.store);
        ImagesService { puller, store }
    }

    fn resolve(&self, query: &str) -> Result<ImageRecord> {
        let normalized = Reference::parse(query).ok().map(|r| r.to_string());
        self.store.meta.resolve_image(query, normalized.as_deref())
    }

    fn list(&self, filter: &str) -> Result<Vec<ImageRecord>> {
        let mut images = self.store.meta.images()?;
        if !filter.is_empty() {
            let r = Reference::parse(filter)?;
            let exact = filter
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'));
            images.retain(|i| {
                if exact {
                    i.name == r.to_string()
                } else {
                    name_of(&i.name) == r.name()
                }
            });
        }
        images.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.name.cmp(&b.name)));
        Ok(images)
    }

    async fn mount(&self, query: &str) -> Result<String> {
        let img = self.resolve(query)?;
        let chains: Vec<String> = img.chain_ids().map(str::to_string).collect();
        let store = Arc::clone(&self.store);
        let path = blocking(move || {
            let dirs = store.snapshot_dirs(&chains)?;
            Ok(store.mounts.mount(&img.config_digest, &dirs)?)
        })
        .await?;
        Ok(path.display().to_string())
    }

    async fn unmount(&self, target: &str) -> Result<()> {
        let path = std::path::PathBuf::from(target);
        let path = if self.store.mounts.is_under_root(&path) {
            path
        } else {
            self.store
                .mounts
                .path_for(&self.resolve(target)?.config_digest)
        };
        if !crate::snapshots::mounts_is_mounted(&path) {
            return Err(Error::NotMounted { path });
        }
        let store = Arc::clone(&self.store);
        blocking(move || Ok(store.mounts.unmount(&path)?)).await
    }
}

/// Repository part of a stored name: everything before the tag or digest.
fn name_of(full: &str) -> &str {
    let no_digest = full.split('@').next().unwrap_or(full);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Metadata(format!("blocking task: {e}")))?
}

type PullStream = Pin<Box<dyn Stream<Item = Result<pb::PullEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::images_server::Images for ImagesService {
    type PullStream = PullStream;

    #[tracing::instrument(skip_all, fields(reference = %req.get_ref().reference))]
    async fn pull(&self, req: Request<pb::PullRequest>) -> Result<Response<PullStream>, Status> {
        let pb::PullRequest {
            reference,
            platform,
        } = req.into_inner();
        let (tx, mut rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        // Dropped with the response stream, i.e. when the client goes away: cancels the pull.
        let guard = cancel.clone().drop_guard();
        let puller = Arc::clone(&self.puller);
        let task =
            tokio::spawn(async move { puller.pull(&reference, &platform, tx, cancel).await });
        let stream = async_stream::stream! {
            let _guard = guard;
            while let Some(ev) = rx.recv().await {
                yield Ok(convert::event(ev));
            }
            match task.await {
                Ok(Ok(done)) => yield Ok(convert::done(done)),
                Ok(Err(e)) => yield Err(to_status(&e)),
                Err(e) => yield Err(Status::internal(format!("pull task: {e}"))),
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        req: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        let images = self
            .list(&req.get_ref().reference)
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::ListImagesResponse {
            images: images.iter().map(convert::image).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(image = %req.get_ref().image))]
    async fn mount(
        &self,
        req: Request<pb::MountImageRequest>,
    ) -> Result<Response<pb::MountImageResponse>, Status> {
        let path = self
            .mount(&req.get_ref().image)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::MountImageResponse { path }))
    }

    #[tracing::instrument(skip_all, fields(target = %req.get_ref().target))]
    async fn unmount(
        &self,
        req: Request<pb::UnmountImageRequest>,
    ) -> Result<Response<pb::UnmountImageResponse>, Status> {
        self.unmount(&req.get_ref().target)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::UnmountImageResponse {}))
    }
}

#[cfg(test)]
mod tests {
    use super::name_of;

    #[test]
    fn name_of_strips_tag_and_digest_but_not_port() {
        assert_eq!(
            name_of("docker.io/library/busybox:latest"),
            "docker.io/library/busybox"
        );
        assert_eq!(name_of("127.0.0.1:5000/a/b:t"), "127.0.0.1:5000/a/b");
        assert_eq!(
            name_of("127.0.0.1:5000/a/b@sha256:ab"),
            "127.0.0.1:5000/a/b"
        );
    }
}
