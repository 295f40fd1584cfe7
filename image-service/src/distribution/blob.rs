//! Resumable blob download.
//!
//! Layers are large and connections drop. Each (re)open is a GET with
//! `Range: bytes=<received>-` (through `transport.rs`, which answers challenges); a server
//! that ignores the range (200 instead of 206) has its first `<received>` bytes
//! skipped here. Failures are retried `max_retries` times with exponential backoff, and
//! reported to the caller as [`BlobChunk::Retrying`] so the UI can show them; a connection
//! that brought a rate window's worth of bytes ([`RateFloor::healthy_progress`]) starts the
//! count again, a drip's few bytes do not.
//!
//! Two bounds end a connection (and so resume it): the stall timeout (no bytes at all for
//! `read_timeout`), and the rate floor (`rate.rs`: under `min` bytes a second over a window),
//! since a registry sending a byte every few seconds never stalls.
//!
//! Mirrors: the download starts at the registry's first mirror. A mirror that cannot open
//! the blob, or fails for good mid-way, hands over to the next endpoint at the same offset
//! (the registry itself last), since a blob's bytes are the same wherever they come from and
//! the caller's digest check covers the whole.
//!
//! A descriptor's `urls` (foreign layers) are tried, in order, only when the registry does
//! not serve the blob, and never with credentials (CVE-2020-15157).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt as _;
use tracing::Instrument as _;

use super::mirrors::Endpoint;
use super::rate::{RateFloor, RateWindow, TooSlow};
use super::{
    check_status, mirror_failed, BlobChunk, Descriptor, DistributionError, Reference,
    RegistryClient,
};

type Body = BoxStream<'static, Result<Bytes, reqwest::Error>>;

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
    /// Retries since the last healthy connection.
    attempt: u32,
    body: Option<Body>,
    /// The open connection's rate, and what it brought in.
    window: RateWindow,
    since_open: u64,
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
    let window = RateWindow::new(client.inner.cfg.rate_floor, Instant::now());
    let reader = BlobReader {
        client,
        reference,
        desc,
        endpoints,
        endpoint: 0,
        received: 0,
        attempt: 0,
        body: None,
        window,
        since_open: 0,
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
        // Wake at the window's end too, so a connection that goes quiet is judged on time.
        let window_left = self.window.remaining(Instant::now());
        let wait = window_left.map_or(read_timeout, |left| left.min(read_timeout));
        match tokio::time::timeout(wait, body.next()).await {
            Err(_) => {
                self.judge_rate(0)?;
                if wait < read_timeout {
                    return Ok(None);
                }
                Err(self.transient(format!("no data for {read_timeout:?}"), None))
            }
            Ok(Some(Ok(bytes))) => {
                self.judge_rate(bytes.len() as u64)?;
                self.accept(bytes)
            }
            Ok(Some(Err(e))) => self.read_error(e),
            Ok(None) => self.end_of_body(),
        }
    }

    /// Counts `n` bytes into the rate window; a window that ended under the floor ends the
    /// connection (to be resumed).
    fn judge_rate(&mut self, n: u64) -> Result<(), Step> {
        match self.window.record(Instant::now(), n) {
            Ok(()) => Ok(()),
            Err(slow) => Err(self.too_slow(slow)),
        }
    }

    fn too_slow(&mut self, slow: TooSlow) -> Step {
        let floor = self.client.inner.cfg.rate_floor;
        let message = format!(
            "transfer too slow: {} bytes in {:.1}s, under {} bytes/s over {}s \
             (ferryd --min-download-rate, --download-rate-window)",
            slow.got,
            slow.elapsed.as_secs_f64(),
            floor.min,
            floor.window.as_secs()
        );
        self.transient(message, None)
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
        // A 200 restarts at byte 0: drop what we already have.
        let full = response.status() == http::StatusCode::OK;
        self.skip = if full { offset } else { 0 };
        self.window = RateWindow::new(self.client.inner.cfg.rate_floor, Instant::now());
        self.since_open = 0;
        Ok(response.bytes_stream().boxed())
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
        self.since_open += bytes.len() as u64;
        if self.since_open >= self.healthy_progress() {
            self.attempt = 0;
        }
        Ok(Some(bytes))
    }

    fn read_error(&mut self, e: reqwest::Error) -> Result<Option<Bytes>, Step> {
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

    fn healthy_progress(&self) -> u64 {
        let floor: RateFloor = self.client.inner.cfg.rate_floor;
        floor.healthy_progress()
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

/// One ranged GET of the blob at `endpoint`, then of its `urls` if the registry has it not;
/// 200 or 206, else the error its status means (free function: `BlobReader` is not `Sync`).
async fn request(
    client: &RegistryClient,
    endpoint: &Endpoint,
    reference: &Reference,
    desc: &Descriptor,
    offset: u64,
) -> Result<reqwest::Response, Step> {
    let url = format!(
        "{}/v2/{}/blobs/{}",
        endpoint.base_url(),
        reference.repository(),
        desc.digest
    );
    let range = format!("bytes={offset}-");
    let get = |http: &reqwest::Client| http.get(&url).header(http::header::RANGE, &range);
    let mut response = client
        .authed_get(reference, endpoint, get)
        .await
        .map_err(Step::classify)?;
    if !response.status().is_success() {
        response = foreign_urls(client, reference, desc, &range)
            .await?
            .unwrap_or(response);
    }
    check_status(response.status(), reference, Some(&desc.digest)).map_err(Step::classify)?;
    Ok(response)
}

/// The first of `desc.urls` (http or https) that serves the blob, asked without credentials.
async fn foreign_urls(
    client: &RegistryClient,
    reference: &Reference,
    desc: &Descriptor,
    range: &str,
) -> Result<Option<reqwest::Response>, Step> {
    let web = desc
        .urls
        .iter()
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    for url in web {
        let response = client
            .inner
            .http
            .get(url)
            .header(http::header::RANGE, range)
            .send()
            .await
            .map_err(|e| Step::classify(DistributionError::unreachable(reference.registry(), e)))?;
        if response.status().is_success() {
            return Ok(Some(response));
        }
    }
    Ok(None)
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
