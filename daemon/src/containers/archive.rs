//! Trees into tars, read by fds: every entry is opened `O_PATH | O_NOFOLLOW` relative to its
//! parent's fd and checked with `fstat`; only directories and regular files are ever opened for
//! reading (device nodes and FIFOs are archived from their stat), inner symlinks are archived as
//! symlinks, files that share an inode as hard links, and each directory's entries sorted by
//! name. `docker cp` (`copy`) archives a container's files with it; a build (`crate::build`)
//! archives an overlay upper directory into an OCI layer (whiteouts and opaque directories
//! become `.wh.` entries) and COPY's sources, with their owner and mode overridden.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Deepest directory nesting archived (each level is a stack frame and an open fd).
const MAX_DEPTH: usize = 512;

/// How entries are written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Read the tree as an overlay upper directory: a 0/0 character device is a whiteout
    /// (`.wh.<name>`), a directory with `trusted.overlay.opaque=y` gets `.wh..wh..opq`.
    pub whiteouts: bool,
    /// Mtimes later than this (SOURCE_DATE_EPOCH) are written as this.
    pub clamp_mtime: Option<u64>,
    /// Every entry's owner (COPY --chown).
    pub owner: Option<(u32, u32)>,
    /// Every entry's permission bits (COPY --chmod).
    pub mode: Option<u32>,
}

/// Writes a tree into a tar, by fds (see the module doc).
pub(crate) struct Archiver<W: Write> {
    tar: tar::Builder<W>,
    /// (dev, inode) of files with several links → the first archived path.
    links: HashMap<(u64, u64), PathBuf>,
    opts: Options,
}

impl<W: Write> Archiver<W> {
    pub(crate) fn new(out: W, opts: Options) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        Archiver {
            tar,
            links: HashMap::new(),
            opts,
        }
    }

    /// Archives the node `fd` (an `O_PATH` fd) at `at`; "" is the top of a contents-only
    /// archive, whose own entry is left out.
    pub(crate) fn add(&mut self, fd: &OwnedFd, at: &Path) -> Result<()> {
        let st = rfs::fstat(fd).map_err(|e| errno("stat", at, e))?;
        self.node(fd.as_fd(), &st, at, 0)
    }

    /// Copies the entries of the tar `r` in, each under `under` (ADD of a local archive). The
    /// headers are kept as they are; the extraction that reads this tar confines the paths.
    pub(crate) fn append_archive(&mut self, r: impl Read, under: &Path) -> Result<()> {
        let mut a = tar::Archive::new(r);
        let bad = |e: std::io::Error| Error::InvalidArgument(format!("invalid archive: {e}"));
        for entry in a.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = under.join(entry.path().map_err(bad)?);
            let mut h = entry.header().clone();
            match entry.link_name().map_err(bad)? {
                Some(target) => {
                    let target = target.into_owned();
                    self.append_link(&mut h, &path, &target)?
                }
                None => self.append(&mut h, &path, &mut entry)?,
            }
        }
        Ok(())
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub(crate) fn finish(self) -> Result<W> {
        self.tar
            .into_inner()
            .map_err(|e| Error::io("archive", "tar", e))
    }

    /// Archives one node (`fd` is `O_PATH`, never followed) at `at` in the archive; "" is the
    /// top of a contents-only archive, whose own entry is left out.
    fn node(&mut self, fd: BorrowedFd<'_>, st: &Stat, at: &Path, depth: usize) -> Result<()> {
        let mut h = header(st, &self.opts);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => self.dir(fd, &mut h, at, depth),
            FileType::RegularFile => self.file(fd, st, &mut h, at),
            FileType::Symlink => {
                let t =
                    rfs::readlinkat(fd, "", Vec::new()).map_err(|e| errno("readlink", at, e))?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.append_link(&mut h, at, Path::new(OsStr::from_bytes(t.as_bytes())))
            }
            FileType::Fifo => self.special(&mut h, tar::EntryType::Fifo, at, 0),
            FileType::CharacterDevice if self.opts.whiteouts && st.st_rdev == 0 => {
                self.whiteout(&mut h, at)
            }
            FileType::CharacterDevice => self.special(&mut h, tar::EntryType::Char, at, st.st_rdev),
            FileType::BlockDevice => self.special(&mut h, tar::EntryType::Block, at, st.st_rdev),
            _ => Ok(()), // sockets cannot be archived; Docker skips them too
        }
    }

    fn dir(
        &mut self,
        fd: BorrowedFd<'_>,
        h: &mut tar::Header,
        at: &Path,
        depth: usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::InvalidArgument(format!(
                "{} is nested too deep",
                at.display()
            )));
        }
        if !at.as_os_str().is_empty() {
            h.set_entry_type(tar::EntryType::Directory);
            self.append(h, at, std::io::empty())?;
        }
        if self.opts.whiteouts && is_opaque(fd) {
            // The marker takes its directory's owner and time, so the layer stays reproducible.
            let mut wh = h.clone();
            wh.set_entry_type(tar::EntryType::Regular);
            wh.set_mode(0o644);
            wh.set_size(0);
            self.append(&mut wh, &at.join(".wh..wh..opq"), std::io::empty())?;
        }
        let dir = rfs::openat(
            fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno("open", at, e))?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in rfs::Dir::read_from(&dir).map_err(|e| errno("read", at, e))? {
            let entry = entry.map_err(|e| errno("read", at, e))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let name = OsStr::from_bytes(&n);
            let child_at = at.join(name);
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let child = match rfs::openat(&dir, name, flags, Mode::empty()) {
                Err(Errno::NOENT) => continue, // removed while we walked
                r => r.map_err(|e| errno("open", &child_at, e))?,
            };
            let st = rfs::fstat(&child).map_err(|e| errno("stat", &child_at, e))?;
            self.node(child.as_fd(), &st, &child_at, depth + 1)?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        fd: BorrowedFd<'_>,
        st: &Stat,
        h: &mut tar::Header,
        at: &Path,
    ) -> Result<()> {
        let key = (st.st_dev, st.st_ino);
        if st.st_nlink > 1 {
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                return self.append_link(h, at, &first);
            }
            self.links.insert(key, at.to_path_buf());
        }
        // Reopen the O_PATH fd for reading through procfs: the same inode, already checked to
        // be a regular file, so no device or FIFO is ever opened.
        let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let file = rfs::open(
            proc.as_str(),
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| errno("open", at, e))?;
        let size = u64::try_from(st.st_size).unwrap_or(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        let body = Padded {
            inner: std::fs::File::from(file).take(size),
            left: size,
        };
        let name = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        self.append(h, name, body)
    }

    fn special(
        &mut self,
        h: &mut tar::Header,
        kind: tar::EntryType,
        at: &Path,
        rdev: u64,
    ) -> Result<()> {
        h.set_entry_type(kind);
        h.set_size(0);
        let (major, minor) = (rfs::major(rdev), rfs::minor(rdev));
        h.set_device_major(major)
            .map_err(|e| Error::io("archive", at, e))?;
        h.set_device_minor(minor)
            .map_err(|e| Error::io("archive", at, e))?;
        self.append(h, at, std::io::empty())
    }

    /// An overlay whiteout (a 0/0 character device) as the OCI layer's `.wh.<name>`.
    fn whiteout(&mut self, h: &mut tar::Header, at: &Path) -> Result<()> {
        let name = at.file_name().map(OsStr::to_os_string).unwrap_or_default();
        let mut wh = OsString::from(".wh.");
        wh.push(name);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        self.append(h, &at.with_file_name(wh), std::io::empty())
    }

    fn append(&mut self, h: &mut tar::Header, at: &Path, body: impl Read) -> Result<()> {
        self.tar
            .append_data(h, at, body)
            .map_err(|e| Error::io("archive", at, e))
    }

    fn append_link(&mut self, h: &mut tar::Header, at: &Path, target: &Path) -> Result<()> {
        self.tar
            .append_link(h, at, target)
            .map_err(|e| Error::io("archive", at, e))
    }
}

impl<W: Write> std::fmt::Debug for Archiver<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archiver")
            .field("links", &self.links.len())
            .finish()
    }
}

/// A tar header with the owner, permissions and mtime of `st` (as `opts` override them). GNU
/// headers carry numeric owners only and no atime or ctime, so a tree archives the same
/// whenever it is read.
fn header(st: &Stat, opts: &Options) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(opts.mode.unwrap_or(st.st_mode & 0o7777));
    let (uid, gid) = opts.owner.unwrap_or((st.st_uid, st.st_gid));
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    let mtime = u64::try_from(st.st_mtime).unwrap_or(0);
    h.set_mtime(opts.clamp_mtime.map_or(mtime, |c| mtime.min(c)));
    h.set_size(0);
    h
}

/// Whether overlayfs marked the directory opaque (what was below it is hidden).
fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let mut buf = [0u8; 4];
    matches!(
        rfs::getxattr(proc.as_str(), "trusted.overlay.opaque", &mut buf),
        Ok(1) if buf[0] == b'y'
    )
}

fn errno(op: &'static str, at: &Path, e: Errno) -> Error {
    Error::io(op, at, e.into())
}

/// A file body of exactly `left` bytes: zeros make up for a file that shrank while archived
/// (a longer one is cut by `take`), so the archive stays well formed.
#[derive(Debug)]
pub(crate) struct Padded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Padded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_bodies_keep_their_size() {
        let mut p = Padded {
            inner: &b"ab"[..],
            left: 4,
        };
        let mut out = Vec::new();
        p.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"ab\0\0");
    }

    fn entries(bytes: &[u8]) -> Vec<(String, u64, u64, u32)> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let p = e.path().unwrap().display().to_string();
                (p, h.uid().unwrap(), h.mtime().unwrap(), h.mode().unwrap())
            })
            .collect()
    }

    #[test]
    fn an_upper_dir_becomes_a_layer_with_whiteouts_sorted_and_clamped() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("etc/opaque")).unwrap();
        std::fs::write(root.join("etc/b"), "b").unwrap();
        std::fs::write(root.join("etc/a"), "a").unwrap();
        let dev = rustix::fs::makedev(0, 0);
        rfs::mknodat(
            rfs::CWD,
            root.join("etc/gone"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0),
            dev,
        )
        .unwrap();
        rfs::setxattr(
            root.join("etc/opaque"),
            "trusted.overlay.opaque",
            b"y",
            rfs::XattrFlags::empty(),
        )
        .unwrap();
        let fd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let opts = Options {
            whiteouts: true,
            clamp_mtime: Some(100),
            ..Default::default()
        };
        let mut w = Archiver::new(Vec::new(), opts);
        w.add(&fd, Path::new("")).unwrap();
        let got = entries(&w.finish().unwrap());
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc",
                "etc/a",
                "etc/b",
                "etc/.wh.gone",
                "etc/opaque",
                "etc/opaque/.wh..wh..opq"
            ]
        );
        assert!(got.iter().all(|e| e.2 <= 100), "{got:?}");
    }

    #[test]
    fn owner_and_mode_are_overridden_when_asked() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        std::fs::write(tmp.path().join("f"), "x").unwrap();
        let fd = rfs::open(tmp.path().join("f"), OFlags::PATH, Mode::empty()).unwrap();
        let opts = Options {
            owner: Some((7, 8)),
            mode: Some(0o600),
            ..Default::default()
        };
        let mut w = Archiver::new(Vec::new(), opts);
        w.add(&fd, Path::new("app/f")).unwrap();
        let got = entries(&w.finish().unwrap());
        assert_eq!(got[0].0, "app/f");
        assert_eq!((got[0].1, got[0].3), (7, 0o600));
    }
}
