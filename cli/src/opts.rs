//! `run`/`create` flags and their mapping into `ContainerConfig`.
//!
//! Everything here is pure: flag values are parsed by clap value parsers (so a bad value is a
//! usage error, exit 125, before anything is sent), and [`CreateFlags::to_config`] takes the
//! environment, working directory and env-file contents as arguments so tests can pin them.
//! The daemon validates the config again; the CLI only catches what Docker's CLI catches.

use std::collections::HashMap;
use std::path::Path;

use clap::{ArgAction, Args};
use ferry_proto::containers::v1::{ContainerConfig, Mount};

#[derive(Debug, thiserror::Error)]
pub(crate) enum OptsError {
    #[error("conflicting options: {0}")]
    Conflict(&'static str),
    #[error("open {path}: {source}")]
    EnvFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("poorly formatted environment: variable '{0}' contains whitespaces")]
    EnvWhitespace(String),
    #[error("invalid volume specification: '{spec}': {reason}")]
    Volume { spec: String, reason: &'static str },
}

/// The flags `run` and `create` share, as Docker spells them.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub(crate) interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub(crate) tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub(crate) rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub(crate) env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub(crate) env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub(crate) workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub(crate) user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub(crate) entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub(crate) hostname: Option<String>,
    /// Bind mount a volume (SRC:DST[:ro])
    #[arg(short = 'v', long = "volume", value_name = "list", value_parser = parse_volume)]
    pub(crate) volume: Vec<VolumeSpec>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount", value_parser = parse_mount)]
    pub(crate) mount: Vec<Mount>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no", value_parser = parse_restart)]
    pub(crate) restart: String,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "bytes", value_parser = parse_memory)]
    pub(crate) memory: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_name = "decimal", value_parser = parse_cpus)]
    pub(crate) cpus: Option<f64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, value_name = "int", allow_negative_numbers = true)]
    pub(crate) pids_limit: Option<i64>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub(crate) privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub(crate) cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub(crate) cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list", value_parser = parse_security_opt)]
    pub(crate) security_opt: Vec<bool>,
    /// Connect a container to a network (bridge, none, host, or a user network)
    #[arg(long, alias = "net", value_name = "network")]
    pub(crate) network: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub(crate) publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub(crate) publish_all: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub(crate) init: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub(crate) label: Vec<String>,
    /// Runtime to use for this container (crun, runc)
    #[arg(long)]
    pub(crate) runtime: Option<String>,
    /// Log driver options (max-size, max-file)
    #[arg(long = "log-opt", value_name = "list", value_parser = parse_log_opt)]
    pub(crate) log_opt: Vec<LogOpt>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing", value_parser = ["always", "missing", "never"])]
    pub(crate) pull: String,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]
    // No `allow_hyphen_values`: that made `--bogus` the image. As Docker's
    // `SetInterspersed(false)`, flags end at the image; `trailing_var_arg` keeps the command's
    // own flags (`ls -l --rm`) as values.
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub(crate) args: Vec<String>,
}

/// `-v` as parsed: `source` is empty for an anonymous volume; relative bind sources are resolved
/// against the working directory in [`CreateFlags::to_config`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VolumeSpec {
    pub(crate) spec: String,
    pub(crate) source: String,
    pub(crate) destination: String,
    pub(crate) read_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LogOpt {
    MaxSize(u64),
    MaxFile(u32),
}

/// What the process environment looks like to [`CreateFlags::to_config`].
pub(crate) trait Env {
    fn var(&self, key: &str) -> Option<String>;
    fn cwd(&self) -> Option<std::path::PathBuf>;
    fn read_file(&self, path: &str) -> std::io::Result<String>;
}

/// The real process environment.
#[derive(Debug)]
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
    fn cwd(&self) -> Option<std::path::PathBuf> {
        std::env::current_dir().ok()
    }
    fn read_file(&self, path: &str) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

impl CreateFlags {
    pub(crate) fn image(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or_default()
    }

    /// Maps the flags into the contract's config.
    pub(crate) fn to_config(&self, env: &dyn Env) -> Result<ContainerConfig, OptsError> {
        if self.rm && self.restart != "no" {
            return Err(OptsError::Conflict("--restart and --rm"));
        }
        let mut mounts = Vec::new();
        for v in &self.volume {
            mounts.push(volume_to_mount(v, env)?);
        }
        mounts.extend(self.mount.iter().cloned());
        let (log_max_size, log_max_file) = log_limits(&self.log_opt);
        Ok(ContainerConfig {
            image: self.image().to_string(),
            cmd: self.args.iter().skip(1).cloned().collect(),
            entrypoint: self.entrypoint.clone(),
            env: self.environment(env)?,
            workdir: self.workdir.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            hostname: self.hostname.clone().unwrap_or_default(),
            tty: self.tty,
            open_stdin: self.interactive,
            read_only: self.read_only,
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            no_new_privileges: self
                .security_opt
                .iter()
                .rev()
                .copied()
                .next()
                .unwrap_or(false),
            memory: self.memory.unwrap_or(0),
            cpus: self.cpus.unwrap_or(0.0),
            pids_limit: self.pids_limit.unwrap_or(0),
            network: self.network.clone().unwrap_or_default(),
            mounts,
            init: self.init,
            labels: parse_labels(&self.label),
            restart: self.restart.clone(),
            auto_remove: self.rm,
            runtime: self.runtime.clone().unwrap_or_default(),
            log_max_size,
            log_max_file,
            publish: self.publish.clone(),
            publish_all: self.publish_all,
        })
    }

    /// Env files first, then `-e`, as Docker's `ReadKVEnvStrings`.
    fn environment(&self, env: &dyn Env) -> Result<Vec<String>, OptsError> {
        let mut out = Vec::new();
        for path in &self.env_file {
            let text = env.read_file(path).map_err(|source| OptsError::EnvFile {
                path: path.clone(),
                source,
            })?;
            out.extend(parse_env_file(&text, &|k| env.var(k))?);
        }
        for e in &self.env {
            out.extend(env_entry(e, &|k| env.var(k)));
        }
        Ok(out)
    }
}

/// `KEY=VAL` as given; a bare `KEY` takes the CLI's value, or is dropped when unset.
pub(crate) fn env_entry(entry: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    var(entry).map(|v| format!("{entry}={v}"))
}

/// Docker's env-file format: one `KEY=VAL` or bare `KEY` per line; `#` comments and blank lines
/// skipped; leading whitespace trimmed; values kept verbatim (no quote processing).
pub(crate) fn parse_env_file(
    text: &str,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, OptsError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or(line);
        if key.chars().any(char::is_whitespace) {
            return Err(OptsError::EnvWhitespace(key.to_string()));
        }
        out.extend(env_entry(line, var));
    }
    Ok(out)
}

fn parse_labels(labels: &[String]) -> HashMap<String, String> {
    labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

fn log_limits(opts: &[LogOpt]) -> (u64, u32) {
    let (mut size, mut files) = (0, 0);
    for o in opts {
        match *o {
            LogOpt::MaxSize(s) => size = s,
            LogOpt::MaxFile(f) => files = f,
        }
    }
    (size, files)
}

fn volume_to_mount(v: &VolumeSpec, env: &dyn Env) -> Result<Mount, OptsError> {
    let bad = |reason| OptsError::Volume {
        spec: v.spec.clone(),
        reason,
    };
    let (kind, source) = if v.source.starts_with('/') {
        ("bind", v.source.clone())
    } else if v.source.starts_with('.') {
        let cwd = env
            .cwd()
            .ok_or_else(|| bad("cannot resolve a relative path"))?;
        ("bind", normalize(&cwd.join(&v.source)))
    } else {
        ("volume", v.source.clone())
    };
    Ok(Mount {
        r#type: kind.into(),
        source,
        destination: v.destination.clone(),
        read_only: v.read_only,
        create_source: kind == "bind",
    })
}

/// Lexically cleans `a/./b/../c` into `a/c`, as Go's `filepath.Clean`.
fn normalize(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// `-v SRC:DST[:OPTS]` or `-v DST` (anonymous volume). OPTS: `ro`, `rw`, and SELinux/propagation
/// flags, which are accepted and ignored.
pub(crate) fn parse_volume(spec: &str) -> Result<VolumeSpec, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "invalid spec: {spec}: empty section between colons"
        ));
    }
    let (source, dest, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => return Err(format!("invalid spec: {spec}: too many colons")),
    };
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid spec: {spec}: invalid mount path: '{dest}' mount path must be absolute"
        ));
    }
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave"
            | "nocopy" | "consistent" | "cached" | "delegated" => {}
            _ => return Err(format!("invalid mode: {o}")),
        }
    }
    Ok(VolumeSpec {
        spec: spec.to_string(),
        source: source.to_string(),
        destination: dest.to_string(),
        read_only,
    })
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…,readonly` (CSV; type defaults to volume).
pub(crate) fn parse_mount(spec: &str) -> Result<Mount, String> {
    let mut m = Mount {
        r#type: "volume".into(),
        ..Mount::default()
    };
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("readonly" | "ro", None) => m.read_only = true,
            ("readonly" | "ro", Some(v)) => m.read_only = parse_bool(v)?,
            ("type", Some(v)) => m.r#type = v.to_string(),
            ("source" | "src", Some(v)) => m.source = v.to_string(),
            ("target" | "destination" | "dst", Some(v)) => m.destination = v.to_string(),
            (_, None) => return Err(format!("invalid field '{field}' must be a key=value pair")),
            (_, Some(_)) => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    match m.r#type.as_str() {
        "bind" | "volume" | "tmpfs" => {}
        other => return Err(format!("invalid mount type: '{other}'")),
    }
    if m.destination.is_empty() {
        return Err("target is required".into());
    }
    if !m.destination.starts_with('/') {
        return Err(format!("invalid mount path: '{}'", m.destination));
    }
    match m.r#type.as_str() {
        "bind" if !m.source.starts_with('/') => {
            Err("invalid mount config for type \"bind\": source must be an absolute path".into())
        }
        "tmpfs" if !m.source.is_empty() => {
            Err("invalid mount config for type \"tmpfs\": source must not be set".into())
        }
        _ => Ok(m),
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("invalid value for boolean: {v}")),
    }
}

/// Docker's `RAMInBytes`: `512m`, `1g`, `100k`, `10b`, `1.5GiB`; binary multiples.
pub(crate) fn parse_memory(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = rest.strip_prefix(' ').unwrap_or(rest).to_ascii_lowercase();
    let mut chars = unit.chars().peekable();
    let shift = match chars.peek() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift != 0 {
        chars.next();
        if chars.peek() == Some(&'i') {
            chars.next();
        }
    }
    if chars.peek() == Some(&'b') {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(bad());
    }
    let bytes = value * (1u64 << shift) as f64;
    if bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

fn parse_cpus(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("failed to parse {s} as a rational number")),
    }
}

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub(crate) fn parse_restart(s: &str) -> Result<String, String> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (s, None),
    };
    match (name, count) {
        ("no" | "always" | "unless-stopped" | "on-failure", None) => Ok(s.to_string()),
        ("on-failure", Some(c)) => match c.parse::<u32>() {
            Ok(_) => Ok(s.to_string()),
            Err(_) => Err("maximum retry count must be an integer".into()),
        },
        ("no" | "always" | "unless-stopped", Some(_)) => Err(format!(
            "maximum retry count cannot be used with restart policy '{name}'"
        )),
        _ => Err(format!("invalid restart policy '{name}'")),
    }
}

/// `no-new-privileges[:true|false]` (or `=`); the only option the contract carries.
fn parse_security_opt(s: &str) -> Result<bool, String> {
    let (key, value) = match s.split_once([':', '=']) {
        Some((k, v)) => (k, Some(v)),
        None => (s, None),
    };
    match (key, value) {
        ("no-new-privileges", None) => Ok(true),
        ("no-new-privileges", Some(v)) => {
            parse_bool(v).map_err(|_| format!("invalid --security-opt: {s:?}"))
        }
        _ => Err(format!("unsupported --security-opt: {s:?}")),
    }
}

/// json-file's `max-size` (binary units) and `max-file` (>= 1).
fn parse_log_opt(s: &str) -> Result<LogOpt, String> {
    match s.split_once('=') {
        Some(("max-size", v)) => {
            let n = parse_memory(v)?;
            u64::try_from(n)
                .map(LogOpt::MaxSize)
                .map_err(|_| format!("invalid max-size: {v}"))
        }
        Some(("max-file", v)) => match v.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(LogOpt::MaxFile(n)),
            _ => Err(format!("max-file must be a positive number: {v}")),
        },
        Some((k, _)) => Err(format!("unknown log opt '{k}' for json-file log driver")),
        None => Err(format!("invalid key value pair format in log options: {s}")),
    }
}

/// A pinned environment for tests.
#[cfg(test)]
pub(crate) mod testenv {
    use std::path::PathBuf;

    use super::Env;

    #[derive(Debug)]
    pub(crate) struct FakeEnv {
        pub(crate) vars: Vec<(&'static str, &'static str)>,
        pub(crate) files: Vec<(&'static str, &'static str)>,
    }

    impl Env for FakeEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.vars
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        }
        fn cwd(&self) -> Option<PathBuf> {
            Some(PathBuf::from("/home/u/proj"))
        }
        fn read_file(&self, path: &str) -> std::io::Result<String> {
            self.files
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, t)| t.to_string())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testenv::FakeEnv;
    use super::*;

    #[test]
    fn memory_units_are_binary() {
        for (input, want) in [
            ("512m", 512 << 20),
            ("1g", 1 << 30),
            ("1G", 1 << 30),
            ("100k", 100 << 10),
            ("10b", 10),
            ("4096", 4096),
            ("1.5g", 3 << 29),
            ("2gb", 2 << 30),
            ("1GiB", 1 << 30),
            ("64 m", 64 << 20),
        ] {
            assert_eq!(parse_memory(input), Ok(want), "{input}");
        }
        for bad in ["", "abc", "m", "1x", "1.2.3m", "-1m", "1mm"] {
            assert!(parse_memory(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn restart_policies_are_validated() {
        for ok in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:3",
        ] {
            assert_eq!(parse_restart(ok).as_deref(), Ok(ok));
        }
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("on-failure:x").is_err());
        assert!(parse_restart("always:3").is_err());
    }

    #[test]
    fn volumes_bind_absolute_sources_and_name_others() {
        let env = FakeEnv {
            vars: vec![],
            files: vec![],
        };
        let cases = [
            ("/host:/ctr", "bind", "/host", "/ctr", false),
            ("/host:/ctr:ro", "bind", "/host", "/ctr", true),
            ("data:/var/lib", "volume", "data", "/var/lib", false),
            ("./src:/src:rw", "bind", "/home/u/proj/src", "/src", false),
            ("../x:/x:ro,z", "bind", "/home/u/x", "/x", true),
            ("/anon", "volume", "", "/anon", false),
        ];
        for (spec, kind, src, dst, ro) in cases {
            let v = parse_volume(spec).expect(spec);
            let m = volume_to_mount(&v, &env).expect(spec);
            assert_eq!(
                (m.r#type.as_str(), m.source.as_str(), m.destination.as_str()),
                (kind, src, dst),
                "{spec}"
            );
            assert_eq!(m.read_only, ro, "{spec}");
        }
        for bad in ["/a:rel", "/a::/b", "a:b:c:d", "/a:/b:xx", ""] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mounts_parse_docker_csv() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").expect("bind");
        assert_eq!(
            (m.r#type.as_str(), m.source.as_str(), m.destination.as_str()),
            ("bind", "/a", "/b")
        );
        assert!(m.read_only);
        let m = parse_mount("type=volume,src=v,dst=/data,ro=false").expect("volume");
        assert_eq!((m.source.as_str(), m.read_only), ("v", false));
        let m = parse_mount("type=tmpfs,destination=/tmp").expect("tmpfs");
        assert_eq!(
            (m.r#type.as_str(), m.destination.as_str()),
            ("tmpfs", "/tmp")
        );
        let m = parse_mount("target=/x").expect("default type");
        assert_eq!(m.r#type, "volume");
        for bad in [
            "type=bind,source=rel,target=/b",
            "type=tmpfs,source=/a,target=/b",
            "type=nfs,target=/b",
            "source=/a",
            "type=bind,source=/a,target=/b,bogus=1",
            "type=bind,source=/a,target=/b,rx",
            "type=volume,target=relative",
        ] {
            assert!(parse_mount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_file_follows_docker_format() {
        let text = "# comment\n\n  A=1\nB= spaced value \nHOME\nUNSET\nC=\"quoted\"\n";
        let var = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let env = parse_env_file(text, &var).expect("parse");
        assert_eq!(
            env,
            ["A=1", "B= spaced value ", "HOME=/root", "C=\"quoted\""]
        );
        assert!(matches!(
            parse_env_file("BAD KEY=1\n", &var),
            Err(OptsError::EnvWhitespace(_))
        ));
    }

    #[test]
    fn security_and_log_opts() {
        assert_eq!(parse_security_opt("no-new-privileges"), Ok(true));
        assert_eq!(parse_security_opt("no-new-privileges:false"), Ok(false));
        assert_eq!(parse_security_opt("no-new-privileges=true"), Ok(true));
        assert!(parse_security_opt("seccomp=unconfined").is_err());
        assert_eq!(parse_log_opt("max-size=10m"), Ok(LogOpt::MaxSize(10 << 20)));
        assert_eq!(parse_log_opt("max-file=3"), Ok(LogOpt::MaxFile(3)));
        assert!(parse_log_opt("max-file=0").is_err());
        assert!(parse_log_opt("compress=true").is_err());
    }
}
