//! Assertions on a daemon's store shared by the failure-path tests.

use std::path::Path;

use crate::Daemon;

/// Names in `dir` (empty if it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Nothing committed: no image listed, no snapshot, no blob, no ingest file, no temporary.
pub fn assert_store_empty(d: &Daemon) {
    let images = d.ferry_ok(&["images", "-q"]);
    assert_eq!(images.stdout, "", "no image may be listed");
    let root = d.data_root();
    for sub in ["content/ingest", "content/blobs/sha256", "snapshots"] {
        assert_eq!(
            entries(&root.join(sub)),
            Vec::<String>::new(),
            "stray files in {sub}; ferryd log:\n{}",
            d.log()
        );
    }
}

/// `ferry images -q` lists `image_id` (`sha256:…`).
pub fn assert_image_listed(d: &Daemon, image_id: &str) {
    let short = &image_id["sha256:".len()..][..12];
    let listed = d.ferry_ok(&["images", "-q"]).stdout;
    assert!(listed.contains(short), "{short} not in {listed:?}");
}

/// A directory holding a Docker `config.json` with `auths` for `registry`
/// (`auth` = base64 of `user:pass`), for `DOCKER_CONFIG`.
pub fn docker_config(registry: &str, user: &str, pass: &str) -> tempfile::TempDir {
    let dir = crate::var_tmpdir("ferry-docker-config-");
    write_docker_config(dir.path(), registry, user, pass);
    dir
}

/// Writes (or replaces) `dir/config.json` as [`docker_config`] does: what
/// `docker login registry` leaves behind.
pub fn write_docker_config(dir: &Path, registry: &str, user: &str, pass: &str) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    let config = serde_json::json!({"auths": {registry: {"auth": auth}}});
    std::fs::write(dir.join("config.json"), config.to_string()).expect("write config.json");
}

/// An empty `DOCKER_CONFIG` directory: no credentials at all (and none from `$HOME`).
pub fn no_docker_config() -> tempfile::TempDir {
    crate::var_tmpdir("ferry-docker-config-")
}
