//! Image references, normalized exactly as Docker does.
//!
//! Mirrors `github.com/distribution/reference` (`normalize.go`, `regexp.go`):
//! `ParseNormalizedNamed` followed by `TagNameOnly`. The grammar is matched by
//! hand instead of with a regex engine; each `is_*` function below names the
//! production of `regexp.go` it implements. Users see the same acceptances
//! and the same error texts as with `docker pull`.

use std::fmt;

use super::DistributionError;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
/// `NameTotalLengthMax` in `reference.go` (domain included).
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// A fully qualified image reference: registry, repository, tag and/or digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes a user-supplied reference ("busybox",
    /// "host:5000/a/b:tag", "name@sha256:…"). Adds tag `latest` when there is
    /// neither tag nor digest.
    pub fn parse(s: &str) -> Result<Reference, DistributionError> {
        if s.len() == 64 && s.bytes().all(is_lower_hex) {
            return Err(invalid(
                s,
                format!(
                    "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
                ),
            ));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote_name = remainder.split(':').next().unwrap_or_default();
        if remote_name.to_lowercase() != remote_name {
            return Err(invalid(
                s,
                format!("repository name ({remote_name}) must be lowercase"),
            ));
        }
        let (rest, digest) = match remainder.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(s, digest)?)),
            None => (remainder.as_str(), None),
        };
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) => (repo, Some(tag)),
            None => (rest, None),
        };
        check_name(s, &domain, repository)?;
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(invalid(s, ""));
            }
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(Reference {
            registry: domain,
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// Registry host as users write it ("docker.io", "127.0.0.1:5000").
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Repository path within the registry ("library/busybox").
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Fully qualified name without tag or digest ("docker.io/library/busybox").
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Name as Docker shows it ("busybox", "127.0.0.1:5000/a/b").
    pub fn familiar_name(&self) -> String {
        if self.registry != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(short) if !short.contains('/') => short.to_string(),
            _ => self.repository.clone(),
        }
    }

    /// What goes after `/manifests/`: the digest if present, else the tag.
    pub fn tag_or_digest(&self) -> String {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
            .to_string()
    }

    /// Host serving the v2 API ("registry-1.docker.io" for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.registry == DEFAULT_DOMAIN {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The same repository, addressed by `digest` (the tag is dropped).
    pub fn with_digest(&self, digest: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        }
    }

    /// `familiar_name` plus `:tag` / `@digest`, as Docker prints it in errors.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        push_tag_digest(&mut s, self.tag(), self.digest());
        s
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_tag_digest(&mut s, self.tag(), self.digest());
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = DistributionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn push_tag_digest(s: &mut String, tag: Option<&str>, digest: Option<&str>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest);
    }
}

fn invalid(reference: &str, reason: impl Into<String>) -> DistributionError {
    DistributionError::InvalidReference {
        reference: reference.to_string(),
        reason: reason.into(),
    }
}

/// `splitDockerDomain` in normalize.go.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

fn check_name(s: &str, domain: &str, repository: &str) -> Result<(), DistributionError> {
    if !is_domain_and_port(domain) || !repository.split('/').all(is_path_component) {
        return Err(invalid(s, ""));
    }
    if domain.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(invalid(
            s,
            format!("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"),
        ));
    }
    Ok(())
}

/// `digest` in regexp.go, then go-digest's validation; only sha256 is usable.
fn parse_digest(s: &str, digest: &str) -> Result<String, DistributionError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(invalid(s, ""));
    };
    let grammar_ok = is_digest_algorithm(algorithm)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !grammar_ok {
        return Err(invalid(s, ""));
    }
    if algorithm != "sha256" {
        return Err(invalid(
            s,
            format!("unsupported digest algorithm {algorithm}"),
        ));
    }
    if hex.len() != 64 {
        return Err(invalid(s, "invalid checksum digest length"));
    }
    if !hex.bytes().all(is_lower_hex) {
        return Err(invalid(s, "invalid checksum digest format"));
    }
    Ok(digest.to_string())
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*`
fn is_digest_algorithm(s: &str) -> bool {
    s.split(['-', '_', '+', '.']).all(|part| {
        let mut bytes = part.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric())
    })
}

/// `tag = [\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut bytes = s.bytes();
    s.len() <= TAG_LENGTH_MAX
        && bytes.next().is_some_and(word)
        && bytes.all(|b| word(b) || b == b'.' || b == b'-')
}

/// `pathComponent = [a-z0-9]+ (?:(?:[._]|__|[-]+)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = s.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        if !is_separator(&s[sep_start..i]) {
            return false;
        }
    }
}

/// `separator = [._]|__|[-]+`
fn is_separator(s: &str) -> bool {
    matches!(s, "." | "_" | "__") || (!s.is_empty() && s.bytes().all(|b| b == b'-'))
}

/// `domainAndPort = (domainName | ipv6address) (:[0-9]+)?`
pub(super) fn is_domain_and_port(s: &str) -> bool {
    let Some((host, port)) = split_port(s) else {
        return false;
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && (is_ipv6_host(host) || host.split('.').all(is_domain_component))
}

/// Splits "host:port" / "[v6]:port"; `None` when something follows `]` that
/// is not a port.
fn split_port(s: &str) -> Option<(&str, Option<&str>)> {
    let host_end = if s.starts_with('[') {
        s.find(']')? + 1
    } else {
        s.find(':').unwrap_or(s.len())
    };
    let (host, rest) = s.split_at(host_end);
    if rest.is_empty() {
        return Some((host, None));
    }
    Some((host, Some(rest.strip_prefix(':')?)))
}

/// `ipv6address = \[(?:[a-fA-F0-9:]+)\]`
fn is_ipv6_host(s: &str) -> bool {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'))
}

/// `domainNameComponent = [a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// (input, expected Display) for valid references.
    fn valid_cases() -> Vec<(String, String)> {
        let d = D;
        let long_tag = "a".repeat(128);
        let mut v: Vec<(String, String)> = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("docker.io/busybox", "docker.io/library/busybox:latest"),
            (
                "docker.io/library/busybox",
                "docker.io/library/busybox:latest",
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest",
            ),
            ("index.docker.io/x/y", "docker.io/x/y:latest"),
            ("user/repo", "docker.io/user/repo:latest"),
            ("a/b/c/d", "docker.io/a/b/c/d:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("localhost:5000/x:t", "localhost:5000/x:t"),
            ("127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag"),
            ("host:5000/a/b:tag", "host:5000/a/b:tag"),
            ("example.com/a", "example.com/a:latest"),
            ("Example.COM/a", "Example.COM/a:latest"),
            ("[::1]:5000/x", "[::1]:5000/x:latest"),
            ("[fe80::1]/x:t", "[fe80::1]/x:t"),
            (
                "my-registry.example-domain.io:443/x",
                "my-registry.example-domain.io:443/x:latest",
            ),
            ("test.com:tag", "docker.io/library/test.com:tag"),
            ("test.com:5000", "docker.io/library/test.com:5000"),
            ("a.b", "docker.io/library/a.b:latest"),
            ("a_b", "docker.io/library/a_b:latest"),
            ("a__b", "docker.io/library/a__b:latest"),
            ("a-b", "docker.io/library/a-b:latest"),
            ("a---b", "docker.io/library/a---b:latest"),
            ("a.b_c__d-e", "docker.io/library/a.b_c__d-e:latest"),
            ("x:Tag_1.0-rc", "docker.io/library/x:Tag_1.0-rc"),
            ("x:_t", "docker.io/library/x:_t"),
            ("0", "docker.io/library/0:latest"),
            ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        v.push((
            format!("busybox@{d}"),
            format!("docker.io/library/busybox@{d}"),
        ));
        v.push((
            format!("busybox:1@{d}"),
            format!("docker.io/library/busybox:1@{d}"),
        ));
        v.push((format!("h:5/r@{d}"), format!("h:5/r@{d}")));
        v.push((format!("h.io/r:t@{d}"), format!("h.io/r:t@{d}")));
        v.push((
            format!("x:{long_tag}"),
            format!("docker.io/library/x:{long_tag}"),
        ));
        // 255 characters in total, domain included.
        let repo = "a".repeat(255 - "docker.io/library/".len());
        v.push((repo.clone(), format!("docker.io/library/{repo}:latest")));
        v
    }

    /// (input, expected reason; "" = plain "invalid reference format").
    fn invalid_cases() -> Vec<(String, &'static str)> {
        let mut v: Vec<(String, &'static str)> = [
            ("", ""),
            ("Busybox", "repository name (library/Busybox) must be lowercase"),
            ("user/Repo", "repository name (user/Repo) must be lowercase"),
            ("example.com/Repo:t", "repository name (Repo) must be lowercase"),
            ("a..b", ""),
            ("a._b", ""),
            ("a___b", ""),
            ("a.-b", ""),
            ("-a", ""),
            ("a-", ""),
            ("_a", ""),
            ("a/", ""),
            ("localhost/", ""),
            ("a//b", ""),
            ("/a", ""),
            ("x:", ""),
            ("x:-t", ""),
            ("x:.t", ""),
            ("x:t:u", ""),
            ("x@", ""),
            ("x@sha256", ""),
            ("x@sha256:abc", ""),
            ("x@sha256:ffffffffffffffffffffffffffffffffffffffff", "invalid checksum digest length"),
            ("x@sha256:gfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", ""),
            ("x@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "invalid checksum digest format"),
            ("x@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "unsupported digest algorithm sha512"),
            ("x@@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", ""),
            ("host:port/x", ""),
            ("host:/x", ""),
            ("-host.com/x", ""),
            ("host-.com/x", ""),
            ("ho_st.com/x", ""),
            ("[::1/x", ""),
            ("[]:5000/x", ""),
            ("[::1]x/y", ""),
            ("a b", ""),
            ("a\u{e9}", ""),
            (
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "invalid repository name (ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff), cannot specify 64-byte hexadecimal strings",
            ),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), *b))
        .collect();
        v.push((format!("x:{}", "a".repeat(129)), ""));
        let repo = "a".repeat(256 - "docker.io/library/".len());
        v.push((repo, "repository name must not be more than 255 characters"));
        v
    }

    #[test]
    fn valid_references_normalize_like_docker() {
        for (input, want) in valid_cases() {
            let r = Reference::parse(&input)
                .unwrap_or_else(|e| panic!("{input:?} should parse, got {e}"));
            assert_eq!(r.to_string(), want, "input {input:?}");
            // Display output is itself a valid, stable reference.
            assert_eq!(Reference::parse(&want).unwrap(), r, "round trip {input:?}");
        }
    }

    #[test]
    fn invalid_references_are_rejected_with_docker_reason() {
        for (input, reason) in invalid_cases() {
            match Reference::parse(&input) {
                Err(DistributionError::InvalidReference {
                    reference,
                    reason: got,
                }) => {
                    assert_eq!(reference, input);
                    assert_eq!(got, reason, "input {input:?}");
                }
                other => panic!("{input:?} should be invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn accessors() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest(), None);
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.tag_or_digest(), "latest");

        let r = Reference::parse(&format!("127.0.0.1:5000/a/b:t@{D}")).unwrap();
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/a/b");
        assert_eq!(r.tag(), Some("t"));
        assert_eq!(r.tag_or_digest(), D);
        let by_digest = r.with_digest(D);
        assert_eq!(by_digest.to_string(), format!("127.0.0.1:5000/a/b@{D}"));

        assert_eq!(
            Reference::parse("user/x").unwrap().familiar_name(),
            "user/x"
        );
        assert_eq!(
            Reference::parse("library/a/b").unwrap().familiar_name(),
            "library/a/b"
        );
    }

    #[test]
    fn plain_grammar_error_prints_docker_text() {
        let e = Reference::parse("a..b").unwrap_err();
        assert_eq!(e.to_string(), "invalid reference format");
        let e = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
    }
}
