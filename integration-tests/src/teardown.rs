//! Best-effort removal of what a test's `ferryd` left on the host, run by [`crate::Daemon`]'s
//! `Drop`.
//!
//! `ferryd` leaves its containers running when it exits (the shims outlive it, as
//! containerd's do), so a dropped daemon first removes its containers through itself: only
//! ferryd runs the CNI DEL that frees a container's namespace, veth and iptables rules. What a
//! dead or hung daemon could not remove is then killed or unmounted here directly, so that the
//! temporary root can be deleted. Nothing here panics: it runs in `Drop`, often while a failed
//! test is already unwinding, and a panic there would abort the whole test binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::wait_until;

/// How long one `ferry` call of the teardown may take before it is killed (a hung daemon
/// must not hang the test binary).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `cmd` with its output captured; `None` if it cannot start, fails or overruns
/// [`CALL_TIMEOUT`] (then it is killed).
pub(crate) fn run_bounded(mut cmd: Command) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // `ps -aq` and `rm -f` print far less than a pipe holds, so waiting before reading is safe.
    let exited = wait_until(CALL_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out)
}

/// SIGKILLs every process whose command line names `dir` (the shims: their `--bundle` and
/// `--socket` lie under the daemon's roots) or that sits in the cgroup of one of the
/// containers under `exec_root/containers`.
pub(crate) fn kill_strays(dir: &Path, exec_root: &Path) {
    let dir = dir.display().to_string();
    let cgroups: Vec<String> = names(&exec_root.join("containers"))
        .into_iter()
        .map(|id| format!("/ferry/{id}"))
        .collect();
    for (pid, proc_dir) in processes() {
        let cmdline = fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        let cgroup = fs::read_to_string(proc_dir.join("cgroup")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline).contains(&dir)
            || cgroups.iter().any(|c| cgroup.contains(c.as_str()));
        if ours && pid != std::process::id() {
            sigkill(pid);
        }
    }
}

/// Lazily unmounts every mount point at or below `dir`, deepest first (overlay roots, image
/// mounts, namespace files, a tmpfs a test put on the data root).
pub(crate) fn unmount_below(dir: &Path) {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&p)
            .stderr(Stdio::null())
            .status();
    }
}

/// Deletes the bridge interface of every network recorded under `data_root/networks` (the
/// CNI bridge plugin never deletes one).
pub(crate) fn delete_bridges(data_root: &Path) {
    let Ok(rd) = fs::read_dir(data_root.join("networks")) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(bytes) = fs::read(e.path()) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        if let Some(bridge) = v["bridge"].as_str() {
            let _ = Command::new("ip")
                .args(["link", "delete", bridge])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// `(pid, /proc/<pid>)` of every process visible now.
fn processes() -> Vec<(u32, PathBuf)> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((pid, e.path()))
        })
        .collect()
}

fn names(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn sigkill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions. The pid was read from /proc a moment
    // ago; at worst it has exited since (ESRCH, ignored).
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape_mountinfo(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/var/tmp/a\040b"), "/var/tmp/a b");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/odd\x"), r"/odd\x");
    }
}
