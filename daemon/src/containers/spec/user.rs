//! `--user` to uid, gid, supplementary gids and home, with runc's
//! `libcontainer/user.GetExecUser` rules (what Docker uses).
//!
//! The rootfs belongs to an untrusted image, so its `/etc/passwd` may be a
//! symlink to `/etc/shadow`-like host paths, or a FIFO that blocks any open.
//! Both files are therefore opened with `openat2(RESOLVE_IN_ROOT)` relative to
//! a descriptor on the rootfs, so every symlink, absolute or `..`, resolves
//! inside it (as the container would see it), with `O_NONBLOCK`, and only
//! regular files of at most [`MAX_DB_BYTES`] are read.
//!
//! Rules: `""` means uid 0; a numeric user is always a uid (a name that looks
//! like a number is not looked up by name); an unknown numeric uid is fine
//! (gid 0, home `/`), an unknown name is an error. Supplementary groups are the
//! `/etc/group` entries listing the matched user name, and only when no group
//! was given explicitly.

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::SpecError;

/// Larger user databases are refused rather than read into memory.
pub const MAX_DB_BYTES: u64 = 4 << 20;

/// Largest uid/gid runc accepts.
const MAX_ID: u32 = i32::MAX as u32;

/// The identity the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, `uid:group`)
/// against the rootfs's own `/etc/passwd` and `/etc/group`.
pub fn resolve_user(rootfs: &Path, user: Option<&str>) -> Result<ResolvedUser, SpecError> {
    let spec = user.unwrap_or("");
    let (user_arg, group_arg) = spec.split_once(':').unwrap_or((spec, ""));
    let root = open_rootfs(rootfs)?;
    let passwd = read_in_root(&root, rootfs, "etc/passwd")?.unwrap_or_default();
    let mut resolved = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_owned(),
    };
    let matched = lookup_user(&passwd, user_arg, spec, &mut resolved)?;
    if group_arg.is_empty() && matched.is_none() {
        return Ok(resolved);
    }
    let group = read_in_root(&root, rootfs, "etc/group")?.unwrap_or_default();
    if group_arg.is_empty() {
        let name = matched.unwrap_or_default();
        resolved.additional_gids = parse_group(&group)
            .filter(|g| g.members.contains(&name.as_str()))
            .map(|g| g.gid)
            .collect();
    } else {
        resolved.gid = lookup_group(&group, group_arg, spec)?;
    }
    Ok(resolved)
}

/// Fills uid, gid and home from the first passwd entry matching `user_arg`;
/// returns the matched name (supplementary groups are looked up by it).
fn lookup_user(
    passwd: &str,
    user_arg: &str,
    spec: &str,
    out: &mut ResolvedUser,
) -> Result<Option<String>, SpecError> {
    let numeric = parse_id(user_arg, spec)?;
    let wanted_uid = if user_arg.is_empty() {
        Some(0)
    } else {
        numeric
    };
    let entry = parse_passwd(passwd).find(|p| match wanted_uid {
        Some(uid) => p.uid == uid,
        None => p.name == user_arg,
    });
    match (entry, wanted_uid) {
        (Some(p), _) => {
            (out.uid, out.gid, out.home) = (p.uid, p.gid, p.home.to_owned());
            Ok(Some(p.name.to_owned()))
        }
        (None, Some(uid)) => {
            out.uid = uid;
            Ok(None)
        }
        (None, None) => Err(SpecError::UnknownUser {
            user: user_arg.to_owned(),
        }),
    }
}

/// The gid for an explicit group: a number is a gid as is, a name must exist.
fn lookup_group(group: &str, group_arg: &str, spec: &str) -> Result<u32, SpecError> {
    if let Some(gid) = parse_id(group_arg, spec)? {
        return Ok(gid);
    }
    parse_group(group)
        .find(|g| g.name == group_arg)
        .map(|g| g.gid)
        .ok_or_else(|| SpecError::UnknownGroup {
            group: group_arg.to_owned(),
        })
}

/// `Some(id)` for a decimal id within runc's range, `None` for a name.
fn parse_id(arg: &str, spec: &str) -> Result<Option<u32>, SpecError> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match arg.parse::<u32>() {
        Ok(id) if id <= MAX_ID => Ok(Some(id)),
        _ => Err(SpecError::InvalidUser {
            user: spec.to_owned(),
            reason: format!("uids and gids must be in range 0-{MAX_ID}"),
        }),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped.
fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.trim().split(':').collect();
        Some(PasswdEntry {
            name: fields
                .first()
                .copied()
                .filter(|n| !n.is_empty() && !n.starts_with('#'))?,
            uid: fields.get(2)?.parse().ok()?,
            gid: fields.get(3)?.parse().ok()?,
            home: fields
                .get(5)
                .copied()
                .filter(|h| !h.is_empty())
                .unwrap_or("/"),
        })
    })
}

/// `name:password:gid:member,member`; malformed lines are skipped.
fn parse_group(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.trim().split(':').collect();
        Some(GroupEntry {
            name: fields
                .first()
                .copied()
                .filter(|n| !n.is_empty() && !n.starts_with('#'))?,
            gid: fields.get(2)?.parse().ok()?,
            members: fields
                .get(3)
                .map(|m| {
                    m.split(',')
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    })
}

fn open_rootfs(rootfs: &Path) -> Result<OwnedFd, SpecError> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(rootfs, flags, Mode::empty()).map_err(|e| SpecError::Io {
        path: rootfs.to_owned(),
        source: e.into(),
    })
}

/// Reads `rel` inside the rootfs, symlinks confined to it; `None` if absent.
fn read_in_root(root: &OwnedFd, rootfs: &Path, rel: &str) -> Result<Option<String>, SpecError> {
    let io_err = |source: std::io::Error| SpecError::Io {
        path: rootfs.join(rel),
        source,
    };
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match rustix::fs::openat2(root, rel, flags, Mode::empty(), resolve) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(io_err(e.into())),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(e.into()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        let kind = std::io::ErrorKind::InvalidData;
        return Err(io_err(std::io::Error::new(kind, "not a regular file")));
    }
    let mut bytes = Vec::new();
    File::from(fd)
        .take(MAX_DB_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_DB_BYTES {
        let kind = std::io::ErrorKind::InvalidData;
        return Err(io_err(std::io::Error::new(kind, "file too large")));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        nohome:x:1001:1001::\n\
        broken line\n";
    const GROUP: &str = "root:x:0:root\n\
        bin:x:1:root,daemon\n\
        app:x:1000:\n\
        wheel:x:10:root,app\n\
        video:x:27:app\n";

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(dir.path().join("etc/group"), GROUP).unwrap();
        dir
    }

    fn user(uid: u32, gid: u32, sgids: &[u32], home: &str) -> ResolvedUser {
        ResolvedUser {
            uid,
            gid,
            additional_gids: sgids.to_vec(),
            home: home.into(),
        }
    }

    #[test]
    fn resolves_docker_user_forms() {
        let root = rootfs();
        let cases: &[(Option<&str>, ResolvedUser)] = &[
            (None, user(0, 0, &[0, 1, 10], "/root")),
            (Some(""), user(0, 0, &[0, 1, 10], "/root")),
            (Some("app"), user(1000, 1000, &[10, 27], "/home/app")),
            (Some("1000"), user(1000, 1000, &[10, 27], "/home/app")),
            (Some("app:video"), user(1000, 27, &[], "/home/app")),
            (Some("app:55"), user(1000, 55, &[], "/home/app")),
            (Some("1000:wheel"), user(1000, 10, &[], "/home/app")),
            (Some("4242"), user(4242, 0, &[], "/")),
            (Some("4242:4243"), user(4242, 4243, &[], "/")),
            (Some("nohome"), user(1001, 1001, &[], "/")),
            (Some("daemon"), user(1, 1, &[1], "/usr/sbin")),
        ];
        for (spec, want) in cases {
            assert_eq!(&resolve_user(root.path(), *spec).unwrap(), want, "{spec:?}");
        }
    }

    #[test]
    fn unknown_names_use_docker_text() {
        let root = rootfs();
        let err = resolve_user(root.path(), Some("nobody")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let err = resolve_user(root.path(), Some("app:nogroup")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        let err = resolve_user(root.path(), Some("4294967295")).unwrap_err();
        assert!(matches!(err, SpecError::InvalidUser { .. }), "{err}");
    }

    #[test]
    fn missing_passwd_allows_numeric_only() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve_user(root.path(), Some("7:8")).unwrap(),
            user(7, 8, &[], "/")
        );
        assert_eq!(
            resolve_user(root.path(), None).unwrap(),
            user(0, 0, &[], "/")
        );
        assert!(matches!(
            resolve_user(root.path(), Some("app")),
            Err(SpecError::UnknownUser { .. })
        ));
    }

    #[test]
    fn absolute_symlink_resolves_inside_rootfs() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::fs::write(
            etc.join("hostpasswd"),
            "inroot:x:4321:4321::/inroot:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/hostpasswd", etc.join("passwd")).unwrap();
        // The host's own /etc/passwd has root; through a host-escaping link
        // the lookup of `inroot` would fail.
        std::os::unix::fs::symlink("/etc/passwd", etc.join("group")).unwrap();
        let got = resolve_user(root.path(), Some("inroot")).unwrap();
        assert_eq!(got, user(4321, 4321, &[], "/inroot"));
        // etc/group -> /etc/passwd (in root) -> /etc/hostpasswd: still inside.
        assert!(resolve_user(root.path(), Some("inroot:inroot")).is_ok());
    }

    #[test]
    fn escaping_dotdot_link_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", etc.join("passwd")).unwrap();
        // Resolves to <rootfs>/etc/passwd again: a loop, never the host file.
        let err = resolve_user(root.path(), Some("root")).unwrap_err();
        assert!(matches!(err, SpecError::Io { .. }), "{err}");
    }

    #[test]
    fn fifo_passwd_is_refused_not_blocking() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let fifo = root.path().join("etc/passwd");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let err = resolve_user(root.path(), Some("root")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
