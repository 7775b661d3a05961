//! Room for the last state write on a full disk.
//!
//! The container's output can fill the filesystem of the root (the log is
//! written until a write fails). The exit code must still be recorded, and a
//! state write needs a few free blocks: the monitor sets 64 KiB aside at
//! start and gives them back when that write fails for want of space.

use std::path::{Path, PathBuf};

use super::super::container::ContainerError;
use super::super::container::create::write_state;
use super::super::container::record::ContainerState;

const FILE: &str = ".state-reserve";
const SIZE: usize = 64 << 10;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Sets the space aside (best effort: without it, only a full disk loses).
pub fn take(dir: &Path) {
    let path = path(dir);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= SIZE as u64) {
        return;
    }
    if allocate(&path).is_err() {
        let _ = std::fs::remove_file(&path);
    }
}

/// Real blocks, without a 64 KiB buffer in the monitor's heap (a monitor's
/// memory is counted per container): fallocate, else zeros from a static page.
fn allocate(path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    static ZEROS: [u8; 4096] = [0; 4096];
    let mut file = std::fs::File::create(path)?;
    let len = SIZE as nix::libc::off_t;
    if nix::fcntl::posix_fallocate(&file, 0, len).is_ok() {
        return Ok(());
    }
    for _ in 0..SIZE / ZEROS.len() {
        file.write_all(&ZEROS)?;
    }
    Ok(())
}

/// `write_state`, retried once with the reserve given back.
pub fn write_final_state(dir: &Path, state: &ContainerState) -> Result<(), ContainerError> {
    match write_state(dir, state) {
        Ok(()) => Ok(()),
        Err(first) => {
            if std::fs::remove_file(path(dir)).is_err() {
                return Err(first);
            }
            write_state(dir, state)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_given_back_only_when_needed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        take(dir.path());
        assert_eq!(std::fs::metadata(path(dir.path()))?.len(), SIZE as u64);
        write_final_state(dir.path(), &ContainerState::default())?;
        assert!(path(dir.path()).exists());
        // A state write that fails (here: no such directory) is retried once
        // the reserve is gone, and its error still surfaces.
        let gone = dir.path().join("gone");
        assert!(write_final_state(&gone, &ContainerState::default()).is_err());
        Ok(())
    }
}
