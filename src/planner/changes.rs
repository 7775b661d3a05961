//! Names the fields that differ between two canonical service configs, for the
//! cause of a recreate: `ports[0].published: "8080" -> "8081"`.

use serde_json::Value;

/// At most this many changed fields are spelled out; the rest are counted, so a
/// rewritten environment block does not produce a screen-long cause.
const MAX_LISTED: usize = 5;
/// Values longer than this (in characters of compact JSON) are shortened.
const MAX_VALUE_CHARS: usize = 60;
const NONE: &str = "(none)";

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Every leaf that differs, in key order. Objects are compared key by key, also
/// when one side lacks the object entirely (so a new environment shows its
/// variables); arrays are compared index by index, and an element present on one
/// side only is shown whole.
pub(crate) fn changes(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(old), Some(new), &mut out);
    out
}

/// The cause text for a set of changes, or `None` when nothing differs.
pub(crate) fn describe(old: &Value, new: &Value) -> Option<String> {
    let found = changes(old, new);
    if found.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = found.iter().take(MAX_LISTED).map(format_change).collect();
    if found.len() > MAX_LISTED {
        parts.push(format!("and {} more", found.len() - MAX_LISTED));
    }
    Some(parts.join(", "))
}

fn walk(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(child_key(&path, key), a.get(key), b.get(key), out);
            }
        }
        (None, Some(Value::Object(b))) => {
            for (key, value) in b {
                walk(child_key(&path, key), None, Some(value), out);
            }
        }
        (Some(Value::Object(a)), None) => {
            for (key, value) in a {
                walk(child_key(&path, key), Some(value), None, out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                leaf_or_walk(format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        _ => leaf(path, old, new, out),
    }
}

/// Array elements that exist on both sides are compared field by field; an element
/// added or removed is reported as one change.
fn leaf_or_walk(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    if old.is_some() && new.is_some() {
        walk(path, old, new, out);
    } else {
        leaf(path, old, new, out);
    }
}

fn leaf(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    if old != new {
        out.push(Change {
            path,
            old: old.cloned(),
            new: new.cloned(),
        });
    }
}

/// `parent.key` for plain keys; `parent["some.key"]` when the key itself contains
/// characters that would make the dotted path ambiguous.
fn child_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (plain, parent.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{parent}.{key}"),
        (false, _) => format!("{parent}[{}]", quoted(key)),
    }
}

fn format_change(change: &Change) -> String {
    format!(
        "{}: {} -> {}",
        change.path,
        show(change.old.as_ref()),
        show(change.new.as_ref())
    )
}

fn show(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return NONE.to_string();
    };
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_VALUE_CHARS - 1).collect();
    short.push('…');
    short
}

fn quoted(key: &str) -> String {
    Value::String(key.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_and_indexed_paths() {
        let old = json!({"image": "busybox:1", "ports": [{"published": "8080", "target": 80}]});
        let new = json!({"image": "busybox:2", "ports": [{"published": "8081", "target": 80}]});
        assert_eq!(
            describe(&old, &new).unwrap(),
            r#"image: "busybox:1" -> "busybox:2", ports[0].published: "8080" -> "8081""#
        );
    }

    #[test]
    fn added_and_removed_fields() {
        let old = json!({"labels": {"com.example.a": "1"}});
        let new = json!({"environment": {"FOO": "x"}, "ports": [1]});
        assert_eq!(
            describe(&old, &new).unwrap(),
            r#"environment.FOO: (none) -> "x", labels["com.example.a"]: "1" -> (none), ports: (none) -> [1]"#
        );
    }

    #[test]
    fn array_elements_added_whole_and_long_lists_cut() {
        let old = json!({"dns": ["a"]});
        let new = json!({"dns": ["a", "b"]});
        assert_eq!(describe(&old, &new).unwrap(), r#"dns[1]: (none) -> "b""#);
        let many_old = json!({"e": {"A": 1, "B": 1, "C": 1, "D": 1, "E": 1, "F": 1, "G": 1}});
        let many_new = json!({"e": {"A": 2, "B": 2, "C": 2, "D": 2, "E": 2, "F": 2, "G": 2}});
        assert!(
            describe(&many_old, &many_new)
                .unwrap()
                .ends_with("e.E: 1 -> 2, and 2 more")
        );
        assert_eq!(describe(&old, &old), None);
    }

    #[test]
    fn long_values_are_shortened() {
        let long = "x".repeat(100);
        let text = describe(&json!({}), &json!({ "command": long })).unwrap();
        assert_eq!(
            text.chars().count(),
            "command: (none) -> ".len() + MAX_VALUE_CHARS
        );
        assert!(text.ends_with('…'));
    }
}
