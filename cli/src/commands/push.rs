//! `ferry push [-q] NAME[:TAG]`: streams the daemon's progress as `docker push` shows it — a
//! live line per layer on a terminal, one line per phase change otherwise, then
//! `TAG: digest: sha256:… size: N`; with `-q` only the pushed reference.

use std::collections::HashMap;
use std::io::IsTerminal;

use clap::Args;
use ferry_proto::images::v1::{
    images_client::ImagesClient, push_event::Event, push_layer_progress::Phase, PushDone,
    PushLayerProgress, PushRequest, PushResolved,
};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::render::familiar;

#[derive(Debug, Args)]
pub(crate) struct PushArgs {
    /// Suppress verbose output
    #[arg(short, long)]
    quiet: bool,
    /// NAME[:TAG]
    reference: String,
}

pub(crate) async fn run(host: &str, args: PushArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = PushRequest {
        reference: args.reference.clone(),
    };
    let mut stream = client.push(req).await?.into_inner();
    let mut view = View::new(args.quiet);
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = tokio::signal::ctrl_c() => {
                view.abandon();
                // Dropping the stream cancels the call; ferryd stops the push.
                drop(stream);
                eprintln!("push cancelled");
                return Ok(130);
            }
        };
        match next {
            None => anyhow::bail!("the daemon closed the push without a result"),
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

/// What the user sees: live lines on a terminal, phase lines otherwise.
struct View {
    quiet: bool,
    tty: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, i32>,
    pushed: String,
}

impl View {
    fn new(quiet: bool) -> Self {
        let tty = (!quiet && std::io::stdout().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        View {
            quiet,
            tty,
            bars: HashMap::new(),
            last: HashMap::new(),
            pushed: String::new(),
        }
    }

    fn resolved(&mut self, r: &PushResolved) {
        self.pushed = format!("{}:{}", familiar(&r.repository), r.tag);
        if self.quiet {
            return;
        }
        // Docker names the repository in full here ("docker.io/library/busybox").
        println!("The push refers to repository [{}]", r.repository);
        if let Some(mp) = &self.tty {
            for id in &r.layer_ids {
                let bar = mp.add(ProgressBar::new(0));
                bar.set_style(text_style());
                bar.set_prefix(id.clone());
                self.bars.insert(id.clone(), bar);
            }
        }
    }

    fn layer(&mut self, l: &PushLayerProgress) {
        if self.quiet {
            return;
        }
        let phase = Phase::try_from(l.phase).unwrap_or(Phase::PushPhaseUnspecified);
        let Some(text) = phase_text(phase, l) else {
            return;
        };
        match self.bars.get(&l.id) {
            Some(bar) => update_bar(bar, phase, l, text),
            None => {
                if self.last.insert(l.id.clone(), l.phase) != Some(l.phase) {
                    println!("{}: {text}", l.id);
                }
            }
        }
    }

    fn done(&mut self, d: &PushDone) {
        for bar in self.bars.values() {
            bar.finish();
        }
        if self.quiet {
            println!("{}", self.pushed);
            return;
        }
        println!("{}: digest: {} size: {}", d.tag, d.digest, d.size);
    }

    fn abandon(&mut self) {
        for bar in self.bars.values() {
            bar.abandon();
        }
    }
}

fn phase_text(phase: Phase, l: &PushLayerProgress) -> Option<String> {
    Some(match phase {
        Phase::Preparing => "Preparing".into(),
        Phase::Waiting => "Waiting".into(),
        Phase::Pushing => "Pushing".into(),
        Phase::LayerAlreadyExists => "Layer already exists".into(),
        Phase::Mounted => format!("Mounted from {}", l.from),
        Phase::Pushed => "Pushed".into(),
        Phase::PushPhaseUnspecified => return None,
    })
}

fn update_bar(bar: &ProgressBar, phase: Phase, l: &PushLayerProgress, text: String) {
    match phase {
        Phase::Pushing => {
            bar.set_style(bar_style());
            bar.set_message(text);
            bar.set_length(l.total);
            bar.set_position(l.current);
        }
        Phase::LayerAlreadyExists | Phase::Mounted | Phase::Pushed => {
            bar.set_style(text_style());
            bar.finish_with_message(text);
        }
        _ => {
            bar.set_style(text_style());
            bar.set_message(text);
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
    use super::*;

    #[test]
    fn phases_read_as_docker_push() {
        let l = PushLayerProgress {
            from: "src/busybox".into(),
            ..Default::default()
        };
        let text = |p| phase_text(p, &l);
        assert_eq!(
            text(Phase::Mounted).as_deref(),
            Some("Mounted from src/busybox")
        );
        assert_eq!(
            text(Phase::LayerAlreadyExists).as_deref(),
            Some("Layer already exists")
        );
        assert_eq!(text(Phase::PushPhaseUnspecified), None);
    }
}
