//! `ferry info [--format]`: the CLI (Client) and ferryd's counts, host facts and settings
//! (Server), laid out as Docker 28's `docker info`. `--format` sees Docker's field names
//! (`{{.Containers}}`, `{{.ServerVersion}}`, `{{.DockerRootDir}}`, `{{json .}}`), so scripts
//! written for Docker keep working; the text says "Ferry Root Dir".
//!
//! As Docker: an unreachable daemon still gets the Client section, then `ERROR: …` and exit 1.

use clap::Args;
use ferry_proto::build_info;
use ferry_proto::system::v1::{
    system_client::SystemClient, InfoRequest, InfoResponse, RegistryMirror,
};
use serde_json::{json, Map, Value};

use crate::render::bytes_size;
use crate::render::format::render_one;

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    format: Option<String>,
}

pub(crate) async fn run(host: &str, debug: bool, args: InfoArgs) -> anyhow::Result<i32> {
    let server = match server_info(host).await {
        Ok(s) => s,
        Err(e) if args.format.is_none() => {
            print!("{}\nServer:\n", client_text(debug));
            eprintln!("ERROR: {}", crate::errors::message(&e));
            eprintln!("errors pretty printing info");
            return Ok(1);
        }
        Err(e) => return Err(e),
    };
    match args.format.as_deref() {
        Some(f) => print!("{}", render_one(f, &document(&server, debug))?),
        None => print!("{}\n{}", client_text(debug), server_text(&server)),
    }
    Ok(0)
}

async fn server_info(host: &str) -> anyhow::Result<InfoResponse> {
    let mut client = SystemClient::new(crate::client::connect(host).await?);
    Ok(client.info(InfoRequest {}).await?.into_inner())
}

fn client_text(debug: bool) -> String {
    format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: {debug}\n",
        build_info::VERSION
    )
}

/// Docker's Server section, in Docker's order; Registry Mirrors only when there are some.
fn server_text(i: &InfoResponse) -> String {
    let mut lines = vec![
        format!("Containers: {}", i.containers),
        format!(" Running: {}", i.containers_running),
        format!(" Paused: {}", i.containers_paused),
        format!(" Stopped: {}", i.containers_stopped),
        format!("Images: {}", i.images),
        format!("Server Version: {}", i.server_version),
        format!("Storage Driver: {}", i.storage_driver),
        format!("Logging Driver: {}", i.logging_driver),
        format!("Cgroup Driver: {}", i.cgroup_driver),
        format!("Cgroup Version: {}", i.cgroup_version),
        format!("Runtimes: {}", runtime_names(i).join(" ")),
        format!("Default Runtime: {}", i.default_runtime),
    ];
    for r in i.runtimes.iter().filter(|r| !r.version.is_empty()) {
        lines.push(format!("{} version: {}", r.name, r.version));
    }
    lines.extend([
        format!("Kernel Version: {}", i.kernel_version),
        format!("Operating System: {}", i.operating_system),
        format!("OSType: {}", i.os_type),
        format!("Architecture: {}", i.architecture),
        format!("CPUs: {}", i.ncpu),
        format!("Total Memory: {}", bytes_size(i.mem_total)),
        format!("Name: {}", i.name),
        format!("ID: {}", i.id),
        format!("Ferry Root Dir: {}", i.root_dir),
        format!("Debug Mode: {}", i.debug),
    ]);
    list(&mut lines, "Insecure Registries", &i.insecure_registries);
    list(&mut lines, "Registry Mirrors", &mirror_lines(i));
    lines.push(format!("Live Restore Enabled: {}", i.live_restore_enabled));
    let mut out = String::from("Server:\n");
    for l in lines {
        out.push_str(&format!(" {l}\n"));
    }
    out
}

/// `Title:` and one indented line per item; nothing for no items.
fn list(lines: &mut Vec<String>, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    lines.push(format!("{title}:"));
    lines.extend(items.iter().map(|s| format!(" {s}")));
}

/// Docker Hub's mirrors as Docker prints them (bare URLs), another registry's as the flag names
/// them (`registry.k8s.io=http://…`), in flag order. A ferryd older than per-registry mirrors
/// sends only Docker Hub's.
fn mirror_lines(i: &InfoResponse) -> Vec<String> {
    if i.mirrors.is_empty() {
        return i.registry_mirrors.clone();
    }
    let line = |m: &RegistryMirror| match m.registry.as_str() {
        "docker.io" => m.url.clone(),
        registry => format!("{registry}={}", m.url),
    };
    i.mirrors.iter().map(line).collect()
}

/// Docker's `RegistryConfig.IndexConfigs`: per registry with mirrors, its name and mirrors.
fn index_configs(i: &InfoResponse) -> Map<String, Value> {
    let mut configs = Map::new();
    for m in &i.mirrors {
        let entry = configs.entry(m.registry.clone()).or_insert_with(
            || json!({"Name": m.registry, "Mirrors": [], "Official": m.registry == "docker.io"}),
        );
        if let Some(Value::Array(urls)) = entry.get_mut("Mirrors") {
            urls.push(Value::String(m.url.clone()));
        }
    }
    configs
}

fn runtime_names(i: &InfoResponse) -> Vec<&str> {
    i.runtimes.iter().map(|r| r.name.as_str()).collect()
}

/// The `--format` root, with Docker's names for the fields it shares.
fn document(i: &InfoResponse, debug: bool) -> Value {
    let runtimes: Map<String, Value> = i
        .runtimes
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                json!({"path": r.name, "version": r.version}),
            )
        })
        .collect();
    json!({
        "ID": i.id,
        "Containers": i.containers,
        "ContainersRunning": i.containers_running,
        "ContainersPaused": i.containers_paused,
        "ContainersStopped": i.containers_stopped,
        "Images": i.images,
        "Driver": i.storage_driver,
        "LoggingDriver": i.logging_driver,
        "CgroupDriver": i.cgroup_driver,
        "CgroupVersion": i.cgroup_version,
        "KernelVersion": i.kernel_version,
        "OperatingSystem": i.operating_system,
        "OSType": i.os_type,
        "Architecture": i.architecture,
        "NCPU": i.ncpu,
        "MemTotal": i.mem_total,
        "DockerRootDir": i.root_dir,
        "Name": i.name,
        "ServerVersion": i.server_version,
        "Runtimes": runtimes,
        "DefaultRuntime": i.default_runtime,
        "LiveRestoreEnabled": i.live_restore_enabled,
        "Debug": i.debug,
        "RegistryConfig": {
            "InsecureRegistryCIDRs": i.insecure_registries,
            "Mirrors": i.registry_mirrors,
            "IndexConfigs": index_configs(i),
        },
        "ClientInfo": {"Debug": debug, "Version": build_info::VERSION, "Context": "default"},
    })
}

#[cfg(test)]
mod tests {
    use ferry_proto::system::v1::Runtime;

    use super::*;

    fn server() -> InfoResponse {
        InfoResponse {
            containers: 3,
            containers_running: 1,
            containers_paused: 0,
            containers_stopped: 2,
            images: 2,
            server_version: "0.1.0".into(),
            storage_driver: "overlayfs".into(),
            logging_driver: "json-file".into(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: "1".into(),
            runtimes: vec![
                Runtime {
                    name: "crun".into(),
                    version: "1.8.1".into(),
                },
                Runtime {
                    name: "runc".into(),
                    version: String::new(),
                },
            ],
            default_runtime: "crun".into(),
            kernel_version: "6.1.0-18-amd64".into(),
            operating_system: "Debian GNU/Linux 12 (bookworm)".into(),
            os_type: "linux".into(),
            architecture: "x86_64".into(),
            ncpu: 2,
            mem_total: 25_200_000_000,
            name: "box".into(),
            id: "2bd6a2a1-5b8e-4c1f-9a6e-1f0c2d3e4b5a".into(),
            root_dir: "/var/lib/ferry".into(),
            debug: false,
            insecure_registries: vec!["::1/128".into(), "127.0.0.0/8".into()],
            registry_mirrors: vec![],
            live_restore_enabled: true,
            mirrors: vec![],
        }
    }

    #[test]
    fn the_server_section_is_laid_out_as_dockers() {
        let want = "Server:\n \
            Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n \
            Images: 2\n \
            Server Version: 0.1.0\n \
            Storage Driver: overlayfs\n \
            Logging Driver: json-file\n \
            Cgroup Driver: cgroupfs\n \
            Cgroup Version: 1\n \
            Runtimes: crun runc\n \
            Default Runtime: crun\n \
            crun version: 1.8.1\n \
            Kernel Version: 6.1.0-18-amd64\n \
            Operating System: Debian GNU/Linux 12 (bookworm)\n \
            OSType: linux\n \
            Architecture: x86_64\n \
            CPUs: 2\n \
            Total Memory: 23.47GiB\n \
            Name: box\n \
            ID: 2bd6a2a1-5b8e-4c1f-9a6e-1f0c2d3e4b5a\n \
            Ferry Root Dir: /var/lib/ferry\n \
            Debug Mode: false\n \
            Insecure Registries:\n  ::1/128\n  127.0.0.0/8\n \
            Live Restore Enabled: true\n";
        assert_eq!(server_text(&server()), want);
    }

    #[test]
    fn mirrors_are_listed_when_set() {
        let mut i = server();
        i.registry_mirrors = vec!["http://mirror.local:5000".into()];
        let text = server_text(&i);
        assert!(
            text.contains("\n Registry Mirrors:\n  http://mirror.local:5000\n Live Restore"),
            "{text}"
        );
        i.mirrors = vec![
            mirror("docker.io", "http://mirror.local:5000"),
            mirror("registry.k8s.io", "http://127.0.0.1:5001"),
        ];
        let text = server_text(&i);
        assert!(
            text.contains(
                "\n Registry Mirrors:\n  http://mirror.local:5000\n  \
                 registry.k8s.io=http://127.0.0.1:5001\n Live Restore"
            ),
            "{text}"
        );
    }

    fn mirror(registry: &str, url: &str) -> RegistryMirror {
        RegistryMirror {
            registry: registry.into(),
            url: url.into(),
        }
    }

    #[test]
    fn templates_see_each_registrys_mirrors_in_index_configs() {
        let mut i = server();
        i.registry_mirrors = vec!["http://hub.lan".into()];
        i.mirrors = vec![
            mirror("docker.io", "http://hub.lan"),
            mirror("gcr.io", "http://a.lan"),
            mirror("gcr.io", "https://b.lan"),
        ];
        let doc = document(&i, false);
        let one = |f: &str| render_one(f, &doc).expect(f);
        assert_eq!(one("{{.RegistryConfig.Mirrors}}"), "[http://hub.lan]\n");
        assert_eq!(
            one("{{index .RegistryConfig.IndexConfigs \"gcr.io\" \"Mirrors\"}}"),
            "[http://a.lan https://b.lan]\n"
        );
        assert_eq!(
            one("{{index .RegistryConfig.IndexConfigs \"docker.io\" \"Official\"}}"),
            "true\n"
        );
    }

    #[test]
    fn the_client_section_says_the_debug_flag() {
        let c = client_text(true);
        assert!(c.starts_with("Client:\n Version:    "), "{c}");
        assert!(
            c.ends_with(" Context:    default\n Debug Mode: true\n"),
            "{c}"
        );
    }

    #[test]
    fn templates_see_dockers_names() {
        let doc = document(&server(), false);
        let one = |f: &str| render_one(f, &doc).expect(f);
        assert_eq!(one("{{.Containers}}"), "3\n");
        assert_eq!(one("{{.ContainersRunning}}/{{.Images}}"), "1/2\n");
        assert_eq!(one("{{.ServerVersion}} {{.Driver}}"), "0.1.0 overlayfs\n");
        assert_eq!(one("{{.DockerRootDir}}"), "/var/lib/ferry\n");
        assert_eq!(
            one("{{.RegistryConfig.InsecureRegistryCIDRs}}"),
            "[::1/128 127.0.0.0/8]\n"
        );
        assert_eq!(one("{{index .Runtimes \"crun\" \"version\"}}"), "1.8.1\n");
        assert_eq!(one("{{.ClientInfo.Context}}"), "default\n");
        let all: Value = serde_json::from_str(&one("{{json .}}")).expect("json");
        assert_eq!(all["MemTotal"], 25_200_000_000u64);
        assert_eq!(all["LiveRestoreEnabled"], true);
    }
}
