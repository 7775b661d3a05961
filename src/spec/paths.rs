//! Relative paths in a stack file are relative to its project directory. They are
//! made absolute per file, before files merge, so that an included or extended file
//! from another folder keeps pointing where its author meant.

use std::path::{Path, PathBuf};

use super::yaml::{Node, Value};

/// Makes `path` absolute against `base`, expanding a leading `~`.
pub fn absolutize(path: &str, base: &Path, home: Option<&Path>) -> String {
    let expanded: PathBuf = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            home.join(rest.trim_start_matches('/'))
        }
        _ => PathBuf::from(path),
    };
    let joined = if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    };
    clean(&joined).display().to_string()
}

/// Removes `.` and `..` components lexically (the path need not exist).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A git or OCI reference (`https://…`, `git@…`, `oci://…`, `remote:x`) rather
/// than a local path.
pub fn is_remote(text: &str) -> bool {
    if text.contains("://") || text.starts_with("git@") {
        return true;
    }
    match text.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() > 1
                && !scheme.contains('/')
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// Resolves every path-valued key of a parsed stack file in place.
pub fn resolve(root: &mut Node, base: &Path, home: Option<&Path>) {
    let Value::Map(top) = &mut root.value else {
        return;
    };
    if let Some(Value::Map(services)) = top.get_mut("services").map(|n| &mut n.value) {
        for entry in services.0.values_mut() {
            resolve_service(&mut entry.node, base, home);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Map(items)) = top.get_mut(section).map(|n| &mut n.value) {
            for entry in items.0.values_mut() {
                if let Value::Map(item) = &mut entry.node.value {
                    set_path(item.get_mut("file"), base, home);
                }
            }
        }
    }
}

fn resolve_service(service: &mut Node, base: &Path, home: Option<&Path>) {
    let Value::Map(map) = &mut service.value else {
        return;
    };
    if let Some(build) = map.get_mut("build") {
        let pos = build.pos.clone();
        match &mut build.value {
            Value::Map(b) if b.get("context").is_none() => {
                let dir = Node::new(Value::Str(clean(base).display().to_string()), pos.clone());
                b.insert("context".into(), pos, dir);
            }
            Value::Map(b) => set_context(b.get_mut("context"), base, home),
            Value::Str(_) => set_context(Some(build), base, home),
            _ => {}
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(node) = map.get_mut(key) {
            resolve_file_list(node, base, home);
        }
    }
    if let Some(Value::Map(ext)) = map.get_mut("extends").map(|n| &mut n.value) {
        set_context(ext.get_mut("file"), base, home);
    }
    if let Some(Value::Seq(volumes)) = map.get_mut("volumes").map(|n| &mut n.value) {
        for volume in volumes {
            resolve_volume(volume, base, home);
        }
    }
}

fn set_path(node: Option<&mut Node>, base: &Path, home: Option<&Path>) {
    if let Some(Value::Str(s)) = node.map(|n| &mut n.value) {
        *s = absolutize(s, base, home);
    }
}

fn set_context(node: Option<&mut Node>, base: &Path, home: Option<&Path>) {
    if let Some(Value::Str(s)) = node.map(|n| &mut n.value)
        && !is_remote(s)
    {
        *s = absolutize(s, base, home);
    }
}

fn resolve_file_list(node: &mut Node, base: &Path, home: Option<&Path>) {
    match &mut node.value {
        Value::Str(s) => *s = absolutize(s, base, home),
        Value::Seq(items) => {
            for item in items {
                match &mut item.value {
                    Value::Str(s) => *s = absolutize(s, base, home),
                    Value::Map(m) => set_path(m.get_mut("path"), base, home),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// A short-syntax source that starts with `.` or `~` is a host path (a bind mount);
/// anything else before the first colon is a volume name or an absolute path.
fn resolve_volume(volume: &mut Node, base: &Path, home: Option<&Path>) {
    match &mut volume.value {
        Value::Str(s) => {
            if let Some((source, rest)) = s.split_once(':')
                && (source.starts_with('.') || source.starts_with('~'))
            {
                *s = format!("{}:{rest}", absolutize(source, base, home));
            }
        }
        Value::Map(m) => {
            let is_bind = m.get("type").and_then(Node::as_str) == Some("bind");
            if is_bind {
                set_path(m.get_mut("source"), base, home);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolutize_paths() {
        let base = Path::new("/srv/app");
        let home = Some(Path::new("/home/u"));
        assert_eq!(absolutize("./data", base, home), "/srv/app/data");
        assert_eq!(absolutize("../x", base, home), "/srv/x");
        assert_eq!(absolutize("/abs", base, home), "/abs");
        assert_eq!(absolutize("~/cfg", base, home), "/home/u/cfg");
        assert_eq!(absolutize(".", base, home), "/srv/app");
    }
}
