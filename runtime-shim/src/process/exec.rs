//! Exec processes: registered by Exec (the process spec is written to the state dir), run by
//! StartExec with `exec --detach --pid-file`, then tracked like init (the shim is their
//! subreaper once the runtime exits). Their output is not logged, only streamed to Attach.

use std::path::PathBuf;
use std::sync::Arc;

use super::status::{Exit, Status};
use super::{read_pid_file, Container, IoPlan, Process};
use crate::error::{Error, Result};
use crate::io::{Logs, ProcessIo};
use crate::oci::args::ExecOpts;

/// An exec process, before and after StartExec.
#[derive(Debug)]
pub(crate) enum ExecEntry {
    Registered { terminal: bool, io: Arc<ProcessIo> },
    Starting(Arc<ProcessIo>),
    Started(Arc<Process>),
}

/// Exec ids become file names: keep them short and plain.
fn check_exec_id(exec_id: &str) -> Result<()> {
    let ok = !exec_id.is_empty()
        && exec_id.len() <= 64
        && exec_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !exec_id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "exec id {exec_id:?}: use 1-64 of [A-Za-z0-9_.-]"
        )))
    }
}

/// Check that `json` is an OCI process object and force its `terminal` to agree.
fn process_spec(json: &[u8], terminal: bool) -> Result<Vec<u8>> {
    let bad = |why: String| Error::InvalidArgument(format!("process_json: {why}"));
    let mut v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(e.to_string()))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let has_args = obj
        .get("args")
        .and_then(|a| a.as_array())
        .is_some_and(|a| !a.is_empty());
    if !has_args {
        return Err(bad("args missing or empty".into()));
    }
    obj.insert("terminal".into(), terminal.into());
    if !obj.contains_key("cwd") {
        obj.insert("cwd".into(), "/".into());
    }
    Ok(serde_json::to_vec(&v).expect("a Value always serialises"))
}

impl Container {
    fn execs(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, ExecEntry>> {
        self.execs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register an exec process; nothing runs yet.
    pub fn add_exec(
        &self,
        exec_id: &str,
        process_json: &[u8],
        terminal: bool,
        stdin: bool,
    ) -> Result<()> {
        check_exec_id(exec_id)?;
        if !self.status().can_exec() {
            return Err(Error::WrongState(format!(
                "cannot exec in a {} container",
                self.status().as_str()
            )));
        }
        let spec = process_spec(process_json, terminal)?;
        let mut execs = self.execs();
        if execs.contains_key(exec_id) {
            return Err(Error::ExecExists(exec_id.into()));
        }
        let path = self.state_dir.join(format!("exec-{exec_id}.json"));
        std::fs::write(&path, spec).map_err(Error::io("write", &path))?;
        let io = ProcessIo::new(stdin);
        execs.insert(exec_id.into(), ExecEntry::Registered { terminal, io });
        Ok(())
    }

    /// Run a registered exec process; returns its pid.
    pub async fn start_exec(&self, exec_id: &str) -> Result<i32> {
        let (terminal, io) = {
            let mut execs = self.execs();
            let entry = execs
                .get_mut(exec_id)
                .ok_or_else(|| Error::NoSuchExec(exec_id.into()))?;
            match entry {
                ExecEntry::Registered { terminal, io } => {
                    let r = (*terminal, io.clone());
                    *entry = ExecEntry::Starting(io.clone());
                    r
                }
                _ => return Err(Error::WrongState(format!("exec {exec_id} already started"))),
            }
        };
        let r = self.run_exec(exec_id, terminal, io).await;
        let mut execs = self.execs();
        match r {
            Ok(p) => {
                let pid = p.pid;
                execs.insert(exec_id.into(), ExecEntry::Started(p));
                Ok(pid)
            }
            Err(e) => {
                execs.remove(exec_id);
                Err(e)
            }
        }
    }

    async fn run_exec(
        &self,
        exec_id: &str,
        terminal: bool,
        io: Arc<ProcessIo>,
    ) -> Result<Arc<Process>> {
        if self.status() != Status::Running {
            return Err(Error::WrongState(format!(
                "cannot exec in a {} container",
                self.status().as_str()
            )));
        }
        let spec = self.state_dir.join(format!("exec-{exec_id}.json"));
        let pid_file = self.state_dir.join(format!("exec-{exec_id}.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let console = PathBuf::from(format!("{}-{exec_id}.sock", self.console_prefix.display()));
        let (plan, child) = IoPlan::new(terminal, io.has_stdin(), &console)?;
        let opts = ExecOpts {
            process: &spec,
            console_socket: plan.console_path(),
            pid_file: &pid_file,
        };
        let rt_log = self.state_dir.join(format!("runtime-exec-{exec_id}.log"));
        self.runtime.exec(&self.id, opts, child, &rt_log).await?;
        let pid = read_pid_file(&pid_file)?;
        plan.finish(&io, Logs::default()).await?;
        tracing::info!(exec_id, pid, "exec started");
        Ok(Process::track(pid, terminal, io, &self.reaper, |_| {}))
    }

    /// The started process named by `exec_id` (empty: init).
    pub fn process(&self, exec_id: &str) -> Result<Arc<Process>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        match self.execs().get(exec_id) {
            Some(ExecEntry::Started(p)) => Ok(p.clone()),
            Some(_) => Err(Error::WrongState(format!("exec {exec_id} not started"))),
            None => Err(Error::NoSuchExec(exec_id.into())),
        }
    }

    /// The stdio hub of init (empty id) or an exec process, started or not: Attach may come
    /// before StartExec.
    pub fn io(&self, exec_id: &str) -> Result<Arc<ProcessIo>> {
        if exec_id.is_empty() {
            return Ok(self.init.io.clone());
        }
        match self.execs().get(exec_id) {
            Some(ExecEntry::Registered { io, .. } | ExecEntry::Starting(io)) => Ok(io.clone()),
            Some(ExecEntry::Started(p)) => Ok(p.io.clone()),
            None => Err(Error::NoSuchExec(exec_id.into())),
        }
    }

    /// Signal an exec process directly (the runtime's kill targets init only).
    pub fn kill_exec(&self, exec_id: &str, signal: i32) -> Result<()> {
        let p = self.process(exec_id)?;
        if p.exit().is_some() {
            return Err(Error::WrongState(format!("exec {exec_id} has exited")));
        }
        let sig = nix::sys::signal::Signal::try_from(signal)
            .map_err(|_| Error::InvalidArgument(format!("signal {signal}")))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), sig)
            .map_err(Error::sys("kill exec"))
    }

    /// Forget an exec process that exited (or never started); returns its exit if any.
    pub fn delete_exec(&self, exec_id: &str) -> Result<Option<Exit>> {
        let mut execs = self.execs();
        let exit = match execs.get(exec_id) {
            None => return Err(Error::NoSuchExec(exec_id.into())),
            Some(ExecEntry::Started(p)) => match p.exit() {
                Some(e) => Some(e),
                None => return Err(Error::WrongState(format!("exec {exec_id} is running"))),
            },
            Some(ExecEntry::Starting(_)) => {
                return Err(Error::WrongState(format!("exec {exec_id} is starting")))
            }
            Some(ExecEntry::Registered { .. }) => None,
        };
        execs.remove(exec_id);
        for f in [
            format!("exec-{exec_id}.json"),
            format!("exec-{exec_id}.pid"),
        ] {
            let _ = std::fs::remove_file(self.state_dir.join(f));
        }
        Ok(exit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids() {
        assert!(check_exec_id("e1").is_ok());
        assert!(check_exec_id("a.b-c_d").is_ok());
        assert!(check_exec_id("").is_err());
        assert!(check_exec_id("../x").is_err());
        assert!(check_exec_id(".hidden").is_err());
        assert!(check_exec_id(&"x".repeat(65)).is_err());
    }

    #[test]
    fn process_spec_checks_and_sets_terminal() {
        let out = process_spec(br#"{"args":["echo","hi"],"terminal":true}"#, false).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["terminal"], false);
        assert_eq!(v["cwd"], "/");
        assert!(process_spec(br#"{"args":[]}"#, false).is_err());
        assert!(process_spec(b"[1]", false).is_err());
        assert!(process_spec(b"nope", false).is_err());
    }
}
