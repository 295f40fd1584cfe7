//! The CRI's stats (a container's cumulative CPU time and memory, a pod's sums) and
//! UpdateContainerResources (written into the container's cgroup, then recorded).

use std::path::{Path, PathBuf};

use k8s_cri::v1 as cri;

use super::sandbox::{now_ns, SandboxRecord};
use super::Cri;
use crate::containers::spec::pod::PodResources;
use crate::containers::ContainerRecord;
use crate::error::{Error, Result};

fn value(v: u64) -> Option<cri::UInt64Value> {
    Some(cri::UInt64Value { value: v })
}

fn attributes(rec: &ContainerRecord) -> cri::ContainerAttributes {
    let pod = rec.config.pod.clone().unwrap_or_default();
    cri::ContainerAttributes {
        id: rec.id.clone(),
        metadata: Some(cri::ContainerMetadata {
            name: pod.name,
            attempt: pod.attempt,
        }),
        labels: pod.labels.into_iter().collect(),
        annotations: pod.annotations.into_iter().collect(),
    }
}

impl Cri {
    pub async fn container_stats(&self, rec: &ContainerRecord) -> Result<cri::ContainerStats> {
        let u = self.containers.usage(rec).await?;
        let at = now_ns();
        let upper = self.containers.paths(&rec.id).upper();
        Ok(cri::ContainerStats {
            attributes: Some(attributes(rec)),
            cpu: Some(cri::CpuUsage {
                timestamp: at,
                usage_core_nano_seconds: value(u.cpu_ns),
                usage_nano_cores: None,
            }),
            memory: Some(cri::MemoryUsage {
                timestamp: at,
                working_set_bytes: value(u.mem_usage),
                usage_bytes: value(u.mem_usage),
                ..Default::default()
            }),
            writable_layer: Some(cri::FilesystemUsage {
                timestamp: at,
                fs_id: Some(cri::FilesystemIdentifier {
                    mountpoint: upper.display().to_string(),
                }),
                used_bytes: value(dir_size(&upper)),
                inodes_used: None,
            }),
            swap: None,
        })
    }

    /// A pod's figures: its running containers' summed, with their own stats.
    pub async fn sandbox_stats(&self, sb: &SandboxRecord) -> Result<cri::PodSandboxStats> {
        let mut containers = Vec::new();
        let (mut cpu, mut mem, mut pids, mut rx, mut tx) = (0, 0, 0, 0, 0);
        for c in self.sandboxes.members(&sb.id)? {
            if !c.state.is_live() {
                continue;
            }
            let u = self.containers.usage(&c).await?;
            cpu += u.cpu_ns;
            mem += u.mem_usage;
            pids += u.pids;
            (rx, tx) = (rx.max(u.net_rx), tx.max(u.net_tx));
            containers.push(self.container_stats(&c).await?);
        }
        let at = now_ns();
        let iface = cri::NetworkInterfaceUsage {
            name: "eth0".into(),
            rx_bytes: value(rx),
            tx_bytes: value(tx),
            ..Default::default()
        };
        Ok(cri::PodSandboxStats {
            attributes: Some(cri::PodSandboxAttributes {
                id: sb.id.clone(),
                metadata: sb.config.metadata.clone(),
                labels: sb.config.labels.clone(),
                annotations: sb.config.annotations.clone(),
            }),
            linux: Some(cri::LinuxPodSandboxStats {
                cpu: Some(cri::CpuUsage {
                    timestamp: at,
                    usage_core_nano_seconds: value(cpu),
                    usage_nano_cores: None,
                }),
                memory: Some(cri::MemoryUsage {
                    timestamp: at,
                    working_set_bytes: value(mem),
                    usage_bytes: value(mem),
                    ..Default::default()
                }),
                network: Some(cri::NetworkUsage {
                    timestamp: at,
                    default_interface: Some(iface),
                    interfaces: Vec::new(),
                }),
                process: Some(cri::ProcessUsage {
                    timestamp: at,
                    process_count: value(pids),
                }),
                containers,
            }),
            windows: None,
        })
    }

    /// UpdateContainerResources: the new limits go into the live cgroup (cgroup v1 files, or
    /// v2's), then into the record so ContainerStatus reports them.
    pub async fn update_resources(&self, id: &str, r: &cri::LinuxContainerResources) -> Result<()> {
        let rec = self.pod_container(id)?;
        let new = super::container_config::resources(r);
        if rec.state.is_live() {
            let rel = rec.cgroup_rel();
            let n = new.clone();
            tokio::task::spawn_blocking(move || {
                write_cgroup(Path::new("/sys/fs/cgroup"), &rel, &n)
            })
            .await
            .map_err(Error::blocking("update resources"))??;
        }
        self.containers.update_pod_resources(&rec.id, new).await
    }
}

/// Writes the set values into the container's cgroup files, v1 controllers or v2.
fn write_cgroup(root: &Path, rel: &Path, r: &PodResources) -> Result<()> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    let v2 = root.join("cgroup.controllers").exists();
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let at = |ctl: &str, file: &str| -> PathBuf {
        if v2 {
            root.join(rel).join(file)
        } else {
            root.join(ctl).join(rel).join(file)
        }
    };
    if r.memory_limit > 0 {
        let f = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        writes.push((at("memory", f), r.memory_limit.to_string()));
    }
    if !v2 {
        if r.cpu_shares > 0 {
            writes.push((at("cpu", "cpu.shares"), r.cpu_shares.to_string()));
        }
        if r.cpu_period > 0 {
            writes.push((at("cpu", "cpu.cfs_period_us"), r.cpu_period.to_string()));
        }
        if r.cpu_quota != 0 {
            writes.push((at("cpu", "cpu.cfs_quota_us"), r.cpu_quota.to_string()));
        }
    } else if r.cpu_quota != 0 || r.cpu_period > 0 {
        let quota = if r.cpu_quota > 0 {
            r.cpu_quota.to_string()
        } else {
            "max".into()
        };
        let period = if r.cpu_period > 0 {
            r.cpu_period
        } else {
            100_000
        };
        writes.push((at("cpu", "cpu.max"), format!("{quota} {period}")));
    }
    if !r.cpuset_cpus.is_empty() {
        writes.push((at("cpuset", "cpuset.cpus"), r.cpuset_cpus.clone()));
    }
    if !r.cpuset_mems.is_empty() {
        writes.push((at("cpuset", "cpuset.mems"), r.cpuset_mems.clone()));
    }
    for (path, v) in writes {
        std::fs::write(&path, &v).map_err(|e| Error::io("write cgroup", &path, e))?;
    }
    Ok(())
}

/// Bytes under `dir` (the writable layer), not following symlinks; unreadable parts count 0.
fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v1_files_get_the_new_limits() {
        let root = tempfile::tempdir().unwrap();
        let rel = Path::new("/ferry/abc");
        for ctl in ["memory", "cpu", "cpuset"] {
            std::fs::create_dir_all(root.path().join(ctl).join("ferry/abc")).unwrap();
        }
        let r = PodResources {
            memory_limit: 128 << 20,
            cpu_shares: 256,
            cpu_quota: 50_000,
            cpu_period: 100_000,
            cpuset_cpus: "0".into(),
            ..Default::default()
        };
        write_cgroup(root.path(), rel, &r).unwrap();
        let read = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(
            read("memory/ferry/abc/memory.limit_in_bytes"),
            (128u64 << 20).to_string()
        );
        assert_eq!(read("cpu/ferry/abc/cpu.shares"), "256");
        assert_eq!(read("cpu/ferry/abc/cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpuset/ferry/abc/cpuset.cpus"), "0");
        let missing = write_cgroup(root.path(), Path::new("/ferry/gone"), &r)
            .unwrap_err()
            .to_string();
        assert!(missing.contains("gone"), "{missing}");
    }
}
