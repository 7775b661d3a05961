//! Block-style YAML output of a normalized stack (`berth config`). Strings that a YAML 1.1 or 1.2 reader
//! could take for something else (`no`, `8080`, `80:80`, `~`) are double-quoted, as
//! `docker compose config` does.

use std::fmt::Write as _;

use serde_json::Value;

pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        // The first key of a map inside a sequence item shares the `- ` line.
        if i > 0 || indent == 0 || !out.ends_with("- ") {
            pad(out, indent);
        }
        out.push_str(&quote(key));
        out.push(':');
        write_value(out, value, indent);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        pad(out, indent);
        out.push_str("- ");
        match item {
            Value::Object(map) if !map.is_empty() => write_map(out, map, indent + 2),
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, indent + 2);
            }
            other => {
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn write_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    let _ = write!(out, "{:indent$}", "");
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        // A literal `$` is written `$$` so that loading the output does not
        // interpolate it a second time.
        Value::String(s) => quote(&s.replace('$', "$$")),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Plain when unambiguous, else a JSON string (which is valid YAML double-quoted).
fn quote(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_string()
    } else {
        serde_json::Value::String(text.to_string()).to_string()
    }
}

fn is_plain_safe(text: &str) -> bool {
    const RESERVED: &[&str] = &[
        "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n",
    ];
    let Some(first) = text.chars().next() else {
        return false;
    };
    let starts_ok = first.is_ascii_alphabetic() || first == '/' || first == '_';
    let chars_ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/_.-@+=,".contains(c) || (c as u32) > 0x7f);
    starts_ok
        && chars_ok
        && !text.ends_with(' ')
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_strings_are_quoted() {
        let v = serde_json::json!({"restart": "no", "published": "8080", "image": "busybox:1.36",
            "target": 80, "flag": true, "path": "/srv/www", "empty": "", "word": "web"});
        let out = to_yaml(&v);
        assert!(out.contains("restart: \"no\"\n"), "{out}");
        assert!(out.contains("published: \"8080\"\n"));
        assert!(out.contains("image: \"busybox:1.36\"\n"));
        assert!(out.contains("target: 80\n"));
        assert!(out.contains("flag: true\n"));
        assert!(out.contains("path: /srv/www\n"));
        assert!(out.contains("empty: \"\"\n"));
        assert!(out.contains("word: web\n"));
    }

    #[test]
    fn nesting_and_sequences() {
        let v = serde_json::json!({"services": {"web": {"ports": [{"target": 80, "mode": "ingress"}],
            "command": ["sh", "-c", "echo hi"], "networks": {"default": null}, "labels": {}}}});
        let expected = "services:\n  web:\n    command:\n      - sh\n      - \"-c\"\n      - \"echo hi\"\n    labels: {}\n    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n";
        assert_eq!(to_yaml(&v), expected);
    }

    #[test]
    fn output_reads_back_the_same() -> Result<(), String> {
        let v = serde_json::json!({"a": ["no", "1.5", "x: y", "#c", "multi\nline", "$HOME ${X}", {"k": [1, [2, 3]]}], "b": {"~": "null"}});
        let text = to_yaml(&v);
        let file: std::sync::Arc<std::path::Path> = std::sync::Arc::from(std::path::Path::new("t"));
        let opts = crate::spec::LoadOptions::default();
        let back = crate::spec::yaml::parse(&text, &file)
            .map_err(|e| e.to_string())?
            .ok_or("empty")?;
        let mut unescaped = back.to_json();
        unescaped["a"][5] = serde_json::json!("$HOME ${X}");
        assert_eq!(unescaped, v, "{text}");
        assert!(text.contains("\"$$HOME $${X}\""), "{text}");
        let _ = opts;
        Ok(())
    }
}
