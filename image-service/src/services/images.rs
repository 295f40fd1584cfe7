//! `ferry.images.v1.Images`: each call converts, calls one domain function, converts back.

use std::pin::Pin;
use std::sync::Arc;

use ferry_proto::images::v1 as pb;
use futures::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{convert, registry_convert, to_status};
use crate::archive;
use crate::error::{Error, Result};
use crate::images::{inspect, list, remove, tag, usage, ImageRecord};
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
        self.store.meta.resolve_image(query)
    }

    fn list(&self, reference: &str, filters: &[String]) -> Result<Vec<list::Listed>> {
        let filters = list::Filters::parse(filters)?;
        let all = list::listed(&self.store, filters.wants_labels())?;
        let created_of = |q: &str| Ok(self.resolve(q)?.created);
        list::select(all, reference, &filters, &created_of)
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

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Metadata(format!("blocking task: {e}")))?
}

type PullStream = Pin<Box<dyn Stream<Item = Result<pb::PullEvent, Status>> + Send>>;
type SaveStream = Pin<Box<dyn Stream<Item = Result<pb::ArchiveChunk, Status>> + Send>>;
type PushStream = Pin<Box<dyn Stream<Item = Result<pb::PushEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::images_server::Images for ImagesService {
    type PullStream = PullStream;
    type SaveStream = SaveStream;
    type PushStream = PushStream;

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
        // In the request's span, so the pull's spans join the caller's trace.
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            puller.pull(&reference, &platform, tx, cancel).await
        }));
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
        let req = req.into_inner();
        let images = self
            .list(&req.reference, &req.filters)
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::ListImagesResponse {
            images: images.iter().map(convert::listed).collect(),
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

    #[tracing::instrument(skip_all, fields(source = %req.get_ref().source, target = %req.get_ref().target))]
    async fn tag(
        &self,
        req: Request<pb::TagImageRequest>,
    ) -> Result<Response<pb::TagImageResponse>, Status> {
        let pb::TagImageRequest { source, target } = req.into_inner();
        let store = Arc::clone(&self.store);
        blocking(move || tag::tag(&store, &source, &target))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::TagImageResponse {}))
    }

    #[tracing::instrument(skip_all, fields(image = %req.get_ref().image))]
    async fn remove(
        &self,
        req: Request<pb::RemoveImageRequest>,
    ) -> Result<Response<pb::RemoveImageResponse>, Status> {
        let pb::RemoveImageRequest {
            image,
            force,
            images,
        } = req.into_inner();
        let store = Arc::clone(&self.store);
        if images.is_empty() {
            let removed = blocking(move || remove::remove(&store, &image, force))
                .await
                .map_err(|e| to_status(&e))?;
            return Ok(Response::new(pb::RemoveImageResponse {
                items: removed.into_iter().map(convert::delete_item).collect(),
                results: Vec::new(),
            }));
        }
        let names: Vec<String> = std::iter::once(image).chain(images).collect();
        let asked = names.clone();
        let results = blocking(move || remove::remove_many(&store, &asked, force))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::RemoveImageResponse {
            items: Vec::new(),
            results: names
                .into_iter()
                .zip(results)
                .map(|(name, r)| convert::remove_result(name, r))
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(image = %req.get_ref().image))]
    async fn inspect(
        &self,
        req: Request<pb::InspectImageRequest>,
    ) -> Result<Response<pb::InspectImageResponse>, Status> {
        let image = req.into_inner().image;
        let store = Arc::clone(&self.store);
        let value = blocking(move || inspect::inspect(&store, &image))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::InspectImageResponse {
            json: value.to_string(),
        }))
    }

    #[tracing::instrument(skip_all, fields(image = %req.get_ref().image))]
    async fn history(
        &self,
        req: Request<pb::ImageHistoryRequest>,
    ) -> Result<Response<pb::ImageHistoryResponse>, Status> {
        let image = req.into_inner().image;
        let store = Arc::clone(&self.store);
        let entries = blocking(move || inspect::history(&store, &image))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::ImageHistoryResponse {
            entries: entries.into_iter().map(convert::history_entry).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn prune(
        &self,
        req: Request<pb::PruneImagesRequest>,
    ) -> Result<Response<pb::PruneImagesResponse>, Status> {
        let all = req.into_inner().all;
        let store = Arc::clone(&self.store);
        let pruned = blocking(move || usage::prune(&store, all))
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::PruneImagesResponse {
            items: pruned
                .removed
                .into_iter()
                .map(convert::delete_item)
                .collect(),
            space_reclaimed: pruned.space_reclaimed,
        }))
    }

    #[tracing::instrument(skip_all, fields(images = ?req.get_ref().images))]
    async fn save(
        &self,
        req: Request<pb::SaveImagesRequest>,
    ) -> Result<Response<SaveStream>, Status> {
        let images = req.into_inner().images;
        let store = Arc::clone(&self.store);
        let plan = blocking(move || archive::plan_save(&store, &images))
            .await
            .map_err(|e| to_status(&e))?;
        let lease = self.store.leases.acquire(plan.blobs());
        let (tx, mut rx) = mpsc::channel(4);
        let store = Arc::clone(&self.store);
        let task = tokio::task::spawn_blocking(move || {
            let _lease = lease;
            archive::write_archive(&store, &plan, archive::ChunkWriter::new(tx))
        });
        let stream = async_stream::stream! {
            while let Some(data) = rx.recv().await {
                yield Ok(pb::ArchiveChunk { data: data.to_vec() });
            }
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => yield Err(to_status(&e)),
                Err(e) => yield Err(Status::internal(format!("save task: {e}"))),
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all)]
    async fn load(
        &self,
        req: Request<tonic::Streaming<pb::ArchiveChunk>>,
    ) -> Result<Response<pb::LoadImagesResponse>, Status> {
        use crate::pull::reader::Chunk;
        let mut input = req.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let feed = async move {
            while let Some(c) = input.message().await? {
                if tx.send(Chunk::Data(c.data.into())).await.is_err() {
                    return Ok(());
                }
            }
            let _ = tx.send(Chunk::End).await;
            Ok::<_, Status>(())
        };
        let limits = archive::SpoolLimits::default();
        let puller = Arc::clone(&self.puller);
        // A task of its own: if the client goes away, the load still sees its input end, fails
        // and collects what it committed, instead of being dropped half-way.
        let load = tokio::spawn(tracing::Instrument::in_current_span(async move {
            archive::load(&puller, rx, limits).await
        }));
        let (fed, loaded) = tokio::join!(feed, load);
        fed?;
        let images = loaded
            .map_err(|e| Status::internal(format!("load task: {e}")))?
            .map_err(|e| to_status(&e))?;
        let images = images
            .into_iter()
            .map(|l| pb::LoadedImage {
                name: l.name.unwrap_or_default(),
                id: l.id,
                replaced_id: l.replaced_id.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::LoadImagesResponse { images }))
    }

    #[tracing::instrument(skip_all, fields(reference = %req.get_ref().reference))]
    async fn push(&self, req: Request<pb::PushRequest>) -> Result<Response<PushStream>, Status> {
        let reference = req.into_inner().reference;
        let (tx, mut rx) = mpsc::channel(64);
        let puller = Arc::clone(&self.puller);
        // Aborted when the response stream is dropped (the client went away).
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            crate::push::push(&puller, &reference, tx).await
        }));
        let abort = task.abort_handle();
        let stream = async_stream::stream! {
            let _abort = AbortOnDrop(abort);
            while let Some(ev) = rx.recv().await {
                yield Ok(registry_convert::push_event(ev));
            }
            match task.await {
                Ok(Ok(done)) => yield Ok(registry_convert::push_done(done)),
                Ok(Err(e)) => yield Err(to_status(&e)),
                Err(e) => yield Err(Status::internal(format!("push task: {e}"))),
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(server = %req.get_ref().server))]
    async fn login(
        &self,
        req: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let pb::LoginRequest {
            server,
            username,
            password,
        } = req.into_inner();
        crate::registries::login(&self.puller.registry, &server, &username, &password)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::LoginResponse {}))
    }

    #[tracing::instrument(skip_all, fields(term = %req.get_ref().term))]
    async fn search(
        &self,
        req: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let pb::SearchRequest { term, limit } = req.into_inner();
        let results = crate::registries::search(&self.puller.registry, &term, limit)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(pb::SearchResponse {
            results: results
                .into_iter()
                .map(registry_convert::search_result)
                .collect(),
        }))
    }
}

/// Aborts the push task when the response stream is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
