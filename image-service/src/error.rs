//! The crate's one error type. Big modules keep their own enum (distribution, unpack) and are
//! wrapped here; `services::status` maps every variant to a gRPC code in one exhaustive match.

use std::path::PathBuf;

use crate::distribution::DistributionError;
use crate::unpack::UnpackError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Distribution(#[from] DistributionError),

    #[error(transparent)]
    Unpack(#[from] UnpackError),

    #[error(transparent)]
    Mount(#[from] crate::snapshots::MountError),

    #[error("no such image: {0}")]
    ImageNotFound(String),

    #[error("image {reference} is ambiguous: it matches {candidates:?}")]
    AmbiguousImage {
        reference: String,
        candidates: Vec<String>,
    },

    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("{what} exceeds {max} bytes")]
    TooLarge { what: String, max: u64 },

    #[error("invalid image config {digest}: {reason}")]
    InvalidConfig { digest: String, reason: String },

    #[error("unsupported layer media type {media_type} for layer {digest}")]
    UnsupportedLayer { media_type: String, digest: String },

    #[error("image {image} is mounted at {path}: unmount it first")]
    ImageMounted { image: String, path: PathBuf },

    #[error("{path} is not an image mount")]
    NotMounted { path: PathBuf },

    #[error("no space left on device while writing {path}")]
    NoSpace { path: PathBuf },

    /// Extracting a layer would leave the data root under its free-space reserve.
    #[error("pull of layer {layer} stopped: {path} has less than {reserve} bytes free (ferryd --min-free-space)")]
    LowSpace {
        layer: String,
        path: PathBuf,
        reserve: u64,
    },

    #[error("invalid archive: {0}")]
    InvalidArchive(String),

    #[error("pull cancelled")]
    Cancelled,

    #[error("metadata store: {0}")]
    Metadata(String),

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("another ferryd holds {path}")]
    Locked { path: PathBuf },

    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Conflict(String),

    #[error("{0}")]
    InvalidArgument(String),

    /// A blocking task panicked or was cancelled: a bug, logged as internal.
    #[error("{0} task failed: {1}")]
    Blocking(&'static str, String),

    /// `ferry push` of a name with no local image (Docker's wording).
    #[error("An image does not exist locally with the tag: {0}")]
    NoLocalImage(String),

    /// The registry wants credentials for a push (none, or not accepted).
    #[error("unauthorized: authentication required to push to {repository} (run 'ferry login {registry}')")]
    PushUnauthorized {
        repository: String,
        registry: String,
    },

    /// The registry knows who we are and still refuses the push.
    #[error("denied: requested access to the resource is denied ({repository})")]
    PushDenied { repository: String },

    /// `ferry login` with credentials the registry refused.
    #[error("login to {registry} failed: unauthorized: incorrect username or password")]
    LoginFailed { registry: String },

    /// A registry that offers neither a search API nor `/v2/_catalog`.
    #[error("cannot search {registry}: {reason}")]
    SearchUnsupported { registry: String, reason: String },
}

impl Error {
    /// Wraps an I/O error with what we were doing and where, turning ENOSPC/EDQUOT into
    /// the clear "no space" error the user needs.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Error::NoSpace { path },
            _ => Error::Io { op, path, source },
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Metadata(e.to_string())
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
