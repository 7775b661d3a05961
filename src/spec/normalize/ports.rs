//! Port short syntax: `[[host_ip:]published:]target[/protocol]`, with ranges
//! (`8000-8001:80-81`) and IPv6 host addresses (`[::1]:8080:80`).

use crate::spec::model::Port;

pub fn parse_short(spec: &str) -> Result<Vec<Port>, String> {
    let bad = |why: &str| format!("invalid port {spec:?}: {why}");
    let (addr, protocol) = match spec.rsplit_once('/') {
        Some((a, p)) => (a, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(&format!(
            "unknown protocol {protocol:?} (tcp, udp or sctp)"
        )));
    }
    let (host_ip, published, target) = split_parts(addr).map_err(|w| bad(&w))?;
    let targets = parse_range(target).map_err(|w| bad(&format!("target {w}")))?;
    let host_ip = host_ip.filter(|ip| !ip.is_empty()).map(str::to_string);
    let published = published.filter(|p| !p.is_empty());
    let mut out = Vec::new();
    match published {
        None => {
            for t in targets.0..=targets.1 {
                out.push(port(t, None, &host_ip, &protocol));
            }
        }
        Some(p) => {
            let pubs = parse_range(p).map_err(|w| bad(&format!("published {w}")))?;
            let (n_pub, n_target) = (pubs.1 - pubs.0, targets.1 - targets.0);
            if n_target == 0 {
                out.push(port(targets.0, Some(p.to_string()), &host_ip, &protocol));
            } else if n_pub == n_target {
                for i in 0..=n_target {
                    let published = (pubs.0 + i).to_string();
                    out.push(port(targets.0 + i, Some(published), &host_ip, &protocol));
                }
            } else {
                return Err(bad("the published and target ranges differ in size"));
            }
        }
    }
    Ok(out)
}

fn port(target: u16, published: Option<String>, host_ip: &Option<String>, protocol: &str) -> Port {
    Port {
        mode: "ingress".into(),
        host_ip: host_ip.clone(),
        target,
        published,
        protocol: protocol.into(),
        app_protocol: None,
        name: None,
    }
}

/// Splits into (host_ip, published, target).
fn split_parts(addr: &str) -> Result<(Option<&str>, Option<&str>, &str), String> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (ip, rest) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed '[' around the host address".to_string())?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| "expected ':' after the host address".to_string())?;
        let (published, target) = rest
            .split_once(':')
            .ok_or_else(|| "expected host_ip:published:target".to_string())?;
        return Ok((Some(ip), Some(published), target));
    }
    let mut parts = addr.rsplitn(3, ':');
    let target = parts.next().unwrap_or("");
    let published = parts.next();
    let host_ip = parts.next();
    Ok((host_ip, published, target))
}

/// `80` or `8000-8010`, each 1..=65535 (0 allowed for a published port).
fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let num = |s: &str| -> Result<u16, String> {
        s.parse::<u16>()
            .map_err(|_| format!("{s:?} is not a port number (1-65535)"))
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("range {text:?} runs backwards"));
            }
            Ok((a, b))
        }
        None => {
            let n = num(text)?;
            Ok((n, n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(spec: &str) -> Vec<String> {
        match parse_short(spec) {
            Ok(ports) => ports
                .iter()
                .map(|p| {
                    format!(
                        "{}|{}|{}|{}",
                        p.host_ip.clone().unwrap_or_default(),
                        p.published.clone().unwrap_or_default(),
                        p.target,
                        p.protocol
                    )
                })
                .collect(),
            Err(e) => vec![e],
        }
    }

    #[test]
    fn short_forms() {
        assert_eq!(show("80"), ["||80|tcp"]);
        assert_eq!(show("8080:80"), ["|8080|80|tcp"]);
        assert_eq!(show("127.0.0.1:8080:80"), ["127.0.0.1|8080|80|tcp"]);
        assert_eq!(show("127.0.0.1::80"), ["127.0.0.1||80|tcp"]);
        assert_eq!(show("53:53/udp"), ["|53|53|udp"]);
        assert_eq!(show("[::1]:8080:80"), ["::1|8080|80|tcp"]);
        assert_eq!(show("8000-8001:80-81"), ["|8000|80|tcp", "|8001|81|tcp"]);
        assert_eq!(show("8000-8010:80"), ["|8000-8010|80|tcp"]);
        assert_eq!(show("3000-3001"), ["||3000|tcp", "||3001|tcp"]);
    }

    #[test]
    fn bad_ports_say_why() {
        assert_eq!(
            show("80:abc"),
            ["invalid port \"80:abc\": target \"abc\" is not a port number (1-65535)"]
        );
        assert!(show("80/xyz")[0].contains("unknown protocol"));
        assert!(show("8000-8002:80-81")[0].contains("differ in size"));
        assert!(show("70000")[0].contains("not a port number"));
    }
}
