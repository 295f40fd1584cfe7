//! The container table: `containers` in metadata.redb, ID → ContainerRecord (JSON). This module
//! is its one owner: it defines, opens and reads it. Names are unique; `insert` and `rename`
//! check that inside their write transaction. It also answers the image service's question
//! of who uses an image ([`ContainerUsers`]), inside the image service's own transaction.

use std::sync::Arc;

use ferry_image_service::metadata::{all_json, decode, get_json, put_json};
use ferry_image_service::users::{ImageUser, ImageUsers};
use redb::{Database, ReadableTable, TableDefinition, TableError};

use super::record::ContainerRecord;
use crate::error::{Error, Result};

const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

#[derive(Debug, Clone)]
pub struct ContainerTable {
    db: Arc<Database>,
}

impl ContainerTable {
    /// The table in `db` (the image service's metadata database), created if new.
    pub fn open(db: Arc<Database>) -> Result<Self> {
        let txn = db.begin_write()?;
        txn.open_table(CONTAINERS)?;
        txn.commit()?;
        Ok(ContainerTable { db })
    }

    pub fn all(&self) -> Result<Vec<ContainerRecord>> {
        Ok(all_json(&self.db, CONTAINERS)?)
    }

    pub fn get(&self, id: &str) -> Result<Option<ContainerRecord>> {
        Ok(get_json(&self.db, CONTAINERS, id)?)
    }

    /// Inserts a new record; fails if its name is taken, or if its image was removed while the
    /// container was being prepared (an `rmi` that commits first wins; one that commits after
    /// sees this container and refuses, as with any container).
    pub fn insert(&self, rec: &ContainerRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        if let Some(other) = find_name(&txn.open_table(CONTAINERS)?, &rec.name)? {
            return Err(Error::NameInUse {
                name: rec.name.clone(),
                id: other,
            });
        }
        if !ferry_image_service::images::exists_in(&txn, &rec.image_id)? {
            return Err(Error::Conflict(format!(
                "image {} was removed while the container was being created",
                rec.image_id
            )));
        }
        put_json(&txn, CONTAINERS, &rec.id, rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn update(&self, rec: &ContainerRecord) -> Result<()> {
        let txn = self.db.begin_write()?;
        put_json(&txn, CONTAINERS, &rec.id, rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        let mut rec: ContainerRecord = {
            let t = txn.open_table(CONTAINERS)?;
            if let Some(other) = find_name(&t, new_name)? {
                return Err(Error::NameInUse {
                    name: new_name.to_string(),
                    id: other,
                });
            }
            let raw = t
                .get(id)?
                .ok_or_else(|| Error::ContainerNotFound(id.to_string()))?;
            decode(id, raw.value())?
        };
        rec.name = new_name.to_string();
        put_json(&txn, CONTAINERS, id, &rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        let txn = self.db.begin_write()?;
        txn.open_table(CONTAINERS)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    /// By full ID, name, or unique ID prefix (Docker's order).
    pub fn resolve(&self, query: &str) -> Result<ContainerRecord> {
        let all = self.all()?;
        let name = query.strip_prefix('/').unwrap_or(query);
        if let Some(c) = all.iter().find(|c| c.id == query || c.name == name) {
            return Ok(c.clone());
        }
        let hits: Vec<&ContainerRecord> = all
            .iter()
            .filter(|c| !query.is_empty() && c.id.starts_with(query))
            .collect();
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::ContainerNotFound(query.to_string())),
            many => Err(Error::AmbiguousContainer {
                query: query.to_string(),
                candidates: many.iter().map(|c| c.id[..12].to_string()).collect(),
            }),
        }
    }
}

fn find_name(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<String>> {
    for row in t.iter()? {
        let (k, v) = row?;
        let rec: ContainerRecord = decode(k.value(), v.value())?;
        if rec.name == name {
            return Ok(Some(k.value().to_string()));
        }
    }
    Ok(None)
}

/// Containers as the image service's image users: a container holds its image (a live one so
/// that `rmi -f` cannot take it).
#[derive(Debug, Default)]
pub struct ContainerUsers;

impl ImageUsers for ContainerUsers {
    fn users_in(
        &self,
        txn: &redb::WriteTransaction,
    ) -> ferry_image_service::Result<Vec<ImageUser>> {
        users(&txn.open_table(CONTAINERS)?)
    }

    fn users_read(
        &self,
        txn: &redb::ReadTransaction,
    ) -> ferry_image_service::Result<Vec<ImageUser>> {
        match txn.open_table(CONTAINERS) {
            Ok(t) => users(&t),
            // Before ferryd first opened the table (the store repairs before that).
            Err(TableError::TableDoesNotExist(_)) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

fn users(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
) -> ferry_image_service::Result<Vec<ImageUser>> {
    let mut out = Vec::new();
    for row in t.iter()? {
        let (k, v) = row?;
        let rec: ContainerRecord = decode(k.value(), v.value())?;
        out.push(ImageUser {
            kind: "container",
            live: rec.state.is_live(),
            id: rec.id,
            image_id: rec.image_id,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::containers::record::State;
    use ferry_image_service::metadata::Metadata;
    use redb::ReadableDatabase;

    fn record(name: &str, state: State) -> ContainerRecord {
        ContainerRecord {
            state,
            ..ContainerRecord::new(
                "c".repeat(64),
                name.into(),
                Default::default(),
                format!("sha256:{}", "a".repeat(64)),
            )
        }
    }

    /// The race with `rmi`: an image removed before the record goes in leaves no container.
    #[test]
    fn a_container_of_a_vanished_image_is_not_inserted() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&dir.path().join("m.redb")).unwrap();
        let table = ContainerTable::open(meta.shared_db()).unwrap();
        let err = table.insert(&record("late", State::Created)).unwrap_err();
        assert!(
            err.to_string()
                .contains("was removed while the container was being created"),
            "{err}"
        );
        assert!(table.all().unwrap().is_empty());
    }

    /// What the image service sees: every container, live or not, read in its transaction.
    #[test]
    fn containers_answer_as_image_users() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&dir.path().join("m.redb")).unwrap();
        let db = meta.shared_db();
        // Before the table exists, a read finds no users rather than failing.
        let none = ContainerUsers
            .users_read(&db.begin_read().unwrap())
            .unwrap();
        assert!(none.is_empty());
        let table = ContainerTable::open(Arc::clone(&db)).unwrap();
        table.update(&record("web", State::Running)).unwrap();
        let users = ContainerUsers
            .users_read(&db.begin_read().unwrap())
            .unwrap();
        assert_eq!(
            users,
            vec![ImageUser {
                kind: "container",
                id: "c".repeat(64),
                image_id: format!("sha256:{}", "a".repeat(64)),
                live: true,
            }]
        );
    }
}
