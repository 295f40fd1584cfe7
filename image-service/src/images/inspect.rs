//! `image inspect` (Docker-shaped JSON) and `history`, both read from the image's config blob.

use serde_json::{json, Map, Value};

use super::refs::{self, Ref};
use super::ImageRecord;
use crate::distribution::MAX_MANIFEST_BYTES;
use crate::error::{Error, Result};
use crate::store::Store;

/// The image `query` names, with all its records (every name of the same image).
pub fn find(store: &Store, query: &str) -> Result<(ImageRecord, Vec<ImageRecord>)> {
    let all = store.meta.images()?;
    let image = super::resolve_in(&all, query)?;
    let mine = all
        .into_iter()
        .filter(|r| r.config_digest == image.config_digest)
        .collect();
    Ok((image, mine))
}

/// The config blob as JSON.
pub fn config_json(store: &Store, image: &ImageRecord) -> Result<Value> {
    let bytes = store
        .content
        .read_small(&image.config_digest, MAX_MANIFEST_BYTES as u64)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::InvalidConfig {
        digest: image.config_digest.clone(),
        reason: e.to_string(),
    })
}

/// Docker's `image inspect` object for the image `query` names.
pub fn inspect(store: &Store, query: &str) -> Result<Value> {
    let (image, records) = find(store, query)?;
    let config = config_json(store, &image)?;
    Ok(inspect_json(&image, &records, &config))
}

/// Builds the object from the records and the config (pure, for tests).
pub fn inspect_json(image: &ImageRecord, records: &[ImageRecord], config: &Value) -> Value {
    let refs = refs::refs_of(records);
    let pick = |tag: bool| -> Vec<String> {
        refs.iter()
            .filter(|r| r.is_tag == tag)
            .map(Ref::familiar)
            .collect()
    };
    let str_of = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
    let layers: Vec<&str> = image.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let mut out = json!({
        "Id": image.config_digest,
        "RepoTags": pick(true),
        "RepoDigests": pick(false),
        "Parent": "",
        "Comment": str_of("comment"),
        "Created": match str_of("created") {
            "" => "0001-01-01T00:00:00Z",
            c => c,
        },
        "DockerVersion": str_of("docker_version"),
        "Author": str_of("author"),
        "Config": container_config(config.get("config")),
        "Architecture": str_of("architecture"),
        "Os": str_of("os"),
        "Size": image.size,
        "RootFS": { "Type": "layers", "Layers": layers },
        "Metadata": { "LastTagTime": rfc3339(image.pulled_at) },
    });
    if let Some(v) = config.get("variant").and_then(Value::as_str) {
        out["Variant"] = json!(v);
    }
    out
}

/// The config's `config` object with the keys Docker always prints.
fn container_config(cfg: Option<&Value>) -> Value {
    let mut m: Map<String, Value> = cfg.and_then(Value::as_object).cloned().unwrap_or_default();
    let defaults = [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Env", Value::Null),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", Value::Null),
    ];
    for (k, v) in defaults {
        m.entry(k).or_insert(v);
    }
    Value::Object(m)
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

/// One line of `history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image ID on the top entry, `<missing>` below (Docker's output for pulled images).
    pub id: String,
    pub created: i64,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// `history` of the image `query` names.
pub fn history(store: &Store, query: &str) -> Result<Vec<HistoryEntry>> {
    let (image, records) =
        find(store, query).map_err(|e| super::remove::not_found_as_docker(e, query))?;
    let config = config_json(store, &image)?;
    let mut sizes = Vec::new();
    for chain in image.chain_ids() {
        sizes.push(store.meta.snapshot(chain)?.map(|s| s.size).unwrap_or(0));
    }
    let tags = refs::refs_of(&records)
        .iter()
        .filter(|r| r.is_tag)
        .map(Ref::familiar)
        .collect();
    Ok(history_entries(&image.config_digest, &config, &sizes, tags))
}

/// Pairs the config's history with the layer sizes: each entry that is not an `empty_layer`
/// takes the next layer's size.
pub fn history_entries(
    image_id: &str,
    config: &Value,
    layer_sizes: &[u64],
    tags: Vec<String>,
) -> Vec<HistoryEntry> {
    let empty = Vec::new();
    let hist = config
        .get("history")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut sizes = layer_sizes.iter();
    let mut out: Vec<HistoryEntry> = hist
        .iter()
        .map(|h| {
            let s = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let empty_layer = h.get("empty_layer").and_then(Value::as_bool) == Some(true);
            HistoryEntry {
                id: "<missing>".into(),
                created: chrono::DateTime::parse_from_rfc3339(&s("created"))
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: s("created_by"),
                size: if empty_layer {
                    0
                } else {
                    sizes.next().copied().unwrap_or(0)
                },
                comment: s("comment"),
                tags: Vec::new(),
            }
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = image_id.to_string();
        top.tags = tags;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::refs::tests::record;
    use super::*;

    #[test]
    fn inspect_is_docker_shaped() {
        let mut img = record("docker.io/library/busybox:latest", 'a', '1');
        img.size = 42;
        img.layers = vec![super::super::LayerRecord {
            digest: "sha256:l".into(),
            media_type: String::new(),
            size: 1,
            diff_id: "sha256:d".into(),
            chain_id: "sha256:d".into(),
        }];
        let config = json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:d"]},
        });
        let v = inspect_json(&img, std::slice::from_ref(&img), &config);
        assert_eq!(v["Id"], json!(img.config_digest));
        assert_eq!(v["RepoTags"], json!(["busybox:latest"]));
        assert_eq!(
            v["RepoDigests"],
            json!([format!("busybox@sha256:{}", "1".repeat(64))])
        );
        assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(v["Config"]["Entrypoint"], Value::Null);
        assert_eq!(v["Config"]["WorkingDir"], json!(""));
        assert_eq!(v["Config"]["Labels"]["a"], json!("b"));
        assert_eq!(
            v["RootFS"],
            json!({"Type": "layers", "Layers": ["sha256:d"]})
        );
        assert_eq!(v["Size"], json!(42));
        assert_eq!(v["Created"], json!("2024-01-02T03:04:05Z"));
    }

    #[test]
    fn history_pairs_entries_with_layers_newest_first() {
        let config = json!({"history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": "ADD file in /"},
            {"created": "2024-01-02T03:04:06Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
            {"created": "2024-01-02T03:04:07Z", "created_by": "RUN x", "comment": "c"},
        ]});
        let h = history_entries("sha256:abc", &config, &[100, 7], vec!["b:1".into()]);
        let got: Vec<(&str, &str, u64)> = h
            .iter()
            .map(|e| (e.id.as_str(), e.created_by.as_str(), e.size))
            .collect();
        assert_eq!(
            got,
            [
                ("sha256:abc", "RUN x", 7),
                ("<missing>", "CMD [\"sh\"]", 0),
                ("<missing>", "ADD file in /", 100)
            ]
        );
        assert_eq!(h[0].tags, ["b:1"]);
        assert_eq!(h[0].comment, "c");
    }
}
