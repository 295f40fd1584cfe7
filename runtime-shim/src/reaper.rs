//! The one place that calls `waitpid`. The shim is a child subreaper, so besides the runtime
//! binaries it spawns it inherits the container's init and detached exec processes when their
//! runtime parent exits. A second reaper (tokio's process driver, `Child::wait`) would race this
//! one for the same statuses, so nothing else in the shim waits: every exit goes through here
//! and is fanned out to the subscriber registered for that pid (containerd's reaper design).
//!
//! Invariants:
//! - a pid is registered before it can be reaped: `spawn` forks under the table lock, and the
//!   reaper takes the same lock before each `waitpid`;
//! - an exit nobody waits for yet (a container init whose pid we only learn from the runtime's
//!   pid file after `create` returns) is kept in a bounded "unclaimed" list, and a later
//!   `subscribe` for that pid is answered from it.

use std::collections::{HashMap, VecDeque};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// How many unclaimed exits are remembered (oldest dropped first).
const UNCLAIMED_MAX: usize = 256;

/// Exit code of a reaped process: its status, or 128 + signal when killed by a signal.
pub type ExitCode = i32;

#[derive(Debug, Default)]
struct Table {
    waiters: HashMap<i32, oneshot::Sender<ExitCode>>,
    unclaimed: VecDeque<(i32, ExitCode)>,
}

/// Handle to the reaper; clones share one table.
#[derive(Debug, Clone, Default)]
pub struct Reaper {
    table: Arc<Mutex<Table>>,
}

impl Reaper {
    /// Install the SIGCHLD handler and start reaping on the current tokio runtime.
    pub fn start() -> Result<Self> {
        let reaper = Reaper::default();
        let mut sigchld =
            signal(SignalKind::child()).map_err(Error::io("install SIGCHLD handler", "-"))?;
        let r = reaper.clone();
        tokio::spawn(async move {
            // Children that exited before the handler was installed.
            r.reap_all();
            while sigchld.recv().await.is_some() {
                r.reap_all();
            }
        });
        Ok(reaper)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a consistent table (single inserts/removes).
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spawn `cmd` and subscribe to its exit atomically. Never call `wait` on the child.
    pub fn spawn(
        &self,
        cmd: &mut Command,
    ) -> std::io::Result<(Child, oneshot::Receiver<ExitCode>)> {
        let mut t = self.lock();
        let child = cmd.spawn()?;
        let (tx, rx) = oneshot::channel();
        t.waiters.insert(pid_of(&child), tx);
        Ok((child, rx))
    }

    /// Subscribe to the exit of a process the shim did not spawn (container init, detached
    /// exec). Answers at once if the pid already exited unclaimed.
    pub fn subscribe(&self, pid: i32) -> oneshot::Receiver<ExitCode> {
        let mut t = self.lock();
        let (tx, rx) = oneshot::channel();
        if let Some(i) = t.unclaimed.iter().position(|(p, _)| *p == pid) {
            if let Some((_, code)) = t.unclaimed.remove(i) {
                let _ = tx.send(code);
            }
            return rx;
        }
        t.waiters.insert(pid, tx);
        rx
    }

    /// Reap every exited child; deliver or park each status.
    fn reap_all(&self) {
        loop {
            let mut t = self.lock();
            let (pid, code) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), 128 + sig as i32),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "waitpid");
                    return;
                }
            };
            tracing::debug!(pid, code, "reaped");
            match t.waiters.remove(&pid) {
                Some(tx) => {
                    let _ = tx.send(code);
                }
                None => {
                    if t.unclaimed.len() == UNCLAIMED_MAX {
                        t.unclaimed.pop_front();
                    }
                    t.unclaimed.push_back((pid, code));
                }
            }
        }
    }
}

/// The child's pid as the signed type the kernel interfaces use.
pub fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("pids fit in i32 (pid_max <= 2^22)")
}
