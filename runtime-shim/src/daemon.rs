//! Becoming a shim: detach from ferryd, become the container's subreaper, get a private mount
//! namespace, and report readiness. Everything here runs before the tokio runtime exists
//! (forking a multi-threaded process is unsound), in this order:
//!
//! 1. `daemonize`: fork; the parent (ferryd's child) exits at once so ferryd reaps it; the
//!    child calls `setsid` (no controlling terminal, no SIGHUP when ferryd's session ends) and
//!    forks again, so the shim is no session leader and its parent is init, not ferryd: a
//!    `kill -9` of ferryd, or its restart, leaves the shim and the container running.
//! 2. `become_subreaper`: orphans under the shim (the container's init once the runtime's
//!    `create` exits; detached exec processes) are re-parented to it, so it can reap them.
//! 3. `isolate_mounts`: `unshare(CLONE_NEWNS)` keeping the host's propagation (mounts ferryd
//!    makes later, e.g. a rootfs, propagate in; a CRI pod's bidirectional mounts propagate
//!    out, as the kubelet asks), and on a hybrid cgroup layout whose v2 hierarchy holds
//!    controllers, the v2 mount is made private and an empty file is bind-mounted over
//!    `/sys/fs/cgroup/unified/cgroup.controllers`: crun 1.8 refuses such a layout ("cgroups in
//!    hybrid mode not supported"), and sees "no v2 controllers" through the mask. Every runtime
//!    the shim runs inherits the namespace. runc works with or without it.
//! 4. `Ready`: one JSON line on `--ready-fd`, `{"pid":N,"socket":"..."}` or `{"error":"..."}`,
//!    then the fd is closed, so ferryd reads to EOF and knows the outcome.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{fork, setsid, ForkResult};

use crate::error::{Error, Result};

/// The cgroup v2 controller list crun 1.8 checks on a hybrid layout.
pub const HYBRID_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";
/// The cgroup v2 mount of a hybrid layout.
const HYBRID_ROOT: &str = "/sys/fs/cgroup/unified";

/// Detach (double fork + setsid). Returns only in the final shim process.
pub fn daemonize() -> Result<()> {
    // SAFETY: called from `main` before any thread exists; the child only continues ordinary
    // single-threaded Rust code.
    match unsafe { fork() }.map_err(Error::sys("fork"))? {
        ForkResult::Parent { child } => {
            // The middle process exits right after its own fork; reap it so ferryd sees no
            // zombie, then leave without running destructors twice.
            let _ = nix::sys::wait::waitpid(child, None);
            std::process::exit(0);
        }
        ForkResult::Child => {}
    }
    setsid().map_err(Error::sys("setsid"))?;
    // SAFETY: still single-threaded (the only thread of the forked child).
    match unsafe { fork() }.map_err(Error::sys("fork"))? {
        // SAFETY: `_exit` is async-signal-safe and skips atexit handlers and stdio flushes
        // that belong to the grandchild.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => Ok(()),
    }
}

/// Point stdin, stdout and stderr at /dev/null (the shim logs to its state dir).
pub fn redirect_stdio() -> Result<()> {
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(Error::io("open", "/dev/null"))?;
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard fds; both fds are valid and nothing holds Rust
        // ownership of fds 0-2 in a way that the replacement would invalidate.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(Error::sys("dup2 /dev/null")(nix::Error::last()));
        }
    }
    Ok(())
}

/// Make the shim the subreaper of everything it starts.
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(Error::sys("prctl(PR_SET_CHILD_SUBREAPER)"))
}

/// Private mount namespace with the cgroup mask (see the module doc; `mask == false` skips
/// the mask, for comparison and for testing the runc fallback). Returns what was done.
pub fn isolate_mounts(state_dir: &Path, mask: bool) -> Result<&'static str> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(Error::sys("unshare(CLONE_NEWNS)"))?;
    let has_controllers =
        std::fs::read_to_string(HYBRID_CONTROLLERS).is_ok_and(|s| !s.trim().is_empty());
    if !has_controllers {
        return Ok("own mount namespace; no cgroup mask needed");
    }
    if !mask {
        return Ok("own mount namespace; cgroup mask disabled by --no-cgroup-mask");
    }
    // Only the mount the mask lands on is made private, so the mask never reaches the host;
    // the rest keeps its propagation, so a pod's bidirectional (rshared) mounts still reach it.
    mount(
        None::<&str>,
        HYBRID_ROOT,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(Error::sys("make the cgroup v2 mount private"))?;
    let empty = state_dir.join(".empty-controllers");
    File::create(&empty).map_err(Error::io("create", &empty))?;
    mount(
        Some(&empty),
        HYBRID_CONTROLLERS,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(Error::sys("bind empty file over cgroup.controllers"))?;
    Ok("private mount namespace; hybrid cgroup v2 controllers masked for crun")
}

/// The readiness pipe ferryd passed with `--ready-fd`.
#[derive(Debug)]
pub struct Ready {
    fd: Option<File>,
}

impl Ready {
    /// Take ownership of `fd` and mark it close-on-exec so no runtime or container holds it.
    pub fn from_fd(fd: Option<i32>) -> Result<Self> {
        let Some(raw) = fd else {
            return Ok(Self { fd: None });
        };
        if raw <= 2 {
            return Err(Error::InvalidArgument(format!(
                "--ready-fd {raw} is a standard fd"
            )));
        }
        // SAFETY: ferryd passed this fd for us alone; F_GETFD below proves it is open.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        let flags =
            fcntl(&owned, FcntlArg::F_GETFD).map_err(Error::sys("--ready-fd is not open"))?;
        let flags = FdFlag::from_bits_truncate(flags) | FdFlag::FD_CLOEXEC;
        fcntl(&owned, FcntlArg::F_SETFD(flags)).map_err(Error::sys("fcntl(F_SETFD) ready fd"))?;
        Ok(Self {
            fd: Some(File::from(owned)),
        })
    }

    /// Report success and close.
    pub fn ok(self, pid: u32, socket: &Path) {
        let line = serde_json::json!({"pid": pid, "socket": socket.display().to_string()});
        self.send(&line);
    }

    /// Report a startup failure and close.
    pub fn fail(self, error: &str) {
        self.send(&serde_json::json!({ "error": error }));
    }

    fn send(mut self, v: &serde_json::Value) {
        if let Some(mut f) = self.fd.take() {
            let _ = writeln!(f, "{v}");
        }
    }
}
