//! AUFS-style whiteouts as found in OCI/Docker layer tars, and their overlayfs form.
//!
//! overlayfs does not understand `.wh.` files: it hides a lower path with a 0/0 character
//! device of the same name, and a lower directory's contents with the xattr
//! `trusted.overlay.opaque=y`. Since extracted layers are used directly as overlay lower
//! directories, whiteouts are converted at extraction time.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The xattr that marks a directory opaque for overlayfs.
pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

const PREFIX: &[u8] = b".wh.";
const META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What a final path component means, if it is a whiteout name.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Whiteout<'a> {
    /// `.wh..wh..opq`: the parent directory is opaque.
    Opaque,
    /// Other `.wh..wh.*` names: AUFS bookkeeping (e.g. `.wh..wh.plnk`), ignored.
    AufsMeta,
    /// `.wh.` alone: invalid.
    Bare,
    /// `.wh.NAME`: `NAME` is deleted.
    Hide(&'a OsStr),
}

/// Classifies the final component `name` of an entry path.
pub(super) fn classify(name: &OsStr) -> Option<Whiteout<'_>> {
    let b = name.as_bytes();
    if b == OPAQUE {
        Some(Whiteout::Opaque)
    } else if b.starts_with(META_PREFIX) {
        Some(Whiteout::AufsMeta)
    } else if b == PREFIX {
        Some(Whiteout::Bare)
    } else {
        b.strip_prefix(PREFIX)
            .map(|rest| Whiteout::Hide(OsStr::from_bytes(rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        fn c(s: &str) -> Option<Whiteout<'_>> {
            classify(OsStr::new(s))
        }
        assert_eq!(c(".wh..wh..opq"), Some(Whiteout::Opaque));
        assert_eq!(c(".wh..wh.plnk"), Some(Whiteout::AufsMeta));
        assert_eq!(c(".wh."), Some(Whiteout::Bare));
        assert_eq!(c(".wh.foo"), Some(Whiteout::Hide(OsStr::new("foo"))));
        assert_eq!(c("foo.wh."), None);
        assert_eq!(c("x"), None);
    }
}
