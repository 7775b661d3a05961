//! Byte sizes as docker and Compose write them: `512m`, `1g`, `1.5GB`, `2048`, `64k`.
//! Units are binary (k = 1024), as in docker's `RAMInBytes`.

pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid size {text:?}: expected a number with an optional unit b, k, m, g, t or p")
    };
    let s = text.trim();
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(num_end);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let scale: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(bad()),
    };
    let bytes = number * scale as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_sizes() {
        assert_eq!(parse_bytes("2048"), Ok(2048));
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("512m"), Ok(512 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1GB"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("10 MB"), Ok(10 << 20));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "12zz", "m", "-1m", "1.2.3g"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
