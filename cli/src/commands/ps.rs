//! `ferry ps` / `ferry container ls`: List(all) from the daemon, then Docker's filters, order,
//! truncation and formats applied here.

use std::collections::HashMap;

use clap::Args;
use ferry_proto::containers::v1::{containers_client::ContainersClient, Container, ListRequest};
use serde_json::{json, Value};

use crate::render::format::{Columns, Format};
use crate::render::template::TemplateError;
use crate::render::{ago, ellipsis, familiar};

#[derive(Debug, Args)]
pub(crate) struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
}

const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

const STATES: [&str; 7] = [
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

pub(crate) async fn run(host: &str, args: PsArgs) -> anyhow::Result<i32> {
    let filters = Filters::parse(&args.filter)?;
    let format = parse_format(args.format.as_deref(), args.size)?;
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let all = client.list(ListRequest { all: true }).await?.into_inner();
    let shown = select(all.containers, &args, &filters);
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = shown.iter().map(|c| row(c, !args.no_trunc, now)).collect();
    if args.quiet {
        for r in &rows {
            println!("{}", r["ID"].as_str().unwrap_or_default());
        }
        return Ok(0);
    }
    print!("{}", format.render(&rows, &COLUMNS)?);
    Ok(0)
}

/// Which containers to show, newest first, as `-a`, `-n`, `-l` and the filters say.
fn select(mut list: Vec<Container>, args: &PsArgs, filters: &Filters) -> Vec<Container> {
    let limit = if args.latest { 1 } else { args.last };
    let all = args.all || limit > 0 || filters.names_states();
    list.retain(|c| {
        (all || matches!(c.state.as_str(), "running" | "paused" | "restarting"))
            && filters.matches(c)
    });
    // `created` is whole seconds, but ferryd lists newest first by its nanosecond timestamp:
    // a stable sort keeps its order among containers created in the same second.
    list.sort_by_key(|c| std::cmp::Reverse(c.created));
    if let Ok(n) = usize::try_from(limit) {
        list.truncate(n);
    }
    list
}

/// `--filter key=value`, repeated: values of one key are OR'd, keys AND'd.
#[derive(Debug, Default)]
pub(crate) struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    pub(crate) fn parse(args: &[String]) -> anyhow::Result<Filters> {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                anyhow::bail!("bad format of filter (expected name=value)");
            };
            let key = k.trim().to_ascii_lowercase();
            match key.as_str() {
                "status" if !STATES.contains(&v) => {
                    anyhow::bail!("invalid filter 'status={v}'")
                }
                "exited" if v.parse::<i32>().is_err() => {
                    anyhow::bail!("invalid filter 'exited={v}'")
                }
                "publish" if port_range(v).is_none() => {
                    anyhow::bail!("invalid filter 'publish={v}'")
                }
                "status" | "name" | "ancestor" | "label" | "id" | "exited" | "publish" => {}
                _ => anyhow::bail!("invalid filter '{k}'"),
            }
            map.entry(key).or_default().push(v.to_string());
        }
        Ok(Filters(map))
    }

    /// A status or exit-code filter looks past running containers, as Docker's does.
    fn names_states(&self) -> bool {
        self.0.contains_key("status") || self.0.contains_key("exited")
    }

    pub(crate) fn matches(&self, c: &Container) -> bool {
        self.0
            .iter()
            .all(|(key, values)| values.iter().any(|v| matches_one(key, v, c)))
    }
}

fn matches_one(key: &str, v: &str, c: &Container) -> bool {
    match key {
        "status" => c.state == v,
        "name" => name_matches(v, c.name.trim_start_matches('/')),
        "ancestor" => ancestor_matches(v, c),
        "label" => match v.split_once('=') {
            Some((k, want)) => c.labels.get(k).is_some_and(|have| have == want),
            None => c.labels.contains_key(v),
        },
        "id" => c.id.starts_with(v),
        "exited" => c.state == "exited" && v.parse() == Ok(c.exit_code),
        "publish" => port_range(v).is_some_and(|(lo, hi, proto)| {
            c.ports.iter().any(|p| {
                (lo..=hi).contains(&p.container_port) && proto.is_none_or(|want| p.protocol == want)
            })
        }),
        _ => false,
    }
}

/// `80`, `80/tcp`, `8000-8080/udp`: the container ports a `publish=` filter names.
fn port_range(v: &str) -> Option<(u32, u32, Option<&str>)> {
    let (ports, proto) = match v.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (v, None),
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
        None => {
            let p = ports.parse().ok()?;
            (p, p)
        }
    };
    (lo <= hi).then_some((lo, hi, proto))
}

/// Docker matches names by regexp; we take substrings with `^`/`$` anchors, which covers what
/// people type (`name=web`, `name=^web$`).
fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

/// An image name (tag defaults to latest; registry and `library/` as the user likes) or an image
/// ID prefix.
fn ancestor_matches(v: &str, c: &Container) -> bool {
    let want = familiar_with_tag(v);
    if familiar_with_tag(&c.image) == want {
        return true;
    }
    let hex = v.strip_prefix("sha256:").unwrap_or(v);
    let id = c.image_id.strip_prefix("sha256:").unwrap_or(&c.image_id);
    !hex.is_empty() && hex.chars().all(|ch| ch.is_ascii_hexdigit()) && id.starts_with(hex)
}

/// `busybox` → `busybox:latest`; `docker.io/library/busybox` → `busybox:latest`.
pub(crate) fn familiar_with_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let tagged = if last.contains(':') || reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    };
    let full = match tagged.strip_prefix("index.docker.io/") {
        Some(rest) => format!("docker.io/{rest}"),
        None => tagged,
    };
    let fam = familiar(&full);
    fam.strip_prefix("library/")
        .map(String::from)
        .unwrap_or(fam)
}

/// Docker's `formatter.Ellipsis` then `strconv.Quote`.
pub(crate) fn command_column(command: &str, trunc: bool) -> String {
    let shown = if trunc {
        ellipsis(command, 20)
    } else {
        command.to_string()
    };
    go_quote(&shown)
}

/// Go's `strconv.Quote` for printable text (escapes quotes, backslashes and controls).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One container as the fields `--format` sees (Docker's `ContainerContext`).
fn row(c: &Container, trunc: bool, now: i64) -> Value {
    let id = if trunc {
        c.id.chars().take(12).collect()
    } else {
        c.id.clone()
    };
    let mut labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.sort();
    json!({
        "Command": command_column(&c.command, trunc),
        "CreatedAt": crate::render::time::go_time_string(c.created),
        "ID": id,
        "Image": c.image,
        "Labels": labels.join(","),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": c.name.trim_start_matches('/'),
        "Networks": c.networks.join(","),
        "Ports": ports_column(&c.ports),
        "RunningFor": ago(c.created, now),
        "Size": "N/A",
        "State": c.state,
        "Status": c.status,
        "Label": c.labels,
    })
}

/// Docker's PORTS: `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`.
pub(crate) fn ports_column(ports: &[ferry_proto::containers::v1::PortBinding]) -> String {
    ports
        .iter()
        .map(|p| {
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                p.host_ip.as_str()
            };
            format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn header_name(field: &str) -> String {
    match field {
        "ID" => "CONTAINER ID".into(),
        "CreatedAt" => "CREATED AT".into(),
        "RunningFor" => "CREATED".into(),
        "LocalVolumes" => "LOCAL VOLUMES".into(),
        other => other.to_uppercase(),
    }
}

/// `ps`'s columns; its JSON lines leave out `Label`, the map only templates read.
const COLUMNS: Columns = Columns {
    header: header_name,
    json: json_line,
};

fn json_line(row: &Value) -> String {
    let mut r = row.clone();
    if let Some(m) = r.as_object_mut() {
        m.remove("Label");
    }
    r.to_string()
}

/// `--format`, whose default table gains a SIZE column with `--size`.
fn parse_format(flag: Option<&str>, size: bool) -> Result<Format, TemplateError> {
    if size {
        Format::parse(flag, &format!("{DEFAULT_TABLE}\t{{{{.Size}}}}"))
    } else {
        Format::parse(flag, DEFAULT_TABLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, name: &str, image: &str, state: &str, created: i64) -> Container {
        Container {
            id: id.repeat(64 / id.len()),
            name: name.into(),
            image: image.into(),
            image_id: "sha256:beef00".into(),
            command: "sh -c 'sleep 1000'".into(),
            created,
            state: state.into(),
            status: "Up 1 second".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            exit_code: if state == "exited" { 3 } else { 0 },
            ports: Vec::new(),
            networks: vec!["bridge".into()],
        }
    }

    #[test]
    fn ports_column_as_docker_prints_it() {
        use ferry_proto::containers::v1::PortBinding;
        let p = |ip: &str, h, c, proto: &str| PortBinding {
            host_ip: ip.into(),
            host_port: h,
            container_port: c,
            protocol: proto.into(),
        };
        assert_eq!(
            ports_column(&[p("", 8080, 80, "tcp"), p("127.0.0.1", 5353, 53, "udp")]),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"
        );
    }

    fn args(argv: &[&str]) -> PsArgs {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct W {
            #[command(flatten)]
            a: PsArgs,
        }
        W::parse_from(std::iter::once("ps").chain(argv.iter().copied())).a
    }

    #[test]
    fn same_second_keeps_the_daemons_newest_first_order() {
        // As ferryd lists them: "b" was created after "a", in the same second.
        let list = vec![
            container("b", "second", "alpine", "created", 10),
            container("a", "first", "alpine", "created", 10),
            container("c", "older", "alpine", "created", 9),
        ];
        let shown = select(list, &args(&["-a"]), &Filters::default());
        let names: Vec<&str> = shown.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["second", "first", "older"]);
    }

    #[test]
    fn command_is_truncated_and_quoted_as_docker() {
        assert_eq!(
            command_column("sh -c 'sleep 1000'", true),
            "\"sh -c 'sleep 1000'\""
        );
        assert_eq!(
            command_column("sh -c 'while true; do sleep 1; done'", true),
            "\"sh -c 'while true; …\""
        );
        assert_eq!(
            command_column("sh -c 'while true; do sleep 1; done'", false),
            "\"sh -c 'while true; do sleep 1; done'\""
        );
        assert_eq!(command_column("echo \"hi\"", true), "\"echo \\\"hi\\\"\"");
        assert_eq!(
            command_column("12345678901234567890", true),
            "\"12345678901234567890\""
        );
    }

    #[test]
    fn publish_filters_by_container_port_range_and_protocol() {
        let mut web = container("a", "web", "busybox", "running", 30);
        web.ports = vec![ferry_proto::containers::v1::PortBinding {
            host_ip: String::new(),
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        }];
        let keep = |v: &str| {
            Filters::parse(&[format!("publish={v}")])
                .unwrap()
                .matches(&web)
        };
        assert!(keep("80") && keep("80/tcp") && keep("1-100"));
        assert!(!keep("80/udp") && !keep("8080") && !keep("81-90"));
        assert!(Filters::parse(&["publish=x".into()]).is_err());
    }

    #[test]
    fn filters_select_like_docker() {
        let list = vec![
            container("a", "web", "busybox", "running", 30),
            container("b", "db", "docker.io/library/busybox:1.36", "exited", 20),
            container("c", "webby", "alpine", "created", 10),
        ];
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &["web"]),
            (&["-a"], &["web", "db", "webby"]),
            (&["-a", "-f", "name=web"], &["web", "webby"]),
            (&["-a", "-f", "name=^web$"], &["web"]),
            (&["-f", "status=exited"], &["db"]),
            (
                &["-f", "status=exited", "-f", "status=created"],
                &["db", "webby"],
            ),
            (&["-a", "-f", "ancestor=busybox"], &["web"]),
            (&["-a", "-f", "ancestor=busybox:1.36"], &["db"]),
            (&["-a", "-f", "ancestor=beef"], &["web", "db", "webby"]),
            (&["-a", "-f", "label=app"], &["web", "db", "webby"]),
            (&["-a", "-f", "label=app=db"], &[]),
            (&["-a", "-f", "id=bbb"], &["db"]),
            (
                &["-a", "-f", "name=web", "-f", "status=created"],
                &["webby"],
            ),
            (&["-f", "exited=3"], &["db"]),
            (&["-n", "2"], &["web", "db"]),
            (&["-l"], &["web"]),
        ];
        for (argv, want) in cases {
            let a = args(argv);
            let f = Filters::parse(&a.filter).expect("filters");
            let got: Vec<String> = select(list.clone(), &a, &f)
                .into_iter()
                .map(|c| c.name)
                .collect();
            assert_eq!(got, *want, "{argv:?}");
        }
        for bad in ["status=sleeping", "color=red", "name", "exited=x"] {
            assert!(Filters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn familiar_names_default_to_latest() {
        assert_eq!(familiar_with_tag("busybox"), "busybox:latest");
        assert_eq!(
            familiar_with_tag("docker.io/library/busybox"),
            "busybox:latest"
        );
        assert_eq!(familiar_with_tag("library/busybox:1"), "busybox:1");
        assert_eq!(
            familiar_with_tag("127.0.0.1:5000/a/b"),
            "127.0.0.1:5000/a/b:latest"
        );
        assert_eq!(familiar_with_tag("x/y@sha256:ab"), "x/y@sha256:ab");
    }

    #[test]
    fn default_table_and_formats() {
        let c = container("a", "web", "busybox", "running", 100);
        let rows = vec![row(&c, true, 105)];
        let table = parse_format(None, false)
            .expect("fmt")
            .render(&rows, &COLUMNS)
            .expect("render");
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("CONTAINER ID   IMAGE     COMMAND"),
            "{table}"
        );
        assert!(lines[0].ends_with("PORTS     NAMES"), "{table}");
        assert!(
            lines[1].starts_with("aaaaaaaaaaaa   busybox   \"sh -c 'sleep 1000'\"   5 seconds ago")
        );
        assert!(lines[1].ends_with("web"));
        let custom = parse_format(Some("{{.Names}}:{{.State}} {{.Label \"app\"}}"), false)
            .expect("fmt")
            .render(&rows, &COLUMNS)
            .expect("render");
        assert_eq!(custom, "web:running web\n");
        let j = parse_format(Some("json"), false)
            .expect("fmt")
            .render(&rows, &COLUMNS)
            .expect("render");
        let v: Value = serde_json::from_str(j.trim()).expect("json");
        assert_eq!(v["Names"], "web");
        assert_eq!(v["Labels"], "app=web");
        assert!(v.get("Label").is_none());
        let t = parse_format(Some("table {{.ID}}\\t{{.Status}}"), false)
            .expect("fmt")
            .render(&rows, &COLUMNS)
            .expect("render");
        assert_eq!(t, "CONTAINER ID   STATUS\naaaaaaaaaaaa   Up 1 second\n");
    }
}
