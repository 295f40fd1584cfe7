//! The properties each fuzz target asserts, one function per parser. Shared with the
//! stable corpus replay test (`image-service/tests/fuzz_corpus.rs` includes this file by
//! path), so CI checks the saved corpus with exactly the fuzzers' assertions.
//!
//! Every function takes arbitrary bytes and panics if the parser panics, answers with an
//! error class it should never produce for bad input, or accepts input that breaks the
//! parsed value's invariants.

use std::io::Cursor;
use std::path::Path;

use ferry_image_service::distribution::{
    parse_manifest, validate_digest, DistributionError, Manifest, Reference,
};
use ferry_image_service::images::{chain_ids, ImageConfig};
use ferry_image_service::unpack::{apply_layer, decompressor, Compression, Limits, UnpackError};
use ferry_image_service::Error;

/// Digest the config parser is told it is reading (only used in messages).
const CONFIG_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// `Reference::parse`: only `InvalidReference`; an accepted reference prints as a string
/// that parses back to itself.
pub fn reference(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Reference::parse(s) {
        Ok(r) => {
            let printed = r.to_string();
            let again = Reference::parse(&printed)
                .unwrap_or_else(|e| panic!("{s:?} parsed as {printed:?}, which fails: {e}"));
            assert_eq!(again, r, "{s:?} does not round-trip through {printed:?}");
        }
        Err(DistributionError::InvalidReference { .. }) => {}
        Err(e) => panic!("reference {s:?}: unexpected error {e:?}"),
    }
}

/// `parse_manifest(content_type, body)`, the content type being the input's first line
/// (empty if there is no newline): only `InvalidManifest` or `UnsupportedMediaType`; an
/// accepted manifest has valid digests and an image manifest has layers.
pub fn manifest(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (String::new(), data),
    };
    match parse_manifest(&content_type, body) {
        Ok(Manifest::Index { manifests, .. }) => {
            for d in &manifests {
                assert!(validate_digest(&d.digest).is_ok(), "index entry {d:?}");
            }
        }
        Ok(Manifest::Image { config, layers, .. }) => {
            assert!(!layers.is_empty(), "image manifest without layers accepted");
            for d in std::iter::once(&config).chain(&layers) {
                assert!(validate_digest(&d.digest).is_ok(), "descriptor {d:?}");
            }
        }
        Err(DistributionError::InvalidManifest { .. })
        | Err(DistributionError::UnsupportedMediaType { .. }) => {}
        Err(e) => panic!("manifest ({content_type:?}): unexpected error {e:?}"),
    }
}

/// `ImageConfig::parse`: only `InvalidConfig`; an accepted config has rootfs type
/// "layers" and sha256 diff IDs, and its creation time and chain IDs compute.
pub fn config(data: &[u8]) {
    match ImageConfig::parse(CONFIG_DIGEST, data) {
        Ok(cfg) => {
            assert_eq!(cfg.rootfs.kind, "layers");
            for d in &cfg.rootfs.diff_ids {
                assert!(validate_digest(d).is_ok(), "diff_id {d:?} accepted");
            }
            let _ = cfg.created_unix();
            assert_eq!(
                chain_ids(&cfg.rootfs.diff_ids).len(),
                cfg.rootfs.diff_ids.len()
            );
        }
        Err(Error::InvalidConfig { .. }) => {}
        Err(e) => panic!("config: unexpected error {e:?}"),
    }
}

/// Limits small enough that a fuzz input can hit them.
pub fn fuzz_limits() -> Limits {
    Limits {
        max_path_len: 1024,
        max_path_depth: 32,
        max_entries: 1000,
        max_xattr_bytes: 64 * 1024,
    }
}

/// `apply_layer` of the input (first byte: 0 plain tar, 1 gzip, 2 zstd; the rest is
/// the layer) into an empty directory: only errors that describe a bad layer (or a
/// layer whose entries conflict with each other), and nothing written outside the
/// layer directory.
pub fn tar(data: &[u8]) {
    let Some((&kind, layer)) = data.split_first() else {
        return;
    };
    let compression = match kind % 3 {
        0 => Compression::None,
        1 => Compression::Gzip,
        _ => Compression::Zstd,
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dest = tmp.path().join("layer");
    std::fs::create_dir(&dest).expect("create the layer directory");
    let result = decompressor(Cursor::new(layer), compression)
        .and_then(|r| apply_layer(r, &dest, &fuzz_limits()));
    if let Err(e) = &result {
        assert!(expected_unpack_error(e), "tar: unexpected error {e:?}");
    }
    assert_only_child(tmp.path(), "layer");
}

fn expected_unpack_error(e: &UnpackError) -> bool {
    match e {
        UnpackError::Escape { .. }
        | UnpackError::InvalidEntry { .. }
        | UnpackError::BareWhiteout { .. }
        | UnpackError::PathTooLong { .. }
        | UnpackError::PathTooDeep { .. }
        | UnpackError::TooManyEntries { .. }
        | UnpackError::UnsupportedEntry { .. }
        | UnpackError::Tar { .. } => true,
        // Entries of one layer that contradict each other ("a" a file, then "a/b").
        UnpackError::Io { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::ENOTDIR | libc::EEXIST | libc::ENOTEMPTY | libc::EISDIR | libc::ELOOP)
        ),
        UnpackError::NoSpace { .. } => false,
    }
}

/// Extraction wrote nothing beside the layer directory.
fn assert_only_child(dir: &Path, name: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .expect("read the temporary directory")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    assert_eq!(
        names,
        [name],
        "extraction wrote outside the layer directory"
    );
}
