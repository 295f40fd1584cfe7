//! Records as CRI messages: a pod's container as `Container`/`ContainerStatus`, a sandbox as
//! `PodSandbox`/`PodSandboxStatus`, and the CRI's filters applied to them.

use std::collections::HashMap;

use k8s_cri::v1 as cri;

use super::sandbox::{SandboxRecord, SandboxState};
use crate::containers::{ContainerRecord, State};

fn ns_of(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

pub fn container_state(s: State) -> cri::ContainerState {
    match s {
        State::Created => cri::ContainerState::ContainerCreated,
        State::Running | State::Paused | State::Restarting => cri::ContainerState::ContainerRunning,
        State::Exited | State::Dead => cri::ContainerState::ContainerExited,
    }
}

fn metadata(rec: &ContainerRecord) -> cri::ContainerMetadata {
    let pod = rec.config.pod.clone().unwrap_or_default();
    cri::ContainerMetadata {
        name: pod.name,
        attempt: pod.attempt,
    }
}

fn image_spec(rec: &ContainerRecord) -> cri::ImageSpec {
    let asked = rec.config.pod.as_ref().map_or("", |p| p.image.as_str());
    cri::ImageSpec {
        image: if asked.is_empty() {
            rec.image_id.clone()
        } else {
            asked.to_string()
        },
        ..Default::default()
    }
}

/// `image_ref`: the repo digest the image came by when there is one, else its ID.
fn image_ref(rec: &ContainerRecord, repo_digest: Option<String>) -> String {
    repo_digest.unwrap_or_else(|| rec.image_id.clone())
}

pub fn container(rec: &ContainerRecord, repo_digest: Option<String>) -> cri::Container {
    let pod = rec.config.pod.clone().unwrap_or_default();
    cri::Container {
        id: rec.id.clone(),
        pod_sandbox_id: pod.sandbox_id.clone(),
        metadata: Some(metadata(rec)),
        image: Some(image_spec(rec)),
        image_ref: image_ref(rec, repo_digest),
        state: container_state(rec.state) as i32,
        created_at: ns_of(Some(&rec.created)),
        labels: pod.labels.into_iter().collect(),
        annotations: pod.annotations.into_iter().collect(),
        image_id: rec.image_id.clone(),
    }
}

/// The CRI's reason for a stop: OOMKilled, Completed or Error.
fn reason(rec: &ContainerRecord) -> (String, String) {
    match rec.state {
        State::Exited | State::Dead if rec.oom_killed => ("OOMKilled".into(), String::new()),
        State::Exited | State::Dead if rec.exit_code == 0 => ("Completed".into(), String::new()),
        State::Exited | State::Dead => ("Error".into(), rec.error.clone()),
        State::Created if !rec.error.is_empty() => ("StartError".into(), rec.error.clone()),
        _ => (String::new(), String::new()),
    }
}

pub fn container_status(
    rec: &ContainerRecord,
    repo_digest: Option<String>,
) -> cri::ContainerStatus {
    let pod = rec.config.pod.clone().unwrap_or_default();
    let (reason, message) = reason(rec);
    let finished = matches!(rec.state, State::Exited | State::Dead);
    cri::ContainerStatus {
        id: rec.id.clone(),
        metadata: Some(metadata(rec)),
        state: container_state(rec.state) as i32,
        created_at: ns_of(Some(&rec.created)),
        started_at: ns_of(rec.started_at.as_deref()),
        finished_at: if finished {
            ns_of(rec.finished_at.as_deref())
        } else {
            0
        },
        exit_code: if finished { rec.exit_code } else { 0 },
        image: Some(image_spec(rec)),
        image_ref: image_ref(rec, repo_digest),
        reason,
        message,
        labels: pod.labels.into_iter().collect(),
        annotations: pod.annotations.into_iter().collect(),
        mounts: pod
            .mounts
            .iter()
            .map(|(c, h, ro, p)| cri::Mount {
                container_path: c.clone(),
                host_path: h.clone(),
                readonly: *ro,
                propagation: *p,
                ..Default::default()
            })
            .collect(),
        log_path: pod
            .log_path
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        resources: Some(cri::ContainerResources {
            linux: Some(resources(&pod.spec.resources)),
            windows: None,
        }),
        image_id: rec.image_id.clone(),
        user: None,
    }
}

pub fn resources(r: &crate::containers::spec::pod::PodResources) -> cri::LinuxContainerResources {
    cri::LinuxContainerResources {
        cpu_period: r.cpu_period as i64,
        cpu_quota: r.cpu_quota,
        cpu_shares: r.cpu_shares as i64,
        memory_limit_in_bytes: r.memory_limit,
        oom_score_adj: r.oom_score_adj,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        ..Default::default()
    }
}

fn labels_match(selector: &HashMap<String, String>, labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub fn container_matches(f: &cri::ContainerFilter, c: &cri::Container) -> bool {
    (f.id.is_empty() || c.id.starts_with(&f.id))
        && (f.pod_sandbox_id.is_empty() || c.pod_sandbox_id.starts_with(&f.pod_sandbox_id))
        && f.state.as_ref().is_none_or(|s| s.state == c.state)
        && labels_match(&f.label_selector, &c.labels)
}

pub fn sandbox_state(s: SandboxState) -> cri::PodSandboxState {
    match s {
        SandboxState::Ready => cri::PodSandboxState::SandboxReady,
        SandboxState::NotReady => cri::PodSandboxState::SandboxNotready,
    }
}

pub fn sandbox(r: &SandboxRecord) -> cri::PodSandbox {
    cri::PodSandbox {
        id: r.id.clone(),
        metadata: r.config.metadata.clone(),
        state: sandbox_state(r.state) as i32,
        created_at: r.created_ns,
        labels: r.config.labels.clone(),
        annotations: r.config.annotations.clone(),
        runtime_handler: r.runtime_handler.clone(),
    }
}

pub fn sandbox_matches(f: &cri::PodSandboxFilter, s: &cri::PodSandbox) -> bool {
    (f.id.is_empty() || s.id.starts_with(&f.id))
        && f.state.as_ref().is_none_or(|st| st.state == s.state)
        && labels_match(&f.label_selector, &s.labels)
}

pub fn sandbox_status(r: &SandboxRecord) -> cri::PodSandboxStatus {
    let ns = r
        .config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.clone());
    cri::PodSandboxStatus {
        id: r.id.clone(),
        metadata: r.config.metadata.clone(),
        state: sandbox_state(r.state) as i32,
        created_at: r.created_ns,
        network: Some(cri::PodSandboxNetworkStatus {
            ip: r.ip().to_string(),
            additional_ips: Vec::new(),
        }),
        linux: Some(cri::LinuxPodSandboxStatus {
            namespaces: Some(cri::Namespace { options: ns }),
        }),
        labels: r.config.labels.clone(),
        annotations: r.config.annotations.clone(),
        runtime_handler: r.runtime_handler.clone(),
    }
}
