//! The engine ID `ferry info` shows: made once, kept in `<data-root>/engine-id` (dockerd keeps
//! the same file), so it survives restarts and tells two data roots on one host apart.
//!
//! ```text
//! <data-root>/engine-id     one line: a random UUID (version 4), e.g.
//!                           2bd6a2a1-5b8e-4c1f-9a6e-1f0c2d3e4b5a
//! ```
//! Written as a temp file renamed into place, so a crash leaves either no ID or a whole one.
//! ferryd reads it once at startup, before serving, so there is no race to create it.

use std::path::Path;

use crate::error::{Error, Result};

const FILE: &str = "engine-id";

/// The data root's engine ID, made on first use.
pub fn load_or_create(data_root: &Path) -> Result<String> {
    let path = data_root.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if is_uuid(s.trim()) => return Ok(s.trim().to_string()),
        // A torn or foreign file: replace it rather than fail every `info`.
        Ok(_) => tracing::warn!(path = %path.display(), "replacing an unreadable engine ID"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", &path, e)),
    }
    let id = new_uuid(rand::random());
    std::fs::create_dir_all(data_root).map_err(|e| Error::io("create", data_root, e))?;
    let tmp = data_root.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, format!("{id}\n")).map_err(|e| Error::io("write", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &path, e))?;
    Ok(id)
}

/// A version-4 UUID from 16 random bytes.
fn new_uuid(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_made_once_and_kept() {
        let root = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(root.path()).expect("create");
        assert!(is_uuid(&first), "{first}");
        assert_eq!(load_or_create(root.path()).expect("load"), first);
        let other = tempfile::tempdir().expect("tempdir");
        assert_ne!(load_or_create(other.path()).expect("create"), first);
        assert!(!root.path().join("engine-id.tmp").exists());
    }

    #[test]
    fn a_torn_file_is_replaced() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join(FILE), "2bd6a2a1-5b8e").expect("write");
        let id = load_or_create(root.path()).expect("replace");
        assert!(is_uuid(&id));
        assert_eq!(load_or_create(root.path()).expect("load"), id);
    }

    #[test]
    fn uuids_have_version_4_bits() {
        let id = new_uuid([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(new_uuid([0; 16]), "00000000-0000-4000-8000-000000000000");
    }
}
