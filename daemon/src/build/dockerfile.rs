//! A Dockerfile read into stages of typed steps, everything checked before anything runs:
//! `parse-dockerfile` does the grammar (directives, continuations, comments, heredocs, JSON
//! forms); this module checks flags, the syntax of every word expansion, and stage references,
//! and keeps each step's line for errors. Values are expanded later, when the step's variables
//! are known (`image::Dispatch`).

use std::collections::BTreeMap;

use parse_dockerfile::{Command, Flag, Instruction, JsonOrStringArray, Source};

use super::error::BuildError;
use super::lex::{self, LexError, Vars};

/// A command in shell form (run by the stage's SHELL) or exec form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    Shell(String),
    Exec(Vec<String>),
}

/// A `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunMount {
    /// A directory kept between builds under `id` (default: the target).
    Cache {
        target: String,
        id: String,
    },
    Tmpfs {
        target: String,
    },
    /// Files of the context (`from` None) or of a stage, read-only unless `rw`.
    Bind {
        target: String,
        source: String,
        from: Option<String>,
        rw: bool,
    },
}

/// RUN's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RunOpts {
    pub mounts: Vec<RunMount>,
    /// `--network=default|none|host`.
    pub network: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopySpec {
    pub srcs: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    /// ADD rather than COPY (a local tar archive is extracted).
    pub add: bool,
    /// `COPY <<NAME dest`: files written from the Dockerfile (name, body, expanded or not).
    pub heredocs: Vec<(String, String, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Run(Cmd, RunOpts),
    Copy(CopySpec),
    Workdir(String),
    /// `K=V` words, unexpanded (the legacy `ENV K V` form is turned into one).
    Env(Vec<String>),
    /// Names with their unexpanded defaults.
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<String>),
    Expose(Vec<String>),
    User(String),
    Volume(Vec<String>),
    Entrypoint(Cmd),
    Cmd(Cmd),
    Shell(Vec<String>),
    StopSignal(String),
    /// `None`: HEALTHCHECK NONE; else the options and the command.
    Healthcheck(Option<(Vec<(String, String)>, Cmd)>),
    Onbuild(String),
    Maintainer(String),
}

impl Kind {
    /// Whether the step writes a layer (and so is a numbered BuildKit step). WORKDIR does not:
    /// its directory is made by the RUN or COPY that needs it, and by every container's start.
    pub(crate) fn has_layer(&self) -> bool {
        matches!(self, Kind::Run(..) | Kind::Copy(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub line: usize,
    /// The instruction as written, on one line (for progress and history).
    pub text: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stage {
    /// `AS name`, lowercased.
    pub name: Option<String>,
    /// The base, unexpanded: an image reference, `scratch`, or an earlier stage's name.
    pub base: String,
    pub platform: Option<String>,
    pub line: usize,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dockerfile {
    pub file: String,
    pub escape: char,
    /// ARGs before the first FROM (visible to FROM lines only, unless redeclared).
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Reads `text`; `file` names it in errors.
    pub(crate) fn parse(file: &str, text: &str) -> Result<Dockerfile, BuildError> {
        let parsed = parse_dockerfile::parse(text).map_err(|e| BuildError::Dockerfile {
            file: file.to_string(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let escape = parsed
            .parser_directives
            .escape
            .as_ref()
            .map_or('\\', |d| d.value.value);
        let r = Reader { file, text, escape };
        let mut df = Dockerfile {
            file: file.to_string(),
            escape,
            global_args: Vec::new(),
            stages: Vec::new(),
        };
        for ins in &parsed.instructions {
            r.add(&mut df, ins)?;
        }
        if df.stages.is_empty() {
            return Err(r.err(1, "no build stage in current context".into()));
        }
        r.check_stage_names(&df)?;
        Ok(df)
    }

    /// The index of the stage `name` (an `AS` name, or a number) before stage `before`.
    pub(crate) fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        let by_name = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()));
        by_name.or_else(|| name.parse::<usize>().ok().filter(|i| *i < before))
    }
}

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    escape: char,
}

impl Reader<'_> {
    fn err(&self, line: usize, message: String) -> BuildError {
        BuildError::Dockerfile {
            file: self.file.to_string(),
            line,
            message,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// The instruction's source text on one line: continuations joined, runs of space folded.
    fn one_line(&self, span: std::ops::Range<usize>) -> String {
        let raw = &self.text[span.start..span.end.min(self.text.len())];
        join_continuations(raw, self.escape)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn add(&self, df: &mut Dockerfile, ins: &Instruction<'_>) -> Result<(), BuildError> {
        let (line, text) = self.position(ins);
        if let Instruction::From(f) = ins {
            let platform = self
                .flags(line, &f.options, &["platform"])?
                .remove("platform");
            let base = f.image.value.to_string();
            self.check_words(line, &base)?;
            df.stages.push(Stage {
                name: f.as_.as_ref().map(|(_, n)| n.value.to_ascii_lowercase()),
                base,
                platform,
                line,
                steps: Vec::new(),
            });
            return Ok(());
        }
        let kind = self.kind(line, ins)?;
        match (df.stages.last_mut(), kind) {
            (None, Kind::Arg(args)) => df.global_args.extend(args),
            (None, _) => {
                return Err(self.err(line, "no build stage in current context".into()));
            }
            (Some(stage), kind) => stage.steps.push(Step { line, text, kind }),
        }
        Ok(())
    }

    fn position(&self, ins: &Instruction<'_>) -> (usize, String) {
        let span = instruction_span(ins);
        (self.line_of(span.start), self.one_line(span))
    }

    fn kind(&self, line: usize, ins: &Instruction<'_>) -> Result<Kind, BuildError> {
        let k = match ins {
            Instruction::Run(r) => {
                let opts = self.run_opts(line, &r.options)?;
                if let Some(doc) = r.here_docs.first() {
                    return Ok(Kind::Run(Cmd::Shell(doc.value.to_string()), opts));
                }
                Kind::Run(self.command(&r.arguments), opts)
            }
            Instruction::Copy(c) => {
                let f = self.flags(line, &c.options, &["from", "chown", "chmod", "link"])?;
                Kind::Copy(self.copy(line, f, &c.src, &c.dest.value, false)?)
            }
            Instruction::Add(a) => {
                let f = self.flags(line, &a.options, &["chown", "chmod", "link"])?;
                Kind::Copy(self.copy(line, f, &a.src, &a.dest.value, true)?)
            }
            Instruction::Workdir(w) => Kind::Workdir(self.word(line, &w.arguments.value)?),
            Instruction::Env(e) => Kind::Env(self.pairs(line, &e.arguments.value, "ENV")?),
            Instruction::Label(l) => Kind::Label(self.pairs(line, &l.arguments.value, "LABEL")?),
            Instruction::Arg(a) => Kind::Arg(self.args(line, &a.arguments.value)?),
            Instruction::Expose(e) => Kind::Expose(self.words(line, e.arguments.iter())?),
            Instruction::User(u) => Kind::User(self.word(line, &u.arguments.value)?),
            Instruction::Stopsignal(s) => Kind::StopSignal(self.word(line, &s.arguments.value)?),
            Instruction::Volume(v) => Kind::Volume(match &v.arguments {
                JsonOrStringArray::Json(a) => self.words(line, a.value.iter())?,
                JsonOrStringArray::String(a) => self.words(line, a.iter())?,
            }),
            Instruction::Cmd(c) => Kind::Cmd(self.command(&c.arguments)),
            Instruction::Entrypoint(e) => Kind::Entrypoint(self.command(&e.arguments)),
            Instruction::Shell(s) => {
                Kind::Shell(s.arguments.iter().map(|a| a.value.to_string()).collect())
            }
            Instruction::Healthcheck(h) => self.healthcheck(line, h)?,
            Instruction::Onbuild(o) => {
                let span = instruction_span(&o.instruction);
                Kind::Onbuild(self.one_line(span))
            }
            Instruction::Maintainer(m) => Kind::Maintainer(m.name.value.to_string()),
            Instruction::From(_) => unreachable!("FROM is handled by the caller"),
            _ => return Err(self.err(line, "unknown instruction".into())),
        };
        Ok(k)
    }

    /// `--mount` (repeatable) and `--network`; `--security` is refused.
    fn run_opts(&self, line: usize, given: &[Flag<'_>]) -> Result<RunOpts, BuildError> {
        let mut opts = RunOpts::default();
        for f in given {
            let name = f.name.value.as_ref();
            let value = f
                .value
                .as_ref()
                .map(|v| v.value.to_string())
                .unwrap_or_default();
            match name {
                "mount" => opts.mounts.push(self.mount(line, &value)?),
                "network" if matches!(value.as_str(), "default" | "none" | "host") => {
                    opts.network = Some(value)
                }
                "network" => {
                    return Err(self.err(line, format!("unsupported network mode {value:?}")))
                }
                "security" => return Err(self.unsupported(line, "RUN --security".into())),
                _ => return Err(self.err(line, format!("unknown flag: {name}"))),
            }
        }
        Ok(opts)
    }

    /// `type=cache,target=/x,id=y` and the like (BuildKit's CSV form).
    fn mount(&self, line: usize, spec: &str) -> Result<RunMount, BuildError> {
        let mut kv = BTreeMap::new();
        for field in spec.split(',').filter(|f| !f.is_empty()) {
            let (k, v) = field.split_once('=').unwrap_or((field, "true"));
            kv.insert(k.to_ascii_lowercase(), v.to_string());
        }
        let get = |keys: &[&str]| keys.iter().find_map(|k| kv.get(*k).cloned());
        let kind = get(&["type"]).unwrap_or_else(|| "bind".into());
        if !matches!(kind.as_str(), "cache" | "tmpfs" | "bind") {
            return Err(self.unsupported(line, format!("RUN --mount=type={kind}")));
        }
        let target = get(&["target", "dst", "destination"])
            .ok_or_else(|| self.err(line, format!("mount {spec:?} has no target")))?;
        let rw = get(&["rw", "readwrite"]).is_some_and(|v| v != "false")
            || get(&["readonly", "ro"]).is_some_and(|v| v == "false");
        Ok(match kind.as_str() {
            "cache" => RunMount::Cache {
                id: get(&["id"]).unwrap_or_else(|| target.clone()),
                target,
            },
            "tmpfs" => RunMount::Tmpfs { target },
            _ => RunMount::Bind {
                source: get(&["source", "src"]).unwrap_or_else(|| ".".into()),
                from: get(&["from"]),
                target,
                rw,
            },
        })
    }

    fn unsupported(&self, line: usize, what: String) -> BuildError {
        BuildError::Unsupported {
            file: self.file.to_string(),
            line,
            what,
        }
    }

    /// The flags given, checked against `allowed`: `--name=value` (a bare `--link` is "true").
    fn flags(
        &self,
        line: usize,
        given: &[Flag<'_>],
        allowed: &[&str],
    ) -> Result<BTreeMap<String, String>, BuildError> {
        let mut out = BTreeMap::new();
        for f in given {
            let name = f.name.value.to_string();
            if !allowed.contains(&name.as_str()) {
                return Err(self.err(line, format!("unknown flag: {name}")));
            }
            let value = f
                .value
                .as_ref()
                .map_or("true".into(), |v| v.value.to_string());
            self.check_words(line, &value)?;
            out.insert(name, value);
        }
        Ok(out)
    }

    fn command(&self, c: &Command<'_>) -> Cmd {
        match c {
            Command::Exec(a) => Cmd::Exec(a.value.iter().map(|s| s.value.to_string()).collect()),
            Command::Shell(s) => Cmd::Shell(join_continuations(s.value, self.escape)),
            // A form a later parse-dockerfile may add: nothing to run (refused at run time).
            _ => Cmd::Exec(Vec::new()),
        }
    }

    fn copy(
        &self,
        line: usize,
        mut flags: BTreeMap<String, String>,
        src: &[Source<'_>],
        dest: &str,
        add: bool,
    ) -> Result<CopySpec, BuildError> {
        let mut srcs = Vec::new();
        let mut heredocs = Vec::new();
        for s in src {
            match s {
                Source::Path(p) => {
                    self.check_words(line, &p.value)?;
                    srcs.push(p.value.to_string());
                }
                Source::HereDoc(d) => {
                    // The delimiter is the line that ends the body.
                    let rest = self.text.get(d.span.end..).unwrap_or_default();
                    let name = rest.lines().next().unwrap_or_default().trim().to_string();
                    heredocs.push((name, d.value.to_string(), d.expand));
                }
                _ => return Err(self.unsupported(line, "this COPY source".into())),
            }
        }
        if !heredocs.is_empty() && (!srcs.is_empty() || flags.contains_key("from")) {
            return Err(self.unsupported(line, "a heredoc beside other sources".into()));
        }
        self.check_words(line, dest)?;
        if add && srcs.iter().any(|s| s.contains("://")) {
            return Err(self.unsupported(line, "ADD from a URL".into()));
        }
        Ok(CopySpec {
            srcs,
            dest: dest.to_string(),
            from: flags.remove("from"),
            chown: flags.remove("chown"),
            chmod: flags.remove("chmod"),
            add,
            heredocs,
        })
    }

    /// One word, its expansions' syntax checked.
    fn word(&self, line: usize, s: &str) -> Result<String, BuildError> {
        self.check_words(line, s)?;
        Ok(s.trim().to_string())
    }

    fn words<'s>(
        &self,
        line: usize,
        it: impl Iterator<Item = &'s parse_dockerfile::UnescapedString<'s>>,
    ) -> Result<Vec<String>, BuildError> {
        it.map(|w| self.word(line, &w.value)).collect()
    }

    /// `K=V K2="a b"` (or the legacy `K V…` of ENV and LABEL), each unexpanded.
    fn pairs(&self, line: usize, s: &str, what: &str) -> Result<Vec<String>, BuildError> {
        let words = lex::split_raw(s, self.escape);
        if words.is_empty() {
            return Err(self.err(line, format!("{what} requires at least one argument")));
        }
        if !words[0].contains('=') {
            let rest = s.trim_start()[words[0].len()..].trim();
            if rest.is_empty() {
                return Err(self.err(line, format!("{what} names {} without a value", words[0])));
            }
            self.check_words(line, rest)?;
            return Ok(vec![format!("{}={rest}", words[0])]);
        }
        for w in &words {
            if !w.contains('=') || w.starts_with('=') {
                return Err(self.err(
                    line,
                    format!("{what} {w}: names must be followed by '=' and a value"),
                ));
            }
            self.check_words(line, w)?;
        }
        Ok(words)
    }

    fn args(&self, line: usize, s: &str) -> Result<Vec<(String, Option<String>)>, BuildError> {
        let words = lex::split_raw(s, self.escape);
        if words.is_empty() {
            return Err(self.err(line, "ARG requires at least one argument".into()));
        }
        words
            .into_iter()
            .map(|w| {
                self.check_words(line, &w)?;
                Ok(match w.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (w, None),
                })
            })
            .collect()
    }

    fn healthcheck(
        &self,
        line: usize,
        h: &parse_dockerfile::HealthcheckInstruction<'_>,
    ) -> Result<Kind, BuildError> {
        let allowed = [
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ];
        let flags = self.flags(line, &h.options, &allowed)?;
        Ok(match &h.arguments {
            parse_dockerfile::HealthcheckArguments::Cmd { arguments, .. } => {
                Kind::Healthcheck(Some((flags.into_iter().collect(), self.command(arguments))))
            }
            _ => Kind::Healthcheck(None),
        })
    }

    /// Fails on an expansion that can never succeed (`${`, `${A:=x}`); an unset `${V:?}` is
    /// only known when the step runs.
    fn check_words(&self, line: usize, s: &str) -> Result<(), BuildError> {
        match lex::expand(s, &Vars::new(), self.escape) {
            Ok(_) | Err(LexError::Unset { .. }) => Ok(()),
            Err(e) => Err(self.err(line, e.to_string())),
        }
    }

    fn check_stage_names(&self, df: &Dockerfile) -> Result<(), BuildError> {
        for (i, st) in df.stages.iter().enumerate() {
            for step in &st.steps {
                if let Kind::Copy(CopySpec { from: Some(f), .. }) = &step.kind {
                    if f.contains('$') || df.stage_index(f, i).is_some() || f.contains(['/', ':']) {
                        continue;
                    }
                    if df
                        .stages
                        .iter()
                        .any(|s| s.name.as_deref() == Some(f.as_str()))
                    {
                        return Err(
                            self.err(step.line, format!("stage {f} is defined after it is used"))
                        );
                    }
                }
            }
        }
        Ok(())
    }
}

/// Removes line continuations (the escape character before a newline) as BuildKit does, and
/// comment lines inside them.
fn join_continuations(s: &str, escape: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut lines = s.split('\n').peekable();
    while let Some(l) = lines.next() {
        let l = l.strip_suffix('\r').unwrap_or(l);
        match l.strip_suffix(escape) {
            Some(head) if lines.peek().is_some() => out.push_str(head),
            _ if l.trim_start().starts_with('#') && !out.is_empty() => {}
            _ => {
                out.push_str(l);
                if lines.peek().is_some() {
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn instruction_span(ins: &Instruction<'_>) -> std::ops::Range<usize> {
    // parse-dockerfile keeps the keyword's span; the instruction runs to the end of its last
    // argument, which the arguments' spans give.
    let (kw, end) = match ins {
        Instruction::Add(i) => (i.add.span.clone(), i.dest.span.end),
        Instruction::Arg(i) => (i.arg.span.clone(), i.arguments.span.end),
        Instruction::Cmd(i) => (i.cmd.span.clone(), command_end(&i.arguments)),
        Instruction::Copy(i) => (i.copy.span.clone(), i.dest.span.end),
        Instruction::Entrypoint(i) => (i.entrypoint.span.clone(), command_end(&i.arguments)),
        Instruction::Env(i) => (i.env.span.clone(), i.arguments.span.end),
        Instruction::Expose(i) => (
            i.expose.span.clone(),
            i.arguments.last().map_or(0, |a| a.span.end),
        ),
        Instruction::From(i) => (
            i.from.span.clone(),
            i.as_.as_ref().map_or(i.image.span.end, |(_, n)| n.span.end),
        ),
        Instruction::Healthcheck(i) => (i.healthcheck.span.clone(), 0),
        Instruction::Label(i) => (i.label.span.clone(), i.arguments.span.end),
        Instruction::Maintainer(i) => (i.maintainer.span.clone(), i.name.span.end),
        Instruction::Onbuild(i) => (i.onbuild.span.clone(), instruction_span(&i.instruction).end),
        Instruction::Run(i) => (i.run.span.clone(), command_end(&i.arguments)),
        Instruction::Shell(i) => (
            i.shell.span.clone(),
            i.arguments.last().map_or(0, |a| a.span.end),
        ),
        Instruction::Stopsignal(i) => (i.stopsignal.span.clone(), i.arguments.span.end),
        Instruction::User(i) => (i.user.span.clone(), i.arguments.span.end),
        Instruction::Volume(i) => (
            i.volume.span.clone(),
            match &i.arguments {
                JsonOrStringArray::Json(a) => a.span.end,
                JsonOrStringArray::String(a) => a.last().map_or(0, |a| a.span.end),
            },
        ),
        Instruction::Workdir(i) => (i.workdir.span.clone(), i.arguments.span.end),
        _ => (0..0, 0),
    };
    kw.start..end.max(kw.end)
}

fn command_end(c: &Command<'_>) -> usize {
    match c {
        Command::Exec(a) => a.span.end,
        Command::Shell(s) => s.span.end,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Dockerfile, BuildError> {
        Dockerfile::parse("Dockerfile", s)
    }

    #[test]
    fn stages_steps_and_global_args() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nARG BASE=busybox\nFROM ${BASE} AS Build\nRUN echo a \\\n  && echo b\nCOPY --chown=1:2 a b /dst/\nFROM scratch\nCOPY --from=build /x /x\nCMD [\"/x\"]\n",
        )
        .unwrap();
        assert_eq!(
            df.global_args,
            [("BASE".to_string(), Some("busybox".to_string()))]
        );
        assert_eq!(df.stages.len(), 2);
        let s0 = &df.stages[0];
        assert_eq!(
            (s0.name.as_deref(), s0.base.as_str(), s0.line),
            (Some("build"), "${BASE}", 3)
        );
        assert_eq!(s0.steps[0].line, 4);
        assert_eq!(
            s0.steps[0].kind,
            Kind::Run(Cmd::Shell("echo a   && echo b".into()), RunOpts::default())
        );
        assert_eq!(s0.steps[0].text, "RUN echo a && echo b");
        let Kind::Copy(c) = &s0.steps[1].kind else {
            panic!()
        };
        assert_eq!(
            (c.srcs.len(), c.dest.as_str(), c.chown.as_deref()),
            (2, "/dst/", Some("1:2"))
        );
        assert_eq!(df.stage_index("build", 1), Some(0));
        assert_eq!(df.stage_index("0", 1), Some(0));
        assert_eq!(
            df.stages[1].steps[1].kind,
            Kind::Cmd(Cmd::Exec(vec!["/x".into()]))
        );
    }

    #[test]
    fn env_and_label_forms() {
        let df =
            parse("FROM scratch\nENV A=1 B=\"x y\"\nENV LEGACY some value\nLABEL a=b\n").unwrap();
        let kinds: Vec<&Kind> = df.stages[0].steps.iter().map(|s| &s.kind).collect();
        assert_eq!(kinds[0], &Kind::Env(vec!["A=1".into(), "B=\"x y\"".into()]));
        assert_eq!(kinds[1], &Kind::Env(vec!["LEGACY=some value".into()]));
        assert_eq!(kinds[2], &Kind::Label(vec!["a=b".into()]));
    }

    #[test]
    fn errors_name_the_file_and_line_before_anything_runs() {
        let e = |s: &str| parse(s).unwrap_err().to_string();
        assert!(
            e("FROM scratch\nFOO bar\n").starts_with("Dockerfile:2:"),
            "{}",
            e("FROM scratch\nFOO bar\n")
        );
        assert_eq!(
            e("FROM scratch\nCOPY --nope a b\n"),
            "Dockerfile:2: unknown flag: nope"
        );
        assert_eq!(
            e("FROM scratch\nWORKDIR ${A\n"),
            "Dockerfile:2: syntax error: missing '}'"
        );
        assert!(
            e("RUN true\n").starts_with("Dockerfile:1: "),
            "{}",
            e("RUN true\n")
        );
        assert_eq!(
            e("FROM scratch\nRUN --mount=type=secret,id=x true\n"),
            "Dockerfile:2: RUN --mount=type=secret is not supported"
        );
        assert_eq!(
            e("FROM scratch\nRUN --mount=type=cache true\n"),
            "Dockerfile:2: mount \"type=cache\" has no target"
        );
        assert_eq!(
            e("FROM scratch\nRUN --network=bridge true\n"),
            "Dockerfile:2: unsupported network mode \"bridge\""
        );
        assert_eq!(
            e("FROM scratch\nENV A\n"),
            "Dockerfile:2: ENV names A without a value"
        );
        assert_eq!(
            e("FROM scratch\nCOPY --from=later /a /a\nFROM scratch AS later\n"),
            "Dockerfile:2: stage later is defined after it is used"
        );
        assert!(e("").starts_with("Dockerfile:"), "{}", e(""));
    }

    #[test]
    fn run_mounts_and_network() {
        let df = parse("FROM scratch\nRUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=src,target=/src,rw --mount=type=tmpfs,dst=/t --network=none make\n").unwrap();
        let Kind::Run(_, opts) = &df.stages[0].steps[0].kind else {
            panic!()
        };
        assert_eq!(opts.network.as_deref(), Some("none"));
        assert_eq!(
            opts.mounts,
            [
                RunMount::Cache {
                    target: "/root/.cache".into(),
                    id: "/root/.cache".into()
                },
                RunMount::Bind {
                    target: "/src".into(),
                    source: "src".into(),
                    from: None,
                    rw: true
                },
                RunMount::Tmpfs {
                    target: "/t".into()
                },
            ]
        );
    }

    #[test]
    fn copy_heredocs_keep_their_name_and_body() {
        let df = parse("FROM scratch\nCOPY <<CONF /etc/app.conf\nkey=$V\nCONF\n").unwrap();
        let Kind::Copy(c) = &df.stages[0].steps[0].kind else {
            panic!()
        };
        assert_eq!(
            c.heredocs,
            [("CONF".to_string(), "key=$V\n".to_string(), true)]
        );
        assert!(c.srcs.is_empty());
    }

    #[test]
    fn heredoc_runs_its_body() {
        let df = parse("FROM scratch\nRUN <<EOF\necho hi\nEOF\n").unwrap();
        assert_eq!(
            df.stages[0].steps[0].kind,
            Kind::Run(Cmd::Shell("echo hi\n".into()), RunOpts::default())
        );
    }
}
