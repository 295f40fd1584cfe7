//! `ferry save` / `ferry image save [-o FILE] IMAGE...`: the daemon's archive, streamed to a file
//! or to stdout. As Docker, it refuses to write a binary tar to a terminal, and `-o` writes to a
//! temporary file beside FILE that replaces it only once the whole archive arrived. A closed
//! stdout ends it as it ends `docker save`: killed by SIGPIPE, nothing printed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, SaveImagesRequest};

use super::rmi::daemon_line;

#[derive(Debug, Args)]
pub(crate) struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub(crate) async fn run(host: &str, args: SaveArgs) -> anyhow::Result<i32> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        eprintln!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        return Ok(1);
    }
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = SaveImagesRequest {
        images: args.images,
    };
    let stream = match client.save(req).await {
        Ok(r) => r.into_inner(),
        Err(st) => return failed(&st),
    };
    let res = match &args.output {
        Some(path) => to_file(path, stream).await,
        None => copy(stream, &mut std::io::stdout().lock()).await,
    };
    match res {
        Ok(Ok(())) => Ok(0),
        Ok(Err(st)) => failed(&st),
        Err(e) if args.output.is_none() && is_broken_pipe(&e) => crate::io::die_of_sigpipe(),
        Err(e) => Err(e),
    }
}

/// The reader of our stdout went away (`save IMAGE | head -c 0`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

fn failed(st: &tonic::Status) -> anyhow::Result<i32> {
    eprintln!("{}", daemon_line(st));
    Ok(1)
}

type Chunks = tonic::Streaming<ferry_proto::images::v1::ArchiveChunk>;

/// Copies the stream into `out`; the outer error is local I/O, the inner one the daemon's.
async fn copy(
    mut stream: Chunks,
    out: &mut impl Write,
) -> anyhow::Result<Result<(), tonic::Status>> {
    loop {
        match stream.message().await {
            Ok(Some(c)) => out.write_all(&c.data)?,
            Ok(None) => break,
            Err(st) => return Ok(Err(st)),
        }
    }
    out.flush()?;
    Ok(Ok(()))
}

async fn to_file(path: &Path, stream: Chunks) -> anyhow::Result<Result<(), tonic::Status>> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.ferry-save-{}", std::process::id()));
    let res = async {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let res = copy(stream, &mut file).await?;
        if res.is_ok() {
            file.into_inner()?.sync_all()?;
            std::fs::rename(&tmp, path)?;
        }
        Ok(res)
    }
    .await;
    if !matches!(res, Ok(Ok(()))) {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}
