//! `ferry rmi` / `ferry image rm`: all names in one request, each tried in turn by ferryd (one
//! transaction, one collection), which decides as Docker's daemon does and reports
//! `Untagged:`/`Deleted:` lines; failures are printed after, exit status 1.

use clap::Args;
use ferry_proto::images::v1::{delete_item::Item, images_client::ImagesClient, DeleteItem};
use ferry_proto::images::v1::{RemoveImageRequest, RemoveResult};

use crate::errors::daemon_message;

#[derive(Debug, Args)]
pub(crate) struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents (accepted; Ferry images have no parents)
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

pub(crate) async fn run(host: &str, args: RmiArgs) -> anyhow::Result<i32> {
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let Some((first, rest)) = args.images.split_first() else {
        anyhow::bail!("'ferry rmi' requires at least 1 argument");
    };
    // One request for all the names: one transaction and one collection in ferryd.
    let req = RemoveImageRequest {
        image: first.clone(),
        force: args.force,
        images: rest.to_vec(),
    };
    // One name answers with its lines or a status; several with one result each.
    let outcomes: Vec<(tonic::Status, Vec<DeleteItem>)> = match client.remove(req).await {
        Ok(resp) => {
            let resp = resp.into_inner();
            if resp.results.is_empty() {
                vec![(tonic::Status::ok(""), resp.items)]
            } else {
                let status = |r: &RemoveResult| {
                    tonic::Status::new(tonic::Code::from_i32(r.code), r.message.clone())
                };
                resp.results
                    .into_iter()
                    .map(|r| (status(&r), r.items))
                    .collect()
            }
        }
        Err(st) => vec![(st, Vec::new())],
    };
    let mut errors = Vec::new();
    for (st, items) in &outcomes {
        match st.code() {
            tonic::Code::Ok => print!("{}", report(items, "Untagged: ", "Deleted: ")),
            // As Docker's CLI: with -f, an image that is not there is not an error.
            tonic::Code::NotFound if args.force => {}
            _ => errors.push(daemon_line(st)),
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// The report lines, one per item, with Docker's prefixes (`rmi` and `prune` differ in case).
pub(crate) fn report(items: &[DeleteItem], untagged: &str, deleted: &str) -> String {
    let mut out = String::new();
    for item in items {
        match &item.item {
            Some(Item::Untagged(s)) => out.push_str(&format!("{untagged}{s}\n")),
            Some(Item::Deleted(s)) => out.push_str(&format!("{deleted}{s}\n")),
            None => {}
        }
    }
    out
}

/// `Error response from daemon: …`, with Docker's capital in `No such image`.
pub(crate) fn daemon_line(st: &tonic::Status) -> String {
    format!("Error response from daemon: {}", image_message(st))
}

pub(crate) fn image_message(st: &tonic::Status) -> String {
    let msg = daemon_message(st);
    match msg.strip_prefix("no such image") {
        Some(rest) => format!("No such image{rest}"),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_and_errors_read_as_docker() {
        let items = vec![
            DeleteItem {
                item: Some(Item::Untagged("busybox:latest".into())),
            },
            DeleteItem {
                item: Some(Item::Deleted("sha256:ab".into())),
            },
        ];
        assert_eq!(
            report(&items, "Untagged: ", "Deleted: "),
            "Untagged: busybox:latest\nDeleted: sha256:ab\n"
        );
        let st = tonic::Status::not_found("no such image: x:latest");
        assert_eq!(
            daemon_line(&st),
            "Error response from daemon: No such image: x:latest"
        );
    }
}
