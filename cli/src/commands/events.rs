//! `ferry events [--since] [--until] [--filter] [--format]`: ferryd's events as Docker prints
//! them, streaming until Ctrl-C (or `--until`).

use std::collections::BTreeMap;

use clap::Args;
use ferry_proto::events::v1::{events_client::EventsClient, Event, SubscribeRequest};
use futures::StreamExt;
use serde_json::{json, Value};

use super::logs::parse_since;
use crate::render::format::plain_json;
use crate::render::template::Template;

#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter")]
    filters: Vec<String>,
    /// Format output using a custom template: 'json', 'TEMPLATE'
    #[arg(long)]
    format: Option<String>,
}

pub(crate) async fn run(host: &str, args: EventsArgs) -> anyhow::Result<i32> {
    let now = chrono::Utc::now().timestamp();
    let nanos = |t: &Option<String>| -> anyhow::Result<i64> {
        Ok(match t {
            Some(s) => parse_since(s, now)?.saturating_mul(1_000_000_000),
            None => 0,
        })
    };
    let filters = Filters::parse(&args.filters)?;
    let template = match args.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("json") => Some(Output::Json),
        Some(t) => Some(Output::Template(Template::parse(t)?)),
    };
    let req = SubscribeRequest {
        since: nanos(&args.since)?,
        until: nanos(&args.until)?,
    };
    let mut client = EventsClient::new(crate::client::connect(host).await?);
    let mut stream = client.subscribe(req).await?.into_inner();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            n = stream.next() => n,
            _ = &mut ctrl_c => return Ok(0),
        };
        match next {
            None => return Ok(0),
            Some(Err(st)) => return Err(st.into()),
            Some(Ok(e)) if filters.keeps(&e) => println!("{}", render(&e, template.as_ref())?),
            Some(Ok(_)) => {}
        }
    }
}

enum Output {
    Json,
    Template(Template),
}

fn render(e: &Event, out: Option<&Output>) -> anyhow::Result<String> {
    Ok(match out {
        None => line(e),
        Some(Output::Json) => plain_json(&value(e)),
        Some(Output::Template(t)) => t.render(&value(e))?,
    })
}

/// Docker's line: `TIME TYPE ACTION ID (k=v, …)`, the time in RFC 3339 with nanoseconds.
fn line(e: &Event) -> String {
    let attrs: BTreeMap<&String, &String> = e.attributes.iter().collect();
    let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{} {} {} {} ({})",
        time(e.time_nano),
        e.r#type,
        e.action,
        e.actor_id,
        attrs.join(", ")
    )
}

fn time(nano: i64) -> String {
    let t = chrono::DateTime::from_timestamp(
        nano.div_euclid(1_000_000_000),
        nano.rem_euclid(1_000_000_000) as u32,
    )
    .unwrap_or_default()
    .with_timezone(&chrono::Local);
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The fields `--format` sees (Docker's `events.Message`).
fn value(e: &Event) -> Value {
    let attrs: BTreeMap<&String, &String> = e.attributes.iter().collect();
    json!({
        "Type": e.r#type, "Action": e.action, "ID": e.actor_id, "Status": e.action,
        "Actor": { "ID": e.actor_id, "Attributes": attrs },
        "scope": "local", "time": e.time_nano / 1_000_000_000, "timeNano": e.time_nano,
    })
}

/// Docker's filters: one key given twice matches either value; different keys must all match.
#[derive(Debug, Default)]
struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    fn parse(items: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for item in items {
            let Some((k, v)) = item.split_once('=') else {
                anyhow::bail!("bad format of filter (expected name=value)");
            };
            match k {
                "type" | "event" | "container" | "image" | "network" | "volume" | "label" => {
                    f.0.entry(k.to_string()).or_default().push(v.to_string())
                }
                _ => anyhow::bail!("invalid filter '{k}'"),
            }
        }
        Ok(f)
    }

    fn keeps(&self, e: &Event) -> bool {
        self.0
            .iter()
            .all(|(k, values)| values.iter().any(|v| matches(k, v, e)))
    }
}

fn matches(key: &str, want: &str, e: &Event) -> bool {
    let attr = |k: &str| e.attributes.get(k).map(String::as_str);
    let named =
        |t: &str| e.r#type == t && (e.actor_id.starts_with(want) || attr("name") == Some(want));
    match key {
        "type" => e.r#type == want,
        // `exec_create: sh -c …` is the event `exec_create`.
        "event" => e.action == want || e.action.split(':').next() == Some(want),
        "container" => named("container"),
        // Images by exact ID or name (a prefix of `busybox:latest` is not `busybox`).
        "image" => match e.r#type.as_str() {
            "image" => e.actor_id == want || attr("name") == Some(want),
            "container" => attr("image") == Some(want),
            _ => false,
        },
        "network" => named("network"),
        "volume" => e.r#type == "volume" && e.actor_id == want,
        "label" => match want.split_once('=') {
            Some((k, v)) => attr(k) == Some(v),
            None => attr(want).is_some(),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, id: &str, attrs: &[(&str, &str)]) -> Event {
        Event {
            r#type: kind.into(),
            action: action.into(),
            actor_id: id.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time_nano: 1_700_000_000_123_456_789,
        }
    }

    #[test]
    fn lines_read_as_dockers() {
        let e = ev(
            "container",
            "start",
            "abc",
            &[("name", "web"), ("image", "busybox")],
        );
        let l = line(&e);
        assert!(
            l.ends_with(" container start abc (image=busybox, name=web)"),
            "{l}"
        );
        assert!(l.contains(".123456789"), "{l}");
        let t = Template::parse("{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").unwrap();
        assert_eq!(
            render(&e, Some(&Output::Template(t))).unwrap(),
            "container start web"
        );
    }

    #[test]
    fn filters_or_within_a_key_and_across_keys() {
        let start = ev(
            "container",
            "start",
            "abc",
            &[("name", "web"), ("image", "busybox")],
        );
        let exec = ev(
            "container",
            "exec_create: sh -c true",
            "abc",
            &[("name", "web")],
        );
        let pull = ev(
            "image",
            "pull",
            "busybox:latest",
            &[("name", "busybox:latest")],
        );
        let keep = |items: &[&str], e: &Event| {
            Filters::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
                .keeps(e)
        };
        assert!(keep(&["type=container", "event=start"], &start));
        assert!(!keep(&["type=container", "event=die"], &start));
        assert!(keep(&["event=die", "event=start"], &start));
        assert!(keep(&["event=exec_create"], &exec));
        assert!(keep(&["container=web"], &start) && keep(&["container=ab"], &start));
        assert!(keep(&["image=busybox"], &start) && !keep(&["image=busybox"], &pull));
        assert!(keep(&["image=busybox:latest"], &pull));
        assert!(Filters::parse(&["bogus=1".into()]).is_err());
    }
}
