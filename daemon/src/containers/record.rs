//! A container's record in the table, and its state machine.
//!
//! ```text
//! created ──start──▶ running ──pause──▶ paused ──unpause──▶ running
//!    ▲                  │ exit                                  
//!    │                  ▼                                        
//!    └──(start again)─ exited ◀──────── restarting ◀── exit with a restart policy
//! dead: the shim vanished and no exit status was recorded
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }

    /// Whether a process of the container may be alive (a shim owns it).
    pub fn is_live(self) -> bool {
        matches!(self, State::Running | State::Paused | State::Restarting)
    }

    pub fn can_start(self) -> bool {
        matches!(self, State::Created | State::Exited | State::Dead)
    }
}

/// `--restart`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum RestartPolicy {
    #[default]
    No,
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        Some(match s {
            "" | "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(None),
            other => {
                let n = other.strip_prefix("on-failure:")?.parse().ok()?;
                RestartPolicy::OnFailure(Some(n))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure(_) => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    /// Docker's rule: a container stopped by the user is not restarted.
    pub fn should_restart(&self, exit_code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure(max) => exit_code != 0 && max.is_none_or(|m| restarts < m),
        }
    }
}

/// What `run`/`create` asked for (the domain copy of `ferry.containers.v1.ContainerConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub image: String,
    pub cmd: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub hostname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub no_new_privileges: bool,
    pub memory: i64,
    pub cpus: f64,
    pub pids_limit: i64,
    pub network: String,
    pub mounts: Vec<MountConfig>,
    pub init: bool,
    pub labels: BTreeMap<String, String>,
    pub restart: RestartPolicy,
    pub auto_remove: bool,
    pub runtime: String,
    pub log_max_size: u64,
    pub log_max_file: u32,
    /// `-p` specs as given (parsed by `network::ports`).
    #[serde(default)]
    pub publish: Vec<String>,
    /// `-P`: publish every EXPOSEd port.
    #[serde(default)]
    pub publish_all: bool,
    /// Set for a container of a CRI pod (absent for the CLI's).
    #[serde(default)]
    pub pod: Option<super::pod::PodMember>,
}

/// The OCI runtimes a container may name; the first is the default (Debian ships both).
pub const RUNTIMES: [&str; 2] = ["crun", "runc"];

impl ContainerConfig {
    /// What dockerd refuses before creating anything: `--restart` with `--rm`, a runtime it
    /// does not know.
    pub fn validate(&self) -> Result<()> {
        if self.auto_remove && self.restart != RestartPolicy::No {
            return Err(Error::InvalidArgument(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        if !self.runtime.is_empty() && !RUNTIMES.contains(&self.runtime.as_str()) {
            return Err(Error::InvalidArgument(format!(
                "unknown or invalid runtime name: {}",
                self.runtime
            )));
        }
        Ok(())
    }

    /// The runtime the container runs with: the one it names, or the default.
    pub fn runtime_name(&self) -> &str {
        match self.runtime.as_str() {
            "" => RUNTIMES[0],
            named => named,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountConfig {
    pub kind: String,
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    /// `-v HOST:CTR`: a missing host directory is created (`--mount` refuses it), as Docker.
    #[serde(default)]
    pub create_source: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub config: ContainerConfig,
    /// Fully qualified image name it was created from ("" when created by ID).
    pub image_name: String,
    /// Config digest of the image.
    pub image_id: String,
    /// The process as resolved from the image and flags: entrypoint + cmd.
    pub args: Vec<String>,
    pub created: String,
    pub state: State,
    pub pid: u32,
    pub exit_code: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub restart_count: u32,
    /// Set by `stop`/`kill`: restart policies then leave the container down.
    pub stopped_by_user: bool,
    pub runtime_used: String,
    /// Why the container is dead, or why its last start failed.
    pub error: String,
    /// The kernel's OOM killer struck during the last run (Docker's State.OOMKilled, the CRI's
    /// OOMKilled reason).
    #[serde(default)]
    pub oom_killed: bool,
    /// Namespace, addresses and bound ports while it runs on a bridge network.
    #[serde(default)]
    pub net: Option<ferry_network::NetState>,
}

impl ContainerRecord {
    /// The container's cgroup under each controller's root: `/ferry/<id>`, or
    /// `<cgroup_parent>/<id>` for a pod's container whose pod names a parent.
    pub fn cgroup_rel(&self) -> std::path::PathBuf {
        let parent = self
            .config
            .pod
            .as_ref()
            .map(|p| p.spec.cgroup_parent.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/ferry");
        std::path::Path::new(parent).join(&self.id)
    }

    /// A record as `create` makes it: created, never run.
    pub fn new(id: String, name: String, config: ContainerConfig, image_id: String) -> Self {
        ContainerRecord {
            id,
            name,
            config,
            image_name: String::new(),
            image_id,
            args: Vec::new(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            state: State::Created,
            pid: 0,
            exit_code: 0,
            started_at: None,
            finished_at: None,
            restart_count: 0,
            stopped_by_user: false,
            runtime_used: String::new(),
            error: String::new(),
            oom_killed: false,
            net: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse_and_decide_like_docker() {
        assert_eq!(
            RestartPolicy::parse("on-failure:3"),
            Some(RestartPolicy::OnFailure(Some(3)))
        );
        assert_eq!(RestartPolicy::parse("sometimes"), None);
        assert_eq!(RestartPolicy::parse("on-failure:x"), None);
        let p = RestartPolicy::OnFailure(Some(2));
        assert!(p.should_restart(1, 1, false));
        assert!(!p.should_restart(1, 2, false));
        assert!(!p.should_restart(0, 0, false));
        assert!(RestartPolicy::Always.should_restart(0, 100, false));
        assert!(!RestartPolicy::Always.should_restart(0, 0, true));
        assert!(!RestartPolicy::No.should_restart(1, 0, false));
    }

    #[test]
    fn states_allow_docker_moves() {
        assert!(State::Created.can_start() && State::Exited.can_start());
        assert!(!State::Running.can_start());
        assert!(State::Paused.is_live() && !State::Exited.is_live());
    }
}
