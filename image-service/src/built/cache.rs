//! The build cache: what each build step produced, so that a step with the same parent and the
//! same instruction (and, for COPY, the same files) is not run again.
//!
//! ```text
//! build_cache table (metadata.redb), owned here:
//!   <step key: sha256 hex chosen by the builder>  ->  ImageRecord (JSON) of the step's result:
//!       config_digest = the step's config blob, layers = the image's layers so far,
//!       blobs = that config plus the layers; name = the key
//! ```
//! An entry is written only after every blob and snapshot it names is committed (checked in
//! the same transaction), and it holds them: `Store::gc` keeps what cache entries reference,
//! and the start-up repair drops entries whose files vanished. [`clear`] empties the cache
//! (`builder prune`); the next collection then removes what only the cache held.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::Result;
use crate::images::ImageRecord;
use crate::metadata::{decode, put_json};
use crate::store::Store;

const BUILD_CACHE: TableDefinition<&str, &[u8]> = TableDefinition::new("build_cache");

/// The entry for `key`, if any.
pub fn get(store: &Store, key: &str) -> Result<Option<ImageRecord>> {
    let txn = store.meta.db().begin_read()?;
    let t = match txn.open_table(BUILD_CACHE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match t.get(key)? {
        Some(v) => Ok(Some(decode(key, v.value())?)),
        None => Ok(None),
    }
}

/// Records `entry` under `key` if every blob and snapshot it names is committed.
pub fn put(store: &Store, key: &str, entry: &ImageRecord) -> Result<()> {
    let txn = store.meta.db().begin_write()?;
    crate::metadata::check_committed(&txn, std::slice::from_ref(entry))?;
    put_json(&txn, BUILD_CACHE, key, entry)?;
    txn.commit()?;
    Ok(())
}

/// Every entry (GC keeps what they reference).
pub fn all(store: &Store) -> Result<Vec<ImageRecord>> {
    all_in(&store.meta.db().begin_read()?)
}

fn all_in(txn: &redb::ReadTransaction) -> Result<Vec<ImageRecord>> {
    let t = match txn.open_table(BUILD_CACHE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

/// Removes the entries under `keys`; returns how many there were.
pub(crate) fn remove(store: &Store, keys: &[String]) -> Result<usize> {
    if keys.is_empty() {
        return Ok(0);
    }
    let txn = store.meta.db().begin_write()?;
    let mut n = 0;
    {
        let mut t = txn.open_table(BUILD_CACHE)?;
        for k in keys {
            n += usize::from(t.remove(k.as_str())?.is_some());
        }
    }
    txn.commit()?;
    Ok(n)
}

/// What `builder prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub entries: usize,
    /// The unpacked size of the snapshots collected.
    pub bytes: u64,
}

/// Empties the cache and collects what only it held.
pub fn clear(store: &Store) -> Result<Pruned> {
    let keys: Vec<String> = all(store)?.into_iter().map(|e| e.name).collect();
    let entries = remove(store, &keys)?;
    let before = store.meta.snapshots()?;
    let report = store.gc()?;
    let bytes = before
        .iter()
        .filter(|s| report.snapshots.contains(&s.chain_id))
        .map(|s| s.size)
        .sum();
    Ok(Pruned { entries, bytes })
}
