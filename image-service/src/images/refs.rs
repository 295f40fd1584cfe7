//! The images table's one owner: an image's references (its tags and repository digests), and
//! the write-transaction helpers that change names while keeping the table's invariant: an
//! image has named records or one untagged record, never both, and never neither while it is
//! meant to stay. Everything else in the image service reaches the table through here.

use redb::{Database, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::{untagged_key, ImageRecord};
use crate::error::{Error, Result};
use crate::metadata::{all_json, get_json};

/// Name (fully qualified reference), or `@<config digest>` for an untagged image → record.
const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");

pub(crate) type ImagesTable<'t> = Table<'t, &'static str, &'static [u8]>;

/// The table in `txn`, created if new (a write transaction that spans tables).
pub(crate) fn open_in(txn: &WriteTransaction) -> Result<ImagesTable<'_>> {
    Ok(txn.open_table(IMAGES)?)
}

/// One record by its key.
pub(crate) fn get(db: &Database, key: &str) -> Result<Option<ImageRecord>> {
    get_json(db, IMAGES, key)
}

/// Every record.
pub(crate) fn all(db: &Database) -> Result<Vec<ImageRecord>> {
    all_json(db, IMAGES)
}

/// One reference to an image, as Docker's reference store would hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// Fully qualified: `docker.io/library/busybox:latest`, `…/busybox@sha256:…`.
    pub full: String,
    /// Fully qualified repository: `docker.io/library/busybox`.
    pub repo: String,
    pub is_tag: bool,
    /// The record stored under this name, if any.
    record: Option<String>,
    /// Tag records that imply this repository digest (their `target_digest`).
    implied_by: Vec<String>,
}

impl Ref {
    /// As Docker prints it: `busybox:latest`.
    pub fn familiar(&self) -> String {
        familiar(&self.full)
    }
}

/// Every reference to the image whose records are `records`, sorted as Docker lists them.
pub fn refs_of(records: &[ImageRecord]) -> Vec<Ref> {
    let mut out: Vec<Ref> = Vec::new();
    for r in records.iter().filter(|r| !r.is_untagged()) {
        let repo = repository_of(&r.name).to_string();
        let is_tag = !r.name.contains('@');
        push_ref(&mut out, &r.name, &repo, is_tag, Some(&r.name), None);
        if is_tag && !r.target_digest.is_empty() {
            let digest_ref = format!("{repo}@{}", r.target_digest);
            push_ref(&mut out, &digest_ref, &repo, false, None, Some(&r.name));
        }
    }
    out.sort_by_key(Ref::familiar);
    out
}

fn push_ref(
    out: &mut Vec<Ref>,
    full: &str,
    repo: &str,
    is_tag: bool,
    record: Option<&str>,
    implied_by: Option<&str>,
) {
    let i = match out.iter().position(|r| r.full == full) {
        Some(i) => i,
        None => {
            out.push(Ref {
                full: full.to_string(),
                repo: repo.to_string(),
                is_tag,
                record: None,
                implied_by: Vec::new(),
            });
            out.len() - 1
        }
    };
    if let Some(rec) = record {
        out[i].record = Some(rec.to_string());
    }
    if let Some(tag) = implied_by {
        out[i].implied_by.push(tag.to_string());
    }
}

/// Repository part of a stored name: everything before the tag or digest.
pub fn repository_of(full: &str) -> &str {
    let no_digest = full.split('@').next().unwrap_or(full);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// Docker's familiar form: `docker.io/library/busybox:latest` is `busybox:latest`.
pub fn familiar(full: &str) -> String {
    match full.strip_prefix("docker.io/") {
        Some(rest) => match rest.strip_prefix("library/") {
            Some(short) if !repository_of(short).contains('/') => short.to_string(),
            _ => rest.to_string(),
        },
        None => full.to_string(),
    }
}

/// Every record in the table.
pub(crate) fn records_in(t: &ImagesTable<'_>) -> Result<Vec<ImageRecord>> {
    let mut out = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        out.push(
            serde_json::from_slice(v.value())
                .map_err(|e| Error::Metadata(format!("record {}: {e}", k.value())))?,
        );
    }
    Ok(out)
}

fn put(t: &mut ImagesTable<'_>, rec: &ImageRecord) -> Result<()> {
    let bytes = serde_json::to_vec(rec).map_err(|e| Error::Metadata(e.to_string()))?;
    t.insert(rec.name.as_str(), bytes.as_slice())?;
    Ok(())
}

/// Points `rec.name` at `rec`'s image. The image the name pointed at before stays, untagged,
/// if nothing else names it; `rec`'s image loses its untagged record if it had one.
pub(crate) fn put_named(t: &mut ImagesTable<'_>, rec: &ImageRecord) -> Result<()> {
    let all = records_in(t)?;
    if let Some(old) = all.iter().find(|r| r.name == rec.name) {
        if old.config_digest != rec.config_digest && !named_elsewhere(&all, old) {
            put(t, &old.untagged())?;
        }
    }
    t.remove(untagged_key(&rec.config_digest).as_str())?;
    put(t, rec)
}

/// Removes one name; an image left without names stays as an untagged record.
pub(crate) fn remove_name(t: &mut ImagesTable<'_>, key: &str) -> Result<()> {
    let all = records_in(t)?;
    let Some(old) = all.iter().find(|r| r.name == key) else {
        return Ok(());
    };
    t.remove(key)?;
    if !named_elsewhere(&all, old) {
        put(t, &old.untagged())?;
    }
    Ok(())
}

/// Removes a reference: its record, and the repository digest its tags imply.
pub(crate) fn remove_ref(t: &mut ImagesTable<'_>, r: &Ref) -> Result<()> {
    if let Some(key) = &r.record {
        remove_name(t, key)?;
    }
    for tag in &r.implied_by {
        let current = t
            .get(tag.as_str())?
            .map(|v| serde_json::from_slice::<ImageRecord>(v.value()))
            .transpose()
            .map_err(|e| Error::Metadata(format!("record {tag}: {e}")))?;
        if let Some(mut rec) = current {
            rec.target_digest.clear();
            put(t, &rec)?;
        }
    }
    Ok(())
}

/// Removes every record of an image: it is gone (GC then frees what only it used).
pub(crate) fn remove_image(t: &mut ImagesTable<'_>, config_digest: &str) -> Result<()> {
    for rec in records_in(t)?
        .iter()
        .filter(|r| r.config_digest == config_digest)
    {
        t.remove(rec.name.as_str())?;
    }
    Ok(())
}

fn named_elsewhere(all: &[ImageRecord], rec: &ImageRecord) -> bool {
    all.iter()
        .any(|r| r.name != rec.name && r.config_digest == rec.config_digest && !r.is_untagged())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metadata::Metadata;

    pub(crate) fn record(name: &str, id: char, target: char) -> ImageRecord {
        ImageRecord {
            name: name.to_string(),
            target_digest: if target == ' ' {
                String::new()
            } else {
                format!("sha256:{}", target.to_string().repeat(64))
            },
            target_media_type: String::new(),
            manifest_digest: String::new(),
            config_digest: format!("sha256:{}", id.to_string().repeat(64)),
            platform: "linux/amd64".into(),
            layers: vec![],
            blobs: vec![],
            created: 0,
            pulled_at: 0,
            size: 0,
        }
    }

    pub(crate) fn with_table<T>(
        meta: &Metadata,
        f: impl FnOnce(&mut ImagesTable<'_>) -> Result<T>,
    ) -> T {
        let txn = meta.db().begin_write().unwrap();
        let out = f(&mut open_in(&txn).unwrap()).unwrap();
        txn.commit().unwrap();
        out
    }

    fn names(meta: &Metadata) -> Vec<String> {
        let mut v: Vec<String> = meta.images().unwrap().into_iter().map(|r| r.name).collect();
        v.sort();
        v
    }

    #[test]
    fn a_moved_name_leaves_the_old_image_untagged_and_retagging_adopts_it() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&dir.path().join("m.redb")).unwrap();
        let a = record("docker.io/library/busybox:latest", 'a', '1');
        with_table(&meta, |t| put_named(t, &a));
        let b = record("docker.io/library/busybox:latest", 'b', '2');
        with_table(&meta, |t| put_named(t, &b));
        let a_untagged = untagged_key(&a.config_digest);
        assert_eq!(
            names(&meta),
            [
                a_untagged.clone(),
                "docker.io/library/busybox:latest".into()
            ]
        );
        let back = record("docker.io/library/old:1", 'a', ' ');
        with_table(&meta, |t| put_named(t, &back));
        assert!(!names(&meta).contains(&a_untagged));
        with_table(&meta, |t| remove_name(t, "docker.io/library/old:1"));
        assert!(names(&meta).contains(&a_untagged));
        with_table(&meta, |t| remove_image(t, &a.config_digest));
        assert_eq!(names(&meta), ["docker.io/library/busybox:latest"]);
    }

    #[test]
    fn refs_include_implied_repo_digests_and_names_are_familiar() {
        let recs = [
            record("docker.io/library/busybox:latest", 'a', '1'),
            record("127.0.0.1:5000/x/y:v1", 'a', ' '),
        ];
        let shown: Vec<String> = refs_of(&recs).iter().map(Ref::familiar).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.1:5000/x/y:v1".to_string(),
                "busybox:latest".into(),
                format!("busybox@sha256:{}", "1".repeat(64)),
            ]
        );
        assert_eq!(familiar("docker.io/foo/bar:1"), "foo/bar:1");
        assert_eq!(repository_of("127.0.0.1:5000/a/b:t"), "127.0.0.1:5000/a/b");
    }
}
