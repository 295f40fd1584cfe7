//! Persistent network namespaces: a new namespace bind-mounted on a file, which the runtime
//! joins by path and CNI plugins enter by path.

use std::io;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Creates a network namespace at `path` (which must not exist).
pub fn create(path: &Path) -> io::Result<()> {
    pin(path, CloneFlags::CLONE_NEWNET, || Ok(()))
}

/// Creates a new namespace of kind `flags` (one of CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS)
/// bind-mounted at `path` (which must not exist); `inside` runs in it first (a UTS
/// namespace's hostname). The unshare happens on a thread of its own, which exits afterwards:
/// no ferryd thread is left inside the namespace.
pub fn pin(
    path: &Path,
    flags: CloneFlags,
    inside: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<()> {
    let kind = if flags == CloneFlags::CLONE_NEWIPC {
        "ipc"
    } else if flags == CloneFlags::CLONE_NEWUTS {
        "uts"
    } else if flags == CloneFlags::CLONE_NEWNET {
        "net"
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unsupported namespace kind",
        ));
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let target = path.to_path_buf();
    let bound = std::thread::spawn(move || -> io::Result<()> {
        unshare(flags)?;
        inside()?;
        mount(
            Some(format!("/proc/thread-self/ns/{kind}").as_str()),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        Ok(())
    })
    .join()
    .map_err(|_| io::Error::other("namespace thread panicked"))?;
    if let Err(e) = bound {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Unmounts and removes the namespace file; a missing one is not an error.
pub fn remove(path: &Path) -> io::Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_created_distinct_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ns");
        create(&p).unwrap();
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap();
        let theirs = std::fs::metadata(&p).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(ours.ino(), theirs.ino(), "the file holds a new namespace");
        assert!(create(&p).is_err(), "an existing path is refused");
        remove(&p).unwrap();
        assert!(!p.exists());
        remove(&p).unwrap();
    }

    #[test]
    fn a_uts_namespace_keeps_the_hostname_set_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("uts");
        pin(&p, CloneFlags::CLONE_NEWUTS, || {
            nix::unistd::sethostname("pinned-pod").map_err(io::Error::from)
        })
        .unwrap();
        let ours = nix::unistd::gethostname().unwrap();
        assert_ne!(
            ours.to_string_lossy(),
            "pinned-pod",
            "the host's name is untouched"
        );
        let out = std::process::Command::new("nsenter")
            .arg(format!("--uts={}", p.display()))
            .arg("hostname")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pinned-pod");
        remove(&p).unwrap();
        assert!(pin(&p, CloneFlags::CLONE_NEWPID, || Ok(())).is_err());
        assert!(!p.exists(), "a refused kind leaves no file");
    }
}
