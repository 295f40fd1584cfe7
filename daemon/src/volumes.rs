//! Named volumes, as Docker's `local` driver keeps them: `<data-root>/volumes/<name>/_data` holds
//! the data, `<name>/volume.json` what `volume inspect` shows (labels, creation time, whether it is
//! anonymous). This module is the one owner of `<data-root>/volumes/`; which containers use a
//! volume is the container table's to say (`containers::volumes`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What `volume inspect` shows besides the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Made for `-v /path` (no name given): removed with its container by `rm -v` and `--rm`.
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Debug)]
pub struct Volumes {
    dir: PathBuf,
    /// Serializes creation and removal within this daemon.
    lock: Mutex<()>,
}

impl Volumes {
    pub fn new(data_root: &Path) -> Self {
        Volumes {
            dir: data_root.join("volumes"),
            lock: Mutex::new(()),
        }
    }

    /// The host directory a volume's data lives in.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates a volume; an existing one is returned as it is (Docker's `volume create` of an
    /// existing name). `None` makes an anonymous volume with a random name.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeRecord> {
        let (name, anonymous) = match name {
            Some(n) => (checked(n)?, false),
            None => (hex::encode(rand::random::<[u8; 32]>()), true),
        };
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.read(&name)? {
            return Ok(existing);
        }
        let rec = VolumeRecord {
            name: name.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels,
            anonymous,
        };
        let data = self.data_dir(&name);
        std::fs::create_dir_all(&data).map_err(|e| Error::io("create", &data, e))?;
        self.write(&rec)?;
        Ok(rec)
    }

    /// The volume a mount names, created on first use (`-v NAME:/path`); true if it is new (then
    /// the image's content at the mount point seeds it, as in Docker).
    pub fn ensure(&self, name: &str) -> Result<(VolumeRecord, bool)> {
        if let Some(rec) = self.read(&checked(name)?)? {
            return Ok((rec, false));
        }
        Ok((self.create(Some(name), BTreeMap::new())?, true))
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord> {
        self.read(name)?
            .ok_or_else(|| Error::NotFound(format!("get {name}: no such volume")))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<VolumeRecord>> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            match self.read(&name) {
                Ok(Some(rec)) => out.push(rec),
                Ok(None) => {}
                // One damaged volume.json must not hide every other volume.
                Err(e) => tracing::warn!(volume = %name, error = %e, "unreadable volume record"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume and its data; the caller has checked no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.dir.join(checked(name)?);
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))
    }

    /// A volume's record: its `volume.json`, or for a directory made before volumes had one
    /// (named mounts used to create just `_data`), one made from the directory's time.
    fn read(&self, name: &str) -> Result<Option<VolumeRecord>> {
        let dir = self.dir.join(name);
        if name.is_empty() || !dir.join("_data").is_dir() {
            return Ok(None);
        }
        let meta = dir.join("volume.json");
        match std::fs::read(&meta) {
            // Ours, damaged on disk: local damage is Internal, not the user's bad value.
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::io("parse", &meta, std::io::Error::other(e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let created = std::fs::metadata(&dir)
                    .and_then(|m| m.modified())
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_else(|_| chrono::Utc::now());
                Ok(Some(VolumeRecord {
                    name: name.to_string(),
                    created_at: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    labels: BTreeMap::new(),
                    anonymous: false,
                }))
            }
            Err(e) => Err(Error::io("read", &meta, e)),
        }
    }

    /// Written through a temporary and a rename: a crash leaves the old file or the new one.
    fn write(&self, rec: &VolumeRecord) -> Result<()> {
        let path = self.dir.join(&rec.name).join("volume.json");
        let tmp = path.with_extension("tmp");
        let json =
            serde_json::to_vec_pretty(rec).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(&tmp, json).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))
    }
}

/// Docker's rule for volume names (that of containers: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn checked(name: &str) -> Result<String> {
    match ferry_network::valid_name(name) {
        Some(n) if !n.contains('/') => Ok(n),
        _ => Err(Error::InvalidArgument(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_once_listed_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let v = Volumes::new(root.path());
        let labels = BTreeMap::from([("tier".to_string(), "db".to_string())]);
        let a = v.create(Some("data"), labels.clone()).unwrap();
        assert_eq!(a.labels, labels);
        assert!(v.data_dir("data").is_dir());
        // Creating an existing name returns it unchanged (labels kept).
        let again = v.create(Some("data"), BTreeMap::new()).unwrap();
        assert_eq!(again, a);
        let anon = v.create(None, BTreeMap::new()).unwrap();
        assert!(anon.anonymous && anon.name.len() == 64);
        let names: Vec<String> = v.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
        v.remove("data").unwrap();
        assert!(v
            .get("data")
            .unwrap_err()
            .to_string()
            .contains("no such volume"));
        assert!(!root.path().join("volumes/data").exists());
    }

    #[test]
    fn a_damaged_record_hides_only_its_own_volume() {
        let root = tempfile::tempdir().unwrap();
        let v = Volumes::new(root.path());
        v.create(Some("good"), BTreeMap::new()).unwrap();
        v.create(Some("bad"), BTreeMap::new()).unwrap();
        std::fs::write(root.path().join("volumes/bad/volume.json"), b"{not json").unwrap();
        let names: Vec<String> = v.list().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["good"]);
        assert!(v
            .get("bad")
            .unwrap_err()
            .to_string()
            .contains("volume.json"));
    }

    #[test]
    fn first_use_creates_and_old_directories_still_count() {
        let root = tempfile::tempdir().unwrap();
        let v = Volumes::new(root.path());
        let (rec, new) = v.ensure("cache").unwrap();
        assert!(new && !rec.anonymous);
        assert!(!v.ensure("cache").unwrap().1);
        // A volume made before volume.json existed.
        std::fs::create_dir_all(root.path().join("volumes/old/_data")).unwrap();
        assert_eq!(v.get("old").unwrap().name, "old");
        for bad in ["", "a", "../x", "a/b", "-x"] {
            assert!(v.ensure(bad).is_err(), "{bad}");
        }
    }
}
