//! Dockerfile instructions accepted by `import --change` / `commit --change`
//! (`CMD ["sh"]`, `ENV K=V`, ...), parsed and applied to an image config.

use std::collections::HashMap;

use oci_spec::image::Config;

const SUPPORTED: &str = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("invalid change {change:?}: {reason}")]
    Invalid { change: String, reason: String },
    #[error("change {change:?}: {instruction} is not supported here (supported: {SUPPORTED})")]
    Unsupported { change: String, instruction: String },
}

/// One parsed instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

pub fn parse_all(changes: &[String]) -> Result<Vec<Change>, ChangeError> {
    changes.iter().map(|c| parse(c)).collect()
}

pub fn parse(change: &str) -> Result<Change, ChangeError> {
    let invalid = |reason: &str| ChangeError::Invalid {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = change.trim();
    let (keyword, args) = trimmed
        .split_once(char::is_whitespace)
        .map_or((trimmed, ""), |(k, a)| (k, a.trim()));
    if keyword.is_empty() {
        return Err(invalid("empty instruction"));
    }
    let keyword = keyword.to_ascii_uppercase();
    if args.is_empty() {
        return Err(invalid(&format!("{keyword} requires an argument")));
    }
    let fail = |reason: String| ChangeError::Invalid {
        change: change.to_string(),
        reason,
    };
    match keyword.as_str() {
        "CMD" => Ok(Change::Cmd(command(args))),
        "ENTRYPOINT" => Ok(Change::Entrypoint(command(args))),
        "ENV" => key_values(args).map(Change::Env).map_err(fail),
        "LABEL" => key_values(args).map(Change::Label).map_err(fail),
        "EXPOSE" => expose(args).map(Change::Expose).map_err(fail),
        "STOPSIGNAL" => stop_signal(args).map(Change::StopSignal).map_err(fail),
        "USER" => single_word(args, "USER").map(Change::User).map_err(fail),
        "VOLUME" => volumes(args).map(Change::Volume).map_err(fail),
        "WORKDIR" => Ok(Change::Workdir(args.to_string())),
        _ => Err(ChangeError::Unsupported {
            change: change.to_string(),
            instruction: keyword,
        }),
    }
}

/// Applies changes in order, as a Dockerfile would.
pub fn apply(config: &mut Config, changes: &[Change]) {
    for change in changes {
        apply_one(config, change);
    }
}

fn apply_one(config: &mut Config, change: &Change) {
    match change {
        Change::Cmd(v) => {
            config.set_cmd(Some(v.clone()));
        }
        Change::Entrypoint(v) => {
            config.set_entrypoint(Some(v.clone()));
        }
        Change::Env(pairs) => {
            let env = merge_env(config.env().clone().unwrap_or_default(), pairs);
            config.set_env(Some(env));
        }
        Change::Expose(ports) => {
            let merged = merge_unique(config.exposed_ports().clone(), ports);
            config.set_exposed_ports(Some(merged));
        }
        Change::Label(pairs) => {
            let labels = config.labels_mut().get_or_insert_with(HashMap::new);
            labels.extend(pairs.iter().cloned());
        }
        Change::StopSignal(s) => {
            config.set_stop_signal(Some(s.clone()));
        }
        Change::User(u) => {
            config.set_user(Some(u.clone()));
        }
        Change::Volume(v) => {
            let merged = merge_unique(config.volumes().clone(), v);
            config.set_volumes(Some(merged));
        }
        Change::Workdir(dir) => {
            let resolved = join_workdir(config.working_dir().as_deref(), dir);
            config.set_working_dir(Some(resolved));
        }
    }
}

/// Exec form (a JSON array of strings) as is; anything else is shell form,
/// run by `/bin/sh -c`. Like docker, text that merely starts with `[` but is
/// not a JSON string array is shell form.
fn command(args: &str) -> Vec<String> {
    json_array(args).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), args.to_string()])
}

fn json_array(args: &str) -> Option<Vec<String>> {
    if !args.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// `K=V K2="v 2"` pairs, or the legacy `K value with spaces` form.
fn key_values(args: &str) -> Result<Vec<(String, String)>, String> {
    let first = args.split_whitespace().next().unwrap_or_default();
    if !first.contains('=') {
        let (key, value) = args
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{args:?} needs a value: use KEY=VALUE or KEY VALUE"))?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    let words = shell_words::split(args).map_err(|e| format!("{e} in {args:?}"))?;
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

fn expose(args: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for spec in args.split_whitespace() {
        let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!(
                "invalid protocol {proto:?} in {spec:?}: use tcp, udp or sctp"
            ));
        }
        let (start, end) = port_range(ports).ok_or_else(|| format!("invalid port {spec:?}"))?;
        out.extend((start..=end).map(|p| format!("{p}/{proto}")));
    }
    Ok(out)
}

fn port_range(s: &str) -> Option<(u16, u16)> {
    let parse = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    match s.split_once('-') {
        None => parse(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            (a <= b).then_some((a, b))
        }
    }
}

fn volumes(args: &str) -> Result<Vec<String>, String> {
    let list =
        json_array(args).unwrap_or_else(|| args.split_whitespace().map(str::to_string).collect());
    if list.is_empty() || list.iter().any(|v| v.trim().is_empty()) {
        return Err("VOLUME paths must not be empty".into());
    }
    Ok(list)
}

fn single_word(args: &str, what: &str) -> Result<String, String> {
    if args.split_whitespace().count() == 1 {
        Ok(args.to_string())
    } else {
        Err(format!("{what} takes exactly one argument"))
    }
}

/// Signal names as docker's STOPSIGNAL accepts them (with or without `SIG`).
const SIGNALS: [&str; 31] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE",
    "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN",
    "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH",
];

fn stop_signal(args: &str) -> Result<String, String> {
    let sig = single_word(args, "STOPSIGNAL")?;
    let upper = sig.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let valid = match sig.parse::<u32>() {
        Ok(n) => (1..=64).contains(&n),
        Err(_) => SIGNALS.contains(&name) || is_realtime(name),
    };
    if valid {
        Ok(sig)
    } else {
        Err(format!("invalid signal {sig:?}"))
    }
}

/// `RTMIN`, `RTMIN+3`, `RTMAX-2`.
fn is_realtime(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("RTMIN")
        .or_else(|| name.strip_prefix("RTMAX"))
    else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    rest.strip_prefix(['+', '-'])
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u8>().ok())
        .is_some_and(|n| n <= 15)
}

fn merge_env(mut env: Vec<String>, pairs: &[(String, String)]) -> Vec<String> {
    for (key, value) in pairs {
        let entry = format!("{key}={value}");
        let prefix = format!("{key}=");
        match env.iter_mut().find(|e| e.starts_with(&prefix) || *e == key) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    }
    env
}

fn merge_unique(existing: Option<Vec<String>>, add: &[String]) -> Vec<String> {
    let mut out = existing.unwrap_or_default();
    for item in add {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// WORKDIR is relative to the previous WORKDIR (or `/`).
fn join_workdir(current: Option<&str>, dir: &str) -> String {
    if dir.starts_with('/') {
        return dir.to_string();
    }
    let base = current.unwrap_or("/").trim_end_matches('/');
    format!("{base}/{dir}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Change {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_and_entrypoint_forms() {
        assert_eq!(p(r#"CMD ["sh"]"#), Change::Cmd(strings(&["sh"])));
        assert_eq!(
            p("CMD sh -c 'echo hi'"),
            Change::Cmd(strings(&["/bin/sh", "-c", "sh -c 'echo hi'"]))
        );
        assert_eq!(
            p(r#"cmd ["echo", "a b"]"#),
            Change::Cmd(strings(&["echo", "a b"]))
        );
        // Not valid JSON: shell form, like docker.
        assert_eq!(
            p("CMD [not json"),
            Change::Cmd(strings(&["/bin/sh", "-c", "[not json"]))
        );
        assert_eq!(
            p(r#"ENTRYPOINT ["/bin/app", "--flag"]"#),
            Change::Entrypoint(strings(&["/bin/app", "--flag"]))
        );
        assert_eq!(
            p("ENTRYPOINT exec app"),
            Change::Entrypoint(strings(&["/bin/sh", "-c", "exec app"]))
        );
    }

    #[test]
    fn env_and_label_forms() {
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(p("ENV K=V"), Change::Env(vec![kv("K", "V")]));
        assert_eq!(
            p(r#"ENV A=1 B="two words" C="""#),
            Change::Env(vec![kv("A", "1"), kv("B", "two words"), kv("C", "")])
        );
        assert_eq!(
            p("ENV K some value"),
            Change::Env(vec![kv("K", "some value")])
        );
        assert_eq!(p("LABEL k=v"), Change::Label(vec![kv("k", "v")]));
        assert!(parse("ENV K").is_err());
        assert!(parse("ENV A=1 B").is_err());
        assert!(parse("ENV =x").is_err());
    }

    #[test]
    fn other_instructions() {
        assert_eq!(p("WORKDIR /x"), Change::Workdir("/x".into()));
        assert_eq!(p("USER app:app"), Change::User("app:app".into()));
        assert!(parse("USER a b").is_err());
        assert_eq!(
            p("EXPOSE 80/tcp 53/UDP 8000-8002"),
            Change::Expose(strings(&[
                "80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"
            ]))
        );
        for bad in [
            "EXPOSE 0",
            "EXPOSE 70000",
            "EXPOSE 80/icmp",
            "EXPOSE 9-8",
            "EXPOSE x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            p(r#"VOLUME ["/data"]"#),
            Change::Volume(strings(&["/data"]))
        );
        assert_eq!(p("VOLUME /a /b"), Change::Volume(strings(&["/a", "/b"])));
        assert!(parse(r#"VOLUME [""]"#).is_err());
        assert_eq!(
            p("STOPSIGNAL SIGTERM"),
            Change::StopSignal("SIGTERM".into())
        );
        assert_eq!(p("STOPSIGNAL 9"), Change::StopSignal("9".into()));
        assert_eq!(
            p("STOPSIGNAL SIGRTMIN+3"),
            Change::StopSignal("SIGRTMIN+3".into())
        );
        assert!(parse("STOPSIGNAL SIGNOPE").is_err());
        assert!(parse("STOPSIGNAL 65").is_err());
    }

    #[test]
    fn unsupported_and_empty_are_errors() {
        let err = parse("RUN apt-get update").unwrap_err();
        assert!(matches!(err, ChangeError::Unsupported { .. }));
        assert!(err.to_string().contains("RUN is not supported"), "{err}");
        assert!(parse("").is_err());
        assert!(parse("CMD").is_err());
        assert!(parse("FROM busybox").is_err());
    }

    #[test]
    fn apply_in_order() {
        let changes = parse_all(&strings(&[
            "ENV A=1",
            "ENV B=2 A=3",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80",
            "EXPOSE 80/tcp 443",
            "LABEL a=b",
            "VOLUME /data",
            "USER nobody",
            "CMD [\"sh\"]",
            "STOPSIGNAL SIGINT",
        ]))
        .unwrap();
        let mut config = Config::default();
        apply(&mut config, &changes);
        assert_eq!(config.env().as_deref(), Some(&strings(&["A=3", "B=2"])[..]));
        assert_eq!(config.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(
            config.exposed_ports().as_deref(),
            Some(&strings(&["80/tcp", "443/tcp"])[..])
        );
        assert_eq!(config.labels().as_ref().unwrap()["a"], "b");
        assert_eq!(config.volumes().as_deref(), Some(&strings(&["/data"])[..]));
        assert_eq!(config.user().as_deref(), Some("nobody"));
        assert_eq!(config.cmd().as_deref(), Some(&strings(&["sh"])[..]));
        assert_eq!(config.stop_signal().as_deref(), Some("SIGINT"));
    }
}
