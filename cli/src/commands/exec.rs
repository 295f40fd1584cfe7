//! `ferry exec`: a process in a running container over the Exec RPC, streamed like `attach`;
//! exits with the process's status (the stream's last message).

use clap::Args;
use ferry_proto::containers::v1::{
    containers_client::ContainersClient, exec_input, exec_output, ExecConfig, ExecInput,
};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::attach::{self, Client, OutStream};
use crate::errors::{self, start_exit_code};
use crate::io::session::{self, Ended, In, Out, SessionOpts};
use crate::io::tty::RawMode;
use crate::opts::{Env, ProcessEnv};

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long)]
    detach_keys: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

impl ExecArgs {
    fn config(&self, env: &dyn Env) -> ExecConfig {
        ExecConfig {
            cmd: self.command.clone(),
            env: self
                .env
                .iter()
                .filter_map(|e| crate::opts::env_entry(e, &|k| env.var(k)))
                .collect(),
            workdir: self.workdir.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            tty: self.tty,
            stdin: self.interactive && !self.detach,
            detach: self.detach,
            privileged: self.privileged,
        }
    }
}

pub(crate) async fn run(host: &str, args: ExecArgs) -> anyhow::Result<i32> {
    if !args.detach {
        crate::io::tty::check_stdin_tty(args.interactive, args.tty)?;
    }
    let keys = attach::detach_keys(args.detach_keys.as_deref())?;
    let mut client = ContainersClient::new(crate::client::connect(host).await?);
    let config = args.config(&ProcessEnv);
    let opts = SessionOpts {
        tty: config.tty,
        stdin: config.stdin,
        detach_keys: keys,
        sig_proxy: None,
    };
    match exec(&mut client, &args.container, config, opts).await {
        Ok(code) => Ok(code),
        Err(e) => {
            let msg = errors::message(&e);
            eprintln!("{msg}");
            // Not found / not executable as `run`; anything else (no such container, not
            // running) is a plain failure.
            Ok(match start_exit_code(&msg) {
                125 => 1,
                code => code,
            })
        }
    }
}

async fn exec(
    client: &mut Client,
    id: &str,
    config: ExecConfig,
    opts: SessionOpts,
) -> anyhow::Result<i32> {
    let detach = config.detach;
    let (output, input) = open(client, id, config).await?;
    if detach {
        // The daemon answers once the process runs; drain whatever it sends.
        let mut output = output;
        while output.next().await.transpose()?.is_some() {}
        return Ok(0);
    }
    let raw = if opts.tty && opts.stdin {
        RawMode::enter()
    } else {
        None
    };
    if opts.tty {
        session::send_window_size(&input).await;
    }
    let ended = session::pump(output, input, opts).await;
    drop(raw);
    match ended? {
        Ended::Eof { exit: Some(code) } => Ok(code),
        Ended::Eof { exit: None } => anyhow::bail!("exec ended without an exit code"),
        Ended::Detached => {
            eprintln!("read escape sequence");
            Ok(0)
        }
        Ended::Signalled(sig) => Ok(session::signal_exit(sig)),
    }
}

async fn open(
    client: &mut Client,
    id: &str,
    config: ExecConfig,
) -> anyhow::Result<(OutStream, mpsc::Sender<In>)> {
    let (tx, rx) = mpsc::channel::<In>(16);
    let first = ExecInput {
        id: id.to_string(),
        config: Some(config),
        input: None,
    };
    let rest = ReceiverStream::new(rx).map(|i| ExecInput {
        id: String::new(),
        config: None,
        input: Some(match i {
            In::Stdin(b) => exec_input::Input::Stdin(b),
            In::Resize(r) => exec_input::Input::Resize(r),
            In::CloseStdin => exec_input::Input::CloseStdin(true),
        }),
    });
    let req = futures::stream::iter([first]).chain(rest);
    let out = client
        .exec(req)
        .await?
        .into_inner()
        .filter_map(|r| async move {
            match r {
                Err(st) => Some(Err(st)),
                Ok(o) => match o.output? {
                    exec_output::Output::Data(d) => Some(Ok(Out::Data {
                        stderr: d.stream == "stderr",
                        data: d.data,
                    })),
                    exec_output::Output::ExitCode(c) => Some(Ok(Out::Exit(c))),
                },
            }
        });
    Ok((Box::pin(out), tx))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::opts::testenv::FakeEnv;

    #[derive(Debug, Parser)]
    struct W {
        #[command(flatten)]
        a: ExecArgs,
    }

    #[test]
    fn exec_flags_map_to_config() {
        let argv = [
            "exec", "-it", "-e", "A=1", "-e", "HOME", "-e", "NOPE", "-w", "/w", "-u", "1:2", "web",
            "ls", "-l",
        ];
        let a = W::parse_from(argv).a;
        let env = FakeEnv {
            vars: vec![("HOME", "/root")],
            files: vec![],
        };
        let c = a.config(&env);
        assert_eq!(a.container, "web");
        assert_eq!(c.cmd, ["ls", "-l"]);
        assert_eq!(c.env, ["A=1", "HOME=/root"]);
        assert_eq!((c.workdir.as_str(), c.user.as_str()), ("/w", "1:2"));
        assert!(c.tty && c.stdin && !c.detach);
        let a = W::parse_from(["exec", "-d", "-i", "web", "sleep", "1"]).a;
        let c = a.config(&env);
        assert!(c.detach && !c.stdin);
    }
}
