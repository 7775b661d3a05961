//! The loader never panics, whatever the bytes: arbitrary text, and documents
//! shaped like compose files with hostile values in every key.

use std::collections::BTreeMap;

use berth::spec::normalize::service::{PASSTHROUGH_KEYS, TYPED_KEYS};
use berth::spec::{LoadOptions, load_text};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn options() -> LoadOptions {
    let mut environ = BTreeMap::new();
    environ.insert("HOME".to_string(), "/root".to_string());
    environ.insert("SET".to_string(), "value".to_string());
    LoadOptions {
        cwd: std::env::temp_dir().join("berth-fuzz-no-such-dir"),
        environ,
        ..LoadOptions::default()
    }
}

const NASTY: &[&str] = &[
    "80:abc",
    "8000-7000:80",
    "[::1]:80:80",
    "127.0.0.1::80/udp",
    "65536",
    "0",
    "-1",
    "${",
    "${X:-${Y:?boom}}",
    "$$",
    "$",
    "${SET}",
    "~",
    "",
    ":",
    "::::",
    "a:b:c:d",
    "/abs:/abs:ro,z",
    "./rel:/x",
    "1.5g",
    "12zz",
    "1m30s",
    "-5s",
    "on-failure:x",
    "service:ghost",
    "container:x",
    "!reset",
    "null",
    "true",
    "0x10",
    "1e309",
    "é日本😀",
    "\"quoted\"",
    "'single'",
    "CMD-SHELL",
    "NONE",
    "service_healthy",
];

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(NASTY).prop_map(|s| format!("{s:?}")),
        proptest::sample::select(NASTY).prop_map(str::to_string),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-z0-9:/.$@{}-]{0,12}".prop_map(|s| format!("{s:?}")),
    ]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = scalar();
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            proptest::collection::vec((key(), inner), 0..4).prop_map(|entries| {
                let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    let all: Vec<&'static str> = TYPED_KEYS
        .iter()
        .chain(PASSTHROUGH_KEYS)
        .copied()
        .chain([
            "target",
            "source",
            "condition",
            "test",
            "published",
            "x-any",
            "bogus",
        ])
        .collect();
    proptest::sample::select(all).prop_map(str::to_string)
}

fn service() -> impl Strategy<Value = String> {
    proptest::collection::btree_map(key(), value(), 0..6).prop_map(|m| {
        let body: Vec<String> = m.iter().map(|(k, v)| format!("    {k}: {v}")).collect();
        body.join("\n")
    })
}

fn stack() -> impl Strategy<Value = String> {
    proptest::collection::btree_map("[a-c]{1,2}", service(), 1..4).prop_map(|services| {
        let mut out = String::from("services:\n");
        for (name, body) in services {
            out.push_str(&format!("  {name}:\n    image: busybox\n{body}\n"));
        }
        out.push_str("volumes: {a: {}, data: {}}\nnetworks: {a: {}, front: {}}\n");
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
        let _ = load_text(&text, &options());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = load_text(&String::from_utf8_lossy(&bytes), &options());
    }

    #[test]
    fn compose_shaped_documents_never_panic(text in stack()) {
        let _ = load_text(&text, &options());
    }
}

#[test]
fn generated_documents_reach_normalization() {
    // Guards the generator: a share of the documents must be valid, or the
    // property above would only exercise the parser.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut valid = 0;
    for _ in 0..200 {
        let Ok(tree) = stack().new_tree(&mut runner) else {
            continue;
        };
        if load_text(&tree.current(), &options()).is_ok() {
            valid += 1;
        }
    }
    assert!(valid > 5, "only {valid} of 200 generated stacks were valid");
}
