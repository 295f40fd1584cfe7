//! Docker's layer progress, shared by `pull` and `push`: the loop that follows the daemon's
//! progress stream, and the per-layer lines (live bars on a terminal, one line per phase change
//! otherwise).
//!
//! The loop owns the exits: the stream's result is exit 0, a gRPC error is returned, a stream
//! that ends without a result is an error, and Ctrl-C drops the stream (which cancels the call,
//! so ferryd rolls a pull back or stops a push) and exits 130. Whatever ends the loop early first
//! abandons the bars, so they stay where they stood instead of being drawn as finished.

use std::collections::HashMap;

use futures::{Stream, StreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// One verb's view of its progress stream.
pub(crate) trait Watch {
    type Event;
    /// Shows one event; true when it was the stream's result (nothing follows it).
    fn show(&mut self, event: Self::Event) -> bool;
    /// Leaves every bar as it stands (the stream failed or the user pressed Ctrl-C).
    fn abandon(&mut self);
}

/// Follows `stream` until its result; `verb` ("pull", "push") names it in messages.
pub(crate) async fn follow<S, W>(mut stream: S, view: &mut W, verb: &str) -> anyhow::Result<i32>
where
    S: Stream<Item = Result<W::Event, tonic::Status>> + Unpin,
    W: Watch,
{
    // One listener for the whole loop: a new `ctrl_c()` per turn would miss a Ctrl-C that lands
    // between two turns (tokio delivers a signal only to listeners that exist when it arrives).
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = &mut ctrl_c => {
                view.abandon();
                // Dropping the stream cancels the call; ferryd then undoes or stops the work.
                drop(stream);
                eprintln!("{verb} cancelled");
                return Ok(130);
            }
        };
        match next {
            None => anyhow::bail!("the daemon closed the {verb} without a result"),
            Some(Err(status)) => {
                view.abandon();
                return Err(status.into());
            }
            Some(Ok(ev)) => {
                if view.show(ev) {
                    return Ok(0);
                }
            }
        }
    }
}

/// How a layer's bar looks after an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// A moving bar: `id: Downloading [===>   ] 1.2MB/4.3MB`.
    Bytes { current: u64, total: u64 },
    /// Only the text: `id: Waiting`.
    Text,
    /// The text, and the layer is done: the bar stops redrawing.
    Final,
}

/// The layers of one stream: a bar per layer on a terminal, and the phase each layer was last
/// shown in, so plain output prints a line only when the phase changes.
#[derive(Debug)]
pub(crate) struct Layers {
    tty: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    last: HashMap<String, i32>,
}

impl Layers {
    /// `tty` is where live bars are drawn; `None` for plain lines.
    pub(crate) fn new(tty: Option<MultiProgress>) -> Self {
        Layers {
            tty,
            bars: HashMap::new(),
            last: HashMap::new(),
        }
    }

    pub(crate) fn is_tty(&self) -> bool {
        self.tty.is_some()
    }

    /// Adds a text bar for layer `id`, showing `msg` until its first update; none off a terminal.
    pub(crate) fn add_bar(&mut self, id: &str, msg: &str) {
        if let Some(mp) = &self.tty {
            let bar = mp.add(ProgressBar::new(0));
            bar.set_style(text_style());
            bar.set_prefix(id.to_string());
            bar.set_message(msg.to_string());
            self.bars.insert(id.to_string(), bar);
        }
    }

    pub(crate) fn bar(&self, id: &str) -> Option<&ProgressBar> {
        self.bars.get(id)
    }

    /// Records that layer `id` is now in `phase`; true when that is a change (or the first).
    pub(crate) fn changed(&mut self, id: &str, phase: i32) -> bool {
        self.last.insert(id.to_string(), phase) != Some(phase)
    }

    /// Records that layer `id` is in `phase`; true when nothing was recorded for it before.
    pub(crate) fn first(&mut self, id: &str, phase: i32) -> bool {
        self.last.insert(id.to_string(), phase).is_none()
    }

    /// True when some bar still redraws, so a line must go above the bars, not under them.
    pub(crate) fn drawing(&self) -> bool {
        !self.bars.values().all(ProgressBar::is_finished)
    }

    /// Prints `line` above the live bars; false (nothing printed) when none are drawing.
    pub(crate) fn println_above(&self, line: &str) -> bool {
        match &self.tty {
            Some(mp) if self.drawing() => {
                let _ = mp.println(line);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish();
        }
    }

    pub(crate) fn abandon(&self) {
        for bar in self.bars.values() {
            bar.abandon();
        }
    }
}

/// Redraws `bar` as `look` with `msg`.
pub(crate) fn show(bar: &ProgressBar, look: Look, msg: String) {
    match look {
        Look::Bytes { current, total } => {
            bar.set_style(bar_style());
            bar.set_message(msg);
            bar.set_length(total);
            bar.set_position(current);
        }
        Look::Text => {
            bar.set_style(text_style());
            bar.set_message(msg);
        }
        Look::Final => {
            bar.set_style(text_style());
            bar.finish_with_message(msg);
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

    /// Records what the loop showed; event 0 is the result.
    #[derive(Debug, Default)]
    struct Record {
        shown: Vec<u32>,
        abandoned: bool,
    }

    impl Watch for Record {
        type Event = u32;
        fn show(&mut self, event: u32) -> bool {
            self.shown.push(event);
            event == 0
        }
        fn abandon(&mut self) {
            self.abandoned = true;
        }
    }

    async fn run(events: Vec<Result<u32, tonic::Status>>) -> (anyhow::Result<i32>, Record) {
        let mut view = Record::default();
        let res = follow(futures::stream::iter(events), &mut view, "pull").await;
        (res, view)
    }

    #[tokio::test]
    async fn the_result_ends_the_loop_with_exit_0() {
        let (res, view) = run(vec![Ok(3), Ok(2), Ok(0), Ok(9)]).await;
        assert_eq!(res.unwrap(), 0);
        assert_eq!(view.shown, [3, 2, 0]);
        assert!(!view.abandoned);
    }

    #[tokio::test]
    async fn a_status_abandons_the_bars_and_is_returned() {
        let (res, view) = run(vec![Ok(1), Err(tonic::Status::not_found("no such image"))]).await;
        let err = res.unwrap_err();
        let status = err.downcast_ref::<tonic::Status>().expect("a status");
        assert_eq!(status.code(), tonic::Code::NotFound);
        assert_eq!(view.shown, [1]);
        assert!(view.abandoned);
    }

    #[tokio::test]
    async fn a_stream_without_a_result_is_an_error() {
        let (res, view) = run(vec![Ok(1)]).await;
        assert_eq!(
            res.unwrap_err().to_string(),
            "the daemon closed the pull without a result"
        );
        assert_eq!(view.shown, [1]);
    }

    #[test]
    fn plain_lines_follow_phase_changes_only() {
        let mut layers = Layers::new(None);
        assert!(!layers.is_tty());
        assert!(layers.changed("a", 1));
        assert!(!layers.changed("a", 1));
        assert!(layers.changed("b", 1));
        assert!(layers.changed("a", 2));
        assert!(layers.changed("a", 1));
        assert!(layers.first("c", -1));
        assert!(!layers.first("c", -1));
        assert!(!layers.first("a", -1), "a was seen in a phase already");
        layers.add_bar("a", "Waiting");
        assert!(layers.bar("a").is_none(), "no bars off a terminal");
        assert!(!layers.println_above("x"));
    }

    #[test]
    fn lines_go_above_bars_while_they_draw() {
        let mp = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let mut layers = Layers::new(Some(mp));
        layers.add_bar("a", "Pulling fs layer");
        let bar = layers.bar("a").expect("a bar on a terminal");
        assert_eq!(bar.message(), "Pulling fs layer");
        assert!(layers.drawing());
        assert!(layers.println_above("Digest: sha256:ab"));
        layers.finish();
        assert!(!layers.drawing());
        assert!(!layers.println_above("Status: ..."));
    }

    #[test]
    fn bars_take_the_look_they_are_given() {
        let bar = ProgressBar::hidden();
        show(
            &bar,
            Look::Bytes {
                current: 5,
                total: 10,
            },
            "Downloading".into(),
        );
        assert_eq!(
            (bar.length(), bar.position(), bar.message().as_str()),
            (Some(10), 5, "Downloading")
        );
        show(&bar, Look::Text, "Extracting".into());
        assert_eq!(bar.message(), "Extracting");
        assert!(!bar.is_finished());
        show(&bar, Look::Final, "Pull complete".into());
        assert_eq!(bar.message(), "Pull complete");
        assert!(bar.is_finished());
    }
}
