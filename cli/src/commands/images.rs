//! `ferry images` / `ferry image ls`.

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, ListImagesRequest};

use crate::render::{ago, human_size, repo_and_tag, table};

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// REPOSITORY[:TAG] to list
    reference: Option<String>,
}

pub(crate) async fn run(host: &str, args: ImagesArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = ListImagesRequest {
        reference: args.reference.clone().unwrap_or_default(),
    };
    let images = client.list(req).await?.into_inner().images;
    let now = chrono::Utc::now().timestamp();
    let id = |full: &str| -> String {
        let hex = full.strip_prefix("sha256:").unwrap_or(full);
        if args.no_trunc {
            full.to_string()
        } else {
            hex.chars().take(12).collect()
        }
    };
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for img in &images {
            if seen.insert(img.id.clone()) {
                println!("{}", id(&img.id));
            }
        }
        return Ok(0);
    }
    let mut rows = vec![["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
        .map(String::from)
        .to_vec()];
    for img in &images {
        let (repo, tag) = repo_and_tag(&img.name);
        rows.push(vec![
            repo,
            tag,
            id(&img.id),
            ago(img.created, now),
            human_size(img.size),
        ]);
    }
    print!("{}", table(&rows));
    Ok(0)
}
