//! Registry verbs: `pull`, `push`, `login`, `logout`, `search`.

use std::path::Path;

use clap::Args;

use super::container::open_store;
use super::progress::Renderer;
use super::{CliError, print};
use crate::runtime::image::Reference;
use crate::runtime::registry::manifest::Platform;
use crate::runtime::registry::{Progress, PullStatus, RegistriesConfig, pull, push};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Image to pull: NAME[:TAG|@DIGEST]
    pub name: String,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Pull for this platform (os/arch[/variant]) instead of the host's
    #[arg(long)]
    pub platform: Option<String>,
}

/// Docker's wording and exit status (1) for a failed registry operation.
fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Engine {
        message: e.to_string(),
        code: 1,
    }
}

/// A pull error names the image (a layer's error alone names a digest).
fn pull_failed(reference: &Reference, e: impl std::fmt::Display) -> CliError {
    let message = e.to_string();
    let name = reference.familiar();
    if message.contains(&name) {
        return failed(message);
    }
    failed(format!("pulling {name}: {message}"))
}

pub fn parse_platform(text: &str) -> Result<Platform, CliError> {
    let parts: Vec<&str> = text.split('/').collect();
    match parts.as_slice() {
        [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        }),
        _ => Err(CliError::Usage(format!(
            "invalid platform {text:?}: expected os/arch[/variant], e.g. linux/amd64"
        ))),
    }
}

pub fn pull_cmd(args: &PullArgs, root: &Path) -> Result<i32, CliError> {
    let reference = Reference::parse(&args.name).map_err(failed)?;
    let platform = args.platform.as_deref().map(parse_platform).transpose()?;
    let store = open_store(root)?;
    let registries = RegistriesConfig::load().map_err(failed)?;
    let renderer = Renderer::new(args.quiet);
    let pulled = pull(
        &store,
        &registries,
        &reference,
        platform.as_ref(),
        &renderer,
    )
    .map_err(|e| pull_failed(&reference, e))?;
    renderer.line(&format!("Digest: {}", pulled.digest));
    let status = match pulled.status {
        PullStatus::UpToDate => "Image is up to date for",
        PullStatus::Downloaded => "Downloaded newer image for",
    };
    renderer.line(&format!("Status: {status} {}", reference.familiar()));
    print(&format!("{reference}\n"))?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Image to push: NAME[:TAG]
    pub name: String,
    /// Push all tags of the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn push_cmd(args: &PushArgs, root: &Path) -> Result<i32, CliError> {
    let reference = Reference::parse(&args.name).map_err(failed)?;
    let store = open_store(root)?;
    let registries = RegistriesConfig::load().map_err(failed)?;
    let renderer = Renderer::new(args.quiet);
    let targets = if args.all_tags {
        tags_of_repository(&store, &reference)?
    } else {
        vec![reference]
    };
    for target in &targets {
        let pushed = push(&store, &registries, target, &renderer).map_err(failed)?;
        renderer.line(&format!(
            "{}: digest: {} size: {}",
            pushed.tag, pushed.digest, pushed.size
        ));
    }
    if args.quiet {
        for target in &targets {
            print(&format!("{}\n", target.familiar()))?;
        }
    }
    Ok(0)
}

fn tags_of_repository(
    store: &crate::runtime::store::Store,
    reference: &Reference,
) -> Result<Vec<Reference>, CliError> {
    let index = crate::runtime::image::Refs::new(store)
        .load()
        .map_err(failed)?;
    let prefix = format!("{}:", reference.name());
    let tags: Vec<Reference> = index
        .refs
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .filter_map(|k| Reference::parse(k).ok())
        .collect();
    if tags.is_empty() {
        return Err(failed(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_name()
        )));
    }
    Ok(tags)
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Registry (default: Docker Hub)
    pub server: Option<String>,
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    pub password_stdin: bool,
}

pub fn login(args: &LoginArgs) -> Result<i32, CliError> {
    use crate::runtime::registry::credentials::{self, Credentials};
    if args.password.is_some() && args.password_stdin {
        return Err(CliError::Usage(
            "--password and --password-stdin are mutually exclusive".into(),
        ));
    }
    if args.password_stdin && args.username.is_none() {
        return Err(CliError::Usage(
            "Must provide --username with --password-stdin".into(),
        ));
    }
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let server = args.server.as_deref().unwrap_or("docker.io");
    let domain = login_domain(server);
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", true)?,
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => read_stdin_password()?,
        (None, false) => prompt("Password: ", false)?,
    };
    if username.is_empty() || password.is_empty() {
        return Err(failed("username and password are required"));
    }
    let credentials = Credentials { username, password };
    let registries = RegistriesConfig::load().map_err(failed)?;
    crate::runtime::registry::check_login(&registries, &domain, credentials.clone())
        .map_err(failed)?;
    let path = credentials::store(&domain, &credentials).map_err(failed)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        path.display()
    );
    print("Login Succeeded\n")?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry (default: Docker Hub)
    pub server: Option<String>,
}

pub fn logout(args: &LogoutArgs) -> Result<i32, CliError> {
    use crate::runtime::registry::credentials;
    let server = args.server.as_deref().unwrap_or("docker.io");
    let domain = login_domain(server);
    let key = credentials::server_key(&domain);
    if credentials::remove(&domain).map_err(failed)? {
        print(&format!("Removing login credentials for {key}\n"))?;
    } else {
        print(&format!("Not logged in to {key}\n"))?;
    }
    Ok(0)
}

/// `https://reg.lan:5000/v2/` -> `reg.lan:5000`; Hub's many names -> docker.io.
fn login_domain(server: &str) -> String {
    let key = crate::runtime::registry::credentials::server_key(server);
    if key == crate::runtime::registry::credentials::DOCKER_HUB_KEY {
        "docker.io".to_string()
    } else {
        key
    }
}

fn read_stdin_password() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(failed)?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads one line from a terminal; without echo for passwords.
fn prompt(label: &str, echo: bool) -> Result<String, CliError> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    use std::io::{IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(failed(
            "Cannot perform an interactive login from a non TTY device",
        ));
    }
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    let saved = termios::tcgetattr(&stdin).ok();
    if let (false, Some(saved)) = (echo, &saved) {
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet);
    }
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if let (false, Some(saved)) = (echo, &saved) {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, saved);
        eprintln!();
    }
    read.map_err(failed)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to search for; prefix a registry (`reg.lan:5000/term`) to search it
    pub term: String,
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided (stars=N, is-official=BOOL, is-automated=BOOL)
    #[arg(short, long = "filter")]
    pub filters: Vec<String>,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn search_cmd(args: &SearchArgs) -> Result<i32, CliError> {
    use crate::runtime::registry::search::{SearchResult, search};
    if args.limit == 0 || args.limit > 100 {
        return Err(CliError::Usage("limit must be between 1 and 100".into()));
    }
    let keep = search_filter(&args.filters)?;
    let registries = RegistriesConfig::load().map_err(failed)?;
    let results: Vec<SearchResult> = search(&registries, &args.term, args.limit)
        .map_err(failed)?
        .into_iter()
        .filter(|r| keep(r))
        .collect();
    match args.format.as_str() {
        "json" => {
            for r in &results {
                print(&format!("{}\n", serde_json::to_string(r).map_err(failed)?))?;
            }
        }
        "table" => {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        r.name.clone(),
                        describe(&r.description, args.no_trunc),
                        r.star_count.to_string(),
                        if r.is_official {
                            "[OK]".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            print(&super::output::table(
                &["NAME", "DESCRIPTION", "STARS", "OFFICIAL"],
                &rows,
            ))?;
        }
        other => {
            return Err(CliError::Usage(format!(
                "unknown format {other:?}: use table or json"
            )));
        }
    }
    Ok(0)
}

type SearchFilter = Box<dyn Fn(&crate::runtime::registry::search::SearchResult) -> bool>;

fn search_filter(filters: &[String]) -> Result<SearchFilter, CliError> {
    let mut min_stars = 0u64;
    let mut official: Option<bool> = None;
    let mut automated: Option<bool> = None;
    for f in filters {
        let bad = || CliError::Usage(format!("invalid filter {f:?}"));
        let (key, value) = f.split_once('=').ok_or_else(bad)?;
        match key {
            "stars" => min_stars = value.parse().map_err(|_| bad())?,
            "is-official" => official = Some(value.parse().map_err(|_| bad())?),
            "is-automated" => automated = Some(value.parse().map_err(|_| bad())?),
            _ => return Err(CliError::Usage(format!("invalid filter '{key}'"))),
        }
    }
    Ok(Box::new(move |r| {
        r.star_count >= min_stars
            && official.is_none_or(|o| o == r.is_official)
            && automated.is_none_or(|a| a == r.is_automated)
    }))
}

/// Docker truncates descriptions to 45 characters with an ellipsis.
fn describe(text: &str, no_trunc: bool) -> String {
    let flat = text.replace('\n', " ");
    if no_trunc || flat.chars().count() <= 45 {
        return flat;
    }
    let cut: String = flat.chars().take(44).collect();
    format!("{cut}…")
}
