//! ferry: Docker's verbs, flags, output and exit codes, over gRPC to ferryd.

mod client;
mod commands;
mod dockerignore;
mod errors;
mod io;
mod opts;
mod prompt;
mod render;
mod usage;

use clap::{CommandFactory, Parser, Subcommand};

use commands::{
    attach::AttachArgs,
    cp::CpArgs,
    exec::ExecArgs,
    inspect::InspectArgs,
    lifecycle::{KillArgs, NamesArgs, PruneArgs, RenameArgs, RmArgs, StopArgs},
    logs::LogsArgs,
    ps::PsArgs,
    run::{CreateArgs, RunArgs, StartArgs},
    stats::StatsArgs,
    top::TopArgs,
};

/// A container engine with Docker's habits.
#[derive(Debug, Parser)]
#[command(name = "ferry", version)]
struct Cli {
    /// Daemon socket to connect to.
    #[arg(
        short = 'H',
        long = "host",
        env = "FERRY_HOST",
        default_value = "unix:///run/ferry/ferryd.sock",
        global = true
    )]
    host: String,
    /// Print the command's trace ID (see OTEL_EXPORTER_OTLP_ENDPOINT) to stderr.
    #[arg(short = 'D', long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(commands::builder::BuilderCommand),
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Log in to a registry
    Login(commands::login::LoginArgs),
    /// Log out from a registry
    Logout(commands::login::LogoutArgs),
    /// Search Docker Hub or a registry's catalog for images
    Search(commands::search::SearchArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Remove one or more images
    Rmi(commands::rmi::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
    /// Manage Ferry
    #[command(subcommand)]
    System(SystemCommand),
    /// Show the Ferry version information
    Version(commands::version::VersionArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
    /// List containers
    Ps(PsArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    #[command(flatten)]
    Verb(ContainerVerb),
}

/// The container verbs Docker has both at the top level and under `container`.
#[derive(Debug, Subcommand)]
enum ContainerVerb {
    /// Create and run a new container from an image
    Run(Box<RunArgs>),
    /// Create a new container
    Create(Box<CreateArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Pause all processes within one or more containers
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(NamesArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(NamesArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List port mappings or a specific mapping for the container
    Port(commands::port::PortArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Return low-level information on containers
    Inspect(InspectArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
}

#[derive(Debug, Subcommand)]
enum ContainerCommand {
    /// List containers
    #[command(name = "ls", aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    #[command(flatten)]
    Verb(ContainerVerb),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(commands::images::ImagesArgs),
    /// Build an image from a Dockerfile
    Build(commands::build::BuildArgs),
    /// Pull an image from a registry
    Pull(commands::pull::PullArgs),
    /// Upload an image to a registry
    Push(commands::push::PushArgs),
    /// Mount an image's root filesystem read-only and print the path
    Mount(commands::mount::MountArgs),
    /// Unmount an image mounted with `image mount`
    #[command(alias = "umount")]
    Unmount(commands::mount::UnmountArgs),
    /// Remove one or more images
    #[command(name = "rm", alias = "remove")]
    Rm(commands::rmi::RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(commands::tag::TagArgs),
    /// Display detailed information on one or more images
    Inspect(commands::image_inspect::ImageInspectArgs),
    /// Show the history of an image
    History(commands::history::HistoryArgs),
    /// Remove unused images
    Prune(commands::prune::ImagePruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(commands::save::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(commands::load::LoadArgs),
}

/// `ferry completion SHELL`: the script to source, as `docker completion` prints it.
#[derive(Debug, clap::Args)]
struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell
    shell: clap_complete::Shell,
}

#[derive(Debug, Subcommand)]
enum SystemCommand {
    /// Show disk usage
    Df(commands::df::DfArgs),
    /// Remove unused data
    Prune(commands::system_prune::SystemPruneArgs),
    /// Get real time events from the server
    Events(commands::events::EventsArgs),
    /// Display system-wide information
    Info(commands::info::InfoArgs),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit_usage(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => errors::exit_with(&anyhow::anyhow!("cannot start: {e}")),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let debug = cli.debug;
    let telemetry = client::init_telemetry(debug);
    let root = client::root_span(verb_of(&args).unwrap_or_default(), debug);
    let code = runtime.block_on(tracing::Instrument::instrument(run(cli), root.clone()));
    client::end_root_span(root, code);
    // Not a plain drop: that would wait for the blocking stdin reader of an attached session.
    runtime.shutdown_background();
    // process::exit runs no destructors: the spans are exported here or never.
    client::export_spans(telemetry, debug);
    std::process::exit(code);
}

async fn run(cli: Cli) -> i32 {
    let res = match cli.command {
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => {
            commands::pull::run(&cli.host, a).await
        }
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => {
            commands::push::run(&cli.host, a).await
        }
        Command::Login(a) => commands::login::login(&cli.host, a).await,
        Command::Logout(a) => commands::login::logout(a).await,
        Command::Search(a) => commands::search::run(&cli.host, a).await,
        Command::Events(a) => commands::events::run(&cli.host, a).await,
        Command::Completion(a) => {
            // Generated from the same definitions that parse, so it cannot drift; into a buffer
            // first, since the generator panics on a closed stdout (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "ferry", &mut script);
            use std::io::Write as _;
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
                other => other.map(|()| 0).map_err(Into::into),
            }
        }
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => {
            commands::images::run(&cli.host, a).await
        }
        Command::Image(ImageCommand::Mount(a)) => commands::mount::mount(&cli.host, a).await,
        Command::Image(ImageCommand::Unmount(a)) => commands::mount::unmount(&cli.host, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => {
            commands::rmi::run(&cli.host, a).await
        }
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => {
            commands::tag::run(&cli.host, a).await
        }
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => {
            commands::save::run(&cli.host, a).await
        }
        Command::Builder(c) => commands::builder::run(&cli.host, c).await,
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => {
            commands::build::run(&cli.host, a).await
        }
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => {
            commands::load::run(&cli.host, a).await
        }
        Command::History(a) | Command::Image(ImageCommand::History(a)) => {
            commands::history::run(&cli.host, a).await
        }
        Command::Image(ImageCommand::Inspect(a)) => {
            commands::image_inspect::run(&cli.host, a).await
        }
        Command::Image(ImageCommand::Prune(a)) => commands::prune::run(&cli.host, a).await,
        Command::System(SystemCommand::Df(a)) => commands::df::run(&cli.host, a).await,
        Command::System(SystemCommand::Prune(a)) => commands::system_prune::run(&cli.host, a).await,
        Command::System(SystemCommand::Events(a)) => commands::events::run(&cli.host, a).await,
        Command::Version(a) => commands::version::run(&cli.host, a).await,
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => {
            commands::info::run(&cli.host, cli.debug, a).await
        }
        Command::Network(c) => commands::network::run(&cli.host, c).await,
        Command::Volume(c) => commands::volume::run(&cli.host, c).await,
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => {
            commands::ps::run(&cli.host, a).await
        }
        Command::Container(ContainerCommand::Prune(a)) => {
            commands::lifecycle::prune(&cli.host, a).await
        }
        Command::Verb(v) | Command::Container(ContainerCommand::Verb(v)) => {
            verb(&cli.host, v).await
        }
    };
    match res {
        Ok(code) => code,
        Err(e) => errors::report(&e),
    }
}

async fn verb(host: &str, v: ContainerVerb) -> anyhow::Result<i32> {
    use commands::{attach, cp, exec, inspect, lifecycle, logs, run, stats, top};
    match v {
        ContainerVerb::Run(a) => run::run(host, *a).await,
        ContainerVerb::Create(a) => run::create_cmd(host, *a).await,
        ContainerVerb::Start(a) => run::start(host, a).await,
        ContainerVerb::Stop(a) => lifecycle::stop(host, a).await,
        ContainerVerb::Kill(a) => lifecycle::kill(host, a).await,
        ContainerVerb::Restart(a) => lifecycle::restart(host, a).await,
        ContainerVerb::Rm(a) => lifecycle::rm(host, a).await,
        ContainerVerb::Pause(a) => lifecycle::pause(host, a).await,
        ContainerVerb::Unpause(a) => lifecycle::unpause(host, a).await,
        ContainerVerb::Wait(a) => lifecycle::wait(host, a).await,
        ContainerVerb::Rename(a) => lifecycle::rename(host, a).await,
        ContainerVerb::Logs(a) => logs::run(host, a).await,
        ContainerVerb::Exec(a) => exec::run(host, a).await,
        ContainerVerb::Top(a) => top::run(host, a).await,
        ContainerVerb::Port(a) => commands::port::run(host, a).await,
        ContainerVerb::Attach(a) => attach::attach(host, a).await,
        ContainerVerb::Inspect(a) => inspect::run(host, a).await,
        ContainerVerb::Stats(a) => stats::run(host, a).await,
        ContainerVerb::Cp(a) => cp::run(host, a).await,
    }
}

/// A usage error, printed and numbered as Docker's (see `usage.rs`).
fn exit_usage(e: &clap::Error) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match usage::explain(&Cli::command(), &args, e) {
        usage::Usage::Clap(code) => {
            let _ = e.print();
            std::process::exit(code)
        }
        usage::Usage::Text(text, code) => {
            eprintln!("{text}");
            std::process::exit(code)
        }
    }
}

/// The subcommand named in argv, skipping the global `-H/--host` option.
fn verb_of(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" | "--host" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

#[cfg(test)]
mod tests {

    #[test]
    fn completion_scripts_know_every_verb() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "ferry", &mut out);
            let script = String::from_utf8(out).unwrap();
            for verb in ["run", "volume", "events", "images", "network", "completion"] {
                assert!(script.contains(verb), "{shell:?} lacks {verb}");
            }
        }
    }

    use ferry_proto::containers::v1::{ContainerConfig, Mount};

    use super::*;
    use crate::opts::testenv::FakeEnv;

    fn parse(argv: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("ferry").chain(argv.iter().copied()))
    }

    fn run_flags(argv: &[&str]) -> opts::CreateFlags {
        match parse(argv).map(|c| c.command) {
            Ok(Command::Verb(ContainerVerb::Run(a)))
            | Ok(Command::Container(ContainerCommand::Verb(ContainerVerb::Run(a)))) => a.flags,
            Ok(Command::Verb(ContainerVerb::Create(a))) => a.flags,
            other => panic!("{argv:?} parsed as {other:?}"),
        }
    }

    fn config(argv: &[&str]) -> ContainerConfig {
        let env = FakeEnv {
            vars: vec![("HOME", "/root"), ("TERM", "xterm")],
            files: vec![("env.list", "# c\nA=from-file\nTERM\n\nB=2\n")],
        };
        run_flags(argv).to_config(&env).expect("config")
    }

    fn mount(kind: &str, src: &str, dst: &str, ro: bool) -> Mount {
        Mount {
            r#type: kind.into(),
            source: src.into(),
            destination: dst.into(),
            read_only: ro,
            create_source: false,
        }
    }

    #[test]
    fn run_flags_map_into_container_config() {
        type Check = fn(&ContainerConfig);
        let cases: &[(&[&str], Check)] = &[
            (&["run", "busybox"], |c| {
                assert_eq!(c.image, "busybox");
                assert!(c.cmd.is_empty() && c.entrypoint.is_none());
                assert_eq!(c.restart, "no");
            }),
            (&["run", "busybox", "ls", "-l", "--rm"], |c| {
                assert_eq!(c.cmd, ["ls", "-l", "--rm"]);
                assert!(!c.auto_remove);
            }),
            (&["run", "-it", "--rm", "busybox", "sh"], |c| {
                assert!(c.tty && c.open_stdin && c.auto_remove);
            }),
            (
                &["run", "-e", "A=1", "-e", "HOME", "-e", "UNSET", "busybox"],
                |c| {
                    assert_eq!(c.env, ["A=1", "HOME=/root"]);
                },
            ),
            (
                &["run", "--env-file", "env.list", "-e", "A=flag", "busybox"],
                |c| {
                    assert_eq!(c.env, ["A=from-file", "TERM=xterm", "B=2", "A=flag"]);
                },
            ),
            (
                &["run", "-h", "box", "-w", "/w", "-u", "1000:1000", "busybox"],
                |c| {
                    assert_eq!(c.hostname, "box");
                    assert_eq!(c.workdir, "/w");
                    assert_eq!(c.user, "1000:1000");
                },
            ),
            (&["run", "--entrypoint", "", "busybox"], |c| {
                assert_eq!(c.entrypoint.as_deref(), Some(""));
            }),
            (
                &["run", "--entrypoint=/bin/sh", "busybox", "-c", "true"],
                |c| {
                    assert_eq!(c.entrypoint.as_deref(), Some("/bin/sh"));
                    assert_eq!(c.cmd, ["-c", "true"]);
                },
            ),
            (
                &[
                    "run",
                    "-v",
                    "/h:/c:ro",
                    "-v",
                    "data:/d",
                    "--mount",
                    "type=tmpfs,dst=/t",
                    "busybox",
                ],
                |c| {
                    assert_eq!(
                        c.mounts,
                        [
                            // `-v` creates a missing host directory, as Docker's does.
                            Mount {
                                create_source: true,
                                ..mount("bind", "/h", "/c", true)
                            },
                            mount("volume", "data", "/d", false),
                            mount("tmpfs", "", "/t", false),
                        ]
                    );
                },
            ),
            (
                &[
                    "run",
                    "-m",
                    "512m",
                    "--cpus",
                    "1.5",
                    "--pids-limit",
                    "-1",
                    "busybox",
                ],
                |c| {
                    assert_eq!(c.memory, 512 << 20);
                    assert_eq!(c.cpus, 1.5);
                    assert_eq!(c.pids_limit, -1);
                },
            ),
            (
                &[
                    "run",
                    "--read-only",
                    "--privileged",
                    "--init",
                    "--cap-add",
                    "NET_ADMIN",
                    "--cap-drop",
                    "ALL",
                    "--security-opt",
                    "no-new-privileges",
                    "busybox",
                ],
                |c| {
                    assert!(c.read_only && c.privileged && c.init && c.no_new_privileges);
                    assert_eq!(c.cap_add, ["NET_ADMIN"]);
                    assert_eq!(c.cap_drop, ["ALL"]);
                },
            ),
            (
                &[
                    "run",
                    "--network",
                    "none",
                    "-l",
                    "a=1",
                    "--label",
                    "b",
                    "--runtime",
                    "runc",
                    "--restart",
                    "on-failure:3",
                    "busybox",
                ],
                |c| {
                    assert_eq!(c.network, "none");
                    assert_eq!(c.labels.get("a").map(String::as_str), Some("1"));
                    assert_eq!(c.labels.get("b").map(String::as_str), Some(""));
                    assert_eq!(c.runtime, "runc");
                    assert_eq!(c.restart, "on-failure:3");
                },
            ),
            (
                &[
                    "run",
                    "--log-opt",
                    "max-size=10m",
                    "--log-opt",
                    "max-file=3",
                    "busybox",
                ],
                |c| {
                    assert_eq!((c.log_max_size, c.log_max_file), (10 << 20, 3));
                },
            ),
            (&["container", "run", "--name", "web", "busybox"], |c| {
                assert_eq!(c.image, "busybox");
            }),
            (&["create", "-t", "alpine", "top"], |c| {
                assert!(c.tty && !c.open_stdin);
                assert_eq!(c.cmd, ["top"]);
            }),
        ];
        for (argv, check) in cases {
            check(&config(argv));
        }
    }

    #[test]
    fn bad_run_flags_are_rejected() {
        for argv in [
            &["run", "--restart", "sometimes", "busybox"][..],
            &["run", "-m", "lots", "busybox"],
            &["run", "-v", "/a:relative", "busybox"],
            &["run", "--mount", "type=bind,src=x,dst=/y", "busybox"],
            &["run", "--security-opt", "seccomp=unconfined", "busybox"],
            &["run", "--log-opt", "max-file=0", "busybox"],
            &["run", "--cpus", "x", "busybox"],
            &["run"],
            &["run", "--bogus", "busybox"],
            &["create", "-Z", "busybox"],
        ] {
            assert!(parse(argv).is_err(), "{argv:?}");
        }
        let flags = run_flags(&["run", "--rm", "--restart", "always", "busybox"]);
        let env = FakeEnv {
            vars: vec![],
            files: vec![],
        };
        assert!(flags.to_config(&env).is_err());
        let flags = run_flags(&["run", "--env-file", "missing", "busybox"]);
        assert!(flags.to_config(&env).is_err());
    }

    #[test]
    fn help_is_long_only_for_run_and_create() {
        assert_eq!(
            parse(&["run", "--help"]).map(|_| ()).map_err(|e| e.kind()),
            Err(clap::error::ErrorKind::DisplayHelp)
        );
        assert_eq!(
            run_flags(&["create", "-h", "x", "busybox"])
                .hostname
                .as_deref(),
            Some("x")
        );
        assert!(parse(&["ps", "--help"]).is_err());
        assert!(parse(&["logs", "-f", "--tail", "10", "-t", "web"]).is_ok());
        assert!(parse(&["container", "ls", "-a"]).is_ok());
        assert!(parse(&["container", "list", "-q"]).is_ok());
        assert!(parse(&["container", "prune", "-f"]).is_ok());
        assert!(parse(&["exec", "-it", "web", "sh", "-c", "ls -l"]).is_ok());
        assert!(parse(&["top", "web", "-o", "pid"]).is_ok());
        assert!(parse(&["attach", "--sig-proxy=false", "web"]).is_ok());
        assert!(parse(&["stop", "-t", "3", "a", "b"]).is_ok());
        assert!(parse(&["kill", "-s", "HUP", "a"]).is_ok());
        assert!(parse(&[
            "run",
            "-d",
            "--sig-proxy=false",
            "--detach-keys",
            "ctrl-a",
            "x"
        ])
        .is_ok());
        assert!(parse(&["pull", "busybox"]).is_ok());
        assert!(parse(&["version", "--format", "{{.Server.Version}}"]).is_ok());
        assert!(parse(&["info", "-f", "{{.Containers}}"]).is_ok());
        assert!(parse(&["system", "info"]).is_ok());
        assert!(parse(&["version", "extra"]).is_err());
    }

    #[test]
    fn usage_errors_find_the_verb() {
        let v = |a: &[&str]| {
            let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            verb_of(&args).map(String::from)
        };
        assert_eq!(
            v(&["-H", "unix:///x", "run", "--bad"]).as_deref(),
            Some("run")
        );
        assert_eq!(v(&["--host=unix:///x", "pull"]).as_deref(), Some("pull"));
        assert_eq!(v(&["--bogus"]), None);
    }
}
