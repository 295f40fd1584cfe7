//! `ferry.volumes.v1.Volumes`: converts, calls the container domain's volume functions, converts
//! back. The work touches files only, so it runs off the async threads.

use std::sync::Arc;

use ferry_proto::volumes::v1 as pb;
use tonic::{Request, Response, Status};

use super::to_status;
use crate::containers::volumes::VolumeUse;
use crate::containers::Containers;
use crate::error::Error;

#[derive(Debug, Clone)]
pub struct VolumesService {
    inner: Arc<Containers>,
}

impl VolumesService {
    pub fn new(inner: Arc<Containers>) -> Self {
        VolumesService { inner }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Containers>) -> crate::Result<T> + Send + 'static,
    ) -> Result<T, Status> {
        let inner = Arc::clone(&self.inner);
        super::blocking("volumes", move || f(inner)).await
    }
}

fn volume(c: &Containers, (v, users): VolumeUse) -> pb::Volume {
    pb::Volume {
        mountpoint: c.volumes.data_dir(&v.name).display().to_string(),
        name: v.name,
        driver: "local".into(),
        created_at: v.created_at,
        labels: v.labels.into_iter().collect(),
        options: Default::default(),
        users,
        anonymous: v.anonymous,
    }
}

#[tonic::async_trait]
impl pb::volumes_server::Volumes for VolumesService {
    #[tracing::instrument(skip_all, fields(name = %req.get_ref().name))]
    async fn create(
        &self,
        req: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let r = req.into_inner();
        if !matches!(r.driver.as_str(), "" | "local") {
            return Err(to_status(&Error::NotFound(format!(
                "error looking up volume plugin {}: plugin \"{}\" not found",
                r.driver, r.driver
            ))));
        }
        if let Some(k) = r.options.keys().next() {
            return Err(to_status(&Error::InvalidArgument(format!(
                "invalid option: {k:?}: ferry's local driver takes no options"
            ))));
        }
        let v = self
            .blocking(move |c| {
                let v = c.volume_create(&r.name, r.labels.into_iter().collect())?;
                let users = c.volume_users(&v.name)?;
                Ok(volume(&c, (v, users)))
            })
            .await?;
        Ok(Response::new(v))
    }

    #[tracing::instrument(skip_all)]
    async fn list(
        &self,
        _req: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesResponse>, Status> {
        let volumes = self
            .blocking(|c| {
                Ok(c.volume_list()?
                    .into_iter()
                    .map(|u| volume(&c, u))
                    .collect())
            })
            .await?;
        Ok(Response::new(pb::ListVolumesResponse { volumes }))
    }

    #[tracing::instrument(skip_all, fields(name = %req.get_ref().name))]
    async fn inspect(
        &self,
        req: Request<pb::InspectVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let name = req.into_inner().name;
        let v = self
            .blocking(move |c| Ok(volume(&c, c.volume_inspect(&name)?)))
            .await?;
        Ok(Response::new(v))
    }

    #[tracing::instrument(skip_all, fields(name = %req.get_ref().name))]
    async fn remove(
        &self,
        req: Request<pb::RemoveVolumeRequest>,
    ) -> Result<Response<pb::RemoveVolumeResponse>, Status> {
        let r = req.into_inner();
        self.blocking(move |c| c.volume_remove(&r.name, r.force))
            .await?;
        Ok(Response::new(pb::RemoveVolumeResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn prune(
        &self,
        req: Request<pb::PruneVolumesRequest>,
    ) -> Result<Response<pb::PruneVolumesResponse>, Status> {
        let all = req.into_inner().all;
        let (deleted, space_reclaimed) = self.blocking(move |c| c.volume_prune(all)).await?;
        Ok(Response::new(pb::PruneVolumesResponse {
            deleted,
            space_reclaimed,
        }))
    }
}
