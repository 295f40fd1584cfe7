//! Errors of the distribution module.
//!
//! One variant per cause, each holding the offending value, so the gRPC layer
//! can map them to status codes (`Unreachable` → `Unavailable`, `Unauthorized`
//! → `PermissionDenied`/`NotFound`, …) and the CLI can print Docker's wording.

use std::path::PathBuf;

/// Boxed underlying error, kept as `#[source]` where there is one.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while resolving and fetching an image.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The image reference does not follow the distribution grammar.
    #[error("invalid reference format{}", reason_suffix(.reason))]
    InvalidReference {
        /// The reference as given by the user.
        reference: String,
        /// Empty for a plain grammar error (Docker prints no detail then).
        reason: String,
    },

    /// A `--platform` value that cannot be parsed.
    #[error("invalid platform {platform:?}: {reason}")]
    InvalidPlatform {
        /// The value as given.
        platform: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A `--registry-mirror` value that is neither `URL` nor `REGISTRY=URL`.
    #[error("invalid registry mirror {value:?}: {reason}")]
    InvalidMirror {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Connection refused, DNS, TLS, timeouts, 5xx after retries.
    #[error("cannot reach registry {registry}: {message}")]
    Unreachable {
        /// Registry host (with port).
        registry: String,
        /// Short description of the root cause (e.g. "connection refused").
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// 401 from the registry.
    #[error("pull access denied for {reference}, repository does not exist or may require 'docker login'")]
    Unauthorized {
        /// Familiar name of the repository.
        reference: String,
    },

    /// 403 from the registry.
    #[error("access to {reference} denied by the registry")]
    Denied {
        /// Familiar name of the repository.
        reference: String,
    },

    /// 404 on a manifest.
    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestNotFound {
        /// The reference as `name:tag` or `name@digest`.
        reference: String,
    },

    /// 404 on a blob.
    #[error("blob {digest} not found: blob unknown to registry")]
    BlobNotFound {
        /// Digest of the missing blob.
        digest: String,
    },

    /// A manifest larger than [`super::MAX_MANIFEST_BYTES`].
    #[error("manifest too large: {size} bytes or more, maximum is {max}")]
    ManifestTooLarge {
        /// Announced size, or the number of bytes read when we stopped.
        size: u64,
        /// The cap.
        max: u64,
    },

    /// Schema 1, or a media type we do not know.
    #[error("unsupported manifest media type {media_type}{}", reason_suffix(.detail))]
    UnsupportedMediaType {
        /// The media type as received.
        media_type: String,
        /// Extra explanation (may be empty).
        detail: String,
    },

    /// Content does not hash to the digest it was requested by.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Digest the content was requested by.
        expected: String,
        /// Digest of what was received.
        actual: String,
    },

    /// A blob longer or shorter than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// Digest of the blob.
        digest: String,
        /// Size from the descriptor.
        expected: u64,
        /// Bytes received (for "too long": at least this many).
        actual: u64,
    },

    /// A blob refused before any request because it exceeds the caller's cap.
    #[error("blob {digest} too large: {size} bytes, maximum is {max}")]
    BlobTooLarge {
        /// Digest of the blob.
        digest: String,
        /// Size from the descriptor.
        size: u64,
        /// The caller's cap.
        max: u64,
    },

    /// The index has no manifest for the requested platform.
    #[error("no matching manifest for {wanted} in the manifest list entries (available: {})", available.join(", "))]
    NoMatchingPlatform {
        /// The wanted platform, e.g. `linux/arm64/v8`.
        wanted: String,
        /// Platforms the index offers.
        available: Vec<String>,
    },

    /// `--platform` asked for one platform and the reference names a single image of another.
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        /// The reference pulled.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The image's own (its config's).
        actual: String,
    },

    /// A manifest that parses but breaks the spec (bad digest, negative size…).
    #[error("invalid manifest: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },

    /// Unexpected status, bad header, transport error in mid-body we cannot classify.
    #[error("registry protocol error: {reason}")]
    Protocol {
        /// What happened.
        reason: String,
    },

    /// A `docker-credential-*` helper that config.json names failed (not "not found").
    #[error("error getting credentials from {helper}: {reason}")]
    CredentialHelper {
        /// The program run.
        helper: String,
        /// Its exit status and what it said, or why it could not run.
        reason: String,
    },

    /// A Docker `config.json` that cannot be read or parsed.
    #[error("cannot read docker config {}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

impl DistributionError {
    /// Whether retrying the same request later may succeed (network trouble,
    /// 5xx, truncated bodies), as opposed to a definitive answer.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    pub(crate) fn unreachable(registry: &str, source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self::Unreachable {
            registry: registry.to_string(),
            message: root_cause_message(source.as_ref()),
            source: Some(source),
        }
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Self::Protocol {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_manifest(reason: impl Into<String>) -> Self {
        Self::InvalidManifest {
            reason: reason.into(),
        }
    }
}

/// Short, user-facing description of the innermost cause of a transport
/// error: "connection refused", "operation timed out", "dns error: …".
pub(crate) fn root_cause_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    if let Some(io) = last.downcast_ref::<std::io::Error>() {
        match io.kind() {
            std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
            std::io::ErrorKind::TimedOut => return "operation timed out".into(),
            _ => {}
        }
    }
    let text = last.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else if text.is_empty() {
        err.to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_docker_wording() {
        let e = DistributionError::InvalidReference {
            reference: "a".into(),
            reason: String::new(),
        };
        assert_eq!(e.to_string(), "invalid reference format");
        let e = DistributionError::InvalidReference {
            reference: "Busybox".into(),
            reason: "repository name (library/Busybox) must be lowercase".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        let e = DistributionError::Unreachable {
            registry: "127.0.0.1:1".into(),
            message: "connection refused".into(),
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "cannot reach registry 127.0.0.1:1: connection refused"
        );
        assert!(e.is_retryable());
    }
}
