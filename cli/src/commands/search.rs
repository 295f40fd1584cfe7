//! `ferry search [--limit N] [--filter F] [--no-trunc] [--format F] TERM`: Docker Hub's search
//! API for plain terms; for `host:port/term`, the registry's `/v2/_catalog` filtered by TERM
//! (registries other than Docker Hub rarely offer the old search API). Catalog results have no
//! description or stars and are printed as pullable `host:port/name`.

use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, SearchRequest, SearchResult};
use serde_json::{json, Value};

use crate::render::ellipsis;
use crate::render::format::{go_json, Columns, Format};

const DEFAULT_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";
/// Docker cuts descriptions to this many characters without `--no-trunc`.
const DESCRIPTION_WIDTH: usize = 45;

#[derive(Debug, Args)]
#[command(
    after_help = "TERM searches Docker Hub's search API; HOST:PORT/TERM lists that \
registry's /v2/_catalog and keeps the repositories whose name contains TERM."
)]
pub(crate) struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    limit: u32,
    /// Filter output based on conditions provided (stars=N, is-official=true|false)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Pretty-print search using a Go template
    #[arg(long)]
    format: Option<String>,
    /// TERM or HOST:PORT/TERM
    term: String,
}

/// `--filter` conditions, as Docker's search accepts them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filters {
    min_stars: u64,
    official: Option<bool>,
}

pub(crate) async fn run(host: &str, args: SearchArgs) -> anyhow::Result<i32> {
    let filters = parse_filters(&args.filter)?;
    let format = Format::parse_blank_default(args.format.as_deref(), DEFAULT_TABLE)?;
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = SearchRequest {
        term: args.term.clone(),
        limit: args.limit,
    };
    let results = client.search(req).await?.into_inner().results;
    let rows: Vec<Value> = results
        .iter()
        .filter(|r| r.stars >= filters.min_stars)
        .filter(|r| filters.official.is_none_or(|o| o == r.official))
        .map(|r| row(r, args.no_trunc))
        .collect();
    print!("{}", format.render(&rows, &COLUMNS)?);
    Ok(0)
}

fn parse_filters(raw: &[String]) -> anyhow::Result<Filters> {
    let mut f = Filters::default();
    for item in raw {
        match item.split_once('=') {
            Some(("stars", n)) => {
                f.min_stars = n
                    .parse()
                    .map_err(|_| anyhow::anyhow!("invalid filter 'stars={n}'"))?;
            }
            Some(("is-official", v)) => {
                f.official = Some(
                    v.parse()
                        .map_err(|_| anyhow::anyhow!("invalid filter 'is-official={v}'"))?,
                );
            }
            _ => anyhow::bail!("invalid filter '{item}'"),
        }
    }
    Ok(f)
}

/// One result as the fields `--format` sees (Docker's `searchContext`).
fn row(r: &SearchResult, no_trunc: bool) -> Value {
    let description = if no_trunc {
        r.description.clone()
    } else {
        truncate(&r.description)
    };
    json!({
        "Name": r.name,
        "Description": description,
        "StarCount": r.stars.to_string(),
        "IsOfficial": if r.official { "[OK]" } else { "" },
    })
}

fn truncate(s: &str) -> String {
    ellipsis(&s.replace('\n', " "), DESCRIPTION_WIDTH)
}

const COLUMNS: Columns = Columns {
    header: header_name,
    json: go_json,
};

fn header_name(field: &str) -> String {
    match field {
        "StarCount" => "STARS".into(),
        "IsOfficial" => "OFFICIAL".into(),
        other => other.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_docker() {
        let f = parse_filters(&["stars=3".into(), "is-official=true".into()]).unwrap();
        assert_eq!(
            f,
            Filters {
                min_stars: 3,
                official: Some(true)
            }
        );
        assert!(parse_filters(&["bogus=1".into()]).is_err());
        assert!(parse_filters(&["stars=x".into()]).is_err());
    }

    #[test]
    fn long_descriptions_are_cut() {
        let long = "x".repeat(60);
        assert_eq!(truncate(&long).chars().count(), DESCRIPTION_WIDTH);
        assert!(truncate(&long).ends_with('…'));
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn table_has_docker_headers() {
        let format = Format::parse_blank_default(None, DEFAULT_TABLE).unwrap();
        let r = SearchResult {
            name: "h:1/a".into(),
            ..Default::default()
        };
        let out = format.render(&[row(&r, false)], &COLUMNS).unwrap();
        let header = out.lines().next().unwrap();
        for col in ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"] {
            assert!(header.contains(col), "{out}");
        }
        assert!(out.contains("h:1/a"), "{out}");
    }
}
