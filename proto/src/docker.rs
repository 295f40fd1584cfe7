//! Docker conventions both ends of the contract apply: why a container's process never ran, read
//! from the runtime's error text, and the one exit status both sides give it (so ferryd's
//! recorded exit code and the CLI's exit status cannot drift); Docker's human durations.

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

    /// The exit status of a process that never ran, one number everywhere: what the CLI exits
    /// with (docker's `toStatusError`) and what ferryd records as `State.ExitCode`. 127 and 126
    /// (EACCES or EISDIR) as Docker; the rest 125, "the daemon failed", where dockerd would
    /// record 128 while its CLI exits 125.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::NotFound => 127,
            StartFailure::PermissionDenied | StartFailure::IsDirectory => 126,
            StartFailure::Other => 125,
        }
    }
}

/// Docker's `units.HumanDuration`: ferryd's container status ("Up 3 hours") and the CLI's
/// CREATED column ("3 hours ago") read alike.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let hours = (s as f64 / 3600.0 + 0.5) as i64;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
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
    fn each_failure_has_one_exit_code() {
        assert_eq!(StartFailure::NotFound.exit_code(), 127);
        assert_eq!(StartFailure::PermissionDenied.exit_code(), 126);
        assert_eq!(StartFailure::IsDirectory.exit_code(), 126);
        assert_eq!(StartFailure::Other.exit_code(), 125);
    }
}
