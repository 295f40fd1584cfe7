//! `ferry history` / `ferry image history IMAGE`: the config's history, newest first, as Docker
//! prints it (IMAGE CREATED CREATED BY SIZE COMMENT).

use clap::{ArgAction, Args};
use ferry_proto::images::v1::{images_client::ImagesClient, HistoryEntry, ImageHistoryRequest};
use serde_json::{json, Value};

use super::images::{created_at, short_id};
use super::rmi::daemon_line;
use crate::render::format::{go_json, Columns, Format};
use crate::render::{ago, ellipsis, human_size};

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Print sizes and dates in human readable format (`-H` is the daemon host in Ferry)
    #[arg(long, default_value_t = true, action = ArgAction::Set)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    image: String,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub(crate) async fn run(host: &str, args: HistoryArgs) -> anyhow::Result<i32> {
    let format = Format::parse_blank_default(args.format.as_deref(), DEFAULT_TABLE)?;
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = ImageHistoryRequest {
        image: args.image.clone(),
    };
    let entries = match client.history(req).await {
        Ok(r) => r.into_inner().entries,
        Err(st) => {
            eprintln!("{}", daemon_line(&st));
            return Ok(1);
        }
    };
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = entries.iter().map(|e| row(e, &args, now)).collect();
    if args.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    print!("{}", format.render(&rows, &COLUMNS)?);
    Ok(0)
}

/// One entry as Docker's `historyContext` shows it.
fn row(e: &HistoryEntry, args: &HistoryArgs, now: i64) -> Value {
    let trunc = !args.no_trunc;
    let id = if e.id == "<missing>" {
        e.id.clone()
    } else {
        short_id(&e.id, trunc)
    };
    let created_by = e.created_by.replace('\t', " ");
    let (since, size) = if args.human {
        (ago(e.created, now), human_size(e.size))
    } else {
        (rfc3339(e.created), e.size.to_string())
    };
    json!({
        "ID": id,
        "CreatedSince": since,
        "CreatedAt": created_at(e.created),
        "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
        "Size": size,
        "Comment": e.comment,
        "Tags": e.tags.join(", "),
    })
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

const COLUMNS: Columns = Columns {
    header: header_name,
    json: go_json,
};

fn header_name(field: &str) -> String {
    match field {
        "ID" => "IMAGE".into(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedBy" => "CREATED BY".into(),
        other => other.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_renders_as_docker() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct W {
            #[command(flatten)]
            a: HistoryArgs,
        }
        let args = W::parse_from(["history", "x"]).a;
        let entries = [
            HistoryEntry {
                id: format!("sha256:{}", "a".repeat(64)),
                created: 100,
                created_by: "/bin/sh -c #(nop)  CMD [\"sh\"]".into(),
                size: 0,
                comment: String::new(),
                tags: vec![],
            },
            HistoryEntry {
                id: "<missing>".into(),
                created: 100,
                created_by: "/bin/sh -c #(nop) ADD file:0123456789abcdef0123456789 in / ".into(),
                size: 4_261_234,
                comment: "imported".into(),
                tags: vec![],
            },
        ];
        let rows: Vec<Value> = entries.iter().map(|e| row(e, &args, 100 + 7200)).collect();
        let f = Format::parse_blank_default(None, DEFAULT_TABLE).unwrap();
        assert_eq!(
            f.render(&rows, &COLUMNS).unwrap(),
            "IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT\n\
             aaaaaaaaaaaa   2 hours ago   /bin/sh -c #(nop)  CMD [\"sh\"]                   0B\n\
             <missing>      2 hours ago   /bin/sh -c #(nop) ADD file:0123456789abcdef0…   4.26MB    imported\n"
        );
        let raw = W::parse_from(["history", "--human=false", "x"]).a;
        assert_eq!(row(&entries[1], &raw, 0)["Size"], json!("4261234"));
    }
}
