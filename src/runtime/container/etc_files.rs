//! /etc/hosts, /etc/hostname and /etc/resolv.conf for a container, written in its
//! directory and bind-mounted in (so `commit` never captures them).

/// The hosts file of a container with its own network namespace.
pub fn hosts(hostname: &str, ip: Option<&str>) -> String {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    out
}

/// The host's resolv.conf without loopback nameservers (unreachable from a separate
/// network namespace), as docker does; an empty result falls back to nothing.
pub fn resolv_conf(host: &str, own_netns: bool) -> String {
    if !own_netns {
        return host.to_string();
    }
    host.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            !(words.next() == Some("nameserver")
                && words
                    .next()
                    .is_some_and(|ip| ip.starts_with("127.") || ip == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_has_localhost_and_self() {
        let h = hosts("abc", Some("10.0.0.2"));
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("10.0.0.2\tabc\n"));
    }

    #[test]
    fn loopback_nameservers_are_dropped() {
        let host = "search lan\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n";
        assert_eq!(resolv_conf(host, true), "search lan\nnameserver 10.1.1.1\n");
        assert_eq!(resolv_conf(host, false), host);
    }
}
