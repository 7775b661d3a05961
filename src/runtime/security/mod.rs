//! Container hardening applied by the container's init process: Linux
//! capabilities, the default seccomp filter, and masked / read-only paths.
//!
//! Everything here mirrors docker's defaults. The container init must apply
//! the pieces in this order (each step needs privileges the next one drops):
//!
//! 1. Inside the new namespaces, after `pivot_root`, with `/proc`, `/sys` and a
//!    fresh tmpfs `/dev` mounted: [`paths::mask_paths`] then
//!    [`paths::readonly_paths`] (they need `CAP_SYS_ADMIN`).
//! 2. [`caps::drop_bounding`] while still uid 0 with full capabilities (needs
//!    `CAP_SETPCAP`).
//! 3. `setgroups`, `setgid`, `setuid` to the container user. Do not set
//!    `PR_SET_KEEPCAPS`: docker gives a non-root user empty effective and
//!    permitted sets, which is what the kernel does on `setuid` without it.
//! 4. [`caps::apply`]: permitted/effective to the kept set (as far as the
//!    kernel still allows), inheritable and ambient emptied.
//! 5. [`seccomp::set_no_new_privs`] (berth's default; docker's
//!    `no-new-privileges`).
//! 6. [`seccomp::install`] with a program built earlier by
//!    [`seccomp::default_filter`] (build it before forking: it allocates).
//! 7. `execve` the container's entrypoint; `execve` is in the allowlist.

pub mod caps;
pub mod paths;
pub mod seccomp;

use std::path::PathBuf;

use nix::errno::Errno;

/// Errors from applying capabilities, seccomp or path masking. Each variant
/// names the thing (capability, syscall, path) it failed on.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    /// A `--cap-add` / `--cap-drop` name that is not a Linux capability.
    #[error(
        "unknown capability {name:?}: expected a name such as NET_ADMIN or CAP_NET_ADMIN, or ALL"
    )]
    UnknownCapability { name: String },

    /// A capability the kernel or the engine's own bounding set lacks.
    #[error("capability {name} is not supported by the kernel or not available to berth itself")]
    UnavailableCapability { name: String },

    /// A prctl/capset on one capability failed.
    #[error("cannot {op} capability {cap}: {errno}")]
    Capability {
        op: &'static str,
        cap: String,
        errno: Errno,
    },

    /// A whole-set capability operation failed (the caps crate reports text).
    #[error("cannot {op}: {source}")]
    CapabilitySet {
        op: &'static str,
        #[source]
        source: ::caps::errors::CapsError,
    },

    /// A seccomp condition or filter could not be built.
    #[error("cannot build seccomp rule for {syscall}: {source}")]
    SeccompRule {
        syscall: &'static str,
        #[source]
        source: seccompiler::BackendError,
    },

    /// The compiled seccomp program was rejected by the compiler backend.
    #[error("cannot compile seccomp filter: {source}")]
    SeccompCompile {
        #[source]
        source: seccompiler::BackendError,
    },

    /// The kernel refused the seccomp program.
    #[error("cannot install seccomp filter: {source}")]
    SeccompInstall {
        #[source]
        source: seccompiler::Error,
    },

    /// Seccomp filters are only defined for some architectures.
    #[error("no default seccomp filter for architecture {arch}")]
    UnsupportedArch { arch: &'static str },

    /// A prctl that is not about one capability (no_new_privs, ...).
    #[error("prctl {op} failed: {errno}")]
    Prctl { op: &'static str, errno: Errno },

    /// A syscall on a path failed.
    #[error("cannot {op} {path}: {errno}")]
    Path {
        op: &'static str,
        path: PathBuf,
        errno: Errno,
    },

    /// The opened path resolved somewhere else than asked (a symlink or a
    /// mount race), so it is not safe to mount on.
    #[error("{path} resolved to {actual}; refusing to mount over it")]
    PathMismatch { path: PathBuf, actual: PathBuf },

    /// The `/dev/null` used to mask files is not the real null device.
    #[error("{path} is not the null character device (1:3)")]
    NotDevNull { path: PathBuf },
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Fork-based helpers: tests that change process-wide state (caps,
    //! seccomp, mount namespace) run it in a child so the test runner is
    //! untouched.

    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork};

    /// True when tests can change capabilities, mounts and namespaces.
    pub fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Runs `child` in a forked process and returns its exit code. The child
    /// returns 0 for success or a step number that failed; a panic is 101.
    pub fn in_child(child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `child` and then `_exit`s; glibc keeps
        // malloc usable after fork, and the child never returns into the
        // test harness.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let code =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
                // SAFETY: _exit is async-signal-safe and skips atexit
                // handlers that belong to the parent.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => code,
                other => panic!("child did not exit normally: {other:?}"),
            },
            Err(e) => panic!("fork failed: {e}"),
        }
    }
}
