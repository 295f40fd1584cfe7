//! `ferry tag` / `ferry image tag SOURCE TARGET`: silent on success, as Docker.

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, TagImageRequest};

use super::rmi::daemon_line;

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

pub(crate) async fn run(host: &str, args: TagArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = TagImageRequest {
        source: args.source,
        target: args.target,
    };
    match client.tag(req).await {
        Ok(_) => Ok(0),
        Err(st) => {
            eprintln!("{}", daemon_line(&st));
            Ok(1)
        }
    }
}
