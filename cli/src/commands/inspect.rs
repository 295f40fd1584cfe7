//! `ferry inspect` / `ferry container inspect`: the daemon's Docker-shaped JSON, gathered into
//! one array and printed with Docker's 4-space indent, or through `--format`.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, InspectRequest};
use serde::Serialize;
use serde_json::Value;

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
    let template = match args.format.as_deref() {
        None | Some("json") => None,
        Some(f) => Some(Template::parse(f)?),
    };
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        let req = InspectRequest { id: name.clone() };
        match client.inspect(req).await {
            Ok(resp) => collect(&resp.into_inner().json, &mut items)?,
            Err(st) if st.code() == tonic::Code::NotFound => {
                errors.push(format!("Error: {}", daemon_message(&st)))
            }
            Err(st) => errors.push(format!(
                "Error response from daemon: {}",
                daemon_message(&st)
            )),
        }
    }
    match &template {
        Some(t) => {
            for item in &items {
                println!("{}", t.render(item)?);
            }
        }
        None => println!("{}", pretty(&items)?),
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// One object, or an array of them, appended to `items`.
fn collect(json: &str, items: &mut Vec<Value>) -> anyhow::Result<()> {
    match serde_json::from_str::<Value>(json)? {
        Value::Array(a) => items.extend(a),
        v => items.push(v),
    }
    Ok(())
}

/// JSON with Docker's 4-space indent.
fn pretty(items: &[Value]) -> anyhow::Result<String> {
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
