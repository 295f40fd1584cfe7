//! `rmi`: Docker's `ImageDelete` decisions, then one write transaction, then GC.
//!
//! The decision ([`plan`]) is a pure function of the image's references, the containers that use
//! it, how it was named (by reference or by ID) and `force`, and follows moby's
//! `daemon/images/image_delete.go`: a reference is untagged (refused without `-f` when it is the
//! image's only one and a container uses the image); by ID, an image with one reference loses it;
//! the image itself goes only when no conflict remains: a running container (cannot be forced),
//! other references or a stopped container (must be forced). One difference: an image that any
//! container still uses is never deleted (its snapshots are the container's lower layers); where
//! Docker would delete it, Ferry keeps it untagged.
//!
//! Crash safety: the plan is made and applied in one redb write transaction, which also reads the
//! image's users through [`crate::users::ImageUsers`] (so a container inserted meanwhile is seen
//! or comes after); files go after
//! the commit, in `Store::gc`. A crash before the commit changes nothing; after it, the next start's
//! repair collects what no record references.

use super::refs::{self, records_in, Ref};
use super::{resolve_in, ImageRecord};
use crate::distribution::Reference;
use crate::error::{Error, Result};
use crate::store::{GcReport, Store};
use crate::users::ImageUser as User;

/// One line of `rmi`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A reference removed, familiar: `busybox:latest`.
    Untagged(String),
    /// An image ID or a layer's chain ID whose data went.
    Deleted(String),
}

/// What to do: the references to remove, and whether the image itself goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub untag: Vec<Ref>,
    pub delete: bool,
}

/// Removes `query` (a reference, ID or digest reference) as `docker rmi [-f]` would.
pub fn remove(store: &Store, query: &str, force: bool) -> Result<Vec<Removed>> {
    let mut results = remove_many(store, &[query.to_string()], force)?;
    results.pop().unwrap_or_else(|| Ok(Vec::new()))
}

/// `rmi A B C…` as one request: each query decided in turn (each sees what the ones before it
/// changed) inside one write transaction, one durable commit, then one collection. A query that
/// fails changes nothing and the others go on, as Docker reports each name on its own.
pub fn remove_many(
    store: &Store,
    queries: &[String],
    force: bool,
) -> Result<Vec<Result<Vec<Removed>>>> {
    let txn = store.meta.db().begin_write()?;
    let mut decided = Vec::new();
    {
        let mut t = crate::images::refs::open_in(&txn)?;
        for q in queries {
            decided.push(decide_in(store, &txn, &mut t, q, force));
        }
    }
    txn.commit()?;
    let deletes = decided.iter().any(|d| matches!(d, Ok((_, p)) if p.delete));
    let report = if deletes {
        store.gc()?
    } else {
        GcReport::default()
    };
    let mut reported = std::collections::HashSet::new();
    let decided_ok: Vec<Option<(ImageRecord, Plan)>> =
        decided.iter().map(|d| d.as_ref().ok().cloned()).collect();
    let results: Vec<Result<Vec<Removed>>> = decided
        .into_iter()
        .map(|d| d.map(|(image, plan)| removed_lines(&image, &plan, &report, &mut reported)))
        .collect();
    for (image, plan) in decided_ok.iter().flatten() {
        for r in &plan.untag {
            store
                .events
                .image("untag", &image.config_digest, &r.familiar());
        }
        if plan.delete {
            store
                .events
                .image("delete", &image.config_digest, &image.config_digest);
        }
    }
    Ok(results)
}

/// Resolves `query` and applies Docker's decision to the images table, in the caller's
/// transaction.
fn decide_in(
    store: &Store,
    txn: &redb::WriteTransaction,
    t: &mut refs::ImagesTable<'_>,
    query: &str,
    force: bool,
) -> Result<(ImageRecord, Plan)> {
    let normalized = super::normalize(query);
    let all = records_in(t)?;
    let image = resolve_in(&all, query).map_err(|e| not_found_as_docker(e, query))?;
    let mine: Vec<ImageRecord> = all
        .into_iter()
        .filter(|r| r.config_digest == image.config_digest)
        .collect();
    let users = users_of(store, txn, &image.config_digest)?;
    let named = normalized
        .as_deref()
        .filter(|n| refs::refs_of(&mine).iter().any(|r| r.full == *n));
    let plan = plan(named, query, &image.config_digest, &mine, &users, force)?;
    if plan.delete {
        check_not_mounted(store, &image)?;
    }
    apply(t, &image.config_digest, &plan)?;
    Ok((image, plan))
}

/// The report lines of one query; a layer freed by several deleted images is named once.
fn removed_lines(
    image: &ImageRecord,
    plan: &Plan,
    report: &GcReport,
    reported: &mut std::collections::HashSet<String>,
) -> Vec<Removed> {
    let mut out: Vec<Removed> = plan
        .untag
        .iter()
        .map(|r| Removed::Untagged(r.familiar()))
        .collect();
    if plan.delete {
        out.push(Removed::Deleted(image.config_digest.clone()));
        for layer in freed_layers(image, report) {
            if let Removed::Deleted(chain) = &layer {
                if reported.insert(chain.clone()) {
                    out.push(layer);
                }
            }
        }
    }
    out
}

/// Docker names a missing reference with its tag: `No such image: nosuch:latest`.
pub(crate) fn not_found_as_docker(e: Error, query: &str) -> Error {
    match e {
        Error::ImageNotFound(_) => match Reference::parse(query) {
            Ok(r) if r.digest().is_none() => Error::ImageNotFound(r.familiar_string()),
            _ => Error::ImageNotFound(query.to_string()),
        },
        other => other,
    }
}

fn check_not_mounted(store: &Store, image: &ImageRecord) -> Result<()> {
    let path = store.mounts.path_for(&image.config_digest);
    if crate::snapshots::mounts_is_mounted(&path) {
        return Err(Error::ImageMounted {
            image: image.config_digest.clone(),
            path,
        });
    }
    Ok(())
}

/// The users of `image_id`, read in the removal's own transaction, running ones first.
fn users_of(store: &Store, txn: &redb::WriteTransaction, image_id: &str) -> Result<Vec<User>> {
    let mut out: Vec<User> = store
        .users
        .users_in(txn)?
        .into_iter()
        .filter(|u| u.image_id == image_id)
        .collect();
    out.sort_by_key(|u| !u.live);
    Ok(out)
}

pub(crate) fn apply(t: &mut refs::ImagesTable<'_>, image_id: &str, plan: &Plan) -> Result<()> {
    for r in &plan.untag {
        refs::remove_ref(t, r)?;
    }
    if plan.delete {
        refs::remove_image(t, image_id)?;
    }
    Ok(())
}

/// The image's layers that GC freed, top first, as Docker prints them.
pub(crate) fn freed_layers(image: &ImageRecord, report: &GcReport) -> Vec<Removed> {
    image
        .layers
        .iter()
        .rev()
        .map(|l| &l.chain_id)
        .filter(|c| report.snapshots.contains(c))
        .map(|c| Removed::Deleted(c.clone()))
        .collect()
}

/// Docker's decision. `named` is the reference the user gave (fully qualified) when the image
/// was found by reference, `None` when found by ID.
pub fn plan(
    named: Option<&str>,
    typed: &str,
    image_id: &str,
    records: &[ImageRecord],
    users: &[User],
    force: bool,
) -> Result<Plan> {
    let mut refs = refs::refs_of(records);
    let mut untag = Vec::new();
    match named {
        Some(full) => {
            if !force && is_single_reference(&refs) {
                if let Some(u) = users.first() {
                    return Err(Error::Conflict(format!(
                        "conflict: unable to remove repository reference \"{typed}\" (must force) - {} {} is using its referenced image {}",
                        u.kind,
                        short(&u.id),
                        short(image_id)
                    )));
                }
            }
            untag_one(&mut refs, full, &mut untag);
            if !refs.is_empty() {
                return Ok(Plan {
                    untag,
                    delete: false,
                });
            }
            finish(image_id, refs, untag, users, force, true)
        }
        None => {
            if is_single_reference(&refs) {
                let mut mask = RUNNING;
                if !force {
                    mask |= STOPPED;
                }
                if let Some(c) = conflict(image_id, mask, &refs, users) {
                    return Err(c.error);
                }
                untag.append(&mut refs);
            }
            finish(image_id, refs, untag, users, force, false)
        }
    }
}

/// Removes the named reference, and with the repository's last tag its digest references.
fn untag_one(refs: &mut Vec<Ref>, full: &str, untag: &mut Vec<Ref>) {
    let Some(i) = refs.iter().position(|r| r.full == full) else {
        return;
    };
    let removed = refs.remove(i);
    let last_tag_of_repo =
        removed.is_tag && !refs.iter().any(|o| o.is_tag && o.repo == removed.repo);
    untag.push(removed.clone());
    if last_tag_of_repo {
        let (same, rest): (Vec<Ref>, Vec<Ref>) = std::mem::take(refs)
            .into_iter()
            .partition(|o| !o.is_tag && o.repo == removed.repo);
        untag.extend(same);
        *refs = rest;
    }
}

/// `imageDeleteHelper`: the image goes unless a conflict remains.
fn finish(
    image_id: &str,
    mut refs: Vec<Ref>,
    mut untag: Vec<Ref>,
    users: &[User],
    force: bool,
    quiet: bool,
) -> Result<Plan> {
    let mask = if force {
        RUNNING
    } else {
        RUNNING | ACTIVE | STOPPED
    };
    if let Some(c) = conflict(image_id, mask, &refs, users) {
        let dangling = refs.is_empty();
        if quiet && (!dangling || c.used) {
            return Ok(Plan {
                untag,
                delete: false,
            });
        }
        return Err(c.error);
    }
    untag.append(&mut refs);
    Ok(Plan {
        untag,
        delete: users.is_empty(),
    })
}

const RUNNING: u8 = 1;
const ACTIVE: u8 = 2;
const STOPPED: u8 = 4;

struct Conflict {
    used: bool,
    error: Error,
}

/// `checkImageDeleteConflict`, in Docker's order.
fn conflict(image_id: &str, mask: u8, refs: &[Ref], users: &[User]) -> Option<Conflict> {
    let make = |hard: bool, used: bool, why: String| {
        let how = if hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        Some(Conflict {
            used,
            error: Error::Conflict(format!(
                "conflict: unable to delete {} ({how}) - {why}",
                short(image_id)
            )),
        })
    };
    if mask & RUNNING != 0 {
        if let Some(u) = users.iter().find(|u| u.live) {
            let why = format!("image is being used by running {} {}", u.kind, short(&u.id));
            return make(true, true, why);
        }
    }
    if mask & ACTIVE != 0 && !refs.is_empty() {
        return make(
            false,
            false,
            "image is referenced in multiple repositories".into(),
        );
    }
    if mask & STOPPED != 0 {
        if let Some(u) = users.iter().find(|u| !u.live) {
            let why = format!("image is being used by stopped {} {}", u.kind, short(&u.id));
            return make(false, true, why);
        }
    }
    None
}

/// `isSingleReference`: one tag (plus digests of its repository), or digests of one repository.
fn is_single_reference(refs: &[Ref]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut tags = refs.iter().filter(|r| r.is_tag);
    let single = tags.next();
    if tags.next().is_some() {
        return false;
    }
    let mut digest_repos: Vec<&str> = refs
        .iter()
        .filter(|r| !r.is_tag)
        .map(|r| r.repo.as_str())
        .collect();
    digest_repos.sort_unstable();
    digest_repos.dedup();
    let single = single.unwrap_or(&refs[0]);
    digest_repos == [single.repo.as_str()]
}

/// Docker's 12-hex short ID.
pub fn short(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(12)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::refs::tests::record;
    use super::*;

    const BB: &str = "docker.io/library/busybox:latest";

    fn lines(p: &Plan) -> Vec<String> {
        p.untag.iter().map(Ref::familiar).collect()
    }

    fn id() -> String {
        format!("sha256:{}", "a".repeat(64))
    }

    fn stopped() -> Vec<User> {
        vec![User {
            kind: "container",
            id: "c".repeat(64),
            image_id: id(),
            live: false,
        }]
    }

    fn running() -> Vec<User> {
        vec![User {
            kind: "container",
            id: "d".repeat(64),
            image_id: id(),
            live: true,
        }]
    }

    fn err(r: Result<Plan>) -> String {
        r.expect_err("should conflict").to_string()
    }

    #[test]
    fn removing_the_last_tag_untags_its_digest_and_deletes() {
        let recs = [record(BB, 'a', '1')];
        let p = plan(Some(BB), "busybox", &id(), &recs, &[], false).unwrap();
        assert_eq!(
            lines(&p),
            [
                "busybox:latest".to_string(),
                format!("busybox@sha256:{}", "1".repeat(64))
            ]
        );
        assert!(p.delete);
        let p = plan(None, "aaaa", &id(), &recs, &[], false).unwrap();
        assert_eq!(p.untag.len(), 2);
        assert!(p.delete);
    }

    #[test]
    fn one_of_several_tags_is_only_untagged() {
        let recs = [
            record(BB, 'a', '1'),
            record("docker.io/library/b:2", 'a', ' '),
        ];
        let p = plan(Some(BB), "busybox", &id(), &recs, &stopped(), false).unwrap();
        assert_eq!(p.untag.len(), 2);
        assert!(!p.delete);
        let e = err(plan(None, "aaaa", &id(), &recs, &[], false));
        assert_eq!(
            e,
            "conflict: unable to delete aaaaaaaaaaaa (must be forced) - image is referenced in multiple repositories"
        );
        let p = plan(None, "aaaa", &id(), &recs, &[], true).unwrap();
        assert_eq!(p.untag.len(), 3);
        assert!(p.delete);
    }

    #[test]
    fn containers_conflict_as_in_docker() {
        let recs = [record(BB, 'a', ' ')];
        let e = err(plan(Some(BB), "busybox", &id(), &recs, &stopped(), false));
        assert_eq!(
            e,
            format!("conflict: unable to remove repository reference \"busybox\" (must force) - container cccccccccccc is using its referenced image aaaaaaaaaaaa")
        );
        let e = err(plan(None, "aaa", &id(), &recs, &stopped(), false));
        assert!(
            e.ends_with("(must be forced) - image is being used by stopped container cccccccccccc"),
            "{e}"
        );
        let e = err(plan(None, "aaa", &id(), &recs, &running(), true));
        assert_eq!(e, "conflict: unable to delete aaaaaaaaaaaa (cannot be forced) - image is being used by running container dddddddddddd");
        // -f by reference untags; the image stays (untagged) for its containers.
        for users in [stopped(), running()] {
            let p = plan(Some(BB), "busybox", &id(), &recs, &users, true).unwrap();
            assert_eq!(lines(&p), ["busybox:latest"]);
            assert!(!p.delete);
        }
        let p = plan(None, "aaa", &id(), &recs, &stopped(), true).unwrap();
        assert_eq!(lines(&p), ["busybox:latest"]);
        assert!(!p.delete);
    }

    #[test]
    fn untagged_images_go_by_id() {
        let recs = [record(BB, 'a', ' ').untagged()];
        let p = plan(None, "aaa", &id(), &recs, &[], false).unwrap();
        assert!(p.untag.is_empty() && p.delete);
        let e = err(plan(None, "aaa", &id(), &recs, &stopped(), false));
        assert!(e.contains("stopped container"), "{e}");
    }

    #[test]
    fn single_reference_means_one_tag_and_its_repository_digests() {
        let r = |recs: &[ImageRecord]| is_single_reference(&refs::refs_of(recs));
        assert!(r(&[record(BB, 'a', '1')]));
        assert!(!r(&[]));
        assert!(!r(&[
            record(BB, 'a', '1'),
            record("docker.io/library/x:1", 'a', ' ')
        ]));
        assert!(!r(&[
            record(BB, 'a', '1'),
            record("docker.io/library/x:1", 'a', '2')
        ]));
    }
}
