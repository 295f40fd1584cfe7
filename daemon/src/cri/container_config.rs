//! A CRI container as a Ferry container of its sandbox: the kubelet's `ContainerConfig` (and
//! the sandbox it joins) turned into the `ContainerConfig` the container table keeps, with
//! the pod's part in [`PodMember`]. Decisions the CRI leaves to the runtime follow containerd:
//! command replaces the image's entrypoint and args its cmd; missing bind sources are
//! created; no seccomp profile means unconfined; the container cgroup is
//! `<cgroup_parent>/<id>`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_cri::v1::{self as cri, NamespaceMode, SecurityProfile};

use super::sandbox::record::SandboxRecord;
use crate::containers::pod::{PodMember, PodSpec};
use crate::containers::spec::pod::{DeviceSpec, PodResources, Seccomp};
use crate::containers::{ContainerConfig, MountConfig};
use crate::error::{Error, Result};

/// Docker-visible labels cri-dockerd puts on a pod's containers (`ferry ps` shows them).
pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub const SANDBOX_ID: &str = "io.kubernetes.sandbox.id";

/// The container's name in Ferry's table: cri-dockerd's `k8s_<ctr>_<pod>_<ns>_<uid>_<attempt>`.
pub fn container_name(sb: &SandboxRecord, name: &str, attempt: u32) -> String {
    format!(
        "k8s_{name}_{}_{}_{}_{attempt}",
        sb.name(),
        sb.namespace(),
        sb.uid()
    )
}

/// `pid` joins another container's PID namespace: the pod's (POD) or a target's (TARGET).
pub fn translate(
    sb: &SandboxRecord,
    c: &cri::ContainerConfig,
    image: &str,
    pid_ns: Option<PathBuf>,
) -> Result<ContainerConfig> {
    let Some(meta) = &c.metadata else {
        return Err(Error::InvalidArgument(
            "container config must include metadata".into(),
        ));
    };
    if meta.name.is_empty() {
        return Err(Error::InvalidArgument(
            "container metadata.name is empty".into(),
        ));
    }
    let sc = c
        .linux
        .as_ref()
        .and_then(|l| l.security_context.clone())
        .unwrap_or_default();
    let (entrypoint, cmd) = argv(&c.command, &c.args);
    let mut config = ContainerConfig {
        image: image.to_string(),
        cmd,
        entrypoint,
        env: c
            .envs
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect(),
        workdir: c.working_dir.clone(),
        user: user(&sc)?,
        hostname: super::sandbox::files::hostname(sb),
        tty: c.tty,
        open_stdin: c.stdin,
        read_only: sc.readonly_rootfs,
        privileged: sc.privileged,
        cap_add: caps(sc.capabilities.as_ref().map(|x| &x.add_capabilities)),
        cap_drop: caps(sc.capabilities.as_ref().map(|x| &x.drop_capabilities)),
        no_new_privileges: sc.no_new_privs,
        network: if sb.host_network() { "host" } else { "none" }.to_string(),
        mounts: c.mounts.iter().map(mount).collect::<Result<_>>()?,
        labels: docker_labels(sb, &meta.name, &c.labels),
        runtime: sb.runtime_handler.clone(),
        ..Default::default()
    };
    let spec = pod_spec(sb, c, &sc, pid_ns)?;
    config.pod = Some(PodMember {
        sandbox_id: sb.id.clone(),
        name: meta.name.clone(),
        attempt: meta.attempt,
        labels: c.labels.clone().into_iter().collect(),
        annotations: c.annotations.clone().into_iter().collect(),
        image: c
            .image
            .as_ref()
            .map_or_else(String::new, |i| i.image.clone()),
        log_path: log_path(sb, &c.log_path),
        etc_files: super::sandbox::files::etc_files(&sb.files_dir),
        mounts: c
            .mounts
            .iter()
            .map(|m| {
                (
                    m.container_path.clone(),
                    m.host_path.clone(),
                    m.readonly,
                    m.propagation,
                )
            })
            .collect(),
        spec,
        stdin_once: c.stdin_once,
    });
    Ok(config)
}

/// CRI command/args as Docker's entrypoint/cmd (an entrypoint given drops the image's cmd,
/// which is what the CRI asks of a command without args).
fn argv(command: &[String], args: &[String]) -> (Option<String>, Vec<String>) {
    match command.split_first() {
        Some((first, rest)) => {
            let mut cmd = rest.to_vec();
            cmd.extend(args.iter().cloned());
            (Some(first.clone()), cmd)
        }
        None => (None, args.to_vec()),
    }
}

/// `uid[:gid]` or `name[:gid]`; empty leaves the image's user.
fn user(sc: &cri::LinuxContainerSecurityContext) -> Result<String> {
    let group = sc.run_as_group.as_ref().map(|g| g.value);
    let base = match (&sc.run_as_user, sc.run_as_username.as_str()) {
        (Some(u), _) => u.value.to_string(),
        (None, "") => {
            if group.is_some() {
                return Err(Error::InvalidArgument(
                    "run_as_group is set without run_as_user or run_as_username".into(),
                ));
            }
            return Ok(String::new());
        }
        (None, name) => name.to_string(),
    };
    Ok(match group {
        Some(g) => format!("{base}:{g}"),
        None => base,
    })
}

fn caps(list: Option<&Vec<String>>) -> Vec<String> {
    list.map(|l| l.to_vec()).unwrap_or_default()
}

fn mount(m: &cri::Mount) -> Result<MountConfig> {
    if m.image.as_ref().is_some_and(|i| !i.image.is_empty()) {
        return Err(Error::InvalidArgument(format!(
            "image volume at {}: image mounts are not supported",
            m.container_path
        )));
    }
    Ok(MountConfig {
        kind: "bind".into(),
        source: m.host_path.clone(),
        destination: m.container_path.clone(),
        read_only: m.readonly,
        create_source: true,
    })
}

fn docker_labels(
    sb: &SandboxRecord,
    name: &str,
    labels: &std::collections::HashMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = labels.clone().into_iter().collect();
    out.insert(POD_NAME.into(), sb.name().into());
    out.insert(POD_NAMESPACE.into(), sb.namespace().into());
    out.insert(POD_UID.into(), sb.uid().into());
    out.insert(CONTAINER_NAME.into(), name.into());
    out.insert(SANDBOX_ID.into(), sb.id.clone());
    out
}

fn log_path(sb: &SandboxRecord, rel: &str) -> Option<PathBuf> {
    let dir = &sb.config.log_directory;
    (!dir.is_empty() && !rel.is_empty()).then(|| PathBuf::from(dir).join(rel))
}

fn pod_spec(
    sb: &SandboxRecord,
    c: &cri::ContainerConfig,
    sc: &cri::LinuxContainerSecurityContext,
    pid_ns: Option<PathBuf>,
) -> Result<PodSpec> {
    let ns = sc.namespace_options.clone().unwrap_or_default();
    // The pod's PID namespace is joined only by a container that asks for it (POD).
    let pod_pid = ns.pid == NamespaceMode::Pod as i32;
    let mut spec = PodSpec {
        join: sb
            .namespaces
            .iter()
            .filter(|(k, _)| k != "pid" || pod_pid)
            .cloned()
            .collect(),
        ..Default::default()
    };
    if sb.host_ipc() {
        spec.host.push("ipc".into());
    }
    if sb.host_network() {
        spec.host.push("uts".into());
    }
    if ns.pid == NamespaceMode::Node as i32 {
        spec.host.push("pid".into());
    } else if let Some(p) = pid_ns {
        spec.join.push(("pid".into(), p));
    }
    let linux = sb.config.linux.clone().unwrap_or_default();
    spec.sysctls = linux.sysctls.into_iter().collect();
    spec.masked_paths = (!sc.masked_paths.is_empty()).then(|| sc.masked_paths.clone());
    spec.readonly_paths = (!sc.readonly_paths.is_empty()).then(|| sc.readonly_paths.clone());
    // The deprecated path form is what older kubelets (and critest's legacy specs) send.
    #[allow(deprecated)]
    let legacy = sc.seccomp_profile_path.as_str();
    spec.seccomp = seccomp(sc.seccomp.as_ref(), legacy)?;
    spec.supplemental_groups = sc
        .supplemental_groups
        .iter()
        .map(|g| {
            u32::try_from(*g).map_err(|_| Error::InvalidArgument(format!("invalid group {g}")))
        })
        .collect::<Result<_>>()?;
    spec.devices = c
        .devices
        .iter()
        .map(|d| DeviceSpec {
            host_path: d.host_path.clone().into(),
            container_path: d.container_path.clone(),
            permissions: d.permissions.clone(),
        })
        .collect();
    if let Some(r) = c.linux.as_ref().and_then(|l| l.resources.as_ref()) {
        spec.resources = resources(r);
    }
    spec.annotations = c.annotations.clone().into_iter().collect();
    spec.propagation = c
        .mounts
        .iter()
        .filter_map(|m| {
            let p = match cri::MountPropagation::try_from(m.propagation) {
                Ok(cri::MountPropagation::PropagationHostToContainer) => "rslave",
                Ok(cri::MountPropagation::PropagationBidirectional) => "rshared",
                _ => return None,
            };
            Some((m.container_path.clone(), p.to_string()))
        })
        .collect();
    spec.cgroup_parent = linux.cgroup_parent;
    Ok(spec)
}

pub fn resources(r: &cri::LinuxContainerResources) -> PodResources {
    PodResources {
        cpu_period: u64::try_from(r.cpu_period).unwrap_or(0),
        cpu_quota: r.cpu_quota,
        cpu_shares: u64::try_from(r.cpu_shares).unwrap_or(0),
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        memory_limit: r.memory_limit_in_bytes,
        oom_score_adj: r.oom_score_adj,
    }
}

/// The seccomp field, or the deprecated path form (`runtime/default`, `unconfined`,
/// `localhost/<path>`).
fn seccomp(profile: Option<&SecurityProfile>, legacy: &str) -> Result<Seccomp> {
    use cri::security_profile::ProfileType;
    if let Some(p) = profile {
        return Ok(match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::RuntimeDefault) => Seccomp::RuntimeDefault,
            Ok(ProfileType::Unconfined) => Seccomp::Unconfined,
            Ok(ProfileType::Localhost) => Seccomp::Localhost(PathBuf::from(&p.localhost_ref)),
            Err(_) => {
                return Err(Error::InvalidArgument(format!(
                    "unknown seccomp profile type {}",
                    p.profile_type
                )))
            }
        });
    }
    Ok(match legacy {
        "" | "unconfined" => Seccomp::Unconfined,
        "runtime/default" | "docker/default" => Seccomp::RuntimeDefault,
        other => match other.strip_prefix("localhost/") {
            Some(path) => Seccomp::Localhost(PathBuf::from(path)),
            None => {
                return Err(Error::InvalidArgument(format!(
                    "unknown seccomp profile {other:?}"
                )))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_and_args_map_to_entrypoint_and_cmd() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            argv(&s(&["sh", "-c"]), &s(&["echo hi"])),
            (Some("sh".into()), s(&["-c", "echo hi"]))
        );
        assert_eq!(argv(&[], &s(&["top"])), (None, s(&["top"])));
        assert_eq!(argv(&[], &[]), (None, vec![]));
    }

    #[test]
    fn users_and_seccomp_forms() {
        let mut sc = cri::LinuxContainerSecurityContext::default();
        assert_eq!(user(&sc).unwrap(), "");
        sc.run_as_user = Some(cri::Int64Value { value: 1000 });
        sc.run_as_group = Some(cri::Int64Value { value: 2000 });
        assert_eq!(user(&sc).unwrap(), "1000:2000");
        sc.run_as_user = None;
        assert!(
            user(&sc).is_err(),
            "a group alone is refused, as containerd does"
        );
        sc.run_as_username = "nobody".into();
        assert_eq!(user(&sc).unwrap(), "nobody:2000");
        assert_eq!(seccomp(None, "").unwrap(), Seccomp::Unconfined);
        assert_eq!(
            seccomp(None, "runtime/default").unwrap(),
            Seccomp::RuntimeDefault
        );
        assert_eq!(
            seccomp(None, "localhost//p.json").unwrap(),
            Seccomp::Localhost("/p.json".into())
        );
        assert!(seccomp(None, "bogus").is_err());
        let p = SecurityProfile {
            profile_type: 2,
            localhost_ref: "/x.json".into(),
        };
        assert_eq!(
            seccomp(Some(&p), "").unwrap(),
            Seccomp::Localhost("/x.json".into())
        );
    }
}
