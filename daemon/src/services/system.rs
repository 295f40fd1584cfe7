//! `ferry.system.v1.System`: what spans the services (`system df`, `version`, `info`).

use std::sync::Arc;

use ferry_image_service::distribution::Mirror;
use ferry_image_service::services::convert::disk_usage_images;
use ferry_image_service::store::Store;
use ferry_proto::system::v1 as pb;
use tonic::{Request, Response, Status};

use super::to_status;
use crate::containers::Containers;
use crate::info::{self, Info, Settings, Version};
use crate::usage::{self, DiskUsage};

#[derive(Debug, Clone)]
pub struct SystemService {
    store: Arc<Store>,
    containers: Arc<Containers>,
    settings: Arc<Settings>,
}

impl SystemService {
    pub fn new(store: Arc<Store>, containers: Arc<Containers>, settings: Settings) -> Self {
        SystemService {
            store,
            containers,
            settings: Arc::new(settings),
        }
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
        let du =
            super::blocking("disk usage", move || usage::disk_usage(&store, &containers)).await?;
        Ok(Response::new(disk_usage(du)))
    }

    #[tracing::instrument(skip_all)]
    async fn version(
        &self,
        _req: Request<pb::VersionRequest>,
    ) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(version(info::version().await)))
    }

    #[tracing::instrument(skip_all)]
    async fn info(
        &self,
        _req: Request<pb::InfoRequest>,
    ) -> Result<Response<pb::InfoResponse>, Status> {
        let (store, containers) = (Arc::clone(&self.store), Arc::clone(&self.containers));
        let info = info::info(store, containers, &self.settings)
            .await
            .map_err(|e| to_status(&e))?;
        Ok(Response::new(info_response(info)))
    }
}

fn runtimes(rs: Vec<info::Runtime>) -> Vec<pb::Runtime> {
    rs.into_iter()
        .map(|r| pb::Runtime {
            name: r.name,
            version: r.version,
        })
        .collect()
}

fn mirror(m: &Mirror) -> pb::RegistryMirror {
    pb::RegistryMirror {
        registry: m.registry.clone(),
        url: m.url.clone(),
    }
}

fn version(v: Version) -> pb::VersionResponse {
    pb::VersionResponse {
        version: v.version.into(),
        api_version: v.api_version.into(),
        rust_version: v.rust_version.into(),
        git_commit: v.git_commit.into(),
        build_time: v.build_time.into(),
        os: v.os.into(),
        arch: v.arch.into(),
        kernel_version: v.kernel_version,
        runtimes: runtimes(v.runtimes),
        default_runtime: v.default_runtime.into(),
    }
}

fn info_response(i: Info) -> pb::InfoResponse {
    pb::InfoResponse {
        containers: i.counts.containers,
        containers_running: i.counts.running,
        containers_paused: i.counts.paused,
        containers_stopped: i.counts.stopped,
        images: i.counts.images,
        server_version: ferry_proto::build_info::VERSION.into(),
        storage_driver: info::STORAGE_DRIVER.into(),
        logging_driver: info::LOGGING_DRIVER.into(),
        cgroup_driver: info::CGROUP_DRIVER.into(),
        cgroup_version: i.host.cgroup_version.as_str().into(),
        runtimes: runtimes(i.runtimes),
        default_runtime: i.default_runtime.into(),
        kernel_version: i.host.kernel_version,
        operating_system: i.host.operating_system,
        os_type: std::env::consts::OS.into(),
        architecture: i.host.architecture,
        ncpu: i.host.ncpu,
        mem_total: i.host.mem_total,
        name: i.host.hostname,
        id: i.settings.engine_id.clone(),
        root_dir: i.settings.data_root.display().to_string(),
        debug: i.settings.debug,
        insecure_registries: i.settings.insecure_registries(),
        registry_mirrors: i.settings.docker_hub_mirrors(),
        mirrors: i.settings.registry_mirrors.iter().map(mirror).collect(),
        live_restore_enabled: true,
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
