//! Durations as Compose writes them (`1m30s`, `500ms`, `2h`), printed the way Go
//! prints a `time.Duration`, which is what `docker compose config` shows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    pub nanos: u64,
}

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

impl Duration {
    pub fn from_secs(secs: u64) -> Duration {
        Duration {
            nanos: secs.saturating_mul(1_000_000_000),
        }
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanos)
    }

    /// Parses `1h2m3.5s`, `500ms`, `10s`, or a bare `0`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let bad = || {
            format!(
                "invalid duration {text:?}: expected a number with a unit, like 30s, 1m30s or 500ms"
            )
        };
        let s = text.trim();
        if s == "0" {
            return Ok(Duration::default());
        }
        if s.is_empty() || s.starts_with('-') {
            return Err(bad());
        }
        let mut rest = s.strip_prefix('+').unwrap_or(s);
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            let scale = UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, scale)| *scale)
                .ok_or_else(bad)?;
            total += number * scale as f64;
            rest = &rest[unit_len..];
        }
        if !total.is_finite() || total > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(Duration {
            nanos: total.round() as u64,
        })
    }
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String()`: `1h0m0s`, `1m30s`, `1.5s`, `500ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n == 0 {
            return write!(f, "0s");
        }
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        if n < 1_000_000 {
            return write!(f, "{}µs", trim_fraction(n, 1_000));
        }
        if n < 1_000_000_000 {
            return write!(f, "{}ms", trim_fraction(n, 1_000_000));
        }
        let hours = n / 3_600_000_000_000;
        let minutes = (n / 60_000_000_000) % 60;
        let secs = trim_fraction(n % 60_000_000_000, 1_000_000_000);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m{secs}s")
        } else if minutes > 0 {
            write!(f, "{minutes}m{secs}s")
        } else {
            write!(f, "{secs}s")
        }
    }
}

/// `value / unit` with the remainder as a decimal fraction without trailing zeros.
fn trim_fraction(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> String {
        Duration::parse(text)
            .map(|d| d.to_string())
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn parses_and_prints_like_go() {
        assert_eq!(show("1m30s"), "1m30s");
        assert_eq!(show("90s"), "1m30s");
        assert_eq!(show("1h"), "1h0m0s");
        assert_eq!(show("500ms"), "500ms");
        assert_eq!(show("1.5s"), "1.5s");
        assert_eq!(show("10us"), "10µs");
        assert_eq!(show("0"), "0s");
        assert_eq!(show("2h45m"), "2h45m0s");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "10", "abc", "-1s", "1x", "s", "1..2s"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
