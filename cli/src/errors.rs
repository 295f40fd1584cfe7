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

fn daemon_message(status: &tonic::Status) -> String {
    match status.code() {
        Code::Unavailable if status.message().is_empty() => "daemon unavailable".into(),
        Code::Cancelled => "pull cancelled".into(),
        _ => status.message().to_string(),
    }
}
