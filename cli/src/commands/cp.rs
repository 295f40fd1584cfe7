//! `ferry cp [-a] [-L] [-q] CONTAINER:SRC DEST|-` and `ferry cp [-a] [-L] SRC|- CONTAINER:DEST`.
//!
//! Docker's rules. Out: ferryd sends a tar whose top entry is SRC's base name; a DEST that is an
//! existing directory receives it inside (`dir/etc`), any other DEST becomes it (the tar is
//! extracted into a temporary directory beside DEST, then renamed, so a failed copy leaves no
//! half-written DEST); `-` writes the tar to stdout. Extraction uses the tar crate's `unpack`,
//! which keeps every entry inside its directory; modes are kept, owners only with `-a` (files
//! otherwise belong to the user running `ferry`).
//!
//! In: the CLI stats DEST in the container; the tar it builds names its top entry so that
//! extracting it into a directory of the container gives Docker's result (into an existing
//! directory, or as DEST itself). Entries are owned by root in the container unless `-a` keeps
//! the local uid/gid; symlinks are archived as symlinks (`-L` follows SRC itself). `-` sends a
//! tar from stdin as it is, into DEST, which must be a directory.

use std::fs;
use std::io::{BufWriter, IsTerminal, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ferry_proto::containers::v1::{
    containers_client::ContainersClient, CopyChunk, CopyFromRequest, CopyToRequest, PathStat,
    StatPathRequest,
};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;

use crate::client::Channel;
use crate::dockerignore::Ignore;
use crate::io::chunks::{ChunkReader, ChunkWriter};
use crate::render::human_size;

#[derive(Debug, Args)]
pub(crate) struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically suppressed if no
    /// terminal is attached
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH, a local path, or - (a tar on stdin)
    src: String,
    /// CONTAINER:DEST_PATH, a local path, or - (a tar on stdout)
    dest: String,
}

/// One side of the copy.
#[derive(Debug, PartialEq)]
enum Side {
    Local(String),
    Container { name: String, path: String },
}

/// Docker's `splitCpArg`: an absolute or `./`-relative path is local; else `NAME:PATH`.
fn side(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Local(arg.into());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => Side::Container {
            name: name.into(),
            path: path.into(),
        },
        _ => Side::Local(arg.into()),
    }
}

pub(crate) async fn run(host: &str, args: CpArgs) -> anyhow::Result<i32> {
    let client = ContainersClient::new(crate::client::connect(host).await?);
    let mut cp = Copier { client, args };
    let (src, dest) = (side(&cp.args.src), side(&cp.args.dest));
    match (src, dest) {
        (Side::Container { name, path }, Side::Local(dest)) => {
            cp.copy_out(&name, &path, &dest).await?
        }
        (Side::Local(src), Side::Container { name, path }) => {
            cp.copy_in(&src, &name, &path).await?
        }
        (Side::Local(_), Side::Local(_)) => {
            bail!("must specify at least one container source")
        }
        _ => bail!("copying between containers is not supported"),
    }
    Ok(0)
}

#[derive(Debug)]
struct Copier {
    client: ContainersClient<Channel>,
    args: CpArgs,
}

impl Copier {
    async fn copy_out(&mut self, name: &str, path: &str, dest: &str) -> anyhow::Result<()> {
        let req = CopyFromRequest {
            id: name.into(),
            path: path.into(),
            follow_link: self.args.follow_link,
        };
        let mut stream = self.client.copy_from(req).await?.into_inner();
        let stat = stream
            .message()
            .await?
            .and_then(|c| c.stat)
            .ok_or_else(|| anyhow!("ferryd sent no stat for {path}"))?;
        let sink = match dest {
            "-" => Sink::Stdout,
            _ => Sink::Extract(plan_out(&stat, dest)?),
        };
        let (tx, rx) = mpsc::channel(8);
        let keep_owner = self.args.archive;
        let writer =
            tokio::task::spawn_blocking(move || sink.consume(ChunkReader::new(rx), keep_owner));
        let pumped = pump(&mut stream, &tx).await;
        if pumped.is_err() {
            // The writer must fail too, or a truncated archive would still be renamed into place.
            let _ = tx
                .send(Err(std::io::Error::other("copy interrupted")))
                .await;
        }
        drop(tx);
        let written = writer.await?;
        let total = pumped?;
        written?;
        self.progress(total, dest);
        Ok(())
    }

    async fn copy_in(&mut self, src: &str, name: &str, path: &str) -> anyhow::Result<()> {
        let (dir, top) = if src == "-" {
            let st = self.stat(name, path).await?;
            if !st.is_dir {
                bail!("destination \"{name}:{path}\" must be a directory");
            }
            (path.to_string(), None)
        } else {
            let (dir, top) = self.plan_in(src, name, path).await?;
            (dir, Some(top))
        };
        let (tx, rx) = mpsc::channel::<Vec<u8>>(8);
        let (src_owned, archive, follow) =
            (src.to_string(), self.args.archive, self.args.follow_link);
        let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let out = ChunkWriter::buffered(tx);
            match top {
                None => copy_stdin(out),
                Some(top) => build_tar(out, Path::new(&src_owned), &top, follow, archive),
            }
        });
        let first = CopyToRequest {
            id: name.into(),
            path: dir,
            data: Vec::new(),
        };
        let rest = tokio_stream::wrappers::ReceiverStream::new(rx).map(|data| CopyToRequest {
            id: String::new(),
            path: String::new(),
            data,
        });
        let upload = tokio_stream::iter([first]).chain(rest);
        let mut client = self.client.clone();
        let send = async move { client.copy_to(upload).await.map_err(anyhow::Error::from) };
        let produce = async move { producer.await? };
        let ((), total) = tokio::try_join!(async { send.await.map(|_| ()) }, produce)?;
        self.progress(total, &format!("{name}:{path}"));
        Ok(())
    }

    /// Where in the container to extract, and the top entry's name (Docker's rules).
    async fn plan_in(
        &mut self,
        src: &str,
        name: &str,
        path: &str,
    ) -> anyhow::Result<(String, String)> {
        let meta = lstat(Path::new(src), self.args.follow_link)?;
        let src_name = if src.ends_with("/.") {
            ".".to_string()
        } else {
            base_name(src)
        };
        match self.stat(name, path).await {
            Ok(st) if st.is_dir => Ok((path.to_string(), src_name)),
            Ok(_) if meta.is_dir() => {
                bail!("cannot overwrite non-directory \"{path}\" with directory \"{src}\"")
            }
            Ok(_) => Ok((parent_of(path), base_name(path))),
            Err(e) if is_not_found(&e) => {
                if path.ends_with('/') && !meta.is_dir() {
                    bail!("destination directory \"{name}:{path}\" does not exist");
                }
                Ok((parent_of(path), base_name(path)))
            }
            Err(e) => Err(e),
        }
    }

    async fn stat(&mut self, name: &str, path: &str) -> anyhow::Result<PathStat> {
        let req = StatPathRequest {
            id: name.into(),
            path: path.into(),
        };
        Ok(self.client.stat_path(req).await?.into_inner())
    }

    /// Docker's `Successfully copied 2.05kB to DEST`, on a terminal only.
    fn progress(&self, bytes: u64, dest: &str) {
        if !self.args.quiet && std::io::stderr().is_terminal() {
            eprintln!("Successfully copied {} to {dest}", human_size(bytes));
        }
    }
}

/// Moves the archive's chunks to the writer; the bytes moved.
async fn pump(
    stream: &mut tonic::Streaming<CopyChunk>,
    tx: &mpsc::Sender<std::io::Result<Vec<u8>>>,
) -> anyhow::Result<u64> {
    let mut total = 0u64;
    while let Some(chunk) = stream.message().await? {
        total += chunk.data.len() as u64;
        if tx.send(Ok(chunk.data)).await.is_err() {
            break;
        }
    }
    Ok(total)
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.downcast_ref::<tonic::Status>()
        .is_some_and(|s| s.code() == tonic::Code::NotFound)
}

/// The last component of a path as typed (`/a/b/` → `b`); "." for `/`.
fn base_name(path: &str) -> String {
    match path.trim_end_matches('/').rsplit('/').next() {
        None | Some("") => ".".into(),
        Some(n) => n.into(),
    }
}

/// The directory holding a path as typed (`/a/b/` → `/a`, `b` → `.`).
fn parent_of(path: &str) -> String {
    let p = path.trim_end_matches('/');
    match p.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => p[..i].into(),
        None => ".".into(),
    }
}

/// Where a copied-out archive goes locally.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Extract as it is into this existing directory.
    Into(PathBuf),
    /// Extract beside `dest` and rename the top entry to it.
    Replace { dest: PathBuf, top: String },
}

fn plan_out(stat: &PathStat, dest: &str) -> anyhow::Result<Plan> {
    let d = Path::new(dest);
    match fs::metadata(d) {
        Ok(m) if m.is_dir() => Ok(Plan::Into(d.to_path_buf())),
        Ok(_) if stat.is_dir => bail!("cannot copy directory to file \"{dest}\""),
        Ok(_) => Ok(Plan::Replace {
            dest: d.to_path_buf(),
            top: stat.name.clone(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dest.ends_with('/') && !stat.is_dir {
                bail!("destination directory \"{dest}\" does not exist");
            }
            Ok(Plan::Replace {
                dest: d.to_path_buf(),
                top: stat.name.clone(),
            })
        }
        Err(e) => Err(e).with_context(|| format!("stat {dest}")),
    }
}

#[derive(Debug)]
enum Sink {
    Stdout,
    Extract(Plan),
}

impl Sink {
    fn consume(self, mut tar: ChunkReader, keep_owner: bool) -> anyhow::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                std::io::copy(&mut tar, &mut out)?;
                out.flush()?;
                Ok(())
            }
            Sink::Extract(Plan::Into(dir)) => unpack(tar, &dir, keep_owner),
            Sink::Extract(Plan::Replace { dest, top }) => replace(tar, &dest, &top, keep_owner),
        }
    }
}

fn unpack(tar: impl Read, dir: &Path, keep_owner: bool) -> anyhow::Result<()> {
    let mut a = tar::Archive::new(tar);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(keep_owner);
    a.set_overwrite(true);
    a.unpack(dir)
        .with_context(|| format!("extract into {}", dir.display()))
}

/// Extracts into a fresh directory beside `dest`, then renames the top entry onto `dest`.
fn replace(tar: impl Read, dest: &Path, top: &str, keep_owner: bool) -> anyhow::Result<()> {
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = parent.join(format!(".ferry-cp-{}-{nanos}", std::process::id()));
    fs::create_dir(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    let res = unpack(tar, &tmp, keep_owner).and_then(|()| {
        let from = if top == "." {
            tmp.clone()
        } else {
            tmp.join(top)
        };
        fs::rename(&from, dest).with_context(|| format!("rename to {}", dest.display()))
    });
    let _ = fs::remove_dir_all(&tmp);
    res
}

fn copy_stdin(mut out: BufWriter<ChunkWriter>) -> anyhow::Result<u64> {
    std::io::copy(&mut std::io::stdin().lock(), &mut out)?;
    Ok(ChunkWriter::finish(out)?)
}

/// Archives `src` with its top entry named `top` ("." = a directory's contents).
fn build_tar(
    out: BufWriter<ChunkWriter>,
    src: &Path,
    top: &str,
    follow: bool,
    keep_owner: bool,
) -> anyhow::Result<u64> {
    let mut b = TarBuilder {
        tar: tar::Builder::new(out),
        keep_owner,
        ignore: None,
    };
    let meta = lstat(src, follow)?;
    let at = if top == "." {
        PathBuf::new()
    } else {
        PathBuf::from(top)
    };
    b.node(src, &meta, &at)?;
    Ok(ChunkWriter::finish(b.tar.into_inner()?)?)
}

/// SRC's metadata: of the link itself, or with `follow` (`-L`) of what it points to.
fn lstat(src: &Path, follow: bool) -> anyhow::Result<fs::Metadata> {
    let meta = if follow {
        fs::metadata(src)
    } else {
        fs::symlink_metadata(src)
    };
    meta.with_context(|| format!("lstat {}", src.display()))
}

/// A build context: `dir`'s contents, owned by root, minus what `ignore` excludes (`ferry
/// build`, as Docker's CLI sends it).
pub(crate) fn context_tar(
    out: BufWriter<ChunkWriter>,
    dir: &Path,
    ignore: Ignore,
) -> anyhow::Result<u64> {
    let mut b = TarBuilder {
        tar: tar::Builder::new(out),
        keep_owner: false,
        ignore: Some(ignore),
    };
    let meta = lstat(dir, true)?;
    b.node(dir, &meta, Path::new(""))?;
    Ok(ChunkWriter::finish(b.tar.into_inner()?)?)
}

struct TarBuilder {
    tar: tar::Builder<BufWriter<ChunkWriter>>,
    keep_owner: bool,
    /// Paths (relative to the top) not to archive.
    ignore: Option<Ignore>,
}

impl TarBuilder {
    fn node(&mut self, path: &Path, meta: &fs::Metadata, at: &Path) -> anyhow::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        if !self.keep_owner {
            h.set_uid(0);
            h.set_gid(0);
        }
        let ft = meta.file_type();
        let excluded = self
            .ignore
            .as_ref()
            .filter(|_| !at.as_os_str().is_empty())
            .map(|ig| (ig.excludes(at), ig.has_exceptions()));
        match excluded {
            // An excluded directory is still walked when an exception may re-include below it.
            Some((true, true)) if ft.is_dir() => {}
            Some((true, _)) => return Ok(()),
            _ => {}
        }
        if ft.is_dir() {
            if !at.as_os_str().is_empty() && !matches!(excluded, Some((true, _))) {
                self.tar.append_data(&mut h, at, std::io::empty())?;
            }
            let mut names: Vec<_> = fs::read_dir(path)?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()?;
            names.sort();
            for n in names {
                let child = path.join(&n);
                let m = fs::symlink_metadata(&child)?;
                self.node(&child, &m, &at.join(&n))?;
            }
        } else if ft.is_symlink() {
            let target = fs::read_link(path)?;
            self.tar.append_link(&mut h, at, target)?;
        } else if ft.is_file() {
            let f = fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
            let size = meta.size();
            self.tar.append_data(&mut h, at, f.take(size))?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for TarBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TarBuilder")
            .field("keep_owner", &self.keep_owner)
            .field("ignore", &self.ignore.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(
            side("web:/etc/hostname"),
            Side::Container {
                name: "web".into(),
                path: "/etc/hostname".into()
            }
        );
        assert_eq!(side("/tmp/a:b"), Side::Local("/tmp/a:b".into()));
        assert_eq!(side("./x:y"), Side::Local("./x:y".into()));
        assert_eq!(side("-"), Side::Local("-".into()));
        assert_eq!(side("plain"), Side::Local("plain".into()));
        assert_eq!(base_name("/a/b/"), "b");
        assert_eq!(base_name("/"), ".");
        assert_eq!(parent_of("/a/b/"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("a"), ".");
    }

    #[test]
    fn copy_out_destinations_follow_dockers_rules() {
        let tmp = tempfile_dir();
        let file = PathStat {
            name: "hostname".into(),
            ..Default::default()
        };
        let dir = PathStat {
            name: "etc".into(),
            is_dir: true,
            ..Default::default()
        };
        let d = tmp.display().to_string();
        assert_eq!(plan_out(&file, &d).unwrap(), Plan::Into(tmp.clone()));
        let new = format!("{d}/new");
        assert_eq!(
            plan_out(&dir, &new).unwrap(),
            Plan::Replace {
                dest: PathBuf::from(&new),
                top: "etc".into()
            }
        );
        assert!(plan_out(&file, &format!("{d}/missing/")).is_err());
        std::fs::write(tmp.join("f"), "x").unwrap();
        assert!(plan_out(&dir, &format!("{d}/f")).is_err());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("ferry-cp-test-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
