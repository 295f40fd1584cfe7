//! `ferry inspect` / `ferry container inspect`: the daemon's Docker-shaped JSON, gathered into
//! one array and printed with Docker's 4-space indent, or through `--format`.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, InspectRequest};
use ferry_proto::images::v1::images_client::ImagesClient;
use ferry_proto::networks::v1::{networks_client::NetworksClient, InspectNetworkRequest};
use ferry_proto::volumes::v1::{volumes_client::VolumesClient, InspectVolumeRequest};
use serde::Serialize;
use serde_json::Value;

use super::image_inspect::inspect_one;
use crate::errors::daemon_message;
use crate::render::template::Template;

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    format: Option<String>,
    /// Return JSON for specified type
    #[arg(long = "type", value_parser = KINDS)]
    kind: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

/// What a name may be, in the order Docker looks.
const KINDS: [&str; 4] = ["container", "image", "network", "volume"];

struct Clients {
    containers: ContainersClient<crate::client::Channel>,
    images: ImagesClient<crate::client::Channel>,
    networks: NetworksClient<crate::client::Channel>,
    volumes: VolumesClient<crate::client::Channel>,
}

pub(crate) async fn run(host: &str, args: InspectArgs) -> anyhow::Result<i32> {
    let channel = crate::client::connect(host).await?;
    let mut c = Clients {
        containers: ContainersClient::new(channel.clone()),
        images: ImagesClient::new(channel.clone()),
        networks: NetworksClient::new(channel.clone()),
        volumes: VolumesClient::new(channel),
    };
    let kinds: Vec<&str> = match args.kind.as_deref() {
        Some(k) => vec![k],
        None => KINDS.to_vec(),
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    'names: for name in &args.names {
        for kind in &kinds {
            match find(&mut c, kind, name).await {
                Ok(found) => {
                    items.extend(found);
                    continue 'names;
                }
                Err(st) if st.code() == tonic::Code::NotFound => {}
                Err(st) => {
                    errors.push(format!(
                        "Error response from daemon: {}",
                        daemon_message(&st)
                    ));
                    continue 'names;
                }
            }
        }
        // Docker names the type it was asked for, or says "object".
        let what = args.kind.as_deref().unwrap_or("object");
        errors.push(format!("Error: No such {what}: {name}"));
    }
    print_items(args.format.as_deref(), &items)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// The objects `name` is of `kind` (NotFound if none).
async fn find(c: &mut Clients, kind: &str, name: &str) -> Result<Vec<Value>, tonic::Status> {
    let bad = |e: serde_json::Error| tonic::Status::internal(e.to_string());
    match kind {
        "container" => {
            let req = InspectRequest {
                id: name.to_string(),
            };
            let json = c.containers.inspect(req).await?.into_inner().json;
            let mut items = Vec::new();
            collect(&json, &mut items).map_err(|e| tonic::Status::internal(e.to_string()))?;
            Ok(items)
        }
        "image" => Ok(vec![inspect_one(&mut c.images, name).await?]),
        "network" => {
            let req = InspectNetworkRequest {
                network: name.to_string(),
            };
            let json = c.networks.inspect(req).await?.into_inner().json;
            serde_json::from_str::<Vec<Value>>(&json).map_err(bad)
        }
        _ => {
            let req = InspectVolumeRequest {
                name: name.to_string(),
            };
            let v = c.volumes.inspect(req).await?.into_inner();
            Ok(vec![super::volume::row(&v)])
        }
    }
}

/// Prints the objects as one JSON array with Docker's indent, or each through the template.
pub(crate) fn print_items(format: Option<&str>, items: &[Value]) -> anyhow::Result<()> {
    match format {
        None | Some("json") => println!("{}", pretty(items)?),
        Some(f) => {
            let t = Template::parse(f)?;
            for item in items {
                println!("{}", t.render(item)?);
            }
        }
    }
    Ok(())
}

/// One object, or an array of them, appended to `items`.
pub(crate) fn collect(json: &str, items: &mut Vec<Value>) -> anyhow::Result<()> {
    match serde_json::from_str::<Value>(json)? {
        Value::Array(a) => items.extend(a),
        v => items.push(v),
    }
    Ok(())
}

/// JSON with Docker's 4-space indent.
pub(crate) fn pretty(items: &[Value]) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    items.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_arrays_become_one_array() {
        let mut items = Vec::new();
        collect(r#"{"Id":"a"}"#, &mut items).expect("object");
        collect(r#"[{"Id":"b"}]"#, &mut items).expect("array");
        assert_eq!(
            pretty(&items).expect("pretty"),
            "[\n    {\n        \"Id\": \"a\"\n    },\n    {\n        \"Id\": \"b\"\n    }\n]"
        );
        assert_eq!(pretty(&[]).expect("empty"), "[]");
    }
}
