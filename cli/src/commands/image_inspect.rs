//! `ferry image inspect IMAGE…`: ferryd's Docker-shaped JSON, gathered into one array.

use crate::client::Channel;
use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, InspectImageRequest};
use serde_json::Value;

use super::inspect::{collect, print_items};
use super::rmi::{daemon_line, image_message};

#[derive(Debug, Args)]
pub(crate) struct ImageInspectArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub(crate) async fn run(host: &str, args: ImageInspectArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for name in &args.images {
        match inspect_one(&mut client, name).await {
            Ok(v) => items.push(v),
            Err(st) if st.code() == tonic::Code::NotFound => {
                errors.push(format!("Error: {}", image_message(&st)))
            }
            Err(st) => errors.push(daemon_line(&st)),
        }
    }
    print_items(args.format.as_deref(), &items)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// One image's object, or the daemon's status.
pub(crate) async fn inspect_one(
    client: &mut ImagesClient<Channel>,
    name: &str,
) -> Result<Value, tonic::Status> {
    let req = InspectImageRequest {
        image: name.to_string(),
    };
    let json = client.inspect(req).await?.into_inner().json;
    let mut items = Vec::new();
    collect(&json, &mut items).map_err(|e| tonic::Status::internal(e.to_string()))?;
    Ok(items.pop().unwrap_or_default())
}
