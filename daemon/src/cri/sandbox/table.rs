//! The sandbox table: `sandboxes` in metadata.redb, ID → SandboxRecord (JSON). This module is
//! its one owner.

use std::sync::Arc;

use ferry_image_service::metadata::{all_json, get_json, put_json};
use redb::{Database, TableDefinition};

use super::record::SandboxRecord;
use crate::error::Result;

const SANDBOXES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandboxes");

#[derive(Debug, Clone)]
pub struct SandboxTable {
    db: Arc<Database>,
}

impl SandboxTable {
    /// The table in `db` (the shared metadata database), created if new.
    pub fn open(db: Arc<Database>) -> Result<Self> {
        let txn = db.begin_write()?;
        txn.open_table(SANDBOXES)?;
        txn.commit()?;
        Ok(SandboxTable { db })
    }

    pub fn all(&self) -> Result<Vec<SandboxRecord>> {
        Ok(all_json(&self.db, SANDBOXES)?)
    }

    pub fn get(&self, id: &str) -> Result<Option<SandboxRecord>> {
        Ok(get_json(&self.db, SANDBOXES, id)?)
    }

    pub fn put(&self, rec: &SandboxRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        put_json(&txn, SANDBOXES, &rec.id, rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(SANDBOXES)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }
}
