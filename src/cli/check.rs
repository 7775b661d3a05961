//! `berth system check [--repair]`.

use std::path::Path;

use clap::Args;

use super::{CliError, EXIT_INVALID, print};
use crate::runtime::check::{self, Fix};
use crate::runtime::store::Store;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Remove what is safely removable: dead writers' temp files, partial
    /// downloads no pull holds, stale name claims, leases and firewall rules
    /// of containers that are not running, bridges no network record names
    #[arg(long)]
    pub repair: bool,
}

/// One line per problem on stdout; exit 0 when there is none, 1 otherwise
/// (also when a repair fixed everything it found: the store was not sound).
pub fn check(args: &CheckArgs, root: &Path) -> Result<i32, CliError> {
    let failed = |e: &dyn std::fmt::Display| CliError::Engine {
        message: e.to_string(),
        code: EXIT_INVALID,
    };
    let store = Store::open(root).map_err(|e| failed(&e))?;
    let problems = check::check(&store).map_err(|e| failed(&e))?;
    let mut text = String::new();
    for p in &problems {
        let note = if p.fix == Fix::None || args.repair {
            ""
        } else {
            " (--repair removes it)"
        };
        text.push_str(&format!("{}{note}\n", p.message));
    }
    if args.repair {
        for result in check::repair(&store, &problems) {
            match result {
                Ok(done) => text.push_str(&format!("repaired: {done}\n")),
                Err(e) => text.push_str(&format!("cannot repair: {e}\n")),
            }
        }
    }
    if problems.is_empty() {
        text.push_str("the store is sound\n");
    }
    print(&text)?;
    Ok(if problems.is_empty() { 0 } else { EXIT_INVALID })
}
