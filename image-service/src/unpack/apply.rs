//! Extraction of one decompressed layer tar into an empty directory.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{
    self as rfs, AtFlags, Dev, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps,
    XattrFlags,
};
use rustix::io::Errno;
use tar::EntryType;

use super::meta::Meta;
use super::path::{normalize, split};
use super::root::{open_in, remove_existing, DirFd, Root, DIR_FLAGS, IN_ROOT};
use super::whiteout::{classify, Whiteout, OPAQUE_XATTR};
use super::{ApplyOutcome, Limits, PendingLink, UnpackError};

/// Size of the one buffer file contents are streamed through.
const COPY_BUF: usize = 256 * 1024;
/// Read-ahead on the archive stream.
const READ_BUF: usize = 64 * 1024;

/// Reads every entry of `tar` and writes it below `dest`.
pub(super) fn apply<R: Read>(
    tar: R,
    dest: &Path,
    limits: &Limits,
) -> Result<ApplyOutcome, UnpackError> {
    // Headers are read 512 bytes at a time; buffer them (large bodies bypass the buffer).
    let mut archive = tar::Archive::new(BufReader::with_capacity(READ_BUF, tar));
    let mut applier = Applier::new(dest, limits)?;
    for entry in archive.entries().map_err(UnpackError::tar)? {
        let entry = entry.map_err(UnpackError::tar)?;
        applier.count()?;
        applier.entry(entry)?;
    }
    applier.finish()
}

/// What an entry creates.
#[derive(Debug, Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Node(FileType, Dev),
}

/// The state of one extraction.
#[derive(Debug)]
struct Applier<'l> {
    root: Root,
    limits: &'l Limits,
    buf: Vec<u8>,
    entries: u64,
    bytes: u64,
    pending: Vec<PendingLink>,
    implicit: BTreeSet<PathBuf>,
    created: Vec<PathBuf>,
    dir_times: HashMap<PathBuf, Timespec>,
}

impl<'l> Applier<'l> {
    fn new(dest: &Path, limits: &'l Limits) -> Result<Self, UnpackError> {
        Ok(Self {
            root: Root::open(dest, limits.max_path_depth)?,
            limits,
            buf: vec![0; COPY_BUF],
            entries: 0,
            bytes: 0,
            pending: Vec::new(),
            implicit: BTreeSet::new(),
            created: Vec::new(),
            dir_times: HashMap::new(),
        })
    }

    fn count(&mut self) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                max: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<(), UnpackError> {
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            tracing::debug!("PAX global header ignored");
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let rel = normalize(&raw, self.limits)?;
        let kind = kind_of(entry.header(), &raw, &rel)?;
        let meta = Meta::read(&mut entry, &rel, self.limits)?;
        if rel.as_os_str().is_empty() {
            tracing::debug!("entry for the layer root ignored");
            return Ok(());
        }
        let (parent_rel, name) = split(&rel);
        if let Some(w) = classify(name) {
            return self.whiteout(w, parent_rel, &rel);
        }
        if !self.pending.is_empty() {
            self.pending.retain(|l| l.path != rel);
        }
        let parent = self.parent(parent_rel)?;
        match kind {
            Kind::File => self.file(&mut entry, &parent, name, &rel, &meta),
            Kind::Dir => self.dir(&parent, name, &rel, &meta),
            Kind::Symlink => self.symlink(&entry, &parent, name, &rel, &meta),
            Kind::Hardlink => self.hardlink(&entry, &parent, name, &rel),
            Kind::Node(ft, dev) => self.node(ft, dev, &parent, name, &rel, &meta),
        }
    }

    /// The parent directory fd, creating missing ancestors (recorded as implicit).
    fn parent(&mut self, rel: &Path) -> Result<DirFd, UnpackError> {
        let fd = self.root.parent(rel, &mut self.created)?;
        self.implicit.extend(self.created.drain(..));
        Ok(fd)
    }

    /// Removes what an earlier entry left at `rel`, and forgets state about it.
    fn remove(&mut self, parent: &DirFd, name: &OsStr, rel: &Path) -> Result<(), UnpackError> {
        remove_existing(parent.as_fd(), name, rel)?;
        self.root.forget();
        self.implicit.retain(|p| !p.starts_with(rel));
        self.dir_times.retain(|p, _| !p.starts_with(rel));
        self.pending.retain(|l| !l.path.starts_with(rel));
        Ok(())
    }

    /// Runs `create`; if an earlier entry left something at `rel`, removes it (the later
    /// entry wins) and runs `create` again.
    fn create_replacing<T>(
        &mut self,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        create: impl Fn() -> Result<T, Errno>,
    ) -> Result<T, UnpackError> {
        match create() {
            Err(Errno::EXIST) => {
                self.remove(parent, name, rel)?;
                create().map_err(|e| UnpackError::errno(rel, e))
            }
            other => other.map_err(|e| UnpackError::errno(rel, e)),
        }
    }

    fn file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let open = || rfs::openat(parent, name, flags, Mode::from_bits_truncate(0o600));
        let mut file = File::from(self.create_replacing(parent, name, rel, open)?);
        let expected = entry.size();
        self.bytes += copy_body(entry, &mut file, &mut self.buf, expected, rel)?;
        meta.apply_fd(file.as_fd(), rel)?;
        rfs::futimens(&file, &meta.times()).map_err(|e| UnpackError::errno(rel, e))
    }

    fn dir(
        &mut self,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let mkdir = || rfs::mkdirat(parent, name, Mode::from_bits_truncate(0o700));
        match mkdir() {
            Ok(()) => {}
            Err(Errno::EXIST) if is_dir_at(parent, name, rel)? => {}
            Err(Errno::EXIST) => {
                self.remove(parent, name, rel)?;
                mkdir().map_err(|e| UnpackError::errno(rel, e))?;
            }
            Err(e) => return Err(UnpackError::errno(rel, e)),
        }
        let fd = rfs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| UnpackError::errno(rel, e))?;
        meta.apply_fd(fd.as_fd(), rel)?;
        self.implicit.remove(rel);
        self.dir_times.insert(rel.to_path_buf(), meta.mtime);
        self.root.remember(rel, Rc::new(fd));
        Ok(())
    }

    fn symlink<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| UnpackError::invalid(rel, "symlink without a target"))?;
        check_link_text(&target, rel, self.limits)?;
        let target = OsStr::from_bytes(&target);
        self.create_replacing(parent, name, rel, || rfs::symlinkat(target, parent, name))?;
        meta.apply_at(parent.as_fd(), name, false, rel)
    }

    fn node(
        &mut self,
        ft: FileType,
        dev: Dev,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let mode = Mode::from_bits_truncate(0o600);
        self.create_replacing(parent, name, rel, || {
            rfs::mknodat(parent, name, ft, mode, dev)
        })?;
        meta.apply_at(parent.as_fd(), name, true, rel)
    }

    /// An in-layer hardlink (`linkat` without `AT_SYMLINK_FOLLOW`); a target not in this
    /// layer becomes a [`PendingLink`]. The target's parent is resolved inside the root
    /// and may not pass through symlinks: tar records a hardlink target by the path of an
    /// earlier member, which never traverses one.
    fn hardlink<R: Read>(
        &mut self,
        entry: &tar::Entry<'_, R>,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
    ) -> Result<(), UnpackError> {
        let raw = entry
            .link_name_bytes()
            .ok_or_else(|| UnpackError::invalid(rel, "hardlink without a target"))?;
        let target = normalize(&raw, self.limits)?;
        if target.as_os_str().is_empty() || target == rel {
            return Err(UnpackError::invalid(
                rel,
                format!("invalid hardlink target {target:?}"),
            ));
        }
        let (tp, tn) = split(&target);
        let resolve = IN_ROOT | ResolveFlags::NO_SYMLINKS;
        let tparent = match open_in(self.root.fd(), tp, DIR_FLAGS, resolve) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return self.pend(parent, name, rel, target.clone()),
            Err(e) => return Err(link_error(rel, &target, e)),
        };
        let link = || rfs::linkat(&tparent, tn, parent, name, AtFlags::empty());
        let mut res = link();
        if res == Err(Errno::EXIST) {
            self.remove(parent, name, rel)?;
            res = link();
        }
        match res {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => self.pend(parent, name, rel, target.clone()),
            Err(e) => Err(link_error(rel, &target, e)),
        }
    }

    /// Records a hardlink to a lower layer's file, replacing what an earlier entry left at `rel`.
    fn pend(
        &mut self,
        parent: &DirFd,
        name: &OsStr,
        rel: &Path,
        target: PathBuf,
    ) -> Result<(), UnpackError> {
        match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => self.remove(parent, name, rel)?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(UnpackError::errno(rel, e)),
        }
        self.pending.push(PendingLink {
            path: rel.to_path_buf(),
            target,
        });
        Ok(())
    }

    fn whiteout(
        &mut self,
        w: Whiteout<'_>,
        parent_rel: &Path,
        rel: &Path,
    ) -> Result<(), UnpackError> {
        match w {
            Whiteout::AufsMeta => {
                tracing::debug!(path = %rel.display(), "AUFS metadata entry skipped");
                Ok(())
            }
            Whiteout::Bare => Err(UnpackError::BareWhiteout {
                path: rel.to_path_buf(),
            }),
            Whiteout::Opaque => {
                let dir = self.parent(parent_rel)?;
                rfs::fsetxattr(&dir, OPAQUE_XATTR, b"y", XattrFlags::empty())
                    .map_err(|e| UnpackError::errno(parent_rel, e))
            }
            Whiteout::Hide(n) => self.hide(n, parent_rel, rel),
        }
    }

    /// `.wh.NAME` → a 0/0 character device at NAME. If this layer already has NAME, the
    /// whiteout applies only to lower layers (OCI image spec) and the entry is kept.
    fn hide(&mut self, n: &OsStr, parent_rel: &Path, rel: &Path) -> Result<(), UnpackError> {
        if n == "." || n == ".." {
            return Err(UnpackError::invalid(
                rel,
                "whiteout of a special directory name",
            ));
        }
        let dir = self.parent(parent_rel)?;
        let dev = rfs::makedev(0, 0);
        match rfs::mknodat(&dir, n, FileType::CharacterDevice, Mode::empty(), dev) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                tracing::debug!(path = %rel.display(), "whiteout of a path this layer provides; kept the path");
                Ok(())
            }
            Err(e) => Err(UnpackError::errno(&parent_rel.join(n), e)),
        }
    }

    /// Sets directory times (deferred: creating children changes them) and returns the outcome.
    fn finish(mut self) -> Result<ApplyOutcome, UnpackError> {
        self.root.forget();
        for (rel, mtime) in &self.dir_times {
            set_dir_time(&self.root, rel, *mtime)?;
        }
        Ok(ApplyOutcome {
            entries: self.entries,
            bytes: self.bytes,
            pending_links: self.pending,
            implicit_dirs: self.implicit.into_iter().collect(),
        })
    }
}

/// Classifies the entry type; V7 archives mark directories by a trailing `/` on a regular entry.
fn kind_of(h: &tar::Header, raw: &[u8], rel: &Path) -> Result<Kind, UnpackError> {
    let unsupported = |kind: String| UnpackError::UnsupportedEntry {
        path: rel.to_path_buf(),
        kind,
    };
    Ok(match h.entry_type() {
        EntryType::Regular if raw.ends_with(b"/") => Kind::Dir,
        EntryType::Regular | EntryType::Continuous => Kind::File,
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink,
        EntryType::Link => Kind::Hardlink,
        EntryType::Char => Kind::Node(FileType::CharacterDevice, device(h, rel)?),
        EntryType::Block => Kind::Node(FileType::BlockDevice, device(h, rel)?),
        EntryType::Fifo => Kind::Node(FileType::Fifo, 0),
        EntryType::GNUSparse => return Err(unsupported("GNU sparse file".into())),
        other => {
            let byte = other.as_byte();
            return Err(unsupported(format!(
                "typeflag {:?} ({other:?})",
                char::from(byte)
            )));
        }
    })
}

fn device(h: &tar::Header, rel: &Path) -> Result<Dev, UnpackError> {
    let major = h.device_major().map_err(UnpackError::tar)?;
    let minor = h.device_minor().map_err(UnpackError::tar)?;
    match (major, minor) {
        (Some(ma), Some(mi)) => Ok(rfs::makedev(ma, mi)),
        _ => Err(UnpackError::invalid(
            rel,
            "device entry without device numbers",
        )),
    }
}

/// Symlink text is stored verbatim (it is only ever resolved inside a root later), but
/// must be non-empty, NUL-free and within the path length limit.
fn check_link_text(target: &[u8], rel: &Path, limits: &Limits) -> Result<(), UnpackError> {
    if target.len() > limits.max_path_len {
        return Err(UnpackError::PathTooLong {
            path: PathBuf::from(OsStr::from_bytes(target)),
            len: target.len(),
            max: limits.max_path_len,
        });
    }
    if target.is_empty() || target.contains(&0) {
        return Err(UnpackError::invalid(
            rel,
            "symlink target is empty or contains a NUL byte",
        ));
    }
    Ok(())
}

fn link_error(rel: &Path, target: &Path, e: Errno) -> UnpackError {
    let why = match e {
        Errno::LOOP | Errno::XDEV => "passes through a symlink",
        Errno::NOTDIR => "has a parent that is not a directory",
        Errno::PERM => "is a directory",
        _ => return UnpackError::errno(rel, e),
    };
    UnpackError::invalid(rel, format!("hardlink target {target:?} {why}"))
}

fn is_dir_at(parent: &DirFd, name: &OsStr, rel: &Path) -> Result<bool, UnpackError> {
    let st = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| UnpackError::errno(rel, e))?;
    Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// Streams an entry's body into `dst`; a body shorter than the (PAX-honoured) size is a
/// truncated archive.
fn copy_body(
    src: &mut impl Read,
    dst: &mut File,
    buf: &mut [u8],
    expected: u64,
    rel: &Path,
) -> Result<u64, UnpackError> {
    let mut written = 0u64;
    loop {
        let n = match src.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(UnpackError::tar(e)),
        };
        dst.write_all(&buf[..n])
            .map_err(|e| UnpackError::io(rel, e))?;
        written += n as u64;
    }
    if written != expected {
        let msg = format!("{rel:?}: archive ends after {written} of {expected} bytes");
        return Err(UnpackError::tar(std::io::Error::new(
            ErrorKind::UnexpectedEof,
            msg,
        )));
    }
    Ok(written)
}

fn set_dir_time(root: &Root, rel: &Path, mtime: Timespec) -> Result<(), UnpackError> {
    let times = Timestamps {
        last_access: mtime,
        last_modification: mtime,
    };
    match open_in(root.fd(), rel, DIR_FLAGS | OFlags::NOFOLLOW, IN_ROOT) {
        Ok(fd) => rfs::futimens(&fd, &times).map_err(|e| UnpackError::errno(rel, e)),
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => Ok(()),
        Err(e) => Err(UnpackError::errno(rel, e)),
    }
}
