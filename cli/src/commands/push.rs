//! `ferry push [-q] NAME[:TAG]`: streams the daemon's progress as `docker push` shows it — a
//! live line per layer on a terminal, one line per phase change otherwise, then
//! `TAG: digest: sha256:… size: N`; with `-q` only the pushed reference.

use std::io::IsTerminal;

use clap::Args;
use ferry_proto::images::v1::{
    images_client::ImagesClient, push_event::Event, push_layer_progress::Phase, PushDone,
    PushEvent, PushLayerProgress, PushRequest, PushResolved,
};
use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::render::familiar;
use crate::render::progress::{self, Layers, Look, Watch};

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
    let stream = client.push(req).await?.into_inner();
    let mut view = View::new(args.quiet);
    progress::follow(stream, &mut view, "push").await
}

/// What the user sees: live lines on a terminal, phase lines otherwise.
#[derive(Debug)]
struct View {
    quiet: bool,
    layers: Layers,
    pushed: String,
}

impl Watch for View {
    type Event = PushEvent;

    fn show(&mut self, ev: PushEvent) -> bool {
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
    fn new(quiet: bool) -> Self {
        let tty = (!quiet && std::io::stdout().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        View {
            quiet,
            layers: Layers::new(tty),
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
        for id in &r.layer_ids {
            self.layers.add_bar(id, "");
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
        match self.layers.bar(&l.id) {
            Some(bar) => progress::show(bar, bar_look(phase, l), text),
            None => {
                if self.layers.changed(&l.id, l.phase) {
                    println!("{}: {text}", l.id);
                }
            }
        }
    }

    fn done(&mut self, d: &PushDone) {
        self.layers.finish();
        if self.quiet {
            println!("{}", self.pushed);
            return;
        }
        println!("{}: digest: {} size: {}", d.tag, d.digest, d.size);
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

/// How a layer's bar looks in `phase`; its text is `phase_text`'s.
fn bar_look(phase: Phase, l: &PushLayerProgress) -> Look {
    match phase {
        Phase::Pushing => Look::Bytes {
            current: l.current,
            total: l.total,
        },
        Phase::LayerAlreadyExists | Phase::Mounted | Phase::Pushed => Look::Final,
        _ => Look::Text,
    }
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

    #[test]
    fn bars_move_while_pushing_and_stop_when_done() {
        let l = PushLayerProgress {
            current: 3,
            total: 8,
            ..Default::default()
        };
        assert_eq!(
            bar_look(Phase::Pushing, &l),
            Look::Bytes {
                current: 3,
                total: 8
            }
        );
        for p in [Phase::LayerAlreadyExists, Phase::Mounted, Phase::Pushed] {
            assert_eq!(bar_look(p, &l), Look::Final, "{p:?}");
        }
        assert_eq!(bar_look(Phase::Waiting, &l), Look::Text);
    }
}
