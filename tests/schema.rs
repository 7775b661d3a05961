//! schema/berth-stack.schema.json stays in sync with the Rust model, and every
//! corpus file berth accepts validates against it.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use berth::spec::normalize::service::{PASSTHROUGH_KEYS, TYPED_KEYS};
use berth::spec::schema::SCHEMA_JSON;
use berth::spec::{LoadOptions, load, yaml};
use support::corpus::stack_files;

fn schema() -> serde_json::Value {
    serde_json::from_str(SCHEMA_JSON).unwrap_or_default()
}

fn property_names(schema: &serde_json::Value, def: &str) -> BTreeSet<String> {
    schema["$defs"][def]["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn service_keys_match_the_model() {
    let in_schema = property_names(&schema(), "service");
    let typed: BTreeSet<String> = TYPED_KEYS.iter().map(|s| s.to_string()).collect();
    let passthrough: BTreeSet<String> = PASSTHROUGH_KEYS.iter().map(|s| s.to_string()).collect();
    assert!(
        typed.is_disjoint(&passthrough),
        "{:?}",
        typed.intersection(&passthrough)
    );
    let handled: BTreeSet<String> = typed.union(&passthrough).cloned().collect();
    let missing: Vec<_> = in_schema.difference(&handled).collect();
    let extra: Vec<_> = handled.difference(&in_schema).collect();
    assert!(
        missing.is_empty(),
        "schema keys the loader does not handle: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "loader keys missing from the schema: {extra:?}"
    );
}

#[test]
fn model_fields_exist_in_the_schema() {
    let schema = schema();
    let network = property_names(&schema, "network");
    let volume = property_names(&schema, "volume");
    for key in ["name", "external", "driver", "internal", "labels"] {
        assert!(network.contains(key), "network.{key}");
    }
    for key in ["name", "external", "driver", "labels"] {
        assert!(volume.contains(key), "volume.{key}");
    }
    let top: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    for key in [
        "name", "include", "services", "networks", "volumes", "secrets", "configs",
    ] {
        assert!(top.contains(key), "top-level {key}");
    }
}

/// Checked independently of the loader: the raw file (before interpolation) as
/// JSON against the schema, for every corpus file that berth loads.
#[test]
fn accepted_corpus_files_validate_against_the_schema() {
    let validator = jsonschema::validator_for(&schema());
    let Ok(validator) = validator else {
        panic!("schema does not compile");
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in stack_files() {
        let mut opts = LoadOptions {
            files: vec![file.clone()],
            cwd: file.parent().map(Path::to_path_buf).unwrap_or_default(),
            ..LoadOptions::default()
        };
        opts.environ.insert("HOME".into(), "/root".into());
        if load(&opts).is_err() {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let label: Arc<Path> = Arc::from(file.as_path());
        let Ok(Some(node)) = yaml::parse(&text, &label) else {
            failures.push(format!("{}: does not parse", file.display()));
            continue;
        };
        let json = if text.contains("!reset") {
            without_reset(node.to_json())
        } else {
            node.to_json()
        };
        if let Some(e) = validator.iter_errors(&json).next() {
            failures.push(format!("{}: {e}", file.display()));
        }
        checked += 1;
    }
    println!("schema: {checked} accepted corpus files validate");
    assert!(checked > 150);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `key: !reset` parses as null; the schema (like compose's) only sees it after
/// merging, when the key is gone.
fn without_reset(json: serde_json::Value) -> serde_json::Value {
    match json {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_reset(v)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(without_reset).collect())
        }
        other => other,
    }
}
