//! The load pipeline: find files, read the environment, parse, interpolate, resolve
//! paths, include, merge, extend, validate against the schema, then normalize.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::dotenv;
use super::error::SpecError;
use super::interpolate::interpolate;
use super::merge::{merge, strip_tags_in_place};
use super::model::Project;
use super::yaml::{self, Node, Value};
use super::{discover, extends, normalize, paths, schema};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-f` files in order; empty means look for the default names.
    pub files: Vec<PathBuf>,
    /// `-p`; falls back to COMPOSE_PROJECT_NAME/BERTH_PROJECT_NAME, `name:`, the directory.
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    /// `--env-file`; empty means `.env` in the project directory, if present.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; COMPOSE_PROFILES adds to it.
    pub profiles: Vec<String>,
    /// The process environment.
    pub environ: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl LoadOptions {
    pub fn from_process(cwd: PathBuf) -> LoadOptions {
        LoadOptions {
            environ: std::env::vars().collect(),
            cwd,
            ..LoadOptions::default()
        }
    }
}

/// Variables for interpolation: the process environment over the `.env` file.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: BTreeMap<String, String>,
}

impl Env {
    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.vars.get("HOME").map(PathBuf::from)
    }
}

/// What every file of one load shares.
pub struct Ctx<'a> {
    pub env: Env,
    pub environ: &'a BTreeMap<String, String>,
    include_stack: Vec<PathBuf>,
}

pub fn load(opts: &LoadOptions) -> Result<Project, SpecError> {
    let files = stack_files(opts)?;
    let project_dir = project_directory(opts, &files);
    tracing::debug!(?files, project_dir = %project_dir.display(), "loading stack files");
    let env = build_env(&opts.environ, &opts.env_files, &project_dir, &opts.cwd)?;
    let mut ctx = Ctx {
        env,
        environ: &opts.environ,
        include_stack: Vec::new(),
    };
    let mut merged: Option<Node> = None;
    for file in &files {
        let node = load_file(file, &project_dir, &mut ctx)?;
        merged = match merged {
            None => Some(node),
            Some(base) => merge(base, node, &[]),
        };
    }
    let Some(root) = merged else {
        return Err(SpecError::NoFile {
            dir: opts.cwd.clone(),
        });
    };
    finish(root, &ctx, opts, &project_dir)
}

/// Loads a stack from text, as if it were a file in `opts.cwd` (no `.env` file).
pub fn load_text(text: &str, opts: &LoadOptions) -> Result<Project, SpecError> {
    let env = Env {
        vars: opts.environ.clone(),
    };
    let mut ctx = Ctx {
        env,
        environ: &opts.environ,
        include_stack: Vec::new(),
    };
    let label = opts.cwd.join("stack.yaml");
    let mut root = parse_text(text, &label, &ctx.env)?;
    paths::resolve(&mut root, &opts.cwd, ctx.env.home().as_deref());
    if let Some(include) = root.value.as_map_mut().and_then(|m| m.remove("include")) {
        apply_includes(&mut root, &include, &opts.cwd, &mut ctx)?;
    }
    finish(root, &ctx, opts, &opts.cwd)
}

fn finish(
    mut root: Node,
    ctx: &Ctx<'_>,
    opts: &LoadOptions,
    project_dir: &Path,
) -> Result<Project, SpecError> {
    extends::apply(&mut root, ctx)?;
    // `!reset` keys that nothing merged into mean "not set"; only now, after
    // extends had its chance to see them.
    strip_tags_in_place(&mut root);
    schema::validate(&root)?;
    let name = project_name(opts, &ctx.env, &root, project_dir)?;
    let profiles = active_profiles(&opts.profiles, &ctx.env);
    tracing::debug!(project = %name, ?profiles, "stack validated");
    normalize::project(root, &name, project_dir, &ctx.env, &profiles)
}

fn stack_files(opts: &LoadOptions) -> Result<Vec<PathBuf>, SpecError> {
    if opts.files.is_empty() {
        return discover::find_default_files(&opts.cwd);
    }
    Ok(opts
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" || f.is_absolute() {
                f.clone()
            } else {
                paths::clean(&opts.cwd.join(f))
            }
        })
        .collect())
}

fn project_directory(opts: &LoadOptions, files: &[PathBuf]) -> PathBuf {
    if let Some(dir) = &opts.project_directory {
        return paths::clean(&opts.cwd.join(dir));
    }
    match files.first() {
        Some(f) if f.as_os_str() != "-" => f
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| opts.cwd.clone()),
        _ => opts.cwd.clone(),
    }
}

/// The process environment wins over env files, as in docker compose.
pub fn build_env(
    environ: &BTreeMap<String, String>,
    env_files: &[PathBuf],
    project_dir: &Path,
    cwd: &Path,
) -> Result<Env, SpecError> {
    let mut vars = BTreeMap::new();
    if env_files.is_empty() {
        let default = project_dir.join(".env");
        if default.is_file() {
            read_env_file(&default, environ, &mut vars)?;
        }
    }
    for file in env_files {
        read_env_file(&paths::clean(&cwd.join(file)), environ, &mut vars)?;
    }
    vars.extend(environ.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Env { vars })
}

pub fn read_env_file(
    path: &Path,
    environ: &BTreeMap<String, String>,
    into: &mut BTreeMap<String, String>,
) -> Result<(), SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError::io(path, e))?;
    let lookup = |name: &str| environ.get(name).cloned();
    let pairs = dotenv::parse(&text, &lookup).map_err(|e| SpecError::EnvFile {
        file: path.to_path_buf(),
        line: e.line,
        message: e.message,
    })?;
    for (key, value) in pairs {
        if let Some(value) = value {
            into.insert(key, value);
        }
    }
    Ok(())
}

/// Parses one file and everything it includes, with paths made absolute against
/// `base_dir` and variables interpolated.
fn load_file(file: &Path, base_dir: &Path, ctx: &mut Ctx<'_>) -> Result<Node, SpecError> {
    let mut root = parse_file(file, &ctx.env)?;
    paths::resolve(&mut root, base_dir, ctx.env.home().as_deref());
    let include = match &mut root.value {
        Value::Map(m) => m.remove("include"),
        _ => None,
    };
    if let Some(include) = include {
        ctx.include_stack.push(file.to_path_buf());
        let result = apply_includes(&mut root, &include, base_dir, ctx);
        ctx.include_stack.pop();
        result?;
    }
    Ok(root)
}

/// Reads, parses and interpolates one file; the top level must be a mapping.
pub fn parse_file(file: &Path, env: &Env) -> Result<Node, SpecError> {
    let text = if file.as_os_str() == "-" {
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
            .map_err(|e| SpecError::io(file, e))?;
        buf
    } else {
        std::fs::read_to_string(file).map_err(|e| SpecError::io(file, e))?
    };
    parse_text(&text, file, env)
}

/// Parses and interpolates stack-file text; `file` names it in errors.
pub fn parse_text(text: &str, file: &Path, env: &Env) -> Result<Node, SpecError> {
    let label: Arc<Path> = Arc::from(file);
    let Some(mut root) = yaml::parse(text, &label)? else {
        return Err(SpecError::Empty {
            file: file.to_path_buf(),
        });
    };
    if root.as_map().is_none() {
        return Err(SpecError::invalid(
            &root.pos,
            "",
            format!("the top level must be a mapping, found a {}", root.kind()),
        ));
    }
    interpolate_tree(&mut root, env, &mut String::new())?;
    Ok(root)
}

/// Interpolates every string value (never keys) in place.
fn interpolate_tree(node: &mut Node, env: &Env, path: &mut String) -> Result<(), SpecError> {
    match &mut node.value {
        Value::Str(s) => {
            if !s.contains('$') {
                return Ok(());
            }
            let lookup = |name: &str| env.get(name);
            let out = interpolate(s, &lookup).map_err(|e| SpecError::Interpolation {
                at: Some(node.pos.clone()),
                path: path.clone(),
                message: e.to_string(),
            })?;
            *s = out.value;
        }
        Value::Seq(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                let _ = write!(path, "[{i}]");
                interpolate_tree(item, env, path)?;
                path.truncate(len);
            }
        }
        Value::Map(map) => {
            for (key, entry) in map.0.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                interpolate_tree(&mut entry.node, env, path)?;
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
    }
    Ok(())
}

struct IncludeItem {
    paths: Vec<PathBuf>,
    env_files: Vec<PathBuf>,
    project_directory: Option<PathBuf>,
}

fn apply_includes(
    root: &mut Node,
    include: &Node,
    base_dir: &Path,
    ctx: &mut Ctx<'_>,
) -> Result<(), SpecError> {
    let Some(items) = include.as_seq() else {
        return Err(SpecError::invalid(
            &include.pos,
            "include",
            "must be a list",
        ));
    };
    for (i, item) in items.iter().enumerate() {
        let key_path = format!("include[{i}]");
        let spec = include_item(item, base_dir, &key_path)?;
        let included = load_included(&spec, &key_path, item, ctx)?;
        merge_included(root, included, &key_path)?;
    }
    Ok(())
}

fn include_item(item: &Node, base_dir: &Path, key_path: &str) -> Result<IncludeItem, SpecError> {
    let list = |node: Option<&Node>| -> Vec<String> {
        match node.map(|n| &n.value) {
            Some(Value::Str(s)) => vec![s.clone()],
            Some(Value::Seq(items)) => items.iter().filter_map(Node::scalar_text).collect(),
            _ => Vec::new(),
        }
    };
    let (raw_paths, raw_env, raw_dir) = match &item.value {
        Value::Str(s) => (vec![s.clone()], Vec::new(), None),
        Value::Map(m) => (
            list(m.get("path")),
            list(m.get("env_file")),
            m.get("project_directory").and_then(Node::scalar_text),
        ),
        _ => (Vec::new(), Vec::new(), None),
    };
    if raw_paths.is_empty() {
        return Err(SpecError::invalid(
            &item.pos,
            key_path,
            "an include needs a path",
        ));
    }
    if let Some(remote) = raw_paths.iter().find(|p| paths::is_remote(p)) {
        return Err(SpecError::invalid(
            &item.pos,
            key_path,
            format!("remote include {remote:?} is not supported; include a local file"),
        ));
    }
    let abs = |p: &String| PathBuf::from(paths::absolutize(p, base_dir, None));
    Ok(IncludeItem {
        paths: raw_paths.iter().map(abs).collect(),
        env_files: raw_env.iter().map(abs).collect(),
        project_directory: raw_dir.as_ref().map(abs),
    })
}

fn load_included(
    spec: &IncludeItem,
    key_path: &str,
    item: &Node,
    ctx: &mut Ctx<'_>,
) -> Result<Node, SpecError> {
    let first = &spec.paths[0];
    let dir = spec
        .project_directory
        .clone()
        .or_else(|| first.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    for path in &spec.paths {
        if ctx.include_stack.contains(path) {
            let mut chain = ctx.include_stack.clone();
            chain.push(path.clone());
            return Err(SpecError::IncludeCycle { chain });
        }
        if !path.is_file() {
            return Err(SpecError::invalid(
                &item.pos,
                key_path,
                format!("included file {} does not exist", path.display()),
            ));
        }
    }
    let env = build_env(ctx.environ, &spec.env_files, &dir, &dir)?;
    let saved = std::mem::replace(&mut ctx.env, env);
    let result = merge_files(&spec.paths, &dir, ctx);
    ctx.env = saved;
    let mut root = result?;
    extends::apply(&mut root, ctx)?;
    Ok(root)
}

fn merge_files(files: &[PathBuf], dir: &Path, ctx: &mut Ctx<'_>) -> Result<Node, SpecError> {
    let mut merged: Option<Node> = None;
    for file in files {
        let node = load_file(file, dir, ctx)?;
        merged = match merged {
            None => Some(node),
            Some(base) => merge(base, node, &[]),
        };
    }
    merged.ok_or_else(|| SpecError::NoFile {
        dir: dir.to_path_buf(),
    })
}

/// Adds the included file's resources; a name defined on both sides is an error,
/// as in docker compose.
fn merge_included(root: &mut Node, included: Node, key_path: &str) -> Result<(), SpecError> {
    let (Value::Map(target), Value::Map(source)) = (&mut root.value, included.value) else {
        return Ok(());
    };
    for (section, entry) in source.0 {
        let Value::Map(items) = entry.node.value else {
            continue;
        };
        if !matches!(
            section.as_str(),
            "services" | "networks" | "volumes" | "secrets" | "configs" | "models"
        ) {
            continue;
        }
        if target.get(&section).is_none() {
            let empty = Node::new(Value::Map(Default::default()), entry.node.pos.clone());
            target.insert(section.clone(), entry.key_pos.clone(), empty);
        }
        let Some(Value::Map(dest)) = target.get_mut(&section).map(|n| &mut n.value) else {
            continue;
        };
        for (name, item) in items.0 {
            if let Some(existing) = dest.key_pos(&name) {
                return Err(SpecError::invalid(
                    existing,
                    format!("{section}.{name}"),
                    format!("conflicts with a resource imported by {key_path}"),
                ));
            }
            dest.insert(name, item.key_pos, item.node);
        }
    }
    Ok(())
}

fn project_name(
    opts: &LoadOptions,
    env: &Env,
    root: &Node,
    project_dir: &Path,
) -> Result<String, SpecError> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| env.get("BERTH_PROJECT_NAME"))
        .or_else(|| env.get("COMPOSE_PROJECT_NAME"))
        .filter(|n| !n.is_empty());
    if let Some(name) = explicit {
        if !discover::is_valid_project_name(&name) {
            return Err(SpecError::Invalid {
                at: None,
                path: String::new(),
                message: format!(
                    "invalid project name {name:?}: use lowercase letters, digits, dashes and underscores, starting with a letter or digit"
                ),
            });
        }
        return Ok(name);
    }
    if let Some(node) = root.as_map().and_then(|m| m.get("name"))
        && let Some(name) = node.scalar_text()
    {
        let normalized = discover::normalize_project_name(&name);
        if !normalized.is_empty() {
            return Ok(normalized);
        }
        return Err(SpecError::invalid(
            &node.pos,
            "name",
            format!("invalid project name {name:?}"),
        ));
    }
    let dir_name = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let normalized = discover::normalize_project_name(&dir_name);
    if normalized.is_empty() {
        return Err(SpecError::Invalid {
            at: None,
            path: String::new(),
            message: format!(
                "cannot derive a project name from directory {dir_name:?}; pass one with -p"
            ),
        });
    }
    Ok(normalized)
}

fn active_profiles(flags: &[String], env: &Env) -> Vec<String> {
    let mut out: Vec<String> = flags.to_vec();
    if out.is_empty()
        && let Some(list) = env.get("COMPOSE_PROFILES")
    {
        out.extend(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
    }
    out
}
