//! `ferry logs`: the json-file log through the Logs RPC; stdout entries to stdout, stderr entries
//! to stderr, each prefixed by its timestamp with `-t`.

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, LogsRequest};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    since: Option<String>,
    container: String,
}

pub(crate) async fn run(host: &str, args: LogsArgs) -> anyhow::Result<i32> {
    let now = chrono::Utc::now().timestamp();
    let req = LogsRequest {
        id: args.container.clone(),
        follow: args.follow,
        tail: parse_tail(&args.tail)?,
        since: match &args.since {
            Some(s) => parse_since(s, now)?,
            None => 0,
        },
    };
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let mut stream = client.logs(req).await?.into_inner();
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    while let Some(entry) = stream.next().await {
        let entry = entry?;
        let out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send) = if entry.stream == "stderr" {
            &mut stderr
        } else {
            &mut stdout
        };
        if args.timestamps {
            out.write_all(format!("{} ", entry.time).as_bytes()).await?;
        }
        out.write_all(&entry.data).await?;
        out.flush().await?;
    }
    Ok(0)
}

/// `all` (or a negative number) is everything: -1 in the contract.
pub(crate) fn parse_tail(s: &str) -> anyhow::Result<i64> {
    if s == "all" {
        return Ok(-1);
    }
    match s.parse::<i64>() {
        Ok(n) => Ok(n.max(-1)),
        Err(_) => anyhow::bail!("invalid value for \"tail\": {s:?}"),
    }
}

/// Docker's `--since`: a Go duration before now (`10m`, `1h30m`), unix seconds (`1700000000`,
/// `1700000000.5`), RFC 3339, or a local date/time without zone.
pub(crate) fn parse_since(s: &str, now: i64) -> anyhow::Result<i64> {
    if let Some(secs) = go_duration(s) {
        return Ok(now - secs);
    }
    let int_part = s.split('.').next().unwrap_or(s);
    if !int_part.is_empty() && int_part.chars().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = int_part.parse::<i64>() {
            return Ok(n);
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    local_time(s).ok_or_else(|| anyhow::anyhow!("invalid value for \"since\": {s:?}"))
}

fn local_time(s: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp())
}

/// Go's `time.ParseDuration`, in whole seconds (rounded down); `None` if not a duration.
fn go_duration(s: &str) -> Option<i64> {
    let mut rest = s;
    let mut total = 0.0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (num, tail) = rest.split_at(num_end);
        let value: f64 = num.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_values() {
        assert_eq!(parse_tail("all").ok(), Some(-1));
        assert_eq!(parse_tail("10").ok(), Some(10));
        assert_eq!(parse_tail("-5").ok(), Some(-1));
        assert!(parse_tail("x").is_err());
    }

    #[test]
    fn since_accepts_docker_forms() {
        let now = 1_700_000_000;
        assert_eq!(parse_since("10m", now).ok(), Some(now - 600));
        assert_eq!(parse_since("1h30m", now).ok(), Some(now - 5400));
        assert_eq!(parse_since("1.5s", now).ok(), Some(now - 1));
        assert_eq!(parse_since("1600000000", now).ok(), Some(1_600_000_000));
        assert_eq!(parse_since("1600000000.25", now).ok(), Some(1_600_000_000));
        assert_eq!(
            parse_since("2023-11-14T22:13:20Z", now).ok(),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_since("2023-11-14T23:13:20+01:00", now).ok(),
            Some(1_700_000_000)
        );
        assert!(parse_since("2023-11-14", now).is_ok());
        for bad in ["", "10x", "yesterday", "m"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
