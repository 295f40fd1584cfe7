//! Who uses images, as the image service sees it: holders it does not know, behind one small
//! interface it defines (as containerd's GC asks its labels and leases, not other services).
//!
//! ferryd's container table answers today; pod sandboxes and build steps will answer beside it.
//! The answers are read inside the image service's own transactions, on the one metadata
//! database, so `rmi` and `prune` decide on what is committed: a user inserted meanwhile is
//! either seen or comes after (and then finds the image gone, see
//! [`crate::images::exists_in`]).

/// An image in use by something outside the image service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUser {
    /// What the holder is, as `rmi`'s conflicts name it ("container").
    pub kind: &'static str,
    /// The holder's ID, named in `rmi`'s conflicts.
    pub id: String,
    /// The image's config digest.
    pub image_id: String,
    /// A running holder: `rmi -f` cannot take its image.
    pub live: bool,
}

/// The holders of images, read in the caller's transaction.
pub trait ImageUsers: Send + Sync + std::fmt::Debug {
    /// Every user, read in a write transaction (`rmi`, `prune`).
    fn users_in(&self, txn: &redb::WriteTransaction) -> crate::Result<Vec<ImageUser>>;

    /// Every user, read in a read transaction (GC, `system df`).
    fn users_read(&self, txn: &redb::ReadTransaction) -> crate::Result<Vec<ImageUser>>;
}

/// No users: an image service on its own (tests, tools).
#[derive(Debug, Default)]
pub struct NoUsers;

impl ImageUsers for NoUsers {
    fn users_in(&self, _: &redb::WriteTransaction) -> crate::Result<Vec<ImageUser>> {
        Ok(Vec::new())
    }

    fn users_read(&self, _: &redb::ReadTransaction) -> crate::Result<Vec<ImageUser>> {
        Ok(Vec::new())
    }
}
