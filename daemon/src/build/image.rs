//! The image config a build writes (the OCI image config with Docker's runtime fields, unknown
//! fields of the base kept as they were) and the instructions that only change it: ENV, ARG,
//! LABEL, EXPOSE, USER, VOLUME, WORKDIR, ENTRYPOINT, CMD, SHELL, STOPSIGNAL, HEALTHCHECK,
//! ONBUILD, MAINTAINER. Pure: a step's variables in, the changed config out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dockerfile::{Cmd, Kind};
use super::lex::{self, LexError, Vars};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct ImageDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: RunConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// The runtime part (`config`), with Docker's field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RunConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RunConfig {
    pub(crate) fn env_vars(&self) -> Vars {
        self.env
            .iter()
            .flatten()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn set_env(&mut self, key: &str, value: &str) {
        let env = self.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
        {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
    }

    /// The shell shell-form commands run in.
    pub(crate) fn shell_argv(&self) -> Vec<String> {
        self.shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// A command's argv: exec form as written, shell form wrapped in the SHELL.
    pub(crate) fn argv(&self, cmd: &Cmd) -> Vec<String> {
        match cmd {
            Cmd::Exec(v) => v.clone(),
            Cmd::Shell(s) => {
                let mut v = self.shell_argv();
                v.push(s.clone());
                v
            }
        }
    }
}

/// What a stage carries between steps besides the config: ARG values in scope, and whether
/// this stage set CMD (ENTRYPOINT resets an inherited one only).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Scope {
    pub args: Vars,
    pub cmd_set: bool,
}

impl Scope {
    /// Variables for expansion: ARGs, overridden by ENV (Docker's precedence).
    pub(crate) fn vars(&self, cfg: &RunConfig) -> Vars {
        let mut v = self.args.clone();
        v.extend(cfg.env_vars());
        v
    }
}

/// Where ARG values come from: `--build-arg`, then the ARG's own default, then (for an ARG
/// redeclared in a stage without one) the value of the global ARG before the first FROM.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArgSources {
    pub build_args: Vars,
    pub globals: Vars,
}

/// Applies a config-only step.
pub(crate) fn apply(
    doc: &mut ImageDoc,
    scope: &mut Scope,
    kind: &Kind,
    sources: &ArgSources,
    escape: char,
) -> Result<(), LexError> {
    let vars = scope.vars(&doc.config);
    let ex = |w: &str| lex::expand(w, &vars, escape);
    let cfg = &mut doc.config;
    match kind {
        Kind::Env(pairs) => {
            // Every value is expanded with the variables as they were before the line.
            for (k, v) in split_pairs(pairs, &ex)? {
                cfg.set_env(&k, &v);
            }
        }
        Kind::Arg(args) => scope.args.extend(arg_values(args, sources, &ex)?),
        Kind::Label(pairs) => {
            let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(split_pairs(pairs, &ex)?);
        }
        Kind::Expose(ports) => {
            let mut words = Vec::new();
            for p in ports {
                words.extend(lex::expand_words(p, &vars, escape)?);
            }
            let ports = words.into_iter().map(|w| match w.contains('/') {
                true => w,
                false => format!("{w}/tcp"),
            });
            add_set(&mut cfg.exposed_ports, ports);
        }
        Kind::Volume(vs) => {
            let vs = vs.iter().map(|v| ex(v)).collect::<Result<Vec<_>, _>>()?;
            add_set(&mut cfg.volumes, vs);
        }
        Kind::User(u) => cfg.user = Some(ex(u)?),
        Kind::Workdir(w) => cfg.working_dir = Some(workdir(cfg.working_dir.as_deref(), &ex(w)?)),
        Kind::Entrypoint(c) => {
            cfg.entrypoint = Some(cfg.argv(c));
            if !scope.cmd_set {
                cfg.cmd = None;
            }
        }
        Kind::Cmd(c) => {
            cfg.cmd = Some(cfg.argv(c));
            scope.cmd_set = true;
        }
        Kind::Shell(s) => cfg.shell = Some(s.clone()),
        Kind::StopSignal(s) => cfg.stop_signal = Some(ex(s)?),
        Kind::Healthcheck(h) => cfg.healthcheck = Some(healthcheck(h.as_ref())),
        Kind::Onbuild(t) => cfg.on_build.get_or_insert_with(Vec::new).push(t.clone()),
        Kind::Maintainer(m) => {
            doc.extra.insert("author".into(), Value::String(m.clone()));
        }
        Kind::Run(..) | Kind::Copy(_) => {}
    }
    Ok(())
}

type Expand<'a> = dyn Fn(&str) -> Result<String, LexError> + 'a;

/// `K=V` words, both sides expanded.
fn split_pairs(pairs: &[String], ex: &Expand<'_>) -> Result<Vec<(String, String)>, LexError> {
    pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((ex(k)?, ex(v)?))
        })
        .collect()
}

/// ARG values: `--build-arg`, else the default, else the global ARG's value; unset if none.
fn arg_values(
    args: &[(String, Option<String>)],
    sources: &ArgSources,
    ex: &Expand<'_>,
) -> Result<Vec<(String, String)>, LexError> {
    let mut out = Vec::new();
    for (name, default) in args {
        let value = match (sources.build_args.get(name), default) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(d)) => Some(ex(d)?),
            (None, None) => sources.globals.get(name).cloned(),
        };
        out.extend(value.map(|v| (name.clone(), v)));
    }
    Ok(out)
}

/// Adds keys to one of Docker's `{"key": {}}` sets (ExposedPorts, Volumes).
fn add_set(set: &mut Option<BTreeMap<String, Value>>, keys: impl IntoIterator<Item = String>) {
    let set = set.get_or_insert_with(BTreeMap::new);
    for k in keys {
        set.insert(k, Value::Object(Map::new()));
    }
}

/// WORKDIR: relative to the current one, cleaned, absolute.
pub(crate) fn workdir(current: Option<&str>, w: &str) -> String {
    let joined = if w.starts_with('/') {
        w.to_string()
    } else {
        format!("{}/{w}", current.unwrap_or("/"))
    };
    crate::containers::copy::lexical_clean(&joined)
}

/// Docker's Healthcheck: `Test` plus durations in nanoseconds.
fn healthcheck(h: Option<&(Vec<(String, String)>, Cmd)>) -> Value {
    let Some((opts, cmd)) = h else {
        return serde_json::json!({"Test": ["NONE"]});
    };
    let test: Vec<String> = match cmd {
        Cmd::Exec(v) => std::iter::once("CMD".to_string())
            .chain(v.iter().cloned())
            .collect(),
        Cmd::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
    };
    let mut out = Map::new();
    out.insert("Test".into(), serde_json::json!(test));
    for (k, v) in opts {
        let field = match k.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            _ => "Retries",
        };
        let value = if field == "Retries" {
            v.parse::<u64>().map(Value::from).unwrap_or(Value::Null)
        } else {
            duration_nanos(v).map(Value::from).unwrap_or(Value::Null)
        };
        out.insert(field.into(), value);
    }
    Value::Object(out)
}

/// Go's duration syntax, the common part: `30s`, `1m30s`, `500ms`, `1h`.
fn duration_nanos(s: &str) -> Option<u64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(n) = chars.peek().filter(|n| n.is_ascii_alphabetic()) {
            unit.push(*n);
            chars.next();
        }
        let n: f64 = std::mem::take(&mut num).parse().ok()?;
        let scale = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
    }
    num.is_empty().then_some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &mut ImageDoc, scope: &mut Scope, kind: Kind) {
        apply(doc, scope, &kind, &ArgSources::default(), '\\').unwrap();
    }

    #[test]
    fn env_arg_and_expansion_precedence() {
        let mut doc = ImageDoc::default();
        let mut scope = Scope::default();
        let sources = ArgSources {
            build_args: [("V".to_string(), "from-cli".to_string())].into(),
            globals: [("G".to_string(), "global".to_string())].into(),
        };
        let args = Kind::Arg(vec![
            ("V".into(), Some("def".into())),
            ("W".into(), Some("w".into())),
            ("G".into(), None),
            ("U".into(), None),
        ]);
        apply(&mut doc, &mut scope, &args, &sources, '\\').unwrap();
        assert_eq!(scope.args["V"], "from-cli");
        assert_eq!(scope.args["W"], "w");
        assert_eq!(scope.args["G"], "global");
        assert!(!scope.args.contains_key("U"));
        run(
            &mut doc,
            &mut scope,
            Kind::Env(vec!["P=$V-$W".into(), "Q=\"a b\"".into()]),
        );
        assert_eq!(
            doc.config.env,
            Some(vec!["P=from-cli-w".into(), "Q=a b".into()])
        );
        run(&mut doc, &mut scope, Kind::Env(vec!["W=env".into()]));
        run(&mut doc, &mut scope, Kind::Label(vec!["l=${W}".into()]));
        assert_eq!(doc.config.labels.as_ref().unwrap()["l"], "env");
    }

    #[test]
    fn entrypoint_resets_an_inherited_cmd_but_not_one_set_here() {
        let mut doc = ImageDoc::default();
        doc.config.cmd = Some(vec!["sh".into()]);
        let mut scope = Scope::default();
        run(
            &mut doc,
            &mut scope,
            Kind::Entrypoint(Cmd::Exec(vec!["/app".into()])),
        );
        assert_eq!(doc.config.cmd, None);
        run(
            &mut doc,
            &mut scope,
            Kind::Cmd(Cmd::Shell("serve --port 80".into())),
        );
        assert_eq!(
            doc.config.cmd,
            Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "serve --port 80".into()
            ])
        );
        run(
            &mut doc,
            &mut scope,
            Kind::Entrypoint(Cmd::Shell("exec app".into())),
        );
        assert!(doc.config.cmd.is_some(), "a CMD of this stage stays");
        run(
            &mut doc,
            &mut scope,
            Kind::Shell(vec!["/bin/bash".into(), "-ec".into()]),
        );
        run(&mut doc, &mut scope, Kind::Cmd(Cmd::Shell("x".into())));
        assert_eq!(
            doc.config.cmd,
            Some(vec!["/bin/bash".into(), "-ec".into(), "x".into()])
        );
    }

    #[test]
    fn workdir_expose_volume_user_stopsignal_healthcheck() {
        let mut doc = ImageDoc::default();
        let mut scope = Scope::default();
        run(&mut doc, &mut scope, Kind::Workdir("/app".into()));
        run(&mut doc, &mut scope, Kind::Workdir("sub/../src".into()));
        assert_eq!(doc.config.working_dir.as_deref(), Some("/app/src"));
        run(
            &mut doc,
            &mut scope,
            Kind::Expose(vec!["80".into(), "53/udp".into()]),
        );
        let ports: Vec<&String> = doc.config.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp"]);
        run(&mut doc, &mut scope, Kind::Volume(vec!["/data".into()]));
        run(&mut doc, &mut scope, Kind::User("1000:1000".into()));
        run(&mut doc, &mut scope, Kind::StopSignal("SIGTERM".into()));
        let hc = Kind::Healthcheck(Some((
            vec![
                ("interval".into(), "1m30s".into()),
                ("retries".into(), "3".into()),
            ],
            Cmd::Shell("curl -f x".into()),
        )));
        run(&mut doc, &mut scope, hc);
        let json = serde_json::to_value(&doc.config).unwrap();
        assert_eq!(json["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(json["User"], "1000:1000");
        assert_eq!(json["StopSignal"], "SIGTERM");
        assert_eq!(
            json["Healthcheck"]["Test"],
            serde_json::json!(["CMD-SHELL", "curl -f x"])
        );
        assert_eq!(json["Healthcheck"]["Interval"], 90_000_000_000u64);
        assert_eq!(json["Healthcheck"]["Retries"], 3);
    }

    #[test]
    fn unknown_fields_of_a_base_config_survive() {
        let raw = r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":[]},"docker_version":"x"}"#;
        let doc: ImageDoc = serde_json::from_str(raw).unwrap();
        let back = serde_json::to_value(&doc).unwrap();
        assert_eq!(back["docker_version"], "x");
        assert_eq!(back["config"]["ArgsEscaped"], true);
    }
}
