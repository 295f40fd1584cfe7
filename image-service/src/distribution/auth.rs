//! Registry credentials from Docker's `config.json`, read as Docker's CLI reads them.
//!
//! Users already ran `docker login`; reading the same file (`$DOCKER_CONFIG/
//! config.json` or `~/.docker/config.json`) lets Ferry pull private images
//! without a login command of its own. Docker's `GetCredentialsStore` decides where a
//! registry's credentials are: `credHelpers[host]` if set, else `credsStore` if set (and then
//! the inline `auths` entry is not used), else the inline `auths` entry. A helper is
//! `docker-credential-<name> get` on ferryd's PATH: the server URL on stdin (Docker Hub's is
//! `https://index.docker.io/v1/`), `{"ServerURL","Username","Secret"}` on stdout, and
//! "credentials not found in native keychain" with a failure status for none. It is run only
//! when a registry challenges, with a deadline, since some helpers wait on a keychain.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use super::DistributionError;

/// Key Docker writes for Docker Hub.
const DOCKER_HUB_LEGACY_KEY: &str = "https://index.docker.io/v1/";
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// Username and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Login name; `<token>` when only an identity token is stored.
    pub username: String,
    /// Password, access token or identity token. Never printed.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A helper that answers neither way in this long is stopped and reported.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// What a helper prints for "no credentials" (docker-credential-helpers' `ErrCredentialsNotFound`).
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";
/// Most of a failed helper's output kept in the error.
const MAX_HELPER_OUTPUT: usize = 512;

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

/// Where one registry's credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// In the file itself (`auths`), or nowhere.
    Inline(Option<Credentials>),
    /// Asked of `docker-credential-<helper> get` for `server_url`.
    Helper {
        /// The helper's name (`desktop`, `gcloud`, `ecr-login`).
        helper: String,
        /// What goes on its stdin.
        server_url: String,
    },
}

/// A helper's answer (docker-credential-helpers' `Credentials`).
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(default, rename = "Username")]
    username: String,
    #[serde(default, rename = "Secret")]
    secret: String,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Credentials for `registry` ("docker.io", "host:5000") from the user's Docker config,
/// running its credential helper if it names one. A missing file means anonymous access.
pub async fn credentials(registry: &str) -> Result<Option<Credentials>, DistributionError> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    match credential_source_from(&path, registry)? {
        CredentialSource::Inline(found) => Ok(found),
        CredentialSource::Helper { helper, server_url } => {
            let program = format!("docker-credential-{helper}");
            run_helper(OsStr::new(&program), &server_url).await
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".docker").join("config.json"))
}

/// Where `path` says `registry`'s credentials are (Docker's `GetCredentialsStore`).
pub fn credential_source_from(
    path: &Path,
    registry: &str,
) -> Result<CredentialSource, DistributionError> {
    let config_err = |reason: String| DistributionError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CredentialSource::Inline(None))
        }
        Err(e) => return Err(config_err(e.to_string())),
    };
    let config: ConfigFile =
        serde_json::from_slice(&text).map_err(|e| config_err(e.to_string()))?;
    if let Some(helper) = find_helper(&config, registry) {
        if helper.is_empty() || helper.contains('/') {
            return Err(config_err(format!("bad credential helper name {helper:?}")));
        }
        let server_url = helper_server_url(registry);
        let helper = helper.to_string();
        return Ok(CredentialSource::Helper { helper, server_url });
    }
    let Some((key, entry)) = find_entry(&config.auths, registry) else {
        return Ok(CredentialSource::Inline(None));
    };
    entry_credentials(entry)
        .map(CredentialSource::Inline)
        .map_err(|reason| config_err(format!("auths[{key:?}]: {reason}")))
}

/// `credHelpers[registry]` (exact key, then by host as [`find_entry`] matches), else
/// `credsStore`.
fn find_helper<'a>(config: &'a ConfigFile, registry: &str) -> Option<&'a str> {
    find_entry(&config.cred_helpers, registry)
        .map(|(_, helper)| helper.as_str())
        .or(config.creds_store.as_deref())
}

/// The server URL Docker hands a helper: Docker Hub's legacy key, else the host.
fn helper_server_url(registry: &str) -> String {
    if canonical_host(registry) == "docker.io" {
        DOCKER_HUB_LEGACY_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Runs `program get` with `server_url` on stdin, under [`HELPER_TIMEOUT`].
pub(super) async fn run_helper(
    program: &OsStr,
    server_url: &str,
) -> Result<Option<Credentials>, DistributionError> {
    let name = program.to_string_lossy().into_owned();
    let failed = |reason: String| DistributionError::CredentialHelper {
        helper: name.clone(),
        reason,
    };
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its stdin is judged by its output, not by EPIPE.
        let _ = stdin.write_all(server_url.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| failed(format!("no answer in {HELPER_TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
    helper_answer(output.status, &output.stdout, &output.stderr).map_err(failed)
}

/// A helper's exit status and output as credentials, none, or why not.
fn helper_answer(
    status: ExitStatus,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Option<Credentials>, String> {
    let out = String::from_utf8_lossy(stdout);
    if !status.success() {
        if out.trim() == NOT_FOUND_MESSAGE {
            return Ok(None);
        }
        let err = String::from_utf8_lossy(stderr);
        let said = if err.trim().is_empty() { out } else { err };
        let said: String = said.trim().chars().take(MAX_HELPER_OUTPUT).collect();
        return Err(format!("{status}: {said}"));
    }
    let answer: HelperAnswer =
        serde_json::from_slice(stdout).map_err(|e| format!("unreadable answer: {e}"))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: answer.username,
        password: answer.secret,
    }))
}

/// Exact key first, then keys normalized like Docker's `ConvertToHostname`
/// (scheme and path stripped), Docker Hub's aliases being one registry.
fn find_entry<'a, T>(map: &'a BTreeMap<String, T>, registry: &str) -> Option<(&'a str, &'a T)> {
    if let Some((k, e)) = map.get_key_value(registry) {
        return Some((k, e));
    }
    let wanted = canonical_host(registry);
    if wanted == "docker.io" {
        if let Some((k, e)) = map.get_key_value(DOCKER_HUB_LEGACY_KEY) {
            return Some((k, e));
        }
    }
    map.iter()
        .find(|(key, _)| canonical_host(key) == wanted)
        .map(|(k, e)| (k.as_str(), e))
}

fn canonical_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    if DOCKER_HUB_HOSTS.contains(&host) {
        "docker.io"
    } else {
        host
    }
}

fn entry_credentials(entry: &AuthEntry) -> Result<Option<Credentials>, String> {
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        return decode_auth(auth).map(Some);
    }
    let username = entry.username.clone().unwrap_or_default();
    if let Some(password) = entry.password.clone().filter(|p| !p.is_empty()) {
        return Ok(Some(Credentials { username, password }));
    }
    if let Some(token) = entry.identitytoken.clone().filter(|t| !t.is_empty()) {
        let username = if username.is_empty() {
            "<token>".to_string()
        } else {
            username
        };
        return Ok(Some(Credentials {
            username,
            password: token,
        }));
    }
    Ok(None)
}

/// `auth` is base64("user:password").
fn decode_auth(auth: &str) -> Result<Credentials, String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|e| format!("invalid base64 in \"auth\": {e}"))?;
    let text = String::from_utf8(raw).map_err(|_| "\"auth\" is not UTF-8".to_string())?;
    let (username, password) = text
        .split_once(':')
        .ok_or_else(|| "\"auth\" is not of the form user:password".to_string())?;
    Ok(Credentials {
        username: username.to_string(),
        password: password.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(json: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    /// The inline credentials `path` holds for `registry`.
    fn inline(path: &Path, registry: &str) -> Option<Credentials> {
        match credential_source_from(path, registry).unwrap() {
            CredentialSource::Inline(found) => found,
            other => panic!("{registry}: want inline credentials, got {other:?}"),
        }
    }

    fn helper(name: &str, server_url: &str) -> CredentialSource {
        CredentialSource::Helper {
            helper: name.into(),
            server_url: server_url.into(),
        }
    }

    #[test]
    fn cred_helpers_then_creds_store_then_inline_as_docker_decides() {
        let (_d, path) = write_config(
            r#"{"auths":{"gcr.io":{"auth":"dTpw"},"r.lan:5000":{"auth":"dTpw"}},
                "credsStore":"desktop","credHelpers":{"gcr.io":"gcloud","r.lan:5000":"pass"}}"#,
        );
        let source = |r: &str| credential_source_from(&path, r).unwrap();
        assert_eq!(source("gcr.io"), helper("gcloud", "gcr.io"));
        assert_eq!(source("r.lan:5000"), helper("pass", "r.lan:5000"));
        // With a credsStore, every other registry asks it (inline entries are not used).
        assert_eq!(source("quay.io"), helper("desktop", "quay.io"));
        assert_eq!(
            source("docker.io"),
            helper("desktop", "https://index.docker.io/v1/")
        );
        let (_d, path) =
            write_config(r#"{"auths":{"r.lan":{"auth":"dTpw"}},"credHelpers":{"x.io":"x"}}"#);
        assert_eq!(inline(&path, "r.lan"), creds("u", "p"));
        assert_eq!(
            credential_source_from(&path, "x.io").unwrap(),
            helper("x", "x.io")
        );
        let (_d, path) = write_config(r#"{"credsStore":"../evil"}"#);
        let e = credential_source_from(&path, "r.lan").unwrap_err();
        assert!(e.to_string().contains("bad credential helper name"), "{e}");
    }

    fn status(code: i32) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt as _;
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn a_helpers_answer_is_credentials_none_or_its_complaint() {
        let json = br#"{"ServerURL":"gcr.io","Username":"oauth2accesstoken","Secret":"ya29"}"#;
        assert_eq!(
            helper_answer(status(0), json, b"").unwrap(),
            creds("oauth2accesstoken", "ya29")
        );
        let token = br#"{"ServerURL":"r","Username":"<token>","Secret":"refresh"}"#;
        assert_eq!(
            helper_answer(status(0), token, b"").unwrap(),
            creds("<token>", "refresh")
        );
        let not_found = b"credentials not found in native keychain\n";
        assert_eq!(helper_answer(status(1), not_found, b"").unwrap(), None);
        let e = helper_answer(status(1), b"", b"keychain locked\n").unwrap_err();
        assert_eq!(e, "exit status: 1: keychain locked");
        let e = helper_answer(status(0), b"nope", b"").unwrap_err();
        assert!(e.starts_with("unreadable answer"), "{e}");
    }

    #[tokio::test]
    async fn a_helper_is_run_with_the_server_url_on_stdin() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("docker-credential-test");
        std::fs::write(
            &script,
            "#!/bin/sh\nread url\n[ \"$1\" = get ] && [ \"$url\" = r.lan:5000 ] || \
             { echo 'credentials not found in native keychain'; exit 1; }\n\
             echo '{\"ServerURL\":\"r.lan:5000\",\"Username\":\"al\",\"Secret\":\"pw\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = |url: &'static str| run_helper(script.as_os_str(), url);
        assert_eq!(run("r.lan:5000").await.unwrap(), creds("al", "pw"));
        assert_eq!(run("other").await.unwrap(), None);
        let missing = dir.path().join("docker-credential-missing");
        let e = run_helper(missing.as_os_str(), "r").await.unwrap_err();
        assert!(
            matches!(e, DistributionError::CredentialHelper { .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("docker-credential-missing"), "{e}");
    }

    fn creds(u: &str, p: &str) -> Option<Credentials> {
        Some(Credentials {
            username: u.into(),
            password: p.into(),
        })
    }

    #[test]
    fn auth_field_is_base64_user_colon_password() {
        // "alice:s3cr:et" — the password may contain ':'.
        let (_d, path) =
            write_config(r#"{"auths":{"r.example:5000":{"auth":"YWxpY2U6czNjcjpldA=="}}}"#);
        assert_eq!(inline(&path, "r.example:5000"), creds("alice", "s3cr:et"));
        assert_eq!(inline(&path, "other"), None);
    }

    #[test]
    fn username_password_and_identity_token() {
        let (_d, path) = write_config(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"username":"bob","password":"pw"},
                "https://tok.example/v2/":{"identitytoken":"refresh"},
                "empty.example":{}
            }}"#,
        );
        assert_eq!(inline(&path, "docker.io"), creds("bob", "pw"));
        assert_eq!(inline(&path, "registry-1.docker.io"), creds("bob", "pw"));
        assert_eq!(inline(&path, "tok.example"), creds("<token>", "refresh"));
        assert_eq!(inline(&path, "empty.example"), None);
    }

    #[test]
    fn missing_file_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.json");
        assert_eq!(inline(&path, "docker.io"), None);
    }

    #[test]
    fn malformed_file_names_the_file() {
        let (_d, path) = write_config("{not json");
        let e = credential_source_from(&path, "docker.io").unwrap_err();
        assert!(matches!(e, DistributionError::Config { .. }));
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");

        let (_d, path) = write_config(r#"{"auths":{"h":{"auth":"!!!"}}}"#);
        let e = credential_source_from(&path, "h").unwrap_err();
        assert!(e.to_string().contains("invalid base64"), "{e}");

        let (_d, path) = write_config(r#"{"auths":{"h":{"auth":"bm9jb2xvbg=="}}}"#);
        let e = credential_source_from(&path, "h").unwrap_err();
        assert!(e.to_string().contains("user:password"), "{e}");
    }

    #[test]
    fn debug_hides_password() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2") && s.contains("redacted"), "{s}");
    }
}
