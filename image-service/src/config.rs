//! ferryd's configuration: where things live and how much a pull may cost.

use std::path::PathBuf;
use std::time::Duration;

use crate::unpack::Limits;

#[derive(Debug, Clone)]
pub struct Config {
    /// Persistent state: metadata, content, snapshots (`--data-root`).
    pub data_root: PathBuf,
    /// Runtime state that does not survive a reboot: mounts, shim sockets (`--exec-root`).
    pub exec_root: PathBuf,
    /// Registries reached over plain HTTP besides loopback ones (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Layers downloaded at once per pull (`--max-concurrent-downloads`).
    pub max_concurrent_downloads: usize,
    /// Cap on one layer's decompressed size: a gzip bomb costs at most this much disk.
    pub max_layer_bytes: u64,
    /// Path caps and entry counts for unpacking.
    pub unpack_limits: Limits,
    /// A registry connection that sends nothing for this long is dropped (and resumed).
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    /// Resume attempts per blob after a dropped connection.
    pub max_retries: u32,
}

impl Config {
    pub fn new(data_root: PathBuf, exec_root: PathBuf) -> Self {
        Config {
            data_root,
            exec_root,
            insecure_registries: Vec::new(),
            max_concurrent_downloads: 3,
            max_layer_bytes: 64 << 30,
            unpack_limits: Limits::default(),
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
        }
    }
}
