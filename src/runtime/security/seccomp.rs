//! docker's default seccomp profile (moby `profiles/seccomp/default.json`),
//! compiled with seccompiler for the native architecture (x86_64, aarch64).
//!
//! Default action: fail with `EPERM`. Allowed: docker's unconditional list,
//! its argument-filtered rules (`socket`, `personality`, `clone`), and the
//! syscalls its capability-gated rules add for the container's capabilities.
//! `clone3` fails with `ENOSYS` unless `CAP_SYS_ADMIN`, so libc falls back
//! to `clone`, whose namespace flags the filter can inspect.
//!
//! Differences from docker, on purpose or forced by seccompiler:
//! - `keyctl`, `add_key` and `request_key` stay blocked, as in docker's
//!   profile until 2025. The newest profile (moby/profiles) allows them now
//!   that keyrings respect user namespaces; berth keeps the older, smaller
//!   attack surface. To follow docker, move them into `ALLOW_COMMON`.
//! - `io_uring_*` are blocked, as in docker since 2023.
//! - Only the native ABI is allowed. docker also admits the compat ABIs
//!   (x86 and x32 on x86_64, arm on aarch64); seccompiler kills a process
//!   that makes a syscall with another audit arch, so 32-bit binaries do not
//!   run in a berth container.
//! - Syscalls that exist only in 32-bit ABIs (`chown32`, `socketcall`, ...)
//!   are absent because they have no number here.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::btree_map::Entry;
use std::ffi::CStr;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, sock_filter,
};

use super::SecurityError;
use super::caps::{Cap, Capability};

/// `(name, number)` pairs; names are libc's `SYS_*` spelling.
type Table = &'static [(&'static str, i64)];

/// Syscall number to the rules that allow it; an empty list allows it
/// whatever its arguments.
type Rules = BTreeMap<i64, Vec<SeccompRule>>;

/// Builds a [`Table`] from libc's `SYS_*` constants; `SYS_x = n` gives the
/// number for a syscall libc does not define yet.
macro_rules! table {
    ($($sys:ident $(= $nr:literal)?),* $(,)?) => {
        &[$((stringify!($sys), table!(@nr $sys $($nr)?))),*]
    };
    (@nr $sys:ident) => {
        libc::$sys
    };
    (@nr $sys:ident $nr:literal) => {
        $nr
    };
}

/// Allowed unconditionally on every supported architecture.
const ALLOW_COMMON: Table = table![
    SYS_accept,
    SYS_accept4,
    SYS_adjtimex,
    SYS_bind,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsetxattr,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_get_robust_list,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_getrlimit,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_io_setup,
    SYS_io_submit,
    SYS_ioctl,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_memfd_secret,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_mseal,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_openat,
    SYS_openat2,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_mrelease,
    SYS_pselect6,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_set_robust_list,
    SYS_set_tid_address,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_setitimer,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setrlimit,
    SYS_setsid,
    SYS_setsockopt,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_sync_file_range,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_uname,
    SYS_unlinkat,
    SYS_utimensat,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
];

/// Syscalls libc 0.2 has no constant for yet (Linux 6.5 to 6.13). Numbers
/// from 424 up are the same on every architecture, so one table serves all.
const ALLOW_NEW: Table = table![
    SYS_cachestat = 451,
    SYS_fchmodat2 = 452,
    SYS_map_shadow_stack = 453,
    SYS_futex_wake = 454,
    SYS_futex_wait = 455,
    SYS_futex_requeue = 456,
    SYS_statmount = 457,
    SYS_listmount = 458,
    SYS_setxattrat = 463,
    SYS_getxattrat = 464,
    SYS_listxattrat = 465,
    SYS_removexattrat = 466,
];

/// docker allows these only from Linux 4.8 on: older kernels ran seccomp
/// before a tracer could rewrite the syscall, so ptrace escaped the filter.
const PTRACE_SINCE_4_8: Table = table![SYS_process_vm_readv, SYS_process_vm_writev, SYS_ptrace];

/// Added by `CAP_SYS_ADMIN` (docker also lists `umount`, which has no
/// number on 64-bit architectures).
const SYS_ADMIN: Table = table![
    SYS_bpf,
    SYS_clone,
    SYS_clone3,
    SYS_fanotify_init,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fsopen,
    SYS_fspick,
    SYS_lookup_dcookie,
    SYS_lsm_get_self_attr = 459,
    SYS_lsm_set_self_attr = 460,
    SYS_lsm_list_modules = 461,
    SYS_mount,
    SYS_mount_setattr,
    SYS_move_mount,
    SYS_open_tree,
    SYS_perf_event_open,
    SYS_quotactl,
    SYS_quotactl_fd,
    SYS_setdomainname,
    SYS_sethostname,
    SYS_setns,
    SYS_syslog,
    SYS_umount2,
    SYS_unshare,
];

/// docker's capability-gated rules: holding the capability adds the calls.
/// (`stime` and `clock_settime64` exist only in 32-bit ABIs.)
const CAP_GATED: &[(Capability, Table)] = &[
    (
        Capability::CAP_DAC_READ_SEARCH,
        table![SYS_open_by_handle_at],
    ),
    (Capability::CAP_SYS_ADMIN, SYS_ADMIN),
    (Capability::CAP_SYS_BOOT, table![SYS_reboot]),
    (Capability::CAP_SYS_CHROOT, table![SYS_chroot]),
    (
        Capability::CAP_SYS_MODULE,
        table![SYS_delete_module, SYS_init_module, SYS_finit_module],
    ),
    (Capability::CAP_SYS_PACCT, table![SYS_acct]),
    (
        Capability::CAP_SYS_PTRACE,
        table![
            SYS_kcmp,
            SYS_pidfd_getfd,
            SYS_process_madvise,
            SYS_process_vm_readv,
            SYS_process_vm_writev,
            SYS_ptrace,
        ],
    ),
    (Capability::CAP_SYS_RAWIO, arch::RAWIO),
    (
        Capability::CAP_SYS_TIME,
        table![SYS_settimeofday, SYS_clock_settime],
    ),
    (Capability::CAP_SYS_TTY_CONFIG, table![SYS_vhangup]),
    (
        Capability::CAP_SYS_NICE,
        table![
            SYS_get_mempolicy,
            SYS_mbind,
            SYS_set_mempolicy,
            SYS_set_mempolicy_home_node,
        ],
    ),
    (Capability::CAP_SYSLOG, table![SYS_syslog]),
    (Capability::CAP_BPF, table![SYS_bpf]),
    (Capability::CAP_PERFMON, table![SYS_perf_event_open]),
];

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::Table;

    pub const TARGET: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::x86_64);
    /// AUDIT_ARCH_X86_64: EM_X86_64 | 64-bit | little-endian.
    pub const AUDIT: u32 = 0xC000_003E;

    /// The unconditional list's legacy calls that only x86_64 has, plus
    /// docker's amd64-only `arch_prctl` and `modify_ldt`.
    pub const ALLOW: Table = table![
        SYS_access,
        SYS_alarm,
        SYS_arch_prctl,
        SYS_chmod,
        SYS_chown,
        SYS_creat,
        SYS_dup2,
        SYS_epoll_create,
        SYS_epoll_ctl_old,
        SYS_epoll_wait,
        SYS_epoll_wait_old,
        SYS_eventfd,
        SYS_fork,
        SYS_futimesat,
        SYS_get_thread_area,
        SYS_getdents,
        SYS_getpgrp,
        SYS_inotify_init,
        SYS_lchown,
        SYS_link,
        SYS_lstat,
        SYS_mkdir,
        SYS_mknod,
        SYS_modify_ldt,
        SYS_open,
        SYS_pause,
        SYS_pipe,
        SYS_poll,
        SYS_readlink,
        SYS_rename,
        SYS_rmdir,
        SYS_select,
        SYS_set_thread_area,
        SYS_signalfd,
        SYS_stat,
        SYS_symlink,
        SYS_time,
        SYS_unlink,
        SYS_utime,
        SYS_utimes,
        SYS_vfork,
        SYS_uretprobe = 335,
    ];

    pub const RAWIO: Table = table![SYS_iopl, SYS_ioperm];
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use super::Table;

    pub const TARGET: Option<seccompiler::TargetArch> = Some(seccompiler::TargetArch::aarch64);
    /// AUDIT_ARCH_AARCH64: EM_AARCH64 | 64-bit | little-endian.
    pub const AUDIT: u32 = 0xC000_00B7;
    /// docker's arm-only calls (`cacheflush`, `set_tls`, ...) belong to the
    /// 32-bit arm ABI and have no aarch64 number.
    pub const ALLOW: Table = &[];
    pub const RAWIO: Table = &[];
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    use super::Table;

    pub const TARGET: Option<seccompiler::TargetArch> = None;
    pub const AUDIT: u32 = 0;
    pub const ALLOW: Table = &[];
    pub const RAWIO: Table = &[];
}

/// docker's `personality` allowlist: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query only).
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Namespace flags a container without `CAP_SYS_ADMIN` may not pass to
/// `clone` (docker's 2114060288).
const CLONE_NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The kernel's limit on classic BPF program length (BPF_MAXINSNS).
const BPF_MAXINSNS: usize = 4096;

// Classic BPF opcodes and `struct seccomp_data` offsets (linux/filter.h,
// linux/seccomp.h), for the hand-written clone3 prefix.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD 0x00 | BPF_W 0x00 | BPF_ABS 0x20
const BPF_JMP_JEQ_K: u16 = 0x15; // BPF_JMP 0x05 | BPF_JEQ 0x10 | BPF_K 0x00
const BPF_RET_K: u16 = 0x06; // BPF_RET 0x06 | BPF_K 0x00
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const CLONE3_NR: u32 = libc::SYS_clone3 as u32;

/// Builds docker's default filter for a container holding `caps` (the set
/// from [`super::caps::resolve`]).
///
/// Pure computation (no syscalls but one `uname`): build it in the engine or
/// before forking the init, then pass it to [`install`].
pub fn default_filter(caps: &BTreeSet<Cap>) -> Result<BpfProgram, SecurityError> {
    let target = arch::TARGET.ok_or(SecurityError::UnsupportedArch {
        arch: std::env::consts::ARCH,
    })?;
    let filter = SeccompFilter::new(
        rules(caps)?,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        target,
    )
    .map_err(compile_error)?;
    let prog = BpfProgram::try_from(filter).map_err(compile_error)?;
    if has(caps, Capability::CAP_SYS_ADMIN) {
        Ok(prog)
    } else {
        with_clone3_enosys(prog)
    }
}

/// Installs `prog` on the calling thread only (the container init is
/// single-threaded); it is inherited across fork and exec and cannot be
/// removed.
///
/// seccompiler sets `PR_SET_NO_NEW_PRIVS` itself before installing (an
/// unprivileged process can only install a filter with it), so this also
/// turns no_new_privs on. Call it last before `execve`: every syscall after
/// it is filtered.
/// Installs the filter with `seccomp(2)` directly (seccompiler's helper would
/// also set no_new_privs, which `--security-opt no-new-privileges=false` must
/// not get). Without no_new_privs the kernel requires CAP_SYS_ADMIN, so callers
/// then install before dropping capabilities.
pub fn install(prog: &BpfProgram) -> Result<(), SecurityError> {
    let len = u16::try_from(prog.len()).map_err(|_| SecurityError::Prctl {
        op: "seccomp (filter too long)",
        errno: nix::errno::Errno::E2BIG,
    })?;
    let fprog = libc::sock_fprog {
        len,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `prog`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        return Err(SecurityError::Prctl {
            op: "seccomp(SECCOMP_SET_MODE_FILTER)",
            errno: nix::errno::Errno::last(),
        });
    }
    Ok(())
}

/// Sets `PR_SET_NO_NEW_PRIVS`: execve can no longer grant privileges
/// (setuid bits, file capabilities). Irreversible; inherited by children.
pub fn set_no_new_privs() -> Result<(), SecurityError> {
    nix::sys::prctl::set_no_new_privs().map_err(|errno| SecurityError::Prctl {
        op: "PR_SET_NO_NEW_PRIVS",
        errno,
    })
}

fn has(caps: &BTreeSet<Cap>, cap: Capability) -> bool {
    caps.contains(&Cap(cap))
}

fn compile_error(source: BackendError) -> SecurityError {
    SecurityError::SeccompCompile { source }
}

fn rule_error(syscall: &'static str) -> impl Fn(BackendError) -> SecurityError {
    move |source| SecurityError::SeccompRule { syscall, source }
}

/// The allow rules for a container holding `caps`.
fn rules(caps: &BTreeSet<Cap>) -> Result<Rules, SecurityError> {
    let mut rules = Rules::new();
    for table in [ALLOW_COMMON, arch::ALLOW, ALLOW_NEW] {
        allow_all(&mut rules, table);
    }
    if kernel_at_least(4, 8) {
        allow_all(&mut rules, PTRACE_SINCE_4_8);
    }
    for (cap, table) in CAP_GATED {
        if has(caps, *cap) {
            allow_all(&mut rules, table);
        }
    }
    add_arg_rules(&mut rules)?;
    if !has(caps, Capability::CAP_SYS_ADMIN) {
        let rule = arg0_rule("clone", SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)?;
        allow_when(&mut rules, libc::SYS_clone, rule);
    }
    Ok(rules)
}

/// docker's argument-filtered rules that do not depend on capabilities.
fn add_arg_rules(rules: &mut Rules) -> Result<(), SecurityError> {
    // AF_VSOCK would reach the host's vsock services from the container.
    let vsock = arg0_rule("socket", SeccompCmpOp::Ne, libc::AF_VSOCK as u64)?;
    allow_when(rules, libc::SYS_socket, vsock);
    for persona in PERSONALITIES {
        let rule = arg0_rule("personality", SeccompCmpOp::Eq, persona)?;
        allow_when(rules, libc::SYS_personality, rule);
    }
    Ok(())
}

/// A rule on the low 32 bits of the first argument (all of docker's
/// conditions fit there: an int, a persona, clone flags).
fn arg0_rule(
    syscall: &'static str,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompRule, SecurityError> {
    let cond = SeccompCondition::new(0, SeccompCmpArgLen::Dword, op, value)
        .map_err(rule_error(syscall))?;
    SeccompRule::new(vec![cond]).map_err(rule_error(syscall))
}

fn allow_all(rules: &mut Rules, table: Table) {
    for (_, nr) in table {
        // An empty rule list matches any arguments, so it replaces any
        // narrower rules already there.
        rules.insert(*nr, Vec::new());
    }
}

fn allow_when(rules: &mut Rules, nr: i64, rule: SeccompRule) {
    match rules.entry(nr) {
        // Already allowed whatever the arguments: a condition would narrow it.
        Entry::Occupied(e) if e.get().is_empty() => {}
        entry => entry.or_default().push(rule),
    }
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Prefixes `prog` with "native clone3 -> ENOSYS". seccompiler gives a filter
/// one match action, and docker wants ENOSYS (not EPERM) for clone3 so that
/// glibc >= 2.34 falls back to clone. The prefix checks the arch itself and
/// falls through to `prog`, which starts by loading what it needs.
fn with_clone3_enosys(prog: BpfProgram) -> Result<BpfProgram, SecurityError> {
    let mut out = vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
        jump(BPF_JMP_JEQ_K, arch::AUDIT, 0, 3),
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
        jump(BPF_JMP_JEQ_K, CLONE3_NR, 0, 1),
        stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ];
    out.extend(prog);
    if out.len() > BPF_MAXINSNS {
        return Err(compile_error(BackendError::FilterTooLarge(out.len())));
    }
    Ok(out)
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    static VERSION: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    // An unknown version counts as old: the gated calls stay blocked.
    VERSION
        .get_or_init(kernel_version)
        .is_some_and(|v| v >= (major, minor))
}

fn kernel_version() -> Option<(u32, u32)> {
    // SAFETY: utsname is plain arrays of c_char; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes into the struct we own.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    // SAFETY: the kernel NUL-terminates release within the array.
    let release = unsafe { CStr::from_ptr(uts.release.as_ptr()) };
    parse_release(release.to_str().ok()?)
}

/// "6.18.44-foo" -> (6, 18).
fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::security::caps::{DEFAULT_CAPS, default_set};
    use crate::runtime::security::testutil::{in_child, is_root};
    use nix::errno::Errno;

    fn with(extra: Capability) -> BTreeSet<Cap> {
        let mut caps = default_set();
        caps.insert(Cap(extra));
        caps
    }

    fn allowed(caps: &BTreeSet<Cap>) -> Rules {
        rules(caps).unwrap()
    }

    /// The errno of a raw syscall result, or `None` if it succeeded.
    fn errno_of(rc: libc::c_long) -> Option<Errno> {
        (rc == -1).then(Errno::last)
    }

    #[test]
    fn docker_constants() {
        assert_eq!(CLONE_NAMESPACE_FLAGS, 2_114_060_288);
        assert_eq!(libc::AF_VSOCK, 40);
        assert_eq!(CLONE3_NR, 435);
    }

    #[test]
    fn default_filter_builds_within_bpf_limit() {
        let prog = default_filter(&default_set()).unwrap();
        assert!(prog.len() <= BPF_MAXINSNS, "{} instructions", prog.len());
        let all =
            default_filter(&crate::runtime::security::caps::available_caps().unwrap()).unwrap();
        assert!(all.len() <= BPF_MAXINSNS, "{} instructions", all.len());
    }

    #[test]
    fn default_caps_block_dangerous_syscalls() {
        let rules = allowed(&default_set());
        let blocked = [
            ("keyctl", libc::SYS_keyctl),
            ("add_key", libc::SYS_add_key),
            ("request_key", libc::SYS_request_key),
            ("bpf", libc::SYS_bpf),
            ("mount", libc::SYS_mount),
            ("umount2", libc::SYS_umount2),
            ("unshare", libc::SYS_unshare),
            ("setns", libc::SYS_setns),
            ("kexec_load", libc::SYS_kexec_load),
            ("kexec_file_load", libc::SYS_kexec_file_load),
            ("init_module", libc::SYS_init_module),
            ("finit_module", libc::SYS_finit_module),
            ("delete_module", libc::SYS_delete_module),
            ("reboot", libc::SYS_reboot),
            ("swapon", libc::SYS_swapon),
            ("swapoff", libc::SYS_swapoff),
            ("open_by_handle_at", libc::SYS_open_by_handle_at),
            ("userfaultfd", libc::SYS_userfaultfd),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("pivot_root", libc::SYS_pivot_root),
            ("clone3", libc::SYS_clone3),
            ("sethostname", libc::SYS_sethostname),
            ("acct", libc::SYS_acct),
            ("settimeofday", libc::SYS_settimeofday),
        ];
        for (name, nr) in blocked {
            assert!(!rules.contains_key(&nr), "{name} must be blocked");
        }
        #[cfg(target_arch = "x86_64")]
        for nr in [libc::SYS_iopl, libc::SYS_ioperm] {
            assert!(!rules.contains_key(&nr));
        }
    }

    #[test]
    fn default_caps_allow_the_basics() {
        let rules = allowed(&default_set());
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_execve,
            libc::SYS_exit_group,
            libc::SYS_futex,
            libc::SYS_mmap,
            libc::SYS_getpid,
            libc::SYS_chroot, // CAP_SYS_CHROOT is a default capability
            libc::SYS_ptrace, // unconditional since Linux 4.8
            libc::SYS_name_to_handle_at,
            452, // fchmodat2, newer than libc's table
        ] {
            assert_eq!(rules.get(&nr).map(Vec::len), Some(0), "syscall {nr}");
        }
        // Argument-filtered: present, with conditions.
        assert_eq!(rules[&libc::SYS_clone].len(), 1);
        assert_eq!(rules[&libc::SYS_socket].len(), 1);
        assert_eq!(rules[&libc::SYS_personality].len(), 5);
    }

    #[test]
    fn capabilities_add_their_syscalls() {
        let gated = [
            (Capability::CAP_SYS_ADMIN, libc::SYS_mount),
            (Capability::CAP_SYS_ADMIN, libc::SYS_clone3),
            (Capability::CAP_SYS_MODULE, libc::SYS_finit_module),
            (Capability::CAP_SYS_BOOT, libc::SYS_reboot),
            (Capability::CAP_SYS_PTRACE, libc::SYS_kcmp),
            (Capability::CAP_SYS_TIME, libc::SYS_clock_settime),
            (Capability::CAP_SYS_NICE, libc::SYS_mbind),
            (Capability::CAP_DAC_READ_SEARCH, libc::SYS_open_by_handle_at),
            (Capability::CAP_BPF, libc::SYS_bpf),
            (Capability::CAP_PERFMON, libc::SYS_perf_event_open),
            (Capability::CAP_SYSLOG, libc::SYS_syslog),
            (Capability::CAP_SYS_PACCT, libc::SYS_acct),
            (Capability::CAP_SYS_TTY_CONFIG, libc::SYS_vhangup),
        ];
        for (cap, nr) in gated {
            assert_eq!(allowed(&with(cap)).get(&nr).map(Vec::len), Some(0), "{cap}");
        }
        // CAP_SYS_ADMIN lifts the clone flag check and the clone3 ENOSYS.
        let admin = with(Capability::CAP_SYS_ADMIN);
        assert!(allowed(&admin)[&libc::SYS_clone].is_empty());
        let enosys = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
        assert!(
            default_filter(&admin)
                .unwrap()
                .iter()
                .all(|i| i.k != enosys)
        );
        assert_eq!(default_filter(&default_set()).unwrap()[4].k, enosys);
    }

    #[test]
    fn release_parsing() {
        assert_eq!(parse_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_release("4.8.0"), Some((4, 8)));
        assert_eq!(parse_release("5.4"), Some((5, 4)));
        assert_eq!(parse_release("garbage"), None);
        assert!(kernel_at_least(3, 0));
    }

    #[test]
    fn tables_have_unique_names() {
        let mut names = BTreeSet::new();
        for (name, _) in ALLOW_COMMON.iter().chain(arch::ALLOW).chain(ALLOW_NEW) {
            assert!(names.insert(*name), "{name} listed twice");
        }
        assert!(names.len() > 300, "{}", names.len());
    }

    /// Reports whether the child's seccomp mode is 2 (filter).
    fn seccomp_mode_is_filter() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.split_whitespace().eq(["Seccomp:", "2"]))
            })
            .unwrap_or(false)
    }

    /// Runs the blocked-syscall probes; 0 when all fail with the right errno.
    fn probe_blocked() -> i32 {
        let null = std::ptr::null::<libc::c_void>();
        // SAFETY: each call is rejected by the filter before the kernel
        // looks at the (null) pointer arguments.
        // errno_of runs right after each call, before the next one resets errno.
        let probes: [(i32, Option<Errno>, Errno); 8] = unsafe {
            [
                (
                    10,
                    errno_of(libc::syscall(libc::SYS_keyctl, 0, -3, 0)),
                    Errno::EPERM,
                ),
                (
                    11,
                    errno_of(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)),
                    Errno::EPERM,
                ),
                (
                    12,
                    errno_of(libc::syscall(libc::SYS_mount, null, null, null, 0, null)),
                    Errno::EPERM,
                ),
                (
                    13,
                    errno_of(libc::syscall(libc::SYS_clone3, null, 0)),
                    Errno::ENOSYS,
                ),
                (
                    14,
                    errno_of(libc::syscall(
                        libc::SYS_socket,
                        libc::AF_VSOCK,
                        libc::SOCK_STREAM,
                        0,
                    )),
                    Errno::EPERM,
                ),
                (
                    15,
                    errno_of(libc::syscall(libc::SYS_personality, 0x0040_0000)),
                    Errno::EPERM,
                ),
                (
                    16,
                    errno_of(libc::syscall(libc::SYS_bpf, 0, null, 0)),
                    Errno::EPERM,
                ),
                (
                    17,
                    errno_of(libc::syscall(libc::SYS_io_uring_setup, 1, null)),
                    Errno::EPERM,
                ),
            ]
        };
        probes
            .iter()
            .find(|(_, got, want)| *got != Some(*want))
            .map_or(0, |(step, ..)| *step)
    }

    /// A clone asking for a new mount namespace must fail; if the filter
    /// wrongly lets it through, the clone child exits at once.
    fn probe_clone_newns() -> i32 {
        let flags = libc::CLONE_NEWNS | libc::SIGCHLD;
        // SAFETY: with a null stack this behaves like fork; a child (rc 0)
        // only calls _exit.
        let rc = unsafe { libc::syscall(libc::SYS_clone, flags, 0, 0, 0, 0) };
        if rc == 0 {
            unsafe { libc::_exit(0) };
        }
        if errno_of(rc) == Some(Errno::EPERM) {
            0
        } else {
            20
        }
    }

    /// Things a container must still be able to do.
    fn probe_allowed() -> i32 {
        // SAFETY: plain syscalls with valid arguments.
        let pid = unsafe { libc::syscall(libc::SYS_getpid) };
        if pid != i64::from(std::process::id()) {
            return 30;
        }
        let ok = b"ok";
        // SAFETY: writes two bytes from a live buffer to an open pipe.
        let mut fds = [0; 2];
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0
            || unsafe { libc::write(fds[1], ok.as_ptr().cast(), 2) } != 2
        {
            return 31;
        }
        // SAFETY: a query (0xffffffff) and PER_LINUX are on docker's list.
        if unsafe { libc::personality(0xffff_ffff) } == -1 || unsafe { libc::personality(0) } == -1
        {
            return 32;
        }
        // SAFETY: creates and closes a unix socket.
        let sock = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
        if sock < 0 || unsafe { libc::close(sock) } != 0 {
            return 33;
        }
        probe_fork()
    }

    /// glibc's fork (clone without namespace flags, or clone3 -> ENOSYS ->
    /// clone) must work and the child's exit status come back.
    fn probe_fork() -> i32 {
        use nix::sys::wait::{WaitStatus, waitpid};
        use nix::unistd::{ForkResult, fork};
        // SAFETY: the grandchild only calls _exit.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => unsafe { libc::_exit(7) },
            Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 7)) => 0,
                _ => 41,
            },
            Err(_) => 40,
        }
    }

    #[test]
    fn default_filter_enforces_in_child() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let prog = default_filter(&DEFAULT_CAPS.iter().copied().map(Cap).collect()).unwrap();
        let code = in_child(|| {
            if set_no_new_privs().is_err() || install(&prog).is_err() {
                return 1;
            }
            if !seccomp_mode_is_filter() {
                return 2;
            }
            [probe_blocked, probe_clone_newns, probe_allowed]
                .iter()
                .map(|probe| probe())
                .find(|code| *code != 0)
                .unwrap_or(0)
        });
        assert_eq!(code, 0, "child failed at step {code}");
    }

    #[test]
    fn sys_admin_filter_allows_namespaces_in_child() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let prog = default_filter(&with(Capability::CAP_SYS_ADMIN)).unwrap();
        let code = in_child(|| {
            if install(&prog).is_err() {
                return 1;
            }
            // SAFETY: a new UTS namespace only affects this child.
            if unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) } != 0 {
                return 2;
            }
            // clone3 reaches the kernel, which rejects the null args itself.
            // SAFETY: the kernel validates the null pointer and size 0.
            let rc = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0) };
            if errno_of(rc) == Some(Errno::ENOSYS) {
                3
            } else {
                0
            }
        });
        assert_eq!(code, 0, "child failed at step {code}");
    }
}
