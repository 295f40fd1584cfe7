//! Manifest parsing and platform selection: pure functions, no I/O.
//!
//! Our own small serde model instead of `oci_spec::image` types because we
//! must (a) accept Docker schema 2 and manifest lists next to OCI, (b) infer
//! the type when both `Content-Type` and `mediaType` are missing, and (c)
//! give precise errors (schema 1 named as such, negative sizes, bad digests)
//! instead of a generic deserialization failure.

use std::fmt;

use serde::Deserialize;

use super::DistributionError;

/// Manifests (and indexes) larger than this are refused, as containerd does.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (schema 2).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 1 (unsigned), refused.
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker schema 1 (signed), refused.
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Media types we ask for in `Accept`, preferred first. Schema 1 is listed so
/// a schema-1-only image yields a clear "unsupported" error, not a 404.
pub const ACCEPTED_MEDIA_TYPES: [&str; 6] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST_V2,
    DOCKER_SCHEMA1_SIGNED,
    DOCKER_SCHEMA1,
];

const SCHEMA1_DETAIL: &str =
    "Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed";

/// A content descriptor (config, layer or index entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// `sha256:<64 lowercase hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Platform, for index entries.
    pub platform: Option<Platform>,
    /// Alternate download locations (foreign layers).
    pub urls: Vec<String>,
}

/// A parsed manifest: either an index (multi-platform) or an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// OCI index or Docker manifest list.
    Index {
        /// Effective media type.
        media_type: String,
        /// One entry per platform (plus attestations).
        manifests: Vec<Descriptor>,
    },
    /// OCI image manifest or Docker schema 2.
    Image {
        /// Effective media type.
        media_type: String,
        /// Image config blob.
        config: Descriptor,
        /// Layers, base first; never empty.
        layers: Vec<Descriptor>,
    },
}

impl Manifest {
    /// The effective media type.
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Index { media_type, .. } | Manifest::Image { media_type, .. } => media_type,
        }
    }
}

/// An OS/architecture/variant triple, e.g. `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// "linux".
    pub os: String,
    /// GOARCH spelling: "amd64", "arm64", "arm".
    pub architecture: String,
    /// "v7", "v8"…
    pub variant: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<Vec<RawDescriptor>>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    platform: Option<RawPlatform>,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Parses a manifest given the response `Content-Type` (may be empty).
pub fn parse_manifest(content_type: &str, bytes: &[u8]) -> Result<Manifest, DistributionError> {
    let header = content_type.split(';').next().unwrap_or_default().trim();
    if is_schema1(header) {
        return Err(schema1_error(header));
    }
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| DistributionError::invalid_manifest(format!("not a valid manifest: {e}")))?;
    let media_type = effective_media_type(header, &raw)?;
    refuse_ambiguous(&media_type, &raw)?;
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => build_index(media_type, raw),
        OCI_MANIFEST | DOCKER_MANIFEST_V2 => build_image(media_type, raw),
        _ => Err(DistributionError::UnsupportedMediaType {
            media_type,
            detail: String::new(),
        }),
    }
}

/// CVE-2021-41190: a document that reads as an index to one client and as an image manifest to
/// another, or whose `mediaType` says other than its Content-Type, is refused, naming what
/// disagrees (as the OCI spec now requires).
fn refuse_ambiguous(media_type: &str, raw: &RawManifest) -> Result<(), DistributionError> {
    let body = raw.media_type.as_deref().unwrap_or_default();
    if !body.is_empty() && body != media_type {
        return Err(DistributionError::invalid_manifest(format!(
            "ambiguous manifest: its mediaType {body} disagrees with its Content-Type {media_type}"
        )));
    }
    let is_index = matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST);
    let image_fields = raw.config.is_some() || raw.layers.is_some();
    if is_index && image_fields {
        return Err(DistributionError::invalid_manifest(format!(
            "ambiguous manifest: an index ({media_type}) with \"config\" or \"layers\""
        )));
    }
    if !is_index && raw.manifests.is_some() {
        return Err(DistributionError::invalid_manifest(format!(
            "ambiguous manifest: an image manifest ({media_type}) with \"manifests\""
        )));
    }
    Ok(())
}

fn is_schema1(media_type: &str) -> bool {
    media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED
}

fn schema1_error(media_type: &str) -> DistributionError {
    DistributionError::UnsupportedMediaType {
        media_type: media_type.to_string(),
        detail: SCHEMA1_DETAIL.to_string(),
    }
}

fn is_generic_content_type(header: &str) -> bool {
    matches!(
        header,
        "" | "application/json" | "text/plain" | "application/octet-stream" | "binary/octet-stream"
    )
}

/// Header if specific, else the body's `mediaType`, else inferred from shape.
fn effective_media_type(header: &str, raw: &RawManifest) -> Result<String, DistributionError> {
    let body_type = raw.media_type.as_deref().unwrap_or_default();
    if raw.schema_version == Some(1) || is_schema1(body_type) {
        let named = if is_schema1(body_type) {
            body_type
        } else {
            DOCKER_SCHEMA1
        };
        return Err(schema1_error(named));
    }
    if !is_generic_content_type(header) {
        return Ok(header.to_string());
    }
    if !body_type.is_empty() {
        return Ok(body_type.to_string());
    }
    match (&raw.manifests, &raw.config, &raw.layers) {
        (Some(_), None, None) => Ok(OCI_INDEX.to_string()),
        (None, Some(_), _) | (None, _, Some(_)) => Ok(OCI_MANIFEST.to_string()),
        _ => Err(DistributionError::invalid_manifest(
            "cannot tell an index from an image manifest: no mediaType, and neither \"manifests\" nor \"config\"/\"layers\" alone",
        )),
    }
}

fn build_index(media_type: String, raw: RawManifest) -> Result<Manifest, DistributionError> {
    let manifests = raw
        .manifests
        .ok_or_else(|| DistributionError::invalid_manifest("index without \"manifests\""))?
        .into_iter()
        .map(descriptor)
        .collect::<Result<_, _>>()?;
    Ok(Manifest::Index {
        media_type,
        manifests,
    })
}

fn build_image(media_type: String, raw: RawManifest) -> Result<Manifest, DistributionError> {
    let config = raw
        .config
        .ok_or_else(|| DistributionError::invalid_manifest("image manifest without \"config\""))?;
    let layers: Vec<Descriptor> = raw
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(descriptor)
        .collect::<Result<_, _>>()?;
    if layers.is_empty() {
        return Err(DistributionError::invalid_manifest(
            "image manifest has no layers",
        ));
    }
    Ok(Manifest::Image {
        media_type,
        config: descriptor(config)?,
        layers,
    })
}

fn descriptor(raw: RawDescriptor) -> Result<Descriptor, DistributionError> {
    validate_digest(&raw.digest)?;
    let size = u64::try_from(raw.size).map_err(|_| {
        DistributionError::invalid_manifest(format!(
            "descriptor {} has negative size {}",
            raw.digest, raw.size
        ))
    })?;
    let media_type = raw.media_type.filter(|m| !m.is_empty()).ok_or_else(|| {
        DistributionError::invalid_manifest(format!("descriptor {} has no mediaType", raw.digest))
    })?;
    Ok(Descriptor {
        media_type,
        digest: raw.digest,
        size,
        platform: raw.platform.map(|p| Platform {
            os: p.os,
            architecture: p.architecture,
            variant: p.variant.filter(|v| !v.is_empty()),
        }),
        urls: raw.urls,
    })
}

/// Checks `sha256:<64 lowercase hex>`; other algorithms are refused by name.
pub fn validate_digest(digest: &str) -> Result<(), DistributionError> {
    let bad = |why: &str| {
        DistributionError::invalid_manifest(format!("invalid digest {digest:?}: {why}"))
    };
    let (algorithm, hex) = digest
        .split_once(':')
        .ok_or_else(|| bad("expected algorithm:hex"))?;
    if algorithm != "sha256" {
        return Err(bad(&format!(
            "unsupported digest algorithm {algorithm}, only sha256 is supported"
        )));
    }
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("expected 64 lowercase hex characters"));
    }
    Ok(())
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

impl Platform {
    /// Parses "os/arch[/variant]" and normalizes it like containerd.
    pub fn parse(s: &str) -> Result<Platform, DistributionError> {
        let bad = |reason: &str| DistributionError::InvalidPlatform {
            platform: s.to_string(),
            reason: reason.to_string(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(bad("expected os/arch[/variant]"));
        }
        let valid = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !parts.iter().all(valid) {
            return Err(bad("empty or invalid component"));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        }
        .normalized())
    }

    /// The platform Ferry runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: arch.to_string(),
            variant: None,
        }
        .normalized()
    }

    /// containerd's `platforms.Normalize`, except that arm64 keeps an
    /// explicit `v8` (as Docker prints it) instead of an empty variant.
    pub fn normalized(&self) -> Platform {
        let os = match self.os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.as_deref().map(str::to_ascii_lowercase);
        let (architecture, variant) = normalize_arch(&arch, variant.as_deref());
        Platform {
            os,
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }
}

fn normalize_arch<'a>(arch: &'a str, variant: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    match (arch, variant) {
        ("i386", _) => ("386", None),
        ("x86_64" | "x86-64" | "amd64", Some("v1")) => ("amd64", None),
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
        ("aarch64" | "arm64", None | Some("8" | "v8" | "v8.0")) => ("arm64", Some("v8")),
        ("aarch64" | "arm64", Some("9" | "9.0" | "v9.0")) => ("arm64", Some("v9")),
        ("aarch64" | "arm64", v) => ("arm64", v),
        ("armhf", _) => ("arm", Some("v7")),
        ("armel", _) => ("arm", Some("v6")),
        ("arm", None | Some("7")) => ("arm", Some("v7")),
        ("arm", Some("5")) => ("arm", Some("v5")),
        ("arm", Some("6")) => ("arm", Some("v6")),
        ("arm", Some("8")) => ("arm", Some("v8")),
        (a, v) => (a, v),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Acceptable variants for `want`, best first (containerd's `platforms.Only`:
/// arm v7 falls back to v6 then v5, amd64 v3 to v2 then baseline).
fn acceptable_variants(want: &Platform) -> Vec<Option<String>> {
    let v = |s: &str| Some(s.to_string());
    match (want.architecture.as_str(), want.variant.as_deref()) {
        ("arm", Some("v8")) => vec![v("v8"), v("v7"), v("v6"), v("v5")],
        ("arm", Some("v7")) => vec![v("v7"), v("v6"), v("v5")],
        ("arm", Some("v6")) => vec![v("v6"), v("v5")],
        ("amd64", Some("v4")) => vec![v("v4"), v("v3"), v("v2"), None],
        ("amd64", Some("v3")) => vec![v("v3"), v("v2"), None],
        ("amd64", Some("v2")) => vec![v("v2"), None],
        (_, variant) => vec![variant.map(str::to_string)],
    }
}

/// Whether an image of platform `have` serves `want`, by the rules an index entry is chosen by.
pub fn platform_serves(have: &Platform, want: &Platform) -> bool {
    let (have, want) = (have.normalized(), want.normalized());
    have.os == want.os
        && have.architecture == want.architecture
        && acceptable_variants(&want).contains(&have.variant)
}

/// Picks the index entry for `want`: exact os/arch, then the best variant.
pub fn select_platform<'a>(
    manifests: &'a [Descriptor],
    want: &Platform,
) -> Result<&'a Descriptor, DistributionError> {
    let want = want.normalized();
    let candidates: Vec<(&Descriptor, Platform)> = manifests
        .iter()
        .filter_map(|d| Some((d, d.platform.as_ref()?.normalized())))
        .filter(|(_, p)| p.os == want.os && p.architecture == want.architecture)
        .collect();
    for variant in acceptable_variants(&want) {
        if let Some((d, _)) = candidates.iter().find(|(_, p)| p.variant == variant) {
            return Ok(d);
        }
    }
    Err(DistributionError::NoMatchingPlatform {
        wanted: want.to_string(),
        available: manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .filter(|p| p.os != "unknown")
            .map(Platform::to_string)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image_json(media_type: Option<&str>) -> String {
        let mt = media_type
            .map(|m| format!(r#""mediaType":"{m}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":7}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":32,"urls":["https://x/y"]}}]}}"#,
            digest('a'),
            digest('b')
        )
    }

    fn index_json(media_type: Option<&str>) -> String {
        let mt = media_type
            .map(|m| format!(r#""mediaType":"{m}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":100,"platform":{{"os":"linux","architecture":"amd64"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":100,"platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}}]}}"#,
            digest('c'),
            digest('d')
        )
    }

    #[test]
    fn parses_the_four_supported_types() {
        for mt in [OCI_MANIFEST, DOCKER_MANIFEST_V2] {
            let m = parse_manifest(mt, image_json(Some(mt)).as_bytes()).unwrap();
            let Manifest::Image {
                media_type,
                config,
                layers,
            } = m
            else {
                panic!("expected image for {mt}");
            };
            assert_eq!(media_type, mt);
            assert_eq!(config.digest, digest('a'));
            assert_eq!(config.size, 7);
            assert_eq!(layers.len(), 1);
            assert_eq!(layers[0].urls, vec!["https://x/y".to_string()]);
        }
        for mt in [OCI_INDEX, DOCKER_MANIFEST_LIST] {
            let m = parse_manifest(
                &format!("{mt}; charset=utf-8"),
                index_json(Some(mt)).as_bytes(),
            )
            .unwrap();
            let Manifest::Index {
                media_type,
                manifests,
            } = m
            else {
                panic!("expected index for {mt}");
            };
            assert_eq!(media_type, mt);
            assert_eq!(manifests.len(), 2);
            assert_eq!(
                manifests[1].platform,
                Some(Platform::parse("linux/arm/v7").unwrap())
            );
        }
    }

    /// CVE-2021-41190: documents that read differently to different clients are refused.
    #[test]
    fn ambiguous_documents_are_refused_naming_what_disagrees() {
        let err =
            |ct: &str, body: &str| parse_manifest(ct, body.as_bytes()).unwrap_err().to_string();
        // The body's mediaType against the Content-Type.
        let e = err(OCI_MANIFEST, &image_json(Some(DOCKER_MANIFEST_V2)));
        assert!(
            e.contains("disagrees") && e.contains(DOCKER_MANIFEST_V2),
            "{e}"
        );
        let e = err(OCI_INDEX, &index_json(Some(OCI_MANIFEST)));
        assert!(e.contains("disagrees"), "{e}");
        // An image manifest that also lists manifests.
        let both = image_json(Some(OCI_MANIFEST)).replacen(
            r#""schemaVersion":2,"#,
            &format!(r#""schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}],"#, digest('e')),
            1,
        );
        let e = err(OCI_MANIFEST, &both);
        assert!(e.contains("with \"manifests\""), "{e}");
        // An index that also has layers (here, typed by its Content-Type alone).
        let both = index_json(None).replacen(
            r#""schemaVersion":2,"#,
            &format!(
                r#""schemaVersion":2,"layers":[{{"mediaType":"x","digest":"{}","size":1}}],"#,
                digest('f')
            ),
            1,
        );
        let e = err(OCI_INDEX, &both);
        assert!(e.contains("\"config\" or \"layers\""), "{e}");
        // Agreeing documents still parse.
        assert!(parse_manifest(OCI_MANIFEST, image_json(Some(OCI_MANIFEST)).as_bytes()).is_ok());
    }

    #[test]
    fn generic_content_type_uses_body_media_type_or_shape() {
        let m = parse_manifest(
            "application/json",
            image_json(Some(DOCKER_MANIFEST_V2)).as_bytes(),
        )
        .unwrap();
        assert_eq!(m.media_type(), DOCKER_MANIFEST_V2);
        let m = parse_manifest("", image_json(None).as_bytes()).unwrap();
        assert_eq!(m.media_type(), OCI_MANIFEST);
        let m = parse_manifest("", index_json(None).as_bytes()).unwrap();
        assert_eq!(m.media_type(), OCI_INDEX);
        let e = parse_manifest("", br#"{"schemaVersion":2}"#).unwrap_err();
        assert!(
            matches!(e, DistributionError::InvalidManifest { .. }),
            "{e}"
        );
    }

    #[test]
    fn schema1_is_refused_with_docker_text() {
        let e = parse_manifest(DOCKER_SCHEMA1_SIGNED, b"{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported manifest media type application/vnd.docker.distribution.manifest.v1+prettyjws: Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed"
        );
        let e = parse_manifest("", br#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#).unwrap_err();
        assert!(
            matches!(&e, DistributionError::UnsupportedMediaType { media_type, .. } if media_type == DOCKER_SCHEMA1),
            "{e}"
        );
    }

    #[test]
    fn unknown_media_type_is_named() {
        let e =
            parse_manifest("application/vnd.foo+json", image_json(None).as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported manifest media type application/vnd.foo+json"
        );
        let e = parse_manifest("", image_json(Some("application/x-bar")).as_bytes()).unwrap_err();
        assert!(
            matches!(e, DistributionError::UnsupportedMediaType { .. }),
            "{e}"
        );
    }

    #[test]
    fn invalid_content_is_rejected() {
        let ok = image_json(None);
        let cases = [
            (ok.replace(&digest('b'), "sha256:abc"), "64 lowercase hex"),
            (ok.replace(&digest('b'), &digest('B')), "64 lowercase hex"),
            (
                ok.replace(&digest('b'), &format!("sha512:{}", "b".repeat(128))),
                "unsupported digest algorithm sha512",
            ),
            (ok.replace("\"size\":32", "\"size\":-1"), "negative size -1"),
            (
                ok.replace(r#""layers":[{"#, r#""layers":[],"x":[{"#),
                "no layers",
            ),
            ("not json".to_string(), "not a valid manifest"),
        ];
        for (json, want) in cases {
            let e = parse_manifest(OCI_MANIFEST, json.as_bytes()).unwrap_err();
            assert!(
                matches!(e, DistributionError::InvalidManifest { .. }),
                "{e}"
            );
            assert!(e.to_string().contains(want), "{e} should contain {want}");
        }
    }

    #[test]
    fn platform_parse_normalizes() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/aarch64", "linux/arm64/v8"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/i386", "linux/386"),
        ];
        for (input, want) in cases {
            assert_eq!(Platform::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in ["linux", "", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(
                matches!(e, DistributionError::InvalidPlatform { .. }),
                "{bad}"
            );
        }
        assert_eq!(Platform::host().os, std::env::consts::OS);
    }

    fn entry(c: char, platform: &str) -> Descriptor {
        let parts: Vec<&str> = platform.split('/').collect();
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: digest(c),
            size: 1,
            platform: Some(Platform {
                os: parts[0].into(),
                architecture: parts[1].into(),
                variant: parts.get(2).map(|s| s.to_string()),
            }),
            urls: vec![],
        }
    }

    #[test]
    fn select_platform_exact_and_fallbacks() {
        let index = vec![
            entry('1', "linux/amd64"),
            entry('2', "linux/arm64"),
            entry('3', "linux/arm/v6"),
            entry('4', "linux/arm/v5"),
            entry('5', "unknown/unknown"),
        ];
        let pick = |p: &str| {
            select_platform(&index, &Platform::parse(p).unwrap()).map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux/amd64").unwrap(), digest('1'));
        // arm64 with or without v8.
        assert_eq!(pick("linux/arm64/v8").unwrap(), digest('2'));
        assert_eq!(pick("linux/aarch64").unwrap(), digest('2'));
        // arm v7 falls back to v6 (before v5).
        assert_eq!(pick("linux/arm/v7").unwrap(), digest('3'));
        assert_eq!(pick("linux/arm/v5").unwrap(), digest('4'));
        // amd64 v3 accepts the baseline.
        assert_eq!(pick("linux/amd64/v3").unwrap(), digest('1'));

        let e = pick("linux/s390x").unwrap_err();
        match &e {
            DistributionError::NoMatchingPlatform { wanted, available } => {
                assert_eq!(wanted, "linux/s390x");
                assert_eq!(
                    available,
                    &["linux/amd64", "linux/arm64", "linux/arm/v6", "linux/arm/v5"]
                );
            }
            other => panic!("unexpected {other}"),
        }
        assert!(e.to_string().contains("linux/s390x"));

        let exact = vec![entry('6', "linux/arm/v6"), entry('7', "linux/arm/v7")];
        let d = select_platform(&exact, &Platform::parse("linux/arm/v7").unwrap()).unwrap();
        assert_eq!(d.digest, digest('7'));
        assert!(select_platform(&exact, &Platform::parse("linux/arm/v5").unwrap()).is_err());
    }
}
