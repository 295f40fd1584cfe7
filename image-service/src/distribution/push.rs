//! The registry side of a push: HEAD a blob, mount it from another repository, upload it
//! in chunks, PUT the manifest.
//!
//! Uploads go through oci-client's `push_blob_stream`: it takes a stream and sends it as a
//! chunked upload (POST, then one PATCH per chunk of at most 4 MiB, then PUT `?digest=`), so a
//! layer is never held whole in memory, and it negotiates the push-scoped token. HEAD and
//! mount are our own requests because oci-client's `blob_exists` turns a 401 into a transport
//! error and its `mount_blob` treats the spec's "202: not mounted, upload instead" as an error
//! we could not tell from a refusal. The manifest goes through `push_manifest_raw`, which sends
//! our bytes as they are, so the digest stays the one the image was pulled as.

use bytes::Bytes;
use futures::Stream;
use oci_client::secrets::RegistryAuth;
use oci_client::RegistryOperation;

use super::{
    check_status, credentials, map_oci_error, DistributionError, Reference, RegistryClient,
    RequestAuth,
};

/// One repository opened for a push: a client holding a push-scoped token.
#[derive(Clone)]
pub struct PushTarget {
    reference: Reference,
    base_url: String,
    http: reqwest::Client,
    oci: oci_client::Client,
    oci_ref: oci_client::Reference,
    auth: RequestAuth,
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// What a mount request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    Mounted,
    /// The registry declined (no such blob there, or no access): upload instead.
    Declined,
}

impl RegistryClient {
    /// Opens `r`'s repository for a push. A fresh oci-client each time: its token cache is
    /// keyed by operation, and credentials may have changed since the last `ferry login`.
    /// Pushes go to the registry itself, never to a pull mirror.
    pub async fn push_target(&self, r: &Reference) -> Result<PushTarget, DistributionError> {
        let credentials = credentials(r.registry()).await?;
        let host = r.api_host();
        let oci = self.new_oci_client(self.is_plain_http(host))?;
        let tag = r.tag().unwrap_or("latest").to_string();
        let oci_ref =
            oci_client::Reference::with_tag(host.to_string(), r.repository().to_string(), tag);
        let registry_auth = match &credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
            None => RegistryAuth::Anonymous,
        };
        let token = oci
            .auth(&oci_ref, &registry_auth, RegistryOperation::Push)
            .await
            .map_err(|e| map_oci_error(e, r, None))?;
        let auth = match (token, credentials) {
            (Some(token), _) => RequestAuth::Bearer(token),
            (None, Some(c)) => RequestAuth::Basic(c.username, c.password),
            (None, None) => RequestAuth::None,
        };
        let scheme = if self.is_plain_http(host) {
            "http"
        } else {
            "https"
        };
        Ok(PushTarget {
            reference: r.clone(),
            base_url: format!("{scheme}://{host}/v2/{}", r.repository()),
            http: self.inner.http.clone(),
            oci,
            oci_ref,
            auth,
        })
    }
}

impl PushTarget {
    /// The repository (and tag) being pushed to.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// Whether the repository already has `digest` (HEAD; 404 means no).
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, DistributionError> {
        let url = format!("{}/blobs/{digest}", self.base_url);
        let response = self.send(self.http.head(&url)).await?;
        if response.status() == http::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(response.status(), &self.reference, Some(digest))?;
        Ok(true)
    }

    /// Asks the registry to link `digest` from repository `from` (same registry) into ours:
    /// 201 means done; 202 means the registry opened an upload instead, which we abandon.
    pub async fn mount(&self, digest: &str, from: &str) -> Result<Mount, DistributionError> {
        let url = format!("{}/blobs/uploads/", self.base_url);
        let request = self
            .http
            .post(&url)
            .query(&[("mount", digest), ("from", from)])
            .header(http::header::CONTENT_LENGTH, 0);
        let status = self.send(request).await?.status();
        if status == http::StatusCode::CREATED {
            return Ok(Mount::Mounted);
        }
        if status.is_server_error() {
            check_status(status, &self.reference, Some(digest))?;
        }
        tracing::debug!(%digest, %from, %status, "mount declined");
        Ok(Mount::Declined)
    }

    /// Uploads a blob from `data` (a chunked upload: never the whole blob in memory).
    pub async fn upload<S>(&self, digest: &str, size: u64, data: S) -> Result<(), DistributionError>
    where
        S: Stream<Item = Result<Bytes, oci_client::errors::OciDistributionError>> + Send + 'static,
    {
        self.oci
            .push_blob_stream(&self.oci_ref, data, digest, Some(size))
            .await
            .map_err(|e| map_oci_error(e, &self.reference, Some(digest)))?;
        Ok(())
    }

    /// PUTs the manifest under the target's tag, byte for byte.
    pub async fn put_manifest(
        &self,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<(), DistributionError> {
        let content_type = http::HeaderValue::from_str(media_type)
            .map_err(|_| DistributionError::protocol(format!("bad media type {media_type:?}")))?;
        self.oci
            .push_manifest_raw(&self.oci_ref, bytes, content_type)
            .await
            .map_err(|e| map_oci_error(e, &self.reference, None))?;
        Ok(())
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DistributionError> {
        self.auth
            .apply(request)
            .send()
            .await
            .map_err(|e| DistributionError::unreachable(self.reference.registry(), e))
    }
}
