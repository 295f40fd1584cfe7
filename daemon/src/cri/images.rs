//! The image store as the CRI sees it: one CRI image per image ID (config digest) with all its
//! names as repo tags and its registry digests as repo digests; lookup by name, ID or ID
//! prefix; removal of every name of an image at once (the CRI removes images, not tags).

use std::collections::{BTreeMap, HashMap};

use ferry_image_service::images::{self, ImageRecord};
use ferry_image_service::store::Store;
use k8s_cri::v1 as cri;

use crate::error::{Error, Result};

/// Records grouped by image ID, newest first.
fn grouped(all: Vec<ImageRecord>) -> Vec<Vec<ImageRecord>> {
    let mut by_id: BTreeMap<String, Vec<ImageRecord>> = BTreeMap::new();
    for r in all {
        by_id.entry(r.config_digest.clone()).or_default().push(r);
    }
    let mut out: Vec<Vec<ImageRecord>> = by_id.into_values().collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.iter().map(|r| r.pulled_at).max().unwrap_or(0)));
    out
}

/// `repo@digest`: what a tagged record was pulled as (None for a record without a digest).
fn repo_digest_of(r: &ImageRecord) -> Option<String> {
    (!r.is_untagged() && !r.target_digest.is_empty()).then(|| {
        let repo = ferry_image_service::images::refs::repository_of(&r.name);
        format!("{repo}@{}", r.target_digest)
    })
}

/// Image ID → the repo digest its container's `image_ref` reports, read once for a listing.
pub fn repo_digests(store: &Store) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for r in store.meta.images()? {
        if let Some(d) = repo_digest_of(&r) {
            out.entry(r.config_digest.clone()).or_insert(d);
        }
    }
    Ok(out)
}

/// One CRI image from the records of one image ID (`user` from its config).
fn to_cri(group: &[ImageRecord], user: &str) -> cri::Image {
    let mut tags: Vec<String> = Vec::new();
    let mut digests: Vec<String> = Vec::new();
    for r in group.iter().filter(|r| !r.is_untagged()) {
        if r.name.contains('@') {
            push_unique(&mut digests, r.name.clone());
        } else {
            push_unique(&mut tags, r.name.clone());
        }
        if let Some(d) = repo_digest_of(r) {
            push_unique(&mut digests, d);
        }
    }
    let first = &group[0];
    let (uid, username) = split_user(user);
    cri::Image {
        id: first.config_digest.clone(),
        repo_tags: tags,
        repo_digests: digests,
        size: first.size,
        uid,
        username,
        spec: Some(cri::ImageSpec {
            image: first.config_digest.clone(),
            ..Default::default()
        }),
        pinned: false,
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// The image config's user as the CRI reports it: a numeric uid, or a name.
fn split_user(user: &str) -> (Option<cri::Int64Value>, String) {
    let name = user.split(':').next().unwrap_or("");
    match name.parse::<i64>() {
        Ok(uid) => (Some(cri::Int64Value { value: uid }), String::new()),
        Err(_) => (None, name.to_string()),
    }
}

/// ListImages: every image, or the one a filter's image spec names.
pub fn list(
    store: &Store,
    filter: Option<&str>,
    user_of: impl Fn(&ImageRecord) -> String,
) -> Result<Vec<cri::Image>> {
    let groups = match filter {
        Some(f) if !f.is_empty() => find(store, f)?.into_iter().collect(),
        _ => grouped(store.meta.images()?),
    };
    Ok(groups.iter().map(|g| to_cri(g, &user_of(&g[0]))).collect())
}

/// The records of the image `query` names (a name, an ID, a digest reference, an ID
/// prefix); None when there is none.
pub fn find(store: &Store, query: &str) -> Result<Option<Vec<ImageRecord>>> {
    let all = store.meta.images()?;
    let id = match images::resolve_in(&all, query) {
        Ok(r) => r.config_digest,
        Err(ferry_image_service::Error::ImageNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(Some(
        all.into_iter().filter(|r| r.config_digest == id).collect(),
    ))
}

/// ImageStatus: the image, or None when it is not here (the CRI's answer, not an error).
pub fn status(
    store: &Store,
    query: &str,
    user_of: impl Fn(&ImageRecord) -> String,
) -> Result<Option<cri::Image>> {
    Ok(find(store, query)?.map(|g| to_cri(&g, &user_of(&g[0]))))
}

/// RemoveImage: every name of the image goes (containers keep their layers, as in
/// containerd); an image already gone is not an error.
pub fn remove(store: &Store, query: &str) -> Result<()> {
    let Some(group) = find(store, query)? else {
        return Ok(());
    };
    let names: Vec<String> = group.iter().map(|r| r.name.clone()).collect();
    for res in images::remove::remove_many(store, &names, true)? {
        match res {
            Ok(_) | Err(ferry_image_service::Error::ImageNotFound(_)) => {}
            Err(e) => return Err(Error::from(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_user;

    #[test]
    fn image_users_are_uids_or_names() {
        assert_eq!(split_user("1000:1000").0.map(|v| v.value), Some(1000));
        assert_eq!(split_user("nobody").1, "nobody");
        assert_eq!(split_user(""), (None, String::new()));
    }
}
