//! Merging of stack files (`-f a.yaml -f b.yaml`) and of `extends`, per the Compose
//! Specification: mappings merge key by key, scalars are replaced, sequences append
//! (with per-key rules), `!reset` removes and `!override` replaces outright.

use super::yaml::{Map, MergeTag, Node, Value};

/// Merges `over` on top of `base`. `path` is the key path of the node (for example
/// `["services", "web", "ports"]`); it selects the sequence rule. `None` means the
/// key is gone (`!reset`).
pub fn merge(base: Node, over: Node, path: &[&str]) -> Option<Node> {
    match over.tag {
        MergeTag::Reset => return None,
        MergeTag::Override => return Some(untagged(over)),
        MergeTag::None => {}
    }
    if is_list_or_dict(path) {
        let (base, over) = (to_dict(base, path), to_dict(over, path));
        return Some(merge_plain(base, over, path));
    }
    Some(merge_plain(base, over, path))
}

fn merge_plain(base: Node, over: Node, path: &[&str]) -> Node {
    match (base.value, over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let map = merge_maps(b, o, path);
            Node {
                value: Value::Map(map),
                ..over_meta(&over.pos, over.plain)
            }
        }
        (Value::Seq(b), Value::Seq(o)) => {
            let items = merge_seqs(b, o, path);
            Node {
                value: Value::Seq(items),
                ..over_meta(&over.pos, over.plain)
            }
        }
        (_, value) => Node {
            value,
            pos: over.pos,
            tag: MergeTag::None,
            plain: over.plain,
        },
    }
}

fn over_meta(pos: &super::Pos, plain: bool) -> Node {
    Node {
        value: Value::Null,
        pos: pos.clone(),
        tag: MergeTag::None,
        plain,
    }
}

fn untagged(mut node: Node) -> Node {
    node.tag = MergeTag::None;
    node
}

fn merge_maps(mut base: Map, over: Map, path: &[&str]) -> Map {
    for (key, entry) in over.0 {
        let mut child_path: Vec<&str> = path.to_vec();
        child_path.push(&key);
        match base.remove_entry(&key) {
            Some((index, old)) => {
                if let Some(merged) = merge(old.node, entry.node, &child_path) {
                    base.insert_at(index, key.clone(), entry.key_pos, merged);
                }
            }
            None => {
                if entry.node.tag != MergeTag::Reset {
                    base.insert(key.clone(), entry.key_pos, strip_tags(entry.node));
                }
            }
        }
    }
    base
}

/// Tags only mean something while merging; a value that merges with nothing keeps
/// its content (`!override`) or, for a `!reset` inside it, loses that key.
pub fn strip_tags(mut node: Node) -> Node {
    strip_tags_in_place(&mut node);
    node
}

pub fn strip_tags_in_place(node: &mut Node) {
    node.tag = MergeTag::None;
    match &mut node.value {
        Value::Map(map) => {
            map.0.retain(|_, entry| entry.node.tag != MergeTag::Reset);
            for entry in map.0.values_mut() {
                strip_tags_in_place(&mut entry.node);
            }
        }
        Value::Seq(items) => {
            items.retain(|n| n.tag != MergeTag::Reset);
            items.iter_mut().for_each(strip_tags_in_place);
        }
        _ => {}
    }
}

/// Which rule a sequence at `path` follows.
enum SeqRule {
    Replace,
    /// Later entries replace earlier ones with the same key; others append.
    ByKey(fn(&Node) -> Option<String>),
    /// Append, dropping exact duplicates.
    AppendUnique,
}

fn seq_rule(path: &[&str]) -> SeqRule {
    match path {
        ["services", _, "command" | "entrypoint"] => SeqRule::Replace,
        ["services", _, "healthcheck", "test"] => SeqRule::Replace,
        ["services", _, "volumes"] => SeqRule::ByKey(volume_target),
        ["services", _, "secrets" | "configs"] => SeqRule::ByKey(file_ref_target),
        _ => SeqRule::AppendUnique,
    }
}

fn merge_seqs(base: Vec<Node>, over: Vec<Node>, path: &[&str]) -> Vec<Node> {
    match seq_rule(path) {
        SeqRule::Replace => over.into_iter().map(strip_tags).collect(),
        SeqRule::ByKey(key_of) => {
            let mut out: Vec<Node> = base;
            for item in over {
                let key = key_of(&item);
                let existing = key
                    .as_ref()
                    .and_then(|k| out.iter().position(|b| key_of(b).as_ref() == Some(k)));
                match existing {
                    Some(i) => out[i] = strip_tags(item),
                    None => out.push(strip_tags(item)),
                }
            }
            out
        }
        SeqRule::AppendUnique => {
            let mut out: Vec<Node> = base;
            let mut seen: Vec<serde_json::Value> = out.iter().map(Node::to_json).collect();
            for item in over {
                let json = item.to_json();
                if !seen.contains(&json) {
                    seen.push(json);
                    out.push(strip_tags(item));
                }
            }
            out
        }
    }
}

/// The container path of a volume entry, short (`src:/dst:ro`) or long form.
fn volume_target(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => {
            let mut parts = s.split(':');
            let first = parts.next()?;
            Some(parts.next().unwrap_or(first).to_string())
        }
        Value::Map(m) => m.get("target").and_then(Node::scalar_text),
        _ => None,
    }
}

fn file_ref_target(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Map(m) => m
            .get("target")
            .or_else(|| m.get("source"))
            .and_then(Node::scalar_text),
        _ => None,
    }
}

/// Keys whose value may be written as a list (`KEY=VALUE`, names) or as a mapping;
/// both sides are turned into mappings before they merge.
fn is_list_or_dict(path: &[&str]) -> bool {
    matches!(
        path,
        [
            "services",
            _,
            "environment" | "labels" | "sysctls" | "annotations"
        ] | [
            "services",
            _,
            "extra_hosts" | "depends_on" | "networks" | "ulimits"
        ] | [
            "services",
            _,
            "build",
            "args" | "labels" | "additional_contexts"
        ] | ["services", _, "deploy", "labels"]
            | ["networks" | "volumes" | "secrets" | "configs", _, "labels"]
    )
}

/// Turns the list form of a list-or-dict key into its mapping form.
pub fn to_dict(node: Node, path: &[&str]) -> Node {
    let Value::Seq(items) = node.value else {
        return node;
    };
    let mut map = Map::default();
    for item in items {
        let Some(text) = item.scalar_text() else {
            continue;
        };
        let (key, value) = split_entry(&text, path);
        let value = match value {
            Some(v) => Value::Str(v),
            None if matches!(path.last(), Some(&"depends_on")) => service_started(&item),
            None => Value::Null,
        };
        map.insert(key, item.pos.clone(), Node::new(value, item.pos.clone()));
    }
    Node {
        value: Value::Map(map),
        pos: node.pos,
        tag: node.tag,
        plain: node.plain,
    }
}

fn split_entry(text: &str, path: &[&str]) -> (String, Option<String>) {
    let separators: &[char] = match path.last() {
        Some(&"extra_hosts") => &['=', ':'],
        Some(&"depends_on" | &"networks") => &[],
        _ => &['='],
    };
    match text.find(separators) {
        Some(i) if !separators.is_empty() => {
            (text[..i].to_string(), Some(text[i + 1..].to_string()))
        }
        _ => (text.to_string(), None),
    }
}

fn service_started(item: &Node) -> Value {
    let mut map = Map::default();
    let condition = Node::new(Value::Str("service_started".into()), item.pos.clone());
    map.insert("condition".into(), item.pos.clone(), condition);
    Value::Map(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse;
    use std::path::Path;
    use std::sync::Arc;

    fn yaml(text: &str) -> Node {
        let file: Arc<Path> = Arc::from(Path::new("t.yaml"));
        match parse(text, &file) {
            Ok(Some(n)) => n,
            other => panic!("bad test yaml: {other:?}"),
        }
    }

    fn merged(a: &str, b: &str) -> serde_json::Value {
        merge(yaml(a), yaml(b), &[])
            .map(|n| n.to_json())
            .unwrap_or_default()
    }

    #[test]
    fn maps_merge_and_scalars_override() {
        let out = merged(
            "services: {web: {image: a, hostname: h}}",
            "services: {web: {image: b}}",
        );
        assert_eq!(out["services"]["web"]["image"], "b");
        assert_eq!(out["services"]["web"]["hostname"], "h");
    }

    #[test]
    fn command_is_replaced_but_ports_append() {
        let out = merged(
            "services: {web: {command: [a, b], ports: ['80:80']}}",
            "services: {web: {command: [c], ports: ['80:80', '443:443']}}",
        );
        assert_eq!(out["services"]["web"]["command"], serde_json::json!(["c"]));
        assert_eq!(
            out["services"]["web"]["ports"],
            serde_json::json!(["80:80", "443:443"])
        );
    }

    #[test]
    fn volumes_merge_by_target() {
        let out = merged(
            "services: {web: {volumes: ['a:/data', 'b:/logs']}}",
            "services: {web: {volumes: [{type: volume, source: c, target: /data}]}}",
        );
        let vols = &out["services"]["web"]["volumes"];
        assert_eq!(vols[0]["source"], "c");
        assert_eq!(vols[1], "b:/logs");
    }

    #[test]
    fn environment_list_and_map_merge() {
        let out = merged(
            "services: {web: {environment: [A=1, B=2]}}",
            "services: {web: {environment: {B: '3', C: '4'}}}",
        );
        assert_eq!(
            out["services"]["web"]["environment"],
            serde_json::json!({"A": "1", "B": "3", "C": "4"})
        );
    }

    #[test]
    fn reset_removes_and_override_replaces() {
        let out = merged(
            "services: {web: {ports: ['80:80'], environment: {A: '1'}}}",
            "services: {web: {ports: !reset [], environment: !override {B: '2'}}}",
        );
        assert!(out["services"]["web"].get("ports").is_none());
        assert_eq!(
            out["services"]["web"]["environment"],
            serde_json::json!({"B": "2"})
        );
    }

    #[test]
    fn depends_on_list_becomes_conditions() {
        let out = merged(
            "services: {web: {depends_on: [db]}}",
            "services: {web: {depends_on: {cache: {condition: service_healthy}}}}",
        );
        assert_eq!(
            out["services"]["web"]["depends_on"],
            serde_json::json!({"db": {"condition": "service_started"}, "cache": {"condition": "service_healthy"}})
        );
    }
}
