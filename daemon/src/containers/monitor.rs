//! Exits: each started container has a task waiting on its shim; the exit is recorded, the
//! shim retired, then `--rm` removes the container or its restart policy starts it again (with
//! Docker's backoff: 100 ms doubling to 1 min, reset after 10 s of running). At start, ferryd
//! re-adopts the shims of containers that were running, and learns the exits of those whose
//! shims are gone from the `exit.json` they left.

use std::sync::Arc;
use std::time::Duration;

use ferry_proto::shim::v1 as shim;
use futures::future::BoxFuture;

use super::manager::{now, Containers};
use super::record::State;
use crate::error::{Error, Result};
use crate::shim::{recorded_exit, Shim};

impl Containers {
    /// Boxed: start → monitor → exit → restart → start is a cycle of async calls, and a named
    /// future type breaks it.
    pub(crate) fn monitor(self: Arc<Self>, id: String, client: Shim) -> BoxFuture<'static, ()> {
        Box::pin(self.monitor_inner(id, client))
    }

    async fn monitor_inner(self: Arc<Self>, id: String, client: Shim) {
        let exit = match client.wait("").await {
            Ok(w) => {
                let at = w.exited_at.map(ts_to_rfc3339).unwrap_or_else(now);
                Some((w.exit_code, at))
            }
            Err(e) => {
                tracing::warn!(%id, error = %e, "lost the shim while waiting");
                recorded_exit(&self.paths(&id).state)
            }
        };
        if let Err(e) = self.on_exit(&id, exit, Some(client)).await {
            tracing::error!(%id, error = %e, "recording an exit failed");
        }
    }

    /// Records an exit (None: the shim vanished without one: dead), then applies `--rm` or the
    /// restart policy.
    pub(crate) async fn on_exit(
        self: &Arc<Self>,
        id: &str,
        exit: Option<(i32, String)>,
        client: Option<Shim>,
    ) -> Result<()> {
        let _g = self.lock(id).await;
        let Some(mut rec) = self.table.get(id)? else {
            return Ok(());
        };
        rec.oom_killed = exit.is_some() && self.oom_killed(&rec);
        if let Some(c) = client.or_else(|| self.shims_take(id)) {
            c.retire().await;
        }
        self.shims_take(id);
        self.net_down(&mut rec).await;
        let ran_for = rec
            .started_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0);
        match exit {
            Some((code, at)) => {
                rec.state = State::Exited;
                rec.exit_code = code;
                rec.finished_at = Some(at);
            }
            None => {
                self.kill_orphan(&rec).await;
                rec.state = State::Dead;
                rec.error = "the container's shim died and left no exit status".into();
                rec.finished_at = Some(now());
            }
        }
        rec.pid = 0;
        self.events
            .container("die", &rec, &[("exitCode", &rec.exit_code.to_string())]);
        if rec.config.auto_remove {
            self.save(&rec)?;
            return self.remove_locked(id, true).await;
        }
        if rec.state == State::Exited
            && rec.config.restart.should_restart(
                rec.exit_code,
                rec.restart_count,
                rec.stopped_by_user,
            )
        {
            if ran_for >= 10 {
                rec.restart_count = 0;
            }
            rec.state = State::Restarting;
            let delay = backoff(rec.restart_count);
            self.save(&rec)?;
            tokio::spawn(Arc::clone(self).restart_later(id.to_string(), delay));
            return Ok(());
        }
        self.save(&rec)
    }

    /// The shim is gone but its container may still run: kill it (after checking the pid
    /// still belongs to the container's cgroup) and clear the runtime's state.
    async fn kill_orphan(&self, rec: &super::record::ContainerRecord) {
        let pid = rec.pid as i32;
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if pid > 0 && cgroup.contains(&rec.cgroup_rel().display().to_string()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let runtime = if rec.runtime_used.is_empty() {
            "runc"
        } else {
            rec.runtime_used.as_str()
        };
        let root = self.launcher.runtime_root.join(runtime);
        let out = tokio::process::Command::new(runtime)
            .arg("--root")
            .arg(&root)
            .args(["delete", "--force", &rec.id])
            .output()
            .await;
        tracing::info!(id = %rec.id, pid, ?out, "cleaned up after a dead shim");
    }

    fn restart_later(self: Arc<Self>, id: String, delay: Duration) -> BoxFuture<'static, ()> {
        Box::pin(self.restart_later_inner(id, delay))
    }

    async fn restart_later_inner(self: Arc<Self>, id: String, delay: Duration) {
        tokio::time::sleep(delay).await;
        let _g = self.lock(&id).await;
        let Ok(Some(mut rec)) = self.table.get(&id) else {
            return;
        };
        if rec.state != State::Restarting || rec.stopped_by_user {
            return;
        }
        rec.restart_count += 1;
        if let Err(e) = self.start_locked(&mut rec).await {
            tracing::warn!(%id, error = %e, "restart failed");
            rec.state = State::Exited;
            let _ = self.save(&rec);
        }
    }

    /// Re-adopts containers after a ferryd restart; sweeps what dead containers left in the
    /// network (but the namespaces of `keep`: ready pod sandboxes) and makes sure the default
    /// network exists.
    pub async fn recover(self: &Arc<Self>, keep: Vec<String>) -> Result<()> {
        self.recover_shims().await?;
        let live = self
            .table
            .all()?
            .into_iter()
            .filter(|c| c.state.is_live())
            .map(|c| c.id)
            .chain(keep)
            .collect();
        let nets = Arc::clone(&self.networks);
        let made = tokio::task::spawn_blocking(move || {
            nets.sweep(&live);
            // As dockerd: the default network exists from the start, so a list only reads.
            nets.ensure_default()
        })
        .await
        .map_err(Error::blocking("network sweep"))?;
        if let Err(e) = made {
            tracing::warn!(error = %e, "default bridge network not created (retried on first use)");
        }
        Ok(())
    }

    async fn recover_shims(self: &Arc<Self>) -> Result<()> {
        for rec in self.table.all()? {
            if !rec.state.is_live() {
                continue;
            }
            let this = Arc::clone(self);
            let id = rec.id.clone();
            match Shim::connect(&self.paths(&id).socket(), &id).await {
                Ok(client) => this.adopt(&id, client).await?,
                Err(_) => {
                    let exit = recorded_exit(&self.paths(&id).state);
                    tracing::info!(%id, ?exit, "shim gone while ferryd was down");
                    this.on_exit(&id, exit, None).await?;
                }
            }
        }
        Ok(())
    }

    async fn adopt(self: &Arc<Self>, id: &str, client: Shim) -> Result<()> {
        let state = match client.state().await {
            Ok(s) => s,
            Err(_) => {
                return self
                    .on_exit(id, recorded_exit(&self.paths(id).state), None)
                    .await
            }
        };
        let status = shim::Status::try_from(state.status).unwrap_or(shim::Status::Unspecified);
        if status == shim::Status::Stopped {
            let at = state.exited_at.map(ts_to_rfc3339).unwrap_or_else(now);
            return self
                .on_exit(id, Some((state.exit_code, at)), Some(client))
                .await;
        }
        {
            let _g = self.lock(id).await;
            if let Some(mut rec) = self.table.get(id)? {
                rec.state = if status == shim::Status::Paused {
                    State::Paused
                } else {
                    State::Running
                };
                rec.pid = state.pid;
                self.save(&rec)?;
            }
        }
        self.shims_put(id, client.clone());
        tokio::spawn(Arc::clone(self).monitor(id.to_string(), client));
        Ok(())
    }
}

fn backoff(restarts: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << restarts.min(10));
    Duration::from_millis(ms.min(60_000))
}

fn ts_to_rfc3339(ts: prost_types::Timestamp) -> String {
    chrono::DateTime::from_timestamp(ts.seconds, ts.nanos.max(0) as u32)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(now)
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }
}
