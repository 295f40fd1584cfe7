//! A pod sandbox's record: the kubelet's config as it sent it, and what Ferry made for it.

use std::path::PathBuf;

use k8s_cri::v1::PodSandboxConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SandboxState {
    /// Its namespaces and network are up.
    Ready,
    /// Stopped: its containers were stopped and its network torn down.
    NotReady,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub id: String,
    pub config: PodSandboxConfig,
    pub runtime_handler: String,
    pub state: SandboxState,
    /// Nanoseconds since the epoch (the CRI's `created_at`).
    pub created_ns: i64,
    /// The bridge endpoint while ready (None on the host network or when stopped).
    #[serde(default)]
    pub net: Option<ferry_network::NetState>,
    /// The CNI configuration the pod joined (None: Ferry's default bridge); kept for the DEL.
    #[serde(default)]
    pub cni: Option<ferry_network::conflist::ConfList>,
    /// Host PID of the init holding the pod's shared PID namespace (0: none).
    #[serde(default)]
    pub init_pid: u32,
    /// Where its shared /etc files are (`<data-root>/pods/<id>`).
    #[serde(default)]
    pub files_dir: PathBuf,
    /// Pinned namespaces the pod's containers join: ("network" | "ipc" | "uts", path).
    #[serde(default)]
    pub namespaces: Vec<(String, PathBuf)>,
}

/// What the kubelet asked of a namespace (`NamespaceMode`: 0 POD, 1 CONTAINER, 2 NODE,
/// 3 TARGET).
pub fn mode_is_node(mode: i32) -> bool {
    mode == k8s_cri::v1::NamespaceMode::Node as i32
}

impl SandboxRecord {
    fn namespace_options(&self) -> Option<&k8s_cri::v1::NamespaceOption> {
        self.config
            .linux
            .as_ref()?
            .security_context
            .as_ref()?
            .namespace_options
            .as_ref()
    }

    pub fn host_network(&self) -> bool {
        self.namespace_options()
            .is_some_and(|n| mode_is_node(n.network))
    }

    pub fn host_ipc(&self) -> bool {
        self.namespace_options()
            .is_some_and(|n| mode_is_node(n.ipc))
    }

    pub fn host_pid(&self) -> bool {
        self.namespace_options()
            .is_some_and(|n| mode_is_node(n.pid))
    }

    /// POD: the pod's containers share one PID namespace, held by the pod's init. POD is the
    /// zero value, so a config without namespace options asks for it too.
    pub fn shared_pid(&self) -> bool {
        self.namespace_options()
            .is_none_or(|n| n.pid == k8s_cri::v1::NamespaceMode::Pod as i32)
    }

    pub fn name(&self) -> &str {
        self.config
            .metadata
            .as_ref()
            .map_or("", |m| m.name.as_str())
    }

    pub fn namespace(&self) -> &str {
        self.config
            .metadata
            .as_ref()
            .map_or("", |m| m.namespace.as_str())
    }

    pub fn uid(&self) -> &str {
        self.config.metadata.as_ref().map_or("", |m| m.uid.as_str())
    }

    pub fn ip(&self) -> &str {
        self.net.as_ref().map_or("", |n| n.ip())
    }
}
