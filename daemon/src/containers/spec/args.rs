//! The process's argv, environment and working directory, by Docker's rules.
//!
//! * argv: an `--entrypoint` replaces the image's entrypoint *and* drops the
//!   image's Cmd (moby `daemon/create.go` `merge` only copies the image Cmd
//!   when the user gave no entrypoint); `--entrypoint ""` clears both. Args
//!   after the image name replace the image's Cmd only.
//! * env: the run's `-e` values come first and win by key, then the image's
//!   (moby `merge`); the result is laid over the daemon's defaults `PATH`,
//!   `HOSTNAME` and, with a tty, `TERM=xterm` (moby
//!   `container.CreateDaemonEnvironment` + `ReplaceOrAppendEnvValues`), so a
//!   default keeps its position but takes the image's or user's value.

use super::{ImageRuntimeConfig, RunConfig, SpecError};

/// Docker's `PATH` when the image sets none (moby `system.DefaultPathEnv`).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The container's argv: entrypoint followed by cmd, with Docker's overrides.
pub fn resolve_args(image: &ImageRuntimeConfig, run: &RunConfig) -> Result<Vec<String>, SpecError> {
    let mut args = match run.entrypoint.as_deref() {
        Some("") => Vec::new(),
        Some(entrypoint) => vec![entrypoint.to_owned()],
        None => image.entrypoint.clone().unwrap_or_default(),
    };
    if !run.cmd.is_empty() {
        args.extend(run.cmd.iter().cloned());
    } else if run.entrypoint.is_none() {
        args.extend(image.cmd.iter().flatten().cloned());
    }
    if args.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// The process environment. `hostname` feeds `HOSTNAME`; `tty` adds `TERM`.
/// Entries without `=` are kept as given: the caller resolves them.
pub fn merge_env(
    image_env: &[String],
    run_env: &[String],
    hostname: &str,
    tty: bool,
) -> Vec<String> {
    let mut container_env = run_env.to_vec();
    for entry in image_env {
        if !run_env.iter().any(|r| env_key(r) == env_key(entry)) {
            container_env.push(entry.clone());
        }
    }
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if tty {
        env.push("TERM=xterm".to_owned());
    }
    for entry in container_env {
        match env.iter_mut().find(|e| env_key(e) == env_key(&entry)) {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }
    env
}

/// The working directory: `--workdir`, else the image's, else `/`. Docker
/// rejects relative ones; `.`/`..` are cleaned lexically as Go's `path.Clean`.
pub fn resolve_workdir(image: &ImageRuntimeConfig, run: &RunConfig) -> Result<String, SpecError> {
    let workdir = run
        .workdir
        .as_deref()
        .filter(|w| !w.is_empty())
        .or(image.working_dir.as_deref().filter(|w| !w.is_empty()))
        .unwrap_or("/");
    if !workdir.starts_with('/') {
        return Err(SpecError::InvalidWorkdir {
            workdir: workdir.to_owned(),
        });
    }
    Ok(clean_path(workdir))
}

/// Lexical clean of an absolute path: no empty, `.` or `..` components.
pub(super) fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The key of a `K=V` entry (the whole entry when it has no `=`).
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageRuntimeConfig {
        ImageRuntimeConfig {
            entrypoint: entrypoint.map(strings),
            cmd: cmd.map(strings),
            ..Default::default()
        }
    }

    fn run(entrypoint: Option<&str>, cmd: &[&str]) -> RunConfig {
        RunConfig {
            entrypoint: entrypoint.map(str::to_owned),
            cmd: strings(cmd),
            ..Default::default()
        }
    }

    #[test]
    fn args_follow_docker_rules() {
        type Case<'a> = (&'a str, ImageRuntimeConfig, RunConfig, &'a [&'a str]);
        let ep: &[&str] = &["/entry", "-x"];
        let cases: Vec<Case> = vec![
            (
                "image cmd only",
                image(None, Some(&["sh"])),
                run(None, &[]),
                &["sh"],
            ),
            (
                "entrypoint + cmd",
                image(Some(ep), Some(&["a"])),
                run(None, &[]),
                &["/entry", "-x", "a"],
            ),
            (
                "run cmd replaces cmd only",
                image(Some(ep), Some(&["a"])),
                run(None, &["b", "c"]),
                &["/entry", "-x", "b", "c"],
            ),
            (
                "run cmd, no entrypoint",
                image(None, Some(&["sh"])),
                run(None, &["echo", "hi"]),
                &["echo", "hi"],
            ),
            (
                "--entrypoint drops image cmd",
                image(Some(ep), Some(&["a"])),
                run(Some("/bin/true"), &[]),
                &["/bin/true"],
            ),
            (
                "--entrypoint + run cmd",
                image(Some(ep), Some(&["a"])),
                run(Some("/bin/echo"), &["x"]),
                &["/bin/echo", "x"],
            ),
            (
                "--entrypoint '' + run cmd",
                image(Some(ep), Some(&["a"])),
                run(Some(""), &["ls", "/"]),
                &["ls", "/"],
            ),
            (
                "entrypoint only",
                image(Some(ep), None),
                run(None, &[]),
                &["/entry", "-x"],
            ),
            (
                "empty image cmd list",
                image(Some(&[]), Some(&[])),
                run(None, &["x"]),
                &["x"],
            ),
        ];
        for (name, image, run, want) in cases {
            assert_eq!(resolve_args(&image, &run).unwrap(), strings(want), "{name}");
        }
    }

    #[test]
    fn no_command_is_docker_error() {
        let cases = [
            (image(None, None), run(None, &[])),
            (image(Some(&[]), Some(&[])), run(None, &[])),
            (image(Some(&["/e"]), Some(&["sh"])), run(Some(""), &[])),
        ];
        for (image, run) in cases {
            let err = resolve_args(&image, &run).unwrap_err();
            assert!(matches!(err, SpecError::NoCommand));
            assert_eq!(err.to_string(), "no command specified");
        }
    }

    #[test]
    fn env_run_overrides_image_and_defaults_come_first() {
        let image_env = strings(&["A=image", "B=image", "PATH=/image/bin"]);
        let env = merge_env(&image_env, &strings(&["A=run", "C=run"]), "abc", false);
        assert_eq!(
            env,
            strings(&[
                "PATH=/image/bin",
                "HOSTNAME=abc",
                "A=run",
                "C=run",
                "B=image"
            ])
        );
    }

    #[test]
    fn env_default_path_and_tty_term() {
        let env = merge_env(&[], &[], "h", true);
        assert_eq!(
            env,
            vec![
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=h".into(),
                "TERM=xterm".into()
            ]
        );
        let env = merge_env(&[], &strings(&["TERM=dumb"]), "h", true);
        assert_eq!(env[2], "TERM=dumb");
        assert!(!merge_env(&[], &[], "h", false)
            .iter()
            .any(|e| e.starts_with("TERM=")));
    }

    #[test]
    fn workdir_defaults_overrides_and_must_be_absolute() {
        let mut img = ImageRuntimeConfig {
            working_dir: Some("/app".into()),
            ..Default::default()
        };
        let mut r = RunConfig::default();
        assert_eq!(resolve_workdir(&img, &r).unwrap(), "/app");
        r.workdir = Some("/srv/./x/../y/".into());
        assert_eq!(resolve_workdir(&img, &r).unwrap(), "/srv/y");
        r.workdir = Some("rel".into());
        let err = resolve_workdir(&img, &r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the working directory 'rel' is invalid, it needs to be an absolute path"
        );
        img.working_dir = None;
        assert_eq!(resolve_workdir(&img, &RunConfig::default()).unwrap(), "/");
    }
}
