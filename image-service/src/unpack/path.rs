//! Lexical normalisation of archive paths: the first line of defence, before any
//! filesystem resolution (which is itself confined by `RESOLVE_IN_ROOT`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Limits, UnpackError};

/// Turns raw archive path bytes into a path relative to the layer root.
///
/// Leading `/` are stripped (absolute paths land inside the root, as with Docker and
/// containerd), empty and `.` components are dropped, and `..` pops a component; a `..`
/// that would climb above the root is [`UnpackError::Escape`]. The empty result is the root.
pub(super) fn normalize(raw: &[u8], limits: &Limits) -> Result<PathBuf, UnpackError> {
    let shown = || PathBuf::from(OsStr::from_bytes(raw));
    if raw.len() > limits.max_path_len {
        return Err(UnpackError::PathTooLong {
            path: shown(),
            len: raw.len(),
            max: limits.max_path_len,
        });
    }
    if raw.contains(&0) {
        return Err(UnpackError::invalid(&shown(), "path contains a NUL byte"));
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(UnpackError::Escape { path: shown() });
                }
            }
            name => parts.push(name),
        }
    }
    if parts.len() > limits.max_path_depth {
        return Err(UnpackError::PathTooDeep {
            path: shown(),
            depth: parts.len(),
            max: limits.max_path_depth,
        });
    }
    let mut out = PathBuf::new();
    for part in parts {
        out.push(OsStr::from_bytes(part));
    }
    Ok(out)
}

/// Splits a normalised, non-root path into its parent (possibly empty) and final name.
pub(super) fn split(rel: &Path) -> (&Path, &OsStr) {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().unwrap_or(OsStr::new("."));
    (parent, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<PathBuf, UnpackError> {
        normalize(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn strips_root_and_dots() {
        assert_eq!(norm("/abs/./path/").unwrap(), PathBuf::from("abs/path"));
        assert_eq!(norm("./a//b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(norm("a/../b").unwrap(), PathBuf::from("b"));
        assert_eq!(norm("./").unwrap(), PathBuf::new());
    }

    #[test]
    fn rejects_climbing() {
        assert!(matches!(norm("../x"), Err(UnpackError::Escape { .. })));
        assert!(matches!(norm("a/../../x"), Err(UnpackError::Escape { .. })));
        assert!(matches!(norm("/.."), Err(UnpackError::Escape { .. })));
    }

    #[test]
    fn rejects_nul_and_limits() {
        assert!(matches!(
            norm("a\0b"),
            Err(UnpackError::InvalidEntry { .. })
        ));
        let limits = Limits {
            max_path_len: 8,
            max_path_depth: 2,
            ..Limits::default()
        };
        let long = normalize(b"123456789", &limits);
        assert!(matches!(
            long,
            Err(UnpackError::PathTooLong { len: 9, max: 8, .. })
        ));
        let deep = normalize(b"a/b/c", &limits);
        assert!(matches!(
            deep,
            Err(UnpackError::PathTooDeep {
                depth: 3,
                max: 2,
                ..
            })
        ));
    }

    #[test]
    fn splits() {
        assert_eq!(
            split(Path::new("a/b/c")),
            (Path::new("a/b"), OsStr::new("c"))
        );
        assert_eq!(split(Path::new("c")), (Path::new(""), OsStr::new("c")));
    }
}
