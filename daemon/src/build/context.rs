//! The build context: the client's tar (already filtered by `.dockerignore`), extracted into
//! `<data-root>/build/contexts/<random>/` by the unpacker, which confines every entry to that
//! directory (no absolute paths, no `..`, no writing through symlinks). It is removed when the
//! `Context` is dropped, and by ferryd's start after a crash.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug)]
pub(crate) struct Context {
    dir: PathBuf,
}

impl Context {
    /// Extracts `tar` (an empty stream is an empty context) under `parent`.
    pub(crate) fn receive(tar: impl Read, parent: &Path) -> Result<Context> {
        let dir = parent.join(format!("{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let ctx = Context { dir };
        ferry_image_service::unpack::apply_layer(tar, &ctx.dir, &Default::default())
            .map_err(|e| super::BuildError::Invalid(format!("invalid build context: {e}")))?;
        Ok(ctx)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "removing a build context");
        }
    }
}

/// Where contexts are extracted.
pub(crate) fn parent(data_root: &Path) -> PathBuf {
    data_root.join("build").join("contexts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_extracted_confined_and_removed_with_its_guard() {
        let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "app/main.c", &b"x\n"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let ctx = Context::receive(&bytes[..], tmp.path()).unwrap();
        let dir = ctx.dir().to_path_buf();
        assert_eq!(std::fs::read(dir.join("app/main.c")).unwrap(), b"x\n");
        drop(ctx);
        assert!(!dir.exists());
        let empty = Context::receive(&b""[..], tmp.path()).unwrap();
        assert!(empty.dir().is_dir());
    }
}
