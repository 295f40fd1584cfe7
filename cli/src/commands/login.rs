//! `ferry login` / `ferry logout`: ferryd checks the credentials against the registry, then
//! the CLI keeps them where Docker does (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, `auths[server].auth` = base64("user:password"), mode 0600), so
//! pulls and pushes by ferryd (which reads the same file) and by docker both use them.
//! When the file names a credential helper for the server (`credHelpers[server]`, else
//! `credsStore`), the secret goes to `docker-credential-<name> store` instead (`erase` on
//! logout) and `auths[server]` is left empty, as Docker's native store does: ferryd then
//! asks that helper, so the two must agree.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use ferry_proto::images::v1::{images_client::ImagesClient, LoginRequest};
use serde_json::{Map, Value};

use crate::prompt;

/// Docker's `config.json` key for Docker Hub, used when no server is given.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Registry server (default: Docker Hub)
    server: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct LogoutArgs {
    /// Registry server (default: Docker Hub)
    server: Option<String>,
}

pub(crate) async fn login(host: &str, args: LoginArgs) -> anyhow::Result<i32> {
    let server = server_key(args.server.as_deref());
    let (username, password) = credentials(&args)?;
    let mut client = ImagesClient::new(crate::client::connect(host).await?);
    let req = LoginRequest {
        server: server.clone(),
        username: username.clone(),
        password: password.clone(),
    };
    client.login(req).await?;
    let path = config_path()?;
    match helper_for(&read_config(&path)?, &server) {
        Some(helper) => {
            let secret = serde_json::json!({
                "ServerURL": server, "Username": username, "Secret": password,
            });
            run_helper(&helper, "store", &secret.to_string())
                .context("Error saving credentials")?;
            store(&path, &server, None)?;
        }
        None => store(&path, &server, Some((&username, &password)))?,
    }
    println!("Login Succeeded");
    Ok(0)
}

pub(crate) async fn logout(args: LogoutArgs) -> anyhow::Result<i32> {
    let server = server_key(args.server.as_deref());
    let path = config_path()?;
    let erased = match helper_for(&read_config(&path)?, &server) {
        // A helper that holds nothing for the server says so by failing: not an error here.
        Some(helper) => run_helper(&helper, "erase", &server).is_ok(),
        None => false,
    };
    if remove(&path, &server)? || erased {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

/// The key Docker uses: Docker Hub's legacy URL, else the bare host ("host:5000").
fn server_key(server: Option<&str>) -> String {
    let s = server.unwrap_or_default().trim();
    let bare = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = bare.split('/').next().unwrap_or_default();
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.into(),
        h => h.to_string(),
    }
}

/// User and password from the flags, stdin, or prompts on a terminal (as `docker login`).
fn credentials(args: &LoginArgs) -> anyhow::Result<(String, String)> {
    check_flags(args, std::io::stdin().is_terminal())?;
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt::line("Username: ")?,
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else {
        prompt_hidden("Password: ")?
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("Error: Username and password are required");
    }
    Ok((username, password))
}

/// Docker's order: `--password-stdin` needs `-u` first (`verifyLoginOptions`); then whatever
/// the flags leave out must be prompted for, and a prompt needs a terminal (`loginUser`).
fn check_flags(args: &LoginArgs, tty: bool) -> anyhow::Result<()> {
    if args.password_stdin && args.username.is_none() {
        anyhow::bail!("Must provide --username with --password-stdin");
    }
    let prompts = args.username.is_none() || (args.password.is_none() && !args.password_stdin);
    if prompts && !tty {
        // Docker's text starts with "Error: " itself.
        anyhow::bail!("Error: Cannot perform an interactive login from a non TTY device");
    }
    Ok(())
}

/// Reads a line with echo off; echo is restored even if reading fails.
fn prompt_hidden(label: &str) -> anyhow::Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning echo off")?;
    let line = prompt::line(label);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    println!();
    line
}

fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").context("neither DOCKER_CONFIG nor HOME is set")?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

/// The config as a JSON object (empty when the file does not exist).
fn read_config(path: &Path) -> anyhow::Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => anyhow::bail!("{}: not a JSON object", path.display()),
            Err(e) => Err(e).with_context(|| format!("parsing {}", path.display())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The helper that keeps `server`'s secret (Docker's `getConfiguredCredentialStore`).
fn helper_for(config: &Map<String, Value>, server: &str) -> Option<String> {
    let named = config
        .get("credHelpers")
        .and_then(|h| h.get(server))
        .or_else(|| config.get("credsStore"));
    named
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// `docker-credential-<helper> <verb>` with `input` on stdin; its output when it succeeds.
fn run_helper(helper: &str, verb: &str, input: &str) -> anyhow::Result<String> {
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {program}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its status, not by EPIPE.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output()?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!("{program} {verb}: {}: {said}{}", out.status, err.trim());
    }
    Ok(said)
}

/// Sets `auths[server]` (`auth` = base64 of user:password, or empty when a helper keeps the
/// secret), keeping every other key of the file as it was.
fn store(path: &Path, server: &str, secret: Option<(&str, &str)>) -> anyhow::Result<()> {
    let mut config = read_config(path)?;
    let auths = config
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auths.is_object() {
        *auths = Value::Object(Map::new());
    }
    let entry = match secret {
        Some((username, password)) => {
            let auth = base64(format!("{username}:{password}").as_bytes());
            serde_json::json!({ "auth": auth })
        }
        None => serde_json::json!({}),
    };
    if let Value::Object(auths) = auths {
        auths.insert(server.to_string(), entry);
    }
    write_config(path, &config)
}

/// Removes `auths[server]`; false when there was none.
fn remove(path: &Path, server: &str) -> anyhow::Result<bool> {
    let mut config = read_config(path)?;
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|auths| auths.remove(server))
        .is_some();
    if removed {
        write_config(path, &config)?;
    }
    Ok(removed)
}

/// Writes through a 0600 temporary file and a rename, so a crash never leaves half a file
/// and the secrets are never readable by others, not even for a moment.
fn write_config(path: &Path, config: &Map<String, Value>) -> anyhow::Result<()> {
    let dir = path.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let text = serde_json::to_string_pretty(config)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Standard base64 with padding: a dozen lines instead of a dependency for one call.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Login {
        #[command(flatten)]
        args: LoginArgs,
    }

    fn check(argv: &[&str], tty: bool) -> Result<(), String> {
        let argv = std::iter::once("login").chain(argv.iter().copied());
        let login = Login::try_parse_from(argv).expect("parse");
        check_flags(&login.args, tty).map_err(|e| e.to_string())
    }

    #[test]
    fn without_a_terminal_only_complete_flags_log_in() {
        let no_tty = "Error: Cannot perform an interactive login from a non TTY device";
        for argv in [
            &["host"][..],
            &["-u", "me", "host"],
            &["-p", "pw", "host"],
            &[],
        ] {
            assert_eq!(check(argv, false), Err(no_tty.into()), "{argv:?}");
            assert_eq!(check(argv, true), Ok(()), "{argv:?} on a terminal");
        }
        assert_eq!(check(&["-u", "me", "-p", "pw", "host"], false), Ok(()));
        assert_eq!(check(&["-u", "me", "--password-stdin"], false), Ok(()));
        assert_eq!(
            check(&["--password-stdin", "host"], false),
            Err("Must provide --username with --password-stdin".into())
        );
    }

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"alice:s3cr:et"), "YWxpY2U6czNjcjpldA==");
    }

    #[test]
    fn server_keys_follow_docker() {
        assert_eq!(server_key(None), DOCKER_HUB_KEY);
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB_KEY);
        assert_eq!(
            server_key(Some("https://r.example:5000/v2/")),
            "r.example:5000"
        );
        assert_eq!(server_key(Some("127.0.0.1:5000")), "127.0.0.1:5000");
    }

    #[test]
    fn store_keeps_other_keys_and_is_private() {
        let dir = std::env::temp_dir().join(format!("ferry-login-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        std::fs::write(
            &path,
            r#"{"credsStore":"x","auths":{"other":{"auth":"b3RoZXI="}}}"#,
        )
        .unwrap();
        store(&path, "h:1", Some(("alice", "pw"))).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["credsStore"], "x");
        assert_eq!(v["auths"]["other"]["auth"], "b3RoZXI=");
        assert_eq!(v["auths"]["h:1"]["auth"], base64(b"alice:pw"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(remove(&path, "h:1").unwrap());
        assert!(!remove(&path, "h:1").unwrap());
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["auths"]["other"]["auth"], "b3RoZXI=");
        assert!(v["auths"].get("h:1").is_none());
        store(&path, "h:2", None).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["auths"]["h:2"], serde_json::json!({}));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_servers_helper_is_its_cred_helper_else_the_creds_store() {
        let config = |json: &str| match serde_json::from_str(json).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let c = config(r#"{"credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"}}"#);
        assert_eq!(helper_for(&c, "gcr.io").as_deref(), Some("gcloud"));
        assert_eq!(helper_for(&c, "h:1").as_deref(), Some("desktop"));
        let c = config(r#"{"credHelpers":{"gcr.io":"gcloud"},"auths":{}}"#);
        assert_eq!(helper_for(&c, "h:1"), None);
        assert_eq!(helper_for(&config(r#"{"credsStore":""}"#), "h:1"), None);
    }
}
