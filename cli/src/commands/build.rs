//! `ferry build [OPTIONS] PATH`: sends the Dockerfile, the flags and the context (minus what
//! `.dockerignore` excludes) to ferryd and prints the build as BuildKit's plain progress does:
//! `#N [stage i/n] INSTRUCTION`, the step's output as `#N 0.215 line`, `#N CACHED`,
//! `#N DONE 0.3s`, and on failure `#N ERROR: …` then `ERROR: failed to solve: …` (exit 1).
//! Progress goes to stderr; `-q` prints only the image ID, on stdout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use ferry_proto::build::v1::build_client::BuildClient;
use ferry_proto::build::v1::build_event::Event;
use ferry_proto::build::v1::build_request::Part;
use ferry_proto::build::v1::{BuildEvent, BuildOptions, BuildRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::cp::context_tar;
use crate::dockerignore::Ignore;
use crate::io::chunks::ChunkWriter;

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// Build context directory, or - (a tar, or a Dockerfile, on stdin)
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Name and optionally a tag (format: "name:tag")
    #[arg(short, long = "tag", value_name = "NAME")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile"; - reads it from stdin)
    #[arg(short, long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Set build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull all referenced images
    #[arg(long)]
    pull: bool,
    /// Set type of progress output (auto, plain, tty; all print plain progress)
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty", "quiet"])]
    progress: String,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    quiet: bool,
    /// Set metadata for an image (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Set target platform for build
    #[arg(long)]
    platform: Option<String>,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    iidfile: Option<PathBuf>,
}

pub(crate) async fn run(host: &str, args: BuildArgs) -> anyhow::Result<i32> {
    let (options, source) = match prepare(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            return Ok(1);
        }
    };
    let (tx, rx) = mpsc::channel::<BuildRequest>(16);
    tx.send(BuildRequest {
        part: Some(Part::Options(options)),
    })
    .await?;
    let producer = tokio::task::spawn_blocking(move || send_context(tx, source));
    let mut client = BuildClient::new(crate::client::connect(host).await?);
    let mut printer = Printer {
        quiet: args.quiet || args.progress == "quiet",
        last: 0,
    };
    let outcome = match client.build(ReceiverStream::new(rx)).await {
        Ok(resp) => printer.follow(resp.into_inner()).await,
        Err(st) => Err(st),
    };
    let produced = producer.await?;
    match outcome {
        // The daemon's error explains a context it stopped reading; only a success can be
        // spoiled by a context that could not be read whole.
        Ok(_) if produced.is_err() => {
            let e = produced.err().map(|e| format!("{e:#}")).unwrap_or_default();
            eprintln!("ERROR: reading the build context: {e}");
            Ok(1)
        }
        Ok(id) => {
            if let Some(f) = &args.iidfile {
                std::fs::write(f, &id).with_context(|| format!("write {}", f.display()))?;
            }
            if args.quiet {
                println!("{id}");
            }
            Ok(0)
        }
        Err(st) => {
            eprintln!("ERROR: failed to solve: {}", st.message());
            Ok(1)
        }
    }
}

/// Where the context comes from: a directory (filtered by its ignore rules), or stdin's bytes
/// (`ferry build -`: a tar, or a lone Dockerfile and no context).
#[derive(Debug)]
enum ContextSource {
    Dir(PathBuf, Ignore),
    Bytes(Vec<u8>),
}

/// The options message and the context, from the flags and the files.
fn prepare(args: &BuildArgs) -> anyhow::Result<(BuildOptions, ContextSource)> {
    let (text, name, source) = if args.path == Path::new("-") {
        from_stdin(args.file.as_deref())?
    } else {
        from_dir(&args.path, args.file.as_deref())?
    };
    let env: HashMap<String, String> = std::env::vars().collect();
    let options = BuildOptions {
        dockerfile: text,
        dockerfile_name: name,
        tags: args.tags.clone(),
        build_args: build_args(&args.build_args, &env),
        target: args.target.clone().unwrap_or_default(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: args.labels.iter().map(|l| split_kv(l)).collect(),
        platform: args.platform.clone().unwrap_or_default(),
        source_date_epoch: env.get("SOURCE_DATE_EPOCH").cloned().unwrap_or_default(),
    };
    Ok((options, source))
}

/// A directory context; the Dockerfile is `-f FILE` (`-f -`: stdin) or `DIR/Dockerfile`.
fn from_dir(dir: &Path, file: Option<&Path>) -> anyhow::Result<(String, String, ContextSource)> {
    if !dir.is_dir() {
        anyhow::bail!(
            "unable to prepare context: path {:?} not found",
            dir.display()
        );
    }
    let dockerfile = file.map_or_else(|| dir.join("Dockerfile"), Path::to_path_buf);
    let text = if dockerfile == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("failed to read dockerfile from stdin")?
    } else {
        std::fs::read_to_string(&dockerfile)
            .with_context(|| format!("failed to read dockerfile: open {}", dockerfile.display()))?
    };
    let ignore = Ignore::parse(&ignore_text(dir, &dockerfile)).map_err(anyhow::Error::msg)?;
    let name = dockerfile_name(dir, &dockerfile);
    Ok((text, name, ContextSource::Dir(dir.to_path_buf(), ignore)))
}

/// `ferry build -`: stdin is a tar holding the Dockerfile (`-f NAME` in it), or a Dockerfile.
fn from_stdin(file: Option<&Path>) -> anyhow::Result<(String, String, ContextSource)> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).context("read stdin")?;
    if !(bytes.len() >= 262 && &bytes[257..262] == b"ustar") {
        let text = String::from_utf8(bytes).context("the Dockerfile on stdin is not UTF-8")?;
        return Ok((text, "Dockerfile".into(), ContextSource::Bytes(Vec::new())));
    }
    let name = file.unwrap_or(Path::new("Dockerfile"));
    let text = dockerfile_in_tar(&bytes, name)?;
    let shown = name.display().to_string();
    Ok((text, shown, ContextSource::Bytes(bytes)))
}

fn dockerfile_in_tar(tar: &[u8], name: &Path) -> anyhow::Result<String> {
    let mut a = tar::Archive::new(tar);
    for e in a.entries()? {
        let mut e = e?;
        if e.path()?.components().eq(name.components()) {
            return Ok(std::io::read_to_string(&mut e)?);
        }
    }
    anyhow::bail!(
        "failed to read dockerfile: {} is not in the context",
        name.display()
    )
}

/// `NAME.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`.
fn ignore_text(context: &Path, dockerfile: &Path) -> String {
    let beside = dockerfile.with_file_name(format!(
        "{}.dockerignore",
        dockerfile
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::read_to_string(beside)
        .or_else(|_| std::fs::read_to_string(context.join(".dockerignore")))
        .unwrap_or_default()
}

/// How errors name the Dockerfile: relative to the context when it is inside it.
fn dockerfile_name(context: &Path, dockerfile: &Path) -> String {
    dockerfile
        .strip_prefix(context)
        .unwrap_or(dockerfile)
        .display()
        .to_string()
}

/// `--build-arg K=V`, or `K` alone taking the environment's value (left out when unset).
fn build_args(given: &[String], env: &HashMap<String, String>) -> HashMap<String, String> {
    given
        .iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => env.get(a).map(|v| (a.clone(), v.clone())),
        })
        .collect()
}

fn split_kv(s: &str) -> (String, String) {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    (k.to_string(), v.to_string())
}

/// Streams the context tar; runs on a blocking thread.
fn send_context(tx: mpsc::Sender<BuildRequest>, source: ContextSource) -> anyhow::Result<u64> {
    let (ctx_tx, mut ctx_rx) = mpsc::channel::<Vec<u8>>(8);
    let forward = std::thread::spawn(move || {
        while let Some(data) = ctx_rx.blocking_recv() {
            let part = Some(Part::Context(data));
            if tx.blocking_send(BuildRequest { part }).is_err() {
                return;
            }
        }
    });
    let mut out = ChunkWriter::buffered(ctx_tx);
    let res = match source {
        ContextSource::Dir(dir, ignore) => context_tar(out, &dir, ignore),
        ContextSource::Bytes(b) => std::io::Write::write_all(&mut out, &b)
            .and_then(|()| ChunkWriter::finish(out))
            .map_err(anyhow::Error::from),
    };
    let _ = forward.join();
    res
}

/// Prints events as they come; returns the image ID or the build's error status.
#[derive(Debug)]
struct Printer {
    quiet: bool,
    /// The step printed last (a blank line separates steps, as in BuildKit's output).
    last: u32,
}

impl Printer {
    async fn follow(
        &mut self,
        mut events: tonic::Streaming<BuildEvent>,
    ) -> Result<String, tonic::Status> {
        while let Some(ev) = events.message().await? {
            match ev.event {
                Some(Event::Result(r)) => return Ok(r.image_id),
                Some(e) => self.print(e),
                None => {}
            }
        }
        Err(tonic::Status::unknown("the build ended without a result"))
    }

    fn print(&mut self, e: Event) {
        if self.quiet {
            return;
        }
        let line = match e {
            Event::Started(s) => {
                if self.last != 0 {
                    eprintln!();
                }
                self.last = s.step;
                format!("#{} {}", s.step, s.name)
            }
            Event::Log(l) => format!("#{} {:.3} {}", l.step, l.elapsed, l.line),
            Event::Cached(c) => format!("#{} CACHED", c.step),
            Event::Done(d) => format!("#{} DONE {:.1}s", d.step, d.seconds),
            Event::Error(e) => format!("#{} ERROR: {}", e.step, e.message),
            Event::Result(_) => return,
        };
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_take_bare_names_from_the_environment() {
        let env: HashMap<String, String> = [("HOME".to_string(), "/root".to_string())].into();
        let got = build_args(
            &["A=1".into(), "HOME".into(), "UNSET".into(), "B=x=y".into()],
            &env,
        );
        assert_eq!(got.len(), 3);
        assert_eq!(got["A"], "1");
        assert_eq!(got["HOME"], "/root");
        assert_eq!(got["B"], "x=y");
    }

    #[test]
    fn the_dockerfile_is_found_in_a_stdin_tar() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(13);
        h.set_mode(0o644);
        b.append_data(&mut h, "ci/Dockerfile", &b"FROM scratch\n"[..])
            .unwrap();
        let tar = b.into_inner().unwrap();
        assert_eq!(
            dockerfile_in_tar(&tar, Path::new("ci/Dockerfile")).unwrap(),
            "FROM scratch\n"
        );
        assert!(dockerfile_in_tar(&tar, Path::new("Dockerfile")).is_err());
    }

    #[test]
    fn dockerfile_names_are_relative_to_the_context() {
        let c = Path::new("/src/app");
        assert_eq!(
            dockerfile_name(c, Path::new("/src/app/Dockerfile")),
            "Dockerfile"
        );
        assert_eq!(
            dockerfile_name(c, Path::new("/src/app/ci/Dockerfile")),
            "ci/Dockerfile"
        );
        assert_eq!(
            dockerfile_name(c, Path::new("/other/Dockerfile")),
            "/other/Dockerfile"
        );
    }

    #[test]
    fn an_ignore_file_beside_the_dockerfile_wins() {
        let tmp = std::env::temp_dir().join(format!("ferry-ign-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join(".dockerignore"), "ctx").unwrap();
        assert_eq!(ignore_text(&tmp, &tmp.join("Dockerfile")), "ctx");
        std::fs::write(tmp.join("dev.Dockerfile.dockerignore"), "beside").unwrap();
        assert_eq!(ignore_text(&tmp, &tmp.join("dev.Dockerfile")), "beside");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
