//! Entry metadata: read from the ustar header and PAX records (validated), and applied
//! through file descriptors opened inside the root.

use std::ffi::{CStr, CString, OsStr};
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::{Limits, UnpackError};

const XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";

/// What an entry says about ownership, permissions, times and extended attributes.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    /// Permission bits including setuid/setgid/sticky.
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mtime: Timespec,
    /// `(name, value)` from PAX `SCHILY.xattr.*` records.
    pub(super) xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    /// Reads and validates the metadata of `entry` (whose path is `rel`).
    ///
    /// PAX records are checked here because the `tar` crate silently falls back to the
    /// ustar fields when a record is malformed: a malformed record, or a `size`/`uid`/`gid`
    /// the crate did not honour, is rejected rather than risk a parser disagreement.
    pub(super) fn read<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        limits: &Limits,
    ) -> Result<Self, UnpackError> {
        let h = entry.header();
        let mode = h.mode().map_err(UnpackError::tar)? & 0o7777;
        let uid = id(h.uid().map_err(UnpackError::tar)?, rel)?;
        let gid = id(h.gid().map_err(UnpackError::tar)?, rel)?;
        let secs = h.mtime().map_err(UnpackError::tar)?;
        let secs =
            i64::try_from(secs).map_err(|_| UnpackError::invalid(rel, "mtime out of range"))?;
        let mut meta = Meta {
            mode,
            uid,
            gid,
            mtime: Timespec {
                tv_sec: secs,
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
        };
        meta.read_pax(entry, rel, limits)?;
        Ok(meta)
    }

    fn read_pax<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        rel: &Path,
        limits: &Limits,
    ) -> Result<(), UnpackError> {
        let size = entry.size();
        let Some(records) = entry.pax_extensions().map_err(UnpackError::tar)? else {
            return Ok(());
        };
        let mut xattr_bytes = 0usize;
        for rec in records {
            let rec =
                rec.map_err(|e| UnpackError::invalid(rel, format!("malformed PAX record: {e}")))?;
            let (key, value) = (rec.key_bytes(), rec.value_bytes());
            match key {
                b"size" => check_pax_number(value, Some(size), "size", rel)?,
                b"uid" => check_pax_number(value, None, "uid", rel)?,
                b"gid" => check_pax_number(value, None, "gid", rel)?,
                b"mtime" => self.mtime = parse_pax_time(value, rel)?,
                k if k.starts_with(b"GNU.sparse.") => {
                    return Err(UnpackError::UnsupportedEntry {
                        path: rel.to_path_buf(),
                        kind: "GNU sparse file (PAX)".into(),
                    })
                }
                k if k.starts_with(XATTR_PREFIX) => {
                    xattr_bytes += k.len() + value.len();
                    if xattr_bytes > limits.max_xattr_bytes {
                        return Err(xattr_too_large(rel, xattr_bytes, limits));
                    }
                    let name = CString::new(&k[XATTR_PREFIX.len()..])
                        .map_err(|_| UnpackError::invalid(rel, "xattr name contains a NUL byte"))?;
                    self.xattrs.push((name, value.to_vec()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn owner(&self) -> (Option<Uid>, Option<Gid>) {
        (Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid)))
    }

    fn perm(&self) -> Mode {
        Mode::from_bits_truncate(self.mode)
    }

    /// Timestamps with atime = mtime.
    pub(super) fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }

    /// Sets owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// `security.capability`) on an open regular file or directory. Times are separate.
    pub(super) fn apply_fd(&self, fd: BorrowedFd<'_>, rel: &Path) -> Result<(), UnpackError> {
        let (u, g) = self.owner();
        rfs::fchown(fd, u, g).map_err(|e| UnpackError::errno(rel, e))?;
        rfs::fchmod(fd, self.perm()).map_err(|e| UnpackError::errno(rel, e))?;
        for (name, value) in &self.xattrs {
            let res = rfs::fsetxattr(fd, name.as_c_str(), value, XattrFlags::empty());
            xattr_result(res, name, rel)?;
        }
        Ok(())
    }

    /// Like [`Meta::apply_fd`] for `parent/name`, never following a symlink there; the mode
    /// is only set when `chmod` is true (not for symlinks). Also sets the times.
    pub(super) fn apply_at(
        &self,
        parent: BorrowedFd<'_>,
        name: &OsStr,
        chmod: bool,
        rel: &Path,
    ) -> Result<(), UnpackError> {
        let (u, g) = self.owner();
        let err = |e| UnpackError::errno(rel, e);
        rfs::chownat(parent, name, u, g, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
        if chmod {
            // The node was just created by mknodat in `parent` (not a symlink); fchmodat has
            // no portable NOFOLLOW, and the layer directory is private to this process.
            rfs::chmodat(parent, name, self.perm(), AtFlags::empty()).map_err(err)?;
        }
        if !self.xattrs.is_empty() {
            let cname = CString::new(name.as_encoded_bytes())
                .map_err(|_| UnpackError::invalid(rel, "name contains a NUL byte"))?;
            for (key, value) in &self.xattrs {
                xattr_result(setxattrat_nofollow(parent, &cname, key, value), key, rel)?;
            }
        }
        rfs::utimensat(parent, name, &self.times(), AtFlags::SYMLINK_NOFOLLOW).map_err(err)
    }
}

/// The per-entry xattr cap is an [`UnpackError::InvalidEntry`] (no variant of its own, so
/// callers matching every variant need no change).
fn xattr_too_large(rel: &Path, size: usize, limits: &Limits) -> UnpackError {
    let max = limits.max_xattr_bytes;
    let why = format!("{size} bytes of extended attributes, more than the limit of {max}");
    UnpackError::invalid(rel, why)
}

/// A uid/gid that fits `uid_t` and is not the reserved -1.
fn id(v: u64, rel: &Path) -> Result<u32, UnpackError> {
    match u32::try_from(v) {
        Ok(v) if v != u32::MAX => Ok(v),
        _ => Err(UnpackError::invalid(
            rel,
            format!("owner id {v} out of range"),
        )),
    }
}

/// A PAX numeric record must parse (the `tar` crate silently ignores one that does not),
/// and equal `expected` when given (the value the parser used).
fn check_pax_number(
    value: &[u8],
    expected: Option<u64>,
    key: &str,
    rel: &Path,
) -> Result<(), UnpackError> {
    let parsed = std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    match (parsed, expected) {
        (Some(p), Some(e)) if p == e => Ok(()),
        (Some(_), None) => Ok(()),
        _ => Err(UnpackError::invalid(
            rel,
            format!(
                "PAX {key} {:?} is invalid or disagrees with the header",
                String::from_utf8_lossy(value)
            ),
        )),
    }
}

/// Parses a PAX time: `[-]SECONDS[.FRACTION]`.
fn parse_pax_time(value: &[u8], rel: &Path) -> Result<Timespec, UnpackError> {
    let bad = || {
        UnpackError::invalid(
            rel,
            format!("invalid PAX mtime {:?}", String::from_utf8_lossy(value)),
        )
    };
    let s = std::str::from_utf8(value).map_err(|_| bad())?;
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return Err(bad());
    }
    let secs: i64 = int.parse().map_err(|_| bad())?;
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos: i64 = digits.parse().map_err(|_| bad())?;
    Ok(match (neg, nanos) {
        (false, n) => Timespec {
            tv_sec: secs,
            tv_nsec: n,
        },
        (true, 0) => Timespec {
            tv_sec: -secs,
            tv_nsec: 0,
        },
        (true, n) => Timespec {
            tv_sec: -secs - 1,
            tv_nsec: 1_000_000_000 - n,
        },
    })
}

/// Xattr failures are errors, except "not supported by this filesystem", which is logged.
fn xattr_result(res: Result<(), Errno>, name: &CStr, rel: &Path) -> Result<(), UnpackError> {
    match res {
        Ok(()) => Ok(()),
        Err(Errno::OPNOTSUPP) => {
            tracing::warn!(path = %rel.display(), xattr = ?name, "filesystem does not support this xattr; skipped");
            Ok(())
        }
        // The kernel refuses user.* xattrs on symlinks and special files; containerd skips
        // them too, and real images carry them.
        Err(Errno::PERM) if name.to_bytes().starts_with(b"user.") => {
            tracing::warn!(path = %rel.display(), xattr = ?name, "xattr not allowed on this file type; skipped");
            Ok(())
        }
        // A value the kernel rejects (e.g. a malformed security.capability) is a bad layer.
        Err(Errno::INVAL) => Err(UnpackError::InvalidEntry {
            path: rel.to_path_buf(),
            reason: format!(
                "the kernel rejects the value of xattr {}",
                name.to_string_lossy()
            ),
        }),
        Err(e) => Err(UnpackError::errno(rel, e)),
    }
}

/// `struct xattr_args` of `setxattrat(2)`.
#[repr(C)]
struct XattrArgs {
    value: u64,
    size: u32,
    flags: u32,
}

/// `setxattrat(2)` (Linux 6.13) number; the same on every architecture using the generic table.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]
const SYS_SETXATTRAT: libc::c_long = 463;

/// Sets an xattr on `dir/name` without following a symlink there (symlinks and device
/// nodes cannot be opened for `fsetxattr`). Kernels older than 6.13 give `EOPNOTSUPP`-like
/// treatment: the attribute is skipped with a warning.
fn setxattrat_nofollow(
    dir: BorrowedFd<'_>,
    name: &CStr,
    key: &CStr,
    value: &[u8],
) -> Result<(), Errno> {
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    ))]
    {
        let size = u32::try_from(value.len()).map_err(|_| Errno::TOOBIG)?;
        let args = XattrArgs {
            value: value.as_ptr() as u64,
            size,
            flags: 0,
        };
        // SAFETY: every pointer passed is valid for the duration of the call: `name` and
        // `key` are NUL-terminated C strings, `args` points to a live `XattrArgs` whose
        // `value`/`size` describe the live slice `value`, and the size argument is the
        // struct's size, as the syscall's ABI requires. `dir` is an open fd.
        let ret = unsafe {
            libc::syscall(
                SYS_SETXATTRAT,
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
                key.as_ptr(),
                &args as *const XattrArgs,
                std::mem::size_of::<XattrArgs>(),
            )
        };
        match ret {
            0 => Ok(()),
            _ => match Errno::from_io_error(&std::io::Error::last_os_error()) {
                Some(Errno::NOSYS) | None => Err(Errno::OPNOTSUPP),
                Some(e) => Err(e),
            },
        }
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64"
    )))]
    {
        let _ = (dir, name, key, value);
        Err(Errno::OPNOTSUPP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times() {
        let p = Path::new("x");
        let t = parse_pax_time(b"1700000000.5", p).unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"-1.25", p).unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        let t = parse_pax_time(b"12", p).unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        assert!(parse_pax_time(b"1e9", p).is_err());
        assert!(parse_pax_time(b".5", p).is_err());
    }
}
