//! ferryd's metadata: one redb database, `<data-root>/metadata.redb`, changed only in
//! transactions, so a crash leaves either the old or the new state.
//!
//! ```text
//! images     name (fully qualified reference), or `@<config digest>` for an untagged image
//!                                              -> ImageRecord (JSON)  owned by `images::refs`
//! content    digest                            -> ContentInfo (JSON)   one per committed blob
//! snapshots  chain ID                          -> SnapshotInfo (JSON)  one per committed snapshot
//! counters   "next_snapshot_id"                -> u64
//! ```
//! Other owners (ferryd's) keep their own tables in the same database, so that a
//! transaction may span both through the owners' functions.
//!
//! Invariant: every image's content and snapshots have records, and every record's file or
//! directory exists. Writers create files first and records last; removers delete records first
//! and files last. Whatever a crash strands on disk has no record and is removed at start.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};
use crate::images::refs;
use crate::images::ImageRecord;
use crate::snapshots::SnapshotInfo;

const CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("content");
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ContentInfo {
    pub size: u64,
    pub created: i64,
}

#[derive(Debug)]
pub struct Metadata {
    db: Arc<Database>,
}

impl Metadata {
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            refs::open_in(&txn)?;
            txn.open_table(CONTENT)?;
            txn.open_table(SNAPSHOTS)?;
            txn.open_table(COUNTERS)?;
        }
        txn.commit()?;
        Ok(Metadata { db: Arc::new(db) })
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The database, for another owner's tables in it (ferryd's).
    pub fn shared_db(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    pub fn image(&self, name: &str) -> Result<Option<ImageRecord>> {
        refs::get(&self.db, name)
    }

    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        refs::all(&self.db)
    }

    pub fn content(&self, digest: &str) -> Result<Option<ContentInfo>> {
        get_json(&self.db, CONTENT, digest)
    }

    pub fn all_content(&self) -> Result<Vec<(String, ContentInfo)>> {
        all_json_keyed(&self.db, CONTENT)
    }

    pub fn snapshot(&self, chain_id: &str) -> Result<Option<SnapshotInfo>> {
        get_json(&self.db, SNAPSHOTS, chain_id)
    }

    pub fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        all_json(&self.db, SNAPSHOTS)
    }

    pub fn put_content(&self, digest: &str, info: &ContentInfo) -> Result<()> {
        let txn = self.db.begin_write()?;
        put_json(&txn, CONTENT, digest, info)?;
        txn.commit()?;
        Ok(())
    }

    pub fn put_snapshot(&self, info: &SnapshotInfo) -> Result<()> {
        let txn = self.db.begin_write()?;
        put_json(&txn, SNAPSHOTS, &info.chain_id, info)?;
        txn.commit()?;
        Ok(())
    }

    /// Writes the record if every blob and snapshot it references is committed.
    pub fn commit_image(&self, record: &ImageRecord) -> Result<()> {
        let txn = self.db().begin_write()?;
        check_committed(&txn, std::slice::from_ref(record))?;
        refs::put_named(&mut refs::open_in(&txn)?, record)?;
        txn.commit()?;
        Ok(())
    }

    /// Finds images by name, by full or unique short ID, or by digest reference.
    pub fn resolve_image(&self, query: &str) -> Result<ImageRecord> {
        crate::images::resolve_in(&self.images()?, query)
    }

    /// Drops image, content and snapshot records in one transaction (the repair's: their files
    /// are gone).
    pub(crate) fn remove_records(
        &self,
        images: &[String],
        blobs: &HashSet<String>,
        snapshots: &HashSet<String>,
    ) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut t = refs::open_in(&txn)?;
            for name in images {
                t.remove(name.as_str())?;
            }
            let mut t = txn.open_table(CONTENT)?;
            for d in blobs {
                t.remove(d.as_str())?;
            }
            let mut t = txn.open_table(SNAPSHOTS)?;
            for c in snapshots {
                t.remove(c.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Allocates a snapshot ID: short numeric directory names keep overlay's `lowerdir=` option
    /// (one page at most) within bounds for images of 100+ layers.
    pub fn next_snapshot_id(&self) -> Result<u64> {
        let txn = self.db.begin_write()?;
        let id = {
            let mut t = txn.open_table(COUNTERS)?;
            let id = t.get("next_snapshot_id")?.map(|v| v.value()).unwrap_or(1);
            t.insert("next_snapshot_id", id + 1)?;
            id
        };
        txn.commit()?;
        Ok(id)
    }
}

/// Fails unless every blob and snapshot the records reference has its record, read in the
/// transaction that will write them (a pull's or a load's commit).
pub(crate) fn check_committed(txn: &redb::WriteTransaction, records: &[ImageRecord]) -> Result<()> {
    let content = txn.open_table(CONTENT)?;
    let snapshots = txn.open_table(SNAPSHOTS)?;
    for r in records {
        for d in &r.blobs {
            if content.get(d.as_str())?.is_none() {
                return Err(Error::Metadata(format!("image {} lacks blob {d}", r.name)));
            }
        }
        for c in r.chain_ids() {
            if snapshots.get(c)?.is_none() {
                return Err(Error::Metadata(format!(
                    "image {} lacks snapshot {c}",
                    r.name
                )));
            }
        }
    }
    Ok(())
}

// Row codecs: every owner of a table in this database (here and in ferryd) stores JSON rows
// through these, so a bad row reads as the same clear "metadata store" error everywhere.

/// One row of `table`, decoded.
pub fn get_json<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> Result<Option<T>> {
    let txn = db.begin_read()?;
    let t = txn.open_table(table)?;
    match t.get(key)? {
        Some(v) => Ok(Some(decode(key, v.value())?)),
        None => Ok(None),
    }
}

/// Every row of `table`, decoded.
pub fn all_json<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
) -> Result<Vec<T>> {
    Ok(all_json_keyed(db, table)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

pub fn all_json_keyed<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
) -> Result<Vec<(String, T)>> {
    let txn = db.begin_read()?;
    let t = txn.open_table(table)?;
    let mut out = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        out.push((k.value().to_string(), decode(k.value(), v.value())?));
    }
    Ok(out)
}

/// Writes one row of `table` in the caller's transaction.
pub fn put_json<T: Serialize>(
    txn: &redb::WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
    value: &T,
) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Metadata(e.to_string()))?;
    txn.open_table(table)?.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Decodes a row read by hand (inside a transaction that spans tables).
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Metadata(format!("record {key}: {e}")))
}
