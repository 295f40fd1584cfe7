//! The container side of volumes: which containers use one (so `volume rm` and `prune` can
//! refuse), anonymous volumes made at create and removed with their container, and the seeding
//! of a new volume from the image's content at its mount point.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::Path;

use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};

use super::manager::Containers;
use super::record::{ContainerConfig, ContainerRecord};
use crate::error::{Error, Result};
use crate::volumes::VolumeRecord;

/// A volume and the IDs of the containers that mount it.
pub type VolumeUse = (VolumeRecord, Vec<String>);

impl Containers {
    /// Containers whose config mounts volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .iter()
            .filter(|c| uses(c, name))
            .map(|c| c.id.clone())
            .collect())
    }

    pub fn volume_create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let v = self
            .volumes
            .create((!name.is_empty()).then_some(name), labels)?;
        self.events
            .publish("volume", "create", &v.name, &[("driver", "local")]);
        Ok(v)
    }

    pub fn volume_list(&self) -> Result<Vec<VolumeUse>> {
        let all = self.list()?;
        Ok(self
            .volumes
            .list()?
            .into_iter()
            .map(|v| {
                let users = all
                    .iter()
                    .filter(|c| uses(c, &v.name))
                    .map(|c| c.id.clone())
                    .collect();
                (v, users)
            })
            .collect())
    }

    pub fn volume_inspect(&self, name: &str) -> Result<VolumeUse> {
        let v = self.volumes.get(name)?;
        let users = self.volume_users(&v.name)?;
        Ok((v, users))
    }

    /// `volume rm`: refused while any container (running or not) mounts it, as in Docker; with
    /// `force` a missing volume is not an error.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        let v = match self.volumes.get(name) {
            Ok(v) => v,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let users = self.volume_users(&v.name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        self.volumes.remove(&v.name)?;
        self.events
            .publish("volume", "destroy", &v.name, &[("driver", "local")]);
        Ok(())
    }

    /// `volume prune`: unused anonymous volumes, or with `all` every unused one; the names
    /// removed and the bytes they held.
    pub fn volume_prune(&self, all: bool) -> Result<(Vec<String>, u64)> {
        let mut removed = Vec::new();
        let mut bytes = 0;
        for (v, users) in self.volume_list()? {
            if users.is_empty() && (all || v.anonymous) {
                bytes += crate::usage::dir_size(&self.volumes.data_dir(&v.name));
                self.volumes.remove(&v.name)?;
                removed.push(v.name);
            }
        }
        Ok((removed, bytes))
    }

    /// Gives each anonymous volume mount (`-v /path`) a new volume; their names, for undoing.
    pub(crate) fn name_anonymous_volumes(
        &self,
        config: &mut ContainerConfig,
    ) -> Result<Vec<String>> {
        let mut made = Vec::new();
        for m in config
            .mounts
            .iter_mut()
            .filter(|m| m.kind == "volume" && m.source.is_empty())
        {
            let v = self.volumes.create(None, BTreeMap::new())?;
            m.source = v.name.clone();
            made.push(v.name);
        }
        Ok(made)
    }

    /// After `rm -v` or `--rm`: the container's anonymous volumes that nothing else mounts.
    pub(crate) fn remove_anonymous_volumes(&self, rec: &ContainerRecord) -> Result<()> {
        for m in rec.config.mounts.iter().filter(|m| m.kind == "volume") {
            let anonymous = self.volumes.get(&m.source).is_ok_and(|v| v.anonymous);
            if anonymous && self.volume_users(&m.source)?.is_empty() {
                self.volumes.remove(&m.source)?;
            }
        }
        Ok(())
    }
}

fn uses(c: &ContainerRecord, volume: &str) -> bool {
    c.config
        .mounts
        .iter()
        .any(|m| m.kind == "volume" && m.source == volume)
}

/// Copies what the image has at `destination` into a new volume's `data`, as Docker seeds a
/// new volume. The path is resolved inside the root (RESOLVE_IN_ROOT) and `cp -a` does not follow
/// symlinks, so nothing outside the image is read. Nothing there: nothing to copy.
pub(crate) fn seed(rootfs: &Path, destination: &str, data: &Path) -> Result<()> {
    let rel = destination.trim_start_matches('/');
    let root = rfs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", rootfs, e.into()))?;
    let flags = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let oflags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rfs::openat2(
        &root,
        if rel.is_empty() { "." } else { rel },
        oflags,
        Mode::empty(),
        flags,
    ) else {
        return Ok(());
    };
    let src = format!("/proc/{}/fd/{}/.", std::process::id(), dir.as_raw_fd());
    let out = std::process::Command::new("cp")
        .args(["-a", "--", &src])
        .arg(data)
        .output()
        .map_err(|e| Error::io("run cp for", data, e))?;
    if !out.status.success() {
        return Err(Error::Io {
            op: "seed volume",
            path: data.to_path_buf(),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_volume_gets_the_images_content_and_nothing_outside_it() {
        let root = tempfile::tempdir().unwrap();
        let rootfs = root.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("srv/www")).unwrap();
        std::fs::write(rootfs.join("srv/www/index.html"), b"hi").unwrap();
        std::os::unix::fs::symlink("/etc", rootfs.join("srv/www/etc")).unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        seed(&rootfs, "/srv/www", &data).unwrap();
        assert_eq!(std::fs::read(data.join("index.html")).unwrap(), b"hi");
        // The symlink is copied as a link, not followed out of the image.
        assert!(data
            .join("etc")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_symlink());
        // A mount point the image lacks seeds nothing.
        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        seed(&rootfs, "/missing", &empty).unwrap();
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
    }
}
