//! `ferry top CONTAINER [ps OPTIONS]`: the daemon's titles and rows, as Docker's table.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, TopRequest};

use crate::render::table_min;

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

pub(crate) async fn run(host: &str, args: TopArgs) -> anyhow::Result<i32> {
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let req = TopRequest {
        id: args.container,
        ps_args: args.ps_args,
    };
    let top = client.top(req).await?.into_inner();
    let mut rows = vec![top.titles];
    rows.extend(top.processes.into_iter().map(|r| r.cells));
    // Docker's `tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`.
    print!("{}", table_min(&rows, 20));
    Ok(0)
}
