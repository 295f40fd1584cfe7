//! `ferry system prune [-a] [--volumes] [-f]`: stopped containers, unused networks, (anonymous)
//! volumes and dangling (or all unused) images, in Docker's order and words.

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, PruneImagesRequest};
use ferry_proto::volumes::v1::{volumes_client::VolumesClient, PruneVolumesRequest};

use super::df::human_size4;
use super::lifecycle::prune_containers;
use super::network::{prune_networks, prune_section};
use super::rmi::report;
use crate::prompt;

#[derive(Debug, Args)]
pub(crate) struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Docker's warning, listing what this run removes.
fn warning(all: bool, volumes: bool) -> String {
    let mut items = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    items.push(if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    let mut out = String::from("WARNING! This will remove:");
    for i in items {
        out.push_str("\n  - ");
        out.push_str(i);
    }
    out.push('\n');
    out
}

pub(crate) async fn run(host: &str, a: SystemPruneArgs) -> anyhow::Result<i32> {
    if !a.force && !prompt::confirm(&warning(a.all, a.volumes))? {
        return Ok(0);
    }
    let mut out = prune_section("Containers", &prune_containers(host).await?);
    out.push_str(&prune_section("Networks", &prune_networks(host).await?));
    let mut reclaimed = 0;
    if a.volumes {
        let mut v = VolumesClient::new(crate::client::connect(host).await?);
        let r = v
            .prune(PruneVolumesRequest { all: false })
            .await?
            .into_inner();
        reclaimed += r.space_reclaimed;
        out.push_str(&prune_section("Volumes", &r.deleted));
    }
    let mut images = ImagesClient::new(crate::client::connect(host).await?);
    let r = images
        .prune(PruneImagesRequest { all: a.all })
        .await?
        .into_inner();
    reclaimed += r.space_reclaimed;
    let lines = report(&r.items, "untagged: ", "deleted: ");
    if !lines.is_empty() {
        out.push_str(&format!("Deleted Images:\n{lines}\n"));
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size4(reclaimed)
    ));
    print!("{out}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_lists_what_goes() {
        assert_eq!(
            warning(false, false),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n"
        );
        let w = warning(true, true);
        assert!(
            w.contains("anonymous volumes") && w.contains("without at least one container"),
            "{w}"
        );
    }

    #[test]
    fn sections_are_skipped_when_empty() {
        assert_eq!(prune_section("Networks", &[]), "");
        assert_eq!(
            prune_section("Networks", &["n1".into()]),
            "Deleted Networks:\nn1\n\n"
        );
    }
}
