//! What membership of a CRI pod adds to Docker's spec: namespaces joined by path (the pod's
//! IPC, UTS and PID) or shared with the host, sysctls, the masked and read-only paths the
//! kubelet asks for, the seccomp choice, supplemental groups, devices, resources and
//! annotations. Applied after [`super::build_spec`], so a CLI container's spec is untouched.
//!
//! The seccomp default differs from Docker's: the CRI says a container without a profile runs
//! unconfined (the kubelet asks for `RuntimeDefault` explicitly), as containerd and CRI-O do.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxSeccomp, Spec,
};
use serde::{Deserialize, Serialize};

use super::SpecError;

/// The seccomp profile a pod's container runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// No filter (the CRI's default when the kubelet names none).
    #[default]
    Unconfined,
    /// Docker's default profile (what [`super::build_spec`] wrote).
    RuntimeDefault,
    /// An OCI seccomp profile in JSON at this host path.
    Localhost(PathBuf),
}

/// A host device made available (`Device` in the CRI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSpec {
    pub host_path: PathBuf,
    pub container_path: String,
    /// Any of `r`, `w`, `m`; empty means `rwm`.
    pub permissions: String,
}

/// CPU and memory settings from `LinuxContainerResources` (0 or empty: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodResources {
    pub cpu_period: u64,
    pub cpu_quota: i64,
    pub cpu_shares: u64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub memory_limit: i64,
    /// Only a positive value is applied: lowering it needs CAP_SYS_RESOURCE, which this host's
    /// ferryd lacks (a negative one would fail every start).
    pub oom_score_adj: i64,
}

/// The pod-specific part of a container's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodSpec {
    /// Namespaces joined by path: ("network" | "ipc" | "uts" | "pid", path).
    pub join: Vec<(String, PathBuf)>,
    /// Namespaces shared with the host ("network" | "ipc" | "uts" | "pid"): none is created.
    pub host: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// Replace the defaults when given (the kubelet's `procMount: Unmasked` sends empty lists).
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub seccomp: Seccomp,
    pub supplemental_groups: Vec<u32>,
    pub devices: Vec<DeviceSpec>,
    pub resources: PodResources,
    pub annotations: BTreeMap<String, String>,
    /// Mount propagation by destination: "rslave" (host to container) or "rshared"
    /// (bidirectional); others stay "rprivate".
    pub propagation: Vec<(String, String)>,
    /// The pod's cgroup (kubelet's cgroupfs path): the container's cgroup goes under it.
    pub cgroup_parent: String,
}

fn ns_type(kind: &str) -> Option<LinuxNamespaceType> {
    match kind {
        "ipc" => Some(LinuxNamespaceType::Ipc),
        "uts" => Some(LinuxNamespaceType::Uts),
        "pid" => Some(LinuxNamespaceType::Pid),
        "network" => Some(LinuxNamespaceType::Network),
        _ => None,
    }
}

/// Applies `pod` to a spec built by [`super::build_spec`].
pub fn apply(spec: &mut Spec, pod: &PodSpec, privileged: bool) -> Result<(), SpecError> {
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    for kind in &pod.host {
        if let Some(t) = ns_type(kind) {
            namespaces.retain(|n| n.typ() != t);
        }
    }
    for (kind, path) in &pod.join {
        let Some(t) = ns_type(kind) else { continue };
        namespaces.retain(|n| n.typ() != t);
        namespaces.push(LinuxNamespaceBuilder::default().typ(t).path(path).build()?);
    }
    linux.set_namespaces(Some(namespaces));
    if pod.host.iter().any(|k| k == "uts") {
        // The host's own hostname stays; a runtime refuses to set one without a UTS namespace.
        spec.set_hostname(None);
    }
    propagation(spec, &mut linux, &pod.propagation);
    if !pod.sysctls.is_empty() {
        linux.set_sysctl(Some(pod.sysctls.clone().into_iter().collect()));
    }
    if !privileged {
        if let Some(m) = &pod.masked_paths {
            linux.set_masked_paths(Some(m.clone()));
        }
        if let Some(r) = &pod.readonly_paths {
            linux.set_readonly_paths(Some(r.clone()));
        }
        linux.set_seccomp(seccomp(&pod.seccomp, linux.seccomp().clone())?);
    }
    if !pod.cgroup_parent.is_empty() {
        let own = linux
            .cgroups_path()
            .as_ref()
            .and_then(|p| p.file_name().map(PathBuf::from));
        if let Some(own) = own {
            linux.set_cgroups_path(Some(PathBuf::from(&pod.cgroup_parent).join(own)));
        }
    }
    devices(&mut linux, &pod.devices)?;
    resources(&mut linux, &pod.resources)?;
    spec.set_linux(Some(linux));
    if let Some(p) = spec.process_mut() {
        if pod.resources.oom_score_adj > 0 {
            p.set_oom_score_adj(i32::try_from(pod.resources.oom_score_adj).ok());
        }
        let mut user = p.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        gids.extend(pod.supplemental_groups.iter().copied());
        gids.sort_unstable();
        gids.dedup();
        user.set_additional_gids((!gids.is_empty()).then_some(gids));
        p.set_user(user);
    }
    if !pod.annotations.is_empty() {
        spec.set_annotations(Some(pod.annotations.clone().into_iter().collect()));
    }
    Ok(())
}

/// Propagation options on the named mounts; the root becomes as shared as the most shared
/// one needs (a slave mount under a private root would receive nothing), as containerd does.
fn propagation(spec: &mut Spec, linux: &mut oci_spec::runtime::Linux, list: &[(String, String)]) {
    if list.is_empty() {
        return;
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for m in &mut mounts {
        let dest = m.destination().display().to_string();
        let Some((_, p)) = list.iter().find(|(d, _)| *d == dest) else {
            continue;
        };
        let mut opts: Vec<String> = m.options().clone().unwrap_or_default();
        opts.retain(|o| !matches!(o.as_str(), "rprivate" | "private" | "rslave" | "rshared"));
        opts.push(p.clone());
        m.set_options(Some(opts));
    }
    spec.set_mounts(Some(mounts));
    let root = if list.iter().any(|(_, p)| p == "rshared") {
        "rshared"
    } else {
        "rslave"
    };
    linux.set_rootfs_propagation(Some(root.to_string()));
}

fn seccomp(
    choice: &Seccomp,
    default: Option<LinuxSeccomp>,
) -> Result<Option<LinuxSeccomp>, SpecError> {
    Ok(match choice {
        Seccomp::Unconfined => None,
        Seccomp::RuntimeDefault => default,
        Seccomp::Localhost(path) => {
            let raw = std::fs::read(path).map_err(|source| SpecError::Io {
                path: path.clone(),
                source,
            })?;
            let profile = serde_json::from_slice(&raw).map_err(|e| SpecError::InvalidSeccomp {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            Some(profile)
        }
    })
}

/// Each device node is made in the container with the host node's type and numbers, and
/// allowed in the device cgroup with its permissions.
fn devices(linux: &mut oci_spec::runtime::Linux, list: &[DeviceSpec]) -> Result<(), SpecError> {
    if list.is_empty() {
        return Ok(());
    }
    let mut nodes = linux.devices().clone().unwrap_or_default();
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    for d in list {
        let meta = std::fs::metadata(&d.host_path).map_err(|source| SpecError::Io {
            path: d.host_path.clone(),
            source,
        })?;
        let typ = if meta.file_type().is_char_device() {
            LinuxDeviceType::C
        } else if meta.file_type().is_block_device() {
            LinuxDeviceType::B
        } else {
            return Err(SpecError::InvalidDevice {
                path: d.host_path.clone(),
            });
        };
        let rdev = meta.rdev();
        let (major, minor) = (libc::major(rdev) as i64, libc::minor(rdev) as i64);
        nodes.push(
            LinuxDeviceBuilder::default()
                .path(PathBuf::from(&d.container_path))
                .typ(typ)
                .major(major)
                .minor(minor)
                .file_mode(meta.mode() & 0o777)
                .uid(meta.uid())
                .gid(meta.gid())
                .build()?,
        );
        let access = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        rules.push(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(typ)
                .major(major)
                .minor(minor)
                .access(access)
                .build()?,
        );
    }
    res.set_devices(Some(rules));
    linux.set_resources(Some(res));
    linux.set_devices(Some(nodes));
    Ok(())
}

fn resources(linux: &mut oci_spec::runtime::Linux, r: &PodResources) -> Result<(), SpecError> {
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut cpu = LinuxCpuBuilder::default();
    let mut any = false;
    if r.cpu_shares > 0 {
        cpu = cpu.shares(r.cpu_shares);
        any = true;
    }
    if r.cpu_quota > 0 {
        cpu = cpu.quota(r.cpu_quota);
        any = true;
    }
    if r.cpu_period > 0 {
        cpu = cpu.period(r.cpu_period);
        any = true;
    }
    if !r.cpuset_cpus.is_empty() {
        cpu = cpu.cpus(r.cpuset_cpus.clone());
        any = true;
    }
    if !r.cpuset_mems.is_empty() {
        cpu = cpu.mems(r.cpuset_mems.clone());
        any = true;
    }
    if any {
        res.set_cpu(Some(cpu.build()?));
    }
    if r.memory_limit > 0 {
        let mut mem = (*res.memory()).unwrap_or_default();
        mem.set_limit(Some(r.memory_limit));
        mem.set_swap(None);
        res.set_memory(Some(mem));
    }
    linux.set_resources(Some(res));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::spec::{build_spec_with, HostFacts, ImageRuntimeConfig, RunConfig};

    const HOST: HostFacts = HostFacts {
        nofile_hard: 1 << 20,
        bounding: 0x0000_01ff_feff_ffff,
        swap_limit: true,
    };

    fn base() -> Spec {
        let image = ImageRuntimeConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let root = tempfile::tempdir().unwrap();
        build_spec_with(&image, &RunConfig::default(), root.path(), "abc", &HOST).unwrap()
    }

    fn ns(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
        let linux = spec.linux().as_ref().unwrap();
        linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| (n.typ(), n.path().clone()))
            .collect()
    }

    #[test]
    fn pod_namespaces_are_joined_or_shared_with_the_host() {
        let mut spec = base();
        let pod = PodSpec {
            join: vec![
                ("ipc".into(), "/run/p/ipc".into()),
                ("uts".into(), "/run/p/uts".into()),
            ],
            host: vec!["pid".into()],
            ..Default::default()
        };
        apply(&mut spec, &pod, false).unwrap();
        let list = ns(&spec);
        assert!(list.contains(&(LinuxNamespaceType::Ipc, Some("/run/p/ipc".into()))));
        assert!(list.contains(&(LinuxNamespaceType::Uts, Some("/run/p/uts".into()))));
        assert!(
            !list.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid),
            "{list:?}"
        );
        assert_eq!(
            list.iter()
                .filter(|(t, _)| *t == LinuxNamespaceType::Ipc)
                .count(),
            1
        );
    }

    #[test]
    fn seccomp_is_unconfined_unless_asked_and_groups_and_oom_apply() {
        let mut spec = base();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
        let pod = PodSpec {
            supplemental_groups: vec![1234, 0],
            resources: PodResources {
                oom_score_adj: -998,
                ..Default::default()
            },
            ..Default::default()
        };
        apply(&mut spec, &pod, false).unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        let p = spec.process().as_ref().unwrap();
        assert_eq!(
            p.oom_score_adj(),
            None,
            "a negative adjustment needs CAP_SYS_RESOURCE"
        );
        assert!(p.user().additional_gids().as_ref().unwrap().contains(&1234));
        let mut spec = base();
        let pod = PodSpec {
            seccomp: Seccomp::RuntimeDefault,
            ..Default::default()
        };
        apply(&mut spec, &pod, false).unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
    }

    #[test]
    fn a_localhost_profile_is_read_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("p.json");
        std::fs::write(&good, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let mut spec = base();
        let pod = PodSpec {
            seccomp: Seccomp::Localhost(good),
            ..Default::default()
        };
        apply(&mut spec, &pod, false).unwrap();
        let s = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
        assert_eq!(s.syscalls().as_ref().unwrap().len(), 1);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let pod = PodSpec {
            seccomp: Seccomp::Localhost(bad.clone()),
            ..Default::default()
        };
        let err = apply(&mut base(), &pod, false).unwrap_err().to_string();
        assert!(err.contains(&bad.display().to_string()), "{err}");
    }

    #[test]
    fn devices_get_nodes_and_cgroup_rules_and_resources_apply() {
        let mut spec = base();
        let pod = PodSpec {
            devices: vec![DeviceSpec {
                host_path: "/dev/null".into(),
                container_path: "/dev/mynull".into(),
                permissions: "rw".into(),
            }],
            resources: PodResources {
                cpu_shares: 512,
                memory_limit: 64 << 20,
                ..Default::default()
            },
            ..Default::default()
        };
        apply(&mut spec, &pod, false).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let node = &linux.devices().as_ref().unwrap()[0];
        assert_eq!((node.major(), node.minor()), (1, 3));
        let res = linux.resources().as_ref().unwrap();
        let rule = res.devices().as_ref().unwrap().last().unwrap();
        assert_eq!(rule.access().as_deref(), Some("rw"));
        assert_eq!(res.cpu().as_ref().unwrap().shares(), Some(512));
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(64 << 20));
        let pod = PodSpec {
            devices: vec![DeviceSpec {
                host_path: "/etc/passwd".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(apply(&mut base(), &pod, false).is_err());
    }
}
