//! `ferry login` and `ferry search` on ferryd's side: which registry a server name means,
//! the credential check, and search through Docker Hub's API or a registry's `/v2/_catalog`.

use crate::distribution::RegistryClient;
use crate::error::{Error, Result};

/// The key Docker writes for Docker Hub in `config.json` (and accepts as a server name).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// Docker's default `--limit`.
pub const DEFAULT_LIMIT: u32 = 25;

/// One line of `ferry search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub stars: u64,
    pub official: bool,
}

/// The registry host a login server names: "" and Docker Hub's aliases → "docker.io";
/// "https://host:5000/v2/" → "host:5000".
pub fn registry_of(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or_default();
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// Checks the credentials against the registry; refused ones are [`Error::LoginFailed`].
pub async fn login(registry: &RegistryClient, server: &str, user: &str, pass: &str) -> Result<()> {
    let host = registry_of(server);
    if registry.login(&host, user, pass).await? {
        Ok(())
    } else {
        Err(Error::LoginFailed { registry: host })
    }
}

/// Splits a search term: "host:5000/term" searches that registry, anything else Docker Hub
/// (a first component is a registry when it has a '.' or ':' or is "localhost", as in
/// Docker's reference grammar).
pub fn split_term(term: &str) -> (String, String) {
    match term.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (registry_of(first), rest.to_string())
        }
        _ => ("docker.io".to_string(), term.to_string()),
    }
}

/// Searches `term`'s registry; at most `limit` results (0: Docker's 25).
pub async fn search(
    registry: &RegistryClient,
    term: &str,
    limit: u32,
) -> Result<Vec<SearchResult>> {
    let limit = if limit == 0 { DEFAULT_LIMIT } else { limit };
    let (host, term) = split_term(term);
    if host == "docker.io" {
        let hits = registry.hub_search(&term, limit).await?;
        return Ok(hits
            .into_iter()
            .map(|h| SearchResult {
                name: h.name,
                description: h.description,
                stars: h.stars,
                official: h.official,
            })
            .collect());
    }
    let names = registry
        .catalog(&host)
        .await?
        .ok_or_else(|| Error::SearchUnsupported {
            registry: host.clone(),
            reason: "it offers neither a search API nor /v2/_catalog".to_string(),
        })?;
    Ok(filter_catalog(&host, names, &term, limit))
}

/// Catalog names containing `term` (case-insensitively), as pullable `host/name`, sorted.
fn filter_catalog(host: &str, names: Vec<String>, term: &str, limit: u32) -> Vec<SearchResult> {
    let term = term.to_ascii_lowercase();
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| n.to_ascii_lowercase().contains(&term))
        .collect();
    names.sort();
    names
        .into_iter()
        .take(limit as usize)
        .map(|n| SearchResult {
            name: format!("{host}/{n}"),
            description: String::new(),
            stars: 0,
            official: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_name_registries_as_docker_does() {
        assert_eq!(registry_of(""), "docker.io");
        assert_eq!(registry_of(DOCKER_HUB_KEY), "docker.io");
        assert_eq!(registry_of("index.docker.io"), "docker.io");
        assert_eq!(registry_of("https://r.example:5000/v2/"), "r.example:5000");
        assert_eq!(registry_of("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn terms_name_a_registry_only_when_it_looks_like_a_host() {
        assert_eq!(
            split_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("library/busybox"),
            ("docker.io".into(), "library/busybox".into())
        );
        assert_eq!(
            split_term("127.0.0.1:5000/bu"),
            ("127.0.0.1:5000".into(), "bu".into())
        );
        assert_eq!(
            split_term("localhost/x/y"),
            ("localhost".into(), "x/y".into())
        );
    }

    #[test]
    fn catalog_is_filtered_sorted_and_limited() {
        let names = vec!["b/busybox".into(), "alpine".into(), "a/BusyBox2".into()];
        let got = filter_catalog("h:1", names, "busy", 25);
        let got: Vec<_> = got.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(got, ["h:1/a/BusyBox2", "h:1/b/busybox"]);
        let names = vec!["x1".into(), "x2".into()];
        assert_eq!(filter_catalog("h", names, "", 1).len(), 1);
    }
}
