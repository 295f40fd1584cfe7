//! `ferry stats [-a] [--no-stream] [--no-trunc] [--format F] [CONTAINER...]`: Docker's live
//! table of CPU, memory, network, block I/O and PIDs.
//!
//! ferryd sends one entry per container per round (every second, or a single round with
//! `--no-stream`). A round ends when an ID repeats or the stream goes quiet, and is drawn as one
//! table: on a terminal the screen is cleared first, as Docker redraws; otherwise each round is
//! printed below the last. Memory sizes use binary units (`1.5MiB / 7.775GiB`), I/O decimal ones
//! (`1.2kB / 0B`), as Docker's formatter does.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, StatsEntry, StatsRequest};
use serde_json::{json, Value};

use crate::render::format::{plain_json, Columns, Format};
use crate::render::{bytes_size, human_size};

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// How long the stream may stay silent before the entries so far are drawn as a round.
const QUIET: Duration = Duration::from_millis(300);

#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

pub(crate) async fn run(host: &str, args: StatsArgs) -> anyhow::Result<i32> {
    let format = Format::parse(args.format.as_deref(), DEFAULT_TABLE)?;
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let req = StatsRequest {
        ids: args.containers.clone(),
        all: args.all,
        stream: !args.no_stream,
    };
    let mut stream = client.stats(req).await?.into_inner();
    let view = View {
        format,
        no_trunc: args.no_trunc,
        named: args.containers,
        clear: !args.no_stream && std::io::stdout().is_terminal(),
    };
    let mut round: Vec<StatsEntry> = Vec::new();
    loop {
        let next = if round.is_empty() || args.no_stream {
            stream.message().await?
        } else {
            match tokio::time::timeout(QUIET, stream.message()).await {
                Ok(m) => m?,
                Err(_) => {
                    view.draw(&std::mem::take(&mut round))?;
                    continue;
                }
            }
        };
        let Some(entry) = next else { break };
        if round.iter().any(|e| e.id == entry.id) {
            view.draw(&std::mem::take(&mut round))?;
        }
        round.push(entry);
    }
    if !round.is_empty() || args.no_stream {
        view.draw(&round)?;
    }
    Ok(0)
}

/// How rounds are shown.
#[derive(Debug)]
struct View {
    format: Format,
    no_trunc: bool,
    /// The containers as named on the command line (`{{.Container}}`).
    named: Vec<String>,
    clear: bool,
}

impl View {
    fn draw(&self, round: &[StatsEntry]) -> anyhow::Result<()> {
        let rows: Vec<Value> = round.iter().map(|e| self.row(e)).collect();
        let mut out = String::new();
        if self.clear {
            out.push_str("\x1b[2J\x1b[H");
        }
        out.push_str(&self.format.render(&rows, &COLUMNS)?);
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
        Ok(())
    }

    fn row(&self, e: &StatsEntry) -> Value {
        let id = if self.no_trunc {
            e.id.clone()
        } else {
            e.id.chars().take(12).collect()
        };
        let container = self
            .named
            .iter()
            .find(|n| e.id.starts_with(n.as_str()) || **n == e.name)
            .cloned()
            .unwrap_or_else(|| id.clone());
        json!({
            "BlockIO": format!("{} / {}", human_size(e.block_read), human_size(e.block_write)),
            "CPUPerc": format!("{:.2}%", e.cpu_percent),
            "Container": container,
            "ID": id,
            "MemPerc": format!("{:.2}%", mem_percent(e)),
            "MemUsage": format!("{} / {}", bytes_size(e.mem_usage), bytes_size(e.mem_limit)),
            "Name": e.name,
            "NetIO": format!("{} / {}", human_size(e.net_rx), human_size(e.net_tx)),
            "PIDs": e.pids.to_string(),
        })
    }
}

fn mem_percent(e: &StatsEntry) -> f64 {
    if e.mem_limit == 0 {
        0.0
    } else {
        e.mem_usage as f64 / e.mem_limit as f64 * 100.0
    }
}

fn header_name(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID",
        "Container" => "CONTAINER",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => return other.to_uppercase(),
    }
    .into()
}

const COLUMNS: Columns = Columns {
    header: header_name,
    json: plain_json,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> StatsEntry {
        StatsEntry {
            id: "ab".repeat(32),
            name: "web".into(),
            cpu_percent: 12.345,
            mem_usage: 1_258_291,
            mem_limit: 64 << 20,
            net_rx: 0,
            net_tx: 1300,
            block_read: 4_261_234,
            block_write: 0,
            pids: 3,
        }
    }

    #[test]
    fn sizes_match_dockers_units() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1_258_291), "1.2MiB");
        assert_eq!(bytes_size(8_348_000_000), "7.775GiB");
        assert_eq!(bytes_size(1023), "1023B");
        assert_eq!(bytes_size(1536), "1.5KiB");
    }

    #[test]
    fn default_table_matches_docker() {
        let view = View {
            format: Format::parse(None, DEFAULT_TABLE).unwrap(),
            no_trunc: false,
            named: vec![],
            clear: false,
        };
        let out = view.format.render(&[view.row(&entry())], &COLUMNS).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O      BLOCK I/O     PIDS"
        );
        assert_eq!(
            lines[1],
            "abababababab   web       12.35%    1.2MiB / 64MiB      1.87%     0B / 1.3kB   4.26MB / 0B   3"
        );
    }

    #[test]
    fn custom_and_json_formats() {
        let view = View {
            format: Format::parse(Some("{{.Container}}: {{.CPUPerc}}"), DEFAULT_TABLE).unwrap(),
            no_trunc: true,
            named: vec!["web".into()],
            clear: false,
        };
        assert_eq!(
            view.format.render(&[view.row(&entry())], &COLUMNS).unwrap(),
            "web: 12.35%\n"
        );
        let json = Format::Json
            .render(&[view.row(&entry())], &COLUMNS)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["ID"].as_str().unwrap().len(), 64);
        assert_eq!(v["PIDs"], "3");
    }
}
