//! `ferry-shim pod-init`: the tiny init that holds a CRI pod's shared PID namespace (the CRI's
//! `NamespaceMode::POD`, the default), so no pause image is needed. It unshares a PID
//! namespace, forks its PID 1, prints that child's host PID on stdout and exits; the child
//! reaps whatever is reparented to it and exits on SIGTERM or SIGINT. It outlives ferryd, as
//! shims do; ferryd joins the namespace through `/proc/<pid>/ns/pid`.

use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult, Pid};

/// The argument that selects this mode.
pub const ARG: &str = "pod-init";

/// Runs the mode; must be called while the process has one thread (before any runtime).
pub fn run() -> std::io::Result<()> {
    unshare(CloneFlags::CLONE_NEWPID)?;
    // SAFETY: the process is single-threaded here (called first thing in main), so the child
    // may run arbitrary code after fork.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            println!("{child}");
            Ok(())
        }
        ForkResult::Child => {
            let _ = setsid();
            quiet_stdio();
            hold()
        }
    }
}

/// The init's stdio goes to /dev/null: ferryd reads only the parent's.
fn quiet_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of this single-threaded process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// PID 1: signals are taken synchronously (a PID 1 ignores what it has no handler for).
fn hold() -> std::io::Result<()> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGCHLD,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set.thread_block()?;
    loop {
        match set.wait()? {
            Signal::SIGTERM | Signal::SIGINT => return Ok(()),
            Signal::SIGCHLD => reap(),
            _ => {}
        }
    }
}

fn reap() {
    while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
