//! TEMPORARY STUB (replaced by the real module)
use std::path::{Path, PathBuf};
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}
impl Compression {
    pub fn from_media_type(_mt: &str) -> Option<Compression> {
        None
    }
}
pub fn decompressor<'a, R: std::io::Read + 'a>(
    r: R,
    _c: Compression,
) -> Result<Box<dyn std::io::Read + 'a>, UnpackError> {
    Ok(Box::new(r))
}
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub max_path_len: usize,
    pub max_path_depth: usize,
    pub max_entries: u64,
    pub max_xattr_bytes: usize,
}
pub fn apply_layer<R: std::io::Read>(
    _tar: R,
    _dest: &Path,
    _limits: &Limits,
) -> Result<ApplyOutcome, UnpackError> {
    Err(UnpackError::NoSpace {
        path: PathBuf::new(),
    })
}
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    pub entries: u64,
    pub bytes: u64,
    pub pending_links: Vec<PendingLink>,
    pub implicit_dirs: Vec<PathBuf>,
}
#[derive(Debug, Clone)]
pub struct PendingLink {
    pub path: PathBuf,
    pub target: PathBuf,
}
pub fn finish_layer(
    _dest: &Path,
    _lowers: &[PathBuf],
    _outcome: &ApplyOutcome,
) -> Result<(), UnpackError> {
    Ok(())
}
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("x")]
    Escape { path: PathBuf },
    #[error("x")]
    InvalidEntry { path: PathBuf, reason: String },
    #[error("x")]
    BareWhiteout { path: PathBuf },
    #[error("x")]
    PathTooLong {
        path: PathBuf,
        len: usize,
        max: usize,
    },
    #[error("x")]
    PathTooDeep {
        path: PathBuf,
        depth: usize,
        max: usize,
    },
    #[error("x")]
    TooManyEntries { max: u64 },
    #[error("x")]
    UnsupportedEntry { path: PathBuf, kind: String },
    #[error("x")]
    Tar { source: std::io::Error },
    #[error("x")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("x")]
    NoSpace { path: PathBuf },
}
