//! ferryd's one error type: the image service's and the network crate's errors wrapped whole
//! (so their gRPC codes survive), plus what the container domain and the shims add.
//! `status` maps every variant to a gRPC code in one exhaustive match.

use std::path::PathBuf;

use crate::containers::spec::SpecError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] ferry_image_service::Error),

    #[error(transparent)]
    Network(#[from] ferry_network::Error),

    #[error(transparent)]
    Spec(#[from] SpecError),

    #[error(transparent)]
    Build(#[from] crate::build::BuildError),

    #[error("No such container: {0}")]
    ContainerNotFound(String),

    #[error("multiple containers match {query:?}: {candidates:?}")]
    AmbiguousContainer {
        query: String,
        candidates: Vec<String>,
    },

    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    InvalidArgument(String),

    /// The runtime could not start the process (the message says why; see `start_exit`).
    #[error("failed to start container {id}: {message}")]
    StartFailed { id: String, message: String },

    /// A shim answered with an error: its code is kept, so a shim's FailedPrecondition
    /// reaches the user as FailedPrecondition.
    #[error("shim: {}", .0.message())]
    Shim(tonic::Status),

    /// The shim could not be launched (spawn, readiness) — a local failure.
    #[error("shim launch: {0}")]
    ShimLaunch(String),

    /// The shim's socket does not answer.
    #[error("shim unreachable: {0}")]
    ShimGone(String),

    /// ferryd is stopping: waits and streams end.
    #[error("ferryd is shutting down")]
    ShuttingDown,

    /// A blocking task panicked or was cancelled: a bug, logged as internal.
    #[error("{0} task failed: {1}")]
    Blocking(&'static str, String),

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no space left on device while writing {path}")]
    NoSpace { path: PathBuf },

    /// A caller's deadline passed (the CRI's ExecSync timeout).
    #[error("{0}")]
    DeadlineExceeded(String),
}

impl Error {
    /// Wraps an I/O error with what we were doing and where (ENOSPC/EDQUOT as "no space").
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::NoSpace { path },
            _ => Error::Io { op, path, source },
        }
    }

    /// The message as the runtime wrote it (a shim's status without our "shim: " prefix), which
    /// is what Docker's start exit codes are read from.
    pub fn runtime_message(&self) -> String {
        match self {
            Error::Shim(status) => status.message().to_string(),
            other => other.to_string(),
        }
    }

    /// A `spawn_blocking` join error, named for the task.
    pub fn blocking(task: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |e| Error::Blocking(task, e.to_string())
    }
}

/// The container table's rows are redb/JSON rows of the shared metadata database: their
/// failures are the image service's "metadata store" errors.
macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Image(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
