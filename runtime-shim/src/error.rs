//! The crate's one error type. Each variant is one cause and holds the value that was bad;
//! `service::into_status` maps every variant to a gRPC code with no catch-all arm.

use std::path::PathBuf;

/// Everything that can go wrong in the shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request named another container than the one this shim owns.
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// A request named an exec process the shim does not know.
    #[error("no such exec process: {0}")]
    NoSuchExec(String),
    /// Create was called twice.
    #[error("container {0} already created")]
    AlreadyCreated(String),
    /// An exec id is already in use.
    #[error("exec process {0} already exists")]
    ExecExists(String),
    /// The container or process is in the wrong state for the request.
    #[error("conflict: {0}")]
    WrongState(String),
    /// ReopenLog for a container created without a CRI log path.
    #[error("container has no CRI log")]
    NoCriLog,
    /// A request field is malformed (signal, runtime name, process JSON...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The OCI runtime binary could not be started at all.
    #[error("cannot run {runtime} {verb}")]
    RuntimeSpawn {
        runtime: String,
        verb: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The OCI runtime ran and failed: its exit status and stderr are kept.
    #[error("{runtime} {verb} failed ({status}): {stderr}")]
    RuntimeFailed {
        runtime: String,
        verb: &'static str,
        /// Exit code, or 128 + signal.
        status: i32,
        stderr: String,
    },
    /// The runtime's output (state, ps, pid file) did not parse.
    #[error("cannot parse {what}: {detail}")]
    RuntimeOutput { what: String, detail: String },
    /// Local file I/O failed.
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{op}")]
    Sys {
        op: &'static str,
        #[source]
        source: nix::Error,
    },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wrap an I/O error with the operation and the path it was about.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }

    /// Wrap a failed system call.
    pub fn sys(op: &'static str) -> impl FnOnce(nix::Error) -> Self {
        move |source| Error::Sys { op, source }
    }

    /// True when the runtime refused for a cgroup reason (crun 1.8 on a hybrid layout).
    pub fn is_cgroup_failure(&self) -> bool {
        match self {
            Error::RuntimeFailed { stderr, .. } => stderr.to_ascii_lowercase().contains("cgroup"),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_failures_are_recognised() {
        let crun = Error::RuntimeFailed {
            runtime: "crun".into(),
            verb: "create",
            status: 1,
            stderr: "cgroups in hybrid mode not supported, drop all controllers from cgroupv2"
                .into(),
        };
        assert!(crun.is_cgroup_failure());
        let other = Error::RuntimeFailed {
            runtime: "crun".into(),
            verb: "create",
            status: 1,
            stderr: "executable file `nope` not found in $PATH".into(),
        };
        assert!(!other.is_cgroup_failure());
        assert!(!Error::WrongState("cgroup".into()).is_cgroup_failure());
    }
}
