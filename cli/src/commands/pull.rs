//! `ferry pull`: streams the daemon's progress as `docker pull` shows it — a live line per layer
//! on a terminal, one line per phase change otherwise, only the reference with `-q`.

use std::io::IsTerminal;

use clap::Args;
use ferry_proto::images::v1::{
    images_client::ImagesClient, layer_progress::Phase, pull_event::Event, LayerProgress, PullDone,
    PullEvent, PullRequest, PullResolved,
};
use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::render::familiar;
use crate::render::progress::{self, Layers, Look, Watch};

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
    let stream = client.pull(req).await?.into_inner();
    if view.out == Out::Pull && !view.quiet && !has_tag_or_digest(reference) {
        println!("Using default tag: latest");
    }
    progress::follow(stream, &mut view, "pull").await
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
#[derive(Debug)]
struct View {
    quiet: bool,
    out: Out,
    layers: Layers,
}

impl Watch for View {
    type Event = PullEvent;

    fn show(&mut self, ev: PullEvent) -> bool {
        match ev.event {
            Some(Event::Resolved(r)) => self.resolved(&r),
            Some(Event::Layer(l)) => self.layer(&l),
            Some(Event::Done(d)) => {
                self.done(&d);
                return true;
            }
            None => {}
        }
        false
    }

    fn abandon(&mut self) {
        self.layers.abandon();
    }
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
            layers: Layers::new(tty),
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
            if self.layers.is_tty() {
                self.layers.add_bar(id, "Pulling fs layer");
            } else if self.layers.first(id, -1) {
                self.plain(&format!("{id}: Pulling fs layer"));
            }
        }
    }

    fn layer(&mut self, l: &LayerProgress) {
        if self.quiet {
            return;
        }
        let phase = Phase::try_from(l.phase).unwrap_or(Phase::Unspecified);
        match self.layers.bar(&l.id) {
            Some(bar) => {
                let (look, msg) = bar_look(phase, l);
                progress::show(bar, look, msg);
            }
            None => {
                if self.layers.changed(&l.id, l.phase) {
                    if let Some(text) = phase_text(phase, l) {
                        self.plain(&format!("{}: {text}", l.id));
                    }
                }
            }
        }
    }

    fn done(&mut self, d: &PullDone) {
        self.layers.finish();
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

    fn println(&self, line: &str) {
        if !self.layers.println_above(line) {
            self.plain(line);
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

/// A layer's bar for `phase`. Unlike the plain line, the bar says "Extracting" once the download
/// is done, as Docker's live view does.
fn bar_look(phase: Phase, l: &LayerProgress) -> (Look, String) {
    match phase {
        Phase::Downloading => (
            Look::Bytes {
                current: l.current,
                total: l.total,
            },
            "Downloading".into(),
        ),
        Phase::Extracting => (Look::Text, "Extracting".into()),
        Phase::PullComplete | Phase::AlreadyExists => {
            (Look::Final, phase_text(phase, l).unwrap_or_default())
        }
        other => (Look::Text, phase_text(other, l).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tag_is_announced_only_without_tag_or_digest() {
        assert!(!has_tag_or_digest("busybox"));
        assert!(!has_tag_or_digest("127.0.0.1:5000/busybox"));
        assert!(has_tag_or_digest("busybox:1.36"));
        assert!(has_tag_or_digest("busybox@sha256:abc"));
    }

    #[test]
    fn bars_show_docker_pull_phases() {
        let l = LayerProgress {
            current: 7,
            total: 9,
            ..Default::default()
        };
        let look = |p| bar_look(p, &l);
        assert_eq!(
            look(Phase::Downloading),
            (
                Look::Bytes {
                    current: 7,
                    total: 9
                },
                "Downloading".into()
            )
        );
        assert_eq!(look(Phase::Extracting), (Look::Text, "Extracting".into()));
        assert_eq!(
            look(Phase::AlreadyExists),
            (Look::Final, "Already exists".into())
        );
        assert_eq!(
            look(Phase::Retrying),
            (Look::Text, "Retrying from byte 7".into())
        );
        assert_eq!(look(Phase::Unspecified), (Look::Text, String::new()));
        assert_eq!(
            phase_text(Phase::Extracting, &l).as_deref(),
            Some("Download complete")
        );
    }
}
