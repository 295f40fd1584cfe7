//! A container's membership of a CRI pod. The CRI's own words about the container are kept
//! here (its metadata, labels, annotations, the image as asked for, the log path) so the CRI
//! answers with what it was told; [`PodSpec`] is what the pod adds to the runtime spec.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use super::spec::pod::PodSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodMember {
    pub sandbox_id: String,
    /// `ContainerMetadata`: name and attempt.
    pub name: String,
    pub attempt: u32,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The image as the kubelet named it (`ImageSpec.image`).
    pub image: String,
    /// Where the shim writes the CRI-format log (`log_directory/log_path`); None: no CRI log.
    pub log_path: Option<PathBuf>,
    /// The sandbox's /etc/hostname, /etc/hosts and /etc/resolv.conf (host path, container path),
    /// shared by its containers instead of per-container files.
    pub etc_files: Vec<(PathBuf, String)>,
    /// The CRI mounts as requested: (container path, host path, read-only, propagation).
    pub mounts: Vec<(String, String, bool, i32)>,
    pub spec: PodSpec,
}
