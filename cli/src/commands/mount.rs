//! `ferry image mount` / `ferry image unmount`, as in Podman.

use clap::Args;
use ferry_proto::images::v1::{
    images_client::ImagesClient, MountImageRequest, UnmountImageRequest,
};

#[derive(Debug, Args)]
pub(crate) struct MountArgs {
    /// Image to mount (name, ID or digest)
    image: String,
}

#[derive(Debug, Args)]
pub(crate) struct UnmountArgs {
    /// Image, or the path `image mount` printed
    target: String,
}

pub(crate) async fn mount(host: &str, args: MountArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let path = client
        .mount(MountImageRequest { image: args.image })
        .await?
        .into_inner()
        .path;
    println!("{path}");
    Ok(0)
}

pub(crate) async fn unmount(host: &str, args: UnmountArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    client
        .unmount(UnmountImageRequest {
            target: args.target.clone(),
        })
        .await?;
    println!("{}", args.target);
    Ok(0)
}
