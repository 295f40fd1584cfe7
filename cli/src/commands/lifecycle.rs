//! One-RPC verbs over several containers (`stop`, `kill`, `restart`, `rm`, `pause`, `unpause`,
//! `wait`), plus `rename` and `container prune`. Each name is tried in turn; a failure prints
//! `Error response from daemon: …` and the verb exits 1 after trying the rest, as Docker.

use std::future::Future;

use clap::Args;
use ferry_proto::containers::v1::{
    containers_client::ContainersClient, KillRequest, ListRequest, PauseRequest, RemoveRequest,
    RenameRequest, RestartRequest, StopRequest, UnpauseRequest, WaitRequest,
};

use super::attach::Client;
use crate::errors::report_one;
use crate::prompt;

#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        allow_negative_numbers = true
    )]
    timeout: Option<i32>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Runs `op` for each name, printing what it returns; exit 1 if any failed.
pub(crate) async fn for_each<F, Fut>(host: &str, names: &[String], mut op: F) -> anyhow::Result<i32>
where
    F: FnMut(Client, String) -> Fut,
    Fut: Future<Output = Result<String, tonic::Status>>,
{
    let client = ContainersClient::new(crate::client::connect(host).await?);
    let mut code = 0;
    for name in names {
        match op(client.clone(), name.clone()).await {
            Ok(line) => println!("{line}"),
            Err(status) => {
                report_one(status);
                code = 1;
            }
        }
    }
    Ok(code)
}

pub(crate) async fn stop(host: &str, a: StopArgs) -> anyhow::Result<i32> {
    let timeout = a.timeout;
    for_each(host, &a.containers, |mut c, id| async move {
        c.stop(StopRequest {
            id: id.clone(),
            timeout,
        })
        .await
        .map(|_| id)
    })
    .await
}

pub(crate) async fn restart(host: &str, a: StopArgs) -> anyhow::Result<i32> {
    let timeout = a.timeout;
    for_each(host, &a.containers, |mut c, id| async move {
        c.restart(RestartRequest {
            id: id.clone(),
            timeout,
        })
        .await
        .map(|_| id)
    })
    .await
}

pub(crate) async fn kill(host: &str, a: KillArgs) -> anyhow::Result<i32> {
    let signal = a.signal;
    for_each(host, &a.containers, |mut c, id| {
        let signal = signal.clone();
        async move {
            c.kill(KillRequest {
                id: id.clone(),
                signal,
            })
            .await
            .map(|_| id)
        }
    })
    .await
}

pub(crate) async fn rm(host: &str, a: RmArgs) -> anyhow::Result<i32> {
    let (force, volumes) = (a.force, a.volumes);
    for_each(host, &a.containers, |mut c, id| async move {
        c.remove(RemoveRequest {
            id: id.clone(),
            force,
            volumes,
        })
        .await
        .map(|_| id)
    })
    .await
}

pub(crate) async fn pause(host: &str, a: NamesArgs) -> anyhow::Result<i32> {
    for_each(host, &a.containers, |mut c, id| async move {
        c.pause(PauseRequest { id: id.clone() }).await.map(|_| id)
    })
    .await
}

pub(crate) async fn unpause(host: &str, a: NamesArgs) -> anyhow::Result<i32> {
    for_each(host, &a.containers, |mut c, id| async move {
        c.unpause(UnpauseRequest { id: id.clone() })
            .await
            .map(|_| id)
    })
    .await
}

pub(crate) async fn wait(host: &str, a: NamesArgs) -> anyhow::Result<i32> {
    for_each(host, &a.containers, |mut c, id| async move {
        c.wait(WaitRequest { id })
            .await
            .map(|r| r.into_inner().exit_code.to_string())
    })
    .await
}

pub(crate) async fn rename(host: &str, a: RenameArgs) -> anyhow::Result<i32> {
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let req = RenameRequest {
        id: a.container,
        new_name: a.new_name,
    };
    client.rename(req).await?;
    Ok(0)
}

const PRUNE_WARNING: &str = "WARNING! This will remove all stopped containers.";

/// `container prune`: removes created, exited and dead containers.
pub(crate) async fn prune(host: &str, a: PruneArgs) -> anyhow::Result<i32> {
    if !a.force && !prompt::confirm(PRUNE_WARNING)? {
        return Ok(0);
    }
    let deleted = prune_containers(host).await?;
    print!("{}", prune_report(&deleted));
    Ok(0)
}

/// Removes every stopped container; their IDs (`container prune` and `system prune`).
pub(crate) async fn prune_containers(host: &str) -> anyhow::Result<Vec<String>> {
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let list = client.list(ListRequest { all: true }).await?.into_inner();
    let mut deleted = Vec::new();
    for c in list.containers.iter().filter(|c| prunable(&c.state)) {
        let req = RemoveRequest {
            id: c.id.clone(),
            force: false,
            volumes: false,
        };
        match client.remove(req).await {
            Ok(_) => deleted.push(c.id.clone()),
            // Started or removed meanwhile: not ours to report, as Docker's prune.
            Err(st) if st.code() == tonic::Code::NotFound => {}
            Err(st) => report_one(st),
        }
    }
    Ok(deleted)
}

fn prunable(state: &str) -> bool {
    matches!(state, "created" | "exited" | "dead")
}

fn prune_report(deleted: &[String]) -> String {
    let mut out = String::new();
    if !deleted.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in deleted {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str("Total reclaimed space: 0B\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_takes_stopped_containers_only() {
        for s in ["created", "exited", "dead"] {
            assert!(prunable(s), "{s}");
        }
        for s in ["running", "paused", "restarting", "removing"] {
            assert!(!prunable(s), "{s}");
        }
    }

    #[test]
    fn prune_report_matches_docker() {
        assert_eq!(prune_report(&[]), "Total reclaimed space: 0B\n");
        assert_eq!(
            prune_report(&["abc".into()]),
            "Deleted Containers:\nabc\n\nTotal reclaimed space: 0B\n"
        );
    }
}
