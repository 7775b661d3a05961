//! `-p/--publish`, `--expose` and `-P/--publish-all`: docker's port grammar
//! (`[ip:][host_port:]container_port[/proto]`, ranges, `[v6]` addresses) with
//! the error messages of docker's parser, turned into the runtime's bindings.
//!
//! Compose's short port syntax (`spec::normalize::ports`) has the same grammar
//! but reports errors with stack-file positions and its own wording; the
//! docker CLI's messages are matched here word for word instead.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::CliError;
use crate::runtime::network::ports::{ContainerPort, PortBinding, Proto};

/// What the port flags and the image decide for a container's record.
#[derive(Debug, Default, PartialEq)]
pub struct PortConfig {
    pub bindings: Vec<PortBinding>,
    pub exposed: Vec<ContainerPort>,
}

/// Parses the flags; `image_exposed` is the image's `ExposedPorts`.
pub fn port_config(
    publish: &[String],
    expose: &[String],
    publish_all: bool,
    image_exposed: &[String],
    network_mode: &str,
) -> Result<PortConfig, CliError> {
    let invalid = |message: String| CliError::Engine { message, code: 125 };
    let mut bindings = Vec::new();
    for spec in publish {
        bindings.extend(parse_publish(spec).map_err(invalid)?);
    }
    let mut exposed: BTreeSet<ContainerPort> = image_exposed
        .iter()
        .filter_map(|p| p.parse::<ContainerPort>().ok())
        .collect();
    for spec in expose {
        exposed.extend(parse_expose(spec).map_err(invalid)?);
    }
    exposed.extend(bindings.iter().map(PortBinding::container));
    if let Some(b) = bindings.iter().find(|b| b.proto == Proto::Sctp) {
        return Err(invalid(format!(
            "cannot publish {b}: berth publishes tcp and udp ports only"
        )));
    }
    if publish_all && let Some(p) = exposed.iter().find(|p| p.proto == Proto::Sctp) {
        return Err(invalid(format!(
            "cannot publish {p} (-P): berth publishes tcp and udp ports only"
        )));
    }
    if network_mode == "host" && (!bindings.is_empty() || publish_all) {
        eprintln!("WARNING: Published ports are discarded when using host network mode");
    }
    Ok(PortConfig {
        bindings,
        exposed: exposed.into_iter().collect(),
    })
}

/// One `-p` value; a range gives one binding per port.
pub fn parse_publish(raw: &str) -> Result<Vec<PortBinding>, String> {
    let (ip, host, container) = split_parts(raw);
    let (proto, container) = split_proto_port(container);
    let ip = match ip.starts_with('[') {
        true => bracketed_host(&format!("{ip}:"))
            .map_err(|why| format!("invalid IP address {ip}: {why}"))?,
        false => ip.to_string(),
    };
    let ip = ip.trim_matches(['[', ']']);
    let host_ip = match ip {
        "" => None,
        text => Some(
            text.parse::<IpAddr>()
                .map_err(|_| format!("invalid IP address: {text}"))?,
        ),
    };
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) = parse_port_range(container)
        .ok()
        .filter(|(start, _)| *start > 0)
        .ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let hosts = match host {
        "" => None,
        text => Some(parse_port_range(text).map_err(|_| format!("invalid hostPort: {text}"))?),
    };
    let proto = proto.to_ascii_lowercase();
    if let Some((first, last)) = hosts
        && last - first != end - start
        && end != start
    {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        ));
    }
    let proto = Proto::parse(&proto).ok_or_else(|| format!("invalid proto: {proto}"))?;
    Ok((0..=end - start)
        .map(|i| {
            let (host_port, host_port_end) = match hosts {
                None => (0, None),
                Some((first, last)) if last - first == end - start => (first + i, None),
                // One container port and a host range: any free port of it.
                Some((first, last)) => (first, Some(last)),
            };
            PortBinding {
                host_ip,
                host_port,
                host_port_end,
                container_port: start + i,
                proto,
            }
        })
        .collect())
}

/// One `--expose` value: `80`, `80/udp` or `8000-8010[/proto]`.
pub fn parse_expose(raw: &str) -> Result<Vec<ContainerPort>, String> {
    if raw.contains(':') {
        return Err(format!("invalid port format for --expose: {raw}"));
    }
    let (proto, port) = split_proto_port(raw);
    let (start, end) = parse_port_range(port)
        .map_err(|e| format!("invalid range format for --expose: {raw}, error: {e}"))?;
    let lower = proto.to_ascii_lowercase();
    let proto = Proto::parse(&lower).ok_or_else(|| format!("invalid proto: {lower}"))?;
    Ok((start..=end)
        .map(|port| ContainerPort { port, proto })
        .collect())
}

/// `ip:host:container`; an address may itself hold colons (IPv6).
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    match n {
        1 => ("", "", container),
        2 => ("", parts[0], container),
        _ => {
            let ip_len: usize = parts[..n - 2].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
            (&raw[..ip_len], parts[n - 2], container)
        }
    }
}

/// `80/udp` -> ("udp", "80"); no protocol means tcp; "/tcp" has no port.
fn split_proto_port(raw: &str) -> (&str, &str) {
    let mut parts = raw.split('/');
    let port = parts.next().unwrap_or("");
    if port.is_empty() {
        return ("", "");
    }
    match parts.next() {
        None | Some("") => ("tcp", port),
        Some(proto) => (proto, port),
    }
}

/// The address inside `[...]` of `hostport` (which ends in ':'), with the
/// reasons Go's `net.SplitHostPort` gives.
fn bracketed_host(hostport: &str) -> Result<String, String> {
    let why = |reason: &str| format!("address {hostport}: {reason}");
    let last_colon = hostport.len() - 1;
    let end = hostport
        .find(']')
        .ok_or_else(|| why("missing ']' in address"))?;
    if end + 1 != last_colon {
        return Err(match hostport.as_bytes().get(end + 1) {
            Some(b':') => why("too many colons in address"),
            _ => why("missing port in address"),
        });
    }
    if hostport[1..].contains('[') {
        return Err(why("unexpected '[' in address"));
    }
    if hostport[end + 1..].contains(']') {
        return Err(why("unexpected ']' in address"));
    }
    Ok(hostport[1..end].to_string())
}

/// `80` or `8000-8010`, with the messages of docker's parser.
fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    if text.is_empty() {
        return Err("empty string specified for ports".into());
    }
    let Some((first, rest)) = text.split_once('-') else {
        let port = parse_u16(text)?;
        return Ok((port, port));
    };
    // Like docker's, a third part (`1-2-3`) is ignored.
    let last = rest.split('-').next().unwrap_or("");
    let (start, end) = (parse_u16(first)?, parse_u16(last)?);
    if end < start {
        return Err(format!("invalid range specified for port: {text}"));
    }
    Ok((start, end))
}

/// Go's `strconv.ParseUint(text, 10, 16)`, errors and all.
pub(super) fn parse_u16(text: &str) -> Result<u16, String> {
    let bad = |why: &str| format!("strconv.ParseUint: parsing {text:?}: {why}");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("invalid syntax"));
    }
    text.parse::<u16>().map_err(|_| bad("value out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each binding as `ip|host|container/proto`.
    fn show(raw: &str) -> Vec<String> {
        match parse_publish(raw) {
            Ok(list) => list
                .iter()
                .map(|b| {
                    let ip = b.host_ip.map(|ip| ip.to_string()).unwrap_or_default();
                    format!("{ip}|{}|{}", b.host_port_text(), b.container())
                })
                .collect(),
            Err(e) => vec![e],
        }
    }

    #[test]
    fn every_form_docker_accepts() {
        assert_eq!(show("80"), ["||80/tcp"]);
        assert_eq!(show("8080:80"), ["|8080|80/tcp"]);
        assert_eq!(show("127.0.0.1:8080:80"), ["127.0.0.1|8080|80/tcp"]);
        assert_eq!(show("127.0.0.1::80"), ["127.0.0.1||80/tcp"]);
        assert_eq!(show("[::1]:8080:80"), ["::1|8080|80/tcp"]);
        assert_eq!(show("::1:8080:80"), ["::1|8080|80/tcp"]);
        assert_eq!(show("8000-8001:80-81"), ["|8000|80/tcp", "|8001|81/tcp"]);
        assert_eq!(show("8000-8010:80"), ["|8000-8010|80/tcp"]);
        assert_eq!(show("80-81"), ["||80/tcp", "||81/tcp"]);
        assert_eq!(show("53:53/udp"), ["|53|53/udp"]);
        assert_eq!(show("8080:80/TCP"), ["|8080|80/tcp"]);
        assert_eq!(show("8080:80/"), ["|8080|80/tcp"]);
        assert_eq!(show("80/sctp"), ["||80/sctp"]);
        assert_eq!(show(":80"), ["||80/tcp"]);
        assert_eq!(show("0:80"), ["||80/tcp"]);
        assert_eq!(show("8000-8000:80"), ["|8000|80/tcp"]);
    }

    #[test]
    fn dockers_errors() {
        let cases = [
            ("abc", "invalid containerPort: abc"),
            ("80:abc", "invalid containerPort: abc"),
            ("70000", "invalid containerPort: 70000"),
            ("80-", "invalid containerPort: 80-"),
            ("-80", "invalid containerPort: -80"),
            ("0", "invalid containerPort: 0"),
            ("abc:80", "invalid hostPort: abc"),
            ("8000-7000:80", "invalid hostPort: 8000-7000"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            ("80/xyz", "invalid proto: xyz"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            ("a:b:c:d", "invalid IP address: a:b"),
            (
                "[::1:8080:80",
                "invalid IP address [::1: address [::1:: missing ']' in address",
            ),
            ("80:", "no port specified: 80:<empty>"),
            ("/tcp", "no port specified: /tcp<empty>"),
        ];
        for (raw, want) in cases {
            assert_eq!(show(raw), [want], "{raw}");
        }
    }

    #[test]
    fn expose_forms_and_errors() {
        let show = |raw: &str| match parse_expose(raw) {
            Ok(ports) => ports.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            Err(e) => vec![e],
        };
        assert_eq!(show("80"), ["80/tcp"]);
        assert_eq!(show("6000-6001/udp"), ["6000/udp", "6001/udp"]);
        assert_eq!(show("80:80"), ["invalid port format for --expose: 80:80"]);
        assert_eq!(
            show("abc"),
            [
                "invalid range format for --expose: abc, error: strconv.ParseUint: parsing \"abc\": invalid syntax"
            ]
        );
        assert_eq!(
            show("70000"),
            [
                "invalid range format for --expose: 70000, error: strconv.ParseUint: parsing \"70000\": value out of range"
            ]
        );
        assert_eq!(show("80/xyz"), ["invalid proto: xyz"]);
    }

    #[test]
    fn exposed_ports_merge_image_flags_and_published() -> Result<(), CliError> {
        let config = port_config(
            &["8080:80".into()],
            &["9000/udp".into()],
            false,
            &["443/tcp".into(), "80/tcp".into()],
            "bridge",
        )?;
        let exposed: Vec<String> = config.exposed.iter().map(|p| p.to_string()).collect();
        assert_eq!(exposed, ["80/tcp", "443/tcp", "9000/udp"]);
        assert_eq!(config.bindings.len(), 1);
        Ok(())
    }

    #[test]
    fn sctp_is_refused_at_create() {
        let err = port_config(&["80/sctp".into()], &[], false, &[], "bridge");
        assert_eq!(
            err.map_err(|e| (e.to_string(), e.exit_code())),
            Err((
                "cannot publish 80/sctp: berth publishes tcp and udp ports only".into(),
                125
            ))
        );
        let all = port_config(&[], &["5000/sctp".into()], true, &[], "bridge");
        assert!(all.is_err());
        // Exposing alone is only metadata.
        assert!(port_config(&[], &["5000/sctp".into()], false, &[], "bridge").is_ok());
    }
}
