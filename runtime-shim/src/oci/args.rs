//! Pure argv builders for the OCI runtime command line: nothing here runs a process, so the
//! tests compare vectors. Flags always come before positional arguments, since runc (Go's
//! `flag` package) stops parsing flags at the first positional one; crun accepts either.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

/// The OCI runtimes the shim knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Crun,
    Runc,
}

impl RuntimeKind {
    /// Parse a runtime name as ferryd passes it ("crun", "runc").
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "crun" => Some(Self::Crun),
            "runc" => Some(Self::Runc),
            _ => None,
        }
    }

    /// The binary name, looked up on PATH, and the directory name of its state root.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crun => "crun",
            Self::Runc => "runc",
        }
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Options of `create`.
#[derive(Debug, Clone, Copy)]
pub struct CreateOpts<'a> {
    pub bundle: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: &'a Path,
}

/// Options of `exec`; the shim always detaches and learns the pid from the pid file.
#[derive(Debug, Clone, Copy)]
pub struct ExecOpts<'a> {
    pub process: &'a Path,
    pub console_socket: Option<&'a Path>,
    pub pid_file: &'a Path,
}

/// Global options: the runtime's private state root (`--root`), so two ferryds never share
/// state, and optionally `--log`, where the runtime writes its errors when its stderr is the
/// container's (create and exec pass their stdio through).
#[derive(Debug, Clone, Copy)]
pub struct Argv<'a> {
    root: &'a Path,
    log: Option<&'a Path>,
}

impl<'a> Argv<'a> {
    pub fn new(root: &'a Path) -> Self {
        Self { root, log: None }
    }

    /// Add `--log PATH` before the verb.
    pub fn with_log(mut self, log: &'a Path) -> Self {
        self.log = Some(log);
        self
    }

    fn base(&self, verb: &str) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--root".into(), self.root.into()];
        if let Some(l) = self.log {
            v.extend(["--log".into(), l.into()]);
        }
        v.push(verb.into());
        v
    }

    /// `create --bundle B [--console-socket S] --pid-file P ID`
    pub fn create(&self, id: &str, o: CreateOpts<'_>) -> Vec<OsString> {
        let mut v = self.base("create");
        v.extend(["--bundle".into(), o.bundle.into()]);
        if let Some(s) = o.console_socket {
            v.extend(["--console-socket".into(), s.into()]);
        }
        v.extend(["--pid-file".into(), o.pid_file.into(), id.into()]);
        v
    }

    /// `start ID`
    pub fn start(&self, id: &str) -> Vec<OsString> {
        self.one("start", id)
    }

    /// `state ID`
    pub fn state(&self, id: &str) -> Vec<OsString> {
        self.one("state", id)
    }

    /// `pause ID`
    pub fn pause(&self, id: &str) -> Vec<OsString> {
        self.one("pause", id)
    }

    /// `resume ID`
    pub fn resume(&self, id: &str) -> Vec<OsString> {
        self.one("resume", id)
    }

    /// `kill [--all] ID SIG`
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Vec<OsString> {
        let mut v = self.base("kill");
        if all {
            v.push("--all".into());
        }
        v.extend([id.into(), signal.to_string().into()]);
        v
    }

    /// `exec --process P --detach --pid-file F [--tty --console-socket S] ID`
    pub fn exec(&self, id: &str, o: ExecOpts<'_>) -> Vec<OsString> {
        let mut v = self.base("exec");
        v.extend(["--process".into(), o.process.into(), "--detach".into()]);
        v.extend(["--pid-file".into(), o.pid_file.into()]);
        if let Some(s) = o.console_socket {
            v.extend(["--tty".into(), "--console-socket".into(), s.into()]);
        }
        v.push(id.into());
        v
    }

    /// `ps --format json ID`
    pub fn ps(&self, id: &str) -> Vec<OsString> {
        let mut v = self.base("ps");
        v.extend(["--format".into(), "json".into(), id.into()]);
        v
    }

    /// `delete [--force] ID`
    pub fn delete(&self, id: &str, force: bool) -> Vec<OsString> {
        let mut v = self.base("delete");
        if force {
            v.push("--force".into());
        }
        v.push(id.into());
        v
    }

    fn one(&self, verb: &str, id: &str) -> Vec<OsString> {
        let mut v = self.base(verb);
        v.push(id.into());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<OsString>) -> Vec<String> {
        v.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const ROOT: &str = "/run/x/runtime/crun";

    #[test]
    fn create_without_console() {
        let a = Argv::new(Path::new(ROOT));
        let o = CreateOpts {
            bundle: Path::new("/b"),
            console_socket: None,
            pid_file: Path::new("/s/init.pid"),
        };
        assert_eq!(
            s(a.create("c1", o)),
            [
                "--root",
                ROOT,
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/s/init.pid",
                "c1"
            ]
        );
    }

    #[test]
    fn create_with_console() {
        let a = Argv::new(Path::new(ROOT));
        let o = CreateOpts {
            bundle: Path::new("/b"),
            console_socket: Some(Path::new("/s/c.sock")),
            pid_file: Path::new("/s/init.pid"),
        };
        assert_eq!(
            s(a.create("c1", o)),
            [
                "--root",
                ROOT,
                "create",
                "--bundle",
                "/b",
                "--console-socket",
                "/s/c.sock",
                "--pid-file",
                "/s/init.pid",
                "c1"
            ]
        );
    }

    #[test]
    fn log_goes_before_the_verb() {
        let a = Argv::new(Path::new(ROOT)).with_log(Path::new("/s/rt.log"));
        assert_eq!(
            s(a.start("c1")),
            ["--root", ROOT, "--log", "/s/rt.log", "start", "c1"]
        );
    }

    #[test]
    fn simple_verbs() {
        let a = Argv::new(Path::new(ROOT));
        assert_eq!(s(a.start("c1")), ["--root", ROOT, "start", "c1"]);
        assert_eq!(s(a.state("c1")), ["--root", ROOT, "state", "c1"]);
        assert_eq!(s(a.pause("c1")), ["--root", ROOT, "pause", "c1"]);
        assert_eq!(s(a.resume("c1")), ["--root", ROOT, "resume", "c1"]);
        assert_eq!(
            s(a.ps("c1")),
            ["--root", ROOT, "ps", "--format", "json", "c1"]
        );
    }

    #[test]
    fn kill_puts_flags_first() {
        let a = Argv::new(Path::new(ROOT));
        assert_eq!(
            s(a.kill("c1", 15, false)),
            ["--root", ROOT, "kill", "c1", "15"]
        );
        assert_eq!(
            s(a.kill("c1", 9, true)),
            ["--root", ROOT, "kill", "--all", "c1", "9"]
        );
    }

    #[test]
    fn delete_force() {
        let a = Argv::new(Path::new(ROOT));
        assert_eq!(s(a.delete("c1", false)), ["--root", ROOT, "delete", "c1"]);
        assert_eq!(
            s(a.delete("c1", true)),
            ["--root", ROOT, "delete", "--force", "c1"]
        );
    }

    #[test]
    fn exec_detached_with_and_without_tty() {
        let a = Argv::new(Path::new(ROOT));
        let mut o = ExecOpts {
            process: Path::new("/s/e1.json"),
            console_socket: None,
            pid_file: Path::new("/s/e1.pid"),
        };
        assert_eq!(
            s(a.exec("c1", o)),
            [
                "--root",
                ROOT,
                "exec",
                "--process",
                "/s/e1.json",
                "--detach",
                "--pid-file",
                "/s/e1.pid",
                "c1"
            ]
        );
        o.console_socket = Some(Path::new("/s/c.sock"));
        assert_eq!(
            s(a.exec("c1", o)),
            [
                "--root",
                ROOT,
                "exec",
                "--process",
                "/s/e1.json",
                "--detach",
                "--pid-file",
                "/s/e1.pid",
                "--tty",
                "--console-socket",
                "/s/c.sock",
                "c1"
            ]
        );
    }

    #[test]
    fn runtime_names() {
        assert_eq!(RuntimeKind::parse("crun"), Some(RuntimeKind::Crun));
        assert_eq!(RuntimeKind::parse("runc"), Some(RuntimeKind::Runc));
        assert_eq!(RuntimeKind::parse("kata"), None);
        assert_eq!(RuntimeKind::Runc.to_string(), "runc");
    }
}
