//! `-v`, `--mount` and `--tmpfs` parsed as docker parses them, into the
//! runtime's [`MountSpec`]s (resolved against the store at create).

use super::CliError;
use crate::runtime::container::mounts::{flag_word, propagation_flags};
use crate::runtime::volume::local::validate_name;
use crate::runtime::volume::{MountKind, MountSpec, Origin};
use crate::spec::model::{ServiceVolume, VolumeKind};
use crate::spec::normalize::volumes::parse_short;
use crate::spec::units::parse_bytes;

/// tmpfs options that carry a value; anything else must be a mount flag.
const TMPFS_KEYS: [&str; 8] = [
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
    "huge",
];

fn invalid(message: String) -> CliError {
    CliError::Engine { message, code: 125 }
}

/// The mounts the flags ask for, then the image's `VOLUME`s (which `create`
/// only keeps where nothing else is mounted).
pub fn requested(
    volumes: &[String],
    mounts: &[String],
    tmpfs: &[String],
    image_volumes: Option<&Vec<String>>,
) -> Result<Vec<MountSpec>, CliError> {
    let mut out = Vec::new();
    for v in volumes {
        out.push(parse_volume(v)?);
    }
    for m in mounts {
        out.push(parse_mount(m)?);
    }
    for t in tmpfs {
        out.push(parse_tmpfs(t)?);
    }
    for path in image_volumes.into_iter().flatten() {
        out.push(MountSpec {
            kind: MountKind::Volume,
            target: path.clone(),
            origin: Origin::Image,
            ..MountSpec::default()
        });
    }
    Ok(out)
}

/// `-v [SOURCE:]TARGET[:OPTIONS]`: an absolute source is a bind (its
/// directory made if missing), another source names a volume, none makes an
/// anonymous volume.
pub fn parse_volume(spec: &str) -> Result<MountSpec, CliError> {
    let bad = |why: &str| invalid(format!("invalid volume specification: '{spec}'{why}"));
    let parts: Vec<&str> = spec.split(':').collect();
    if spec.is_empty() || parts.len() > 3 {
        return Err(bad(""));
    }
    let target = if parts.len() == 1 { parts[0] } else { parts[1] };
    if !target.starts_with('/') {
        let kind = if parts[0].starts_with('/') && parts.len() > 1 {
            "bind"
        } else {
            "volume"
        };
        return Err(bad(&format!(
            ": invalid mount config for type \"{kind}\": invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let parsed = parse_short(spec).map_err(|e| {
        let why = e.split_once(": ").map_or(e.as_str(), |(_, why)| why);
        bad(&format!(": {why}"))
    })?;
    let mode = parts.get(2).copied().unwrap_or_default().to_string();
    from_short(spec, parsed, mode)
}

fn from_short(spec: &str, v: ServiceVolume, mode: String) -> Result<MountSpec, CliError> {
    let mut m = MountSpec {
        target: v.target,
        read_only: v.read_only,
        origin: Origin::Volume,
        raw: spec.to_string(),
        ..MountSpec::default()
    };
    match (v.kind, v.source) {
        (VolumeKind::Bind, Some(source)) => {
            m.kind = MountKind::Bind;
            m.source = source;
            m.create_host_path = true;
            m.propagation = v
                .bind
                .and_then(|b| b.propagation)
                .unwrap_or_else(|| "rprivate".into());
            m.mode = mode;
        }
        (_, Some(name)) => {
            validate_name(&name).map_err(|e| invalid(e.to_string()))?;
            m.source = name;
            m.nocopy = v.volume.and_then(|o| o.nocopy).unwrap_or(false);
            // docker shows `z` for a named volume given without options.
            m.mode = if mode.is_empty() { "z".into() } else { mode };
        }
        (_, None) => {
            m.nocopy = v.volume.and_then(|o| o.nocopy).unwrap_or(false);
            m.mode = mode;
        }
    }
    Ok(m)
}

/// Which option group a `--mount` key belongs to, for docker's "cannot mix"
/// check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Bind,
    Volume,
    Tmpfs,
}

/// `--mount type=bind|volume|tmpfs,source=,target=,readonly,...` (docker's
/// key=value list; `type` defaults to volume).
pub fn parse_mount(text: &str) -> Result<MountSpec, CliError> {
    let bad = |why: String| {
        invalid(format!(
            "invalid argument \"{text}\" for \"--mount\" flag: {why}"
        ))
    };
    let mut m = MountSpec {
        origin: Origin::Mount,
        ..MountSpec::default()
    };
    let mut groups = Vec::new();
    for field in text.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        mount_field(&mut m, &key, value, field).map_err(bad)?;
        groups.extend(group_of(&key));
    }
    check_mount(&mut m, &groups).map_err(bad)?;
    Ok(m)
}

/// The option group of a `--mount` key (by its prefix).
fn group_of(key: &str) -> Option<Group> {
    match key.split_once('-').map(|(prefix, _)| prefix) {
        Some("bind") => Some(Group::Bind),
        Some("volume") => Some(Group::Volume),
        Some("tmpfs") => Some(Group::Tmpfs),
        _ => None,
    }
}

/// Applies one `key[=value]` of `--mount`.
fn mount_field(
    m: &mut MountSpec,
    key: &str,
    value: Option<&str>,
    field: &str,
) -> Result<(), String> {
    let flag = || parse_bool(key, value);
    match (key, value) {
        ("readonly" | "ro", _) => m.read_only = flag()?,
        ("volume-nocopy", _) => m.nocopy = flag()?,
        ("bind-nonrecursive", _) => m.non_recursive = flag()?,
        ("bind-create-host-path", _) => m.create_host_path = flag()?,
        (_, None) => return Err(format!("invalid field '{field}' must be a key=value pair")),
        ("type", Some(v)) => m.kind = mount_type(v)?,
        ("source" | "src", Some(v)) => m.source = v.to_string(),
        ("target" | "destination" | "dst", Some(v)) => m.target = v.to_string(),
        ("consistency", Some(v)) => {
            if !matches!(v, "default" | "consistent" | "cached" | "delegated") {
                return Err(format!("invalid consistency: {v}"));
            }
        }
        ("bind-propagation", Some(v)) => {
            propagation_flags(v).ok_or_else(|| format!("invalid propagation mode: {v}"))?;
            m.propagation = v.to_string();
        }
        ("volume-driver", Some(v)) if v != "local" => {
            return Err(format!(
                "error looking up volume plugin {v}: plugin \"{v}\" not found"
            ));
        }
        ("volume-driver", Some(_)) => {}
        ("volume-label", Some(v)) => {
            let (k, val) = v.split_once('=').unwrap_or((v, ""));
            m.volume_labels.insert(k.to_string(), val.to_string());
        }
        ("volume-opt", Some(v)) => {
            let (k, val) = v
                .split_once('=')
                .ok_or_else(|| format!("invalid volume-opt: {v}"))?;
            m.volume_options.insert(k.to_string(), val.to_string());
        }
        ("tmpfs-size", Some(v)) => {
            let bytes = parse_bytes(v).map_err(|e| format!("invalid tmpfs-size: {e}"))?;
            m.options.push(format!("size={bytes}"));
        }
        ("tmpfs-mode", Some(v)) => {
            let mode = u32::from_str_radix(v, 8).map_err(|_| format!("invalid tmpfs-mode: {v}"))?;
            m.options.push(format!("mode={mode:o}"));
        }
        (other, Some(_)) => return Err(format!("unexpected key '{other}' in '{field}'")),
    }
    Ok(())
}

fn mount_type(text: &str) -> Result<MountKind, String> {
    match text {
        "bind" => Ok(MountKind::Bind),
        "volume" => Ok(MountKind::Volume),
        "tmpfs" => Ok(MountKind::Tmpfs),
        other => Err(format!(
            "invalid mount type {other:?}: bind, volume or tmpfs"
        )),
    }
}

/// Go's strconv.ParseBool; a bare key means true.
fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

fn check_mount(m: &mut MountSpec, groups: &[Group]) -> Result<(), String> {
    if m.target.is_empty() {
        return Err("target is required".into());
    }
    let kind = m.kind.as_str();
    let own = match m.kind {
        MountKind::Bind => Group::Bind,
        MountKind::Volume => Group::Volume,
        MountKind::Tmpfs => Group::Tmpfs,
    };
    if let Some(other) = groups.iter().find(|g| **g != own) {
        let prefix = format!("{other:?}").to_ascii_lowercase();
        return Err(format!(
            "cannot mix '{prefix}-*' options with mount type '{kind}'"
        ));
    }
    let config = |why: String| format!("invalid mount config for type \"{kind}\": {why}");
    if !m.target.starts_with('/') {
        return Err(config(format!(
            "invalid mount path: '{}' mount path must be absolute",
            m.target
        )));
    }
    match m.kind {
        MountKind::Bind if m.source.is_empty() => {
            return Err(config("field Source must not be empty".into()));
        }
        MountKind::Bind if !m.source.starts_with('/') => {
            return Err(config(format!(
                "invalid mount path: '{}' mount path must be absolute",
                m.source
            )));
        }
        MountKind::Bind if m.propagation.is_empty() => m.propagation = "rprivate".into(),
        MountKind::Tmpfs if !m.source.is_empty() => {
            return Err(config("field Source must not be specified".into()));
        }
        MountKind::Volume if !m.source.is_empty() => {
            validate_name(&m.source).map_err(|e| e.to_string())?
        }
        _ => {}
    }
    Ok(())
}

/// `--tmpfs PATH[:OPTIONS]`, options as for mount(8) (`size=64m,mode=1777`).
pub fn parse_tmpfs(text: &str) -> Result<MountSpec, CliError> {
    let (target, options) = text.split_once(':').unwrap_or((text, ""));
    if !target.starts_with('/') {
        return Err(invalid(format!(
            "invalid tmpfs specification: '{text}': invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let options: Vec<String> = options
        .split(',')
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect();
    for option in &options {
        check_tmpfs_option(option)
            .map_err(|why| invalid(format!("invalid tmpfs option {option:?}: {why}")))?;
    }
    Ok(MountSpec {
        kind: MountKind::Tmpfs,
        target: target.to_string(),
        read_only: options.iter().any(|o| o == "ro"),
        origin: Origin::Tmpfs,
        raw: options.join(","),
        options,
        ..MountSpec::default()
    })
}

fn check_tmpfs_option(option: &str) -> Result<(), String> {
    let Some((key, value)) = option.split_once('=') else {
        return match flag_word(option) {
            Some(_) => Ok(()),
            None => Err("not a mount flag".into()),
        };
    };
    if !TMPFS_KEYS.contains(&key) {
        return Err(format!("unknown key {key:?}"));
    }
    let ok = match key {
        "mode" => u32::from_str_radix(value, 8).is_ok(),
        "size" => {
            let digits = value.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', '%']);
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        }
        "uid" | "gid" | "nr_inodes" | "nr_blocks" => value.parse::<u64>().is_ok(),
        _ => !value.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("bad value {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(r: Result<MountSpec, CliError>) -> String {
        match r {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(e) => {
                assert_eq!(e.exit_code(), 125);
                e.to_string()
            }
        }
    }

    #[test]
    fn v_forms() {
        let named = parse_volume("data:/var/lib/data").unwrap();
        assert_eq!(
            (named.kind, named.source.as_str(), named.mode.as_str()),
            (MountKind::Volume, "data", "z")
        );
        assert!(!named.read_only);
        let bind = parse_volume("/srv/conf:/etc/conf:ro,rslave").unwrap();
        assert_eq!(bind.kind, MountKind::Bind);
        assert!(bind.read_only && bind.create_host_path);
        assert_eq!(bind.propagation, "rslave");
        assert_eq!(bind.mode, "ro,rslave");
        assert_eq!(bind.raw, "/srv/conf:/etc/conf:ro,rslave");
        let plain = parse_volume("/srv:/srv").unwrap();
        assert_eq!(plain.propagation, "rprivate");
        let anon = parse_volume("/cache").unwrap();
        assert_eq!((anon.kind, anon.source.as_str()), (MountKind::Volume, ""));
        assert!(parse_volume("data:/d:nocopy").unwrap().nocopy);
        assert_eq!(parse_volume("data:/d:ro").unwrap().mode, "ro");
    }

    #[test]
    fn v_errors() {
        assert_eq!(
            err_of(parse_volume("data:rel")),
            "invalid volume specification: 'data:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            err_of(parse_volume("a:/b:ro:x")),
            "invalid volume specification: 'a:/b:ro:x'"
        );
        assert!(err_of(parse_volume("data:/d:bogus")).contains("bogus"));
        assert!(err_of(parse_volume("/h:/d:nocopy")).contains("nocopy"));
        assert!(
            err_of(parse_volume("./rel:/d"))
                .contains("includes invalid characters for a local volume name")
        );
        assert!(err_of(parse_volume("x:/d")).contains("volume name is too short"));
    }

    #[test]
    fn mount_forms() {
        let m = parse_mount("type=bind,source=/srv,target=/data,readonly,bind-propagation=rshared")
            .unwrap();
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!((m.source.as_str(), m.target.as_str()), ("/srv", "/data"));
        assert!(m.read_only && !m.create_host_path);
        assert_eq!(m.propagation, "rshared");
        let v = parse_mount("src=data,dst=/d,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs")
            .unwrap();
        assert_eq!(v.kind, MountKind::Volume);
        assert!(v.nocopy);
        assert_eq!(v.volume_labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(
            v.volume_options.get("type").map(String::as_str),
            Some("tmpfs")
        );
        let t = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(t.options, ["size=1048576", "mode=1770"]);
        let ro = parse_mount("type=volume,target=/x,readonly=false").unwrap();
        assert!(!ro.read_only && ro.source.is_empty());
    }

    #[test]
    fn mount_errors() {
        let cases = [
            ("type=bind,source=/x", "target is required"),
            ("type=bind,target=/x", "field Source must not be empty"),
            (
                "type=bind,src=rel,target=/x",
                "'rel' mount path must be absolute",
            ),
            (
                "type=tmpfs,src=x,target=/x",
                "field Source must not be specified",
            ),
            (
                "type=volume,target=rel",
                "'rel' mount path must be absolute",
            ),
            ("type=nfs,target=/x", "invalid mount type"),
            ("target=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
            (
                "target=/x,source",
                "invalid field 'source' must be a key=value pair",
            ),
            (
                "target=/x,readonly=maybe",
                "invalid value for readonly: maybe",
            ),
            (
                "type=bind,src=/a,target=/x,volume-nocopy",
                "cannot mix 'volume-*' options with mount type 'bind'",
            ),
            (
                "type=volume,target=/x,tmpfs-size=1m",
                "cannot mix 'tmpfs-*' options with mount type 'volume'",
            ),
            ("type=tmpfs,target=/x,tmpfs-size=lots", "invalid tmpfs-size"),
            (
                "type=bind,src=/a,target=/x,bind-propagation=odd",
                "invalid propagation mode: odd",
            ),
            ("target=/x,volume-driver=nfs", "plugin \"nfs\" not found"),
        ];
        for (text, needle) in cases {
            let e = err_of(parse_mount(text));
            assert!(e.contains(needle), "{text}: {e}");
            assert!(
                e.starts_with(&format!(
                    "invalid argument \"{text}\" for \"--mount\" flag: "
                )),
                "{e}"
            );
        }
    }

    #[test]
    fn tmpfs_forms_and_errors() {
        let t = parse_tmpfs("/run:size=64m,mode=1777,exec").unwrap();
        assert_eq!(t.kind, MountKind::Tmpfs);
        assert_eq!(t.options, ["size=64m", "mode=1777", "exec"]);
        assert_eq!(t.raw, "size=64m,mode=1777,exec");
        assert!(parse_tmpfs("/t").unwrap().options.is_empty());
        assert!(parse_tmpfs("/t:ro").unwrap().read_only);
        assert!(err_of(parse_tmpfs("rel")).contains("must be absolute"));
        assert!(err_of(parse_tmpfs("/t:bogus")).contains("\"bogus\""));
        assert!(err_of(parse_tmpfs("/t:mode=999")).contains("bad value"));
        assert!(err_of(parse_tmpfs("/t:size=big")).contains("bad value"));
        assert!(err_of(parse_tmpfs("/t:color=red")).contains("unknown key"));
    }

    #[test]
    fn image_volumes_come_last() {
        let image = vec!["/data".to_string()];
        let all = requested(&["/x".into()], &[], &["/t".into()], Some(&image)).unwrap();
        let origins: Vec<Origin> = all.iter().map(|m| m.origin).collect();
        assert_eq!(origins, [Origin::Volume, Origin::Tmpfs, Origin::Image]);
    }
}
