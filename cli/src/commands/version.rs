//! `ferry version [--format]`: the CLI's build (Client), then ferryd's and its runtimes'
//! (Server), laid out as Docker 28's `docker version`. `--format` sees Docker's JSON shape
//! (`{{.Server.Version}}`, `{{json .}}`), with "RustVersion" where Docker has "GoVersion".
//!
//! As Docker: an unreachable daemon still gets the Client section printed, then the error and
//! exit status 1.

use clap::Args;
use ferry_proto::build_info;
use ferry_proto::system::v1::{system_client::SystemClient, VersionRequest, VersionResponse};
use serde_json::{json, Map, Value};

use crate::render::format::render_one;

#[derive(Debug, Args)]
pub(crate) struct VersionArgs {
    /// Format output using a custom template ('json' or a Go-style template)
    #[arg(short, long)]
    format: Option<String>,
}

/// The column Docker's version template starts values at.
const VALUE_COLUMN: usize = 20;

pub(crate) async fn run(host: &str, args: VersionArgs) -> anyhow::Result<i32> {
    let server = server_version(host).await;
    let ok = server.as_ref().ok();
    match args.format.as_deref() {
        Some(f) => match render_one(f, &document(ok)) {
            Ok(out) => print!("{out}"),
            // The daemon's error is the one to report (a template on `.Server` fails without it).
            Err(_) if server.is_err() => {}
            Err(e) => return Err(e.into()),
        },
        None => print!("{}", text(ok)),
    }
    server.map(|_| 0)
}

async fn server_version(host: &str) -> anyhow::Result<VersionResponse> {
    let mut client = SystemClient::new(crate::client::connect(host).await?);
    Ok(client.version(VersionRequest {}).await?.into_inner())
}

/// The `--format` root: `{"Client": …, "Server": … or null}`.
fn document(server: Option<&VersionResponse>) -> Value {
    json!({
        "Client": client_json(),
        "Server": server.map(server_json).unwrap_or(Value::Null),
    })
}

fn client_json() -> Value {
    let (os, arch) = build_info::go_os_arch();
    json!({
        "Platform": {"Name": ""},
        "Version": build_info::VERSION,
        "ApiVersion": build_info::API_VERSION,
        "RustVersion": build_info::RUST_VERSION,
        "GitCommit": build_info::GIT_COMMIT.unwrap_or_default(),
        "BuildTime": build_info::BUILD_TIME.unwrap_or_default(),
        "Os": os,
        "Arch": arch,
        "Context": "default",
    })
}

fn server_json(v: &VersionResponse) -> Value {
    let engine = json!({
        "Name": "Engine",
        "Version": v.version,
        "Details": {
            "ApiVersion": v.api_version,
            "Arch": v.arch,
            "BuildTime": v.build_time,
            "DefaultRuntime": v.default_runtime,
            "GitCommit": v.git_commit,
            "KernelVersion": v.kernel_version,
            "Os": v.os,
            "RustVersion": v.rust_version,
        },
    });
    let runtimes = v.runtimes.iter().map(
        |r| json!({"Name": r.name, "Version": r.version, "Details": Value::Object(Map::new())}),
    );
    json!({
        "Platform": {"Name": "Ferry Engine"},
        "Components": std::iter::once(engine).chain(runtimes).collect::<Vec<_>>(),
        "Version": v.version,
        "ApiVersion": v.api_version,
        "RustVersion": v.rust_version,
        "GitCommit": v.git_commit,
        "BuildTime": v.build_time,
        "Os": v.os,
        "Arch": v.arch,
        "KernelVersion": v.kernel_version,
        "DefaultRuntime": v.default_runtime,
    })
}

/// Docker's default layout; lines for facts the build did not record are left out.
fn text(server: Option<&VersionResponse>) -> String {
    let (os, arch) = build_info::go_os_arch();
    let mut out = String::from("Client:\n");
    field(&mut out, 1, "Version", build_info::VERSION);
    field(&mut out, 1, "API version", build_info::API_VERSION);
    field(&mut out, 1, "Rust version", build_info::RUST_VERSION);
    field(
        &mut out,
        1,
        "Git commit",
        build_info::GIT_COMMIT.unwrap_or_default(),
    );
    field(
        &mut out,
        1,
        "Built",
        build_info::BUILD_TIME.unwrap_or_default(),
    );
    field(&mut out, 1, "OS/Arch", &format!("{os}/{arch}"));
    field(&mut out, 1, "Context", "default");
    if let Some(v) = server {
        out.push_str(&server_text(v));
    }
    out
}

fn server_text(v: &VersionResponse) -> String {
    let mut out = String::from("\nServer: Ferry Engine\n Engine:\n");
    field(&mut out, 2, "Version", &v.version);
    field(&mut out, 2, "API version", &v.api_version);
    field(&mut out, 2, "Rust version", &v.rust_version);
    field(&mut out, 2, "Git commit", &v.git_commit);
    field(&mut out, 2, "Built", &v.build_time);
    field(&mut out, 2, "OS/Arch", &format!("{}/{}", v.os, v.arch));
    field(&mut out, 2, "Kernel version", &v.kernel_version);
    field(&mut out, 2, "Default runtime", &v.default_runtime);
    for r in &v.runtimes {
        out.push_str(&format!(" {}:\n", r.name));
        let version = if r.version.is_empty() {
            "(not found)"
        } else {
            &r.version
        };
        field(&mut out, 2, "Version", version);
    }
    out
}

/// ` Key:   value`, the value at [`VALUE_COLUMN`]; nothing when the value is empty.
fn field(out: &mut String, indent: usize, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let label = format!("{:indent$}{key}:", "");
    out.push_str(&format!("{label:<VALUE_COLUMN$}{value}\n"));
}

#[cfg(test)]
mod tests {
    use ferry_proto::system::v1::Runtime;

    use super::*;

    fn server() -> VersionResponse {
        VersionResponse {
            version: "0.1.0".into(),
            api_version: "1".into(),
            rust_version: "1.95.0".into(),
            git_commit: String::new(),
            build_time: String::new(),
            os: "linux".into(),
            arch: "amd64".into(),
            kernel_version: "6.1.0-18-amd64".into(),
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
        }
    }

    #[test]
    fn the_server_section_is_laid_out_as_dockers() {
        assert_eq!(
            server_text(&server()),
            "\nServer: Ferry Engine\n \
             Engine:\n  \
             Version:          0.1.0\n  \
             API version:      1\n  \
             Rust version:     1.95.0\n  \
             OS/Arch:          linux/amd64\n  \
             Kernel version:   6.1.0-18-amd64\n  \
             Default runtime:  crun\n \
             crun:\n  \
             Version:          1.8.1\n \
             runc:\n  \
             Version:          (not found)\n"
        );
    }

    #[test]
    fn the_client_section_comes_first_and_alone_without_a_daemon() {
        let alone = text(None);
        assert!(
            alone.starts_with("Client:\n Version:           "),
            "{alone}"
        );
        assert!(alone.contains("\n Context:           default\n"), "{alone}");
        assert!(!alone.contains("Server"), "{alone}");
        let both = text(Some(&server()));
        assert!(both.starts_with(&alone), "{both}");
        assert!(both.contains("\nServer: Ferry Engine\n"), "{both}");
    }

    #[test]
    fn templates_see_dockers_shape() {
        let doc = document(Some(&server()));
        let one = |f: &str| render_one(f, &doc).expect(f);
        assert_eq!(one("{{.Server.Version}}"), "0.1.0\n");
        assert_eq!(one("{{.Client.Context}}"), "default\n");
        assert_eq!(one("{{.Server.Os}}/{{.Server.Arch}}"), "linux/amd64\n");
        assert_eq!(one("{{.Server.KernelVersion}}"), "6.1.0-18-amd64\n");
        let all: Value = serde_json::from_str(&one("{{json .}}")).expect("json");
        assert_eq!(all["Server"]["Components"][1]["Name"], "crun");
        assert_eq!(all["Server"]["Components"][0]["Details"]["ApiVersion"], "1");
        assert_eq!(all["Client"]["Version"], build_info::VERSION);
        let no_server = document(None);
        assert!(render_one("{{.Server.Version}}", &no_server).is_err());
        assert_eq!(no_server["Client"]["Context"], "default");
    }
}
