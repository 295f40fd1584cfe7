//! Usage errors (a bad flag, a wrong number of arguments, an unknown command) worded and
//! numbered as Docker 28's CLI does, from the clap error and the argv that caused it.
//!
//! Docker splits them two ways, and scripts tell them apart by the status:
//! - a flag error (pflag's, through `cli.FlagErrorFunc`) exits 125:
//!   `unknown flag: --bogus`, a blank line, `Usage:  …`, a blank line, `Run '… --help' …`;
//! - an argument-count or unknown-command error (`cli.RequiresMinArgs`, `cli.NoArgs`, the root
//!   command's `RunE`) is a plain error, so it exits 1, and starts with `docker: `.
//!
//! Help asked for (`--help`) goes to stdout as clap prints it; help shown because a command
//! group got no subcommand (`ferry`, `ferry image`) goes to stderr and exits 0, as Docker's
//! `ShowHelp(dockerCli.Err())`. Everything here is pure so tests compare strings.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// What to print for a usage error, and the exit status.
#[derive(Debug, PartialEq)]
pub(crate) enum Usage {
    /// clap's own rendering (help, version) with this status.
    Clap(i32),
    /// This text on stderr, then this status.
    Text(String, i32),
}

/// Docker's exit status for a flag error.
const FLAG_ERROR: i32 = 125;

/// Turns `err`, from parsing `args` (without argv[0]) against `root`, into Docker's words.
pub(crate) fn explain(root: &Command, args: &[String], err: &clap::Error) -> Usage {
    let mut root = root.clone();
    root.build();
    let path = command_path(&root, args);
    let cmd = path.last().copied().unwrap_or(&root);
    let name = path_name(&path);
    let bin = root.get_name();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Usage::Clap(0),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            Usage::Clap(0)
        }
        ErrorKind::InvalidSubcommand => {
            let sub = context(err, ContextKind::InvalidSubcommand).unwrap_or_default();
            Usage::Text(unknown_command(bin, &name, &sub, cmd, path.len() == 1), 1)
        }
        ErrorKind::UnknownArgument => match context(err, ContextKind::InvalidArg) {
            Some(flag) if flag.starts_with('-') => {
                Usage::Text(flag_error(&unknown_flag(&flag), &name, cmd), FLAG_ERROR)
            }
            _ => Usage::Text(arity_error(bin, &name, cmd), 1),
        },
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues
            if missing_is_positional(err, cmd) =>
        {
            Usage::Text(arity_error(bin, &name, cmd), 1)
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            Usage::Text(flag_error(&bad_value(err, cmd), &name, cmd), FLAG_ERROR)
        }
        _ => Usage::Text(flag_error(&clap_message(err), &name, cmd), FLAG_ERROR),
    }
}

/// pflag's words for a flag's value: `flag needs an argument: --name`, or
/// `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`.
fn bad_value(err: &clap::Error, cmd: &Command) -> String {
    let (Some(arg), Some(value)) = (
        context(err, ContextKind::InvalidArg),
        context(err, ContextKind::InvalidValue),
    ) else {
        return clap_message(err);
    };
    // clap names the flag `--memory <bytes>`.
    let flag = arg.split(' ').next().unwrap_or(&arg);
    if value.is_empty() {
        return format!("flag needs an argument: {flag}");
    }
    let names = match flag
        .strip_prefix("--")
        .and_then(|l| find_long(cmd, l)?.get_short())
    {
        Some(short) => format!("-{short}, {flag}"),
        None => flag.to_string(),
    };
    let reason = match std::error::Error::source(err) {
        Some(source) => source.to_string(),
        None => clap_message(err),
    };
    format!("invalid argument \"{value}\" for \"{names}\" flag: {reason}")
}

fn find_long<'a>(cmd: &'a Command, long: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| a.get_long() == Some(long))
}

/// The commands named in `args`, root first, skipping flags and the global `-H` value.
fn command_path<'a>(root: &'a Command, args: &[String]) -> Vec<&'a Command> {
    let mut path = vec![root];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" | "--host" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => match path.last().and_then(|c| c.find_subcommand(s)) {
                Some(sub) => path.push(sub),
                None => break,
            },
        }
    }
    path
}

/// `ferry container run`: Docker's `CommandPath`.
fn path_name(path: &[&Command]) -> String {
    let names: Vec<&str> = path.iter().map(|c| c.get_name()).collect();
    names.join(" ")
}

/// Docker's `UseLine`: `ferry run [OPTIONS] IMAGE [COMMAND] [ARG...]`, `ferry image COMMAND`.
fn use_line(name: &str, cmd: &Command) -> String {
    if cmd.has_subcommands() {
        return format!("{name} COMMAND");
    }
    let mut parts = vec![name.to_string()];
    if cmd.get_arguments().any(is_own_option) {
        parts.push("[OPTIONS]".into());
    }
    parts.extend(cmd.get_positionals().map(positional_usage));
    parts.join(" ")
}

fn is_own_option(a: &Arg) -> bool {
    !a.is_positional() && !a.is_global_set() && !a.is_hide_set() && !is_help_or_version(a)
}

fn is_help_or_version(a: &Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

/// `IMAGE`, `[SERVER]`, `CONTAINER [CONTAINER...]`; a value name with spaces is already the
/// whole synopsis (`IMAGE [COMMAND] [ARG...]`).
fn positional_usage(a: &Arg) -> String {
    let name = match a.get_value_names().and_then(|n| n.first()) {
        Some(n) => n.to_string(),
        None => a.get_id().as_str().to_uppercase(),
    };
    if name.contains(' ') {
        return name;
    }
    let many = a.get_num_args().is_some_and(|r| r.max_values() > 1);
    match (a.is_required_set(), many) {
        (true, false) => name,
        (true, true) => format!("{name} [{name}...]"),
        (false, false) => format!("[{name}]"),
        (false, true) => format!("[{name}...]"),
    }
}

/// How many positional arguments `cmd` takes: (min, max), max `usize::MAX` when unbounded.
fn arity(cmd: &Command) -> (usize, usize) {
    cmd.get_positionals().fold((0, 0), |(lo, hi), a| {
        let (min, max) = a
            .get_num_args()
            .map_or((1, 1), |r| (r.min_values(), r.max_values()));
        let min = if a.is_required_set() { min.max(1) } else { 0 };
        (lo + min, hi.saturating_add(max))
    })
}

fn pluralize(n: usize) -> &'static str {
    if n == 1 {
        "argument"
    } else {
        "arguments"
    }
}

/// Docker's `NoArgs`, `ExactArgs`, `RequiresMinArgs`, `RequiresMaxArgs`, `RequiresRangeArgs`,
/// chosen by the command's arity. Only `RequiresMinArgs` says "See" (sic, as Docker 28).
fn arity_error(bin: &str, name: &str, cmd: &Command) -> String {
    let (min, max) = arity(cmd);
    let (what, verb) = match (min, max) {
        (_, 0) => ("accepts no arguments".to_string(), "Run"),
        (n, m) if n == m => (format!("requires {n} {}", pluralize(n)), "Run"),
        (n, usize::MAX) => (format!("requires at least {n} {}", pluralize(n)), "See"),
        (0, m) => (format!("requires at most {m} {}", pluralize(m)), "Run"),
        (n, m) => (
            format!("requires at least {n} and at most {m} {}", pluralize(m)),
            "Run",
        ),
    };
    format!(
        "{bin}: '{name}' {what}\n\nUsage:  {}\n\n{verb} '{name} --help' for more information",
        use_line(name, cmd)
    )
}

/// The root's `RunE` (no usage line) or a group's `NoArgs` (with one).
fn unknown_command(bin: &str, name: &str, sub: &str, cmd: &Command, is_root: bool) -> String {
    let head = format!("{bin}: unknown command: {name} {sub}");
    if is_root {
        return format!("{head}\n\nRun '{name} --help' for more information");
    }
    format!(
        "{head}\n\nUsage:  {}\n\nRun '{name} --help' for more information",
        use_line(name, cmd)
    )
}

/// Docker's `FlagErrorFunc` around pflag's message.
fn flag_error(message: &str, name: &str, cmd: &Command) -> String {
    format!(
        "{message}\n\nUsage:  {}\n\nRun '{name} --help' for more information",
        use_line(name, cmd)
    )
}

/// pflag's words: `unknown flag: --bogus`, `unknown shorthand flag: 'Z' in -Z`.
fn unknown_flag(flag: &str) -> String {
    let long = flag.split('=').next().unwrap_or(flag);
    match long.strip_prefix("--") {
        Some(_) => format!("unknown flag: {long}"),
        None => {
            let c = flag.chars().nth(1).unwrap_or('-');
            format!("unknown shorthand flag: '{c}' in {flag}")
        }
    }
}

/// clap's message without its `error: ` prefix, tips and usage: the first line only.
fn clap_message(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn context(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// True when what is missing is a positional (clap names positionals `<NAME>`), not a flag.
fn missing_is_positional(err: &clap::Error, cmd: &Command) -> bool {
    match context(err, ContextKind::InvalidArg) {
        Some(a) => a.starts_with('<'),
        None => cmd.get_positionals().next().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::Cli;

    fn explain_argv(argv: &[&str]) -> Usage {
        let args: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let err = Cli::try_parse_from(std::iter::once("ferry").chain(argv.iter().copied()))
            .expect_err("a usage error");
        explain(&Cli::command(), &args, &err)
    }

    /// The text, with the status checked apart so a failure shows both.
    fn assert_usage(argv: &[&str], want: &str, code: i32) {
        match explain_argv(argv) {
            Usage::Text(got, got_code) => {
                assert_eq!(got, want, "{argv:?}");
                assert_eq!(got_code, code, "{argv:?}");
            }
            other => panic!("{argv:?}: {other:?}"),
        }
    }

    const RUN_USAGE: &str = "Usage:  ferry run [OPTIONS] IMAGE [COMMAND] [ARG...]";

    #[test]
    fn unknown_flags_are_flag_errors_not_images() {
        let run_help = "Run 'ferry run --help' for more information";
        assert_usage(
            &["run", "--bogus", "busybox"],
            &format!("unknown flag: --bogus\n\n{RUN_USAGE}\n\n{run_help}"),
            125,
        );
        assert_usage(
            &["run", "-Z", "busybox"],
            &format!("unknown shorthand flag: 'Z' in -Z\n\n{RUN_USAGE}\n\n{run_help}"),
            125,
        );
        assert_usage(
            &["-H", "unix:///x", "create", "--bogus=1", "busybox"],
            "unknown flag: --bogus\n\n\
             Usage:  ferry create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
             Run 'ferry create --help' for more information",
            125,
        );
    }

    #[test]
    fn every_verb_exits_125_on_a_bad_flag() {
        let argvs: &[&[&str]] = &[
            &["images", "--bogus"],
            &["rmi", "--bogus", "x"],
            &["pull", "--bogus", "x"],
            &["push", "--bogus", "x"],
            &["tag", "--bogus", "a", "b"],
            &["save", "--bogus", "x"],
            &["load", "--bogus"],
            &["history", "--bogus", "x"],
            &["login", "--bogus"],
            &["logout", "--bogus"],
            &["search", "--bogus", "x"],
            &["system", "df", "--bogus"],
            &["image", "prune", "--bogus"],
            &["image", "ls", "--bogus"],
            &["ps", "--bogus"],
            &["container", "ls", "--bogus"],
            &["stop", "--bogus", "x"],
            &["exec", "--bogus", "x", "sh"],
            &["network", "ls", "--bogus"],
        ];
        for argv in argvs {
            match explain_argv(argv) {
                Usage::Text(t, code) => {
                    assert_eq!(code, 125, "{argv:?}: {t}");
                    assert!(
                        t.starts_with("unknown flag: --bogus\n\nUsage:  ferry "),
                        "{t}"
                    );
                    let cmd = argv.iter().take_while(|a| **a != "--bogus");
                    let cmd = cmd.copied().collect::<Vec<_>>().join(" ");
                    assert!(t.ends_with(&format!("'ferry {cmd} --help' for more information")));
                }
                other => panic!("{argv:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_image_is_an_argument_count_error() {
        assert_usage(
            &["run"],
            &format!(
                "ferry: 'ferry run' requires at least 1 argument\n\n{RUN_USAGE}\n\n\
                 See 'ferry run --help' for more information"
            ),
            1,
        );
        assert_usage(
            &["container", "create", "-t"],
            "ferry: 'ferry container create' requires at least 1 argument\n\n\
             Usage:  ferry container create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
             See 'ferry container create --help' for more information",
            1,
        );
        assert_usage(
            &["ps", "extra"],
            "ferry: 'ferry ps' accepts no arguments\n\n\
             Usage:  ferry ps [OPTIONS]\n\n\
             Run 'ferry ps --help' for more information",
            1,
        );
        assert_usage(
            &["rename", "a"],
            "ferry: 'ferry rename' requires 2 arguments\n\n\
             Usage:  ferry rename CONTAINER NEW_NAME\n\n\
             Run 'ferry rename --help' for more information",
            1,
        );
    }

    #[test]
    fn unknown_commands_exit_1_and_bare_groups_show_help() {
        assert_usage(
            &["nosuch"],
            "ferry: unknown command: ferry nosuch\n\nRun 'ferry --help' for more information",
            1,
        );
        assert_usage(
            &["image", "nosuch"],
            "ferry: unknown command: ferry image nosuch\n\n\
             Usage:  ferry image COMMAND\n\n\
             Run 'ferry image --help' for more information",
            1,
        );
        assert_eq!(explain_argv(&[]), Usage::Clap(0));
        assert_eq!(explain_argv(&["image"]), Usage::Clap(0));
        assert_eq!(explain_argv(&["run", "--help"]), Usage::Clap(0));
    }

    #[test]
    fn bad_values_are_worded_as_pflag() {
        let usage = "Usage:  ferry run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n\
                     Run 'ferry run --help' for more information";
        assert_usage(
            &["run", "-m", "lots", "busybox"],
            &format!(
                "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'\n\n{usage}"
            ),
            125,
        );
        assert_usage(
            &["run", "--name"],
            &format!("flag needs an argument: --name\n\n{usage}"),
            125,
        );
    }
}
