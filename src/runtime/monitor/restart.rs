//! Restart policies (`no`, `on-failure[:N]`, `always`, `unless-stopped`) and
//! docker's backoff: 100 ms, doubling up to one minute, back to 100 ms once a
//! run lasted 10 seconds.

use std::time::Duration;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run this long counts as healthy: the delay starts over.
const RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    OnFailure { max: u32 },
    Always,
    UnlessStopped,
}

impl Policy {
    /// docker's syntax; anything unknown is `no` (the CLI validates first).
    pub fn parse(text: &str) -> Policy {
        match text.split_once(':') {
            Some(("on-failure", n)) => Policy::OnFailure {
                max: n.parse().unwrap_or(0),
            },
            _ => match text {
                "always" => Policy::Always,
                "unless-stopped" => Policy::UnlessStopped,
                "on-failure" => Policy::OnFailure { max: 0 },
                _ => Policy::No,
            },
        }
    }

    /// Validates `--restart`.
    pub fn validate(text: &str) -> Result<(), String> {
        let ok = match text.split_once(':') {
            Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
            Some(_) => false,
            None => matches!(text, "no" | "always" | "unless-stopped" | "on-failure"),
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "invalid restart policy {text:?}: use no, always, on-failure[:max-retries] or unless-stopped"
            ))
        }
    }

    pub fn should_restart(self, exit_code: i32, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure { max } => exit_code != 0 && (max == 0 || restarts < max),
        }
    }
}

#[derive(Debug)]
pub struct Backoff {
    delay: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { delay: FIRST_DELAY }
    }
}

impl Backoff {
    /// The wait before the next start, given how long the last run lasted.
    pub fn next(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= RESET_AFTER {
            self.delay = FIRST_DELAY;
        }
        let now = self.delay;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        now
    }
}

/// Waits `delay` unless a stop signal (one the monitor watches) comes first.
pub fn interrupted(delay: Duration) -> bool {
    let set = super::watched_signals();
    let timeout = libc::timespec {
        tv_sec: delay.as_secs() as libc::time_t,
        tv_nsec: delay.subsec_nanos() as libc::c_long,
    };
    loop {
        // SAFETY: sigtimedwait with a valid set and timeout; siginfo is optional.
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &timeout) };
        match sig {
            s if s == libc::SIGCHLD || s == libc::SIGWINCH => continue,
            s if s > 0 => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(!Policy::parse("no").should_restart(1, 0, false));
        assert!(Policy::parse("always").should_restart(0, 99, false));
        assert!(!Policy::parse("always").should_restart(0, 0, true));
        let three = Policy::parse("on-failure:3");
        assert!(three.should_restart(1, 2, false));
        assert!(!three.should_restart(1, 3, false));
        assert!(!three.should_restart(0, 0, false));
        assert!(Policy::parse("on-failure").should_restart(2, 1000, false));
        assert!(Policy::validate("on-failure:x").is_err());
        assert!(Policy::validate("sometimes").is_err());
        assert!(Policy::validate("unless-stopped").is_ok());
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        let delays: Vec<u128> = (0..5).map(|_| b.next(short).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600]);
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), MAX_DELAY);
        assert_eq!(b.next(Duration::from_secs(11)), FIRST_DELAY);
    }
}
