//! `ferry pull`: streams the daemon's progress as `docker pull` shows it — a live line per layer
//! on a terminal, one line per phase change otherwise, only the reference with `-q`.

use std::collections::HashMap;
use std::io::IsTerminal;

use clap::Args;
use ferry_proto::images::v1::{
    images_client::ImagesClient, layer_progress::Phase, pull_event::Event, LayerProgress, PullDone,
    PullRequest, PullResolved,
};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::render::familiar;

#[derive(Debug, Args)]
pub(crate) struct PullArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long, default_value = "")]
    platform: String,
    /// NAME[:TAG|@DIGEST]
    reference: String,
}

pub(crate) async fn run(host: &str, args: PullArgs) -> anyhow::Result<i32> {
    stream(
        host,
        &args.reference,
        &args.platform,
        View::new(args.quiet, Out::Pull),
    )
    .await
}

/// The pull `run` and `create` do for a missing image: progress on stderr (as Docker's
/// `pullImage(…, dockerCli.Err())`), no trailing reference line, nothing with `quiet`.
pub(crate) async fn pull_for_run(host: &str, reference: &str, quiet: bool) -> anyhow::Result<i32> {
    let out = if quiet { Out::Silent } else { Out::Run };
    stream(host, reference, "", View::new(quiet, out)).await
}

async fn stream(
    host: &str,
    reference: &str,
    platform: &str,
    mut view: View,
) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = PullRequest {
        reference: reference.to_string(),
        platform: platform.to_string(),
    };
    let mut stream = client.pull(req).await?.into_inner();
    if view.out == Out::Pull && !view.quiet && !has_tag_or_digest(reference) {
        println!("Using default tag: latest");
    }
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = tokio::signal::ctrl_c() => {
                view.abandon();
                // Dropping the stream cancels the call; ferryd then rolls the pull back.
                drop(stream);
                eprintln!("pull cancelled");
                return Ok(130);
            }
        };
        match next {
            None => anyhow::bail!("the daemon closed the pull without a result"),
            Some(Err(status)) => {
                view.abandon();
                return Err(status.into());
            }
            Some(Ok(ev)) => match ev.event {
                Some(Event::Resolved(r)) => view.resolved(&r),
                Some(Event::Layer(l)) => view.layer(&l),
                Some(Event::Done(d)) => {
                    view.done(&d);
                    return Ok(0);
                }
                None => {}
            },
        }
    }
}

fn has_tag_or_digest(reference: &str) -> bool {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    last.contains(':') || reference.contains('@')
}

/// Where progress goes: `pull`'s stdout, `run`'s stderr, or nowhere (`run -q`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Pull,
    Run,
    Silent,
}

/// What the user sees: live bars on a terminal, phase lines otherwise.
struct View {
    quiet: bool,
    out: Out,
    tty: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, i32>,
}

impl View {
    fn new(quiet: bool, out: Out) -> Self {
        let tty = match out {
            Out::Pull if !quiet && std::io::stdout().is_terminal() => {
                Some(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
            }
            Out::Run if !quiet && std::io::stderr().is_terminal() => {
                Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            }
            _ => None,
        };
        View {
            quiet: quiet || out == Out::Silent,
            out,
            tty,
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    fn resolved(&mut self, r: &PullResolved) {
        if self.quiet {
            return;
        }
        self.println(&format!(
            "{}: Pulling from {}",
            r.tag_or_digest, r.repository
        ));
        for id in &r.layer_ids {
            if let Some(mp) = &self.tty {
                let bar = mp.add(ProgressBar::new(0));
                bar.set_style(text_style());
                bar.set_prefix(id.clone());
                bar.set_message("Pulling fs layer");
                self.bars.insert(id.clone(), bar);
            } else if self.last.insert(id.clone(), -1).is_none() {
                self.plain(&format!("{id}: Pulling fs layer"));
            }
        }
    }

    fn layer(&mut self, l: &LayerProgress) {
        if self.quiet {
            return;
        }
        let phase = Phase::try_from(l.phase).unwrap_or(Phase::Unspecified);
        match self.bars.get(&l.id) {
            Some(bar) => update_bar(bar, phase, l),
            None => {
                if self.last.insert(l.id.clone(), l.phase) != Some(l.phase) {
                    if let Some(text) = phase_text(phase, l) {
                        self.plain(&format!("{}: {text}", l.id));
                    }
                }
            }
        }
    }

    fn done(&mut self, d: &PullDone) {
        for bar in self.bars.values() {
            bar.finish();
        }
        if self.quiet {
            if self.out == Out::Pull {
                println!("{}", d.reference);
            }
            return;
        }
        let name = familiar(&d.reference);
        self.println(&format!("Digest: {}", d.digest));
        let status = if d.up_to_date {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        self.println(&format!("Status: {status} {name}"));
        if self.out == Out::Pull {
            self.println(&d.reference);
        }
    }

    fn abandon(&mut self) {
        for bar in self.bars.values() {
            bar.abandon();
        }
    }

    fn println(&self, line: &str) {
        match &self.tty {
            Some(mp) if !self.bars.values().all(ProgressBar::is_finished) => {
                let _ = mp.println(line);
            }
            _ => self.plain(line),
        }
    }

    fn plain(&self, line: &str) {
        match self.out {
            Out::Pull => println!("{line}"),
            Out::Run => eprintln!("{line}"),
            Out::Silent => {}
        }
    }
}

fn phase_text(phase: Phase, l: &LayerProgress) -> Option<String> {
    Some(match phase {
        Phase::Waiting => "Waiting".into(),
        Phase::Downloading => "Downloading".into(),
        Phase::Verifying => "Verifying Checksum".into(),
        Phase::Extracting => "Download complete".into(),
        Phase::PullComplete => "Pull complete".into(),
        Phase::AlreadyExists => "Already exists".into(),
        Phase::Retrying => format!("Retrying from byte {}", l.current),
        Phase::Unspecified => return None,
    })
}

fn update_bar(bar: &ProgressBar, phase: Phase, l: &LayerProgress) {
    match phase {
        Phase::Downloading => {
            bar.set_style(bar_style());
            bar.set_message("Downloading");
            bar.set_length(l.total);
            bar.set_position(l.current);
        }
        Phase::Extracting => {
            bar.set_style(text_style());
            bar.set_message("Extracting");
        }
        Phase::PullComplete | Phase::AlreadyExists => {
            bar.set_style(text_style());
            bar.finish_with_message(phase_text(phase, l).unwrap_or_default());
        }
        other => {
            bar.set_style(text_style());
            bar.set_message(phase_text(other, l).unwrap_or_default());
        }
    }
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg} [{bar:50}] {decimal_bytes}/{decimal_total_bytes}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

#[cfg(test)]
mod tests {
    use super::has_tag_or_digest;

    #[test]
    fn default_tag_is_announced_only_without_tag_or_digest() {
        assert!(!has_tag_or_digest("busybox"));
        assert!(!has_tag_or_digest("127.0.0.1:5000/busybox"));
        assert!(has_tag_or_digest("busybox:1.36"));
        assert!(has_tag_or_digest("busybox@sha256:abc"));
    }
}
