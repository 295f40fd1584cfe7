//! One build: the plan (the Dockerfile read, the names, the target, the ARG sources, all
//! checked up front), then the stages the target needs in file order, each step either found
//! in the cache or run, then the image committed under its names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ferry_image_service::built::{self, cache};
use ferry_image_service::distribution::{Platform, MAX_MANIFEST_BYTES};
use ferry_image_service::images::{normalize, ImageRecord, LayerRecord};
use ferry_image_service::leases::Lease;
use ferry_image_service::pull::platform_string;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::copy::{self, CopyPlan};
use super::dockerfile::{Cmd, CopySpec, Dockerfile, Kind, RunMount, RunOpts, Stage, Step};
use super::error::BuildError;
use super::image::{self, ArgSources, History, ImageDoc, Scope};
use super::lex::{self, LexError};
use super::run::{self, RunSpec};
use super::step::StepRoot;
use super::{BuildRequest, Builder, Built, Progress};
use crate::containers::record::MountConfig;
use crate::error::{Error, Result};

/// The build as planned before anything runs.
#[derive(Debug)]
pub(crate) struct Plan {
    df: Dockerfile,
    names: Vec<String>,
    target: usize,
    args: ArgSources,
    platform: Platform,
    no_cache: bool,
    /// `--pull`: base images are pulled even when present.
    pull: bool,
    labels: BTreeMap<String, String>,
    epoch: Option<i64>,
}

impl Plan {
    pub(crate) fn new(req: &BuildRequest) -> Result<Plan> {
        let file = if req.dockerfile_name.is_empty() {
            "Dockerfile"
        } else {
            &req.dockerfile_name
        };
        let df = Dockerfile::parse(file, &req.dockerfile)?;
        let names = req
            .tags
            .iter()
            .map(|t| {
                normalize(t).ok_or_else(|| {
                    BuildError::Invalid(format!("invalid tag {t:?}: invalid reference format"))
                })
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let target = match req.target.as_str() {
            "" => df.stages.len() - 1,
            t => df
                .stage_index(t, df.stages.len())
                .ok_or_else(|| BuildError::UnknownTarget(t.to_string()))?,
        };
        let host = build_platform(&req.platform)?;
        let args = arg_sources(&df, &req.build_args)?;
        Ok(Plan {
            df,
            names,
            target,
            args,
            platform: host,
            no_cache: req.no_cache,
            pull: req.pull,
            labels: req.labels.clone(),
            epoch: req.source_date_epoch,
        })
    }
}

/// The platform built: the host's; `--platform` may name it, and no other.
fn build_platform(asked: &str) -> Result<Platform> {
    let host = Platform::host();
    if asked.is_empty() {
        return Ok(host);
    }
    let want = Platform::parse(asked).map_err(ferry_image_service::Error::from)?;
    if platform_string(&want) != platform_string(&host) {
        return Err(BuildError::Invalid(format!(
            "platform {asked} cannot be built on this {} host",
            platform_string(&host)
        ))
        .into());
    }
    Ok(host)
}

/// The global ARGs' values (a `--build-arg` wins over the default) beside the build args.
fn arg_sources(df: &Dockerfile, build_args: &BTreeMap<String, String>) -> Result<ArgSources> {
    let mut globals = lex::Vars::new();
    for (name, default) in &df.global_args {
        let v =
            match (build_args.get(name), default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(d)) => Some(lex::expand(d, &globals, df.escape).map_err(|e| {
                    BuildError::Dockerfile {
                        file: df.file.clone(),
                        line: 1,
                        message: e.to_string(),
                    }
                })?),
                (None, None) => None,
            };
        if let Some(v) = v {
            globals.insert(name.clone(), v);
        }
    }
    Ok(ArgSources {
        build_args: build_args.clone(),
        globals,
    })
}

/// What a stage has built so far.
#[derive(Debug, Clone)]
struct State {
    doc: ImageDoc,
    layers: Vec<LayerRecord>,
    /// The cache key of this state: every later step's key starts from it.
    key: String,
    scope: Scope,
}

impl State {
    fn chain_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| l.chain_id.clone()).collect()
    }
}

pub(crate) struct Job<'a> {
    b: &'a Builder,
    plan: Plan,
    context: &'a Path,
    progress: mpsc::Sender<Progress>,
    next: u32,
    stages: Vec<Option<State>>,
    /// Keeps every blob and snapshot this build uses or made from GC until the end.
    leases: Vec<Lease>,
}

impl std::fmt::Debug for Job<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("next", &self.next).finish()
    }
}

impl<'a> Job<'a> {
    pub(crate) fn new(
        b: &'a Builder,
        plan: Plan,
        context: &'a Path,
        progress: mpsc::Sender<Progress>,
    ) -> Self {
        let n = plan.df.stages.len();
        Job {
            b,
            plan,
            context,
            progress,
            next: 0,
            stages: vec![None; n],
            leases: Vec::new(),
        }
    }

    pub(crate) async fn run(mut self) -> Result<Built> {
        let state = self.stage(self.plan.target).await?;
        let step = self.start("exporting to image".into()).await;
        let t = Instant::now();
        let mut doc = state.doc.clone();
        if !self.plan.labels.is_empty() {
            let labels = doc.config.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(self.plan.labels.clone());
        }
        let config = serde_json::to_vec(&doc).map_err(|e| BuildError::Invalid(e.to_string()))?;
        let (store, names, layers) = (
            self.b.store().clone(),
            self.plan.names.clone(),
            state.layers.clone(),
        );
        let done = tokio::task::spawn_blocking(move || {
            built::commit_image(&store, &names, &config, &layers, "build")
        })
        .await
        .map_err(Error::blocking("build commit"))??;
        let image_id = done.first().map(|d| d.id.clone()).unwrap_or_default();
        self.log(step, format!("writing image {image_id} done"))
            .await;
        for n in &self.plan.names {
            self.log(step, format!("naming to {n} done")).await;
        }
        self.done(step, t).await;
        Ok(Built {
            image_id,
            names: self.plan.names.clone(),
        })
    }

    /// Builds stage `i` (and, first, the stages it needs), once.
    async fn stage(&mut self, i: usize) -> Result<State> {
        if let Some(s) = &self.stages[i] {
            return Ok(s.clone());
        }
        let stage = self.plan.df.stages[i].clone();
        let total = 1 + stage.steps.iter().filter(|s| s.kind.has_layer()).count();
        let label = self.stage_label(i, &stage);
        let (mut state, from_image) = Box::pin(self.base(i, &stage, &label, total)).await?;
        if from_image {
            for step in self.triggers(&mut state, &stage)? {
                let name = format!("[{label}onbuild] {}", step.text);
                state = self.any_step(i, &step, state, name).await?;
            }
        }
        let mut n = 1;
        for step in &stage.steps {
            if step.kind.has_layer() {
                n += 1;
                let name = format!("[{label}{n}/{total}] {}", step.text);
                state = Box::pin(self.layer_step(i, step, state, name)).await?;
            } else {
                self.config_step(step, &mut state)?;
            }
        }
        self.stages[i] = Some(state.clone());
        Ok(state)
    }

    /// A step of either kind (the ONBUILD triggers).
    async fn any_step(
        &mut self,
        i: usize,
        step: &Step,
        mut state: State,
        name: String,
    ) -> Result<State> {
        if step.kind.has_layer() {
            return Box::pin(self.layer_step(i, step, state, name)).await;
        }
        self.config_step(step, &mut state)?;
        Ok(state)
    }

    /// The base image's ONBUILD instructions, read as steps of this stage (at its FROM line);
    /// the image built here carries none of them, as in Docker.
    fn triggers(&self, state: &mut State, stage: &Stage) -> Result<Vec<Step>> {
        let Some(triggers) = state.doc.config.on_build.take() else {
            return Ok(Vec::new());
        };
        let file = &self.plan.df.file;
        let mut steps = Vec::new();
        for t in triggers {
            let df = Dockerfile::parse(file, &format!("FROM scratch\n{t}\n")).map_err(|e| {
                BuildError::Dockerfile {
                    file: file.clone(),
                    line: stage.line,
                    message: format!("ONBUILD {t}: {e}"),
                }
            })?;
            for mut step in df.stages.into_iter().flat_map(|s| s.steps) {
                step.line = stage.line;
                steps.push(step);
            }
        }
        Ok(steps)
    }

    /// BuildKit's "[name i/n]" prefix: empty for a one-stage file, else the stage's name.
    fn stage_label(&self, i: usize, stage: &Stage) -> String {
        if self.plan.df.stages.len() == 1 {
            return String::new();
        }
        format!(
            "{} ",
            stage.name.clone().unwrap_or_else(|| format!("stage-{i}"))
        )
    }

    /// The stage's base, and whether it is an image (whose ONBUILD triggers then run).
    async fn base(
        &mut self,
        i: usize,
        stage: &Stage,
        label: &str,
        total: usize,
    ) -> Result<(State, bool)> {
        let vars = self.plan.args.globals.clone();
        let base = lex::expand(&stage.base, &vars, self.plan.df.escape)
            .map_err(|e| self.lex_err(stage.line, e))?;
        let step = self.start(format!("[{label}1/{total}] FROM {base}")).await;
        let t = Instant::now();
        let state = if base.eq_ignore_ascii_case("scratch") {
            (self.scratch(), false)
        } else if let Some(j) = self.plan.df.stage_index(&base, i) {
            let mut s = self.stage(j).await?;
            s.scope = Scope::default();
            (s, false)
        } else {
            (self.image(&base).await?, true)
        };
        self.done(step, t).await;
        Ok(state)
    }

    fn scratch(&self) -> State {
        let doc = ImageDoc {
            architecture: self.plan.platform.architecture.clone(),
            os: self.plan.platform.os.clone(),
            variant: self.plan.platform.variant.clone(),
            config: image::RunConfig {
                env: Some(vec![format!(
                    "PATH={}",
                    crate::containers::spec::DEFAULT_PATH
                )]),
                ..Default::default()
            },
            ..Default::default()
        };
        State {
            doc,
            layers: Vec::new(),
            key: key(&["scratch"]),
            scope: Scope::default(),
        }
    }

    /// An image from the store, pulled first if it is not there (as `docker build` does).
    async fn image(&mut self, reference: &str) -> Result<State> {
        let store = self.b.store();
        let rec = match (self.plan.pull, store.meta.resolve_image(reference)) {
            (false, Ok(r)) => r,
            (_, Ok(_)) | (_, Err(ferry_image_service::Error::ImageNotFound(_))) => {
                self.pull(reference).await?
            }
            (_, Err(e)) => return Err(e.into()),
        };
        self.hold(&rec);
        let doc = self.read_doc(&rec.config_digest)?;
        Ok(State {
            doc,
            layers: rec.layers.clone(),
            key: key(&["image", &rec.config_digest]),
            scope: Scope::default(),
        })
    }

    /// Pulls a base image (missing, or `--pull`), as `docker build` does.
    async fn pull(&self, reference: &str) -> Result<ImageRecord> {
        let (tx, mut rx) = mpsc::channel(64);
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let platform = platform_string(&self.plan.platform);
        let pulled = self
            .b
            .puller
            .pull(reference, &platform, tx, CancellationToken::new())
            .await;
        let _ = drain.await;
        Ok(self.b.store().meta.resolve_image(&pulled?.image_id)?)
    }

    fn read_doc(&self, config_digest: &str) -> Result<ImageDoc> {
        let raw = self
            .b
            .store()
            .content
            .read_small(config_digest, MAX_MANIFEST_BYTES as u64)?;
        serde_json::from_slice(&raw).map_err(|e| {
            Error::Image(ferry_image_service::Error::InvalidConfig {
                digest: config_digest.to_string(),
                reason: e.to_string(),
            })
        })
    }

    /// Leases an image's (or a cache entry's) blobs and snapshots for the rest of the build.
    fn hold(&mut self, rec: &ImageRecord) {
        let keys = rec
            .blobs
            .iter()
            .cloned()
            .chain(rec.chain_ids().map(str::to_string));
        self.leases.push(self.b.store().leases.acquire(keys));
    }

    fn config_step(&self, step: &Step, state: &mut State) -> Result<()> {
        image::apply(
            &mut state.doc,
            &mut state.scope,
            &step.kind,
            &self.plan.args,
            self.plan.df.escape,
        )
        .map_err(|e| self.lex_err(step.line, e))?;
        let created = state.doc.created.clone();
        state.doc.history.push(History {
            created,
            created_by: Some(step.text.clone()),
            comment: None,
            empty_layer: Some(true),
        });
        Ok(())
    }

    async fn layer_step(
        &mut self,
        i: usize,
        step: &Step,
        parent: State,
        name: String,
    ) -> Result<State> {
        let span = tracing::info_span!("build_step", name = %name, cached = tracing::field::Empty);
        let id = self.start(name).await;
        let t = Instant::now();
        let res = async {
            match &step.kind {
                Kind::Run(cmd, opts) => self.run_step(i, id, &parent, cmd, opts).await,
                Kind::Copy(spec) => self.copy_step(i, step, &parent, spec).await,
                _ => unreachable!("has_layer() is true only for RUN and COPY"),
            }
        }
        .instrument(span.clone())
        .await;
        if let Ok((_, cached)) = &res {
            span.record("cached", cached);
        }
        match res {
            Ok((state, cached)) => {
                if cached {
                    self.send(Progress::Cached { step: id }).await;
                } else {
                    self.done(id, t).await;
                }
                Ok(state)
            }
            Err(e) => {
                self.send(Progress::Error {
                    step: id,
                    message: e.to_string(),
                })
                .await;
                Err(e)
            }
        }
    }

    async fn run_step(
        &mut self,
        i: usize,
        id: u32,
        parent: &State,
        cmd: &Cmd,
        opts: &RunOpts,
    ) -> Result<(State, bool)> {
        let argv = parent.doc.config.argv(cmd);
        let env = run_env(parent);
        let binds = self.bind_roots(i, opts).await?;
        let mounts_key = self.mounts_key(opts, &binds).await?;
        let k = key(&[
            &parent.key,
            "RUN",
            &argv.join("\0"),
            &env.join("\0"),
            &mounts_key,
        ]);
        if let Some(hit) = self.cached(&k, parent)? {
            return Ok((hit, true));
        }
        let spec = RunSpec {
            argv: argv.clone(),
            env,
            image: runtime_config(&parent.doc.config)?,
            step: id,
            mounts: self.mount_configs(opts, &binds)?,
            network: match opts.network.as_deref() {
                Some("none") => "none".into(),
                _ => "host".into(),
            },
        };
        let (data, exec) = self.b.data_roots();
        let root = StepRoot::mount(self.b.store(), data, exec, &parent.chain_ids())?;
        let code = run::run(&self.b.containers, &root, &spec, &self.progress).await?;
        drop(binds);
        if code != 0 {
            return Err(run::failed(&argv, code).into());
        }
        let created_by = format!("RUN {} # buildkit", argv.join(" "));
        let state = self.commit_root(root, parent, k, created_by).await?;
        Ok((state, false))
    }

    /// For each `--mount=type=bind`, the root its files come from (the context, or a stage's
    /// root mounted for the RUN's duration); None for the other mounts.
    async fn bind_roots(&mut self, i: usize, opts: &RunOpts) -> Result<Vec<Option<BindRoot>>> {
        let mut out = Vec::new();
        for m in &opts.mounts {
            out.push(match m {
                RunMount::Bind { from, .. } => {
                    let stage = self.copy_source(i, from.as_deref()).await?;
                    let dir = stage
                        .as_ref()
                        .map_or(self.context.to_path_buf(), |r| r.rootfs());
                    Some(BindRoot { dir, _stage: stage })
                }
                _ => None,
            });
        }
        Ok(out)
    }

    /// The mounts as they shape the key: their specs, and a bind's files (content, not mtimes).
    async fn mounts_key(&self, opts: &RunOpts, binds: &[Option<BindRoot>]) -> Result<String> {
        let mut parts = vec![format!("{:?}", opts)];
        for (m, b) in opts.mounts.iter().zip(binds) {
            if let (RunMount::Bind { source, .. }, Some(b)) = (m, b) {
                let (dir, src) = (b.dir.clone(), source.clone());
                let scratch = self.b.containers.data_root.join("build");
                let digest =
                    tokio::task::spawn_blocking(move || copy::tree_digest(&dir, &src, &scratch))
                        .await
                        .map_err(Error::blocking("build mount"))??;
                parts.push(digest);
            }
        }
        Ok(parts.join("\0"))
    }

    /// The mounts as the container spec takes them: caches under `build/cache-mounts/` (kept
    /// between builds, emptied by `builder prune`), tmpfs, and binds confined to their root.
    fn mount_configs(
        &self,
        opts: &RunOpts,
        binds: &[Option<BindRoot>],
    ) -> Result<Vec<MountConfig>> {
        let mut out = Vec::new();
        for (m, b) in opts.mounts.iter().zip(binds) {
            let (kind, source, destination, read_only) = match (m, b) {
                (RunMount::Cache { target, id }, _) => {
                    let dir = cache_mounts(&self.b.containers.data_root).join(key(&[id]));
                    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
                    ("bind", dir, target, false)
                }
                (RunMount::Tmpfs { target }, _) => ("tmpfs", PathBuf::new(), target, false),
                (
                    RunMount::Bind {
                        target, source, rw, ..
                    },
                    Some(b),
                ) => ("bind", copy::bind_source(&b.dir, source)?, target, !rw),
                (RunMount::Bind { .. }, None) => unreachable!("bind_roots gives every bind a root"),
            };
            out.push(MountConfig {
                kind: kind.into(),
                source: source.display().to_string(),
                destination: destination.clone(),
                read_only,
                create_source: false,
            });
        }
        Ok(out)
    }

    async fn copy_step(
        &mut self,
        i: usize,
        step: &Step,
        parent: &State,
        spec: &CopySpec,
    ) -> Result<(State, bool)> {
        let (data, exec) = self.b.data_roots();
        let root = StepRoot::mount(self.b.store(), data, exec, &parent.chain_ids())?;
        let mut plan = self.copy_plan(step, parent, spec, &root.rootfs())?;
        let source = self.copy_source(i, spec.from.as_deref()).await?;
        let mut src_dir = source
            .as_ref()
            .map_or(self.context.to_path_buf(), |r| r.rootfs());
        if !spec.heredocs.is_empty() {
            src_dir = root.paths.state.join("heredocs");
            plan.srcs = self.write_heredocs(step, parent, &spec.heredocs, &src_dir)?;
        }
        let tar = root.paths.state.join("copy.tar");
        let (p, t) = (plan.clone(), tar.clone());
        let digest = tokio::task::spawn_blocking(move || copy::write_tar(&src_dir, &p, &t))
            .await
            .map_err(Error::blocking("build copy"))??;
        drop(source);
        let verb = if spec.add { "ADD" } else { "COPY" };
        let k = key(&[&parent.key, verb, &digest]);
        if let Some(hit) = self.cached(&k, parent)? {
            return Ok((hit, true));
        }
        let rootfs = root.rootfs();
        tokio::task::spawn_blocking(move || copy::apply(&tar, &rootfs))
            .await
            .map_err(Error::blocking("build copy"))??;
        let created_by = format!("{} # buildkit", step.text);
        let state = self.commit_root(root, parent, k, created_by).await?;
        Ok((state, false))
    }

    /// The COPY with its words expanded, its destination made absolute (a trailing `/` kept),
    /// `--chown` resolved in the step's own root and `--chmod` parsed.
    fn copy_plan(
        &self,
        step: &Step,
        parent: &State,
        spec: &CopySpec,
        rootfs: &Path,
    ) -> Result<CopyPlan> {
        let vars = parent.scope.vars(&parent.doc.config);
        let esc = self.plan.df.escape;
        let ex = |w: &str| lex::expand(w, &vars, esc).map_err(|e| self.lex_err(step.line, e));
        let srcs = spec
            .srcs
            .iter()
            .map(|s| ex(s))
            .collect::<Result<Vec<_>>>()?;
        let dest = ex(&spec.dest)?;
        let mut dest_abs = image::workdir(parent.doc.config.working_dir.as_deref(), &dest);
        if (dest.ends_with('/') || dest == ".") && !dest_abs.ends_with('/') {
            dest_abs.push('/');
        }
        let owner = match &spec.chown {
            Some(c) => {
                let u = crate::containers::spec::resolve_user(rootfs, Some(&ex(c)?))?;
                Some((u.uid, u.gid))
            }
            None => None,
        };
        let mode = spec.chmod.as_deref().map(copy::parse_chmod).transpose()?;
        Ok(CopyPlan {
            srcs,
            dest: dest_abs,
            owner,
            mode,
            extract: spec.add,
        })
    }

    /// Writes `COPY <<NAME` bodies as files named NAME in `dir` (expanded unless the delimiter
    /// was quoted); returns their names.
    fn write_heredocs(
        &self,
        step: &Step,
        parent: &State,
        docs: &[(String, String, bool)],
        dir: &Path,
    ) -> Result<Vec<String>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let vars = parent.scope.vars(&parent.doc.config);
        let mut names = Vec::new();
        for (name, body, expand) in docs {
            let body = match expand {
                true => lex::expand_heredoc(body, &vars).map_err(|e| self.lex_err(step.line, e))?,
                false => body.clone(),
            };
            if name.is_empty() || name.contains('/') || name == ".." {
                return Err(BuildError::Invalid(format!("invalid heredoc name {name:?}")).into());
            }
            let p = dir.join(name);
            std::fs::write(&p, body).map_err(|e| Error::io("write", &p, e))?;
            names.push(name.clone());
        }
        Ok(names)
    }

    /// The files a COPY reads: the context (None), or another stage's (or image's) root.
    async fn copy_source(&mut self, i: usize, from: Option<&str>) -> Result<Option<StepRoot>> {
        let Some(from) = from else { return Ok(None) };
        let state = match self.plan.df.stage_index(from, i) {
            Some(j) => Box::pin(self.stage(j)).await?,
            None => self.image(from).await?,
        };
        let (data, exec) = self.b.data_roots();
        Ok(Some(StepRoot::mount(
            self.b.store(),
            data,
            exec,
            &state.chain_ids(),
        )?))
    }

    /// A cache hit for `k` (unless --no-cache): the entry's layers and config.
    fn cached(&mut self, k: &str, parent: &State) -> Result<Option<State>> {
        if self.plan.no_cache {
            return Ok(None);
        }
        let Some(entry) = cache::get(self.b.store(), k)? else {
            return Ok(None);
        };
        self.hold(&entry);
        let doc = self.read_doc(&entry.config_digest)?;
        Ok(Some(State {
            doc,
            layers: entry.layers.clone(),
            key: k.to_string(),
            scope: parent.scope.clone(),
        }))
    }

    /// Archives the step's upper directory, commits it as a layer, and records the new state
    /// in the cache under `k`.
    async fn commit_root(
        &mut self,
        root: StepRoot,
        parent: &State,
        k: String,
        created_by: String,
    ) -> Result<State> {
        let store = self.b.store().clone();
        let clamp = self.plan.epoch.and_then(|e| u64::try_from(e).ok());
        let file = tokio::task::spawn_blocking(move || root.into_layer(&store, clamp))
            .await
            .map_err(Error::blocking("build layer"))??;
        let (layer, lease) = built::commit_layer(&self.b.puller, file, &parent.layers).await?;
        self.leases.push(lease);
        let mut state = parent.clone();
        state.key = k;
        state.layers.push(layer.clone());
        let now = self.now();
        state.doc.created = Some(now.clone());
        state.doc.rootfs.diff_ids.push(layer.diff_id.clone());
        state.doc.history.push(History {
            created: Some(now),
            created_by: Some(created_by),
            comment: None,
            empty_layer: None,
        });
        self.remember(&state)?;
        Ok(state)
    }

    fn remember(&mut self, state: &State) -> Result<()> {
        let store = self.b.store();
        let config =
            serde_json::to_vec(&state.doc).map_err(|e| BuildError::Invalid(e.to_string()))?;
        let digest = built::put_blob(store, &config)?;
        let mut blobs = vec![digest.clone()];
        blobs.extend(state.layers.iter().map(|l| l.digest.clone()));
        blobs.dedup();
        self.leases.push(store.leases.acquire(blobs.clone()));
        let entry = ImageRecord {
            name: state.key.clone(),
            target_digest: digest.clone(),
            target_media_type: built::CONFIG_MEDIA_TYPE.into(),
            manifest_digest: digest.clone(),
            config_digest: digest,
            platform: platform_string(&self.plan.platform),
            layers: state.layers.clone(),
            blobs,
            created: 0,
            pulled_at: chrono::Utc::now().timestamp(),
            size: 0,
        };
        cache::put(store, &state.key, &entry)?;
        Ok(())
    }

    /// The time of a step: SOURCE_DATE_EPOCH when set.
    fn now(&self) -> String {
        let t = match self.plan.epoch {
            Some(e) => chrono::DateTime::from_timestamp(e, 0).unwrap_or_default(),
            None => chrono::Utc::now(),
        };
        t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    fn lex_err(&self, line: usize, source: LexError) -> Error {
        BuildError::Expansion {
            file: self.plan.df.file.clone(),
            line,
            source,
        }
        .into()
    }

    async fn start(&mut self, name: String) -> u32 {
        self.next += 1;
        let step = self.next;
        self.send(Progress::Started { step, name }).await;
        step
    }

    async fn log(&self, step: u32, line: String) {
        self.send(Progress::Log {
            step,
            line,
            elapsed: 0.0,
        })
        .await;
    }

    async fn done(&self, step: u32, t: Instant) {
        self.send(Progress::Done {
            step,
            seconds: t.elapsed().as_secs_f64(),
        })
        .await;
    }

    async fn send(&self, p: Progress) {
        // A client that hung up sees nothing more; the build itself is stopped by its caller.
        let _ = self.progress.send(p).await;
    }
}

/// Where a `--mount=type=bind` reads from; a stage's root stays mounted while this lives.
#[derive(Debug)]
struct BindRoot {
    dir: PathBuf,
    _stage: Option<StepRoot>,
}

/// `<data-root>/build/cache-mounts/`: RUN --mount=type=cache directories, by id.
pub(crate) fn cache_mounts(data_root: &Path) -> PathBuf {
    data_root.join("build").join("cache-mounts")
}

/// The ARG values a RUN sees as environment: those the stage's ENV does not override.
fn run_env(state: &State) -> Vec<String> {
    let env = state.doc.config.env_vars();
    let args = state
        .scope
        .args
        .iter()
        .filter(|(k, _)| !env.contains_key(*k));
    args.map(|(k, v)| format!("{k}={v}")).collect()
}

/// The step's config as the spec builder reads an image's.
fn runtime_config(cfg: &image::RunConfig) -> Result<crate::containers::spec::ImageRuntimeConfig> {
    let v = serde_json::to_value(cfg).map_err(|e| BuildError::Invalid(e.to_string()))?;
    Ok(serde_json::from_value(v).map_err(|e| BuildError::Invalid(e.to_string()))?)
}

/// A cache key: sha256 over the parts, each ended by a NUL.
fn key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(dockerfile: &str) -> BuildRequest {
        BuildRequest {
            dockerfile: dockerfile.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_plan_checks_tags_target_platform_and_global_args_up_front() {
        let mut r = req("ARG V=1\nARG W=${V}2\nFROM scratch AS a\nFROM a AS b\n");
        r.tags = vec!["app".into(), "host:5000/x/y:v1".into()];
        r.target = "a".into();
        let p = Plan::new(&r).unwrap();
        assert_eq!(
            p.names,
            ["docker.io/library/app:latest", "host:5000/x/y:v1"]
        );
        assert_eq!(p.target, 0);
        assert_eq!(p.args.globals["W"], "12");
        r.target = "nope".into();
        assert_eq!(
            Plan::new(&r).unwrap_err().to_string(),
            "target stage \"nope\" could not be found"
        );
        r.target.clear();
        r.tags = vec!["Bad Tag".into()];
        assert!(Plan::new(&r)
            .unwrap_err()
            .to_string()
            .contains("invalid reference format"));
        r.tags.clear();
        r.platform = "linux/s390x".into();
        assert!(Plan::new(&r)
            .unwrap_err()
            .to_string()
            .contains("cannot be built on this"));
        r.build_args = [("V".to_string(), "9".to_string())].into();
        r.platform.clear();
        assert_eq!(Plan::new(&r).unwrap().args.globals["W"], "92");
    }

    #[test]
    fn keys_depend_on_every_part() {
        assert_ne!(key(&["a", "bc"]), key(&["ab", "c"]));
        assert_eq!(key(&["x"]), key(&["x"]));
    }
}
