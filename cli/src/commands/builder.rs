//! `ferry builder prune [-f]`: empties the build cache (Docker's prompt and report).

use clap::{Args, Subcommand};
use ferry_proto::build::v1::{build_client::BuildClient, PruneBuildCacheRequest};

use super::prune::prune_report;
use crate::prompt;

#[derive(Debug, Subcommand)]
pub(crate) enum BuilderCommand {
    /// Remove build cache
    Prune(BuilderPruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BuilderPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

const WARNING: &str = "WARNING! This will remove all dangling build cache.";

pub(crate) async fn run(host: &str, cmd: BuilderCommand) -> anyhow::Result<i32> {
    let BuilderCommand::Prune(args) = cmd;
    if !args.force && !prompt::confirm(WARNING)? {
        return Ok(0);
    }
    let mut client = BuildClient::new(crate::client::connect(host).await?);
    let resp = client.prune(PruneBuildCacheRequest {}).await?.into_inner();
    print!("{}", report(resp.entries, resp.space_reclaimed));
    Ok(0)
}

fn report(entries: u64, reclaimed: u64) -> String {
    let lines = if entries > 0 {
        format!("{entries} steps\n")
    } else {
        String::new()
    };
    prune_report("Deleted build cache objects:", &lines, reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_as_dockers() {
        assert_eq!(report(0, 0), "Total reclaimed space: 0B\n");
        assert!(report(3, 2048)
            .starts_with("Deleted build cache objects:\n3 steps\n\nTotal reclaimed space: "));
    }
}
