//! Checks on the container's command that runc makes and crun 1.8 does not: crun reports a
//! directory as "open executable: Operation not permitted", which reads as neither Docker's
//! message nor its exit code (`exec: "/": is a directory`, 126).

use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, ResolveFlags};

/// Docker's message when the absolute `command` names a directory inside `rootfs` (resolved
/// as the runtime would, confined to the root); `None` when it does not, or cannot be read
/// (the runtime then says what is wrong).
pub(crate) fn directory(rootfs: &Path, command: &str) -> Option<String> {
    let rel = command.strip_prefix('/')?;
    let root = rfs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let path = if rel.is_empty() { "." } else { rel };
    let flags = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = rfs::openat2(
        &root,
        path,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        flags,
    )
    .ok()?;
    let st = rfs::fstat(&fd).ok()?;
    (FileType::from_raw_mode(st.st_mode) == FileType::Directory)
        .then(|| format!("exec: \"{command}\": is a directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_named_as_docker_names_them() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::write(root.path().join("bin/sh"), b"").unwrap();
        std::os::unix::fs::symlink("/bin", root.path().join("link")).unwrap();
        let dir = |c: &str| directory(root.path(), c);
        assert_eq!(dir("/").as_deref(), Some("exec: \"/\": is a directory"));
        assert_eq!(
            dir("/bin").as_deref(),
            Some("exec: \"/bin\": is a directory")
        );
        // A symlink resolves inside the root, as the runtime resolves it.
        assert!(dir("/link").is_some());
        assert_eq!(dir("/bin/sh"), None);
        assert_eq!(dir("/missing"), None);
        // Relative commands are looked up in $PATH by the runtime: not ours to judge.
        assert_eq!(dir("bin"), None);
    }
}
