//! COPY and ADD: the sources, read from a root (the build context, or another stage's files),
//! written as a tar whose entries already carry their destination names, owner (`--chown`) and
//! mode (`--chmod`); its digest is the step's content key, and it is extracted into the step's
//! root with the unpacker's RESOLVE_IN_ROOT confinement. Sources are opened with
//! RESOLVE_IN_ROOT too, so a symlink in the context cannot reach outside it; inner symlinks are
//! copied as symlinks.
//!
//! Docker's rules: a source directory's contents (not the directory itself) are copied; a
//! destination ending in `/` (or any destination of several sources) is a directory, the
//! files keep their names in it; otherwise the destination is the file's new path; a relative
//! destination is relative to WORKDIR. Globs (`*`, `?`, `[…]`) match within one path component.

use std::io::{BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use sha2::{Digest, Sha256};

use ferry_image_service::unpack::Compression;

use super::error::BuildError;
use crate::containers::archive::{Archiver, Options};
use crate::error::{Error, Result};

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// A COPY with everything expanded and resolved.
#[derive(Debug, Clone)]
pub(crate) struct CopyPlan {
    pub srcs: Vec<String>,
    /// Absolute destination (WORKDIR applied); a trailing `/` kept.
    pub dest: String,
    pub owner: Option<(u32, u32)>,
    pub mode: Option<u32>,
    /// ADD: a source that is a tar (plain, gzip or zstd) is extracted into the destination.
    pub extract: bool,
}

/// Writes the COPY's tar to `out`; returns the digest of its entries (`sha256:…`), mtimes left
/// out.
pub(crate) fn write_tar(root: &Path, plan: &CopyPlan, out: &Path) -> Result<String> {
    let rootfd = rfs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", root, e.into()))?;
    let mut found: Vec<(String, OwnedFd)> = Vec::new();
    for src in &plan.srcs {
        let rel = relative(src)?;
        let names = if has_glob(&rel) {
            glob(&rootfd, &rel)?
        } else {
            vec![rel.clone()]
        };
        if names.is_empty() {
            return Err(BuildError::SourceNotFound { path: src.clone() }.into());
        }
        for name in names {
            let fd = rfs::openat2(
                &rootfd,
                name.as_str(),
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                IN_ROOT,
            )
            .map_err(|_| BuildError::SourceNotFound { path: src.clone() })?;
            found.push((name, fd));
        }
    }
    let several = found.len() > 1 || plan.srcs.len() > 1;
    if several && !plan.dest.ends_with('/') {
        return Err(BuildError::Invalid(format!(
            "When using COPY with more than one source file, the destination must be a directory and end with a / ({})",
            plan.dest
        ))
        .into());
    }
    let into_dir = plan.dest.ends_with('/') || several;
    // The key leaves mtimes out (a touched file is the same file, as for Docker's cache): the
    // same entries, every time written as 0, hashed without being stored.
    let opts = Options {
        owner: plan.owner,
        mode: plan.mode,
        ..Default::default()
    };
    let keyed = HashWriter {
        inner: std::io::sink(),
        hash: Sha256::new(),
    };
    let keyed = archive(
        &found,
        plan,
        into_dir,
        Options {
            clamp_mtime: Some(0),
            ..opts
        },
        keyed,
    )?;
    let file = std::fs::File::create(out).map_err(|e| Error::io("create", out, e))?;
    let mut w = archive(&found, plan, into_dir, opts, BufWriter::new(file))?;
    w.flush().map_err(|e| Error::io("write", out, e))?;
    Ok(format!("sha256:{}", hex::encode(keyed.hash.finalize())))
}

/// Archives the found sources at their destinations into `out`.
fn archive<W: Write>(
    found: &[(String, OwnedFd)],
    plan: &CopyPlan,
    into_dir: bool,
    opts: Options,
    out: W,
) -> Result<W> {
    let mut w = Archiver::new(out, opts);
    let dest = plan.dest.trim_start_matches('/').trim_end_matches('/');
    for (name, fd) in found {
        let st = rfs::fstat(fd).map_err(|e| Error::io("stat", name, e.into()))?;
        let is_dir = rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory;
        let at = match (is_dir, into_dir) {
            (true, _) | (false, false) => PathBuf::from(dest),
            (false, true) => Path::new(dest).join(base_name(name)),
        };
        if !is_dir && plan.extract {
            if let Some(c) = archive_kind(fd) {
                let f = reopen(fd, name)?;
                let r = ferry_image_service::unpack::decompressor(f, c)
                    .map_err(ferry_image_service::Error::from)?;
                w.append_archive(r, Path::new(dest))?;
                continue;
            }
        }
        if at.as_os_str().is_empty() && !is_dir {
            return Err(BuildError::Invalid(format!("cannot copy {name} onto /")).into());
        }
        w.add(fd, &at)?;
    }
    w.finish()
}

/// The digest of `src`'s files under `root` (as COPY keys them: content and metadata, not
/// mtimes), for RUN --mount=type=bind; the tar is written to a scratch file under `scratch`.
pub(crate) fn tree_digest(root: &Path, src: &str, scratch: &Path) -> Result<String> {
    let out = scratch.join(format!("bind-{:016x}.tar", rand::random::<u64>()));
    let plan = CopyPlan {
        srcs: vec![src.to_string()],
        dest: "/mount/".into(),
        owner: None,
        mode: None,
        extract: false,
    };
    let res = write_tar(root, &plan, &out);
    let _ = std::fs::remove_file(&out);
    res
}

/// The host path of a bind mount's source: `src` under `root`, refused if it leaves the root
/// or goes through a symlink (the runtime mounts a path, so a symlink could reach the host).
pub(crate) fn bind_source(root: &Path, src: &str) -> Result<PathBuf> {
    let rel = relative(src)?;
    let rootfd = rfs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", root, e.into()))?;
    let flags = ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    rfs::openat2(
        &rootfd,
        rel.as_str(),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        flags,
    )
    .map_err(|_| BuildError::SourceNotFound {
        path: src.to_string(),
    })?;
    Ok(root.join(rel))
}

/// A regular file opened for reading through its `O_PATH` fd (the same inode, already known
/// to be a regular file).
fn reopen(fd: &OwnedFd, name: &str) -> Result<std::fs::File> {
    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
    std::fs::File::open(&proc).map_err(|e| Error::io("open", name, e))
}

/// What kind of tar a regular file is, from its first bytes: gzip, zstd, or a plain tar
/// (`ustar` at 257); None for anything else (ADD then copies it as a file).
fn archive_kind(fd: &OwnedFd) -> Option<Compression> {
    use std::io::Read;
    let mut head = [0u8; 262];
    let mut f = reopen(fd, "").ok()?;
    let n = f.read(&mut head).ok()?;
    match &head[..n] {
        [0x1f, 0x8b, ..] => Some(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
        h if h.len() >= 262 && &h[257..262] == b"ustar" => Some(Compression::None),
        _ => None,
    }
}

/// Extracts the COPY's tar into the step's root, confined to it.
pub(crate) fn apply(tar: &Path, rootfs: &Path) -> Result<()> {
    let f = std::fs::File::open(tar).map_err(|e| Error::io("open", tar, e))?;
    ferry_image_service::unpack::apply_layer(
        std::io::BufReader::new(f),
        rootfs,
        &Default::default(),
    )
    .map_err(ferry_image_service::Error::from)?;
    Ok(())
}

/// `--chmod=755` (octal only, as BuildKit before 1.14).
pub(crate) fn parse_chmod(s: &str) -> std::result::Result<u32, BuildError> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| BuildError::Invalid(format!("invalid chmod parameter: {s}")))
}

/// A source path relative to the root, lexically cleaned; `..` may not leave it.
fn relative(src: &str) -> std::result::Result<String, BuildError> {
    let mut parts: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(BuildError::OutsideContext {
                        path: src.to_string(),
                    });
                }
            }
            c => parts.push(c),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// The paths under the root matching a pattern, component by component, sorted.
fn glob(root: &OwnedFd, pattern: &str) -> Result<Vec<String>> {
    let mut found = vec![String::new()];
    for comp in pattern.split('/') {
        let mut next = Vec::new();
        for base in &found {
            if !has_glob(comp) {
                next.push(join(base, comp));
                continue;
            }
            for name in list_dir(root, base)? {
                if glob_match(comp, &name) {
                    next.push(join(base, &name));
                }
            }
        }
        found = next;
    }
    let mut out: Vec<String> = found
        .into_iter()
        .filter(|p| rfs::openat2(root, p.as_str(), OFlags::PATH, Mode::empty(), IN_ROOT).is_ok())
        .collect();
    out.sort();
    Ok(out)
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn list_dir(root: &OwnedFd, dir: &str) -> Result<Vec<String>> {
    let d = if dir.is_empty() { "." } else { dir };
    let Ok(fd) = rfs::openat2(
        root,
        d,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        IN_ROOT,
    ) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for e in rfs::Dir::read_from(&fd).map_err(|e| Error::io("read", d, e.into()))? {
        let e = e.map_err(|e| Error::io("read", d, e.into()))?;
        let n = e.file_name().to_string_lossy().to_string();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    Ok(names)
}

/// Go's `filepath.Match` for one component: `*`, `?`, `[a-z]`, `[^a]`, `\` escapes.
fn glob_match(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    fn m(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| m(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && m(&p[1..], &n[1..]),
            Some('[') => {
                let Some(end) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else {
                    return false;
                };
                let Some(c) = n.first() else { return false };
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some('^' | '!') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= *c && *c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && m(&p[2..], &n[1..]),
            Some(c) => n.first() == Some(c) && m(&p[1..], &n[1..]),
        }
    }
    m(&p, &n)
}

struct HashWriter<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar: &Path) -> Vec<(String, u64, u32)> {
        let mut a = tar::Archive::new(std::fs::File::open(tar).unwrap());
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.uid().unwrap(),
                    h.mode().unwrap(),
                )
            })
            .collect()
    }

    fn plan(srcs: &[&str], dest: &str) -> CopyPlan {
        CopyPlan {
            srcs: srcs.iter().map(|s| s.to_string()).collect(),
            dest: dest.into(),
            owner: None,
            mode: None,
            extract: false,
        }
    }

    #[test]
    fn files_directories_and_globs_land_where_docker_puts_them() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir_all(ctx.join("src/sub")).unwrap();
        for f in ["a.txt", "b.txt", "c.md", "src/main.rs", "src/sub/x"] {
            std::fs::write(ctx.join(f), f).unwrap();
        }
        let out = tmp.path().join("t.tar");
        let got = |p: CopyPlan| {
            write_tar(&ctx, &p, &out).unwrap();
            names(&out).into_iter().map(|e| e.0).collect::<Vec<_>>()
        };
        assert_eq!(got(plan(&["a.txt"], "/app/renamed")), ["app/renamed"]);
        assert_eq!(got(plan(&["a.txt"], "/app/")), ["app/a.txt"]);
        assert_eq!(got(plan(&["*.txt"], "/app/")), ["app/a.txt", "app/b.txt"]);
        assert_eq!(
            got(plan(&["src"], "/app")),
            ["app", "app/main.rs", "app/sub", "app/sub/x"]
        );
        assert_eq!(
            got(plan(&["./src/../c.md", "a.txt"], "/d/")),
            ["d/c.md", "d/a.txt"]
        );
        let mut p = plan(&["a.txt"], "/f");
        p.owner = Some((10, 20));
        p.mode = Some(0o700);
        write_tar(&ctx, &p, &out).unwrap();
        assert_eq!(names(&out), [("f".to_string(), 10, 0o700)]);
    }

    #[test]
    fn missing_and_escaping_sources_are_refused() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let out = tmp.path().join("t.tar");
        let e = |p: CopyPlan| write_tar(tmp.path(), &p, &out).unwrap_err().to_string();
        assert_eq!(
            e(plan(&["nope"], "/x")),
            "failed to compute cache key: \"nope\": not found"
        );
        assert_eq!(
            e(plan(&["*.none"], "/x/")),
            "failed to compute cache key: \"*.none\": not found"
        );
        assert_eq!(
            e(plan(&["../etc/passwd"], "/x")),
            "forbidden path outside the build context: ../etc/passwd"
        );
        std::fs::write(tmp.path().join("a"), "").unwrap();
        std::fs::write(tmp.path().join("b"), "").unwrap();
        let several = e(plan(&["a", "b"], "/x"));
        assert!(
            several.contains("the destination must be a directory and end with a /"),
            "{several}"
        );
    }

    #[test]
    fn the_same_files_give_the_same_digest() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        std::fs::write(tmp.path().join("a"), "1").unwrap();
        let out = tmp.path().join("t.tar");
        let d1 = write_tar(tmp.path(), &plan(&["a"], "/a"), &out).unwrap();
        let d2 = write_tar(tmp.path(), &plan(&["a"], "/a"), &out).unwrap();
        assert_eq!(d1, d2);
        std::fs::write(tmp.path().join("a"), "2").unwrap();
        assert_ne!(
            d1,
            write_tar(tmp.path(), &plan(&["a"], "/a"), &out).unwrap()
        );
    }

    #[test]
    fn add_extracts_a_local_tar_and_copy_does_not() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "inner/f", &b"x"[..]).unwrap();
        std::fs::write(tmp.path().join("a.tar"), b.into_inner().unwrap()).unwrap();
        let out = tmp.path().join("t.tar");
        let mut p = plan(&["a.tar"], "/opt/");
        write_tar(tmp.path(), &p, &out).unwrap();
        assert_eq!(names(&out)[0].0, "opt/a.tar");
        p.extract = true;
        write_tar(tmp.path(), &p, &out).unwrap();
        assert_eq!(names(&out)[0].0, "opt/inner/f");
    }

    #[test]
    fn bind_sources_stay_inside_and_follow_no_symlink() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        std::fs::create_dir_all(tmp.path().join("src")).unwrap();
        std::os::unix::fs::symlink("/etc", tmp.path().join("link")).unwrap();
        assert_eq!(
            bind_source(tmp.path(), "./src").unwrap(),
            tmp.path().join("src")
        );
        assert!(bind_source(tmp.path(), "link").is_err());
        assert!(bind_source(tmp.path(), "../x").is_err());
        let d1 = tree_digest(tmp.path(), "src", tmp.path()).unwrap();
        std::fs::write(tmp.path().join("src/f"), "1").unwrap();
        assert_ne!(d1, tree_digest(tmp.path(), "src", tmp.path()).unwrap());
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "no scratch tar is left");
    }

    #[test]
    fn component_globs() {
        assert!(glob_match("*.rs", "main.rs"));
        assert!(!glob_match("*.rs", "main.rc"));
        assert!(glob_match("f?le[0-9]", "file7"));
        assert!(!glob_match("[^a]x", "ax"));
        assert_eq!(parse_chmod("755").unwrap(), 0o755);
        assert!(parse_chmod("u+x").is_err());
    }
}
