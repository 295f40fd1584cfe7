//! Safe extraction of OCI/Docker image layer tars into overlayfs lower directories.
//!
//! # Invariants
//!
//! * **The `tar` crate only parses.** Entries are read with `Archive::entries()` and
//!   created by this module; `Entry::unpack`/`unpack_in`/`Archive::unpack` are never called
//!   (they have had path escapes: RUSTSEC-2018-0002, RUSTSEC-2021-0080, CVE-2026-33055).
//!   The crate honours PAX `size`/`path`/`linkpath`/`uid`/`gid` and verifies header
//!   checksums; on top of that every PAX record must be well formed and a PAX `size` must
//!   be the one the parser used (a PAX/ustar size desync, as in CVE-2025-62518, makes two
//!   parsers see different files), and a body shorter than its size is an error.
//! * **Nothing is written outside the layer directory.** Entry paths are first normalised
//!   lexically: leading `/` are stripped (absolute paths land inside, like Docker and
//!   containerd), and a `..` climbing above the root is rejected as
//!   [`UnpackError::Escape`]. Then every existing parent directory is opened with
//!   `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` relative to an fd of the layer
//!   directory, so `..` and symlinks, including absolute ones planted by an earlier entry
//!   of the same layer (`a -> /etc` then `a/passwd`), resolve *inside* it, as they will in
//!   the container. The final component is created with `*at` calls on the parent fd
//!   (`O_CREAT|O_EXCL|O_NOFOLLOW`, `mkdirat`, `symlinkat`, `mknodat`, `linkat` without
//!   `AT_SYMLINK_FOLLOW`), and metadata is set through fds or with `AT_SYMLINK_NOFOLLOW`,
//!   never by following a path. Hardlink targets are resolved inside the root too, and
//!   may not pass through a symlink.
//! * **Later entries win.** An entry replaces what an earlier one left at its path (a
//!   directory over a directory only updates metadata).
//! * **Directory mtimes are set last**, after every entry is written, because creating a
//!   child changes its parent's mtime. Owner is set before mode, because `chown` clears
//!   setuid/setgid, and xattrs after both (`chown` clears `security.capability`).
//! * **Whiteouts are converted** to overlayfs' form, since the directory is used as an
//!   overlay lower directly: `.wh.NAME` becomes a 0/0 character device `NAME`,
//!   `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory, other `.wh..wh.*`
//!   (AUFS bookkeeping) are skipped.
//! * **Layers are extracted independently**, so what needs a lower layer is reported in
//!   [`ApplyOutcome`] and completed by [`finish_layer`]: hardlinks to a lower layer's file
//!   (copied, as a hardlink cannot cross layer directories) and parent directories the tar
//!   did not list (given the lower layer's owner, mode and times).
//! * **Bounded resources**: path length and depth, entry count and xattr size are capped
//!   ([`Limits`]); file contents stream through one 256 KiB buffer.

mod apply;
mod error;
mod finish;
mod meta;
mod path;
mod root;
mod whiteout;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use error::UnpackError;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd.
    Zstd,
}

impl Compression {
    /// The compression of an OCI or Docker layer media type; `None` for anything else.
    pub fn from_media_type(mt: &str) -> Option<Compression> {
        match mt {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }
}

/// A streaming decompressor for `c` over `r`.
pub fn decompressor<'a, R: Read + 'a>(
    r: R,
    c: Compression,
) -> Result<Box<dyn Read + 'a>, UnpackError> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(r).map_err(UnpackError::tar)?)
        }
    })
}

/// Caps on what one layer may contain.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest entry path or link target, in bytes.
    pub max_path_len: usize,
    /// Most components in an entry path.
    pub max_path_depth: usize,
    /// Most entries in a layer.
    pub max_entries: u64,
    /// Most bytes of xattr names and values on one entry.
    pub max_xattr_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_path_len: 4096,
            max_path_depth: 256,
            max_entries: 10_000_000,
            max_xattr_bytes: 1 << 20,
        }
    }
}

/// What [`apply_layer`] did, and what [`finish_layer`] must complete.
#[derive(Debug, Default)]
pub struct ApplyOutcome {
    /// Archive entries read.
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Hardlinks whose target is not in this layer (it lives in a lower layer).
    pub pending_links: Vec<PendingLink>,
    /// Directories created because an entry needed them but the tar had none (relative
    /// to the layer directory, parents before children).
    pub implicit_dirs: Vec<PathBuf>,
}

/// A hardlink to a file of a lower layer.
#[derive(Debug, Clone)]
pub struct PendingLink {
    /// The link, relative to the image root.
    pub path: PathBuf,
    /// Its target, relative to the image root.
    pub target: PathBuf,
}

/// Extracts the decompressed layer tar `tar` into `dest`, an existing empty directory.
///
/// Reads entries up to the end-of-archive marker; bytes after it are left unread.
pub fn apply_layer<R: Read>(
    tar: R,
    dest: &Path,
    limits: &Limits,
) -> Result<ApplyOutcome, UnpackError> {
    apply::apply(tar, dest, limits)
}

/// Completes `dest` once every layer below it is extracted: `lowers` are their
/// directories, top-most first (overlay order).
///
/// Each pending hardlink becomes a copy of its target, found in the first lower layer
/// that has it (whiteouts and opaque directories of higher layers hide it; a target found
/// nowhere is [`UnpackError::InvalidEntry`]); several links to one target share one copy.
/// Each implicit directory takes owner, mode and times from the first lower layer that has
/// it as a directory, or keeps 0755 root.
pub fn finish_layer(
    dest: &Path,
    lowers: &[PathBuf],
    outcome: &ApplyOutcome,
) -> Result<(), UnpackError> {
    finish::finish(dest, lowers, outcome)
}
