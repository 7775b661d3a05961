//! Pure conversions from docker-style [`Limits`] to cgroup file values.
//!
//! Kept free of I/O so that both backends share one set of rules and the
//! rules are unit-tested on any machine.

use super::{CgroupError, Limits};

/// CFS period berth always uses, in microseconds (docker's and the kernel's
/// default), so `--cpus` maps to a quota alone.
pub(super) const CPU_PERIOD_US: u64 = 100_000;

/// The kernel rejects CFS quotas under 1 ms.
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// cpu.shares range the kernel accepts (values outside are clamped by v1).
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// Whether limits are being applied to a new cgroup or updated live: docker
/// only derives a swap limit from the memory limit at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Create,
    Update,
}

/// Memory + swap ceiling as v1's memory.memsw.limit_in_bytes sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SwapTotal {
    Unlimited,
    Bytes(u64),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidLimit {
        field,
        reason: reason.into(),
    }
}

/// Rejects values the kernel would reject (or silently misread) before any
/// file is written, so a bad request leaves no half-applied limits.
pub(super) fn validate(limits: &Limits) -> Result<(), CgroupError> {
    if limits.memory == Some(0) {
        return Err(invalid("memory", "must be greater than 0"));
    }
    if let Some(swap) = limits.memory_swap {
        if swap < -1 {
            return Err(invalid("memory_swap", "must be -1 (unlimited) or > 0"));
        }
        if let Some(memory) = limits.memory
            && swap > 0
            && (swap as u64) < memory
        {
            return Err(invalid(
                "memory_swap",
                format!("{swap} is below memory {memory}; memory_swap is memory plus swap"),
            ));
        }
    }
    if let Some(cpus) = limits.cpus {
        cpu_quota(cpus)?;
    }
    Ok(())
}

/// Docker's swap rule: `memory_swap` is memory plus swap; -1 is unlimited;
/// 0 means unset; with only `memory` given at creation, swap equals memory
/// (total = 2 x memory). Without swap accounting there is nothing to set.
pub(super) fn swap_total(
    memory: Option<u64>,
    memory_swap: Option<i64>,
    accounting: bool,
    mode: Mode,
) -> Option<SwapTotal> {
    if !accounting {
        return None;
    }
    match (memory_swap, memory, mode) {
        (Some(-1), _, _) => Some(SwapTotal::Unlimited),
        (Some(total), _, _) if total > 0 => Some(SwapTotal::Bytes(total as u64)),
        (_, Some(memory), Mode::Create) => Some(SwapTotal::Bytes(memory.saturating_mul(2))),
        _ => None,
    }
}

/// v1 memory.memsw.limit_in_bytes value.
pub(super) fn v1_swap_value(total: SwapTotal) -> String {
    match total {
        SwapTotal::Unlimited => "-1".to_string(),
        SwapTotal::Bytes(b) => b.to_string(),
    }
}

/// v2 memory.swap.max value: v2 limits swap alone, so subtract memory.
pub(super) fn v2_swap_value(total: SwapTotal, memory: u64) -> String {
    match total {
        SwapTotal::Unlimited => "max".to_string(),
        SwapTotal::Bytes(b) => b.saturating_sub(memory).to_string(),
    }
}

/// CFS quota in microseconds for `cpus` CPUs at [`CPU_PERIOD_US`].
pub(super) fn cpu_quota(cpus: f64) -> Result<u64, CgroupError> {
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(invalid("cpus", format!("{cpus} is not a positive number")));
    }
    let quota = (cpus * CPU_PERIOD_US as f64).round();
    if quota < MIN_CPU_QUOTA_US as f64 {
        return Err(invalid("cpus", format!("{cpus} is below the minimum 0.01")));
    }
    // Saturating float-to-int cast: absurd values become u64::MAX, which the
    // kernel rejects with a clear EINVAL carrying the path and value.
    Ok(quota as u64)
}

/// Docker treats 0 shares as "default" (unset) and the kernel clamps the
/// rest into 2..=262144; clamp here too so v2's conversion stays in range.
pub(super) fn effective_shares(shares: Option<u64>) -> Option<u64> {
    match shares {
        None | Some(0) => None,
        Some(s) => Some(s.clamp(MIN_SHARES, MAX_SHARES)),
    }
}

/// cpu.shares (2..=262144) to cpu.weight (1..=10000), the linear mapping
/// runc and crun use, so a container gets the same weight under either.
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    1 + ((shares - MIN_SHARES) * 9999) / (MAX_SHARES - MIN_SHARES)
}

/// pids.max value; docker's API treats 0 and -1 as unlimited.
pub(super) fn pids_value(pids: i64) -> String {
    if pids <= 0 {
        "max".to_string()
    } else {
        pids.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_matches_runc_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(512), 20);
        // Out-of-range shares clamp instead of overflowing the weight range.
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1_000_000), 10_000);
    }

    #[test]
    fn shares_zero_is_unset_and_others_clamp() {
        assert_eq!(effective_shares(None), None);
        assert_eq!(effective_shares(Some(0)), None);
        assert_eq!(effective_shares(Some(1)), Some(2));
        assert_eq!(effective_shares(Some(512)), Some(512));
        assert_eq!(effective_shares(Some(999_999)), Some(262_144));
    }

    #[test]
    fn cpu_quota_scales_period() {
        assert_eq!(cpu_quota(0.5).ok(), Some(50_000));
        assert_eq!(cpu_quota(1.0).ok(), Some(100_000));
        assert_eq!(cpu_quota(2.25).ok(), Some(225_000));
        assert_eq!(cpu_quota(0.01).ok(), Some(1_000));
        assert!(cpu_quota(0.001).is_err());
        assert!(cpu_quota(0.0).is_err());
        assert!(cpu_quota(-1.0).is_err());
        assert!(cpu_quota(f64::NAN).is_err());
        assert!(cpu_quota(f64::INFINITY).is_err());
    }

    #[test]
    fn pids_values() {
        assert_eq!(pids_value(-1), "max");
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(10), "10");
    }

    #[test]
    fn docker_swap_rule() {
        let mib = 1 << 20;
        let t = |m, s, mode| swap_total(m, s, true, mode);
        // Only memory at creation: swap equals memory.
        assert_eq!(
            t(Some(mib), None, Mode::Create),
            Some(SwapTotal::Bytes(2 * mib))
        );
        // Only memory on update: docker leaves swap alone.
        assert_eq!(t(Some(mib), None, Mode::Update), None);
        assert_eq!(
            t(Some(mib), Some(-1), Mode::Create),
            Some(SwapTotal::Unlimited)
        );
        assert_eq!(
            t(Some(mib), Some(mib as i64), Mode::Create),
            Some(SwapTotal::Bytes(mib))
        );
        // memory_swap 0 is docker's "unset".
        assert_eq!(
            t(Some(mib), Some(0), Mode::Create),
            Some(SwapTotal::Bytes(2 * mib))
        );
        assert_eq!(t(None, None, Mode::Create), None);
        // No swap accounting: nothing to write.
        assert_eq!(swap_total(Some(mib), Some(-1), false, Mode::Create), None);
    }

    #[test]
    fn swap_values_per_version() {
        assert_eq!(v1_swap_value(SwapTotal::Unlimited), "-1");
        assert_eq!(v1_swap_value(SwapTotal::Bytes(300)), "300");
        assert_eq!(v2_swap_value(SwapTotal::Unlimited, 100), "max");
        assert_eq!(v2_swap_value(SwapTotal::Bytes(300), 100), "200");
        assert_eq!(v2_swap_value(SwapTotal::Bytes(100), 100), "0");
    }

    #[test]
    fn validate_rejects_bad_values() {
        let ok = Limits {
            memory: Some(64 << 20),
            memory_swap: Some(128 << 20),
            cpus: Some(0.5),
            cpu_shares: Some(512),
            pids: Some(10),
            restrict_devices: true,
        };
        assert!(validate(&ok).is_ok());
        let below = Limits {
            memory_swap: Some(1 << 20),
            ..ok.clone()
        };
        assert!(validate(&below).is_err());
        let zero = Limits {
            memory: Some(0),
            ..Limits::default()
        };
        assert!(validate(&zero).is_err());
        let neg = Limits {
            memory_swap: Some(-2),
            ..Limits::default()
        };
        assert!(validate(&neg).is_err());
        let cpus = Limits {
            cpus: Some(0.0),
            ..Limits::default()
        };
        assert!(validate(&cpus).is_err());
    }
}
