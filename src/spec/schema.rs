//! Validation of the merged stack against berth's JSON Schema (schema/), with each
//! error mapped back to the file, line and column it came from.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};

use super::error::{Pos, SpecError};
use super::yaml::{Node, Value};

pub const SCHEMA_JSON: &str = include_str!("../../schema/berth-stack.schema.json");

fn validator() -> Result<&'static jsonschema::Validator, SpecError> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    let built = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(SCHEMA_JSON).map_err(|e| e.to_string())?;
        jsonschema::validator_for(&schema).map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|e| SpecError::Invalid {
        at: None,
        path: String::new(),
        message: format!("berth's built-in schema is broken: {e}"),
    })
}

struct Failure {
    pointer: String,
    kind: ValidationErrorKind,
    text: String,
}

/// Validates the merged stack; the first error is reported with its location.
pub fn validate(root: &Node) -> Result<(), SpecError> {
    let validator = validator()?;
    let json = root.to_json();
    let first = validator.iter_errors(&json).next().map(|e| {
        let text = e.to_string();
        let parts = e.into_parts();
        Failure {
            pointer: parts.instance_path.as_str().to_string(),
            text,
            kind: parts.kind,
        }
    });
    match first {
        None => Ok(()),
        Some(failure) => Err(report(root, &failure)),
    }
}

fn segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

fn node_at<'a>(root: &'a Node, segs: &[String]) -> Option<&'a Node> {
    let mut node = root;
    for seg in segs {
        node = match &node.value {
            Value::Map(m) => m.get(seg)?,
            Value::Seq(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// `services.web.ports[1]` from a JSON pointer.
pub fn key_path(segs: &[String], root: &Node) -> String {
    let mut out = String::new();
    let mut node = Some(root);
    for seg in segs {
        let in_seq = matches!(node.map(|n| &n.value), Some(Value::Seq(_)));
        if in_seq {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
        node = node.and_then(|n| node_at(n, std::slice::from_ref(seg)));
    }
    out
}

fn report(root: &Node, failure: &Failure) -> SpecError {
    let segs = segments(&failure.pointer);
    let path = key_path(&segs, root);
    let node = node_at(root, &segs);
    let at: Option<Pos> = node.map(|n| n.pos.clone());
    match &failure.kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            unknown_key(root, &segs, &path, unexpected, at)
        }
        ValidationErrorKind::Type { kind } => SpecError::Invalid {
            at,
            path,
            message: format!(
                "must be {}, not {}",
                expected_types(kind),
                node.map_or("nothing", Node::kind)
            ),
        },
        ValidationErrorKind::Enum { options } => SpecError::Invalid {
            at,
            path,
            message: format!(
                "invalid value {}: must be one of {}",
                node.map(Node::to_json).unwrap_or_default(),
                options
            ),
        },
        ValidationErrorKind::Required { property } => SpecError::Invalid {
            at,
            path,
            message: format!("missing required key {property}"),
        },
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            SpecError::Invalid {
                at,
                path,
                message: format!(
                    "invalid value {}: it matches none of the forms this key accepts",
                    short_json(node)
                ),
            }
        }
        _ => SpecError::Invalid {
            at,
            path,
            message: failure.text.clone(),
        },
    }
}

fn unknown_key(
    root: &Node,
    segs: &[String],
    path: &str,
    unexpected: &[String],
    at: Option<Pos>,
) -> SpecError {
    let key = unexpected.first().cloned().unwrap_or_default();
    let parent = node_at(root, segs).and_then(Node::as_map);
    let key_pos = parent.and_then(|m| m.key_pos(&key)).cloned().or(at.clone());
    let section = segs.len() == 1
        && matches!(
            segs[0].as_str(),
            "services" | "networks" | "volumes" | "secrets" | "configs"
        );
    match key_pos {
        Some(at) if section => SpecError::Invalid {
            at: Some(at),
            path: path.to_string(),
            message: format!(
                "invalid name {key:?}: use letters, digits, dots, dashes and underscores"
            ),
        },
        Some(at) => SpecError::UnknownKey {
            at,
            path: path.to_string(),
            key,
        },
        None => SpecError::Invalid {
            at,
            path: path.to_string(),
            message: format!("unknown key `{key}`"),
        },
    }
}

fn expected_types(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(t) => with_article(&t.to_string()),
        TypeKind::Multiple(set) => {
            let names: Vec<String> = set.iter().map(|t| t.to_string()).collect();
            with_article(&names.join(" or "))
        }
    }
}

fn with_article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn short_json(node: Option<&Node>) -> String {
    let text = node.map(Node::to_json).unwrap_or_default().to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::yaml::parse;
    use std::path::Path;
    use std::sync::Arc;

    fn check(text: &str) -> Result<Node, String> {
        let file: Arc<Path> = Arc::from(Path::new("compose.yaml"));
        let node = match parse(text, &file) {
            Ok(Some(n)) => n,
            other => return Err(format!("{other:?}")),
        };
        validate(&node).map_err(|e| e.to_string())?;
        Ok(node)
    }

    #[test]
    fn unknown_key_is_located() {
        let err = check("services:\n  web:\n    image: x\n    wrongField: 1\n").err();
        assert_eq!(
            err.as_deref(),
            Some("compose.yaml:4:5: services.web: unknown key `wrongField`")
        );
    }

    #[test]
    fn extensions_are_allowed() {
        assert!(
            check("x-common: {a: 1}\nservices:\n  web:\n    image: x\n    x-note: hi\n").is_ok()
        );
    }

    #[test]
    fn wrong_type_names_the_path() {
        let err = check("services:\n  web:\n    image: x\n    privileged: [1]\n").err();
        assert_eq!(
            err.as_deref(),
            Some(
                "compose.yaml:4:17: services.web.privileged: must be a boolean or string, not sequence"
            )
        );
    }
}
