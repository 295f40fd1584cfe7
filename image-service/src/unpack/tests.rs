//! End-to-end tests of extraction, with hostile archives built byte by byte.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::*;

/// A tar written header by header, bypassing `tar::Builder`'s path checks.
struct Tb(Vec<u8>);

impl Tb {
    fn new() -> Self {
        Tb(Vec::new())
    }

    fn header(path: &str, kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h
    }

    fn raw(mut self, mut h: tar::Header, body: &[u8]) -> Self {
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(body);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }

    fn file(self, path: &str, body: &[u8]) -> Self {
        let h = Self::header(path, tar::EntryType::Regular, body.len() as u64);
        self.raw(h, body)
    }

    fn dir(self, path: &str) -> Self {
        let h = Self::header(path, tar::EntryType::Directory, 0);
        self.raw(h, b"")
    }

    fn link(self, path: &str, kind: tar::EntryType, target: &str) -> Self {
        let mut h = Self::header(path, kind, 0);
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.raw(h, b"")
    }

    fn symlink(self, path: &str, target: &str) -> Self {
        self.link(path, tar::EntryType::Symlink, target)
    }

    fn hardlink(self, path: &str, target: &str) -> Self {
        self.link(path, tar::EntryType::Link, target)
    }

    fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = 3 + k.len() + v.len();
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let h = Self::header("PaxHeader", tar::EntryType::XHeader, body.len() as u64);
        self.raw(h, &body)
    }

    fn end(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// A temp dir (on /var/tmp, a real filesystem) holding `dest` and a sibling `outside`.
struct Env {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    dest: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("unpack-test")
            .tempdir_in("/var/tmp")
            .unwrap();
        let base = tmp.path().to_path_buf();
        let dest = base.join("layers/dest");
        fs::create_dir_all(&dest).unwrap();
        fs::create_dir(base.join("outside")).unwrap();
        fs::write(base.join("outside/secret"), b"secret").unwrap();
        fs::write(base.join("x"), b"x").unwrap();
        Env {
            _tmp: tmp,
            base,
            dest,
        }
    }

    fn apply(&self, tar: &[u8]) -> Result<ApplyOutcome, UnpackError> {
        apply_layer(tar, &self.dest, &Limits::default())
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dest.join(rel)
    }

    /// Everything under the temp dir except `dest`'s contents, with identifying metadata.
    fn outside(&self) -> BTreeMap<PathBuf, (u32, i64, u64, u64, u64)> {
        let mut out = BTreeMap::new();
        snapshot(&self.base, &self.dest, &mut out);
        let m = fs::metadata("/etc/passwd").unwrap();
        out.insert(
            "/etc/passwd".into(),
            (m.mode(), m.mtime(), m.size(), m.nlink(), m.ino()),
        );
        out.insert(
            "/etc/x".into(),
            (u32::from(Path::new("/etc/x").exists()), 0, 0, 0, 0),
        );
        out
    }
}

fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, (u32, i64, u64, u64, u64)>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p == skip {
            continue;
        }
        let m = fs::symlink_metadata(&p).unwrap();
        out.insert(
            p.clone(),
            (m.mode(), m.mtime(), m.size(), m.nlink(), m.ino()),
        );
        if m.is_dir() {
            snapshot(&p, skip, out);
        }
    }
}

/// Applies `tar` and checks nothing outside `dest` changed; returns the result.
fn apply_checked(tar: &[u8]) -> (Env, Result<ApplyOutcome, UnpackError>) {
    let env = Env::new();
    let before = env.outside();
    let res = env.apply(tar);
    assert_eq!(before, env.outside(), "something outside dest changed");
    (env, res)
}

#[test]
fn parent_escape_rejected() {
    let (env, res) = apply_checked(&Tb::new().file("../escape", b"x").end());
    let err = res.unwrap_err();
    assert!(matches!(err, UnpackError::Escape { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        r#"layer entry "../escape" escapes the layer root"#
    );
    assert!(!env.base.join("layers/escape").exists());
}

#[test]
fn dotdot_in_middle_rejected() {
    let (env, res) = apply_checked(&Tb::new().file("a/../../x", b"evil").end());
    assert!(matches!(res, Err(UnpackError::Escape { .. })));
    assert_eq!(fs::read(env.base.join("x")).unwrap(), b"x");
}

#[test]
fn absolute_path_lands_inside() {
    let (env, res) = apply_checked(&Tb::new().file("/abs/path", b"hi").end());
    let out = res.unwrap();
    assert_eq!(fs::read(env.path("abs/path")).unwrap(), b"hi");
    assert_eq!(out.implicit_dirs, vec![PathBuf::from("abs")]);
}

#[test]
fn absolute_symlink_parent_stays_inside() {
    let tar = Tb::new().symlink("a", "/").file("a/etc/x", b"in").end();
    let (env, res) = apply_checked(&tar);
    assert_eq!(res.unwrap().implicit_dirs, [PathBuf::from("etc")]);
    assert_eq!(fs::read(env.path("etc/x")).unwrap(), b"in");
    assert_eq!(fs::read_link(env.path("a")).unwrap(), Path::new("/"));
}

#[test]
fn relative_symlink_parent_stays_inside() {
    let tar = Tb::new().symlink("a", "../../..").file("a/x", b"in").end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(fs::read(env.path("x")).unwrap(), b"in");
    assert_eq!(fs::read(env.base.join("x")).unwrap(), b"x");
}

#[test]
fn dangling_relative_symlink_parent_stays_inside() {
    let tar = Tb::new()
        .symlink("a", "../../outside/new")
        .file("a/f", b"in")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    assert_eq!(fs::read(env.path("outside/new/f")).unwrap(), b"in");
    assert_eq!(
        out.implicit_dirs,
        [PathBuf::from("outside"), PathBuf::from("outside/new")]
    );
    assert!(!env.base.join("outside/new").exists());
}

#[test]
fn replaced_parent_is_not_reused_from_cache() {
    let tar = Tb::new()
        .dir("e")
        .dir("d")
        .file("d/a", b"1")
        .symlink("d", "e")
        .file("d/b", b"2")
        .file("f/x", b"3")
        .file("f", b"now a file")
        .file("f/y", b"4")
        .end();
    let (env, res) = apply_checked(&tar);
    let err = res.unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert_eq!(fs::read(env.path("e/b")).unwrap(), b"2");
    assert_eq!(fs::read(env.path("f")).unwrap(), b"now a file");
}

#[test]
fn symlink_expansion_cannot_exceed_depth() {
    let env = Env::new();
    let limits = Limits {
        max_path_depth: 4,
        ..Limits::default()
    };
    let tar = Tb::new().symlink("a", "b/c/d/e/f/g").file("a/x", b"").end();
    let res = apply_layer(&tar[..], &env.dest, &limits);
    assert!(
        matches!(res, Err(UnpackError::PathTooDeep { max: 4, .. })),
        "{res:?}"
    );
}

#[test]
fn symlink_to_etc_then_file_stays_inside() {
    let tar = Tb::new()
        .symlink("a", "/etc")
        .file("a/passwd", b"root::0:0")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    assert_eq!(fs::read(env.path("etc/passwd")).unwrap(), b"root::0:0");
    assert_eq!(out.implicit_dirs, [PathBuf::from("etc")]);
}

#[test]
fn hardlink_through_outside_symlink_rejected() {
    let tar = Tb::new()
        .symlink("s", "../../outside")
        .hardlink("h", "s/secret")
        .end();
    let (env, res) = apply_checked(&tar);
    let err = res.unwrap_err();
    assert!(matches!(err, UnpackError::InvalidEntry { .. }), "{err:?}");
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(!env.path("h").exists());
    assert_eq!(
        fs::metadata(env.base.join("outside/secret"))
            .unwrap()
            .nlink(),
        1
    );
}

#[test]
fn hardlink_climbing_out_rejected() {
    let (env, res) = apply_checked(&Tb::new().hardlink("h", "../../outside/secret").end());
    assert!(matches!(res, Err(UnpackError::Escape { .. })));
    assert!(!env.path("h").exists());
}

#[test]
fn hardlink_to_host_path_is_pending_not_host() {
    let (env, res) = apply_checked(&Tb::new().hardlink("h", "/etc/passwd").end());
    let out = res.unwrap();
    assert!(fs::symlink_metadata(env.path("h")).is_err());
    assert_eq!(out.pending_links.len(), 1);
    assert_eq!(out.pending_links[0].path, Path::new("h"));
    assert_eq!(out.pending_links[0].target, Path::new("etc/passwd"));
    let err = finish_layer(&env.dest, &[], &out).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"h\"") && msg.contains("etc/passwd"), "{msg}");
    assert!(fs::symlink_metadata(env.path("h")).is_err());
}

#[test]
fn whiteout_becomes_char_device() {
    let tar = Tb::new().file(".wh.foo", b"").file("d/.wh.bar", b"").end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    for p in ["foo", "d/bar"] {
        let m = fs::symlink_metadata(env.path(p)).unwrap();
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!(m.rdev(), 0);
    }
    assert!(!env.path(".wh.foo").exists());
}

#[test]
fn opaque_marker_sets_xattr() {
    let tar = Tb::new()
        .dir("d")
        .file("d/.wh..wh..opq", b"")
        .file("e/.wh..wh..opq", b"")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    for d in ["d", "e"] {
        let v = getxattr(&env.path(d), "trusted.overlay.opaque");
        assert_eq!(v.as_deref(), Some(&b"y"[..]), "{d}");
    }
    assert!(!env.path("d/.wh..wh..opq").exists());
    assert_eq!(out.implicit_dirs, vec![PathBuf::from("e")]);
}

#[test]
fn bare_whiteout_rejected() {
    let (_env, res) = apply_checked(&Tb::new().file("d/.wh.", b"").end());
    assert!(matches!(res, Err(UnpackError::BareWhiteout { .. })));
}

#[test]
fn aufs_metadata_skipped() {
    let tar = Tb::new()
        .file(".wh..wh.plnk", b"")
        .dir(".wh..wh.orph")
        .end();
    let (env, res) = apply_checked(&tar);
    assert_eq!(res.unwrap().entries, 2);
    assert_eq!(fs::read_dir(&env.dest).unwrap().count(), 0);
}

#[test]
fn mode_owner_and_setuid_preserved() {
    let mut h = Tb::header("bin/su", tar::EntryType::Regular, 2);
    h.set_mode(0o4755);
    h.set_uid(1000);
    h.set_gid(2000);
    let mut d = Tb::header("sticky", tar::EntryType::Directory, 0);
    d.set_mode(0o1777);
    d.set_uid(3);
    d.set_gid(4);
    let mut l = Tb::header("lnk", tar::EntryType::Symlink, 0);
    l.as_old_mut().linkname[..2].copy_from_slice(b"su");
    l.set_uid(5);
    l.set_gid(6);
    let (env, res) = apply_checked(&Tb::new().raw(h, b"#!").raw(d, b"").raw(l, b"").end());
    res.unwrap();
    let m = fs::metadata(env.path("bin/su")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o4755, 1000, 2000));
    let m = fs::metadata(env.path("sticky")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid(), m.gid()), (0o1777, 3, 4));
    let m = fs::symlink_metadata(env.path("lnk")).unwrap();
    assert_eq!((m.uid(), m.gid()), (5, 6));
}

#[test]
fn pax_xattr_and_mtime_preserved() {
    let tar = Tb::new()
        .pax(&[
            ("SCHILY.xattr.user.foo", b"bar\0baz"),
            ("mtime", b"1700000000.25"),
        ])
        .file("f", b"data")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(
        getxattr(&env.path("f"), "user.foo").as_deref(),
        Some(&b"bar\0baz"[..])
    );
    let m = fs::metadata(env.path("f")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 250_000_000));
}

#[test]
fn xattrs_on_symlinks_and_nodes_do_not_follow() {
    let tar = Tb::new()
        .file("target", b"t")
        .pax(&[("SCHILY.xattr.trusted.sym", b"s")])
        .symlink("lnk", "target")
        .pax(&[("SCHILY.xattr.trusted.node", b"n")])
        .raw(Tb::header("fifo", tar::EntryType::Fifo, 0), b"")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(
        getxattr(&env.path("lnk"), "trusted.sym").as_deref(),
        Some(&b"s"[..])
    );
    assert_eq!(getxattr(&env.path("target"), "trusted.sym"), None);
    assert_eq!(
        getxattr(&env.path("fifo"), "trusted.node").as_deref(),
        Some(&b"n"[..])
    );
}

#[test]
fn xattr_limit_enforced() {
    let big = vec![b'v'; 100];
    let tar = Tb::new()
        .pax(&[("SCHILY.xattr.user.big", &big)])
        .file("f", b"")
        .end();
    let env = Env::new();
    let limits = Limits {
        max_xattr_bytes: 64,
        ..Limits::default()
    };
    let res = apply_layer(&tar[..], &env.dest, &limits);
    let err = res.unwrap_err();
    assert!(matches!(err, UnpackError::InvalidEntry { .. }), "{err:?}");
    assert!(err.to_string().contains("limit of 64"), "{err}");
}

#[test]
fn directory_mtime_set_after_children() {
    let mut d = Tb::header("d", tar::EntryType::Directory, 0);
    d.set_mtime(1000);
    let tar = Tb::new()
        .raw(d, b"")
        .file("d/f", b"1")
        .dir("d/sub")
        .file("d/sub/g", b"2")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(fs::metadata(env.path("d")).unwrap().mtime(), 1000);
    assert_eq!(
        fs::metadata(env.path("d/sub")).unwrap().mtime(),
        1_600_000_000
    );
}

#[test]
fn fifo_and_devices_created() {
    let mut c = Tb::header("dev/null", tar::EntryType::Char, 0);
    c.set_device_major(1).unwrap();
    c.set_device_minor(3).unwrap();
    c.set_mode(0o666);
    let mut b = Tb::header("dev/loop9", tar::EntryType::Block, 0);
    b.set_device_major(7).unwrap();
    b.set_device_minor(9).unwrap();
    let f = Tb::header("fifo", tar::EntryType::Fifo, 0);
    let (env, res) = apply_checked(&Tb::new().raw(c, b"").raw(b, b"").raw(f, b"").end());
    res.unwrap();
    let m = fs::symlink_metadata(env.path("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!((m.rdev(), m.mode() & 0o7777), (libc::makedev(1, 3), 0o666));
    let m = fs::symlink_metadata(env.path("dev/loop9")).unwrap();
    assert!(m.file_type().is_block_device());
    assert_eq!(m.rdev(), libc::makedev(7, 9));
    assert!(fs::symlink_metadata(env.path("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn in_layer_hardlink_shares_inode() {
    let tar = Tb::new()
        .file("a/f", b"content")
        .hardlink("b/h", "/a/f")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    assert!(out.pending_links.is_empty());
    let (a, b) = (
        fs::metadata(env.path("a/f")).unwrap(),
        fs::metadata(env.path("b/h")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
}

#[test]
fn hardlink_to_symlink_links_the_symlink() {
    let tar = Tb::new()
        .symlink("s", "/etc/passwd")
        .hardlink("h", "s")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    let m = fs::symlink_metadata(env.path("h")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!(m.nlink(), 2);
}

#[test]
fn later_entries_replace_earlier() {
    let tar = Tb::new()
        .file("x", b"file")
        .symlink("x", "/target")
        .dir("d")
        .file("d/child", b"c")
        .file("d", b"now a file")
        .file("y", b"file")
        .dir("y")
        .file("y/z", b"z")
        .dir("y")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(fs::read_link(env.path("x")).unwrap(), Path::new("/target"));
    assert_eq!(fs::read(env.path("d")).unwrap(), b"now a file");
    assert_eq!(fs::read(env.path("y/z")).unwrap(), b"z");
}

#[test]
fn symlink_target_kept_verbatim() {
    let tar = Tb::new()
        .symlink("a", "../../../etc/shadow")
        .symlink("b", "/abs/t")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert_eq!(
        fs::read_link(env.path("a")).unwrap(),
        Path::new("../../../etc/shadow")
    );
    assert_eq!(fs::read_link(env.path("b")).unwrap(), Path::new("/abs/t"));
}

#[test]
fn pax_size_overrides_ustar_size() {
    let body = b"0123456789";
    let h = Tb::header("f", tar::EntryType::Regular, 3);
    let tar = Tb::new()
        .pax(&[("size", b"10")])
        .raw(h, body)
        .file("g", b"next")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    assert_eq!(fs::read(env.path("f")).unwrap(), body);
    assert_eq!(fs::read(env.path("g")).unwrap(), b"next");
    assert_eq!(out.bytes, 14);
}

#[test]
fn pax_path_overrides_ustar_path() {
    let long = format!("{}/file", "d".repeat(150));
    let tar = Tb::new()
        .pax(&[("path", long.as_bytes())])
        .file("short", b"x")
        .end();
    let (env, res) = apply_checked(&tar);
    res.unwrap();
    assert!(env.path(&long).exists());
    assert!(!env.path("short").exists());
}

#[test]
fn malformed_or_disagreeing_pax_rejected() {
    for rec in [&b"abc"[..], b"-1", b""] {
        let tar = Tb::new().pax(&[("size", rec)]).file("f", b"abc").end();
        let (_env, res) = apply_checked(&tar);
        assert!(
            matches!(res, Err(UnpackError::InvalidEntry { .. })),
            "{rec:?}: {res:?}"
        );
    }
    // A broken record before `size` makes the tar crate ignore the PAX size.
    let h = Tb::header("PaxHeader", tar::EntryType::XHeader, 24);
    let tar = Tb::new()
        .raw(h, b"garbage\n11 size=512\n\0\0\0\0")
        .file("f", b"abc")
        .end();
    let (_env, res) = apply_checked(&tar);
    assert!(
        matches!(res, Err(UnpackError::InvalidEntry { .. })),
        "{res:?}"
    );
}

#[test]
fn truncated_body_rejected() {
    let mut tar = Tb::new().file("f", &[7u8; 2000]).end();
    tar.truncate(512 + 1000);
    let (_env, res) = apply_checked(&tar);
    assert!(matches!(res, Err(UnpackError::Tar { .. })), "{res:?}");
}

#[test]
fn bad_checksum_rejected() {
    let mut tar = Tb::new().file("f", b"abc").end();
    tar[0] ^= 1;
    let (env, res) = apply_checked(&tar);
    assert!(matches!(res, Err(UnpackError::Tar { .. })), "{res:?}");
    assert_eq!(fs::read_dir(&env.dest).unwrap().count(), 0);
}

#[test]
fn non_octal_field_rejected() {
    let mut h = Tb::header("f", tar::EntryType::Regular, 3);
    h.as_old_mut().mode = *b"07z7\0\0\0\0";
    let (_env, res) = apply_checked(&Tb::new().raw(h, b"abc").end());
    assert!(matches!(res, Err(UnpackError::Tar { .. })), "{res:?}");
    let mut h = Tb::header("f", tar::EntryType::Regular, 3);
    h.as_old_mut().size = *b"0000000000x\0";
    let (_env, res) = apply_checked(&Tb::new().raw(h, b"abc").end());
    assert!(matches!(res, Err(UnpackError::Tar { .. })), "{res:?}");
}

#[test]
fn path_limits_enforced() {
    let limits = Limits {
        max_path_len: 20,
        max_path_depth: 3,
        ..Limits::default()
    };
    let env = Env::new();
    let tar = Tb::new().file(&"x".repeat(21), b"").end();
    let res = apply_layer(&tar[..], &env.dest, &limits);
    assert!(
        matches!(
            res,
            Err(UnpackError::PathTooLong {
                len: 21,
                max: 20,
                ..
            })
        ),
        "{res:?}"
    );
    let tar = Tb::new().file("a/b/c/d", b"").end();
    let res = apply_layer(&tar[..], &env.dest, &limits);
    assert!(
        matches!(
            res,
            Err(UnpackError::PathTooDeep {
                depth: 4,
                max: 3,
                ..
            })
        ),
        "{res:?}"
    );
    let long = "y/".repeat(3000);
    let tar = Tb::new()
        .pax(&[("path", long.as_bytes())])
        .file("f", b"")
        .end();
    let res = apply_layer(&tar[..], &env.dest, &Limits::default());
    assert!(
        matches!(res, Err(UnpackError::PathTooLong { .. })),
        "{res:?}"
    );
}

#[test]
fn entry_count_limit_enforced() {
    let env = Env::new();
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let tar = Tb::new().file("a", b"").file("b", b"").file("c", b"").end();
    let res = apply_layer(&tar[..], &env.dest, &limits);
    assert!(matches!(res, Err(UnpackError::TooManyEntries { max: 2 })));
}

#[test]
fn unsupported_types_rejected() {
    let h = Tb::header("vol", tar::EntryType::new(b'V'), 0);
    let (_env, res) = apply_checked(&Tb::new().raw(h, b"").end());
    let err = res.unwrap_err();
    assert!(
        matches!(err, UnpackError::UnsupportedEntry { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("'V'"), "{err}");
}

#[test]
fn v7_directory_and_root_entries() {
    let tar = Tb::new()
        .dir("./")
        .file("olddir/", b"")
        .file("olddir/f", b"1")
        .end();
    let (env, res) = apply_checked(&tar);
    let out = res.unwrap();
    assert!(env.path("olddir").is_dir());
    assert!(out.implicit_dirs.is_empty());
}

#[test]
fn trailing_bytes_after_end_not_needed() {
    let mut tar = Tb::new().file("f", b"1").end();
    tar.extend_from_slice(b"trailing junk that is not a tar header at all");
    let env = Env::new();
    let mut r = &tar[..];
    apply_layer(&mut r, &env.dest, &Limits::default()).unwrap();
    assert!(env.path("f").exists());
}

fn compress_roundtrip(c: Compression, data: &[u8], compressed: Vec<u8>) {
    let mut out = Vec::new();
    decompressor(&compressed[..], c)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
}

#[test]
fn decompressors_roundtrip() {
    let tar = Tb::new().file("f", b"hello").end();
    let gz = |d: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let (a, b) = tar.split_at(700);
    let mut multi = gz(a);
    multi.extend(gz(b));
    compress_roundtrip(Compression::Gzip, &tar, multi);
    compress_roundtrip(
        Compression::Zstd,
        &tar,
        zstd::encode_all(&tar[..], 3).unwrap(),
    );
    compress_roundtrip(Compression::None, &tar, tar.clone());
    let env = Env::new();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    let r = decompressor(&zst[..], Compression::Zstd).unwrap();
    apply_layer(r, &env.dest, &Limits::default()).unwrap();
    assert_eq!(fs::read(env.path("f")).unwrap(), b"hello");
}

#[test]
fn corrupt_gzip_is_tar_error() {
    let env = Env::new();
    let r = decompressor(
        &b"\x1f\x8b\x08\0garbage-garbage-garbage"[..],
        Compression::Gzip,
    )
    .unwrap();
    let res = apply_layer(r, &env.dest, &Limits::default());
    assert!(matches!(res, Err(UnpackError::Tar { .. })), "{res:?}");
}

#[test]
fn media_types() {
    use Compression as C;
    let cases = [
        ("application/vnd.oci.image.layer.v1.tar", Some(C::None)),
        ("application/vnd.oci.image.layer.v1.tar+gzip", Some(C::Gzip)),
        ("application/vnd.oci.image.layer.v1.tar+zstd", Some(C::Zstd)),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar",
            Some(C::None),
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            Some(C::Gzip),
        ),
        (
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
            Some(C::Zstd),
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            Some(C::Gzip),
        ),
        (
            "application/vnd.docker.image.rootfs.diff.tar",
            Some(C::None),
        ),
        ("application/vnd.oci.image.config.v1+json", None),
    ];
    for (mt, want) in cases {
        assert_eq!(Compression::from_media_type(mt), want, "{mt}");
    }
}

/// Three layers: `low` (bottom), `mid`, and `top` being finished.
struct Stack {
    env: Env,
    low: PathBuf,
    mid: PathBuf,
}

impl Stack {
    fn new(low: Vec<u8>, mid: Vec<u8>) -> Self {
        let env = Env::new();
        let (l, m) = (env.base.join("layers/low"), env.base.join("layers/mid"));
        for (dir, tar) in [(&l, low), (&m, mid)] {
            fs::create_dir(dir).unwrap();
            let out = apply_layer(&tar[..], dir, &Limits::default()).unwrap();
            assert!(out.pending_links.is_empty());
        }
        Stack {
            env,
            low: l,
            mid: m,
        }
    }

    fn lowers(&self) -> Vec<PathBuf> {
        vec![self.mid.clone(), self.low.clone()]
    }
}

#[test]
fn finish_copies_pending_link_from_lower() {
    let mut f = Tb::header("usr/bin/tool", tar::EntryType::Regular, 4);
    f.set_mode(0o4751);
    f.set_uid(7);
    f.set_mtime(12345);
    let low = Tb::new()
        .dir("usr")
        .dir("usr/bin")
        .pax(&[("SCHILY.xattr.user.k", b"v")])
        .raw(f, b"tool")
        .end();
    let s = Stack::new(low, Tb::new().file("other", b"").end());
    let mut d = Tb::header("links", tar::EntryType::Directory, 0);
    d.set_mtime(777);
    let top = Tb::new()
        .raw(d, b"")
        .hardlink("links/t1", "usr/bin/tool")
        .hardlink("links/t2", "usr/bin/tool")
        .end();
    let out = s.env.apply(&top).unwrap();
    assert_eq!(out.pending_links.len(), 2);
    finish_layer(&s.env.dest, &s.lowers(), &out).unwrap();
    let m1 = fs::metadata(s.env.path("links/t1")).unwrap();
    let m2 = fs::metadata(s.env.path("links/t2")).unwrap();
    assert_eq!(fs::read(s.env.path("links/t1")).unwrap(), b"tool");
    assert_eq!(
        (m1.mode() & 0o7777, m1.uid(), m1.mtime()),
        (0o4751, 7, 12345)
    );
    assert_eq!((m1.ino(), m2.nlink()), (m2.ino(), 2));
    assert_eq!(
        getxattr(&s.env.path("links/t1"), "user.k").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(fs::metadata(s.env.path("links")).unwrap().mtime(), 777);
    assert_eq!(fs::metadata(s.low.join("usr/bin/tool")).unwrap().nlink(), 1);
}

#[test]
fn finish_respects_whiteouts_and_opaque_dirs() {
    let low = Tb::new()
        .file("gone", b"old")
        .file("opq/inner", b"old")
        .end();
    let mid = Tb::new()
        .file(".wh.gone", b"")
        .file("opq/.wh..wh..opq", b"")
        .end();
    let s = Stack::new(low, mid);
    for target in ["gone", "opq/inner"] {
        let top = Tb::new().hardlink("h", target).end();
        let out = s.env.apply(&top).unwrap();
        let err = finish_layer(&s.env.dest, &s.lowers(), &out).unwrap_err();
        assert!(
            matches!(err, UnpackError::InvalidEntry { .. }),
            "{target}: {err:?}"
        );
    }
}

#[test]
fn finish_links_out_of_order_target_in_same_layer() {
    let env = Env::new();
    let out = env
        .apply(&Tb::new().hardlink("h", "t").file("t", b"later").end())
        .unwrap();
    assert_eq!(out.pending_links.len(), 1);
    finish_layer(&env.dest, &[], &out).unwrap();
    assert_eq!(
        fs::metadata(env.path("h")).unwrap().ino(),
        fs::metadata(env.path("t")).unwrap().ino()
    );
}

#[test]
fn finish_copies_implicit_dir_metadata() {
    let mut d = Tb::header("etc", tar::EntryType::Directory, 0);
    d.set_mode(0o750);
    d.set_uid(11);
    d.set_gid(12);
    d.set_mtime(4242);
    let s = Stack::new(Tb::new().raw(d, b"").end(), Tb::new().dir("opt").end());
    let out = s
        .env
        .apply(&Tb::new().file("etc/conf", b"c").file("opt/x/y", b"y").end())
        .unwrap();
    let implicit: Vec<_> = out
        .implicit_dirs
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    assert_eq!(implicit, ["etc", "opt", "opt/x"]);
    finish_layer(&s.env.dest, &s.lowers(), &out).unwrap();
    let m = fs::metadata(s.env.path("etc")).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
        (0o750, 11, 12, 4242)
    );
    let m = fs::metadata(s.env.path("opt")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o755, 1_600_000_000));
    let m = fs::metadata(s.env.path("opt/x")).unwrap();
    assert_eq!((m.mode() & 0o7777, m.uid()), (0o755, 0));
}

fn getxattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

#[test]
fn permissions_of_read_only_dirs_do_not_block_children() {
    let mut d = Tb::header("ro", tar::EntryType::Directory, 0);
    d.set_mode(0o555);
    let (env, res) = apply_checked(&Tb::new().raw(d, b"").file("ro/f", b"1").end());
    res.unwrap();
    assert_eq!(
        fs::metadata(env.path("ro")).unwrap().permissions().mode() & 0o777,
        0o555
    );
}
