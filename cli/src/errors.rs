//! Errors as Docker prints them: `Error response from daemon: …` on stderr, exit status 1.

use tonic::Code;

#[derive(Debug, thiserror::Error)]
#[error("Cannot connect to the Ferry daemon at {0}. Is ferryd running?")]
pub(crate) struct CannotConnect(pub(crate) String);

/// Prints the error and returns the exit status.
pub(crate) fn report(err: &anyhow::Error) -> i32 {
    if let Some(status) = err.downcast_ref::<tonic::Status>() {
        eprintln!("Error response from daemon: {}", daemon_message(status));
    } else {
        eprintln!("{err:#}");
    }
    1
}

pub(crate) fn exit_with(err: &anyhow::Error) -> ! {
    std::process::exit(report(err))
}

pub(crate) fn daemon_message(status: &tonic::Status) -> String {
    match status.code() {
        Code::Unavailable if status.message().is_empty() => "daemon unavailable".into(),
        Code::Cancelled => "pull cancelled".into(),
        // Docker capitalises this one; scripts grep for it.
        Code::NotFound if status.message().starts_with("no such container") => {
            format!("N{}", &status.message()[1..])
        }
        _ => status.message().to_string(),
    }
}

/// The error line as Docker words it, without a verb prefix.
pub(crate) fn message(err: &anyhow::Error) -> String {
    match err.downcast_ref::<tonic::Status>() {
        Some(status) => format!("Error response from daemon: {}", daemon_message(status)),
        None => format!("{err:#}"),
    }
}

/// A `run`/`create`/`start -a` failure with the exit status Docker would give it.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) code: i32,
    pub(crate) error: anyhow::Error,
}

impl Failed {
    /// The daemon (or the CLI) failed before the container ran: 125.
    pub(crate) fn daemon(error: impl Into<anyhow::Error>) -> Failed {
        Failed {
            code: 125,
            error: error.into(),
        }
    }

    /// Start failed: 127, 126 or 125 by the message, as Docker's `toStatusError`.
    pub(crate) fn start(error: impl Into<anyhow::Error>) -> Failed {
        let error = error.into();
        Failed {
            code: start_exit_code(&message(&error)),
            error,
        }
    }
}

/// Docker's `toStatusError`: the command was not found (127), could not be invoked (126), or
/// anything else went wrong in the daemon (125).
pub(crate) fn start_exit_code(message: &str) -> i32 {
    ferry_proto::docker::StartFailure::of(message).exit_code()
}

/// Prints a `run`/`create` failure as Docker does and returns its exit status.
pub(crate) fn report_failed(f: &Failed, verb: &str) -> i32 {
    eprintln!("ferry: {}", message(&f.error));
    eprintln!("See 'ferry {verb} --help'.");
    f.code
}

/// One failure among several names (`stop a b c`): printed, and the verb will exit 1.
pub(crate) fn report_one(err: impl Into<anyhow::Error>) {
    eprintln!("{}", message(&err.into()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failures_map_to_docker_exit_codes() {
        let cases = [
            ("exec: \"nosuch\": executable file not found in $PATH", 127),
            (
                "executable file `nosuch` not found in $PATH: No such file or directory",
                127,
            ),
            ("exec /bin/x: no such file or directory", 127),
            ("exec /etc: permission denied", 126),
            ("exec /etc: is a directory", 126),
            ("cgroup setup failed", 125),
        ];
        for (msg, code) in cases {
            assert_eq!(start_exit_code(msg), code, "{msg}");
            let st = tonic::Status::failed_precondition(msg);
            assert_eq!(Failed::start(st).code, code, "{msg}");
        }
        assert_eq!(Failed::daemon(tonic::Status::internal("x")).code, 125);
    }

    #[test]
    fn no_such_container_is_capitalised() {
        let st = tonic::Status::not_found("no such container: web");
        assert_eq!(
            message(&st.into()),
            "Error response from daemon: No such container: web"
        );
        let st = tonic::Status::not_found("no such image: x");
        assert_eq!(daemon_message(&st), "no such image: x");
    }
}
