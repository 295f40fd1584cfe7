//! `image prune` and the images' part of `system df`: what images hold on disk, and what can
//! go (ferryd adds its containers and volumes). Sizes are unpacked sizes (snapshots), the unit `images` shows.

use std::collections::{HashMap, HashSet};

use super::refs::{self, records_in};
use super::remove::{self, Plan, Removed};
use super::ImageRecord;
use crate::error::Result;
use crate::store::Store;
use crate::users::ImageUser;
use redb::ReadableDatabase;

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<Removed>,
    pub space_reclaimed: u64,
}

/// Removes dangling (untagged) images nothing uses, or with `all` every image nothing uses: records in one transaction, then one GC.
pub fn prune(store: &Store, all: bool) -> Result<Pruned> {
    let sizes: HashMap<String, u64> = store
        .meta
        .snapshots()?
        .into_iter()
        .map(|s| (s.chain_id, s.size))
        .collect();
    let txn = store.meta.db().begin_write()?;
    let victims = {
        let mut t = crate::images::refs::open_in(&txn)?;
        let records = records_in(&t)?;
        let used: HashSet<String> = store
            .users
            .users_in(&txn)?
            .into_iter()
            .map(|u| u.image_id)
            .collect();
        let victims = prunable(&records, &used, all);
        for (image, plan) in &victims {
            remove::apply(&mut t, &image.config_digest, plan)?;
        }
        victims
    };
    txn.commit()?;
    let report = store.gc()?;
    let mut out = Pruned::default();
    let mut counted = HashSet::new();
    for (image, plan) in &victims {
        out.removed
            .extend(plan.untag.iter().map(|r| Removed::Untagged(r.familiar())));
        out.removed
            .push(Removed::Deleted(image.config_digest.clone()));
        for layer in remove::freed_layers(image, &report) {
            if let Removed::Deleted(chain) = &layer {
                if counted.insert(chain.clone()) {
                    out.space_reclaimed += sizes.get(chain).copied().unwrap_or(0);
                    out.removed.push(layer);
                }
            }
        }
    }
    Ok(out)
}

/// The images a prune takes, each with its plan (all references untagged, image deleted).
fn prunable(
    records: &[ImageRecord],
    used: &HashSet<String>,
    all: bool,
) -> Vec<(ImageRecord, Plan)> {
    let mut by_id: Vec<(ImageRecord, Vec<ImageRecord>)> = Vec::new();
    for r in records {
        match by_id
            .iter_mut()
            .find(|(i, _)| i.config_digest == r.config_digest)
        {
            Some((_, v)) => v.push(r.clone()),
            None => by_id.push((r.clone(), vec![r.clone()])),
        }
    }
    by_id
        .into_iter()
        .filter(|(img, recs)| {
            !used.contains(&img.config_digest) && (all || recs.iter().all(|r| r.is_untagged()))
        })
        .map(|(img, recs)| {
            let plan = Plan {
                untag: refs::refs_of(&recs),
                delete: true,
            };
            (img, plan)
        })
        .collect()
}

/// One image in `system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub record: ImageRecord,
    /// Bytes of its layers that other images also use.
    pub shared_size: u64,
    /// How many users (containers) hold it.
    pub users: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Every snapshot an image uses, each counted once.
    pub layers_size: u64,
    /// One per image (its first record stands for it).
    pub images: Vec<ImageUsage>,
}

/// The images' disk usage, with how many users each has.
pub fn disk_usage(store: &Store) -> Result<DiskUsage> {
    let sizes: HashMap<String, u64> = store
        .meta
        .snapshots()?
        .into_iter()
        .map(|s| (s.chain_id, s.size))
        .collect();
    let users = store.users.users_read(&store.meta.db().begin_read()?)?;
    let mut images: Vec<ImageRecord> = Vec::new();
    for r in store.meta.images()? {
        if !images.iter().any(|i| i.config_digest == r.config_digest) {
            images.push(r);
        }
    }
    Ok(image_usage(&images, &sizes, &users))
}

/// Image sizes, shared sizes and user counts (pure, for tests).
fn image_usage(
    images: &[ImageRecord],
    sizes: &HashMap<String, u64>,
    users: &[ImageUser],
) -> DiskUsage {
    let mut users_of_layer: HashMap<&str, usize> = HashMap::new();
    for img in images {
        let mine: HashSet<&str> = img.chain_ids().collect();
        for c in mine {
            *users_of_layer.entry(c).or_default() += 1;
        }
    }
    let layers_size = users_of_layer
        .keys()
        .map(|c| sizes.get(*c).copied().unwrap_or(0))
        .sum();
    let images = images
        .iter()
        .map(|img| {
            let shared_size = img
                .chain_ids()
                .collect::<HashSet<_>>()
                .into_iter()
                .filter(|c| users_of_layer.get(c).copied().unwrap_or(0) > 1)
                .map(|c| sizes.get(c).copied().unwrap_or(0))
                .sum();
            let count = users
                .iter()
                .filter(|u| u.image_id == img.config_digest)
                .count() as u64;
            ImageUsage {
                record: img.clone(),
                shared_size,
                users: count,
            }
        })
        .collect();
    DiskUsage {
        layers_size,
        images,
    }
}

#[cfg(test)]
mod tests {
    use super::super::refs::tests::record;
    use super::super::LayerRecord;
    use super::*;

    fn with_layers(name: &str, id: char, chains: &[&str]) -> ImageRecord {
        let mut r = record(name, id, ' ');
        r.layers = chains
            .iter()
            .map(|c| LayerRecord {
                digest: String::new(),
                media_type: String::new(),
                size: 0,
                diff_id: c.to_string(),
                chain_id: c.to_string(),
            })
            .collect();
        r
    }

    #[test]
    fn shared_layers_are_counted_once() {
        let imgs = [
            with_layers("docker.io/library/a:1", 'a', &["base", "top-a"]),
            with_layers("docker.io/library/b:1", 'b', &["base"]),
        ];
        let sizes: HashMap<String, u64> = [("base", 100), ("top-a", 10)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let u = image_usage(&imgs, &sizes, &[]);
        assert_eq!(u.layers_size, 110);
        assert_eq!(u.images[0].shared_size, 100);
        assert_eq!(u.images[1].shared_size, 100);
    }

    #[test]
    fn prune_takes_dangling_or_all_unused() {
        let a = record("docker.io/library/a:1", 'a', ' ');
        let b = record("docker.io/library/b:1", 'b', ' ').untagged();
        let c = record("docker.io/library/c:1", 'c', ' ').untagged();
        let used: HashSet<String> = [c.config_digest.clone()].into();
        let ids = |all| -> Vec<String> {
            prunable(&[a.clone(), b.clone(), c.clone()], &used, all)
                .into_iter()
                .map(|(i, _)| i.config_digest)
                .collect()
        };
        assert_eq!(ids(false), std::slice::from_ref(&b.config_digest));
        assert_eq!(
            ids(true),
            [a.config_digest.clone(), b.config_digest.clone()]
        );
    }
}
