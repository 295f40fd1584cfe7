//! Attached sessions over the Attach RPC: `run` (without `-d`), `start -a` and `attach`.
//!
//! Order matters for `run`/`start -a`: Attach is opened *before* Start, so no early output is
//! lost (this relies on ferryd subscribing to the container's output before it answers the
//! Attach call with response headers). For a fresh container (`run`) Wait is issued before Start
//! too: ferryd's Wait blocks until the container "has run and stopped", so it cannot miss a fast
//! exit, and with `--rm` it is answered before (or, from ferryd's tombstones, after) removal.
//! For `start -a` the container may already be exited, so Wait follows Start there.

use std::pin::Pin;

use crate::client::Channel;
use clap::{ArgAction, Args};
use ferry_proto::containers::v1::{
    attach_input, containers_client::ContainersClient, AttachInput, InspectRequest, StartRequest,
    WaitRequest, WaitResponse,
};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::errors::{self, Failed};
use crate::io::detach;
use crate::io::session::{self, Ended, In, Out, SessionOpts};
use crate::io::tty::RawMode;

pub(crate) type OutStream = Pin<Box<dyn Stream<Item = Result<Out, tonic::Status>> + Send>>;
pub(crate) type Client = ContainersClient<Channel>;

#[derive(Debug, Args)]
pub(crate) struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long)]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    container: String,
}

/// How to attach: from `run`'s flags or from the container's inspect JSON.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) id: String,
    pub(crate) tty: bool,
    pub(crate) stdin: bool,
    pub(crate) detach_keys: Vec<u8>,
    pub(crate) sig_proxy: bool,
}

/// Opens Attach for `id`; the first message names the container, later ones carry input.
pub(crate) async fn open(
    client: &mut Client,
    id: &str,
) -> anyhow::Result<(OutStream, mpsc::Sender<In>)> {
    let (tx, rx) = mpsc::channel::<In>(16);
    let first = AttachInput {
        id: id.to_string(),
        input: None,
    };
    let rest = ReceiverStream::new(rx).map(|i| AttachInput {
        id: String::new(),
        input: Some(match i {
            In::Stdin(b) => attach_input::Input::Stdin(b),
            In::Resize(r) => attach_input::Input::Resize(r),
            In::CloseStdin => attach_input::Input::CloseStdin(true),
        }),
    });
    let req = futures::stream::iter([first]).chain(rest);
    let out = client.attach(req).await?.into_inner().map(|r| {
        r.map(|o| Out::Data {
            stderr: o.stream == "stderr",
            data: o.data,
        })
    });
    Ok((Box::pin(out), tx))
}

/// Whether `run_attached` starts the container, and whether it was just created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// `attach`: already running.
    No,
    /// `run`: just created, never ran.
    Fresh,
    /// `start -a`: created or exited before.
    Again,
}

/// Attach, optionally Start, stream until the output ends, then Wait: the container's exit code.
pub(crate) async fn run_attached(
    client: &mut Client,
    plan: &Plan,
    start: Start,
) -> Result<i32, Failed> {
    let (output, input) = open(client, &plan.id).await.map_err(Failed::daemon)?;
    let raw = if plan.tty && plan.stdin {
        RawMode::enter()
    } else {
        None
    };
    let early_wait = (start == Start::Fresh).then(|| spawn_wait(client, &plan.id));
    if start != Start::No {
        let req = StartRequest {
            id: plan.id.clone(),
        };
        client.start(req).await.map_err(Failed::start)?;
    }
    let wait = match early_wait {
        Some(w) => w,
        None => spawn_wait(client, &plan.id),
    };
    if plan.tty {
        session::send_window_size(&input).await;
    }
    let ended = session::pump(output, input, session_opts(client, plan)).await;
    drop(raw);
    match ended.map_err(Failed::daemon)? {
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(0)
        }
        Ended::Signalled(sig) => Ok(session::signal_exit(sig)),
        Ended::Eof { .. } => match wait.await {
            Ok(Ok(resp)) => Ok(resp.into_inner().exit_code),
            Ok(Err(status)) => Err(Failed::daemon(status)),
            Err(join) => Err(Failed::daemon(join)),
        },
    }
}

type WaitTask = tokio::task::JoinHandle<Result<tonic::Response<WaitResponse>, tonic::Status>>;

fn spawn_wait(client: &Client, id: &str) -> WaitTask {
    let mut waiter = client.clone();
    let id = id.to_string();
    tokio::spawn(async move { waiter.wait(WaitRequest { id }).await })
}

fn session_opts(client: &Client, plan: &Plan) -> SessionOpts {
    SessionOpts {
        tty: plan.tty,
        stdin: plan.stdin,
        detach_keys: plan.detach_keys.clone(),
        sig_proxy: plan.sig_proxy.then(|| (client.clone(), plan.id.clone())),
    }
}

/// What `start -a` and `attach` need from the inspect JSON.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Shape {
    pub(crate) id: String,
    pub(crate) tty: bool,
    pub(crate) open_stdin: bool,
    pub(crate) running: bool,
}

/// Reads Docker's `Id`, `Config.Tty`, `Config.OpenStdin` and `State.Running` (object or
/// one-element array).
pub(crate) fn shape(json: &str) -> anyhow::Result<Shape> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    let v = match v {
        serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        other => other,
    };
    let flag = |a: &str, b: &str| v[a][b].as_bool().unwrap_or(false);
    Ok(Shape {
        id: v["Id"].as_str().unwrap_or_default().to_string(),
        tty: flag("Config", "Tty"),
        open_stdin: flag("Config", "OpenStdin"),
        running: flag("State", "Running"),
    })
}

pub(crate) async fn inspect_shape(client: &mut Client, name: &str) -> anyhow::Result<Shape> {
    let req = InspectRequest {
        id: name.to_string(),
    };
    let json = client.inspect(req).await?.into_inner().json;
    let mut s = shape(&json)?;
    if s.id.is_empty() {
        s.id = name.to_string();
    }
    Ok(s)
}

pub(crate) fn detach_keys(spec: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match spec {
        Some(s) => Ok(detach::parse_keys(s)?),
        None => Ok(detach::DEFAULT_KEYS.to_vec()),
    }
}

/// `ferry attach`.
pub(crate) async fn attach(host: &str, args: AttachArgs) -> anyhow::Result<i32> {
    let keys = detach_keys(args.detach_keys.as_deref())?;
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let s = inspect_shape(&mut client, &args.container).await?;
    if !s.running {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let plan = Plan {
        id: s.id,
        tty: s.tty,
        stdin: s.open_stdin && !args.no_stdin,
        detach_keys: keys,
        sig_proxy: args.sig_proxy,
    };
    match run_attached(&mut client, &plan, Start::No).await {
        Ok(code) => Ok(code),
        Err(f) => {
            errors::report_one(f.error);
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_reads_docker_inspect() {
        let j =
            r#"[{"Id":"abc","Config":{"Tty":true,"OpenStdin":false},"State":{"Running":true}}]"#;
        assert_eq!(
            shape(j).expect("shape"),
            Shape {
                id: "abc".into(),
                tty: true,
                open_stdin: false,
                running: true
            }
        );
        let j = r#"{"Id":"x","Config":{"OpenStdin":true}}"#;
        let s = shape(j).expect("shape");
        assert!(s.open_stdin && !s.tty && !s.running);
    }
}
