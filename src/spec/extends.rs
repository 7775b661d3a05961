//! `extends`: a service starts from another service (in the same file or another)
//! and merges its own keys on top, with the same rules as `-f` files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::SpecError;
use super::load::{Ctx, parse_file};
use super::merge::merge;
use super::paths;
use super::yaml::{Map, Node, Value};

/// Resolves `extends` for every service of `root`, in place.
pub fn apply(root: &mut Node, ctx: &Ctx<'_>) -> Result<(), SpecError> {
    let Some(services) = root
        .as_map()
        .and_then(|m| m.get("services"))
        .and_then(Node::as_map)
    else {
        return Ok(());
    };
    let extends_any = services
        .iter()
        .any(|(_, n)| n.as_map().is_some_and(|m| m.get("extends").is_some()));
    if !extends_any {
        return Ok(());
    }
    let services = services.clone();
    let mut files: HashMap<PathBuf, Map> = HashMap::new();
    let mut resolved = Vec::new();
    for (name, node) in services.iter() {
        let has_extends = node.as_map().is_some_and(|m| m.get("extends").is_some());
        if has_extends {
            let mut stack = Vec::new();
            let out = resolve(&services, None, name, ctx, &mut files, &mut stack)?;
            resolved.push((name.clone(), out));
        }
    }
    if let Some(Value::Map(target)) = root
        .value
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .map(|n| &mut n.value)
    {
        for (name, node) in resolved {
            if let Some(slot) = target.get_mut(&name) {
                *slot = node;
            }
        }
    }
    Ok(())
}

/// One link of an extends chain: which file (None: the main stack) and service.
type Link = (Option<PathBuf>, String);

fn resolve(
    services: &Map,
    file: Option<&Path>,
    name: &str,
    ctx: &Ctx<'_>,
    files: &mut HashMap<PathBuf, Map>,
    stack: &mut Vec<Link>,
) -> Result<Node, SpecError> {
    let link: Link = (file.map(Path::to_path_buf), name.to_string());
    if stack.contains(&link) {
        let mut cycle: Vec<String> = stack.iter().map(|(_, s)| s.clone()).collect();
        cycle.push(name.to_string());
        return Err(SpecError::Invalid {
            at: None,
            path: format!("services.{}.extends", stack[0].1),
            message: format!("extends cycle detected: {}", cycle.join(" -> ")),
        });
    }
    let Some(node) = services.get(name) else {
        return Err(missing(stack, name, file));
    };
    let Some(ext) = node.as_map().and_then(|m| m.get("extends")) else {
        return Ok(node.clone());
    };
    let (base_name, base_file) = target(ext, name)?;
    stack.push(link);
    let base = match &base_file {
        Some(path) => {
            let other = other_file(path, ctx, files, ext)?;
            resolve(&other, Some(path), &base_name, ctx, files, stack)?
        }
        None => resolve(services, file, &base_name, ctx, files, stack)?,
    };
    stack.pop();
    let mut own = node.clone();
    if let Value::Map(m) = &mut own.value {
        m.remove("extends");
    }
    let base = match base.value {
        Value::Null => Node::new(Value::Map(Map::default()), base.pos),
        _ => base,
    };
    let merged = merge(base, own, &["services", name]);
    Ok(merged.unwrap_or_else(|| Node::new(Value::Map(Map::default()), node.pos.clone())))
}

fn missing(stack: &[Link], name: &str, file: Option<&Path>) -> SpecError {
    let from = stack.last().map(|(_, s)| s.as_str()).unwrap_or(name);
    let place = file
        .map(|f| format!(" in {}", f.display()))
        .unwrap_or_default();
    SpecError::Invalid {
        at: None,
        path: format!("services.{from}.extends"),
        message: format!("cannot extend service {name:?}: no such service{place}"),
    }
}

fn target(ext: &Node, name: &str) -> Result<(String, Option<PathBuf>), SpecError> {
    let path = format!("services.{name}.extends");
    match &ext.value {
        Value::Str(s) => Ok((s.clone(), None)),
        Value::Map(m) => {
            let service = m
                .get("service")
                .and_then(Node::scalar_text)
                .ok_or_else(|| SpecError::invalid(&ext.pos, &path, "extends needs a `service`"))?;
            let file = m.get("file").and_then(Node::scalar_text).map(PathBuf::from);
            Ok((service, file))
        }
        _ => Err(SpecError::invalid(
            &ext.pos,
            path,
            "extends takes a service name or a mapping with `service` and `file`",
        )),
    }
}

fn other_file(
    path: &Path,
    ctx: &Ctx<'_>,
    files: &mut HashMap<PathBuf, Map>,
    ext: &Node,
) -> Result<Map, SpecError> {
    if let Some(m) = files.get(path) {
        return Ok(m.clone());
    }
    if paths::is_remote(&path.to_string_lossy()) {
        return Err(SpecError::invalid(
            &ext.pos,
            "extends.file",
            format!(
                "remote file {} is not supported; extend a local file",
                path.display()
            ),
        ));
    }
    if !path.is_file() {
        return Err(SpecError::invalid(
            &ext.pos,
            "extends.file",
            format!("{} does not exist", path.display()),
        ));
    }
    let mut root = parse_file(path, &ctx.env)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    paths::resolve(&mut root, dir, ctx.env.home().as_deref());
    let services = root
        .as_map()
        .and_then(|m| m.get("services"))
        .and_then(Node::as_map)
        .cloned()
        .unwrap_or_default();
    files.insert(path.to_path_buf(), services.clone());
    Ok(services)
}
