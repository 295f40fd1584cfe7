//! The CRI v1 runtime and image services: what the kubelet (and crictl, critest) drive.
//!
//! ```text
//! sandbox/           pod sandboxes: their table (one owner), namespaces, network, /etc files
//! container_config   a CRI container config as a Ferry container of its sandbox
//! pod_containers     the CRI's container verbs on the container table (create in a sandbox,
//!                    idempotent stop and remove, exec with a deadline, log reopen)
//! images             the image store seen as CRI images (one per ID, all names)
//! stats              container and pod stats; resource updates into the live cgroup
//! events             GetContainerEvents from ferryd's event bus
//! convert            records → CRI messages
//! runtime_service,   thin tonic translators (`runtime.v1.RuntimeService`,
//! image_service      `runtime.v1.ImageService`)
//! ```
//! Pods' containers are ordinary rows of the container table (`ferry ps -a`, `logs`, `exec`,
//! `inspect` see them, labelled as cri-dockerd labels them), so restarts re-adopt them and the
//! image service's `ImageUsers` already counts them.

pub mod container_config;
pub mod convert;
pub mod events;
pub mod image_service;
pub mod images;
pub mod pod_containers;
pub mod runtime_service;
pub mod sandbox;
pub mod stats;

use std::sync::Arc;

use ferry_image_service::pull::Puller;

use crate::containers::Containers;
use sandbox::Sandboxes;

/// What both CRI services share.
#[derive(Debug)]
pub struct Cri {
    pub containers: Arc<Containers>,
    pub sandboxes: Sandboxes,
    pub puller: Arc<Puller>,
}

impl Cri {
    pub fn new(
        containers: Arc<Containers>,
        puller: Arc<Puller>,
        cni: sandbox::CniSettings,
    ) -> crate::Result<Arc<Self>> {
        let exec_root = containers.exec_root.clone();
        let sandboxes = Sandboxes::new(Arc::clone(&containers), exec_root, cni)?;
        Ok(Arc::new(Cri {
            containers,
            sandboxes,
            puller,
        }))
    }
}

impl Cri {
    /// Status's conditions: the runtime is ready when a runtime binary is on PATH; the network
    /// when the CNI plugins are (with the reason the kubelet shows when not).
    pub async fn conditions(&self) -> Vec<k8s_cri::v1::RuntimeCondition> {
        let runtime = crate::containers::record::RUNTIMES
            .iter()
            .any(|r| on_path(r));
        let settings = &self.sandboxes.cni;
        let plugins = settings.bin_dirs.iter().any(|d| d.join("bridge").exists());
        let bridge = self.containers.networks.default_mode() != "none"
            || ferry_network::conflist::load(&settings.conf_dir).is_some();
        let cond = |t: &str, ok: bool, reason: &str, msg: &str| k8s_cri::v1::RuntimeCondition {
            r#type: t.to_string(),
            status: ok,
            reason: if ok {
                String::new()
            } else {
                reason.to_string()
            },
            message: if ok { String::new() } else { msg.to_string() },
        };
        vec![
            cond(
                "RuntimeReady",
                runtime,
                "NoRuntime",
                "neither crun nor runc is on PATH",
            ),
            match (plugins, bridge) {
                (false, _) => cond(
                    "NetworkReady",
                    false,
                    "NetworkPluginNotReady",
                    "CNI plugins not found in the --cni-bin-dir directories",
                ),
                (true, ok) => cond(
                    "NetworkReady",
                    ok,
                    "NoDefaultNetwork",
                    "no CNI configuration in --cni-conf-dir and ferryd runs with --bridge none",
                ),
            },
        ]
    }
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}
