//! A pull's GETs (manifests and blobs), answering the registry's challenges whenever they come.
//!
//! A registry may answer `/v2/` with 200 and still challenge a repository's manifest or blob
//! (per-project auth, auth proxies in front of a path, object-storage-backed blob stores), so
//! the auth for a (host, repository) is learned from the requests themselves, not from a ping:
//! 1. a request goes out with what was learned for its (host, repository), else with nothing;
//! 2. a 401 with a `WWW-Authenticate` challenge from the endpoint itself is answered — Basic
//!    with the host's credentials, Bearer with a token asked of the realm with them — and the
//!    request is sent again, once (a second 401 is the answer);
//! 3. a 401 from any other scheme, host or port (after a redirect) is not answered:
//!    credentials never leave the endpoint. reqwest follows redirects and strips
//!    `Authorization` when the scheme, host or port changes (`remove_sensitive_headers` in
//!    reqwest 0.13 `src/redirect.rs`), so a blob redirected (307) to a CDN or object store is
//!    fetched without them.
//!
//! What was learned is kept [`AUTH_TTL`] per (host, repository); a stale token costs one 401.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::login::{challenge_of, read_json, token_url, Challenge, Token};
use super::mirrors::Endpoint;
use super::{credentials, Credentials, DistributionError, Reference, RegistryClient};

/// How long learned auth is reused (registry tokens usually live 60 s or more).
const AUTH_TTL: Duration = Duration::from_secs(50);

/// What to put in `Authorization` on a request.
#[derive(Clone)]
pub(super) enum RequestAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

impl RequestAuth {
    pub(super) fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            RequestAuth::None => request,
            RequestAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
            RequestAuth::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// Learned auth per (endpoint host, repository).
#[derive(Default)]
pub(super) struct AuthCache(Mutex<HashMap<(String, String), (RequestAuth, Instant)>>);

impl AuthCache {
    fn get(&self, host: &str, repository: &str) -> RequestAuth {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (host.to_string(), repository.to_string());
        match map.get(&key) {
            Some((auth, at)) if at.elapsed() < AUTH_TTL => auth.clone(),
            _ => RequestAuth::None,
        }
    }

    fn put(&self, host: &str, repository: &str, auth: RequestAuth) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (host.to_string(), repository.to_string());
        map.insert(key, (auth, Instant::now()));
    }
}

impl RegistryClient {
    /// Sends the request `build` makes (a GET of `r`'s repository at `endpoint`) with the
    /// learned auth; answers a challenge from the endpoint and sends it once more. The
    /// response's status is the caller's to judge (a 401 is still a 401).
    pub(super) async fn authed_get(
        &self,
        r: &Reference,
        endpoint: &Endpoint,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DistributionError> {
        let cache = &self.inner.auth;
        let auth = cache.get(&endpoint.host, r.repository());
        let response = self.send(r, build(&self.inner.http), &auth).await?;
        let Some(challenge) = own_challenge(&response, endpoint) else {
            return Ok(response);
        };
        tracing::debug!(host = %endpoint.host, scheme = %challenge.scheme, "answering a challenge");
        let auth = self.answer(r, endpoint, &challenge).await?;
        cache.put(&endpoint.host, r.repository(), auth.clone());
        self.send(r, build(&self.inner.http), &auth).await
    }

    async fn send(
        &self,
        r: &Reference,
        request: reqwest::RequestBuilder,
        auth: &RequestAuth,
    ) -> Result<reqwest::Response, DistributionError> {
        auth.apply(request)
            .send()
            .await
            .map_err(|e| DistributionError::unreachable(r.registry(), e))
    }

    /// The auth a challenge asks for: the host's credentials (Basic), or a token for `r`'s
    /// repository asked with them (Bearer). No credentials for Basic, or a scheme we do not
    /// speak, is the registry's refusal.
    async fn answer(
        &self,
        r: &Reference,
        endpoint: &Endpoint,
        challenge: &Challenge,
    ) -> Result<RequestAuth, DistributionError> {
        let found = credentials(endpoint.credentials_key(r.registry())).await?;
        match (challenge.scheme.as_str(), found) {
            ("basic", Some(c)) => Ok(RequestAuth::Basic(c.username, c.password)),
            ("bearer", found) => self.token(r, challenge, found.as_ref()).await,
            _ => Err(unauthorized(r)),
        }
    }

    /// A pull token from the challenge's realm (its scope, else `repository:<name>:pull`).
    async fn token(
        &self,
        r: &Reference,
        challenge: &Challenge,
        found: Option<&Credentials>,
    ) -> Result<RequestAuth, DistributionError> {
        let own_scope = format!("repository:{}:pull", r.repository());
        let scope = challenge.params.get("scope").unwrap_or(&own_scope);
        let account = found.map(|c| c.username.as_str());
        let mut request = self
            .inner
            .http
            .get(token_url(challenge, account, Some(scope))?);
        if let Some(c) = found {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let response = self.send(r, request, &RequestAuth::None).await?;
        match response.status().as_u16() {
            200..=299 => {}
            401 | 403 => return Err(unauthorized(r)),
            code => return Err(super::status_error(code, r, None, "from the token server")),
        }
        let token: Token = read_json(r.registry(), response, "token response").await?;
        token
            .token
            .or(token.access_token)
            .map(RequestAuth::Bearer)
            .ok_or_else(|| DistributionError::protocol("token response without a token"))
    }
}

fn unauthorized(r: &Reference) -> DistributionError {
    DistributionError::Unauthorized {
        reference: r.familiar_name(),
    }
}

/// The challenge of a 401 that the endpoint itself sent (not a host a redirect led to).
fn own_challenge(response: &reqwest::Response, endpoint: &Endpoint) -> Option<Challenge> {
    if response.status() != http::StatusCode::UNAUTHORIZED {
        return None;
    }
    if !same_origin(response.url(), endpoint) {
        tracing::debug!(url = %response.url(), "not answering a challenge from another host");
        return None;
    }
    challenge_of(response)
}

/// Whether `url` is at `endpoint`'s scheme, host and port.
fn same_origin(url: &reqwest::Url, endpoint: &Endpoint) -> bool {
    let Ok(base) = reqwest::Url::parse(&endpoint.base_url()) else {
        return false;
    };
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, plain_http: bool) -> Endpoint {
        Endpoint {
            host: host.into(),
            plain_http,
            mirror: false,
        }
    }

    #[test]
    fn only_the_endpoints_own_scheme_host_and_port_may_be_answered() {
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        let e = endpoint("127.0.0.1:5000", true);
        assert!(same_origin(&url("http://127.0.0.1:5000/v2/a/blobs/x"), &e));
        for other in [
            "http://127.0.0.1:5001/v2/a/blobs/x",
            "http://127.0.0.2:5000/v2/a/blobs/x",
            "https://127.0.0.1:5000/v2/a/blobs/x",
        ] {
            assert!(!same_origin(&url(other), &e), "{other}");
        }
        let hub = endpoint("registry-1.docker.io", false);
        assert!(same_origin(
            &url("https://registry-1.docker.io:443/v2/"),
            &hub
        ));
        assert!(!same_origin(&url("https://cdn.docker.io/blob"), &hub));
        assert!(same_origin(
            &url("http://[::1]:5000/v2/"),
            &endpoint("[::1]:5000", true)
        ));
    }

    #[test]
    fn learned_auth_is_per_host_and_repository_and_expires() {
        let cache = AuthCache::default();
        cache.put("h:1", "a", RequestAuth::Bearer("t".into()));
        assert!(matches!(cache.get("h:1", "a"), RequestAuth::Bearer(t) if t == "t"));
        assert!(matches!(cache.get("h:1", "b"), RequestAuth::None));
        assert!(matches!(cache.get("h:2", "a"), RequestAuth::None));
        let old = Instant::now().checked_sub(AUTH_TTL * 2).unwrap();
        cache.0.lock().unwrap().insert(
            ("h:1".into(), "a".into()),
            (RequestAuth::Bearer("t".into()), old),
        );
        assert!(matches!(cache.get("h:1", "a"), RequestAuth::None));
    }
}
