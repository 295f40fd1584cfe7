//! Spooling an incoming archive: the tar is parsed (the `tar` crate as a parser only, never its
//! unpacker) and each regular file is copied to a numbered file in a private directory, hashed
//! on the way. Everything is refused that could make the spool escape or grow unbounded: absolute
//! or `..` paths, devices, duplicate names, too many entries, too many bytes, oversize JSON
//! documents. Links are never created: skopeo's docker-archive writes each legacy
//! `<id>/layer.tar` as a symlink to `<digest>.tar`, so a symlink or hardlink whose target
//! resolves, inside the archive, to a regular file becomes a second name for that file's spool
//! entry; any other link (absolute, escaping, dangling, to a link chain) is refused. A `blobs/sha256/<hex>` file must hash to its name. The directory is removed
//! when the `Spool` is dropped, and by ferryd's start-up cleaning of the ingest area.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::content::{sha256_hex, Digester};
use crate::error::{Error, Result};

use super::MAX_JSON_BYTES;

/// Bounds on one archive.
#[derive(Debug, Clone)]
pub struct SpoolLimits {
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_total_bytes: 64 << 30,
            max_entries: 100_000,
        }
    }
}

/// One regular file of the archive.
#[derive(Debug, Clone)]
pub(crate) struct Spooled {
    pub(crate) file: PathBuf,
    pub(crate) size: u64,
    pub(crate) digest: String,
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    files: HashMap<String, Spooled>,
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %self.dir.display(), error = %e, "cannot remove load spool");
            }
        }
    }
}

impl Spool {
    /// Reads the whole tar from `input` into a new directory under `parent`.
    pub(crate) fn read(parent: &Path, input: impl Read, limits: &SpoolLimits) -> Result<Spool> {
        let dir = parent.join(format!("load-{:016x}", rand::random::<u64>()));
        std::fs::create_dir(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let mut spool = Spool {
            dir,
            files: HashMap::new(),
        };
        spool.fill(input, limits)?;
        Ok(spool)
    }

    fn fill(&mut self, input: impl Read, limits: &SpoolLimits) -> Result<()> {
        let mut archive = tar::Archive::new(input);
        let mut total = 0u64;
        let mut links = Vec::new();
        let entries = archive.entries().map_err(bad_tar)?;
        for (n, entry) in entries.enumerate() {
            if n >= limits.max_entries {
                return Err(Error::TooLarge {
                    what: format!("archive with more than {} entries", limits.max_entries),
                    max: limits.max_entries as u64,
                });
            }
            let mut entry = entry.map_err(bad_tar)?;
            let path = entry_path(&entry.path_bytes())?;
            if let Some(target) = link_target(&path, &entry)? {
                links.push((path, target));
                continue;
            }
            if !accept_kind(&path, entry.header().entry_type())? {
                continue;
            }
            let size = entry.header().size().map_err(bad_tar)?;
            total = total.saturating_add(size);
            check_size(&path, size, total, limits)?;
            let spooled = self.copy(n, &path, size, &mut entry)?;
            if self.files.insert(path.clone(), spooled).is_some() {
                return Err(Error::InvalidArchive(format!("{path} appears twice")));
            }
        }
        self.alias(links)
    }

    /// Gives each link's target file its name too (one level: a link to a link is refused).
    fn alias(&mut self, links: Vec<(String, String)>) -> Result<()> {
        for (path, target) in links {
            let file = self.files.get(&target).cloned().ok_or_else(|| {
                Error::InvalidArchive(format!("link {path} points at {target}, not a file"))
            })?;
            check_blob_name(&path, &file.digest)?;
            if self.files.insert(path.clone(), file).is_some() {
                return Err(Error::InvalidArchive(format!("{path} appears twice")));
            }
        }
        Ok(())
    }

    /// Copies one entry to its spool file, hashing it.
    fn copy(&self, n: usize, path: &str, size: u64, src: &mut impl Read) -> Result<Spooled> {
        let file = self.dir.join(n.to_string());
        let mut out = io::BufWriter::with_capacity(
            256 << 10,
            File::create_new(&file).map_err(|e| Error::io("create", &file, e))?,
        );
        let mut digester = Digester::default();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let got = src.read(&mut buf).map_err(bad_tar)?;
            if got == 0 {
                break;
            }
            digester.update(&buf[..got]);
            out.write_all(&buf[..got])
                .map_err(|e| Error::io("write", &file, e))?;
        }
        out.flush().map_err(|e| Error::io("write", &file, e))?;
        if digester.len() != size {
            return Err(Error::InvalidArchive(format!("{path} is truncated")));
        }
        let digest = digester.digest();
        check_blob_name(path, &digest)?;
        Ok(Spooled { file, size, digest })
    }

    pub(crate) fn get(&self, path: &str) -> Option<&Spooled> {
        self.files.get(path.trim_start_matches("./"))
    }

    pub(crate) fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// A small document of the archive (capped at [`MAX_JSON_BYTES`]).
    pub(crate) fn read_small(&self, path: &str) -> Result<Vec<u8>> {
        let f = self
            .get(path)
            .ok_or_else(|| Error::InvalidArchive(format!("archive lacks {path}")))?;
        if f.size > MAX_JSON_BYTES {
            return Err(Error::TooLarge {
                what: path.to_string(),
                max: MAX_JSON_BYTES,
            });
        }
        std::fs::read(&f.file).map_err(|e| Error::io("read", &f.file, e))
    }
}

/// The tar crate quotes the bad header's fields in its errors; for a file that is no tar at all
/// (`load -i /etc/passwd`) that is the file's first line, which must not reach the user. Only
/// what went wrong is kept.
fn bad_tar(e: io::Error) -> Error {
    let msg = e.to_string();
    let what: String = msg
        .split([':', '\n'])
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(120)
        .collect();
    Error::InvalidArchive(format!("reading the tar: {what}"))
}

/// The entry's path, normalized (no `.` components, no leading `./`), or an error for anything
/// that could leave the archive's root.
fn entry_path(raw: &[u8]) -> Result<String> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| Error::InvalidArchive("entry name is not UTF-8".into()))?;
    if s.starts_with('/') {
        return Err(Error::InvalidArchive(format!("absolute path {s:?}")));
    }
    let mut parts = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(Error::InvalidArchive(format!(
                    "path {s:?} escapes the archive"
                )))
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// For a symlink or hardlink, the archive path it names; an error if that is outside the archive.
fn link_target(path: &str, entry: &tar::Entry<'_, impl Read>) -> Result<Option<String>> {
    let kind = entry.header().entry_type();
    if !matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
        return Ok(None);
    }
    let raw = entry
        .link_name_bytes()
        .ok_or_else(|| Error::InvalidArchive(format!("link {path} has no target")))?;
    let target = std::str::from_utf8(&raw)
        .map_err(|_| Error::InvalidArchive(format!("link {path}: target is not UTF-8")))?;
    let outside = || Error::InvalidArchive(format!("link {path} points outside the archive"));
    if target.starts_with('/') {
        return Err(outside());
    }
    // A symlink is relative to its directory, a hardlink to the archive's root.
    let mut parts: Vec<&str> = match kind {
        tar::EntryType::Symlink => path.split('/').collect(),
        _ => vec![""],
    };
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop().ok_or_else(outside)?;
            }
            c => parts.push(c),
        }
    }
    Ok(Some(parts.join("/")))
}

/// Regular files are spooled, directories skipped; devices and the like refused: an image
/// archive has no use for them and they are how archives attack their extractors.
fn accept_kind(path: &str, kind: tar::EntryType) -> Result<bool> {
    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous => Ok(!path.is_empty()),
        T::Directory => Ok(false),
        other => Err(Error::InvalidArchive(format!(
            "{path} has unsupported entry type {other:?}"
        ))),
    }
}

fn check_size(path: &str, size: u64, total: u64, limits: &SpoolLimits) -> Result<()> {
    let top_level_json = matches!(
        path,
        "manifest.json" | "index.json" | "repositories" | "oci-layout"
    );
    if top_level_json && size > MAX_JSON_BYTES {
        return Err(Error::TooLarge {
            what: path.to_string(),
            max: MAX_JSON_BYTES,
        });
    }
    if total > limits.max_total_bytes {
        return Err(Error::TooLarge {
            what: "archive".into(),
            max: limits.max_total_bytes,
        });
    }
    Ok(())
}

/// A content-addressed file must be what its name says.
fn check_blob_name(path: &str, actual: &str) -> Result<()> {
    let Some(hex) = path.strip_prefix("blobs/sha256/") else {
        return Ok(());
    };
    let expected = format!("sha256:{hex}");
    if sha256_hex(&expected).is_none() {
        return Err(Error::InvalidArchive(format!(
            "{path} is not a sha256 digest"
        )));
    }
    if expected != actual {
        return Err(Error::DigestMismatch {
            what: format!("blob {path}"),
            expected,
            actual: actual.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            // set_path refuses `..`; write the raw name as a hostile archive would.
            let name = &mut h.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn spool(entries: &[(&str, tar::EntryType, &[u8])]) -> Result<Spool> {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().to_path_buf();
        std::mem::forget(dir);
        Spool::read(&parent, &tar_of(entries)[..], &SpoolLimits::default())
    }

    #[test]
    fn spools_regular_files_by_normalized_path() {
        let s = spool(&[
            ("./manifest.json", tar::EntryType::Regular, b"[]"),
            ("blobs/", tar::EntryType::Directory, b""),
        ])
        .unwrap();
        assert_eq!(s.read_small("manifest.json").unwrap(), b"[]");
        assert!(!s.has("blobs"));
    }

    #[test]
    fn refuses_escapes_links_and_lying_blobs() {
        let reg = tar::EntryType::Regular;
        for bad in [
            vec![("../evil", reg, &b"x"[..])],
            vec![("/etc/passwd", reg, &b"x"[..])],
            vec![("a", tar::EntryType::Fifo, &b""[..])],
            vec![("a", reg, &b"x"[..]), ("./a", reg, &b"y"[..])],
        ] {
            let err = spool(&bad).unwrap_err();
            assert!(matches!(err, Error::InvalidArchive(_)), "{err}");
        }
        let lying = format!("blobs/sha256/{}", "0".repeat(64));
        let err = spool(&[(lying.as_str(), reg, b"x")]).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }

    fn with_link(name: &str, target: &str, kind: tar::EntryType) -> Result<Spool> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "sha.tar", &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &b""[..]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        Spool::read(
            dir.path(),
            &b.into_inner().unwrap()[..],
            &SpoolLimits::default(),
        )
    }

    #[test]
    fn links_inside_the_archive_are_aliases_and_others_are_refused() {
        use tar::EntryType::{Link, Symlink};
        let s = with_link("id/layer.tar", "../sha.tar", Symlink).unwrap();
        assert_eq!(s.get("id/layer.tar").unwrap().size, 3);
        let s = with_link("copy.tar", "sha.tar", Link).unwrap();
        assert_eq!(
            s.get("copy.tar").unwrap().file,
            s.get("sha.tar").unwrap().file
        );
        for (name, target) in [("a", "/etc/passwd"), ("a", "../sha.tar"), ("a", "nothing")] {
            let err = with_link(name, target, Symlink).unwrap_err();
            assert!(matches!(err, Error::InvalidArchive(_)), "{err}");
        }
    }

    #[test]
    fn a_file_that_is_no_tar_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut passwd =
            b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n".to_vec();
        passwd.resize(2048, b'\n');
        let err = Spool::read(dir.path(), &passwd[..], &SpoolLimits::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid archive: reading the tar"), "{msg}");
        assert!(!msg.contains("root") && !msg.contains("daemon"), "{msg}");
    }

    #[test]
    fn enforces_entry_and_size_caps() {
        let dir = tempfile::tempdir().unwrap();
        let reg = tar::EntryType::Regular;
        let t = tar_of(&[("a", reg, b"1"), ("b", reg, b"2")]);
        let limits = SpoolLimits {
            max_total_bytes: 10,
            max_entries: 1,
        };
        let err = Spool::read(dir.path(), &t[..], &limits).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        let limits = SpoolLimits {
            max_total_bytes: 1,
            max_entries: 10,
        };
        let err = Spool::read(dir.path(), &t[..], &limits).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
        // Nothing is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
