//! `ferry port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports, from inspect.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, InspectRequest};
use serde_json::Value;

#[derive(Debug, Args)]
pub(crate) struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    private_port: Option<String>,
}

pub(crate) async fn run(host: &str, args: PortArgs) -> anyhow::Result<i32> {
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let req = InspectRequest {
        id: args.container.clone(),
    };
    let json = client.inspect(req).await?.into_inner().json;
    let v: Value = serde_json::from_str(&json)?;
    let lines = lines(&v, args.private_port.as_deref());
    match (args.private_port, lines.is_empty()) {
        (Some(p), true) => {
            eprintln!(
                "Error: No public port '{}' published for {}",
                with_proto(&p),
                args.container
            );
            Ok(1)
        }
        _ => {
            lines.iter().for_each(|l| println!("{l}"));
            Ok(0)
        }
    }
}

fn with_proto(p: &str) -> String {
    if p.contains('/') {
        p.to_string()
    } else {
        format!("{p}/tcp")
    }
}

/// `80/tcp -> 0.0.0.0:8080` lines, or just `0.0.0.0:8080` for one asked-for port.
fn lines(inspect: &Value, private: Option<&str>) -> Vec<String> {
    let Some(ports) = inspect["NetworkSettings"]["Ports"].as_object() else {
        return Vec::new();
    };
    let want = private.map(with_proto);
    let mut out = Vec::new();
    for (key, bindings) in ports {
        if want.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            let addr = format!(
                "{}:{}",
                b["HostIp"].as_str().unwrap_or_default(),
                b["HostPort"].as_str().unwrap_or_default()
            );
            out.push(if want.is_some() {
                addr
            } else {
                format!("{key} -> {addr}")
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_docker_prints_them() {
        let v = serde_json::json!({"NetworkSettings": {"Ports": {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}]}}});
        assert_eq!(
            lines(&v, None),
            ["53/udp -> 127.0.0.1:5353", "80/tcp -> 0.0.0.0:8080"]
        );
        assert_eq!(lines(&v, Some("80")), ["0.0.0.0:8080"]);
        assert!(lines(&v, Some("81")).is_empty());
    }
}
