//! `ferry login`'s check and `ferry search`'s listing, both addressed to a registry rather
//! than to a repository (which is why they do not go through oci-client, whose calls all take
//! an image reference and ask for repository scopes).
//!
//! Login follows the registry's challenge as Docker does: GET `/v2/`; a `Basic` challenge is
//! answered by the same GET with the credentials, a `Bearer` one by asking the token realm for
//! a token (no scope) with them. Only the registry's answer decides: 401/403 means wrong
//! credentials.

use std::collections::HashMap;

use base64::Engine as _;
use serde::Deserialize;

use super::{credentials, DistributionError, RegistryClient};

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DOCKER_HUB_SEARCH: &str = "https://index.docker.io/v1/search";
/// Pages of `/v2/_catalog` read at most (1,000 names each).
const MAX_CATALOG_PAGES: usize = 10;

/// One `WWW-Authenticate` challenge: scheme (lowercased) and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: HashMap<String, String>,
}

/// One search hit, as Docker Hub's search API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SearchHit {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "star_count")]
    pub stars: u64,
    #[serde(default, rename = "is_official")]
    pub official: bool,
}

impl RegistryClient {
    /// Whether `registry` accepts `username`/`password`. `Ok(false)`: it refused them.
    pub async fn login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<bool, DistributionError> {
        let url = format!("{}/v2/", self.registry_base(registry));
        let response = self.registry_get(registry, &url, None).await?;
        let challenge = match response.status().as_u16() {
            200..=299 => return Ok(true),
            401 => challenge_of(&response),
            code => return Err(unexpected(registry, code)),
        };
        let basic = basic_header(username, password);
        let response = match challenge {
            Some(c) if c.scheme == "bearer" => {
                let url = token_url(&c, Some(username), None)?;
                self.registry_get(registry, &url, Some(&basic)).await?
            }
            _ => self.registry_get(registry, &url, Some(&basic)).await?,
        };
        match response.status().as_u16() {
            200..=299 => Ok(true),
            401 | 403 => Ok(false),
            code => Err(unexpected(registry, code)),
        }
    }

    /// Every repository `registry` lists in `/v2/_catalog`, or `None` when it offers no
    /// catalog (404, 405). Uses the stored credentials, answering a bearer challenge with a
    /// `registry:catalog:*` token.
    pub async fn catalog(&self, registry: &str) -> Result<Option<Vec<String>>, DistributionError> {
        let base = self.registry_base(registry);
        let auth = self.catalog_auth(registry, &base).await?;
        let mut names = Vec::new();
        let mut next = Some(format!("{base}/v2/_catalog?n=1000"));
        for _ in 0..MAX_CATALOG_PAGES {
            let Some(url) = next.take() else { break };
            let response = self.registry_get(registry, &url, auth.as_deref()).await?;
            match response.status().as_u16() {
                200 => {}
                404 | 405 => return Ok(None),
                code => return Err(unexpected(registry, code)),
            }
            next = next_link(&response).map(|path| format!("{base}{path}"));
            let page: Catalog = read_json(registry, response, "catalog").await?;
            names.extend(page.repositories);
        }
        Ok(Some(names))
    }

    /// Docker Hub's search API.
    pub async fn hub_search(
        &self,
        term: &str,
        limit: u32,
    ) -> Result<Vec<SearchHit>, DistributionError> {
        let response = self
            .inner
            .http
            .get(DOCKER_HUB_SEARCH)
            .query(&[("q", term), ("n", &limit.to_string())])
            .send()
            .await
            .map_err(|e| DistributionError::unreachable(DOCKER_HUB, e))?;
        if !response.status().is_success() {
            return Err(unexpected(DOCKER_HUB, response.status().as_u16()));
        }
        let found: HubResults = read_json(DOCKER_HUB, response, "search results").await?;
        Ok(found.results)
    }

    /// The `Authorization` value for the catalog, if the registry asks for one.
    async fn catalog_auth(
        &self,
        registry: &str,
        base: &str,
    ) -> Result<Option<String>, DistributionError> {
        let basic = credentials(registry)
            .await?
            .map(|c| basic_header(&c.username, &c.password));
        let response = self
            .registry_get(registry, &format!("{base}/v2/"), None)
            .await?;
        let Some(challenge) = challenge_of(&response) else {
            return Ok(None);
        };
        if challenge.scheme != "bearer" {
            return Ok(basic);
        }
        let url = token_url(&challenge, None, Some("registry:catalog:*"))?;
        let response = self.registry_get(registry, &url, basic.as_deref()).await?;
        if !response.status().is_success() {
            return Ok(None);
        }
        let token: Token = read_json(registry, response, "token response").await?;
        Ok(token
            .token
            .or(token.access_token)
            .map(|t| format!("Bearer {t}")))
    }

    /// `http(s)://host` of a registry as users name it ("docker.io", "host:5000").
    fn registry_base(&self, registry: &str) -> String {
        let host = if registry == DOCKER_HUB {
            DOCKER_HUB_API_HOST
        } else {
            registry
        };
        let scheme = if self.is_plain_http(host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    async fn registry_get(
        &self,
        registry: &str,
        url: &str,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, DistributionError> {
        let mut request = self.inner.http.get(url);
        if let Some(value) = authorization {
            request = request.header(http::header::AUTHORIZATION, value);
        }
        request
            .send()
            .await
            .map_err(|e| DistributionError::unreachable(registry, e))
    }
}

#[derive(Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Vec<String>,
}

#[derive(Deserialize)]
struct HubResults {
    #[serde(default)]
    results: Vec<SearchHit>,
}

#[derive(Deserialize)]
pub(super) struct Token {
    pub(super) token: Option<String>,
    pub(super) access_token: Option<String>,
}

/// Reads a JSON body of at most [`super::MAX_MANIFEST_BYTES`]: registries are not trusted
/// to bound what they send.
pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    registry: &str,
    mut response: reqwest::Response,
    what: &str,
) -> Result<T, DistributionError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| DistributionError::unreachable(registry, e))?
    {
        if body.len() + chunk.len() > super::MAX_MANIFEST_BYTES {
            return Err(DistributionError::protocol(format!("{what} too large")));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| DistributionError::protocol(format!("bad {what}: {e}")))
}

fn unexpected(registry: &str, code: u16) -> DistributionError {
    if code >= 500 {
        return DistributionError::Unreachable {
            registry: registry.to_string(),
            message: format!("server error {code}"),
            source: None,
        };
    }
    DistributionError::protocol(format!("unexpected HTTP status {code} from {registry}"))
}

fn basic_header(username: &str, password: &str) -> String {
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub(super) fn challenge_of(response: &reqwest::Response) -> Option<Challenge> {
    let value = response.headers().get(http::header::WWW_AUTHENTICATE)?;
    parse_challenge(value.to_str().ok()?)
}

/// `Bearer realm="https://auth",service="reg",scope="a,b"` → scheme and parameters.
/// Quoted values may hold commas, so this walks the string rather than splitting it.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = HashMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        rest = tail;
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}

/// The token request a bearer challenge asks for.
pub(super) fn token_url(
    challenge: &Challenge,
    account: Option<&str>,
    scope: Option<&str>,
) -> Result<String, DistributionError> {
    let realm = challenge
        .params
        .get("realm")
        .ok_or_else(|| DistributionError::protocol("bearer challenge without a realm"))?;
    let mut url = reqwest::Url::parse(realm)
        .map_err(|e| DistributionError::protocol(format!("bad token realm {realm:?}: {e}")))?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = challenge.params.get("service") {
            query.append_pair("service", service);
        }
        if let Some(account) = account {
            query.append_pair("account", account);
        }
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
    }
    Ok(url.to_string())
}

/// The path of a `Link: </v2/_catalog?last=x&n=1000>; rel="next"` header.
fn next_link(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(http::header::LINK)?.to_str().ok()?;
    let start = value.find('<')? + 1;
    let end = value[start..].find('>')? + start;
    value
        .contains("rel=\"next\"")
        .then(|| value[start..end].to_string())
        .filter(|path| path.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge_with_commas_in_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["service"], "reg");
        assert_eq!(c.params["scope"], "repository:a:pull,push");
    }

    #[test]
    fn parses_basic_challenge_and_rejects_garbage() {
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(c.scheme, "basic");
        assert_eq!(c.params["realm"], "Registry Realm");
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge(r#"Bearer realm="unterminated"#), None);
    }

    #[test]
    fn token_url_carries_service_account_and_scope() {
        let c = parse_challenge(r#"Bearer realm="http://127.0.0.1:1/token",service="s""#).unwrap();
        let url = token_url(&c, Some("al ice"), Some("registry:catalog:*")).unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:1/token?service=s&account=al+ice&scope=registry%3Acatalog%3A*"
        );
    }
}
