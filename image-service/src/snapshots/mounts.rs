//! Read-only mounts of an image's root filesystem, for people and scanners (`ferry image mount`).
//!
//! Mounts live under `<exec-root>/image-mounts/<image-id>` and survive a ferryd restart (they
//! are in the host's mount namespace); whether a path is mounted is read from
//! /proc/self/mountinfo, never from memory. overlayfs needs two lower directories when there
//! is no upper one, so a one-layer image is a read-only bind mount instead.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {target}: {source}")]
    Mount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("unmount {target}: {source}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lowerdir option for {target} exceeds a page ({len} bytes)")]
    TooManyLayers { target: PathBuf, len: usize },
}

#[derive(Debug, Clone)]
pub struct ImageMounts {
    root: PathBuf,
}

impl ImageMounts {
    pub fn new(exec_root: &Path) -> Self {
        ImageMounts {
            root: exec_root.join("image-mounts"),
        }
    }

    pub fn path_for(&self, image_id: &str) -> PathBuf {
        let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
        self.root.join(hex)
    }

    pub fn is_under_root(&self, path: &Path) -> bool {
        path.parent() == Some(self.root.as_path())
    }

    /// Mounts `lowers` (top-most first) read-only at the image's path; idempotent.
    pub fn mount(&self, image_id: &str, lowers: &[PathBuf]) -> Result<PathBuf, MountError> {
        let target = self.path_for(image_id);
        if is_mounted(&target) {
            return Ok(target);
        }
        std::fs::create_dir_all(&target).map_err(|source| MountError::Io {
            op: "create",
            path: target.clone(),
            source,
        })?;
        let res = match lowers {
            [only] => bind_read_only(only, &target),
            _ => overlay_read_only(lowers, &target),
        };
        if res.is_err() {
            let _ = std::fs::remove_dir(&target);
        }
        res.map(|()| target)
    }

    pub fn unmount(&self, target: &Path) -> Result<(), MountError> {
        if is_mounted(target) {
            umount2(target, MntFlags::empty()).map_err(|source| MountError::Unmount {
                target: target.to_path_buf(),
                source,
            })?;
        }
        match std::fs::remove_dir(target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MountError::Io {
                op: "remove",
                path: target.to_path_buf(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

fn bind_read_only(src: &Path, target: &Path) -> Result<(), MountError> {
    let err = |source| MountError::Mount {
        target: target.to_path_buf(),
        source,
    };
    mount(
        Some(src),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(err)?;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if let Err(e) = mount(None::<&str>, target, None::<&str>, flags, None::<&str>) {
        let _ = umount2(target, MntFlags::MNT_DETACH);
        return Err(err(e));
    }
    Ok(())
}

fn overlay_read_only(lowers: &[PathBuf], target: &Path) -> Result<(), MountError> {
    let dirs: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    let opts = format!("ro,lowerdir={}", dirs.join(":"));
    if opts.len() >= 4096 {
        return Err(MountError::TooManyLayers {
            target: target.to_path_buf(),
            len: opts.len(),
        });
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(opts.as_str()),
    )
    .map_err(|source| MountError::Mount {
        target: target.to_path_buf(),
        source,
    })
}

/// Whether `path` is a mount point, from /proc/self/mountinfo (field 5 is the mount point,
/// with spaces and the like octal-escaped).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape_mountinfo(mp) == want)
}

fn unescape_mountinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }

    #[test]
    fn mounts_one_and_several_layers_read_only() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("top"), "1").unwrap();
        std::fs::write(b.join("base"), "2").unwrap();
        let mounts = ImageMounts::new(tmp.path());

        let one = mounts
            .mount("sha256:aaaa", std::slice::from_ref(&b))
            .unwrap();
        assert!(is_mounted(&one));
        assert!(std::fs::write(one.join("new"), "x").is_err(), "read-only");
        mounts.unmount(&one).unwrap();
        assert!(!one.exists());

        let two = mounts.mount("sha256:bbbb", &[a, b]).unwrap();
        assert_eq!(std::fs::read_to_string(two.join("top")).unwrap(), "1");
        assert_eq!(std::fs::read_to_string(two.join("base")).unwrap(), "2");
        assert_eq!(mounts.mount("sha256:bbbb", &[]).unwrap(), two, "idempotent");
        mounts.unmount(&two).unwrap();
        assert!(!is_mounted(&two));
    }
}
