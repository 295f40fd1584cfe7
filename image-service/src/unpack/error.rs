//! Errors of layer extraction: one variant per cause, each naming the offending path or value.

use std::io;
use std::path::{Path, PathBuf};

/// Why a layer could not be extracted (or finished).
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The entry's path (or hardlink target) climbs above the layer root.
    #[error("layer entry {path:?} escapes the layer root")]
    Escape {
        /// The path as written in the archive.
        path: PathBuf,
    },
    /// The entry is well-formed tar but cannot be a valid layer entry.
    #[error("invalid layer entry {path:?}: {reason}")]
    InvalidEntry {
        /// The entry's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A whiteout `.wh.` with an empty name.
    #[error("layer entry {path:?} is a whiteout without a name")]
    BareWhiteout {
        /// The entry's path.
        path: PathBuf,
    },
    /// The entry's path (or link target) is longer than allowed.
    #[error("layer entry {path:?} has a path of {len} bytes, more than the limit of {max}")]
    PathTooLong {
        /// The path (may be shortened for display by the caller).
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The entry's path has more components than allowed.
    #[error("layer entry {path:?} has {depth} path components, more than the limit of {max}")]
    PathTooDeep {
        /// The path.
        path: PathBuf,
        /// Its number of components.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The layer has more entries than allowed.
    #[error("layer has more than {max} entries")]
    TooManyEntries {
        /// The limit.
        max: u64,
    },
    /// An entry type Ferry does not extract (GNU sparse files, volume labels, unknown typeflags).
    #[error("layer entry {path:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// The entry's path.
        path: PathBuf,
        /// The entry type, described.
        kind: String,
    },
    /// The archive itself is malformed (bad checksum, bad numeric field, truncated data,
    /// corrupt compression).
    #[error("malformed layer archive")]
    Tar {
        /// The parser's or decompressor's error.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation failed.
    #[error("cannot extract {path:?}")]
    Io {
        /// The path relative to the layer root (or the layer directory itself).
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The filesystem is full or the quota is exhausted.
    #[error("no space left on the device (or quota exceeded) while extracting {path:?}")]
    NoSpace {
        /// The path being written.
        path: PathBuf,
    },
}

impl UnpackError {
    /// A filesystem error at `path`, with ENOSPC and EDQUOT mapped to [`UnpackError::NoSpace`].
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Self::NoSpace {
                path: path.to_path_buf(),
            },
            _ => Self::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    /// [`UnpackError::io`] for a rustix errno.
    pub(crate) fn errno(path: &Path, errno: rustix::io::Errno) -> Self {
        Self::io(path, errno.into())
    }

    /// An [`UnpackError::InvalidEntry`].
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        Self::InvalidEntry {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A malformed-archive error.
    pub(crate) fn tar(source: io::Error) -> Self {
        Self::Tar { source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_is_no_space() {
        for code in [libc::ENOSPC, libc::EDQUOT] {
            let e = UnpackError::io(Path::new("f"), io::Error::from_raw_os_error(code));
            assert!(matches!(e, UnpackError::NoSpace { .. }), "{e:?}");
        }
        let e = UnpackError::io(Path::new("f"), io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(e, UnpackError::Io { .. }));
        assert_eq!(e.to_string(), r#"cannot extract "f""#);
    }
}
