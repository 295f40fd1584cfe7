//! `ferry inspect` / `ferry container inspect`: the daemon's Docker-shaped JSON, gathered into
//! one array and printed with Docker's 4-space indent, or through `--format`.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, InspectRequest};
use ferry_proto::images::v1::images_client::ImagesClient;
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
    #[arg(required = true)]
    names: Vec<String>,
}

pub(crate) async fn run(host: &str, args: InspectArgs) -> anyhow::Result<i32> {
    let channel = crate::client::connect(host).await?;
    let mut client = ContainersClient::new(channel.clone());
    let mut images = ImagesClient::new(channel);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let req = InspectRequest { id: name.clone() };
        match client.inspect(req).await {
            Ok(resp) => collect(&resp.into_inner().json, &mut items)?,
            // As Docker: a name that is no container may be an image.
            Err(st) if st.code() == tonic::Code::NotFound => {
                match inspect_one(&mut images, name).await {
                    Ok(v) => items.push(v),
                    Err(ist) if ist.code() == tonic::Code::NotFound => {
                        errors.push(format!("Error: No such object: {name}"))
                    }
                    Err(ist) => errors.push(format!(
                        "Error response from daemon: {}",
                        daemon_message(&ist)
                    )),
                }
            }
            Err(st) => errors.push(format!(
                "Error response from daemon: {}",
                daemon_message(&st)
            )),
        }
    }
    print_items(args.format.as_deref(), &items)?;
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
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
