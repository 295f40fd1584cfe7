//! The container table: `containers` in metadata.redb, ID → ContainerRecord (JSON). Names are
//! unique; `insert` and `rename` check that inside their write transaction.

use redb::{ReadableTable, TableDefinition};

use super::record::ContainerRecord;
use crate::error::{Error, Result};
use crate::metadata::{all_json, get_json, put_json, Metadata};

pub(crate) const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");

impl Metadata {
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        all_json(self.db(), CONTAINERS)
    }

    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        get_json(self.db(), CONTAINERS, id)
    }

    /// Inserts a new record; fails if its name is taken, or if its image was removed while the
    /// container was being prepared (an `rmi` that commits first wins; one that commits after
    /// sees this container and refuses, as with any container).
    pub fn insert_container(&self, rec: &ContainerRecord) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let t = txn.open_table(CONTAINERS)?;
            if let Some(other) = find_name(&t, &rec.name)? {
                return Err(Error::NameInUse {
                    name: rec.name.clone(),
                    id: other,
                });
            }
            let images = txn.open_table(crate::metadata::IMAGES)?;
            let present = crate::images::refs::records_in(&images)?
                .iter()
                .any(|i| i.config_digest == rec.image_id);
            if !present {
                return Err(Error::Conflict(format!(
                    "image {} was removed while the container was being created",
                    rec.image_id
                )));
            }
        }
        put_json(&txn, CONTAINERS, &rec.id, rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn update_container(&self, rec: &ContainerRecord) -> Result<()> {
        let txn = self.db().begin_write()?;
        put_json(&txn, CONTAINERS, &rec.id, rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let txn = self.db().begin_write()?;
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
            serde_json::from_slice(raw.value()).map_err(|e| Error::Metadata(e.to_string()))?
        };
        rec.name = new_name.to_string();
        put_json(&txn, CONTAINERS, id, &rec)?;
        txn.commit()?;
        Ok(())
    }

    pub fn remove_container(&self, id: &str) -> Result<()> {
        let txn = self.db().begin_write()?;
        txn.open_table(CONTAINERS)?.remove(id)?;
        txn.commit()?;
        Ok(())
    }

    /// By full ID, name, or unique ID prefix (Docker's order).
    pub fn resolve_container(&self, query: &str) -> Result<ContainerRecord> {
        let all = self.containers()?;
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

fn find_name(t: &redb::Table<&str, &[u8]>, name: &str) -> Result<Option<String>> {
    for row in t.iter()? {
        let (k, v) = row?;
        let rec: ContainerRecord =
            serde_json::from_slice(v.value()).map_err(|e| Error::Metadata(e.to_string()))?;
        if rec.name == name {
            return Ok(Some(k.value().to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The race with `rmi`: an image removed before the record goes in leaves no container.
    #[test]
    fn a_container_of_a_vanished_image_is_not_inserted() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&dir.path().join("m.redb")).unwrap();
        let rec = ContainerRecord {
            id: "c".repeat(64),
            name: "late".into(),
            config: Default::default(),
            image_name: String::new(),
            image_id: format!("sha256:{}", "a".repeat(64)),
            args: Vec::new(),
            created: String::new(),
            state: super::super::record::State::Created,
            pid: 0,
            exit_code: 0,
            started_at: None,
            finished_at: None,
            restart_count: 0,
            stopped_by_user: false,
            runtime_used: String::new(),
            error: String::new(),
            net: None,
        };
        let err = meta.insert_container(&rec).unwrap_err();
        assert!(
            err.to_string()
                .contains("was removed while the container was being created"),
            "{err}"
        );
        assert!(meta.containers().unwrap().is_empty());
    }
}
