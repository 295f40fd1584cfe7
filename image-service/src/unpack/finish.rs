//! Completing a layer once the layers below it are extracted: hardlinks into lower
//! layers, and the metadata of directories the tar only implied.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;

use super::path::split;
use super::root::{open_in, remove_existing, Root, DIR_FLAGS, IN_ROOT};
use super::whiteout::OPAQUE_XATTR;
use super::{ApplyOutcome, Limits, PendingLink, UnpackError};

/// Finishes `dest`; `lowers` are the layers below it, top-most first.
pub(super) fn finish(
    dest: &Path,
    lowers: &[PathBuf],
    outcome: &ApplyOutcome,
) -> Result<(), UnpackError> {
    let depth = Limits::default().max_path_depth;
    let mut root = Root::open(dest, depth)?;
    let lowers = lowers
        .iter()
        .map(|p| Root::open(p, depth))
        .collect::<Result<Vec<_>, _>>()?;
    let mut copies: HashMap<&Path, &Path> = HashMap::new();
    for link in &outcome.pending_links {
        finish_link(&mut root, &lowers, link, &mut copies)?;
    }
    for dir in &outcome.implicit_dirs {
        finish_dir(&root, &lowers, dir)?;
    }
    Ok(())
}

/// Where a path was found in one layer directory.
#[derive(Debug)]
enum Lookup {
    /// Present: the parent directory's fd and the entry's stat.
    Found(OwnedFd, Stat),
    /// Deleted here (whiteout, non-directory ancestor, or opaque ancestor): lower layers
    /// cannot provide it either.
    Hidden,
    /// Not in this layer; look further down.
    Missing,
}

/// Looks `rel` up in one layer, literally (no symlink is followed), noting whiteouts
/// and opaque directories on the way.
fn lookup(layer: &Root, rel: &Path) -> Result<Lookup, UnpackError> {
    let err = |e| UnpackError::errno(rel, e);
    let mut cur = rfs::openat(layer.fd(), ".", DIR_FLAGS, Mode::empty()).map_err(err)?;
    let mut opaque = false;
    let n = rel.iter().count();
    for (i, comp) in rel.iter().enumerate() {
        let st = match rfs::statat(&cur, comp, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if opaque => return Ok(Lookup::Hidden),
            Err(Errno::NOENT) => return Ok(Lookup::Missing),
            Err(e) => return Err(err(e)),
        };
        if i + 1 == n {
            return Ok(if is_whiteout(&st) {
                Lookup::Hidden
            } else {
                Lookup::Found(cur, st)
            });
        }
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Ok(Lookup::Hidden);
        }
        cur = rfs::openat(&cur, comp, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty()).map_err(err)?;
        opaque |= is_opaque(cur.as_fd());
    }
    Ok(Lookup::Missing)
}

/// The first layer (in `layers` order) providing `rel`, with its index.
fn find(layers: &[&Root], rel: &Path) -> Result<Option<(usize, OwnedFd, Stat)>, UnpackError> {
    for (i, layer) in layers.iter().enumerate() {
        match lookup(layer, rel)? {
            Lookup::Found(parent, st) => return Ok(Some((i, parent, st))),
            Lookup::Hidden => return Ok(None),
            Lookup::Missing => {}
        }
    }
    Ok(None)
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let mut v = [0u8; 2];
    matches!(rfs::fgetxattr(dir, OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}

/// Materialises one pending hardlink: a link to an earlier copy of the same target, a
/// link within this layer (target listed after the link), or a copy from a lower layer.
fn finish_link<'o>(
    root: &mut Root,
    lowers: &[Root],
    link: &'o PendingLink,
    copies: &mut HashMap<&'o Path, &'o Path>,
) -> Result<(), UnpackError> {
    let rel = link.path.as_path();
    let (parent_rel, name) = split(rel);
    let parent = root.parent(parent_rel, &mut Vec::new())?;
    let saved = rfs::fstat(&*parent).map_err(|e| UnpackError::errno(parent_rel, e))?;
    if let Some(first) = copies.get(link.target.as_path()) {
        link_in_root(root, first, parent.as_fd(), name, rel)?;
    } else {
        let layers: Vec<&Root> = std::iter::once(&*root).chain(lowers).collect();
        match find(&layers, &link.target)? {
            Some((0, _, _)) => link_in_root(root, &link.target, parent.as_fd(), name, rel)?,
            Some((_, src_parent, st)) => {
                let (_, src_name) = split(&link.target);
                replace_with(parent.as_fd(), name, rel, |p| {
                    copy_node(src_parent.as_fd(), src_name, &st, p, name, rel)
                })?;
                copies.insert(&link.target, rel);
            }
            None => return Err(not_found(link)),
        }
    }
    rfs::futimens(&*parent, &stat_times(&saved)).map_err(|e| UnpackError::errno(parent_rel, e))
}

fn not_found(link: &PendingLink) -> UnpackError {
    UnpackError::invalid(
        &link.path,
        format!("hardlink target {:?} is in no lower layer", link.target),
    )
}

/// Hardlinks `parent/name` to `target`, both inside `root`.
fn link_in_root(
    root: &Root,
    target: &Path,
    parent: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
) -> Result<(), UnpackError> {
    let (tp, tn) = split(target);
    let resolve = IN_ROOT | rfs::ResolveFlags::NO_SYMLINKS;
    let tparent =
        open_in(root.fd(), tp, DIR_FLAGS, resolve).map_err(|e| UnpackError::errno(target, e))?;
    replace_with(parent, name, rel, |p| {
        rfs::linkat(&tparent, tn, p, name, AtFlags::empty()).map_err(|e| UnpackError::errno(rel, e))
    })
}

/// Runs `create`, first removing whatever is at `parent/name`.
fn replace_with(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
    create: impl FnOnce(BorrowedFd<'_>) -> Result<(), UnpackError>,
) -> Result<(), UnpackError> {
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => remove_existing(parent, name, rel)?,
        Err(Errno::NOENT) => {}
        Err(e) => return Err(UnpackError::errno(rel, e)),
    }
    create(parent)
}

/// Copies the lower layer's `src_parent/src_name` (stat `st`) to `dst_parent/name`.
fn copy_node(
    src_parent: BorrowedFd<'_>,
    src_name: &OsStr,
    st: &Stat,
    dst_parent: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
) -> Result<(), UnpackError> {
    let err = |e| UnpackError::errno(rel, e);
    let ft = FileType::from_raw_mode(st.st_mode);
    match ft {
        FileType::RegularFile => return copy_file(src_parent, src_name, st, dst_parent, name, rel),
        FileType::Symlink => {
            let text = rfs::readlinkat(src_parent, src_name, Vec::new()).map_err(err)?;
            rfs::symlinkat(text.as_c_str(), dst_parent, name).map_err(err)?;
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            rfs::mknodat(
                dst_parent,
                name,
                ft,
                Mode::from_bits_truncate(0o600),
                st.st_rdev,
            )
            .map_err(err)?;
        }
        _ => return Err(UnpackError::invalid(rel, "hardlink target is not a file")),
    }
    let owner = (
        Some(rfs::Uid::from_raw(st.st_uid)),
        Some(rfs::Gid::from_raw(st.st_gid)),
    );
    rfs::chownat(
        dst_parent,
        name,
        owner.0,
        owner.1,
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(err)?;
    if ft != FileType::Symlink {
        // Just created by mknodat in `dst_parent`, so not a symlink.
        rfs::chmodat(dst_parent, name, perm(st), AtFlags::empty()).map_err(err)?;
    }
    rfs::utimensat(dst_parent, name, &stat_times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(err)
}

/// Copies a regular file's content, owner, mode, xattrs and times.
fn copy_file(
    src_parent: BorrowedFd<'_>,
    src_name: &OsStr,
    st: &Stat,
    dst_parent: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
) -> Result<(), UnpackError> {
    let err = |e| UnpackError::errno(rel, e);
    let src = rfs::openat(
        src_parent,
        src_name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(err)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let dst = rfs::openat(dst_parent, name, flags, Mode::from_bits_truncate(0o600)).map_err(err)?;
    let (mut src, mut dst) = (File::from(src), File::from(dst));
    std::io::copy(&mut src, &mut dst).map_err(|e| UnpackError::io(rel, e))?;
    let owner = (
        Some(rfs::Uid::from_raw(st.st_uid)),
        Some(rfs::Gid::from_raw(st.st_gid)),
    );
    rfs::fchown(&dst, owner.0, owner.1).map_err(err)?;
    rfs::fchmod(&dst, perm(st)).map_err(err)?;
    copy_xattrs(src.as_fd(), dst.as_fd(), rel)?;
    rfs::futimens(&dst, &stat_times(st)).map_err(err)
}

/// Copies every xattr but overlayfs' own `trusted.overlay.*`.
fn copy_xattrs(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rel: &Path) -> Result<(), UnpackError> {
    let err = |e| UnpackError::errno(rel, e);
    let mut list = vec![0u8; 65536];
    let len = match rfs::flistxattr(src, &mut list[..]) {
        Ok(len) => len,
        Err(Errno::OPNOTSUPP) => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    let mut value = vec![0u8; 65536];
    for key in list[..len].split(|b| *b == 0).filter(|k| !k.is_empty()) {
        if key.starts_with(b"trusted.overlay.") {
            continue;
        }
        let key = OsStr::from_bytes(key);
        let n = rfs::fgetxattr(src, key, &mut value[..]).map_err(err)?;
        match rfs::fsetxattr(dst, key, &value[..n], XattrFlags::empty()) {
            Ok(()) => {}
            Err(Errno::OPNOTSUPP) => {
                tracing::warn!(path = %rel.display(), ?key, "xattr not supported; skipped")
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(())
}

/// Gives the implicit directory `rel` the owner, mode and times of the first lower layer
/// that has it as a directory; if none has, it keeps 0755 root.
fn finish_dir(root: &Root, lowers: &[Root], rel: &Path) -> Result<(), UnpackError> {
    let layers: Vec<&Root> = lowers.iter().collect();
    let Some((_, _, st)) = find(&layers, rel)? else {
        return Ok(());
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Ok(());
    }
    let err = |e| UnpackError::errno(rel, e);
    let dir = match open_in(root.fd(), rel, DIR_FLAGS | OFlags::NOFOLLOW, IN_ROOT) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    let owner = (
        Some(rfs::Uid::from_raw(st.st_uid)),
        Some(rfs::Gid::from_raw(st.st_gid)),
    );
    rfs::fchown(&dir, owner.0, owner.1).map_err(err)?;
    rfs::fchmod(&dir, perm(&st)).map_err(err)?;
    rfs::futimens(&dir, &stat_times(&st)).map_err(err)
}

fn perm(st: &Stat) -> Mode {
    Mode::from_bits_truncate(st.st_mode & 0o7777)
}

fn stat_times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: ts(st.st_atime, st.st_atime_nsec),
        last_modification: ts(st.st_mtime, st.st_mtime_nsec),
    }
}

fn ts(sec: impl TryInto<i64>, nsec: impl TryInto<i64>) -> Timespec {
    Timespec {
        tv_sec: sec.try_into().unwrap_or(0),
        tv_nsec: nsec.try_into().unwrap_or(0) as _,
    }
}
