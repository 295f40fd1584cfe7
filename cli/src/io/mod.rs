//! The local end of attached sessions: terminal modes, detach keys, stdio pumping.

pub(crate) mod chunks;
pub(crate) mod detach;
pub(crate) mod session;
pub(crate) mod tty;

/// Ends the process as a Go program (Docker's CLI) ends when its stdout pipe is closed: killed
/// by SIGPIPE, silently, so the shell sees 141 and `pipefail` scripts see what they would with
/// docker. Rust ignores SIGPIPE (writes fail with EPIPE instead), so it is restored first; only
/// here, since a global default would also kill the CLI on a write to a closed daemon socket.
pub(crate) fn die_of_sigpipe() -> ! {
    // SAFETY: setting a signal's disposition to the default and raising it in this thread
    // touch no memory of ours; nothing runs after the default action kills the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    // Unreachable unless SIGPIPE is blocked; exit with the status the shell would show.
    std::process::exit(128 + libc::SIGPIPE)
}
