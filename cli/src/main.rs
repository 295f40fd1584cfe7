//! ferry: Docker's verbs, flags, output and exit codes, over gRPC to ferryd.

mod client;
mod commands;
mod errors;
mod render;

use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Download an image from a registry
    Pull(commands::pull::PullArgs),
    /// List images
    Images(commands::images::ImagesArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// List images
    #[command(alias = "list")]
    Ls(commands::images::ImagesArgs),
    /// Pull an image from a registry
    Pull(commands::pull::PullArgs),
    /// Mount an image's root filesystem read-only and print the path
    Mount(commands::mount::MountArgs),
    /// Unmount an image mounted with `image mount`
    #[command(alias = "umount")]
    Unmount(commands::mount::UnmountArgs),
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => errors::exit_with(&anyhow::anyhow!("cannot start: {e}")),
    };
    let code = runtime.block_on(run(cli));
    std::process::exit(code);
}

async fn run(cli: Cli) -> i32 {
    let res = match cli.command {
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => {
            commands::pull::run(&cli.host, a).await
        }
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => {
            commands::images::run(&cli.host, a).await
        }
        Command::Image(ImageCommand::Mount(a)) => commands::mount::mount(&cli.host, a).await,
        Command::Image(ImageCommand::Unmount(a)) => commands::mount::unmount(&cli.host, a).await,
    };
    match res {
        Ok(code) => code,
        Err(e) => errors::report(&e),
    }
}
