//! A YAML tree that remembers where every node came from, so that errors found long
//! after parsing (after merging, interpolation, extends) can still name file:line:col.
//!
//! Scalars are typed with the YAML 1.2 core schema, as the Compose reference
//! implementation does: `yes`/`no` stay strings, `80:80` is a string.

use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag as YamlTag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{Pos, SpecError};

/// Upper bound on nodes one file may expand to; stops alias bombs ("billion laughs").
const MAX_NODES: usize = 2_000_000;

/// The Compose merge tags that change how a value merges with earlier files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeTag {
    #[default]
    None,
    /// `!reset`: drop the value inherited from earlier files.
    Reset,
    /// `!override`: replace instead of merging.
    Override,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: MergeTag,
    /// True for a plain (unquoted) scalar.
    pub plain: bool,
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

impl Value {
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// One key of a mapping: where the key was written, and its value.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key_pos: Pos,
    pub node: Node,
}

/// A mapping that keeps file order.
#[derive(Debug, Clone, Default)]
pub struct Map(pub IndexMap<String, Entry>);

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.0.get(key).map(|e| &e.node)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0.get_mut(key).map(|e| &mut e.node)
    }

    pub fn key_pos(&self, key: &str) -> Option<&Pos> {
        self.0.get(key).map(|e| &e.key_pos)
    }

    pub fn insert(&mut self, key: String, key_pos: Pos, node: Node) {
        self.0.insert(key, Entry { key_pos, node });
    }

    /// Removes a key, returning where it was so a merged value can go back in place.
    pub fn remove_entry(&mut self, key: &str) -> Option<(usize, Entry)> {
        self.0.shift_remove_full(key).map(|(i, _, e)| (i, e))
    }

    pub fn insert_at(&mut self, index: usize, key: String, key_pos: Pos, node: Node) {
        let index = index.min(self.0.len());
        self.0.shift_insert(index, key, Entry { key_pos, node });
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        self.0.shift_remove(key).map(|e| e.node)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Node)> {
        self.0.iter().map(|(k, e)| (k, &e.node))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Node {
    pub fn new(value: Value, pos: Pos) -> Node {
        Node {
            value,
            pos,
            tag: MergeTag::None,
            plain: false,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The scalar as text, the way Compose stringifies numbers and booleans in
    /// string contexts (environment values, labels, command words).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short name of the node's type for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }
}

pub fn format_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// Parses one YAML document. `Ok(None)` for an empty document (only comments or nothing).
pub fn parse(text: &str, file: &Arc<Path>) -> Result<Option<Node>, SpecError> {
    let mut builder = Builder::new(file);
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        let m = e.marker();
        return Err(SpecError::Syntax {
            at: Pos::new(file, m.line(), m.col() + 1),
            message: e.info().to_string(),
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    match builder.docs.len() {
        0 | 1 => Ok(builder.docs.pop()),
        _ => Err(SpecError::Syntax {
            at: Pos::new(file, 1, 1),
            message: "a stack file holds one YAML document, this one holds several".into(),
        }),
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
        tag: MergeTag,
    },
    Map {
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
        pos: Pos,
        anchor: usize,
        tag: MergeTag,
    },
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Frame>,
    anchors: Vec<Option<Node>>,
    docs: Vec<Node>,
    nodes: usize,
    error: Option<SpecError>,
}

impl Builder {
    fn new(file: &Arc<Path>) -> Builder {
        Builder {
            file: Arc::clone(file),
            stack: Vec::new(),
            anchors: Vec::new(),
            docs: Vec::new(),
            nodes: 0,
            error: None,
        }
    }

    fn pos(&self, mark: Marker) -> Pos {
        Pos::new(&self.file, mark.line(), mark.col() + 1)
    }

    fn fail(&mut self, at: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SpecError::Syntax {
                at,
                message: message.into(),
            });
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(node.clone());
    }

    /// `weight` is how many nodes this push adds: 1, or an alias's whole subtree.
    fn push_node(&mut self, node: Node, weight: usize) {
        self.nodes += weight;
        if self.nodes > MAX_NODES {
            let at = node.pos.clone();
            self.fail(at, "document expands to too many nodes (alias bomb?)");
            return;
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }

    /// Counts before cloning, so an alias bomb is refused before it eats memory.
    fn alias(&mut self, id: usize, pos: Pos) {
        let Some(Some(anchored)) = self.anchors.get(id) else {
            self.fail(pos, "alias refers to an unknown anchor");
            return;
        };
        let weight = count_nodes(anchored);
        if self.nodes + weight > MAX_NODES {
            self.fail(pos, "document expands to too many nodes (alias bomb?)");
            return;
        }
        let node = anchored.clone();
        self.push_node(node, weight);
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<YamlTag>,
        pos: Pos,
    ) -> Node {
        let merge_tag = merge_tag(tag.as_ref());
        let plain = style == TScalarStyle::Plain;
        let value = match tag.as_ref() {
            Some(t) if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" => {
                core_tagged(&t.suffix, text)
            }
            _ if plain => resolve_plain(&text),
            _ => Value::Str(text),
        };
        let value = match (merge_tag, &value) {
            // `key: !reset` with nothing after it means "reset to nothing".
            (MergeTag::Reset, Value::Str(s)) if s.is_empty() => Value::Null,
            _ => value,
        };
        Node {
            value,
            pos,
            tag: merge_tag,
            plain,
        }
    }

    fn end_map(&mut self) {
        let Some(Frame::Map {
            entries,
            pos,
            anchor,
            tag,
            ..
        }) = self.stack.pop()
        else {
            return;
        };
        match build_map(entries) {
            Ok(map) => {
                let mut node = Node::new(Value::Map(map), pos);
                node.tag = tag;
                self.remember(anchor, &node);
                self.push_node(node, 1);
            }
            Err((at, message)) => self.fail(at, message),
        }
    }

    fn end_seq(&mut self) {
        let Some(Frame::Seq {
            items,
            pos,
            anchor,
            tag,
        }) = self.stack.pop()
        else {
            return;
        };
        let mut node = Node::new(Value::Seq(items), pos);
        node.tag = tag;
        self.remember(anchor, &node);
        self.push_node(node, 1);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = self.pos(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let node = self.scalar(text, style, tag, pos);
                self.remember(anchor, &node);
                self.push_node(node, 1);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                pos,
                anchor,
                tag: merge_tag(tag.as_ref()),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                pending_key: None,
                pos,
                anchor,
                tag: merge_tag(tag.as_ref()),
            }),
            Event::SequenceEnd => self.end_seq(),
            Event::MappingEnd => self.end_map(),
            Event::Alias(id) => self.alias(id, pos),
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.iter().map(|(_, v)| count_nodes(v)).sum::<usize>(),
        _ => 1,
    }
}

fn merge_tag(tag: Option<&YamlTag>) -> MergeTag {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => MergeTag::Reset,
        Some(t) if t.handle == "!" && t.suffix == "override" => MergeTag::Override,
        _ => MergeTag::None,
    }
}

/// Builds a mapping, applying YAML merge keys (`<<: *base`): keys written in the
/// mapping itself win over merged ones, earlier merge sources win over later ones.
fn build_map(entries: Vec<(Node, Node)>) -> Result<Map, (Pos, String)> {
    let mut own = Map::default();
    let mut merged: Vec<Node> = Vec::new();
    for (key, value) in entries {
        let name = match key.value {
            Value::Map(_) | Value::Seq(_) => {
                return Err((key.pos, "a mapping key must be a scalar".into()));
            }
            Value::Str(ref s) if s == "<<" && key.plain => {
                merged.push(value);
                continue;
            }
            _ => key.scalar_text().unwrap_or_else(|| "null".to_string()),
        };
        if own.0.contains_key(&name) {
            return Err((key.pos, format!("duplicate key `{name}`")));
        }
        own.insert(name, key.pos, value);
    }
    for source in merged {
        let maps: Vec<Node> = match source.value {
            Value::Map(_) => vec![source],
            Value::Seq(items) => items,
            _ => {
                return Err((
                    source.pos,
                    "a merge key (<<) takes a mapping or a list of mappings".into(),
                ));
            }
        };
        for m in maps {
            let Value::Map(map) = m.value else {
                return Err((
                    m.pos,
                    "a merge key (<<) takes a mapping or a list of mappings".into(),
                ));
            };
            for (k, entry) in map.0 {
                if !own.0.contains_key(&k) {
                    own.0.insert(k, entry);
                }
            }
        }
    }
    Ok(own)
}

fn core_tagged(suffix: &str, text: String) -> Value {
    match suffix {
        "str" => Value::Str(text),
        "null" => Value::Null,
        "bool" | "int" | "float" => match resolve_plain(&text) {
            v @ (Value::Bool(_) | Value::Int(_) | Value::Float(_)) => v,
            _ => Value::Str(text),
        },
        _ => Value::Str(text),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if looks_like_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o") {
        (8, d)
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -magnitude } else { magnitude })
}

fn looks_like_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int_part = parts.next().unwrap_or("");
    let frac_part = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(int_part)
        && frac_part.is_none_or(digits)
        && (!int_part.is_empty() || frac_part.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Option<Node>, SpecError> {
        let file: Arc<Path> = Arc::from(Path::new("t.yaml"));
        parse(text, &file)
    }

    fn doc(text: &str) -> Node {
        match load(text) {
            Ok(Some(n)) => n,
            other => panic!("expected a document, got {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based() {
        let n = doc("services:\n  web:\n    image: nginx\n");
        let services = n
            .as_map()
            .and_then(|m| m.get("services"))
            .and_then(Node::as_map);
        let web = services.and_then(|m| m.get("web")).and_then(Node::as_map);
        let image = web.and_then(|m| m.get("image")).map(|n| n.pos.clone());
        let key = web.and_then(|m| m.key_pos("image")).cloned();
        assert_eq!(image.map(|p| (p.line, p.col)), Some((3, 12)));
        assert_eq!(key.map(|p| (p.line, p.col)), Some((3, 5)));
    }

    #[test]
    fn core_schema_scalars() {
        assert!(matches!(resolve_plain("yes"), Value::Str(_)));
        assert!(matches!(resolve_plain("80:80"), Value::Str(_)));
        assert!(matches!(resolve_plain("8080"), Value::Int(8080)));
        assert!(matches!(resolve_plain("0x1F"), Value::Int(31)));
        assert!(matches!(resolve_plain("1.5"), Value::Float(_)));
        assert!(matches!(resolve_plain("1e3"), Value::Float(_)));
        assert!(matches!(resolve_plain("1.2.3"), Value::Str(_)));
        assert!(matches!(resolve_plain("~"), Value::Null));
        assert!(matches!(resolve_plain("True"), Value::Bool(true)));
        assert!(matches!(resolve_plain("-"), Value::Str(_)));
        assert!(matches!(resolve_plain("."), Value::Str(_)));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let n = doc("a: \"8080\"\nb: '1.5'\nc: 8080\n");
        let m = n.as_map().cloned().unwrap_or_default();
        assert_eq!(m.get("a").and_then(Node::as_str), Some("8080"));
        assert_eq!(m.get("b").and_then(Node::as_str), Some("1.5"));
        assert!(matches!(
            m.get("c").map(|n| &n.value),
            Some(Value::Int(8080))
        ));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let n = doc("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n");
        let thing = n
            .as_map()
            .and_then(|m| m.get("thing"))
            .and_then(Node::as_map);
        let json = thing.map(|m| Node::new(Value::Map(m.clone()), n.pos.clone()).to_json());
        assert_eq!(json, Some(serde_json::json!({"y": 3, "x": 1})));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = load("a: 1\na: 2\n").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("t.yaml:2:1: invalid YAML: duplicate key `a`")
        );
    }

    #[test]
    fn reset_and_override_tags() {
        let n = doc("a: !reset []\nb: !override {x: 1}\nc: !reset\n");
        let m = n.as_map().cloned().unwrap_or_default();
        assert_eq!(m.get("a").map(|n| n.tag), Some(MergeTag::Reset));
        assert_eq!(m.get("b").map(|n| n.tag), Some(MergeTag::Override));
        assert!(
            m.get("c")
                .is_some_and(|n| n.tag == MergeTag::Reset && n.is_null())
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = load("a: [1, 2\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("t.yaml:"), "{err}");
    }

    #[test]
    fn empty_documents_are_none() {
        assert!(matches!(load("# nothing\n"), Ok(None)));
        assert!(matches!(load(""), Ok(None)));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(load(&text).is_err());
    }
}
