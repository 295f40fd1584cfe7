//! `ferry run`, `ferry create` and `ferry start`.
//!
//! Create; on NotFound pull the image (progress on stderr, as Docker) and create again. `run -d`
//! then starts and prints the ID; otherwise it attaches before starting (see `attach.rs`) and
//! exits with the container's status. Failures before the container runs exit 125, or 126/127
//! when the command cannot be invoked or found, with Docker's `See 'ferry run --help'.`.

use clap::{ArgAction, Args};
use ferry_proto::containers::v1::{
    containers_client::ContainersClient, ContainerConfig, CreateRequest, StartRequest,
};
use tonic::Code;

use super::attach::{self, Client, Plan};
use super::ps::familiar_with_tag;
use crate::errors::{self, Failed};
use crate::io::tty::check_stdin_tty;
use crate::opts::{CreateFlags, ProcessEnv};

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", require_equals = true)]
    sig_proxy: bool,
    #[command(flatten)]
    pub(crate) flags: CreateFlags,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(crate) flags: CreateFlags,
}

#[derive(Debug, Args)]
pub(crate) struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub(crate) async fn run(host: &str, args: RunArgs) -> anyhow::Result<i32> {
    // Before anything is created, and a plain error (exit 1), as Docker's `runRun`.
    if !args.detach {
        check_stdin_tty(args.flags.interactive, args.flags.tty)?;
    }
    Ok(match run_inner(host, &args).await {
        Ok(code) => code,
        Err(f) => errors::report_failed(&f, "run"),
    })
}

async fn run_inner(host: &str, args: &RunArgs) -> Result<i32, Failed> {
    let keys = attach::detach_keys(args.detach_keys.as_deref()).map_err(Failed::daemon)?;
    let config = args.flags.to_config(&ProcessEnv).map_err(Failed::daemon)?;
    let mut client = connect(host).await?;
    let id = create(host, &mut client, &args.flags, config).await?;
    if args.detach {
        let req = StartRequest { id: id.clone() };
        client.start(req).await.map_err(Failed::start)?;
        println!("{id}");
        return Ok(0);
    }
    let plan = Plan {
        id,
        tty: args.flags.tty,
        stdin: args.flags.interactive,
        detach_keys: keys,
        sig_proxy: args.sig_proxy,
    };
    attach::run_attached(&mut client, &plan, attach::Start::Fresh).await
}

pub(crate) async fn create_cmd(host: &str, args: CreateArgs) -> anyhow::Result<i32> {
    let res = async {
        let config = args.flags.to_config(&ProcessEnv).map_err(Failed::daemon)?;
        let mut client = connect(host).await?;
        create(host, &mut client, &args.flags, config).await
    };
    Ok(match res.await {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(f) => errors::report_failed(&f, "create"),
    })
}

async fn connect(host: &str) -> Result<Client, Failed> {
    let channel = crate::client::connect(host).await.map_err(Failed::daemon)?;
    Ok(ContainersClient::new(channel))
}

/// Create, pulling the image first (`--pull always`) or when Create says it is missing.
async fn create(
    host: &str,
    client: &mut Client,
    flags: &CreateFlags,
    config: ContainerConfig,
) -> Result<String, Failed> {
    let image = config.image.clone();
    let req = CreateRequest {
        name: flags.name.clone().unwrap_or_default(),
        config: Some(config),
    };
    if flags.pull == "always" {
        pull(host, &image, flags.quiet).await?;
    }
    let resp = match client.create(req.clone()).await {
        Ok(r) => r,
        Err(st) if st.code() == Code::NotFound && flags.pull == "missing" => {
            eprintln!(
                "Unable to find image '{}' locally",
                familiar_with_tag(&image)
            );
            pull(host, &image, flags.quiet).await?;
            client.create(req).await.map_err(Failed::daemon)?
        }
        Err(st) => return Err(Failed::daemon(st)),
    }
    .into_inner();
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

async fn pull(host: &str, image: &str, quiet: bool) -> Result<(), Failed> {
    match super::pull::pull_for_run(host, image, quiet).await {
        Ok(0) => Ok(()),
        Ok(code) => Err(Failed {
            code,
            error: anyhow::anyhow!("pull cancelled"),
        }),
        Err(e) => Err(Failed::daemon(e)),
    }
}

/// `ferry start`: each container in turn (names echoed), or one attached with `-a`.
pub(crate) async fn start(host: &str, args: StartArgs) -> anyhow::Result<i32> {
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            anyhow::bail!("you cannot start and attach multiple containers at once");
        };
        return start_attached(host, name, &args).await;
    }
    super::lifecycle::for_each(host, &args.containers, |mut c, name| async move {
        c.start(StartRequest { id: name.clone() })
            .await
            .map(|_| name)
    })
    .await
}

async fn start_attached(host: &str, name: &str, args: &StartArgs) -> anyhow::Result<i32> {
    let keys = attach::detach_keys(args.detach_keys.as_deref())?;
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let shape = attach::inspect_shape(&mut client, name).await?;
    let plan = Plan {
        id: shape.id,
        tty: shape.tty,
        stdin: args.interactive && shape.open_stdin,
        detach_keys: keys,
        sig_proxy: true,
    };
    match attach::run_attached(&mut client, &plan, attach::Start::Again).await {
        Ok(code) => Ok(code),
        Err(f) => {
            errors::report_one(f.error);
            Ok(f.code)
        }
    }
}
