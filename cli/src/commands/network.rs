//! `ferry network create|ls|inspect|rm|connect|disconnect`.

use clap::{Args, Subcommand};
use ferry_proto::networks::v1::{self as pb, networks_client::NetworksClient};

use crate::errors::daemon_message;
use crate::render::table;

type Client = NetworksClient<crate::client::Channel>;

#[derive(Debug, Subcommand)]
pub(crate) enum NetworkCommand {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(NamesArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Connect a container to a network
    Connect(LinkArgs),
    /// Disconnect a container from a network
    Disconnect(LinkArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

const PRUNE_WARNING: &str =
    "WARNING! This will remove all custom networks not used by at least one container.";

/// Removes every user network no container uses; their names (`network prune`, `system prune`).
pub(crate) async fn prune_networks(host: &str) -> anyhow::Result<Vec<String>> {
    let mut c = NetworksClient::new(crate::client::connect(host).await?);
    let all = c
        .list(pb::ListNetworksRequest {})
        .await?
        .into_inner()
        .networks;
    let mut deleted = Vec::new();
    for n in all
        .iter()
        .filter(|n| !matches!(n.name.as_str(), "bridge" | "host" | "none"))
    {
        match c
            .remove(pb::RemoveNetworkRequest {
                network: n.id.clone(),
            })
            .await
        {
            Ok(r) => deleted.push(r.into_inner().name),
            // In use (or gone meanwhile): prune leaves it, as Docker's does.
            Err(st)
                if matches!(
                    st.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::NotFound
                ) => {}
            Err(st) => return Err(st.into()),
        }
    }
    Ok(deleted)
}

/// `Deleted Networks:` and the names, or nothing.
pub(crate) fn prune_section(title: &str, names: &[String]) -> String {
    if names.is_empty() {
        return String::new();
    }
    let mut out = format!("Deleted {title}:\n");
    for n in names {
        out.push_str(n);
        out.push('\n');
    }
    out.push('\n');
    out
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Driver to manage the Network (only bridge)
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Option<String>,
    /// Set metadata on a network
    #[arg(long = "label")]
    labels: Vec<String>,
    name: String,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
}

#[derive(Debug, Args)]
pub(crate) struct NamesArgs {
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LinkArgs {
    network: String,
    container: String,
    /// Force the container to disconnect from a network (accepted)
    #[arg(short, long)]
    force: bool,
}

pub(crate) async fn run(host: &str, cmd: NetworkCommand) -> anyhow::Result<i32> {
    let mut c = NetworksClient::new(crate::client::connect(host).await?);
    match cmd {
        NetworkCommand::Prune(a) => {
            if !a.force && !crate::prompt::confirm(PRUNE_WARNING)? {
                return Ok(0);
            }
            print!(
                "{}",
                prune_section("Networks", &prune_networks(host).await?)
            );
            Ok(0)
        }
        NetworkCommand::Create(a) => create(&mut c, a).await,
        NetworkCommand::Ls(a) => ls(&mut c, a).await,
        NetworkCommand::Inspect(a) => inspect(&mut c, a).await,
        NetworkCommand::Rm(a) => rm(&mut c, a).await,
        NetworkCommand::Connect(a) => {
            let req = pb::ConnectRequest {
                network: a.network,
                container: a.container,
            };
            c.connect_container(req).await?;
            Ok(0)
        }
        NetworkCommand::Disconnect(a) => {
            let req = pb::DisconnectRequest {
                network: a.network,
                container: a.container,
            };
            c.disconnect_container(req).await?;
            Ok(0)
        }
    }
}

async fn create(c: &mut Client, a: CreateArgs) -> anyhow::Result<i32> {
    if a.driver != "bridge" {
        eprintln!(
            "Error response from daemon: plugin \"{}\" not found",
            a.driver
        );
        return Ok(1);
    }
    let labels = a
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let req = pb::CreateNetworkRequest {
        name: a.name,
        subnet: a.subnet.unwrap_or_default(),
        labels,
    };
    println!("{}", c.create(req).await?.into_inner().id);
    Ok(0)
}

async fn ls(c: &mut Client, a: LsArgs) -> anyhow::Result<i32> {
    let nets = c
        .list(pb::ListNetworksRequest {})
        .await?
        .into_inner()
        .networks;
    let id = |n: &pb::Network| {
        if a.no_trunc {
            n.id.clone()
        } else {
            n.id.chars().take(12).collect()
        }
    };
    if a.quiet {
        nets.iter().for_each(|n| println!("{}", id(n)));
        return Ok(0);
    }
    let mut rows = vec![["NETWORK ID", "NAME", "DRIVER", "SCOPE"]
        .map(String::from)
        .to_vec()];
    rows.extend(
        nets.iter()
            .map(|n| vec![id(n), n.name.clone(), n.driver.clone(), "local".into()]),
    );
    print!("{}", table(&rows));
    Ok(0)
}

async fn inspect(c: &mut Client, a: NamesArgs) -> anyhow::Result<i32> {
    let mut items = Vec::new();
    let mut code = 0;
    for n in a.networks {
        match c.inspect(pb::InspectNetworkRequest { network: n }).await {
            Ok(r) => {
                let v: Vec<serde_json::Value> = serde_json::from_str(&r.into_inner().json)?;
                items.extend(v);
            }
            Err(st) => {
                eprintln!("Error response from daemon: {}", daemon_message(&st));
                code = 1;
            }
        }
    }
    println!("{}", super::inspect::pretty(&items)?);
    Ok(code)
}

async fn rm(c: &mut Client, a: NamesArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for n in a.networks {
        match c.remove(pb::RemoveNetworkRequest { network: n }).await {
            Ok(r) => println!("{}", r.into_inner().name),
            Err(st) => {
                eprintln!("Error response from daemon: {}", daemon_message(&st));
                code = 1;
            }
        }
    }
    Ok(code)
}
