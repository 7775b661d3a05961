use clap::Parser;

mod allocator;

#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

use berth::cli::{Cli, run};

fn main() {
    // A detached container's monitor: checked before clap, which would build the
    // whole command tree in memory the monitor then keeps for its lifetime.
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).take(5).collect();
    if let Some((flag, rest)) = args.split_first()
        && flag == berth::runtime::monitor::MONITOR_FLAG
    {
        std::process::exit(berth::runtime::monitor::detached_main(rest));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => usage_error(e),
    };
    init_logging(cli.log_level);
    let code = match run(cli) {
        Ok(code) => code,
        Err(e @ berth::cli::CliError::Daemon(_)) => {
            eprintln!("{e}");
            e.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}

/// Logs go to stderr, at the level `--log-level` (or BERTH_LOG_LEVEL) asks for.
fn init_logging(level: berth::cli::LogLevel) {
    use berth::cli::LogLevel;
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Help and version go to stdout with status 0. A bad command line exits as the
/// tool berth stands in for would: 1 for the stack verbs (docker compose), 125
/// for the engine verbs (docker).
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        std::process::exit(0);
    }
    let _ = e.print();
    let verb = verb_of(std::env::args().skip(1));
    let stack_verb = matches!(
        verb.as_deref(),
        Some(
            "config"
                | "plan"
                | "completion"
                | "up"
                | "down"
                | "apply"
                | "watch"
                | "stack"
                | "compose"
        ) | None
    );
    std::process::exit(if stack_verb {
        berth::cli::EXIT_INVALID
    } else {
        berth::cli::EXIT_ENGINE
    });
}

/// The subcommand: the first word that is neither a flag nor the value of a
/// global flag (`--root DIR`, `--log-level LEVEL`).
fn verb_of(mut args: impl Iterator<Item = String>) -> Option<String> {
    while let Some(arg) = args.next() {
        if arg == "--root" || arg == "--log-level" {
            args.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}
