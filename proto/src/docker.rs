//! Docker conventions both ends of the contract apply to the same message: why a container's
//! process never ran, read from the runtime's error text, and the exit status each side gives
//! it. One classifier, so ferryd's recorded exit code and the CLI's exit status cannot drift.

/// Why a start failed, as Docker reads the runtime's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// The command does not exist (runc: `executable file not found in $PATH`; crun:
    /// ``executable file `x` not found in $PATH: No such file or directory``).
    NotFound,
    /// The command exists but may not be executed (EACCES).
    PermissionDenied,
    /// The command is a directory (EISDIR).
    IsDirectory,
    /// Anything else: cgroups, mounts, the runtime itself.
    Other,
}

impl StartFailure {
    pub fn of(message: &str) -> StartFailure {
        let m = message.to_ascii_lowercase();
        if m.contains("executable file not found")
            || m.contains("not found in $path")
            || m.contains("no such file or directory")
        {
            StartFailure::NotFound
        } else if m.contains("permission denied") {
            StartFailure::PermissionDenied
        } else if m.contains("is a directory") {
            StartFailure::IsDirectory
        } else {
            StartFailure::Other
        }
    }

    /// The exit code ferryd records for the container (`inspect`'s State.ExitCode): dockerd
    /// sets 127 and 126 (for EACCES only) over its default of 128.
    pub fn daemon_exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::PermissionDenied => 126,
            StartFailure::IsDirectory | StartFailure::Other => 128,
        }
    }

    /// The CLI's exit status (docker's `toStatusError`): 127, 126 for EACCES or EISDIR, and
    /// 125 — "the daemon failed" — for the rest.
    pub fn cli_exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::PermissionDenied | StartFailure::IsDirectory => 126,
            StartFailure::Other => 125,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_classify_as_docker_reads_them() {
        let cases = [
            (
                "exec: \"nosuch\": executable file not found in $PATH",
                StartFailure::NotFound,
            ),
            (
                "executable file `nosuch` not found in $PATH: No such file or directory",
                StartFailure::NotFound,
            ),
            (
                "exec /bin/x: no such file or directory",
                StartFailure::NotFound,
            ),
            (
                "exec /etc: permission denied",
                StartFailure::PermissionDenied,
            ),
            ("exec /etc: is a directory", StartFailure::IsDirectory),
            ("cgroup setup failed", StartFailure::Other),
        ];
        for (msg, want) in cases {
            assert_eq!(StartFailure::of(msg), want, "{msg}");
        }
    }

    #[test]
    fn daemon_and_cli_codes_differ_only_where_docker_does() {
        let codes = |f: StartFailure| (f.daemon_exit_code(), f.cli_exit_code());
        assert_eq!(codes(StartFailure::NotFound), (127, 127));
        assert_eq!(codes(StartFailure::PermissionDenied), (126, 126));
        assert_eq!(codes(StartFailure::IsDirectory), (128, 126));
        assert_eq!(codes(StartFailure::Other), (128, 125));
    }
}
