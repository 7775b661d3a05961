//! Volume short syntax: `[source:]target[:options]`, where a source that is a path
//! (already made absolute) is a bind mount and anything else names a volume.

use crate::spec::model::{BindOptions, Extra, ServiceVolume, VolumeKind, VolumeOptions};

pub fn parse_short(spec: &str) -> Result<ServiceVolume, String> {
    let bad = |why: &str| format!("invalid volume {spec:?}: {why}");
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(bad("expected [source:]target[:options]")),
    };
    if !target.starts_with('/') {
        return Err(bad(&format!(
            "the container path {target:?} must be absolute"
        )));
    }
    let source = source.filter(|s| !s.is_empty());
    let is_bind = source.is_some_and(|s| s.starts_with('/'));
    let kind = if is_bind {
        VolumeKind::Bind
    } else {
        VolumeKind::Volume
    };
    let mut volume = ServiceVolume {
        kind,
        source: source.map(str::to_string),
        target: target.to_string(),
        read_only: false,
        consistency: None,
        bind: is_bind.then(|| BindOptions {
            create_host_path: Some(true),
            ..BindOptions::default()
        }),
        volume: (!is_bind).then(VolumeOptions::default),
        tmpfs: None,
        extra: Extra::new(),
    };
    for option in options.into_iter().flat_map(|o| o.split(',')) {
        apply_option(&mut volume, option).map_err(|w| bad(&w))?;
    }
    Ok(volume)
}

fn apply_option(volume: &mut ServiceVolume, option: &str) -> Result<(), String> {
    match option {
        "ro" => volume.read_only = true,
        "rw" => volume.read_only = false,
        "consistent" | "cached" | "delegated" => volume.consistency = Some(option.into()),
        "z" | "Z" => bind_options(volume, option)?.selinux = Some(option.into()),
        "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
            bind_options(volume, option)?.propagation = Some(option.into())
        }
        "nocopy" => match &mut volume.volume {
            Some(v) => v.nocopy = Some(true),
            None => return Err("nocopy applies to volumes, not bind mounts".into()),
        },
        other => return Err(format!("unknown option {other:?}")),
    }
    Ok(())
}

fn bind_options<'a>(
    volume: &'a mut ServiceVolume,
    option: &str,
) -> Result<&'a mut BindOptions, String> {
    volume
        .bind
        .as_mut()
        .ok_or_else(|| format!("{option:?} applies to bind mounts only"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bind_and_anonymous() -> Result<(), String> {
        let named = parse_short("data:/var/lib/data")?;
        assert_eq!(named.kind, VolumeKind::Volume);
        assert_eq!(named.source.as_deref(), Some("data"));
        let bind = parse_short("/srv/conf:/etc/conf:ro,z")?;
        assert_eq!(bind.kind, VolumeKind::Bind);
        assert!(bind.read_only);
        assert_eq!(bind.bind.and_then(|b| b.selinux).as_deref(), Some("z"));
        let anon = parse_short("/cache")?;
        assert_eq!(anon.kind, VolumeKind::Volume);
        assert_eq!(anon.source, None);
        let nocopy = parse_short("data:/d:nocopy")?;
        assert_eq!(nocopy.volume.and_then(|v| v.nocopy), Some(true));
        Ok(())
    }

    #[test]
    fn bad_volumes() {
        assert!(parse_short("data:relative").is_err());
        assert!(parse_short("a:/b:c:d").is_err());
        assert!(parse_short("data:/d:bogus").is_err());
        assert!(parse_short("/h:/d:nocopy").is_err());
    }
}
