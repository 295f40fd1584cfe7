//! `runtime.v1.RuntimeService`: a thin translator from the CRI's messages to the sandbox and
//! container domain. Exec, Attach and PortForward answer a URL on the streaming server
//! (`streaming/`); checkpoints and the metrics RPCs answer Unimplemented.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_server::RuntimeService;
use tonic::{Request, Response, Status};

use super::convert;
use super::Cri;
use crate::containers::ContainerRecord;
use crate::error::Error;
use crate::services::to_status;

/// The CRI version this runtime speaks.
pub const CRI_VERSION: &str = "v1";

type Reply<T> = Result<Response<T>, Status>;

fn st(e: Error) -> Status {
    to_status(&e)
}

#[derive(Debug, Clone)]
pub struct RuntimeServiceImpl {
    cri: Arc<Cri>,
}

impl RuntimeServiceImpl {
    pub fn new(cri: Arc<Cri>) -> Self {
        RuntimeServiceImpl { cri }
    }

    /// Image ID → repo digest, for the containers' `image_ref` (one read of the images).
    fn repo_digests(&self) -> Result<std::collections::HashMap<String, String>, Status> {
        super::images::repo_digests(&self.cri.containers.store).map_err(st)
    }

    fn pod_containers(&self) -> Result<Vec<ContainerRecord>, Status> {
        let all = self.cri.containers.list().map_err(st)?;
        Ok(all.into_iter().filter(|c| c.config.pod.is_some()).collect())
    }
}

#[tonic::async_trait]
impl RuntimeService for RuntimeServiceImpl {
    async fn version(&self, _r: Request<cri::VersionRequest>) -> Reply<cri::VersionResponse> {
        Ok(Response::new(cri::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "ferry".into(),
            runtime_version: ferry_proto::build_info::VERSION.into(),
            runtime_api_version: CRI_VERSION.into(),
        }))
    }

    async fn run_pod_sandbox(
        &self,
        r: Request<cri::RunPodSandboxRequest>,
    ) -> Reply<cri::RunPodSandboxResponse> {
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| Status::invalid_argument("missing sandbox config"))?;
        let id = self
            .cri
            .sandboxes
            .run(config, r.runtime_handler)
            .await
            .map_err(st)?;
        Ok(Response::new(cri::RunPodSandboxResponse {
            pod_sandbox_id: id,
        }))
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<cri::StopPodSandboxRequest>,
    ) -> Reply<cri::StopPodSandboxResponse> {
        let id = r.into_inner().pod_sandbox_id;
        self.cri.sandboxes.stop(&id).await.map_err(st)?;
        Ok(Response::new(cri::StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<cri::RemovePodSandboxRequest>,
    ) -> Reply<cri::RemovePodSandboxResponse> {
        let id = r.into_inner().pod_sandbox_id;
        self.cri.sandboxes.remove(&id).await.map_err(st)?;
        Ok(Response::new(cri::RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<cri::PodSandboxStatusRequest>,
    ) -> Reply<cri::PodSandboxStatusResponse> {
        let r = r.into_inner();
        let sb = self.cri.sandboxes.get(&r.pod_sandbox_id).map_err(st)?;
        let mut info = std::collections::HashMap::new();
        if r.verbose {
            let json = serde_json::json!({
                "id": sb.id, "config": sb.config, "namespaces": sb.namespaces,
                "network": sb.net, "runtimeHandler": sb.runtime_handler,
            });
            info.insert("info".to_string(), json.to_string());
        }
        Ok(Response::new(cri::PodSandboxStatusResponse {
            status: Some(convert::sandbox_status(&sb)),
            info,
            containers_statuses: Vec::new(),
            timestamp: super::sandbox::now_ns(),
        }))
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<cri::ListPodSandboxRequest>,
    ) -> Reply<cri::ListPodSandboxResponse> {
        let filter = r.into_inner().filter.unwrap_or_default();
        let items = self.cri.sandboxes.list().map_err(st)?;
        let items = items
            .iter()
            .map(convert::sandbox)
            .filter(|s| convert::sandbox_matches(&filter, s))
            .collect();
        Ok(Response::new(cri::ListPodSandboxResponse { items }))
    }

    async fn create_container(
        &self,
        r: Request<cri::CreateContainerRequest>,
    ) -> Reply<cri::CreateContainerResponse> {
        let r = r.into_inner();
        let config = r
            .config
            .ok_or_else(|| Status::invalid_argument("missing container config"))?;
        let id = self
            .cri
            .create_container(&r.pod_sandbox_id, &config)
            .await
            .map_err(st)?;
        Ok(Response::new(cri::CreateContainerResponse {
            container_id: id,
        }))
    }

    async fn start_container(
        &self,
        r: Request<cri::StartContainerRequest>,
    ) -> Reply<cri::StartContainerResponse> {
        let id = r.into_inner().container_id;
        self.cri.start_container(&id).await.map_err(st)?;
        Ok(Response::new(cri::StartContainerResponse {}))
    }

    async fn stop_container(
        &self,
        r: Request<cri::StopContainerRequest>,
    ) -> Reply<cri::StopContainerResponse> {
        let r = r.into_inner();
        self.cri
            .stop_container(&r.container_id, r.timeout)
            .await
            .map_err(st)?;
        Ok(Response::new(cri::StopContainerResponse {}))
    }

    async fn remove_container(
        &self,
        r: Request<cri::RemoveContainerRequest>,
    ) -> Reply<cri::RemoveContainerResponse> {
        let id = r.into_inner().container_id;
        self.cri.remove_container(&id).await.map_err(st)?;
        Ok(Response::new(cri::RemoveContainerResponse {}))
    }

    async fn list_containers(
        &self,
        r: Request<cri::ListContainersRequest>,
    ) -> Reply<cri::ListContainersResponse> {
        let filter = r.into_inner().filter.unwrap_or_default();
        let digests = self.repo_digests()?;
        let containers = self
            .pod_containers()?
            .iter()
            .map(|c| convert::container(c, digests.get(&c.image_id).cloned()))
            .filter(|c| convert::container_matches(&filter, c))
            .collect();
        Ok(Response::new(cri::ListContainersResponse { containers }))
    }

    async fn container_status(
        &self,
        r: Request<cri::ContainerStatusRequest>,
    ) -> Reply<cri::ContainerStatusResponse> {
        let r = r.into_inner();
        let rec = self.cri.pod_container(&r.container_id).map_err(st)?;
        let mut info = std::collections::HashMap::new();
        if r.verbose {
            let json = serde_json::json!({
                "pid": rec.pid, "runtime": rec.runtime_used, "config": rec.config,
            });
            info.insert("info".to_string(), json.to_string());
        }
        Ok(Response::new(cri::ContainerStatusResponse {
            status: Some(convert::container_status(
                &rec,
                self.repo_digests()?.remove(&rec.image_id),
            )),
            info,
        }))
    }

    async fn update_container_resources(
        &self,
        r: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Reply<cri::UpdateContainerResourcesResponse> {
        let r = r.into_inner();
        let res = r.linux.unwrap_or_default();
        self.cri
            .update_resources(&r.container_id, &res)
            .await
            .map_err(st)?;
        Ok(Response::new(cri::UpdateContainerResourcesResponse {}))
    }

    async fn reopen_container_log(
        &self,
        r: Request<cri::ReopenContainerLogRequest>,
    ) -> Reply<cri::ReopenContainerLogResponse> {
        let id = r.into_inner().container_id;
        self.cri.reopen_log(&id).await.map_err(st)?;
        Ok(Response::new(cri::ReopenContainerLogResponse {}))
    }

    async fn exec_sync(&self, r: Request<cri::ExecSyncRequest>) -> Reply<cri::ExecSyncResponse> {
        let r = r.into_inner();
        let out = self
            .cri
            .exec_sync(&r.container_id, r.cmd, r.timeout)
            .await
            .map_err(st)?;
        Ok(Response::new(cri::ExecSyncResponse {
            stdout: out.stdout,
            stderr: out.stderr,
            exit_code: out.exit_code,
        }))
    }

    async fn exec(&self, r: Request<cri::ExecRequest>) -> Reply<cri::ExecResponse> {
        let url = self.cri.stream_exec(r.into_inner()).map_err(st)?;
        Ok(Response::new(cri::ExecResponse { url }))
    }

    async fn attach(&self, r: Request<cri::AttachRequest>) -> Reply<cri::AttachResponse> {
        let url = self.cri.stream_attach(r.into_inner()).map_err(st)?;
        Ok(Response::new(cri::AttachResponse { url }))
    }

    async fn port_forward(
        &self,
        r: Request<cri::PortForwardRequest>,
    ) -> Reply<cri::PortForwardResponse> {
        let url = self.cri.stream_port_forward(r.into_inner()).map_err(st)?;
        Ok(Response::new(cri::PortForwardResponse { url }))
    }

    async fn container_stats(
        &self,
        r: Request<cri::ContainerStatsRequest>,
    ) -> Reply<cri::ContainerStatsResponse> {
        let rec = self
            .cri
            .pod_container(&r.into_inner().container_id)
            .map_err(st)?;
        let stats = self.cri.container_stats(&rec).await.map_err(st)?;
        Ok(Response::new(cri::ContainerStatsResponse {
            stats: Some(stats),
        }))
    }

    async fn list_container_stats(
        &self,
        r: Request<cri::ListContainerStatsRequest>,
    ) -> Reply<cri::ListContainerStatsResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        let mut stats = Vec::new();
        for rec in self.pod_containers()? {
            let c = convert::container(&rec, None);
            let wanted = (f.id.is_empty() || c.id.starts_with(&f.id))
                && (f.pod_sandbox_id.is_empty() || c.pod_sandbox_id.starts_with(&f.pod_sandbox_id))
                && f.label_selector
                    .iter()
                    .all(|(k, v)| c.labels.get(k) == Some(v));
            if wanted && rec.state.is_live() {
                stats.push(self.cri.container_stats(&rec).await.map_err(st)?);
            }
        }
        Ok(Response::new(cri::ListContainerStatsResponse { stats }))
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<cri::PodSandboxStatsRequest>,
    ) -> Reply<cri::PodSandboxStatsResponse> {
        let sb = self
            .cri
            .sandboxes
            .get(&r.into_inner().pod_sandbox_id)
            .map_err(st)?;
        let stats = self.cri.sandbox_stats(&sb).await.map_err(st)?;
        Ok(Response::new(cri::PodSandboxStatsResponse {
            stats: Some(stats),
        }))
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<cri::ListPodSandboxStatsRequest>,
    ) -> Reply<cri::ListPodSandboxStatsResponse> {
        let f = r.into_inner().filter.unwrap_or_default();
        let mut stats = Vec::new();
        for sb in self.cri.sandboxes.list().map_err(st)? {
            let wanted = (f.id.is_empty() || sb.id.starts_with(&f.id))
                && f.label_selector
                    .iter()
                    .all(|(k, v)| sb.config.labels.get(k) == Some(v));
            if wanted && sb.state == super::sandbox::SandboxState::Ready {
                stats.push(self.cri.sandbox_stats(&sb).await.map_err(st)?);
            }
        }
        Ok(Response::new(cri::ListPodSandboxStatsResponse { stats }))
    }

    async fn update_runtime_config(
        &self,
        _r: Request<cri::UpdateRuntimeConfigRequest>,
    ) -> Reply<cri::UpdateRuntimeConfigResponse> {
        // The pod CIDR comes from Ferry's own bridge network; nothing to change.
        Ok(Response::new(cri::UpdateRuntimeConfigResponse {}))
    }

    async fn status(&self, r: Request<cri::StatusRequest>) -> Reply<cri::StatusResponse> {
        let verbose = r.into_inner().verbose;
        let conditions = self.cri.conditions().await;
        let mut info = std::collections::HashMap::new();
        if verbose {
            info.insert(
                "config".into(),
                serde_json::json!({"cgroupDriver": "cgroupfs"}).to_string(),
            );
        }
        let handlers = crate::containers::record::RUNTIMES
            .iter()
            .map(|n| cri::RuntimeHandler {
                name: (*n).to_string(),
                features: Some(cri::RuntimeHandlerFeatures::default()),
            })
            .collect();
        Ok(Response::new(cri::StatusResponse {
            status: Some(cri::RuntimeStatus { conditions }),
            info,
            runtime_handlers: handlers,
            features: Some(cri::RuntimeFeatures::default()),
        }))
    }

    async fn checkpoint_container(
        &self,
        _r: Request<cri::CheckpointContainerRequest>,
    ) -> Reply<cri::CheckpointContainerResponse> {
        Err(Status::unimplemented("checkpointing is not supported"))
    }

    type GetContainerEventsStream =
        Pin<Box<dyn Stream<Item = Result<cri::ContainerEventResponse, Status>> + Send>>;

    async fn get_container_events(
        &self,
        _r: Request<cri::GetEventsRequest>,
    ) -> Reply<Self::GetContainerEventsStream> {
        Ok(Response::new(Box::pin(super::events::stream(Arc::clone(
            &self.cri,
        )))))
    }

    async fn list_metric_descriptors(
        &self,
        _r: Request<cri::ListMetricDescriptorsRequest>,
    ) -> Reply<cri::ListMetricDescriptorsResponse> {
        Err(Status::unimplemented(
            "ListMetricDescriptors is not supported",
        ))
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _r: Request<cri::ListPodSandboxMetricsRequest>,
    ) -> Reply<cri::ListPodSandboxMetricsResponse> {
        Err(Status::unimplemented(
            "ListPodSandboxMetrics is not supported",
        ))
    }

    async fn runtime_config(
        &self,
        _r: Request<cri::RuntimeConfigRequest>,
    ) -> Reply<cri::RuntimeConfigResponse> {
        Ok(Response::new(cri::RuntimeConfigResponse {
            linux: Some(cri::LinuxRuntimeConfiguration {
                cgroup_driver: cri::CgroupDriver::Cgroupfs as i32,
            }),
        }))
    }
}
