//! One blob upload from the content store: the file is read in chunks as oci-client sends
//! them, so memory stays at a chunk or two whatever the layer's size. Progress is reported
//! as chunks are handed over, at most once per chunk.

use bytes::Bytes;
use futures::StreamExt as _;
use oci_client::errors::OciDistributionError;
use tokio_util::io::ReaderStream;

use super::{push_error, report, Blob, PushEvents, PushPhase};
use crate::distribution::PushTarget;
use crate::error::{Error, Result};
use crate::pull::Puller;

/// Bytes read from the file per chunk (oci-client PATCHes at most 4 MiB at a time).
const READ_CHUNK: usize = 1 << 20;

pub(super) async fn upload(
    puller: &Puller,
    target: &PushTarget,
    blob: &Blob,
    events: &PushEvents,
) -> Result<()> {
    let path = puller.store.content.blob_path(&blob.digest)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::io("open", &path, e))?;
    report(events, blob, PushPhase::Pushing, 0, "").await;
    let data = progress(ReaderStream::with_capacity(file, READ_CHUNK), blob, events);
    target
        .upload(&blob.digest, blob.size, data)
        .await
        .map_err(|e| push_error(e, target.reference()))
}

/// The file's chunks, reporting the bytes sent so far after each.
fn progress(
    chunks: ReaderStream<tokio::fs::File>,
    blob: &Blob,
    events: &PushEvents,
) -> impl futures::Stream<Item = std::result::Result<Bytes, OciDistributionError>> + Send + 'static
{
    let (blob, events) = (blob.clone(), events.clone());
    let mut sent = 0u64;
    chunks.then(move |chunk| {
        let (blob, events) = (blob.clone(), events.clone());
        if let Ok(bytes) = &chunk {
            sent += bytes.len() as u64;
        }
        let current = sent;
        async move {
            let bytes = chunk.map_err(OciDistributionError::IoError)?;
            report(&events, &blob, PushPhase::Pushing, current, "").await;
            Ok(bytes)
        }
    })
}
