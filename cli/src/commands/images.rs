//! `ferry images` / `ferry image ls`: List (with Docker's filters, applied by ferryd), then the
//! rows, truncation and `--format` (table, `json`, Go-style templates) as Docker prints them.

use std::collections::BTreeMap;

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, Image, ListImagesRequest};
use serde_json::Value;

use crate::render::format::{go_json, Columns, Format};
use crate::render::template::TemplateError;
use crate::render::{ago, human_size, repo_and_tag};

#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Show all images (default hides intermediate images; Ferry has none)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// REPOSITORY[:TAG] to list
    reference: Option<String>,
}

const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGESTS_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub(crate) async fn run(host: &str, args: ImagesArgs) -> anyhow::Result<i32> {
    let format = parse_format(args.format.as_deref(), args.digests)?;
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = ListImagesRequest {
        reference: args.reference.clone().unwrap_or_default(),
        filters: args.filter.clone(),
    };
    let images = client.list(req).await?.into_inner().images;
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for img in &images {
            if seen.insert(img.id.clone()) {
                println!("{}", short_id(&img.id, !args.no_trunc));
            }
        }
        return Ok(0);
    }
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = images.iter().map(|i| row(i, !args.no_trunc, now)).collect();
    print!("{}", format.render(&rows, &COLUMNS)?);
    Ok(0)
}

/// Docker's `stringid.TruncateID`, or the full `sha256:…` with `--no-trunc`.
pub(crate) fn short_id(id: &str, trunc: bool) -> String {
    if trunc {
        id.strip_prefix("sha256:")
            .unwrap_or(id)
            .chars()
            .take(12)
            .collect()
    } else {
        id.to_string()
    }
}

/// One image as the fields `--format` sees (Docker's `imageContext`).
fn row(img: &Image, trunc: bool, now: i64) -> Value {
    let (repo, tag) = if img.name.is_empty() {
        ("<none>".to_string(), "<none>".to_string())
    } else {
        repo_and_tag(&img.name)
    };
    let digest = match img.name.split_once('@') {
        Some((_, d)) => d.to_string(),
        None if !img.target_digest.is_empty() => img.target_digest.clone(),
        None => "<none>".into(),
    };
    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
    let size = human_size(img.size);
    for (k, v) in [
        ("Containers", "N/A".to_string()),
        ("CreatedAt", created_at(img.created)),
        ("CreatedSince", ago(img.created, now)),
        ("Digest", digest),
        ("ID", short_id(&img.id, trunc)),
        ("Repository", repo),
        ("SharedSize", "N/A".into()),
        ("Size", size.clone()),
        ("Tag", tag),
        ("UniqueSize", "N/A".into()),
        ("VirtualSize", size),
    ] {
        m.insert(k, Value::String(v));
    }
    serde_json::to_value(m).unwrap_or_default()
}

/// Go's `time.Time.String()` in UTC: `2024-01-02 03:04:05 +0000 UTC`.
pub(crate) fn created_at(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

fn header_name(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".into(),
        "CreatedSince" => "CREATED".into(),
        "CreatedAt" => "CREATED AT".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "UniqueSize" => "UNIQUE SIZE".into(),
        "VirtualSize" => "VIRTUAL SIZE".into(),
        other => other.to_uppercase(),
    }
}

const COLUMNS: Columns = Columns {
    header: header_name,
    json: go_json,
};

/// `--format`, whose default table gains a DIGEST column with `--digests`.
fn parse_format(flag: Option<&str>, digests: bool) -> Result<Format, TemplateError> {
    let default = if digests {
        DIGESTS_TABLE
    } else {
        DEFAULT_TABLE
    };
    Format::parse_blank_default(flag, default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, target: &str) -> Image {
        Image {
            name: name.into(),
            id: format!("sha256:{}", "a".repeat(64)),
            target_digest: target.into(),
            created: 1_704_164_645,
            size: 4_261_234,
            ..Default::default()
        }
    }

    #[test]
    fn rows_render_as_docker() {
        let rows = vec![
            row(
                &image("docker.io/library/busybox:latest", "sha256:d"),
                true,
                1_704_164_645 + 7200,
            ),
            row(&image("", ""), true, 1_704_164_645 + 7200),
        ];
        let f = parse_format(None, false).unwrap();
        assert_eq!(
            f.render(&rows, &COLUMNS).unwrap(),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    aaaaaaaaaaaa   2 hours ago   4.26MB\n\
             <none>       <none>    aaaaaaaaaaaa   2 hours ago   4.26MB\n"
        );
        let f = parse_format(Some("{{.Repository}}:{{.Tag}} {{.Digest}}"), false).unwrap();
        assert_eq!(
            f.render(&rows, &COLUMNS).unwrap(),
            "busybox:latest sha256:d\n<none>:<none> <none>\n"
        );
        let f = parse_format(Some("json"), false).unwrap();
        let json = f.render(&rows[1..], &COLUMNS).unwrap();
        assert!(
            json.starts_with(
                "{\"Containers\":\"N/A\",\"CreatedAt\":\"2024-01-02 03:04:05 +0000 UTC\""
            ),
            "{json}"
        );
        assert!(
            json.contains("\"Repository\":\"\\u003cnone\\u003e\""),
            "{json}"
        );
        assert_eq!(short_id("sha256:abc", false), "sha256:abc");
    }
}
