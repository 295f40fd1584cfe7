//! `docker cp`: tar streams out of and into a container's root filesystem.
//!
//! The root is the overlay mount at `Paths::rootfs()` in ferryd's mount namespace, present for
//! created, running and exited containers alike. The container owns that tree, so nothing in it
//! may steer ferryd to a host file:
//!
//! * The path the user names is resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//!   from an fd of the root, so `..` and symlinks (absolute ones too) resolve inside it, as they
//!   would in the container. A symlink in the last component is archived as a symlink unless
//!   `follow_link` (`cp -L`) is set, and then it too resolves inside the root.
//! * Copying out walks the tree by fds: every entry is opened `O_PATH | O_NOFOLLOW` relative to
//!   its parent's fd and checked with `fstat`; only directories and regular files are ever opened
//!   for reading (device nodes and FIFOs are archived from their stat, never opened), and inner
//!   symlinks are archived as symlinks. Files that share an inode are archived as hard links.
//! * Copying in resolves the destination directory the same way and hands its fd (as
//!   `/proc/self/fd/N`) to [`ferry_image_service::unpack::apply_layer`], which confines every entry to that
//!   directory with RESOLVE_IN_ROOT and rejects `..` escapes. Entries keep their tar owner and
//!   mode (the CLI writes root-owned entries unless `cp -a`).
//!
//! Limits (differences from Docker): bind mounts and volumes are not visible (only the root
//! filesystem is); /etc/hostname, /etc/hosts and /etc/resolv.conf are served from the files
//! Ferry bind-mounts there, when copying out only; xattrs are not copied out; a copied-in entry
//! named `.wh.*` is treated as an overlay whiteout, as in a layer; a copied-in file replaces an
//! existing directory of the same name instead of being refused;
//! a copy-in that fails part-way (a bad entry, a dropped client) keeps the entries already
//! extracted, as Docker's does.

use std::io::{BufWriter, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use tokio::sync::mpsc;

use super::archive::{Archiver, Options};
use super::manager::Containers;
use super::record::ContainerRecord;
use super::rootfs::Paths;
use crate::error::{Error, Result};
use ferry_proto::chunks::ChunkReader;

/// Size of the tar chunks sent to the client.
const CHUNK: usize = 64 * 1024;

/// Files Ferry bind-mounts into every container, readable from its state directory.
const ETC_FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// What a path in a container is (Docker's container path stat).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathStat {
    /// The name the archive's top entry carries; "." when the archive holds a directory's
    /// contents (`/`, `dir/.`).
    pub name: String,
    pub mode: u32,
    pub size: u64,
    pub mtime: i64,
    pub is_dir: bool,
    pub link_target: String,
}

/// Tar bytes (or the error that ended the archive) for the client.
pub type TarChunks = mpsc::Receiver<Result<Vec<u8>>>;

/// Tar bytes from the client; an `Err` means the client's stream failed.
pub type TarInput = mpsc::Receiver<std::io::Result<Vec<u8>>>;

impl Containers {
    /// Stats what `path` resolves to in the container, following a final symlink inside the
    /// root (NotFound if it does not exist).
    pub async fn stat_path(&self, query: &str, path: &str) -> Result<PathStat> {
        let (_, paths) = self.copy_target(query)?;
        let (query, path) = (query.to_string(), path.to_string());
        blocking(move || {
            let fd = open_target(&paths, &path, true, &query)?;
            path_stat(&fd, &path)
        })
        .await
    }

    /// Archives `path` (and everything below a directory) as a tar stream: the path's stat,
    /// then chunks until the end of the archive or the receiver is dropped.
    pub async fn copy_from(
        &self,
        query: &str,
        path: &str,
        follow_link: bool,
    ) -> Result<(PathStat, TarChunks)> {
        let (_, paths) = self.copy_target(query)?;
        let (query, path) = (query.to_string(), path.to_string());
        let (fd, stat) = blocking(move || {
            let fd = open_target(&paths, &path, follow_link, &query)?;
            let stat = path_stat(&fd, &path)?;
            Ok((fd, stat))
        })
        .await?;
        let (tx, rx) = mpsc::channel(8);
        let name = stat.name.clone();
        tokio::task::spawn_blocking(move || {
            let out = ChunkWriter { tx: tx.clone() };
            if let Err(e) = write_archive(out, &fd, &name) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        Ok((stat, rx))
    }

    /// Extracts the tar read from `data` into the directory `path` of the container.
    pub async fn copy_to(&self, query: &str, path: &str, data: TarInput) -> Result<()> {
        let (rec, paths) = self.copy_target(query)?;
        if rec.config.read_only {
            return Err(Error::Conflict(
                "container rootfs is marked read-only".into(),
            ));
        }
        let (query, path) = (query.to_string(), path.to_string());
        blocking(move || {
            let root = open_root(&paths)?;
            let fd = rfs::openat2(
                &root,
                rel(&path),
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                IN_ROOT,
            )
            .map_err(|e| lookup_error(e, &path, &query))?;
            if !is_dir(&fd, &path)? {
                return Err(Error::InvalidArgument(format!(
                    "extraction point is not a directory: {path}"
                )));
            }
            let dest = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            let reader = ChunkReader::new(data);
            let outcome =
                ferry_image_service::unpack::apply_layer(reader, &dest, &Default::default())
                    .map_err(ferry_image_service::Error::from)?;
            if !outcome.pending_links.is_empty() {
                tracing::warn!(
                    count = outcome.pending_links.len(),
                    "cp: hard links to files outside the archive skipped"
                );
            }
            Ok(())
        })
        .await
    }

    /// The container and its paths; its root must be mounted.
    fn copy_target(&self, query: &str) -> Result<(ContainerRecord, Paths)> {
        let rec = self.get(query)?;
        let paths = self.paths(&rec.id);
        if !ferry_image_service::snapshots::mounts_is_mounted(&paths.rootfs()) {
            return Err(Error::Conflict(format!(
                "container {} has no root filesystem mounted; start it once",
                rec.name
            )));
        }
        Ok((rec, paths))
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(Error::blocking("copy"))?
}

fn open_root(paths: &Paths) -> Result<OwnedFd> {
    let root = paths.rootfs();
    rfs::open(
        &root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", &root, e.into()))
}

/// `path` relative to the root: RESOLVE_IN_ROOT treats a leading `/` as the root anyway, but
/// an empty path must be ".".
fn rel(path: &str) -> &str {
    match path.trim_start_matches('/') {
        "" => ".",
        p => p,
    }
}

/// An `O_PATH` fd of what `path` names in the container: the symlink itself when the last
/// component is one (unless `follow` or a trailing `/`), else what it resolves to, inside the
/// root. Ferry's own /etc files come from the state directory.
fn open_target(paths: &Paths, path: &str, follow: bool, query: &str) -> Result<OwnedFd> {
    if let Some(name) = etc_file(path) {
        let p = paths.state.join(name);
        if let Ok(fd) = rfs::open(
            &p,
            OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            return Ok(fd);
        }
    }
    let root = open_root(paths)?;
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    rfs::openat2(&root, rel(path), flags, Mode::empty(), IN_ROOT)
        .map_err(|e| lookup_error(e, path, query))
}

/// `hostname` for `/etc/hostname` (lexically, as the mount's destination is).
fn etc_file(path: &str) -> Option<&'static str> {
    let clean = lexical_clean(path);
    ETC_FILES
        .iter()
        .find(|f| clean == format!("/etc/{f}"))
        .copied()
}

/// `path` made absolute with `.`, `..` and repeated `/` removed (`..` stops at `/`).
pub(crate) fn lexical_clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn lookup_error(e: Errno, path: &str, query: &str) -> Error {
    match e {
        Errno::NOENT | Errno::NOTDIR => Error::NotFound(format!(
            "Could not find the file {path} in container {query}"
        )),
        Errno::LOOP => Error::InvalidArgument(format!("too many levels of symbolic links: {path}")),
        e => Error::io("open", path, e.into()),
    }
}

fn is_dir(fd: &OwnedFd, path: &str) -> Result<bool> {
    let st = rfs::fstat(fd).map_err(|e| Error::io("stat", path, e.into()))?;
    Ok(FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// The name the archive's top entry gets: the last component as typed, or "." for a
/// directory's contents (`/`, `dir/.`, `dir/..`).
fn archive_name(path: &str) -> String {
    match path.trim_end_matches('/').rsplit('/').next() {
        None | Some("" | "." | "..") => ".".into(),
        Some(n) => n.into(),
    }
}

fn path_stat(fd: &OwnedFd, path: &str) -> Result<PathStat> {
    let st = rfs::fstat(fd).map_err(|e| Error::io("stat", path, e.into()))?;
    let kind = FileType::from_raw_mode(st.st_mode);
    let link_target = if kind == FileType::Symlink {
        let t = rfs::readlinkat(fd, "", Vec::new())
            .map_err(|e| Error::io("readlink", path, e.into()))?;
        String::from_utf8_lossy(t.as_bytes()).into_owned()
    } else {
        String::new()
    };
    let name = archive_name(path);
    if kind != FileType::Directory && name == "." {
        return Err(Error::InvalidArgument(format!("not a directory: {path}")));
    }
    Ok(PathStat {
        name,
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: st.st_mtime,
        is_dir: kind == FileType::Directory,
        link_target,
    })
}

/// Sends what the tar builder writes as chunks; fails once the receiver is gone.
#[derive(Debug)]
struct ChunkWriter {
    tx: mpsc::Sender<Result<Vec<u8>>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the archive of the node `fd` (an `O_PATH` fd) named `name`.
fn write_archive(out: ChunkWriter, fd: &OwnedFd, name: &str) -> Result<()> {
    let out = BufWriter::with_capacity(CHUNK, out);
    let mut w = Archiver::new(out, Options::default());
    let top = if name == "." {
        PathBuf::new()
    } else {
        PathBuf::from(name)
    };
    w.add(fd, &top)?;
    w.finish()?
        .into_inner()
        .map_err(|e| Error::io("archive", name, e.into_error()))?
        .flush()
        .map_err(|e| Error::io("archive", name, e))
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    use super::*;

    #[test]
    fn names_and_paths_are_read_as_docker_does() {
        assert_eq!(archive_name("/etc/hostname"), "hostname");
        assert_eq!(archive_name("/etc/"), "etc");
        assert_eq!(archive_name("/etc/."), ".");
        assert_eq!(archive_name("/"), ".");
        assert_eq!(lexical_clean("//etc/../etc/./hosts"), "/etc/hosts");
        assert_eq!(lexical_clean("/../.."), "/");
        assert_eq!(etc_file("/etc//hostname"), Some("hostname"));
        assert_eq!(etc_file("/etc/passwd"), None);
        assert_eq!(rel("/"), ".");
        assert_eq!(rel("/tmp/x"), "tmp/x");
    }

    /// Archives `path` of `root` as copy_from does, and lists the entries.
    fn archive(root: &Path, path: &str, follow: bool) -> Result<Vec<(String, String, Vec<u8>)>> {
        let rootfd = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut flags = OFlags::PATH;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = rfs::openat2(&rootfd, rel(path), flags, Mode::empty(), IN_ROOT)
            .map_err(|e| lookup_error(e, path, "c"))?;
        let (tx, mut rx) = mpsc::channel(1024);
        write_archive(ChunkWriter { tx }, &fd, &archive_name(path))?;
        let mut bytes = Vec::new();
        while let Ok(c) = rx.try_recv() {
            bytes.extend(c.unwrap());
        }
        let mut out = Vec::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let kind = format!("{:?}", e.header().entry_type());
            let mut body = Vec::new();
            if let Some(l) = e.link_name().unwrap() {
                body = l.as_os_str().as_bytes().to_vec();
            } else {
                e.read_to_end(&mut body).unwrap();
            }
            out.push((p, kind, body));
        }
        Ok(out)
    }

    #[test]
    fn symlinks_resolve_inside_the_root_and_are_archived_as_links() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        std::fs::write(root.join("etc/passwd"), "container\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("tmp/evil")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("tmp/etcl")).unwrap();
        let link = archive(&root, "/tmp/evil", false).unwrap();
        assert_eq!(
            link,
            [("evil".into(), "Symlink".into(), b"/etc/passwd".to_vec())]
        );
        let followed = archive(&root, "/tmp/evil", true).unwrap();
        assert_eq!(followed[0].2, b"container\n");
        let through = archive(&root, "/tmp/etcl/passwd", false).unwrap();
        assert_eq!(through[0].2, b"container\n");
        let up = archive(&root, "/../../../etc/passwd", false).unwrap();
        assert_eq!(up[0].2, b"container\n");
        let missing = archive(&root, "/nope", false).unwrap_err().to_string();
        assert_eq!(missing, "Could not find the file /nope in container c");
    }

    #[test]
    fn directories_keep_structure_and_hard_links() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("d/sub")).unwrap();
        std::fs::write(root.join("d/a"), "A").unwrap();
        std::fs::hard_link(root.join("d/a"), root.join("d/sub/b")).unwrap();
        std::os::unix::fs::symlink("../a", root.join("d/sub/l")).unwrap();
        let list = archive(&root, "/d", false).unwrap();
        let names: Vec<(&str, &str)> = list
            .iter()
            .map(|(p, k, _)| (p.as_str(), k.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("d", "Directory"),
                ("d/a", "Regular"),
                ("d/sub", "Directory"),
                ("d/sub/b", "Link"),
                ("d/sub/l", "Symlink"),
            ]
        );
        let contents = archive(&root, "/d/.", false).unwrap();
        assert_eq!(contents[0].0, "a");
    }
}
