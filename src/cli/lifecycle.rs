//! `ps`, `stop`, `kill`, `rm` and `wait`, with docker's flags and output.

use std::path::Path;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::logs::time_bound;
use super::output::{ago, human_duration, seconds_since, table, templated_rows};
use super::{CliError, daemon, each, engine, print};
use crate::runtime::container::lifecycle::{self, Container};
use crate::runtime::container::record::{self, Status};
use crate::runtime::store::Store;

/// Read-only verbs work (and show nothing) before the first write.
fn store(root: &Path) -> Store {
    Store::open_readonly(root)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show the n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output: status=, name=, label=KEY[=VALUE], ancestor=, id=, volume=
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format output: table, json, table TEMPLATE or a Go template such as
    /// {{.Names}}
    #[arg(long)]
    pub format: Option<String>,
}

/// docker's titles for `ps --format 'table ...'` fields.
const PS_TITLES: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("RunningFor", "CREATED"),
    ("CreatedAt", "CREATED AT"),
];

pub(super) fn status_text(c: &Container) -> String {
    let s = &c.state;
    let up = || human_duration(s.started_at.as_deref().map_or(0, seconds_since));
    let since_exit = || s.finished_at.as_deref().map_or_else(String::new, ago);
    let health = match (&s.health, s.status) {
        (Some(h), Status::Running | Status::Paused) => match h.status.as_str() {
            "starting" => " (health: starting)".to_string(),
            other => format!(" ({other})"),
        },
        _ => String::new(),
    };
    match s.status {
        Status::Running => format!("Up {}{health}", up()),
        Status::Paused => format!("Up {} (Paused){health}", up()),
        Status::Restarting => format!("Restarting ({}) {}", s.exit_code, since_exit()),
        Status::Exited => format!("Exited ({}) {}", s.exit_code, since_exit()),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

fn matches(c: &Container, filter: &str) -> Result<bool, CliError> {
    let (key, value) = filter
        .split_once('=')
        .ok_or_else(|| engine(format!("invalid filter {filter:?}: expected KEY=VALUE")))?;
    Ok(match key {
        "status" => c.state.status.as_str() == value,
        "name" => c.record.name.contains(value),
        "id" => c.record.id.starts_with(value),
        "ancestor" => c.record.image == value || c.record.image_id.contains(value),
        "volume" => c.record.config.mounts.iter().any(|m| {
            m.target == value
                || (m.kind != crate::runtime::volume::MountKind::Tmpfs && m.source == value)
        }),
        "label" => match value.split_once('=') {
            Some((k, v)) => c.record.config.labels.get(k).is_some_and(|x| x == v),
            None => c.record.config.labels.contains_key(value),
        },
        other => return Err(engine(format!("invalid filter '{other}'"))),
    })
}

pub(super) fn command_text(c: &Container, no_trunc: bool) -> String {
    let text = c.record.config.args.join(" ");
    let text = if !no_trunc && text.chars().count() > 20 {
        format!("{}…", text.chars().take(19).collect::<String>())
    } else {
        text
    };
    format!("\"{text}\"")
}

pub fn ps(args: &PsArgs, root: &Path) -> Result<i32, CliError> {
    let mut list = lifecycle::list(&store(root)).map_err(engine)?;
    let all = args.all || args.last.is_some() || args.latest || !args.filters.is_empty();
    if !all {
        list.retain(Container::is_running);
    }
    for f in &args.filters {
        let mut kept = Vec::new();
        for c in list {
            if matches(&c, f)? {
                kept.push(c);
            }
        }
        list = kept;
    }
    if let Some(n) = args.last {
        list.truncate(n);
    }
    if args.latest {
        list.truncate(1);
    }
    let id = |c: &Container| {
        if args.no_trunc {
            c.record.id.clone()
        } else {
            c.record.id.chars().take(12).collect()
        }
    };
    if args.quiet {
        return print(
            &list
                .iter()
                .map(|c| format!("{}\n", id(c)))
                .collect::<String>(),
        )
        .map(|_| 0);
    }
    let row = |c: &Container| {
        serde_json::json!({
            "ID": id(c), "Image": c.record.image, "Command": command_text(c, args.no_trunc),
            "CreatedAt": c.record.created, "RunningFor": human_duration(seconds_since(&c.record.created)),
            "Status": status_text(c), "State": c.state.status.as_str(), "Names": c.record.name,
            "Labels": c.record.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            "Ports": super::port::ps_column(c)
        })
    };
    match args.format.as_deref().map(str::trim).unwrap_or("table") {
        "json" => print(
            &list
                .iter()
                .map(|c| format!("{}\n", row(c)))
                .collect::<String>(),
        )?,
        "table" => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    vec![
                        id(c),
                        c.record.image.clone(),
                        command_text(c, args.no_trunc),
                        ago(&c.record.created),
                        status_text(c),
                        super::port::ps_column(c),
                        c.record.name.clone(),
                    ]
                })
                .collect();
            print(&table(
                &[
                    "CONTAINER ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES",
                ],
                &rows,
            ))?;
        }
        template => {
            let rows: Vec<serde_json::Value> = list.iter().map(row).collect();
            let text = templated_rows(&rows, template, PS_TITLES).map_err(CliError::Usage)?;
            print(&text)?;
        }
    }
    Ok(0)
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "timeout", alias = "time")]
    pub timeout: Option<u64>,
    /// Signal to send (default: the container's stop signal, else SIGTERM)
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn stop(args: &StopArgs, root: &Path) -> Result<i32, CliError> {
    let st = Store::open(root).map_err(engine)?;
    each(&args.containers, |name| {
        let mut c = lifecycle::find(&st, name).map_err(engine)?;
        if let Some(sig) = &args.signal {
            lifecycle::parse_signal(sig).map_err(engine)?;
            c.record.config.stop_signal = Some(sig.clone());
        }
        let timeout = args.timeout.or(c.record.config.stop_timeout).unwrap_or(10);
        lifecycle::stop(&st, &c, Duration::from_secs(timeout)).map_err(engine)?;
        Ok(Some(name.to_string()))
    })
}

pub fn kill(args: &KillArgs, root: &Path) -> Result<i32, CliError> {
    let st = Store::open(root).map_err(engine)?;
    let signal = lifecycle::parse_signal(&args.signal).map_err(engine)?;
    each(&args.containers, |name| {
        let c = lifecycle::find(&st, name).map_err(engine)?;
        if signal == nix::sys::signal::Signal::SIGKILL {
            // As in docker: a killed container counts as stopped by hand.
            lifecycle::mark_stopping(&st, &c);
        }
        lifecycle::signal(&c, signal)
            .map_err(|e| engine(format!("cannot kill container: {name}: {e}")))?;
        c.record.event(
            st.root(),
            "kill",
            &[("signal", (signal as i32).to_string())],
        );
        Ok(Some(name.to_string()))
    })
}

pub fn rm(args: &RmArgs, root: &Path) -> Result<i32, CliError> {
    let st = Store::open(root).map_err(engine)?;
    each(&args.containers, |name| {
        let c = lifecycle::find(&st, name).map_err(engine)?;
        lifecycle::remove(&st, &c, args.force).map_err(engine)?;
        if args.volumes {
            crate::runtime::volume::remove_anonymous_of(&st, &c.record).map_err(engine)?;
        }
        Ok(Some(name.to_string()))
    })
}

pub fn wait(args: &WaitArgs, root: &Path) -> Result<i32, CliError> {
    let st = store(root);
    each(&args.containers, |name| {
        let c = lifecycle::find(&st, name).map_err(engine)?;
        let code = lifecycle::wait(&st, &c.record.id).map_err(engine)?;
        Ok(Some(code.to_string()))
    })
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables (KEY=VALUE)
    #[arg(short = 'e', long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (user[:group])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    pub container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(args: &ExecArgs, root: &Path) -> Result<i32, CliError> {
    let st = store(root);
    let c = lifecycle::find(&st, &args.container).map_err(engine)?;
    let opts = crate::runtime::monitor::ExecOptions {
        args: args.command.clone(),
        env: exec_env(&args.env),
        working_dir: args.workdir.clone(),
        user: args.user.clone(),
        interactive: args.interactive,
        tty: args.tty,
        detach: args.detach,
    };
    run_exec(&c, &opts)
}

/// `-e KEY=VALUE`, or `-e KEY` to pass this shell's value (left out if unset).
pub(super) fn exec_env(flags: &[String]) -> Vec<(String, String)> {
    flags
        .iter()
        .filter_map(|e| match e.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(e).ok().map(|v| (e.clone(), v)),
        })
        .collect()
}

/// Runs the exec; its exit status becomes berth's.
pub(super) fn run_exec(
    c: &Container,
    opts: &crate::runtime::monitor::ExecOptions,
) -> Result<i32, CliError> {
    crate::runtime::monitor::exec(c, opts).map_err(|e| CliError::Engine {
        code: e.exit_code(),
        message: e.to_string(),
    })
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events since a timestamp (RFC 3339, Unix time) or relative time (10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at a timestamp (RFC 3339, Unix time) or relative time; without it,
    /// new events are followed until interrupted
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=, event=, container= (id or name), image=, label=KEY[=VALUE]
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

fn event_matches(e: &crate::runtime::events::Event, filters: &[String]) -> Result<bool, CliError> {
    for f in filters {
        let (key, value) = f
            .split_once('=')
            .ok_or_else(|| engine(format!("invalid filter {f:?}: expected KEY=VALUE")))?;
        let attrs = &e.actor.attributes;
        let ok = match key {
            "type" => e.kind == value,
            "event" => e.action == value || e.action.split(':').next() == Some(value),
            "container" => e.id.starts_with(value) || attrs.get("name").is_some_and(|n| n == value),
            "image" => e.from == value,
            "label" => match value.split_once('=') {
                Some((k, v)) => attrs.get(k).is_some_and(|x| x == v),
                None => attrs.contains_key(value),
            },
            other => return Err(engine(format!("invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn event_line(e: &crate::runtime::events::Event, format: ListFormat) -> String {
    match format {
        ListFormat::Json => format!("{}\n", serde_json::to_string(e).unwrap_or_default()),
        ListFormat::Table => {
            let time = chrono::DateTime::from_timestamp_nanos(e.time_nano)
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let attrs: Vec<String> = e
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "{time} {} {} {} ({})\n",
                e.kind,
                e.action,
                e.id,
                attrs.join(", ")
            )
        }
    }
}

/// docker events: past events from --since, then new ones until --until.
pub fn events(args: &EventsArgs, root: &Path) -> Result<i32, CliError> {
    let since = args
        .since
        .as_deref()
        .map(time_bound)
        .transpose()?
        .map(|t| t.timestamp_nanos_opt().unwrap_or(0));
    let until = args
        .until
        .as_deref()
        .map(time_bound)
        .transpose()?
        .map(|t| t.timestamp_nanos_opt().unwrap_or(0));
    let mut seen = crate::runtime::events::read_all(root).len();
    if let Some(since) = since {
        for e in crate::runtime::events::read_all(root) {
            if e.time_nano >= since
                && until.is_none_or(|u| e.time_nano <= u)
                && event_matches(&e, &args.filters)?
            {
                print(&event_line(&e, args.format))?;
            }
        }
    }
    loop {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        if until.is_some_and(|u| now > u) {
            return Ok(0);
        }
        let all = crate::runtime::events::read_all(root);
        // A rotation shrinks the log: start over from its beginning.
        let start = if all.len() < seen { 0 } else { seen };
        for e in &all[start..] {
            if since.is_none_or(|s| e.time_nano >= s) && event_matches(e, &args.filters)? {
                print(&event_line(e, args.format))?;
            }
        }
        seen = all.len();
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin)
    pub source: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout)
    pub dest: String,
}

/// `NAME:PATH` (a container path) or a host path; `./a:b` stays a host path.
fn container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    arg.split_once(':').filter(|(name, _)| !name.is_empty())
}

/// A temp file for the tar between the two sides: berth forks the container side,
/// so it must not run a second thread meanwhile.
struct Staging(std::path::PathBuf);

impl Staging {
    fn new() -> Staging {
        Staging(std::env::temp_dir().join(format!(
            "berth-cp-{}.tar",
            crate::runtime::store::unique_suffix()
        )))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// docker cp, both directions, as tar streams (`-` for stdin or stdout).
pub fn cp(args: &CpArgs, root: &Path) -> Result<i32, CliError> {
    use crate::runtime::container::copy;
    let st = store(root);
    let io_err = |e: std::io::Error| daemon(e);
    match (container_path(&args.source), container_path(&args.dest)) {
        (Some((name, src)), None) => {
            let c = lifecycle::find(&st, name).map_err(daemon)?;
            if args.dest == "-" {
                let mut out = std::io::stdout().lock();
                return copy::copy_out(&st, &c, src, &mut out)
                    .map(|()| 0)
                    .map_err(daemon);
            }
            let staging = Staging::new();
            let mut file = std::fs::File::create(&staging.0).map_err(io_err)?;
            copy::copy_out(&st, &c, src, &mut file).map_err(daemon)?;
            let file = std::fs::File::open(&staging.0).map_err(io_err)?;
            copy::unpack_to(file, Path::new(&args.dest)).map_err(daemon)?;
            Ok(0)
        }
        (None, Some((name, dest))) => {
            let c = lifecycle::find(&st, name).map_err(daemon)?;
            if args.source == "-" {
                let mut input = std::io::stdin().lock();
                return copy::copy_in(&st, &c, dest, &mut input)
                    .map(|()| 0)
                    .map_err(daemon);
            }
            let staging = Staging::new();
            archive(Path::new(&args.source), &staging.0)
                .map_err(|e| daemon(format!("{}: {e}", args.source)))?;
            let mut file = std::fs::File::open(&staging.0).map_err(io_err)?;
            copy::copy_in(&st, &c, dest, &mut file).map_err(daemon)?;
            Ok(0)
        }
        _ => Err(daemon(
            "copying between containers, or between two host paths, is not supported: one side must be CONTAINER:PATH",
        )),
    }
}

/// A tar of a host file or directory, its single top entry named like it.
fn archive(src: &Path, to: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(src)?;
    let name = src
        .file_name()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| ".".into());
    let mut builder = tar::Builder::new(std::fs::File::create(to)?);
    builder.follow_symlinks(false);
    if meta.is_dir() {
        builder.append_dir_all(&name, src)?;
    } else {
        builder.append_path_with_name(src, &name)?;
    }
    builder.finish()
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    pub container: String,
}

/// docker attach: live output (and input) of a detached container; ctrl-p
/// ctrl-q detaches; when the container ends, its exit status is ours.
pub fn attach(args: &AttachArgs, root: &Path) -> Result<i32, CliError> {
    use std::os::fd::AsFd;
    let st = store(root);
    let c = lifecycle::find(&st, &args.container).map_err(engine)?;
    if !c.is_running() {
        return Err(engine(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    let dir = record::container_dir(st.root(), &c.record.id);
    let mut stream = crate::runtime::monitor::attach::connect(&dir).map_err(|e| {
        engine(format!(
            "cannot attach to {}: {e} (only containers started with -d can be attached)",
            args.container
        ))
    })?;
    let raw = c.record.config.tty;
    let stdin = std::io::stdin();
    let send_input = !args.no_stdin && (c.record.config.open_stdin || raw);
    let _terminal = (raw && send_input).then(RawTerminal::enter);
    let mut pending = Vec::new();
    let mut last_was_ctrl_p = false;
    let mut stdin_open = send_input;
    loop {
        let mut fds = vec![nix::poll::PollFd::new(
            stream.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        if stdin_open {
            fds.push(nix::poll::PollFd::new(
                stdin.as_fd(),
                nix::poll::PollFlags::POLLIN,
            ));
        }
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        drop(fds);
        if ready[0] {
            let mut buf = [0u8; 32 * 1024];
            match std::io::Read::read(&mut stream, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) if raw => write_out(1, &buf[..n]),
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    demux(&mut pending);
                }
            }
        }
        if stdin_open && ready.get(1).copied().unwrap_or(false) {
            let mut buf = [0u8; 4096];
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    // ctrl-p ctrl-q: what came before it still goes in, then we
                    // leave the container running.
                    let mut detach_at = None;
                    for (i, &byte) in buf[..n].iter().enumerate() {
                        if last_was_ctrl_p && byte == 0x11 {
                            detach_at = Some(i.saturating_sub(1));
                            break;
                        }
                        last_was_ctrl_p = byte == 0x10;
                    }
                    let send = &buf[..detach_at.unwrap_or(n)];
                    if std::io::Write::write_all(&mut stream, send).is_err() {
                        stdin_open = false;
                    }
                    if detach_at.is_some() {
                        // Output the container wrote meanwhile is not waited for.
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        drain_attached(&mut stream, raw, &mut pending);
                        drop(_terminal);
                        eprintln!("read escape sequence");
                        return Ok(0);
                    }
                }
            }
        }
    }
    drop(_terminal);
    lifecycle::wait(&st, &c.record.id).map_err(engine)
}

/// Whatever output is already waiting on the socket.
fn drain_attached(stream: &mut std::os::unix::net::UnixStream, raw: bool, pending: &mut Vec<u8>) {
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut buf = [0u8; 32 * 1024];
    while let Ok(n @ 1..) = std::io::Read::read(stream, &mut buf) {
        if raw {
            write_out(1, &buf[..n]);
        } else {
            pending.extend_from_slice(&buf[..n]);
            demux(pending);
        }
    }
}

/// Splits docker's multiplexed frames onto stdout and stderr.
fn demux(pending: &mut Vec<u8>) {
    while pending.len() >= 8 {
        let len = u32::from_be_bytes([pending[4], pending[5], pending[6], pending[7]]) as usize;
        if pending.len() < 8 + len {
            return;
        }
        let fd = if pending[0] == 2 { 2 } else { 1 };
        write_out(fd, &pending[8..8 + len]);
        pending.drain(..8 + len);
    }
}

fn write_out(fd: i32, data: &[u8]) {
    let _ = match fd {
        2 => std::io::Write::write_all(&mut std::io::stderr(), data),
        _ => {
            let mut out = std::io::stdout();
            std::io::Write::write_all(&mut out, data).and_then(|()| std::io::Write::flush(&mut out))
        }
    };
}

/// The terminal in raw mode while attached to a tty container.
struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    fn enter() -> RawTerminal {
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        let Ok(saved) = nix::sys::termios::tcgetattr(stdin.as_fd()) else {
            return RawTerminal(None);
        };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ =
            nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &raw);
        RawTerminal(Some(saved))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin().as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}
