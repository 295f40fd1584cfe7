//! `exec` and `top`: a new process in a running container, and the processes it holds.

use std::sync::Arc;

use ferry_proto::docker::StartFailure;
use oci_spec::runtime::{Process, Spec};

use super::manager::Containers;
use super::record::{ContainerRecord, State};
use super::spec::SpecError;
use crate::error::{Error, Result};
use crate::shim::{Shim, ShimAttach};

/// What `ferry exec` asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub user: String,
    pub tty: bool,
    pub stdin: bool,
    pub privileged: bool,
}

/// A started exec process (its stdio comes separately, as a [`ShimAttach`]): `finish` waits
/// for its exit code.
#[derive(Debug)]
pub struct ExecSession {
    pub container: String,
    pub exec_id: String,
    client: Shim,
}

impl ExecSession {
    /// Waits for the process and forgets it; its exit code.
    pub async fn finish(self) -> Result<i32> {
        let w = self.client.wait(&self.exec_id).await?;
        let _ = self.client.delete_exec(&self.exec_id).await;
        Ok(w.exit_code)
    }

    /// SIGKILLs the process (a deadline passed) and forgets it once it has exited.
    pub async fn kill(self) {
        let _ = self.client.kill_exec(&self.exec_id, libc::SIGKILL).await;
        let _ = self.client.wait(&self.exec_id).await;
        let _ = self.client.delete_exec(&self.exec_id).await;
    }
}

impl Containers {
    pub async fn exec(
        self: &Arc<Self>,
        query: &str,
        cfg: ExecConfig,
    ) -> Result<(ShimAttach, ExecSession)> {
        let rec = self.get(query)?;
        if rec.state != State::Running {
            let why = if rec.state == State::Paused {
                "is paused, unpause the container before exec"
            } else {
                "is not running"
            };
            return Err(Error::Conflict(format!("Container {} {why}", rec.id)));
        }
        if cfg.cmd.is_empty() {
            return Err(Error::InvalidArgument("No exec command specified".into()));
        }
        let process = self.exec_process(&rec, &cfg)?;
        let json =
            serde_json::to_vec(&process).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let client = self.shim(&rec).await?;
        let exec_id = hex::encode(rand::random::<[u8; 8]>());
        client.exec(&exec_id, json, cfg.tty, cfg.stdin).await?;
        let attach = client.attach(&exec_id).await?;
        let what = cfg.cmd.join(" ");
        self.events.container(
            &format!("exec_create: {what}"),
            &rec,
            &[("execID", &exec_id)],
        );
        if let Err(e) = client.start_exec(&exec_id).await {
            let msg = e.runtime_message();
            let code = StartFailure::of(&msg).exit_code();
            return Err(Error::StartFailed {
                id: rec.id.clone(),
                message: format!("{msg} (exit {code})"),
            });
        }
        self.events.container(
            &format!("exec_start: {what}"),
            &rec,
            &[("execID", &exec_id)],
        );
        Ok((
            attach,
            ExecSession {
                container: rec.id,
                exec_id,
                client,
            },
        ))
    }

    /// The container's own process settings, with the exec's command, env, cwd and user.
    fn exec_process(&self, rec: &ContainerRecord, cfg: &ExecConfig) -> Result<Process> {
        let path = self.paths(&rec.id).bundle.join("config.json");
        // ferryd wrote this file: one it cannot read back is a bug or local damage (Internal).
        let spec = Spec::load(&path).map_err(SpecError::from)?;
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_args(Some(cfg.cmd.clone()));
        p.set_terminal(Some(cfg.tty));
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(cfg.env.iter().cloned());
        p.set_env(Some(env));
        if !cfg.workdir.is_empty() {
            p.set_cwd(cfg.workdir.clone().into());
        }
        if !cfg.user.is_empty() {
            let u = super::spec::resolve_user(&self.paths(&rec.id).rootfs(), Some(&cfg.user))?;
            let mut user = p.user().clone();
            user.set_uid(u.uid);
            user.set_gid(u.gid);
            user.set_additional_gids(Some(u.additional_gids));
            p.set_user(user);
        }
        if cfg.privileged {
            p.set_capabilities(Some(super::spec::all_capability_sets()?));
        }
        Ok(p)
    }

    /// `ps` on the host, keeping the container's processes (Docker's `top`).
    pub async fn top(
        self: &Arc<Self>,
        query: &str,
        ps_args: &[String],
    ) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let rec = self.get(query)?;
        if !matches!(rec.state, State::Running | State::Paused) {
            return Err(Error::Conflict(format!(
                "Container {} is not running",
                rec.id
            )));
        }
        let pids = self.shim(&rec).await?.ps().await?;
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = tokio::process::Command::new("ps")
            .args(&args)
            .output()
            .await
            .map_err(|e| Error::io("run", "ps", e))?;
        if !out.status.success() {
            return Err(Error::InvalidArgument(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// Keeps the rows whose PID column is one of `pids`; the last column may contain spaces.
fn filter_ps(text: &str, pids: &[u32]) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = header
        .iter()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::InvalidArgument("Couldn't find PID field in ps output".into()))?;
    let n = header.len();
    let rows = lines
        .filter_map(|l| {
            let mut cells: Vec<String> = l.split_whitespace().map(str::to_string).collect();
            if cells.len() > n {
                let tail = cells.split_off(n - 1).join(" ");
                cells.push(tail);
            }
            let pid: u32 = cells.get(pid_col)?.parse().ok()?;
            pids.contains(&pid).then_some(cells)
        })
        .collect();
    Ok((header, rows))
}

#[cfg(test)]
mod tests {
    use super::filter_ps;

    #[test]
    fn top_keeps_only_the_containers_pids() {
        let ps = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 100\nroot 11 1 0 10:00 ? 00:00:00 other thing\n";
        let (h, rows) = filter_ps(ps, &[10]).unwrap();
        assert_eq!(h.len(), 8);
        assert_eq!(
            rows,
            vec![vec![
                "root",
                "10",
                "1",
                "0",
                "10:00",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
    }
}
