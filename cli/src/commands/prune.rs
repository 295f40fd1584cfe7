//! `ferry image prune [-a] [-f]`: Docker's prompt, report and `Total reclaimed space:` line.

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, PruneImagesRequest};

use super::df::human_size4;
use super::rmi::report;
use crate::prompt;

#[derive(Debug, Args)]
pub(crate) struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

const DANGLING_WARNING: &str = "WARNING! This will remove all dangling images.";
const ALL_WARNING: &str =
    "WARNING! This will remove all images without at least one container associated to them.";

pub(crate) async fn run(host: &str, args: ImagePruneArgs) -> anyhow::Result<i32> {
    let warning = if args.all {
        ALL_WARNING
    } else {
        DANGLING_WARNING
    };
    if !args.force && !prompt::confirm(warning)? {
        return Ok(0);
    }
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let resp = client
        .prune(PruneImagesRequest { all: args.all })
        .await?
        .into_inner();
    let deleted = report(&resp.items, "untagged: ", "deleted: ");
    print!(
        "{}",
        prune_report("Deleted Images:", &deleted, resp.space_reclaimed)
    );
    Ok(0)
}

/// Docker's prune report: `title`, the deleted lines and a blank line (when any), then the
/// reclaimed space.
pub(crate) fn prune_report(title: &str, deleted: &str, reclaimed: u64) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str(title);
        out.push('\n');
        out.push_str(deleted);
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size4(reclaimed)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_matches_docker() {
        assert_eq!(
            prune_report("Deleted Images:", "", 0),
            "Total reclaimed space: 0B\n"
        );
        assert_eq!(
            prune_report("Deleted Images:", "deleted: sha256:ab\n", 4_261_234),
            "Deleted Images:\ndeleted: sha256:ab\n\nTotal reclaimed space: 4.261MB\n"
        );
    }
}
