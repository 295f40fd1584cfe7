//! `ferry volume create|ls|inspect|rm|prune`, as Docker 28 prints them.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};
use ferry_proto::volumes::v1::{self as pb, volumes_client::VolumesClient};
use serde_json::{json, Value};

use crate::errors::daemon_message;
use crate::prompt;
use crate::render::format::{go_json, Columns, Format};

type Client = VolumesClient<crate::client::Channel>;

#[derive(Debug, Subcommand)]
pub(crate) enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Specify volume driver name
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label")]
    labels: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opts: Vec<String>,
    name: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only display volume names
    #[arg(short, long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short, long = "filter")]
    filters: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short, long)]
    force: bool,
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub(crate) async fn run(host: &str, cmd: VolumeCommand) -> anyhow::Result<i32> {
    let mut c = VolumesClient::new(crate::client::connect(host).await?);
    match cmd {
        VolumeCommand::Create(a) => create(&mut c, a).await,
        VolumeCommand::Ls(a) => ls(&mut c, a).await,
        VolumeCommand::Inspect(a) => inspect(&mut c, a).await,
        VolumeCommand::Rm(a) => rm(&mut c, a).await,
        VolumeCommand::Prune(a) => prune(&mut c, a).await,
    }
}

async fn create(c: &mut Client, a: CreateArgs) -> anyhow::Result<i32> {
    let req = pb::CreateVolumeRequest {
        name: a.name.unwrap_or_default(),
        driver: a.driver,
        labels: key_values(&a.labels).into_iter().collect(),
        options: key_values(&a.opts).into_iter().collect(),
    };
    println!("{}", c.create(req).await?.into_inner().name);
    Ok(0)
}

/// `k=v` (or a bare `k`, an empty value) as Docker's label and option flags read them.
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

fn header_name(field: &str) -> String {
    match field {
        "Name" => "VOLUME NAME".into(),
        other => other.to_uppercase(),
    }
}

const COLUMNS: Columns = Columns {
    header: header_name,
    json: go_json,
};

async fn ls(c: &mut Client, a: LsArgs) -> anyhow::Result<i32> {
    let filters = Filters::parse(&a.filters)?;
    let all = c
        .list(pb::ListVolumesRequest {})
        .await?
        .into_inner()
        .volumes;
    let rows: Vec<Value> = all.iter().filter(|v| filters.keeps(v)).map(row).collect();
    if a.quiet {
        for r in &rows {
            println!("{}", r["Name"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    let format = Format::parse_blank_default(a.format.as_deref(), DEFAULT_TABLE)?;
    print!("{}", format.render(&rows, &COLUMNS)?);
    Ok(0)
}

/// A volume as `ls --format` and `inspect` see it (Docker's field names).
pub(crate) fn row(v: &pb::Volume) -> Value {
    let labels: BTreeMap<&String, &String> = v.labels.iter().collect();
    json!({
        "CreatedAt": v.created_at, "Driver": v.driver, "Labels": labels,
        "Mountpoint": v.mountpoint, "Name": v.name, "Options": {}, "Scope": "local",
    })
}

/// `--filter dangling=true|false`, `name=SUBSTRING`, `label=KEY[=VALUE]`; all must hold.
#[derive(Debug, Default)]
struct Filters {
    dangling: Option<bool>,
    names: Vec<String>,
    labels: Vec<(String, Option<String>)>,
}

impl Filters {
    fn parse(items: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for item in items {
            match item.split_once('=') {
                Some(("dangling", v)) => {
                    f.dangling = Some(match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => anyhow::bail!("invalid filter 'dangling={v}'"),
                    })
                }
                Some(("name", v)) => f.names.push(v.to_string()),
                Some(("label", v)) => f.labels.push(match v.split_once('=') {
                    Some((k, val)) => (k.to_string(), Some(val.to_string())),
                    None => (v.to_string(), None),
                }),
                _ => anyhow::bail!("invalid filter '{item}'"),
            }
        }
        Ok(f)
    }

    fn keeps(&self, v: &pb::Volume) -> bool {
        self.dangling.is_none_or(|d| d == v.users.is_empty())
            && self.names.iter().all(|n| v.name.contains(n.as_str()))
            && self
                .labels
                .iter()
                .all(|(k, want)| match (v.labels.get(k), want) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
    }
}

async fn inspect(c: &mut Client, a: InspectArgs) -> anyhow::Result<i32> {
    let mut items = Vec::new();
    let mut code = 0;
    for name in a.volumes {
        match c.inspect(pb::InspectVolumeRequest { name }).await {
            Ok(r) => items.push(row(&r.into_inner())),
            Err(st) => {
                eprintln!("Error response from daemon: {}", daemon_message(&st));
                code = 1;
            }
        }
    }
    match a.format.as_deref() {
        Some(f) => {
            let format = Format::parse(Some(f), "")?;
            print!("{}", format.render(&items, &COLUMNS)?);
        }
        None => println!("{}", super::inspect::pretty(&items)?),
    }
    Ok(code)
}

async fn rm(c: &mut Client, a: RmArgs) -> anyhow::Result<i32> {
    let mut code = 0;
    for name in a.volumes {
        let req = pb::RemoveVolumeRequest {
            name: name.clone(),
            force: a.force,
        };
        match c.remove(req).await {
            Ok(_) => println!("{name}"),
            Err(st) => {
                eprintln!("Error response from daemon: {}", daemon_message(&st));
                code = 1;
            }
        }
    }
    Ok(code)
}

const ANONYMOUS_WARNING: &str =
    "WARNING! This will remove anonymous local volumes not used by at least one container.";
const ALL_WARNING: &str =
    "WARNING! This will remove all local volumes not used by at least one container.";

async fn prune(c: &mut Client, a: PruneArgs) -> anyhow::Result<i32> {
    let warning = if a.all {
        ALL_WARNING
    } else {
        ANONYMOUS_WARNING
    };
    if !a.force && !prompt::confirm(warning)? {
        return Ok(0);
    }
    let r = c
        .prune(pb::PruneVolumesRequest { all: a.all })
        .await?
        .into_inner();
    print!("{}", prune_report(&r.deleted, r.space_reclaimed));
    Ok(0)
}

fn prune_report(deleted: &[String], reclaimed: u64) -> String {
    let lines: String = deleted.iter().map(|d| format!("{d}\n")).collect();
    super::prune::prune_report("Deleted Volumes:", &lines, reclaimed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, users: &[&str], labels: &[(&str, &str)]) -> pb::Volume {
        pb::Volume {
            name: name.into(),
            driver: "local".into(),
            mountpoint: format!("/var/lib/ferry/volumes/{name}/_data"),
            users: users.iter().map(|u| u.to_string()).collect(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ls_prints_docker_columns() {
        let rows = vec![row(&vol("data", &[], &[])), row(&vol("web", &["c1"], &[]))];
        let f = Format::parse_blank_default(None, DEFAULT_TABLE).unwrap();
        assert_eq!(
            f.render(&rows, &COLUMNS).unwrap(),
            "DRIVER    VOLUME NAME\nlocal     data\nlocal     web\n"
        );
    }

    #[test]
    fn filters_dangling_name_and_label() {
        let vols = [
            vol("data", &[], &[("tier", "db")]),
            vol("web", &["c1"], &[("tier", "front")]),
        ];
        let names = |items: &[&str]| -> Vec<String> {
            let f =
                Filters::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            vols.iter()
                .filter(|v| f.keeps(v))
                .map(|v| v.name.clone())
                .collect()
        };
        assert_eq!(names(&["dangling=true"]), ["data"]);
        assert_eq!(names(&["dangling=false"]), ["web"]);
        assert_eq!(names(&["name=we"]), ["web"]);
        assert_eq!(names(&["label=tier=db"]), ["data"]);
        assert_eq!(names(&["label=tier"]), ["data", "web"]);
        assert!(Filters::parse(&["size=1".to_string()]).is_err());
    }

    #[test]
    fn prune_report_matches_docker() {
        assert_eq!(prune_report(&[], 0), "Total reclaimed space: 0B\n");
        assert_eq!(
            prune_report(&["a".into(), "b".into()], 2_000),
            "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 2kB\n"
        );
    }
}
