//! `ferry load` / `ferry image load [-i FILE] [-q]`: streams a tar archive (a file, or stdin) to
//! the daemon and prints what it loaded as Docker does. `-q` is accepted for Docker's sake: there
//! is no progress to suppress.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, ArchiveChunk, LoadedImage};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::rmi::daemon_line;

#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    quiet: bool,
}

pub(crate) async fn run(host: &str, args: LoadArgs) -> anyhow::Result<i32> {
    let reader: Box<dyn AsyncRead + Send + Unpin> = match &args.input {
        Some(p) => match tokio::fs::File::open(p).await {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("open {}: {e}", p.display());
                return Ok(1);
            }
        },
        None if std::io::stdin().is_terminal() => {
            eprintln!("requested load from stdin, but stdin is empty");
            return Ok(1);
        }
        None => Box::new(tokio::io::stdin()),
    };
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    match client.load(chunks(reader)).await {
        Ok(resp) => {
            for img in &resp.get_ref().images {
                print_loaded(img);
            }
            Ok(0)
        }
        Err(st) => {
            eprintln!("{}", daemon_line(&st));
            Ok(1)
        }
    }
}

fn print_loaded(img: &LoadedImage) {
    if img.name.is_empty() {
        println!("Loaded image ID: {}", img.id);
        return;
    }
    if !img.replaced_id.is_empty() {
        println!(
            "The image {} already exists, renaming the old one with ID {} to empty string",
            img.name, img.replaced_id
        );
    }
    println!("Loaded image: {}", img.name);
}

/// The input as 256 KiB chunks. A read error ends the stream early; the daemon then reports a
/// truncated archive, and the error is printed here.
fn chunks(
    reader: Box<dyn AsyncRead + Send + Unpin>,
) -> impl futures::Stream<Item = ArchiveChunk> + Send {
    futures::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let mut data = Vec::with_capacity(256 << 10);
        match (&mut reader).take(256 << 10).read_to_end(&mut data).await {
            Ok(0) => None,
            Ok(_) => Some((ArchiveChunk { data }, Some(reader))),
            Err(e) => {
                eprintln!("reading the archive: {e}");
                None
            }
        }
    })
}
