//! The `ferry` CLI against an [`Env`]'s daemon: the shapes of call the tests repeat (must
//! succeed, must fail, lines, inspect), and pulls through the registry.

use std::io::Write as _;
use std::process::Stdio;

use serde_json::Value;

use crate::fixtures::Index;
use crate::{CmdOutput, Image};

use super::Env;

impl Env {
    /// `ferry <args>`, whatever its exit code.
    pub fn ferry(&self, args: &[&str]) -> CmdOutput {
        self.daemon.ferry(args)
    }

    /// The stdout of `ferry <args>`, which must exit 0 (else a panic with the daemon's log).
    pub fn ok(&self, args: &[&str]) -> String {
        self.daemon.ferry_ok(args).stdout
    }

    /// [`Env::ok`], trimmed.
    pub fn ok_trim(&self, args: &[&str]) -> String {
        self.ok(args).trim().to_owned()
    }

    /// [`Env::ok`], as lines.
    pub fn lines(&self, args: &[&str]) -> Vec<String> {
        self.ok(args).lines().map(String::from).collect()
    }

    /// `ferry <args>`, which must exit 1.
    pub fn fails(&self, args: &[&str]) -> CmdOutput {
        let out = self.daemon.ferry(args);
        assert_eq!(out.code, Some(1), "{args:?} should fail: {out:?}");
        out
    }

    /// `ferry inspect <name>`: the one object it prints.
    pub fn inspect(&self, name: &str) -> Value {
        let out = self.ok(&["inspect", name]);
        let v: Value = serde_json::from_str(&out).expect("inspect prints JSON");
        v[0].clone()
    }

    /// `ferry inspect --format <format> <name>`, trimmed.
    pub fn inspect_format(&self, name: &str, format: &str) -> String {
        self.ok_trim(&["inspect", "--format", format, name])
    }

    /// A container's `State.Status` ("" if it has none).
    pub fn state(&self, name: &str) -> String {
        self.inspect(name)["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs `ferry <args>` with `input` on stdin: (exit code, stdout bytes, stderr).
    pub fn ferry_stdin(&self, args: &[&str], input: &[u8]) -> (Option<i32>, Vec<u8>, String) {
        let mut child = self
            .daemon
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferry");
        let mut stdin = child.stdin.take().expect("stdin piped");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        let out = child.wait_with_output().expect("ferry output");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), out.stdout, err)
    }

    /// Runs `ferry --debug <args>` with the collector's `OTEL_*` variables; returns the output
    /// and the trace ID the CLI printed.
    pub fn traced(&self, args: &[&str]) -> (CmdOutput, String) {
        let env: Vec<(&str, &str)> = self
            .otel
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let argv: Vec<&str> = std::iter::once("--debug")
            .chain(args.iter().copied())
            .collect();
        let out = self.daemon.ferry_with_env(&argv, &env);
        let id = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("trace ID: "))
            .unwrap_or_else(|| panic!("no trace ID printed: {out:?}"))
            .trim()
            .to_string();
        (out, id)
    }

    /// Pushes `image` to the registry as `repo_tag`; returns the reference to pull (through
    /// the proxy if there is one).
    pub fn push(&self, image: &Image, repo_tag: &str) -> String {
        image.push(&self.registry().addr(), repo_tag);
        self.reference(repo_tag)
    }

    /// [`Env::push`] for an index or manifest list.
    pub fn push_index(&self, index: &Index, repo_tag: &str) -> String {
        index.push(&self.registry().addr(), repo_tag);
        self.reference(repo_tag)
    }

    /// Pushes `image` as `repo_tag` and pulls it (`pull -q`); returns the reference.
    pub fn pull(&self, image: &Image, repo_tag: &str) -> String {
        let reference = self.push(image, repo_tag);
        self.ok(&["pull", "-q", &reference]);
        reference
    }
}
