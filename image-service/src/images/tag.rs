//! `tag SOURCE TARGET`: a new name for an existing image, in one write transaction.

use super::refs::{self, records_in};
use super::{resolve_in, ImageRecord};
use crate::distribution::Reference;
use crate::error::{Error, Result};
use crate::store::Store;

/// Points `target` at the image `source` names. The image `target` named before stays, untagged,
/// if nothing else names it. A local tag implies no repository digest (`docker tag` adds none).
pub fn tag(store: &Store, source: &str, target: &str) -> Result<ImageRecord> {
    let target_ref = Reference::parse(target)?;
    if target_ref.digest().is_some() {
        return Err(Error::InvalidArgument(format!(
            "refusing to create a tag with a digest reference: {target}"
        )));
    }
    let txn = store.meta.db().begin_write()?;
    let rec = {
        let mut t = crate::images::refs::open_in(&txn)?;
        let image = resolve_in(&records_in(&t)?, source)
            .map_err(|e| super::remove::not_found_as_docker(e, source))?;
        let rec = ImageRecord {
            name: target_ref.to_string(),
            target_digest: String::new(),
            target_media_type: String::new(),
            pulled_at: chrono::Utc::now().timestamp(),
            ..image
        };
        refs::put_named(&mut t, &rec)?;
        rec
    };
    txn.commit()?;
    store
        .events
        .image("tag", &rec.config_digest, &refs::familiar(&rec.name));
    Ok(rec)
}
