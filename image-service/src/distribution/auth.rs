//! Registry credentials from Docker's `config.json`.
//!
//! Users already ran `docker login`; reading the same file (`$DOCKER_CONFIG/
//! config.json` or `~/.docker/config.json`) lets Ferry pull private images
//! without a login command of its own. Only the inline `auths` map is read;
//! credential helpers (`credsStore`, `credHelpers`) are not run.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

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

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
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

/// Credentials for `registry` ("docker.io", "host:5000") from the user's
/// Docker config. A missing file means anonymous access: `Ok(None)`.
pub fn load_credentials(registry: &str) -> Result<Option<Credentials>, DistributionError> {
    match docker_config_path() {
        Some(path) => load_credentials_from(&path, registry),
        None => Ok(None),
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

/// Like [`load_credentials`] with an explicit file.
pub fn load_credentials_from(
    path: &Path,
    registry: &str,
) -> Result<Option<Credentials>, DistributionError> {
    let config_err = |reason: String| DistributionError::Config {
        path: path.to_path_buf(),
        reason,
    };
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(config_err(e.to_string())),
    };
    let config: ConfigFile =
        serde_json::from_slice(&text).map_err(|e| config_err(e.to_string()))?;
    let Some((key, entry)) = find_entry(&config, registry) else {
        return Ok(None);
    };
    entry_credentials(entry).map_err(|reason| config_err(format!("auths[{key:?}]: {reason}")))
}

/// Exact key first, then keys normalized like Docker's `ConvertToHostname`
/// (scheme and path stripped), Docker Hub's aliases being one registry.
fn find_entry<'a>(config: &'a ConfigFile, registry: &str) -> Option<(&'a str, &'a AuthEntry)> {
    if let Some((k, e)) = config.auths.get_key_value(registry) {
        return Some((k, e));
    }
    let wanted = canonical_host(registry);
    if wanted == "docker.io" {
        if let Some((k, e)) = config.auths.get_key_value(DOCKER_HUB_LEGACY_KEY) {
            return Some((k, e));
        }
    }
    config
        .auths
        .iter()
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
        assert_eq!(
            load_credentials_from(&path, "r.example:5000").unwrap(),
            creds("alice", "s3cr:et")
        );
        assert_eq!(load_credentials_from(&path, "other").unwrap(), None);
    }

    #[test]
    fn username_password_and_identity_token() {
        let (_d, path) = write_config(
            r#"{"auths":{
                "https://index.docker.io/v1/":{"username":"bob","password":"pw"},
                "https://tok.example/v2/":{"identitytoken":"refresh"},
                "empty.example":{}
            }, "credsStore":"desktop"}"#,
        );
        assert_eq!(
            load_credentials_from(&path, "docker.io").unwrap(),
            creds("bob", "pw")
        );
        assert_eq!(
            load_credentials_from(&path, "registry-1.docker.io").unwrap(),
            creds("bob", "pw")
        );
        assert_eq!(
            load_credentials_from(&path, "tok.example").unwrap(),
            creds("<token>", "refresh")
        );
        assert_eq!(load_credentials_from(&path, "empty.example").unwrap(), None);
    }

    #[test]
    fn missing_file_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.json");
        assert_eq!(load_credentials_from(&path, "docker.io").unwrap(), None);
    }

    #[test]
    fn malformed_file_names_the_file() {
        let (_d, path) = write_config("{not json");
        let e = load_credentials_from(&path, "docker.io").unwrap_err();
        assert!(matches!(e, DistributionError::Config { .. }));
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");

        let (_d, path) = write_config(r#"{"auths":{"h":{"auth":"!!!"}}}"#);
        let e = load_credentials_from(&path, "h").unwrap_err();
        assert!(e.to_string().contains("invalid base64"), "{e}");

        let (_d, path) = write_config(r#"{"auths":{"h":{"auth":"bm9jb2xvbg=="}}}"#);
        let e = load_credentials_from(&path, "h").unwrap_err();
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
