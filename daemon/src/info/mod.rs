//! `ferry version` and `ferry info`: what ferryd was built from, the runtimes it drives, the host
//! it runs on, how many containers and images it holds and the settings it was started with.
//!
//! ```text
//! host        uname, os-release, CPUs, memory, the cgroup layout (best-effort, pure parsers)
//! runtimes    crun's and runc's `--version`, with a deadline
//! engine_id   the stable ID kept in the data root
//! ```
//! The fixed answers (storage driver, logging driver, cgroup driver) are what ferryd does, not
//! settings: overlayfs snapshots, json-file logs, cgroupfs through the runtime.

pub mod engine_id;
pub mod host;
pub mod runtimes;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use ferry_image_service::distribution::Mirror;
use ferry_image_service::images::ImageRecord;
use ferry_image_service::store::Store;
use ferry_proto::build_info;

use crate::containers::record::RUNTIMES;
use crate::containers::{ContainerRecord, Containers, State};
use crate::error::{Error, Result};
pub use host::{CgroupVersion, Host};
pub use runtimes::Runtime;

pub const STORAGE_DRIVER: &str = "overlayfs";
pub const LOGGING_DRIVER: &str = "json-file";
pub const CGROUP_DRIVER: &str = "cgroupfs";

/// Registries always reached over plain HTTP (the loopback rule), listed as dockerd lists its own.
const LOOPBACK_REGISTRIES: [&str; 2] = ["::1/128", "127.0.0.0/8"];

/// What ferryd was started with that `info` reports; built once by the binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub data_root: PathBuf,
    pub debug: bool,
    /// `--insecure-registry` values.
    pub insecure_registries: Vec<String>,
    /// `--registry-mirror` values, in flag order.
    pub registry_mirrors: Vec<Mirror>,
    /// From [`engine_id::load_or_create`].
    pub engine_id: String,
}

impl Settings {
    /// Every registry reached over plain HTTP: loopback, then the flags'.
    pub fn insecure_registries(&self) -> Vec<String> {
        let loopback = LOOPBACK_REGISTRIES.iter().map(|s| s.to_string());
        loopback.chain(self.insecure_registries.clone()).collect()
    }

    /// Docker Hub's mirrors' URLs (Docker's `RegistryConfig.Mirrors`).
    pub fn docker_hub_mirrors(&self) -> Vec<String> {
        let hub = self.registry_mirrors.iter().filter(|m| m.is_docker_hub());
        hub.map(|m| m.url.clone()).collect()
    }
}

/// `ferry version`'s Server section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: &'static str,
    pub api_version: &'static str,
    pub rust_version: &'static str,
    pub git_commit: &'static str,
    pub build_time: &'static str,
    /// Go's names: "linux", "amd64".
    pub os: &'static str,
    pub arch: &'static str,
    pub kernel_version: String,
    pub runtimes: Vec<Runtime>,
    pub default_runtime: &'static str,
}

/// This ferryd's build, and the runtimes as they answer now.
pub async fn version() -> Version {
    let (os, arch) = build_info::go_os_arch();
    Version {
        version: build_info::VERSION,
        api_version: build_info::API_VERSION,
        rust_version: build_info::RUST_VERSION,
        git_commit: build_info::GIT_COMMIT.unwrap_or_default(),
        build_time: build_info::BUILD_TIME.unwrap_or_default(),
        os,
        arch,
        kernel_version: rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
        runtimes: runtimes::probe_all().await,
        default_runtime: RUNTIMES[0],
    }
}

/// Containers by state, and distinct images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub containers: u64,
    pub running: u64,
    pub paused: u64,
    pub stopped: u64,
    pub images: u64,
}

/// Docker's tally: a restarting container counts as running (its `State.Running` is true);
/// images are counted by ID, so two tags of one image are one.
pub fn counts(containers: &[ContainerRecord], images: &[ImageRecord]) -> Counts {
    let mut c = Counts::default();
    for rec in containers {
        c.containers += 1;
        match rec.state {
            State::Running | State::Restarting => c.running += 1,
            State::Paused => c.paused += 1,
            State::Created | State::Exited | State::Dead => c.stopped += 1,
        }
    }
    let ids: HashSet<&str> = images.iter().map(|i| i.config_digest.as_str()).collect();
    c.images = ids.len() as u64;
    c
}

/// `ferry info`'s Server section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub counts: Counts,
    pub host: Host,
    pub runtimes: Vec<Runtime>,
    pub default_runtime: &'static str,
    pub settings: Settings,
}

/// Reads the tables and the host (off the async threads) while the runtimes are probed.
pub async fn info(
    store: Arc<Store>,
    containers: Arc<Containers>,
    settings: &Settings,
) -> Result<Info> {
    let blocking = tokio::task::spawn_blocking(move || -> Result<(Counts, Host)> {
        let images = store.meta.images()?;
        Ok((counts(&containers.list()?, &images), Host::read()))
    });
    let (read, runtimes) = tokio::join!(blocking, runtimes::probe_all());
    let (counts, host) = read.map_err(Error::blocking("info"))??;
    Ok(Info {
        counts,
        host,
        runtimes,
        default_runtime: RUNTIMES[0],
        settings: settings.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::ContainerConfig;

    fn container(state: State) -> ContainerRecord {
        let mut rec = ContainerRecord::new(
            "id".into(),
            "n".into(),
            ContainerConfig::default(),
            "i".into(),
        );
        rec.state = state;
        rec
    }

    fn image(name: &str, config_digest: &str) -> ImageRecord {
        ImageRecord {
            name: name.into(),
            target_digest: String::new(),
            target_media_type: String::new(),
            manifest_digest: String::new(),
            config_digest: config_digest.into(),
            platform: "linux/amd64".into(),
            layers: Vec::new(),
            blobs: Vec::new(),
            created: 0,
            pulled_at: 0,
            size: 0,
        }
    }

    #[test]
    fn containers_are_counted_by_state_and_images_by_id() {
        let all = [
            State::Running,
            State::Restarting,
            State::Paused,
            State::Created,
            State::Exited,
            State::Dead,
        ];
        let recs: Vec<ContainerRecord> = all.into_iter().map(container).collect();
        let images = [
            image("a:latest", "sha256:1"),
            image("b:latest", "sha256:1"),
            image("c:latest", "sha256:2"),
        ];
        let want = Counts {
            containers: 6,
            running: 2,
            paused: 1,
            stopped: 3,
            images: 2,
        };
        assert_eq!(counts(&recs, &images), want);
        assert_eq!(counts(&[], &[]), Counts::default());
    }

    #[test]
    fn loopback_registries_are_always_insecure() {
        let s = Settings {
            insecure_registries: vec!["reg.local:5000".into()],
            ..Default::default()
        };
        assert_eq!(
            s.insecure_registries(),
            ["::1/128", "127.0.0.0/8", "reg.local:5000"]
        );
    }

    #[test]
    fn docker_hubs_mirrors_are_the_bare_urls() {
        let flags = [
            "http://hub.lan:5000",
            "registry.k8s.io=http://127.0.0.1:5001",
        ];
        let s = Settings {
            registry_mirrors: flags.iter().map(|f| Mirror::parse(f).unwrap()).collect(),
            ..Default::default()
        };
        assert_eq!(s.docker_hub_mirrors(), ["http://hub.lan:5000"]);
    }

    #[tokio::test]
    async fn the_version_is_this_build() {
        let v = version().await;
        assert_eq!(v.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(v.default_runtime, "crun");
        assert_eq!(v.runtimes.len(), RUNTIMES.len());
        assert!(!v.kernel_version.is_empty());
    }
}
