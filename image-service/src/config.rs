//! ferryd's configuration: where things live and how much a pull may cost.

use std::path::PathBuf;
use std::time::Duration;

use crate::distribution::RateFloor;
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
    /// A layer may inflate to this many times its compressed size (`--max-layer-ratio`; 0: no
    /// bound) or to `ratio_allowance`, whichever is more: no real image comes near, a bomb
    /// (gigabytes of zeros in a few MiB) is stopped before it fills the disk.
    pub max_layer_ratio: u64,
    /// What a small layer may always inflate to, whatever its ratio.
    pub ratio_allowance: u64,
    /// A pull stops before the data root's free space falls under this (`--min-free-space`; 0:
    /// no reserve).
    pub min_free_bytes: u64,
    /// Path caps and entry counts for unpacking.
    pub unpack_limits: Limits,
    /// A registry connection that sends nothing for this long is dropped (and resumed).
    pub stall_timeout: Duration,
    /// A blob's connection that moves less than this is dropped (and resumed) too: a drip
    /// never stalls (`--min-download-rate`, `--download-rate-window`).
    pub rate_floor: RateFloor,
    pub connect_timeout: Duration,
    /// Resume attempts per blob after a dropped connection.
    pub max_retries: u32,
}

impl Config {
    /// The cap on a layer's decompressed size given its compressed size, and what set it (for
    /// the error, which must name the flag that changes it).
    pub fn layer_cap(&self, compressed: u64) -> (u64, &'static str) {
        if self.max_layer_ratio == 0 {
            return (self.max_layer_bytes, "--max-layer-size");
        }
        let by_ratio = compressed
            .saturating_mul(self.max_layer_ratio)
            .max(self.ratio_allowance);
        if by_ratio < self.max_layer_bytes {
            (by_ratio, "--max-layer-ratio")
        } else {
            (self.max_layer_bytes, "--max-layer-size")
        }
    }

    pub fn new(data_root: PathBuf, exec_root: PathBuf) -> Self {
        Config {
            data_root,
            exec_root,
            insecure_registries: Vec::new(),
            max_concurrent_downloads: 3,
            max_layer_bytes: 64 << 30,
            max_layer_ratio: 64,
            ratio_allowance: 512 << 20,
            min_free_bytes: 1 << 30,
            unpack_limits: Limits::default(),
            stall_timeout: Duration::from_secs(30),
            rate_floor: RateFloor::default(),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_may_inflate_by_the_ratio_or_the_allowance_under_the_size_cap() {
        let mut c = Config::new("/d".into(), "/e".into());
        // 20 MiB compressed: 64 × 20 MiB = 1.25 GiB.
        assert_eq!(
            c.layer_cap(20 << 20),
            (64 * (20 << 20), "--max-layer-ratio")
        );
        // A tiny layer still gets the allowance.
        assert_eq!(c.layer_cap(1000), (512 << 20, "--max-layer-ratio"));
        // A huge one is bounded by the absolute cap.
        assert_eq!(c.layer_cap(10 << 30), (64 << 30, "--max-layer-size"));
        c.max_layer_ratio = 0;
        assert_eq!(c.layer_cap(1000), (64 << 30, "--max-layer-size"));
    }
}
