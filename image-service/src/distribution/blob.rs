//! Resumable blob download.
//!
//! Layers are large and connections drop. Each (re)open asks oci-client for
//! `Range: bytes=<received>-` via `pull_blob_stream_partial`; a server that
//! ignores the range (200 instead of 206) has its first `<received>` bytes
//! skipped here. Failures without progress are retried `max_retries` times
//! with exponential backoff, and reported to the caller as
//! [`BlobChunk::Retrying`] so the UI can show them.
//!
//! Mirrors: the download starts at the registry's first mirror. A mirror that cannot open
//! the blob, or fails for good mid-way, hands over to the next endpoint at the same offset
//! (the registry itself last), since a blob's bytes are the same wherever they come from and
//! the caller's digest check covers the whole.
//!
//! When the server ignores the range, oci-client hands back a verifying
//! stream (`BlobResponse::Full`); that is the only case where the bytes get
//! hashed twice, and the only case where a digest error can come out of the
//! body — it is reported as [`DistributionError::DigestMismatch`].

use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt as _;
use oci_client::client::BlobResponse;
use oci_client::errors::DigestError;
use oci_client::manifest::OciDescriptor;
use tracing::Instrument as _;

use super::mirrors::Endpoint;
use super::{
    map_oci_error, mirror_failed, BlobChunk, Descriptor, DistributionError, Reference,
    RegistryClient,
};

type Body = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// State of one blob download.
struct BlobReader {
    client: RegistryClient,
    reference: Reference,
    desc: Descriptor,
    /// The registry's mirrors, then the registry; never empty.
    endpoints: Vec<Endpoint>,
    /// The one in use.
    endpoint: usize,
    /// Bytes handed to the caller so far.
    received: u64,
    /// Retries since the last progress.
    attempt: u32,
    body: Option<Body>,
    /// Bytes still to drop from a 200 answer to a ranged request.
    skip: u64,
    /// Sleep before the next open (set after a failure).
    delay: Option<Duration>,
    done: bool,
}

pub(super) fn stream(
    client: RegistryClient,
    reference: Reference,
    desc: Descriptor,
) -> impl futures::Stream<Item = Result<BlobChunk, DistributionError>> + Send + 'static {
    let endpoints = client.endpoints(&reference);
    let reader = BlobReader {
        client,
        reference,
        desc,
        endpoints,
        endpoint: 0,
        received: 0,
        attempt: 0,
        body: None,
        skip: 0,
        delay: None,
        done: false,
    };
    futures::stream::unfold(reader, |mut reader| async move {
        let item = reader.next().await?;
        Some((item, reader))
    })
}

impl BlobReader {
    async fn next(&mut self) -> Option<Result<BlobChunk, DistributionError>> {
        while !self.done {
            match self.step().await {
                Ok(Some(data)) => return Some(Ok(BlobChunk::Data(data))),
                Ok(None) => continue,
                Err(Step::Fatal(e)) => {
                    if self.fall_back(&e) {
                        continue;
                    }
                    self.done = true;
                    return Some(Err(e));
                }
                Err(Step::Retry(e)) => return Some(self.retry(e)),
            }
        }
        None
    }

    /// Opens if needed and reads once. `Ok(None)`: nothing to yield yet.
    async fn step(&mut self) -> Result<Option<Bytes>, Step> {
        if let Some(delay) = self.delay.take() {
            tokio::time::sleep(delay).await;
        }
        if self.body.is_none() {
            let body = match self.open().await {
                // A mirror that cannot open the blob is not retried: the next endpoint is.
                Err(Step::Retry(e)) if self.on_mirror() => return Err(Step::Fatal(e)),
                other => other?,
            };
            self.body = Some(body);
        }
        let Some(body) = self.body.as_mut() else {
            return Ok(None);
        };
        let read_timeout = self.client.inner.cfg.read_timeout;
        match tokio::time::timeout(read_timeout, body.next()).await {
            Err(_) => Err(self.transient(format!("no data for {read_timeout:?}"), None)),
            Ok(Some(Ok(bytes))) => self.accept(bytes),
            Ok(Some(Err(e))) => self.read_error(e),
            Ok(None) => self.end_of_body(),
        }
    }

    /// (Re)opens the download at `self.received`.
    async fn open(&mut self) -> Result<Body, Step> {
        let offset = self.received;
        let span = tracing::info_span!(
            "blob_open",
            reference = %self.reference,
            digest = %self.desc.digest,
            offset,
            attempt = self.attempt
        );
        let endpoint = &self.endpoints[self.endpoint];
        let response = request(&self.client, endpoint, &self.reference, &self.desc, offset)
            .instrument(span)
            .await?;
        let (full, sized) = match response {
            BlobResponse::Full(s) => (true, s),
            BlobResponse::Partial(s) => (false, s),
        };
        // A 200 restarts at byte 0: drop what we already have.
        self.skip = if full { offset } else { 0 };
        Ok(sized.stream)
    }

    /// Handles a chunk: skip for 200-after-range, enforce the size limit.
    fn accept(&mut self, mut bytes: Bytes) -> Result<Option<Bytes>, Step> {
        if self.skip > 0 {
            let n = self.skip.min(bytes.len() as u64);
            self.skip -= n;
            bytes = bytes.slice(n as usize..);
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        let total = self.received + bytes.len() as u64;
        if total > self.desc.size {
            return Err(Step::Fatal(self.size_mismatch(total)));
        }
        self.received = total;
        self.attempt = 0;
        Ok(Some(bytes))
    }

    fn read_error(&mut self, e: std::io::Error) -> Result<Option<Bytes>, Step> {
        if let Some(DigestError::VerificationError { expected, actual }) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DigestError>())
        {
            return Err(Step::Fatal(DistributionError::DigestMismatch {
                expected: expected.clone(),
                actual: actual.clone(),
            }));
        }
        if self.received == self.desc.size {
            // Everything is in hand; a failure after the last byte is moot.
            self.done = true;
            return Ok(None);
        }
        // The outer reqwest error only says "error decoding response body"; its root cause
        // says what happened ("operation timed out" for a stall).
        let msg = super::error::root_cause_message(&e);
        Err(self.transient(msg, Some(Box::new(e))))
    }

    /// A clean end of body is a complete HTTP response (a cut connection
    /// shows up as a read error instead), so ending short is definitive.
    fn end_of_body(&mut self) -> Result<Option<Bytes>, Step> {
        if self.received == self.desc.size {
            self.done = true;
            return Ok(None);
        }
        Err(Step::Fatal(self.size_mismatch(self.received)))
    }

    fn transient(&mut self, message: String, source: Option<super::BoxError>) -> Step {
        self.body = None;
        Step::Retry(DistributionError::Unreachable {
            registry: self.reference.registry().to_string(),
            message,
            source,
        })
    }

    /// Whether the endpoint in use is a mirror (so there is another after it).
    fn on_mirror(&self) -> bool {
        self.endpoint + 1 < self.endpoints.len()
    }

    /// Moves on to the next endpoint after a mirror failed for good; false on the registry
    /// itself, whose failure is the download's.
    fn fall_back(&mut self, error: &DistributionError) -> bool {
        if !self.on_mirror() {
            return false;
        }
        mirror_failed(&self.endpoints[self.endpoint], &self.reference, error);
        self.endpoint += 1;
        self.attempt = 0;
        self.body = None;
        self.delay = None;
        true
    }

    /// Schedules a reopen, or gives up after `max_retries` (on a mirror: falls back).
    fn retry(&mut self, error: DistributionError) -> Result<BlobChunk, DistributionError> {
        self.body = None;
        if self.attempt >= self.client.inner.cfg.max_retries && !self.fall_back(&error) {
            self.done = true;
            return Err(error);
        }
        self.attempt += 1;
        self.delay = Some(self.client.backoff(self.attempt));
        tracing::warn!(
            reference = %self.reference,
            digest = %self.desc.digest,
            offset = self.received,
            attempt = self.attempt,
            %error,
            "blob download interrupted, resuming"
        );
        Ok(BlobChunk::Retrying {
            attempt: self.attempt,
            offset: self.received,
            error: error.to_string(),
        })
    }

    fn size_mismatch(&self, actual: u64) -> DistributionError {
        DistributionError::SizeMismatch {
            digest: self.desc.digest.clone(),
            expected: self.desc.size,
            actual,
        }
    }
}

/// One ranged GET through oci-client (free function: `BlobReader` is not `Sync`).
async fn request(
    client: &RegistryClient,
    endpoint: &Endpoint,
    reference: &Reference,
    desc: &Descriptor,
    offset: u64,
) -> Result<BlobResponse, Step> {
    let session = client
        .session(reference, endpoint)
        .await
        .map_err(Step::classify)?;
    let oci_desc = OciDescriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.clone(),
        size: i64::try_from(desc.size).unwrap_or(i64::MAX),
        urls: (!desc.urls.is_empty()).then(|| desc.urls.clone()),
        ..Default::default()
    };
    session
        .oci
        .pull_blob_stream_partial(&session.oci_ref, &oci_desc, offset, None)
        .await
        .map_err(|e| Step::classify(map_oci_error(e, reference, Some(&desc.digest))))
}

/// Outcome of a failed step.
enum Step {
    Fatal(DistributionError),
    /// Worth reopening at the current offset.
    Retry(DistributionError),
}

impl Step {
    fn classify(e: DistributionError) -> Step {
        if e.is_retryable() {
            Step::Retry(e)
        } else {
            Step::Fatal(e)
        }
    }
}
