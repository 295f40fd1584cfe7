//! The layer root as a directory fd, and confined lookups beneath it.
//!
//! Every existing path is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! relative to the root fd, so `..`, absolute symlinks and symlinks planted by earlier
//! entries all resolve inside the root. Final components are then created with `*at`
//! calls relative to the parent fd, never through a path string.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::UnpackError;

/// A shared directory fd (the cache and the caller may hold it at once).
pub(super) type DirFd = Rc<OwnedFd>;

/// Flags for every directory fd we hold: readable, so it also serves `fsetxattr`/`futimens`.
pub(super) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

/// The confinement every lookup below the root uses.
pub(super) const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `openat2` below `root`, retrying the rare `EAGAIN` the kernel returns when a concurrent
/// rename could have made `..` resolution unsafe.
pub(super) fn open_in(
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
    resolve: ResolveFlags,
) -> Result<OwnedFd, Errno> {
    let path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let mut tries = 0;
    loop {
        match rfs::openat2(root, path, flags, Mode::empty(), resolve) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            other => return other,
        }
    }
}

/// The layer root plus a one-slot cache of the most recently used parent directory.
///
/// Layer tars list a directory's files consecutively, so one slot avoids nearly every
/// repeated lookup. The cached fd stays valid while nothing at or above its path is
/// removed; [`Root::forget`] drops it when something is.
#[derive(Debug)]
pub(super) struct Root {
    fd: DirFd,
    cache: Option<(PathBuf, DirFd)>,
    /// Deepest directory [`Root::create_chain`] may create (symlinks can lengthen paths).
    max_depth: usize,
}

impl Root {
    /// Opens `dest` (the caller's path, followed as given) as the root.
    pub(super) fn open(dest: &Path, max_depth: usize) -> Result<Self, UnpackError> {
        let fd =
            rfs::open(dest, DIR_FLAGS, Mode::empty()).map_err(|e| UnpackError::errno(dest, e))?;
        Ok(Self {
            fd: Rc::new(fd),
            cache: None,
            max_depth,
        })
    }

    /// The root directory fd.
    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Records `fd` as the directory at `rel` (e.g. one just created), for the next lookups.
    pub(super) fn remember(&mut self, rel: &Path, fd: DirFd) {
        self.cache = Some((rel.to_path_buf(), fd));
    }

    /// Drops the cached fd. Called on every removal: a removed path may be an ancestor of the
    /// cached one, or (through a symlink it was resolved by) alias it, and removals are rare.
    pub(super) fn forget(&mut self) {
        self.cache = None;
    }

    /// The directory `rel` (relative to the root), created with its missing ancestors if
    /// needed; each directory created is pushed on `created`.
    pub(super) fn parent(
        &mut self,
        rel: &Path,
        created: &mut Vec<PathBuf>,
    ) -> Result<DirFd, UnpackError> {
        if rel.as_os_str().is_empty() {
            return Ok(self.fd.clone());
        }
        if let Some((key, fd)) = &self.cache {
            if key == rel {
                return Ok(fd.clone());
            }
        }
        let fd = match open_in(self.fd(), rel, DIR_FLAGS, IN_ROOT) {
            Ok(fd) => Rc::new(fd),
            Err(Errno::NOENT) => self.create_chain(rel, created)?,
            Err(e) => return Err(lookup_error(rel, e)),
        };
        self.remember(rel, fd.clone());
        Ok(fd)
    }

    /// Walks `rel` from the root one component at a time, creating each missing
    /// directory (mode 0755, owner root) and recording its physical path in `created`.
    ///
    /// Used only when `openat2` found part of `rel` missing. Symlinks met on the way (e.g.
    /// `a -> /etc` planted by an earlier entry, with `etc` not created yet) are followed
    /// the way `RESOLVE_IN_ROOT` would: absolute targets restart at the root and `..`
    /// stops at the root. Each step is a single-component `*at` call with `O_NOFOLLOW` on
    /// a directory fd already inside the root, so nothing can leave it.
    fn create_chain(&self, rel: &Path, created: &mut Vec<PathBuf>) -> Result<DirFd, UnpackError> {
        let mut todo: VecDeque<OsString> = rel.iter().map(OsStr::to_os_string).collect();
        let mut stack: Vec<(OsString, DirFd)> = Vec::new();
        let mut links = 0;
        while let Some(comp) = todo.pop_front() {
            let cur = stack.last().map_or(&self.fd, |(_, fd)| fd).clone();
            if comp == "." || comp.is_empty() {
                continue;
            }
            if comp == ".." {
                stack.pop();
                continue;
            }
            let phys: PathBuf = stack
                .iter()
                .map(|(n, _)| n.as_os_str())
                .chain([comp.as_os_str()])
                .collect();
            match step(cur.as_fd(), &comp, &phys)? {
                Step::Dir(fd) => stack.push((comp, Rc::new(fd))),
                Step::Made(fd) => {
                    if stack.len() >= self.max_depth {
                        return Err(UnpackError::PathTooDeep {
                            path: phys,
                            depth: stack.len() + 1,
                            max: self.max_depth,
                        });
                    }
                    created.push(phys);
                    stack.push((comp, Rc::new(fd)));
                }
                Step::Link(target) => {
                    links += 1;
                    if links > MAX_LINKS || todo.len() > MAX_PENDING_COMPONENTS {
                        let why = "too many levels of symbolic links";
                        return Err(UnpackError::invalid(rel, why));
                    }
                    expand_link(&target, &mut todo, &mut stack);
                }
            }
        }
        Ok(stack.pop().map_or_else(|| self.fd.clone(), |(_, fd)| fd))
    }
}

/// Queues a symlink's target in place of the symlink; an absolute one restarts at the root.
fn expand_link(target: &OsStr, todo: &mut VecDeque<OsString>, stack: &mut Vec<(OsString, DirFd)>) {
    if target.as_bytes().starts_with(b"/") {
        stack.clear();
    }
    for part in target.as_bytes().split(|b| *b == b'/').rev() {
        todo.push_front(OsStr::from_bytes(part).to_os_string());
    }
}

/// Symlinks followed while creating one parent chain (as the kernel's limit).
const MAX_LINKS: usize = 40;
/// Bound on the components queued by symlink expansion.
const MAX_PENDING_COMPONENTS: usize = 4096;

/// One component of [`Root::create_chain`].
#[derive(Debug)]
enum Step {
    /// An existing directory, opened.
    Dir(OwnedFd),
    /// A directory just created, opened.
    Made(OwnedFd),
    /// A symlink, with its target text.
    Link(OsString),
}

fn step(cur: BorrowedFd<'_>, name: &OsStr, phys: &Path) -> Result<Step, UnpackError> {
    let err = |e| UnpackError::errno(phys, e);
    match rfs::statat(cur, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let fd = rfs::openat(cur, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
                    .map_err(err)?;
                Ok(Step::Dir(fd))
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(cur, name, Vec::new()).map_err(err)?;
                Ok(Step::Link(OsString::from_vec(target.into_bytes())))
            }
            _ => Err(UnpackError::invalid(
                phys,
                "a parent path component is not a directory",
            )),
        },
        Err(Errno::NOENT) => make_dir(cur, name, phys).map(Step::Made),
        Err(e) => Err(err(e)),
    }
}

/// Creates directory `name` in `parent` with mode 0755 (set explicitly, whatever the umask).
fn make_dir(parent: BorrowedFd<'_>, name: &OsStr, rel: &Path) -> Result<OwnedFd, UnpackError> {
    rfs::mkdirat(parent, name, Mode::from_bits_truncate(0o755))
        .map_err(|e| UnpackError::errno(rel, e))?;
    let fd = rfs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
        .map_err(|e| UnpackError::errno(rel, e))?;
    rfs::fchmod(&fd, Mode::from_bits_truncate(0o755)).map_err(|e| UnpackError::errno(rel, e))?;
    Ok(fd)
}

/// Maps a failed lookup of an existing parent directory.
fn lookup_error(rel: &Path, e: Errno) -> UnpackError {
    match e {
        Errno::NOTDIR => UnpackError::invalid(rel, "a parent path component is not a directory"),
        Errno::LOOP => UnpackError::invalid(rel, "too many levels of symbolic links"),
        e => UnpackError::errno(rel, e),
    }
}

/// Removes whatever is at `parent/name` (recursively if it is a directory), without
/// following symlinks.
pub(super) fn remove_existing(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    rel: &Path,
) -> Result<(), UnpackError> {
    let st = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| UnpackError::errno(rel, e))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        let fd = rfs::openat(parent, name, DIR_FLAGS | OFlags::NOFOLLOW, Mode::empty())
            .map_err(|e| UnpackError::errno(rel, e))?;
        remove_children(fd.as_fd(), rel)?;
        rfs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(|e| UnpackError::errno(rel, e))
    } else {
        rfs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| UnpackError::errno(rel, e))
    }
}

/// Empties the directory `dir` (depth-first, never following symlinks).
fn remove_children(dir: BorrowedFd<'_>, rel: &Path) -> Result<(), UnpackError> {
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(dir).map_err(|e| UnpackError::errno(rel, e))? {
        let ent = ent.map_err(|e| UnpackError::errno(rel, e))?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(ent.file_name().to_owned());
        }
    }
    for name in names {
        let child = rel.join(OsStr::from_bytes(name.to_bytes()));
        remove_existing(dir, OsStr::from_bytes(name.to_bytes()), &child)?;
    }
    Ok(())
}
