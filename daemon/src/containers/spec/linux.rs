//! The `linux` section: namespaces, cgroup resources and the device
//! allowlist, masked and read-only `/proc` paths.
//!
//! No cgroup namespace: on this cgroup-v1 host Docker's default is
//! `--cgroupns=host`. The device rules are runc's default allowlist (what
//! Docker containers end up with); a privileged container may use any device,
//! but its `/dev` is not populated with the host's nodes (see the module docs
//! of `spec`).

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::host::HostFacts;
use super::{NetworkMode, RunConfig, SpecError};

/// CFS period for `--cpus`, as Docker (100ms).
pub(super) const CPU_PERIOD: u64 = 100_000;

/// Docker's minimum `--memory` ("Minimum memory limit allowed is 6MB").
pub(super) const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Paths hidden from unprivileged containers (moby `oci/defaults.go`).
pub(super) const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths made read-only for unprivileged containers.
pub(super) const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's namespaces in Docker's order; the network one depends on `mode`.
pub(super) fn namespaces(mode: &NetworkMode) -> Result<Vec<LinuxNamespace>, SpecError> {
    let new = |typ| LinuxNamespaceBuilder::default().typ(typ).build();
    let mut list = vec![new(LinuxNamespaceType::Mount)?];
    match mode {
        NetworkMode::Host => {}
        NetworkMode::None => list.push(new(LinuxNamespaceType::Network)?),
        NetworkMode::Namespace(path) => list.push(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::Network)
                .path(path.clone())
                .build()?,
        ),
    }
    for typ in [
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
    ] {
        list.push(new(typ)?);
    }
    Ok(list)
}

/// Memory, CPU and pids limits plus the device allowlist.
pub(super) fn resources(run: &RunConfig, host: &HostFacts) -> Result<LinuxResources, SpecError> {
    let mut builder = LinuxResourcesBuilder::default().devices(device_rules(run.privileged)?);
    if let Some(limit) = run.memory {
        if limit < MIN_MEMORY {
            let reason = "minimum memory limit allowed is 6MB".to_owned();
            return Err(SpecError::InvalidResource {
                resource: "memory",
                reason,
            });
        }
        let mut memory = LinuxMemoryBuilder::default().limit(limit);
        if host.swap_limit {
            memory = memory.swap(limit.saturating_mul(2));
        }
        builder = builder.memory(memory.build()?);
    }
    if let Some(cpus) = run.cpus {
        let cpu = LinuxCpuBuilder::default()
            .period(CPU_PERIOD)
            .quota(cpu_quota(cpus)?);
        builder = builder.cpu(cpu.build()?);
    }
    if let Some(pids) = run.pids_limit {
        // Docker: zero or negative means unlimited, which runc spells -1.
        let limit = if pids > 0 { pids } else { -1 };
        builder = builder.pids(LinuxPidsBuilder::default().limit(limit).build()?);
    }
    Ok(builder.build()?)
}

/// `--cpus` as a CFS quota per [`CPU_PERIOD`].
fn cpu_quota(cpus: f64) -> Result<i64, SpecError> {
    if !cpus.is_finite() || !(0.01..=1_000_000.0).contains(&cpus) {
        let reason = format!("{cpus} is out of range, the minimum is 0.01");
        return Err(SpecError::InvalidResource {
            resource: "cpus",
            reason,
        });
    }
    // In range, so the product fits an i64 exactly enough.
    Ok((cpus * CPU_PERIOD as f64).round() as i64)
}

/// A device cgroup allow rule: type, major, minor (`None` = any), access.
type DeviceRule = (LinuxDeviceType, Option<i64>, Option<i64>, &'static str);

/// runc's default device allowlist, or everything when privileged. moby's
/// explicit `deny c 10:229` (fuse) is left out: it is implied by the leading
/// deny-all, and cgroup v1 cannot punch it out of the `c *:* m` wildcard, so
/// runc refuses the whole list.
pub(super) fn device_rules(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>, SpecError> {
    use LinuxDeviceType::{B, C};
    if privileged {
        return Ok(vec![rule(true, None, None, None, "rwm")?]);
    }
    #[rustfmt::skip]
    let allowed: [DeviceRule; 12] = [
        (C, None, None, "m"),           // mknod any char device
        (B, None, None, "m"),           // mknod any block device
        (C, Some(1), Some(3), "rwm"),   // null
        (C, Some(1), Some(5), "rwm"),   // zero
        (C, Some(1), Some(7), "rwm"),   // full
        (C, Some(5), Some(0), "rwm"),   // tty
        (C, Some(5), Some(1), "rwm"),   // console
        (C, Some(1), Some(8), "rwm"),   // random
        (C, Some(1), Some(9), "rwm"),   // urandom
        (C, Some(136), None, "rwm"),    // pts/*
        (C, Some(5), Some(2), "rwm"),   // ptmx
        (C, Some(10), Some(200), "rwm"), // net/tun
    ];
    let mut rules = vec![rule(false, None, None, None, "rwm")?];
    for (typ, major, minor, access) in allowed {
        rules.push(rule(true, Some(typ), major, minor, access)?);
    }
    Ok(rules)
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, SpecError> {
    let mut builder = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(typ) = typ {
        builder = builder.typ(typ);
    }
    if let Some(major) = major {
        builder = builder.major(major);
    }
    if let Some(minor) = minor {
        builder = builder.minor(minor);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            nofile_hard: 4096,
            bounding: u64::MAX,
            swap_limit: true,
        }
    }

    fn kinds(list: &[LinuxNamespace]) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
        list.iter().map(|n| (n.typ(), n.path().clone())).collect()
    }

    #[test]
    fn network_modes_map_to_namespaces() {
        use LinuxNamespaceType::*;
        let none = kinds(&namespaces(&NetworkMode::None).unwrap());
        assert_eq!(
            none,
            [
                (Mount, None),
                (Network, None),
                (Uts, None),
                (Pid, None),
                (Ipc, None)
            ]
        );
        let host_mode = kinds(&namespaces(&NetworkMode::Host).unwrap());
        assert_eq!(
            host_mode,
            [(Mount, None), (Uts, None), (Pid, None), (Ipc, None)]
        );
        let path = PathBuf::from("/run/ferry/netns/abc");
        let joined = kinds(&namespaces(&NetworkMode::Namespace(path.clone())).unwrap());
        assert_eq!(joined[1], (Network, Some(path)));
    }

    #[test]
    fn resource_values_follow_docker() {
        let run = RunConfig {
            memory: Some(64 << 20),
            cpus: Some(1.5),
            pids_limit: Some(100),
            ..Default::default()
        };
        let res = resources(&run, &host()).unwrap();
        let memory = res.memory().unwrap();
        assert_eq!(memory.limit(), Some(64 << 20));
        assert_eq!(memory.swap(), Some(128 << 20));
        let cpu = res.cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        assert_eq!(res.pids().unwrap().limit(), 100);

        let no_swap = HostFacts {
            swap_limit: false,
            ..host()
        };
        assert_eq!(
            resources(&run, &no_swap).unwrap().memory().unwrap().swap(),
            None
        );
    }

    #[test]
    fn unset_resources_stay_unset_and_bad_ones_fail() {
        let res = resources(&RunConfig::default(), &host()).unwrap();
        assert!(res.memory().is_none() && res.cpu().is_none() && res.pids().is_none());
        let unlimited = RunConfig {
            pids_limit: Some(0),
            ..Default::default()
        };
        assert_eq!(
            resources(&unlimited, &host())
                .unwrap()
                .pids()
                .unwrap()
                .limit(),
            -1
        );
        for bad in [
            RunConfig {
                memory: Some(1 << 20),
                ..Default::default()
            },
            RunConfig {
                cpus: Some(0.0),
                ..Default::default()
            },
            RunConfig {
                cpus: Some(f64::NAN),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                resources(&bad, &host()),
                Err(SpecError::InvalidResource { .. })
            ));
        }
    }

    #[test]
    fn device_rules_deny_first_then_allow_defaults() {
        let rules: Vec<String> = device_rules(false)
            .unwrap()
            .iter()
            .map(|r| format!("{} {r}", if r.allow() { "allow" } else { "deny" }))
            .collect();
        assert_eq!(rules[0], "deny a *:* rwm");
        for want in [
            "allow c *:* m",
            "allow b *:* m",
            "allow c 1:3 rwm",
            "allow c 136:* rwm",
            "allow c 10:200 rwm",
        ] {
            assert!(rules.contains(&want.to_string()), "{want} in {rules:?}");
        }
        assert_eq!(rules.iter().filter(|r| r.starts_with("deny")).count(), 1);
        let privileged = device_rules(true).unwrap();
        assert_eq!(privileged.len(), 1);
        assert!(privileged[0].allow());
    }
}
