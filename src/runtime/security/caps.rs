//! Linux capabilities: docker's default set, `--cap-add` / `--cap-drop`
//! resolution, and applying the result in the container's init process.
//!
//! `caps::Capability` has no `Ord`, so sets are `BTreeSet<Cap>`: a thin
//! wrapper ordered by kernel index, which keeps output and config hashes
//! deterministic.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

pub use ::caps::Capability;
use ::caps::{CapSet, CapsHashSet};
use nix::errno::Errno;

use super::SecurityError;

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// The magic `--cap-add` / `--cap-drop` value meaning every capability.
const ALL: &str = "ALL";

/// A capability ordered by its kernel index, so it can live in a `BTreeSet`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cap(pub Capability);

impl Ord for Cap {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.index().cmp(&other.0.index())
    }
}

impl PartialOrd for Cap {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<Capability> for Cap {
    fn from(cap: Capability) -> Self {
        Cap(cap)
    }
}

impl fmt::Display for Cap {
    /// The kernel's name, e.g. `CAP_NET_ADMIN` (what OCI specs use).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Cap {
    type Err = SecurityError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        parse_cap(name).map(Cap)
    }
}

/// [`DEFAULT_CAPS`] as a set.
pub fn default_set() -> BTreeSet<Cap> {
    DEFAULT_CAPS.iter().copied().map(Cap).collect()
}

/// Parses `NET_ADMIN`, `CAP_NET_ADMIN`, `net_admin`, ... into a capability.
/// `ALL` is not a capability; [`resolve`] handles it.
pub fn parse_cap(name: &str) -> Result<Capability, SecurityError> {
    let canonical = ::caps::to_canonical(name.trim());
    Capability::from_str(&canonical).map_err(|_| SecurityError::UnknownCapability {
        name: name.to_string(),
    })
}

/// Capabilities available to containers started from here: those in this
/// process's bounding set (docker's "available in the current environment";
/// a cap the engine itself lacks cannot be handed to a container).
pub fn available_caps() -> Result<BTreeSet<Cap>, SecurityError> {
    let bounding = ::caps::read(None, CapSet::Bounding).map_err(set_error("read bounding set"))?;
    Ok(bounding.into_iter().map(Cap).collect())
}

/// One parsed `--cap-add` or `--cap-drop` list.
#[derive(Default)]
struct Selection {
    all: bool,
    caps: BTreeSet<Cap>,
}

fn parse_selection(names: &[String]) -> Result<Selection, SecurityError> {
    let mut sel = Selection::default();
    for name in names {
        if name.trim().eq_ignore_ascii_case(ALL) {
            sel.all = true;
        } else {
            sel.caps.insert(name.parse()?);
        }
    }
    Ok(sel)
}

fn check_available(sel: &Selection, available: &BTreeSet<Cap>) -> Result<(), SecurityError> {
    match sel.caps.iter().find(|c| !available.contains(c)) {
        Some(cap) => Err(SecurityError::UnavailableCapability {
            name: cap.to_string(),
        }),
        None => Ok(()),
    }
}

/// The capability set of a container, with docker's rules (moby
/// `TweakCapabilities`):
/// - `privileged`: every [available](available_caps) capability; add/drop
///   ignored.
/// - `--cap-add ALL`: every available capability minus the dropped ones.
/// - `--cap-drop ALL`: exactly the added ones (so `--cap-drop ALL
///   --cap-add NET_BIND_SERVICE` keeps just that one).
/// - otherwise: the defaults minus the dropped ones, plus the added ones (a
///   capability both added and dropped is kept, as in docker).
pub fn resolve(
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<BTreeSet<Cap>, SecurityError> {
    let available = available_caps()?;
    if privileged {
        return Ok(available);
    }
    let add = parse_selection(add)?;
    let drop = parse_selection(drop)?;
    check_available(&add, &available)?;
    check_available(&drop, &available)?;
    Ok(combine(&add, &drop, available))
}

fn combine(add: &Selection, drop: &Selection, available: BTreeSet<Cap>) -> BTreeSet<Cap> {
    if add.all {
        available.difference(&drop.caps).copied().collect()
    } else if drop.all {
        add.caps.clone()
    } else {
        let kept = default_set().difference(&drop.caps).copied().collect();
        add.caps.union(&kept).copied().collect()
    }
}

/// Reads one bounding-set bit; `EINVAL` means the kernel has no such cap.
fn bounding_has(index: u8) -> Result<bool, Errno> {
    // SAFETY: PR_CAPBSET_READ only reads the calling thread's state.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(index), 0, 0, 0) };
    Errno::result(rc).map(|v| v == 1)
}

fn bounding_drop(index: u8) -> Result<(), Errno> {
    // SAFETY: PR_CAPBSET_DROP only changes the calling thread's state.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(index), 0, 0, 0) };
    Errno::result(rc).map(drop)
}

fn name_of(index: u8) -> String {
    ::caps::all()
        .into_iter()
        .find(|c| c.index() == index)
        .map_or_else(|| format!("capability #{index}"), |c| c.to_string())
}

/// Drops every capability not in `keep` from the bounding set, so nothing in
/// the container (not even a setuid or file-capability binary) can regain it.
///
/// Call while still uid 0 with full capabilities: it needs `CAP_SETPCAP`.
/// It walks raw indices up to the kernel's last capability, so capabilities
/// newer than the `caps` crate are dropped too.
pub fn drop_bounding(keep: &BTreeSet<Cap>) -> Result<(), SecurityError> {
    let kept: BTreeSet<u8> = keep.iter().map(|c| c.0.index()).collect();
    for index in 0..64u8 {
        let present = match bounding_has(index) {
            Err(Errno::EINVAL) => break,
            Err(errno) => return Err(cap_error("read bounding", index, errno)),
            Ok(present) => present,
        };
        if present && !kept.contains(&index) {
            bounding_drop(index).map_err(|e| cap_error("drop from bounding set", index, e))?;
        }
    }
    Ok(())
}

fn cap_error(op: &'static str, index: u8, errno: Errno) -> SecurityError {
    SecurityError::Capability {
        op,
        cap: name_of(index),
        errno,
    }
}

fn set_error(op: &'static str) -> impl FnOnce(::caps::errors::CapsError) -> SecurityError {
    move |source| SecurityError::CapabilitySet { op, source }
}

/// Sets the process's capabilities to `keep`: permitted and effective become
/// `keep` intersected with what is still permitted, inheritable and ambient
/// become empty (CVE-2022-24769: a non-empty inheritable set lets file
/// capabilities of binaries in the image be gained across exec).
///
/// Call after `setgroups`/`setgid`/`setuid`. When the user is not root and
/// `PR_SET_KEEPCAPS` was not set, `setuid` already emptied permitted and
/// effective; then this only empties inheritable and ambient, which is
/// docker's behaviour for `--user` (CapEff = CapPrm = 0, CapBnd = the set).
/// Never raises anything beyond `keep`.
pub fn apply(keep: &BTreeSet<Cap>) -> Result<(), SecurityError> {
    clear_ambient()?;
    let permitted = ::caps::read(None, CapSet::Permitted).map_err(set_error("read permitted"))?;
    let target: CapsHashSet = keep
        .iter()
        .map(|c| c.0)
        .filter(|c| permitted.contains(c))
        .collect();
    ::caps::clear(None, CapSet::Inheritable).map_err(set_error("clear inheritable"))?;
    // Effective first: it must stay a subset of permitted at every step.
    ::caps::set(None, CapSet::Effective, &target).map_err(set_error("set effective"))?;
    ::caps::set(None, CapSet::Permitted, &target).map_err(set_error("set permitted"))?;
    Ok(())
}

fn clear_ambient() -> Result<(), SecurityError> {
    // Kernels before 4.3 have no ambient set, so there is nothing to clear.
    if ::caps::runtime::ambient_set_supported().is_err() {
        return Ok(());
    }
    ::caps::clear(None, CapSet::Ambient).map_err(set_error("clear ambient"))
}

/// Whether this process holds `cap` in its effective set.
pub fn has_effective(cap: Capability) -> bool {
    caps::has_cap(None, caps::CapSet::Effective, cap).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::security::testutil::{in_child, is_root};

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn set_of(caps: &[Capability]) -> BTreeSet<Cap> {
        caps.iter().copied().map(Cap).collect()
    }

    fn mask(set: &BTreeSet<Cap>) -> u64 {
        set.iter().map(|c| c.0.bitmask()).sum()
    }

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(mask(&default_set()), 0xa804_25fb);
        assert_eq!(default_set().len(), 14);
    }

    #[test]
    fn parse_accepts_prefix_and_any_case() {
        for name in [
            "NET_ADMIN",
            "CAP_NET_ADMIN",
            "net_admin",
            "Cap_Net_Admin",
            " NET_ADMIN ",
        ] {
            assert_eq!(
                parse_cap(name).unwrap(),
                Capability::CAP_NET_ADMIN,
                "{name}"
            );
        }
    }

    #[test]
    fn parse_rejects_unknown_with_the_name() {
        for name in ["NET_ADMINN", "", "CAP_", "ALL"] {
            let err = parse_cap(name).unwrap_err();
            assert!(matches!(&err, SecurityError::UnknownCapability { name: n } if n == name));
        }
        let msg = parse_cap("FOO_BAR").unwrap_err().to_string();
        assert!(msg.contains("\"FOO_BAR\""), "{msg}");
    }

    #[test]
    fn display_round_trips() {
        let cap: Cap = "sys_admin".parse().unwrap();
        assert_eq!(cap.to_string(), "CAP_SYS_ADMIN");
        assert_eq!(cap.to_string().parse::<Cap>().unwrap(), cap);
    }

    #[test]
    fn resolve_defaults() {
        assert_eq!(resolve(&[], &[], false).unwrap(), default_set());
    }

    #[test]
    fn resolve_add_and_drop() {
        let got = resolve(
            &strings(&["NET_ADMIN"]),
            &strings(&["cap_mknod", "KILL"]),
            false,
        )
        .unwrap();
        let mut want = default_set();
        want.insert(Cap(Capability::CAP_NET_ADMIN));
        want.remove(&Cap(Capability::CAP_MKNOD));
        want.remove(&Cap(Capability::CAP_KILL));
        assert_eq!(got, want);
    }

    #[test]
    fn resolve_drop_all_keeps_explicit_adds() {
        let got = resolve(&strings(&["NET_BIND_SERVICE"]), &strings(&["ALL"]), false).unwrap();
        assert_eq!(got, set_of(&[Capability::CAP_NET_BIND_SERVICE]));
        assert!(resolve(&[], &strings(&["all"]), false).unwrap().is_empty());
    }

    #[test]
    fn resolve_add_all_minus_drops() {
        let got = resolve(&strings(&["all"]), &strings(&["SYS_ADMIN"]), false).unwrap();
        let mut want = available_caps().unwrap();
        want.remove(&Cap(Capability::CAP_SYS_ADMIN));
        assert_eq!(got, want);
    }

    #[test]
    fn resolve_add_wins_over_same_drop_like_docker() {
        let got = resolve(&strings(&["NET_RAW"]), &strings(&["NET_RAW"]), false).unwrap();
        assert!(got.contains(&Cap(Capability::CAP_NET_RAW)));
    }

    #[test]
    fn resolve_privileged_is_everything_available() {
        let got = resolve(&strings(&["bogus"]), &strings(&["ALL"]), true).unwrap();
        assert_eq!(got, available_caps().unwrap());
        assert!(got.contains(&Cap(Capability::CAP_SYS_ADMIN)));
        assert!(got.len() >= 38, "{}", got.len());
    }

    #[test]
    fn resolve_reports_bad_names() {
        let err = resolve(&strings(&["NET_ADMIN", "WAT"]), &[], false).unwrap_err();
        assert!(matches!(err, SecurityError::UnknownCapability { name } if name == "WAT"));
        let err = resolve(&[], &strings(&["nope"]), false).unwrap_err();
        assert!(matches!(err, SecurityError::UnknownCapability { name } if name == "nope"));
    }

    #[test]
    fn unavailable_caps_are_rejected() {
        let available = set_of(&[Capability::CAP_CHOWN]);
        let sel = parse_selection(&strings(&["NET_ADMIN"])).unwrap();
        let err = check_available(&sel, &available).unwrap_err();
        assert!(
            matches!(&err, SecurityError::UnavailableCapability { name } if name == "CAP_NET_ADMIN")
        );
        assert!(check_available(&sel, &default_set()).is_err());
        let ok = parse_selection(&strings(&["chown", "ALL"])).unwrap();
        assert!(ok.all && check_available(&ok, &available).is_ok());
    }

    /// The Cap* lines of /proc/self/status, in the order
    /// CapInh, CapPrm, CapEff, CapBnd, CapAmb.
    fn status_caps() -> Option<[u64; 5]> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let field = |key: &str| {
            let line = status.lines().find(|l| l.starts_with(key))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        };
        Some([
            field("CapInh:")?,
            field("CapPrm:")?,
            field("CapEff:")?,
            field("CapBnd:")?,
            field("CapAmb:")?,
        ])
    }

    /// Exit code 0 when the status matches `want`, else 10 + the index of the
    /// first wrong field (20 when /proc could not be read).
    fn check_status(want: [u64; 5]) -> i32 {
        match status_caps() {
            None => 20,
            Some(got) => got
                .iter()
                .zip(want)
                .position(|(g, w)| *g != w)
                .map_or(0, |i| 10 + i as i32),
        }
    }

    #[test]
    fn apply_default_caps_as_root() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let keep = default_set();
        let code = in_child(|| {
            // Ambient needs a matching inheritable bit; raise one so the test
            // proves apply clears both.
            let _ = ::caps::raise(None, CapSet::Inheritable, Capability::CAP_NET_RAW);
            let _ = ::caps::raise(None, CapSet::Ambient, Capability::CAP_NET_RAW);
            if drop_bounding(&keep).is_err() {
                return 1;
            }
            if apply(&keep).is_err() {
                return 2;
            }
            check_status([0, 0xa804_25fb, 0xa804_25fb, 0xa804_25fb, 0])
        });
        assert_eq!(code, 0, "child failed at step {code}");
    }

    #[test]
    fn apply_after_setuid_leaves_non_root_without_caps() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let keep = default_set();
        let code = in_child(|| {
            if drop_bounding(&keep).is_err() {
                return 1;
            }
            let id = nix::unistd::Uid::from_raw(1000);
            let gid = nix::unistd::Gid::from_raw(1000);
            if nix::unistd::setgroups(&[]).is_err()
                || nix::unistd::setgid(gid).is_err()
                || nix::unistd::setuid(id).is_err()
            {
                return 3;
            }
            if apply(&keep).is_err() {
                return 2;
            }
            check_status([0, 0, 0, 0xa804_25fb, 0])
        });
        assert_eq!(code, 0, "child failed at step {code}");
    }

    #[test]
    fn drop_bounding_to_nothing() {
        if !is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let code = in_child(|| {
            let none = BTreeSet::new();
            if drop_bounding(&none).is_err() || apply(&none).is_err() {
                return 1;
            }
            check_status([0, 0, 0, 0, 0])
        });
        assert_eq!(code, 0, "child failed at step {code}");
    }
}
