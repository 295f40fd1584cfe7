//! `ferry.system.v1.System`: what spans the services (`system df`).

use std::sync::Arc;

use ferry_image_service::services::convert::disk_usage_images;
use ferry_image_service::store::Store;
use ferry_proto::system::v1 as pb;
use tonic::{Request, Response, Status};

use super::to_status;
use crate::containers::Containers;
use crate::error::Error;
use crate::usage::{self, DiskUsage};

#[derive(Debug, Clone)]
pub struct SystemService {
    store: Arc<Store>,
    containers: Arc<Containers>,
}

impl SystemService {
    pub fn new(store: Arc<Store>, containers: Arc<Containers>) -> Self {
        SystemService { store, containers }
    }
}

#[tonic::async_trait]
impl pb::system_server::System for SystemService {
    #[tracing::instrument(skip_all)]
    async fn disk_usage(
        &self,
        _req: Request<pb::DiskUsageRequest>,
    ) -> Result<Response<pb::DiskUsageResponse>, Status> {
        let (store, containers) = (Arc::clone(&self.store), Arc::clone(&self.containers));
        let du = tokio::task::spawn_blocking(move || usage::disk_usage(&store, &containers))
            .await
            .map_err(|e| to_status(&Error::Blocking("disk usage", e.to_string())))?
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(disk_usage(du)))
    }
}

fn disk_usage(du: DiskUsage) -> pb::DiskUsageResponse {
    pb::DiskUsageResponse {
        layers_size: du.images.layers_size,
        images: disk_usage_images(&du.images),
        containers: du
            .containers
            .into_iter()
            .map(|c| pb::ContainerUsage {
                active: c.record.state.is_live(),
                state: c.record.state.as_str().to_string(),
                id: c.record.id,
                name: c.record.name,
                image: c.record.config.image,
                size_rw: c.size_rw,
            })
            .collect(),
        volumes: du
            .volumes
            .into_iter()
            .map(|v| pb::VolumeUsage {
                name: v.name,
                size: v.size,
                links: i64::try_from(v.links).unwrap_or(i64::MAX),
            })
            .collect(),
    }
}
