//! Registry access (distribution spec v2): references, credentials,
//! manifests and the registry client used by the pull service.
//!
//! Design choices:
//! - A pull's requests (manifests, blobs) are our own `reqwest` GETs
//!   (`transport.rs`), not oci-client's: oci-client learns auth only from a
//!   ping of `/v2/`, so a registry that answers it 200 and challenges a
//!   repository later could not be pulled from, and its manifest GET reads
//!   the whole body with no limit. Ours answer any challenge from the
//!   endpoint, stop reading a manifest past [`MAX_MANIFEST_BYTES`], and
//!   always ask for a blob with `Range: bytes=<offset>-` so a resume is the
//!   same request as a start.
//! - oci-client still does the push side (`push.rs`): one fresh client per
//!   push, since a client keeps the first credentials it saw forever.
//! - Redirects (blob downloads are usually redirected to a CDN or object
//!   store) are followed by reqwest's default policy, which drops
//!   `Authorization` (and cookies) when the scheme, host or port changes:
//!   see `remove_sensitive_headers` in reqwest 0.13 `src/redirect.rs`. So
//!   registry credentials and tokens never reach another host, and a
//!   challenge from another host is never answered.

mod auth;
mod blob;
mod error;
mod login;
mod manifest;
mod mirrors;
mod push;
mod rate;
mod reference;
mod transport;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use oci_client::errors::{OciDistributionError, OciErrorCode};

use mirrors::Endpoint;
use transport::{AuthCache, RequestAuth};

pub use auth::{
    credential_source_from, credentials, docker_config_path, CredentialSource, Credentials,
};
pub use error::{BoxError, DistributionError};
pub use login::{parse_challenge, Challenge, SearchHit};
pub use manifest::{
    parse_manifest, platform_serves, select_platform, sha256_digest, validate_digest, Descriptor,
    Manifest, Platform, ACCEPTED_MEDIA_TYPES, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST,
};
pub use mirrors::Mirror;
pub use push::{Mount, PushTarget};
pub use rate::RateFloor;
pub use reference::Reference;

const USER_AGENT: &str = concat!("ferry/", env!("CARGO_PKG_VERSION"));
/// Upper bound for one backoff sleep.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Network settings of the registry client.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Extra plain-HTTP registries ("host:port"); loopback ones always are.
    pub insecure: Vec<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Stall timeout: the longest wait for the next bytes of a response.
    pub read_timeout: Duration,
    /// The least a blob's connection must move (a drip never stalls).
    pub rate_floor: RateFloor,
    /// Retries after a network error, 5xx or stalled/truncated blob.
    pub max_retries: u32,
    /// First backoff; doubles at each retry (capped at 30 s).
    pub retry_backoff: Duration,
    /// Pull mirrors (`--registry-mirror`), per registry: a pull tries its registry's mirrors
    /// in this order, then the registry itself.
    pub mirrors: Vec<Mirror>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            insecure: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            rate_floor: RateFloor::default(),
            max_retries: 5,
            retry_backoff: Duration::from_secs(1),
            mirrors: Vec::new(),
        }
    }
}

/// One event of [`RegistryClient::blob_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobChunk {
    /// The next bytes of the blob, in order.
    Data(Bytes),
    /// The connection failed; the download resumes at `offset`.
    Retrying {
        /// 1 for the first retry since the last progress.
        attempt: u32,
        /// Bytes received so far.
        offset: u64,
        /// What went wrong.
        error: String,
    },
}

/// A manifest as fetched: parsed form plus the exact bytes and their digest.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// Parsed manifest.
    pub manifest: Manifest,
    /// Raw bytes (what the digest covers).
    pub bytes: Bytes,
    /// Effective media type.
    pub media_type: String,
    /// `sha256:` of `bytes`.
    pub digest: String,
}

/// Client for distribution-spec registries. Cheap to clone; clones share
/// connection pools, token caches and credentials.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: RegistryConfig,
    /// Every pull request (and login's, search's, push's own ones).
    http: reqwest::Client,
    /// What each (host, repository) asked for, learned from its challenges.
    auth: AuthCache,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Builds the client. Fails only if the TLS stack cannot be set up.
    pub fn new(cfg: RegistryConfig) -> Result<Self, DistributionError> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| DistributionError::protocol(format!("cannot build HTTP client: {e}")))?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                auth: AuthCache::default(),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.cfg
    }

    /// Fetches the manifest `r` points at (by digest when it has one, else by
    /// tag) and verifies it against `r`'s digest.
    #[tracing::instrument(skip(self, r), fields(reference = %r, digest = r.digest()))]
    pub async fn fetch_manifest(
        &self,
        r: &Reference,
    ) -> Result<FetchedManifest, DistributionError> {
        let mut endpoints = self.endpoints(r);
        let origin = endpoints
            .pop()
            .expect("the registry itself is always an endpoint");
        // A mirror gets one try: a dead or incomplete one must not cost the retries' backoff
        // before the registry is asked.
        for mirror in &endpoints {
            match self.get_verified_manifest(r, mirror).await {
                Ok(fetched) => return Ok(fetched),
                Err(e) => mirror_failed(mirror, r, &e),
            }
        }
        self.retrying(|| self.get_verified_manifest(r, &origin))
            .await
    }

    /// Fetches the manifest `digest` of `r`'s repository (e.g. an index
    /// child) and verifies its digest.
    pub async fn fetch_manifest_by_digest(
        &self,
        r: &Reference,
        digest: &str,
    ) -> Result<FetchedManifest, DistributionError> {
        validate_digest(digest)?;
        self.fetch_manifest(&r.with_digest(digest)).await
    }

    /// Downloads a small blob (an image config) into memory: refuses
    /// `desc.size > max` up front, reads at most `desc.size` bytes and
    /// verifies the digest.
    #[tracing::instrument(skip(self, r, desc), fields(reference = %r, digest = %desc.digest))]
    pub async fn fetch_blob_bytes(
        &self,
        r: &Reference,
        desc: &Descriptor,
        max: usize,
    ) -> Result<Bytes, DistributionError> {
        if desc.size > max as u64 {
            return Err(DistributionError::BlobTooLarge {
                digest: desc.digest.clone(),
                size: desc.size,
                max: max as u64,
            });
        }
        let mut buf = BytesMut::with_capacity(usize::try_from(desc.size).unwrap_or(max));
        let mut stream = std::pin::pin!(self.blob_stream(r, desc));
        while let Some(chunk) = stream.next().await {
            if let BlobChunk::Data(data) = chunk? {
                buf.extend_from_slice(&data);
            }
        }
        let bytes = buf.freeze();
        verify_digest(&desc.digest, &sha256_digest(&bytes))?;
        Ok(bytes)
    }

    /// Streams a blob with resume on failure; see [`BlobChunk`]. The digest is
    /// not verified here: the caller hashes while writing.
    pub fn blob_stream(
        &self,
        r: &Reference,
        desc: &Descriptor,
    ) -> impl futures::Stream<Item = Result<BlobChunk, DistributionError>> + Send + 'static {
        blob::stream(self.clone(), r.clone(), desc.clone())
    }

    /// Retries `op` on retryable errors with exponential backoff.
    async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, DistributionError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DistributionError>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if e.is_retryable() && attempt < self.inner.cfg.max_retries => {
                    attempt += 1;
                    let delay = self.backoff(attempt);
                    tracing::warn!(error = %e, attempt, ?delay, "registry request failed, retrying");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// `retry_backoff * 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.inner
            .cfg
            .retry_backoff
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// Whether `registry` is spoken to in plain HTTP (loopback, configured insecure, or an
    /// `http://` mirror's host), as Docker does by default for 127.0.0.0/8.
    fn is_plain_http(&self, registry: &str) -> bool {
        let http_mirror = |m: &Mirror| m.plain_http() && m.host() == registry;
        self.inner.cfg.insecure.iter().any(|h| h == registry)
            || self.inner.cfg.mirrors.iter().any(http_mirror)
            || is_loopback_host(registry)
    }

    /// Where `r`'s v2 API is served: its registry's mirrors, then the registry, always last.
    fn endpoints(&self, r: &Reference) -> Vec<Endpoint> {
        let plain_http = self.is_plain_http(r.api_host());
        mirrors::endpoints(
            &self.inner.cfg.mirrors,
            r.registry(),
            r.api_host(),
            plain_http,
        )
    }

    /// [`Self::get_manifest`], its digest checked against `r`'s.
    async fn get_verified_manifest(
        &self,
        r: &Reference,
        endpoint: &Endpoint,
    ) -> Result<FetchedManifest, DistributionError> {
        let fetched = self.get_manifest(r, endpoint).await?;
        if let Some(expected) = r.digest() {
            verify_digest(expected, &fetched.digest)?;
        }
        tracing::debug!(digest = %fetched.digest, media_type = %fetched.media_type, host = %endpoint.host, "fetched manifest");
        Ok(fetched)
    }

    /// One manifest GET, bounded by [`MAX_MANIFEST_BYTES`].
    async fn get_manifest(
        &self,
        r: &Reference,
        endpoint: &Endpoint,
    ) -> Result<FetchedManifest, DistributionError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            endpoint.base_url(),
            r.repository(),
            r.tag_or_digest()
        );
        let accept = ACCEPTED_MEDIA_TYPES.join(", ");
        let get = |http: &reqwest::Client| http.get(&url).header(http::header::ACCEPT, &accept);
        let response = self.authed_get(r, endpoint, get).await?;
        check_status(response.status(), r, None)?;
        let content_type = header_str(&response, http::header::CONTENT_TYPE);
        let bytes = read_capped(response, r).await?;
        let manifest = parse_manifest(&content_type, &bytes)?;
        Ok(FetchedManifest {
            media_type: manifest.media_type().to_string(),
            digest: sha256_digest(&bytes),
            manifest,
            bytes,
        })
    }

    fn new_oci_client(&self, plain_http: bool) -> Result<oci_client::Client, DistributionError> {
        let cfg = &self.inner.cfg;
        let protocol = if plain_http {
            oci_client::client::ClientProtocol::Http
        } else {
            oci_client::client::ClientProtocol::Https
        };
        let config = oci_client::client::ClientConfig {
            protocol,
            read_timeout: Some(cfg.read_timeout),
            connect_timeout: Some(cfg.connect_timeout),
            user_agent: USER_AGENT,
            platform_resolver: None,
            ..Default::default()
        };
        // `Client::new` silently falls back to a default config on error.
        oci_client::Client::try_from(config)
            .map_err(|e| DistributionError::protocol(format!("cannot build registry client: {e}")))
    }
}

/// "localhost", 127.0.0.0/8 and ::1, with or without port.
fn is_loopback_host(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => registry.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn verify_digest(expected: &str, actual: &str) -> Result<(), DistributionError> {
    if expected == actual {
        Ok(())
    } else {
        Err(DistributionError::DigestMismatch {
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn header_str(response: &reqwest::Response, name: http::header::HeaderName) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Reads a manifest body, refusing it as soon as it exceeds the cap (by
/// `Content-Length` or by bytes actually received).
async fn read_capped(
    mut response: reqwest::Response,
    r: &Reference,
) -> Result<Bytes, DistributionError> {
    let max = MAX_MANIFEST_BYTES as u64;
    let too_large = |size: u64| DistributionError::ManifestTooLarge { size, max };
    if let Some(len) = response.content_length().filter(|len| *len > max) {
        return Err(too_large(len));
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| DistributionError::unreachable(r.registry(), e))?
    {
        let size = (buf.len() + chunk.len()) as u64;
        if size > max {
            return Err(too_large(size));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Maps an HTTP status to our errors; `blob` is the digest for blob requests.
fn check_status(
    status: http::StatusCode,
    r: &Reference,
    blob: Option<&str>,
) -> Result<(), DistributionError> {
    if status.is_success() {
        return Ok(());
    }
    Err(status_error(status.as_u16(), r, blob, ""))
}

fn status_error(code: u16, r: &Reference, blob: Option<&str>, message: &str) -> DistributionError {
    match (code, blob) {
        (401, _) => DistributionError::Unauthorized {
            reference: r.familiar_name(),
        },
        (403, _) => DistributionError::Denied {
            reference: r.familiar_name(),
        },
        (404, Some(digest)) => DistributionError::BlobNotFound {
            digest: digest.to_string(),
        },
        (404, None) => DistributionError::ManifestNotFound {
            reference: r.familiar_string(),
        },
        (500..=599, _) => DistributionError::Unreachable {
            registry: r.registry().to_string(),
            message: format!("server error {code} {}", message.trim())
                .trim_end()
                .to_string(),
            source: None,
        },
        _ => {
            DistributionError::protocol(format!("unexpected HTTP status {code} {}", message.trim()))
        }
    }
}

/// Maps oci-client errors (auth and blob requests) to ours.
fn map_oci_error(e: OciDistributionError, r: &Reference, blob: Option<&str>) -> DistributionError {
    use OciDistributionError as E;
    match e {
        E::RequestError(e) => DistributionError::unreachable(r.registry(), e),
        E::IoError(e) => DistributionError::unreachable(r.registry(), e),
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => {
            DistributionError::Unauthorized {
                reference: r.familiar_name(),
            }
        }
        E::ServerError { code, message, .. } => status_error(code, r, blob, &message),
        E::RegistryError { envelope, .. } => {
            let code = envelope.errors.first().map(|e| &e.code);
            let status = match code {
                Some(OciErrorCode::Unauthorized) => 401,
                Some(OciErrorCode::Denied) => 403,
                Some(
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound,
                ) => 404,
                _ => 400,
            };
            status_error(status, r, blob, &envelope.to_string())
        }
        other => DistributionError::protocol(other.to_string()),
    }
}

/// Logs why a mirror did not serve `r`; the caller moves on to the next endpoint.
fn mirror_failed(mirror: &Endpoint, r: &Reference, error: &DistributionError) {
    tracing::warn!(
        mirror = %mirror.host,
        reference = %r,
        %error,
        "registry mirror failed, trying the next endpoint"
    );
}
