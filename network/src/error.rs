//! The networking crate's one error type; ferryd wraps it and maps each variant to a gRPC code.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad user value: a port mapping, a subnet, a network name.
    #[error("{0}")]
    InvalidArgument(String),

    /// The name, port or subnet is taken, or the network is in use.
    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    NotFound(String),

    /// A CNI plugin failed, or none is installed.
    #[error("network: {0}")]
    Plugin(String),

    /// A network file that does not serialize (a bug, not a user error).
    #[error("metadata store: {0}")]
    Record(String),

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no space left on device while writing {path}")]
    NoSpace { path: PathBuf },
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
}
