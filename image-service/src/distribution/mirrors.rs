//! Pull mirrors (`ferryd --registry-mirror`), per registry, as containerd's `hosts.toml` and
//! podman's `registries.conf` have them.
//!
//! A flag value is either a bare URL (Docker's form: a Docker Hub mirror) or `REGISTRY=URL`
//! (`registry.k8s.io=http://127.0.0.1:5001`). The URL is checked as Docker's `ValidateMirror`
//! checks it: `http` or `https`, a host with an optional port, no path, query, fragment or
//! credentials (containerd's `override_path` is not offered: a mirror serves `/v2/` at its root).
//!
//! A mirror changes only where the bytes come from: the image keeps its name, and a pull tries
//! the registry's mirrors in flag order, then the registry itself (see [`Endpoint`]).

use std::fmt;
use std::str::FromStr;

use super::reference::is_domain_and_port;
use super::DistributionError;

/// Docker Hub's names, one registry (a bare mirror URL is for it).
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 2] = ["index.docker.io", "registry-1.docker.io"];

/// One `--registry-mirror`: pulls of `registry`'s names may be served by `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The registry as references name it: "docker.io", "registry.k8s.io", "host:5000".
    pub registry: String,
    /// `http://host[:port]` or `https://host[:port]`, no trailing slash.
    pub url: String,
}

impl Mirror {
    /// Parses a flag value: `URL` (a Docker Hub mirror) or `REGISTRY=URL`.
    pub fn parse(value: &str) -> Result<Mirror, DistributionError> {
        let invalid = |reason: &str| DistributionError::InvalidMirror {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let (registry, url) = match value.split_once('=') {
            // A bare URL may hold '=' only after its scheme, so "scheme://" first means bare.
            Some((registry, url)) if !registry.contains("://") => (registry, url),
            _ => (DOCKER_HUB, value),
        };
        if !is_domain_and_port(registry) {
            return Err(invalid(&format!(
                "{registry:?} is not a registry host (HOST or HOST:PORT)"
            )));
        }
        let url = validate_url(url).map_err(|reason| invalid(&reason))?;
        Ok(Mirror {
            registry: canonical_registry(registry).to_string(),
            url,
        })
    }

    /// "host:port" of the mirror, as requests address it.
    pub fn host(&self) -> &str {
        self.url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, host)| host)
    }

    /// Whether the mirror is spoken to in plain HTTP (its URL says so).
    pub fn plain_http(&self) -> bool {
        self.url.starts_with("http://")
    }

    /// Whether this is a Docker Hub mirror (Docker's `RegistryConfig.Mirrors`).
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }
}

/// The flag form: a Docker Hub mirror as its bare URL, any other as `REGISTRY=URL`.
impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_docker_hub() {
            f.write_str(&self.url)
        } else {
            write!(f, "{}={}", self.registry, self.url)
        }
    }
}

impl FromStr for Mirror {
    type Err = DistributionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mirror::parse(s)
    }
}

/// Docker Hub's aliases are one registry, as references normalize them.
fn canonical_registry(registry: &str) -> &str {
    if DOCKER_HUB_ALIASES.contains(&registry) {
        DOCKER_HUB
    } else {
        registry
    }
}

/// `scheme://host[:port][/]` normalized without the slash, or why not.
fn validate_url(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "{url:?} is not a URL (http://HOST[:PORT] or https://HOST[:PORT])"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?}: use http or https"));
    }
    if rest.contains(['?', '#']) {
        return Err("a mirror URL has no query or fragment".to_string());
    }
    if rest.contains('@') {
        return Err("a mirror URL holds no credentials (they go in config.json)".to_string());
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.contains('/') {
        return Err("a mirror URL has no path: the mirror serves /v2/ at its root".to_string());
    }
    if !is_domain_and_port(host) {
        return Err(format!("{host:?} is not a host (HOST or HOST:PORT)"));
    }
    Ok(format!("{scheme}://{host}"))
}

/// One place a repository's v2 API can be reached: a mirror, or the registry itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// "host:port" requests go to.
    pub(super) host: String,
    pub(super) plain_http: bool,
    /// Whether a failure here moves on to the next endpoint rather than failing the request.
    pub(super) mirror: bool,
}

impl Endpoint {
    /// `http(s)://host`.
    pub(super) fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.host)
    }

    /// The key of this host's credentials in `config.json`: each host gets its own, so a
    /// registry's credentials never go to a mirror (containerd's rule, not Docker's, which
    /// sends Docker Hub's to its mirrors).
    pub(super) fn credentials_key<'a>(&'a self, registry: &'a str) -> &'a str {
        if self.mirror {
            &self.host
        } else {
            registry
        }
    }
}

/// The endpoints for `registry` (API host `api_host`, plain HTTP or not): its mirrors in flag
/// order, then the registry itself, always last.
pub(super) fn endpoints(
    mirrors: &[Mirror],
    registry: &str,
    api_host: &str,
    plain_http: bool,
) -> Vec<Endpoint> {
    let mirror = |m: &Mirror| Endpoint {
        host: m.host().to_string(),
        plain_http: m.plain_http(),
        mirror: true,
    };
    let origin = Endpoint {
        host: api_host.to_string(),
        plain_http,
        mirror: false,
    };
    let own = mirrors.iter().filter(|m| m.registry == registry);
    own.map(mirror).chain(std::iter::once(origin)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror(registry: &str, url: &str) -> Mirror {
        Mirror {
            registry: registry.into(),
            url: url.into(),
        }
    }

    #[test]
    fn a_bare_url_mirrors_docker_hub_and_registry_equals_url_mirrors_that_registry() {
        let cases = [
            (
                "http://127.0.0.1:5000",
                mirror("docker.io", "http://127.0.0.1:5000"),
            ),
            (
                "https://mirror.gcr.io/",
                mirror("docker.io", "https://mirror.gcr.io"),
            ),
            (
                "registry.k8s.io=http://127.0.0.1:5001",
                mirror("registry.k8s.io", "http://127.0.0.1:5001"),
            ),
            (
                "gcr.io=https://m.lan:8443/",
                mirror("gcr.io", "https://m.lan:8443"),
            ),
            (
                "k8s.gcr.io=http://[::1]:5000",
                mirror("k8s.gcr.io", "http://[::1]:5000"),
            ),
            (
                "reg.lan:5000=http://m.lan",
                mirror("reg.lan:5000", "http://m.lan"),
            ),
            (
                "index.docker.io=http://m.lan",
                mirror("docker.io", "http://m.lan"),
            ),
            (
                "registry-1.docker.io=http://m.lan",
                mirror("docker.io", "http://m.lan"),
            ),
        ];
        for (value, want) in cases {
            assert_eq!(Mirror::parse(value).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_value_and_what_is_wrong() {
        let cases = [
            ("", "not a URL"),
            ("mirror.lan:5000", "not a URL"),
            ("ftp://m.lan", "unsupported scheme \"ftp\""),
            ("registry.k8s.io=", "not a URL"),
            ("registry.k8s.io=m.lan:5000", "not a URL"),
            ("=http://m.lan", "\"\" is not a registry host"),
            (
                "Bad_Host!=http://m.lan",
                "\"Bad_Host!\" is not a registry host",
            ),
            ("gcr.io=http://m.lan/v2/gcr.io", "no path"),
            ("gcr.io=http://m.lan?ns=gcr.io", "no query"),
            ("gcr.io=http://u:p@m.lan", "no credentials"),
            ("gcr.io=http://", "\"\" is not a host"),
            ("gcr.io=http://m lan", "\"m lan\" is not a host"),
        ];
        for (value, want) in cases {
            let e = Mirror::parse(value).unwrap_err();
            assert!(
                matches!(e, DistributionError::InvalidMirror { .. }),
                "{value}: {e:?}"
            );
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("invalid registry mirror {value:?}: ")),
                "{text}"
            );
            assert!(text.contains(want), "{value}: want {want:?} in {text:?}");
        }
    }

    #[test]
    fn displays_as_the_flag_form() {
        for value in [
            "http://127.0.0.1:5000",
            "registry.k8s.io=http://127.0.0.1:5001",
        ] {
            assert_eq!(Mirror::parse(value).unwrap().to_string(), value);
        }
        let m = Mirror::parse("gcr.io=https://m.lan:8443").unwrap();
        assert_eq!((m.host(), m.plain_http()), ("m.lan:8443", false));
    }

    #[test]
    fn a_registrys_mirrors_come_first_in_flag_order_and_the_registry_last() {
        let mirrors = [
            mirror("gcr.io", "http://a.lan"),
            mirror("registry.k8s.io", "https://b.lan:8443"),
            mirror("registry.k8s.io", "http://c.lan:5000"),
        ];
        let hosts: Vec<(String, bool, bool)> =
            endpoints(&mirrors, "registry.k8s.io", "registry.k8s.io", false)
                .into_iter()
                .map(|e| (e.host, e.plain_http, e.mirror))
                .collect();
        assert_eq!(
            hosts,
            [
                ("b.lan:8443".to_string(), false, true),
                ("c.lan:5000".to_string(), true, true),
                ("registry.k8s.io".to_string(), false, false),
            ]
        );
        let only = endpoints(&mirrors, "quay.io", "quay.io", false);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].base_url(), "https://quay.io");
        assert_eq!(only[0].credentials_key("quay.io"), "quay.io");
        let m = &endpoints(&mirrors, "gcr.io", "gcr.io", false)[0];
        assert_eq!(
            (m.base_url().as_str(), m.credentials_key("gcr.io")),
            ("http://a.lan", "a.lan")
        );
    }
}
