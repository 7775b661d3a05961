//! Typed reads of a node that fail with the node's file:line:col and key path.

use std::collections::BTreeMap;

use crate::spec::duration::Duration;
use crate::spec::error::SpecError;
use crate::spec::units::parse_bytes;
use crate::spec::yaml::{Node, Value};

/// A node together with its key path, for error messages.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub node: &'a Node,
    pub path: &'a str,
}

impl<'a> At<'a> {
    pub fn new(node: &'a Node, path: &'a str) -> At<'a> {
        At { node, path }
    }

    pub fn err(&self, message: impl Into<String>) -> SpecError {
        SpecError::invalid(&self.node.pos, self.path, message)
    }

    fn expected(&self, what: &str) -> SpecError {
        self.err(format!("must be {what}, not {}", self.node.kind()))
    }

    pub fn string(&self) -> Result<String, SpecError> {
        self.node
            .scalar_text()
            .ok_or_else(|| self.expected("a string"))
    }

    pub fn opt_string(&self) -> Result<Option<String>, SpecError> {
        if self.node.is_null() {
            return Ok(None);
        }
        self.string().map(Some)
    }

    pub fn bool(&self) -> Result<bool, SpecError> {
        match &self.node.value {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(self.expected("true or false")),
        }
    }

    pub fn int(&self) -> Result<i64, SpecError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.err(format!("{s:?} is not a whole number"))),
            _ => Err(self.expected("a whole number")),
        }
    }

    pub fn uint(&self) -> Result<u64, SpecError> {
        let i = self.int()?;
        u64::try_from(i).map_err(|_| self.err(format!("{i} must not be negative")))
    }

    pub fn float(&self) -> Result<f64, SpecError> {
        match &self.node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) => s
                .trim()
                .parse()
                .map_err(|_| self.err(format!("{s:?} is not a number"))),
            _ => Err(self.expected("a number")),
        }
    }

    pub fn bytes(&self) -> Result<u64, SpecError> {
        match &self.node.value {
            Value::Int(i) => u64::try_from(*i).map_err(|_| self.err("a size must not be negative")),
            Value::Float(f) if *f >= 0.0 => Ok(*f as u64),
            Value::Str(s) => parse_bytes(s).map_err(|e| self.err(e)),
            _ => Err(self.expected("a size like 512m")),
        }
    }

    pub fn duration(&self) -> Result<Duration, SpecError> {
        match &self.node.value {
            Value::Str(s) => Duration::parse(s).map_err(|e| self.err(e)),
            Value::Int(0) => Ok(Duration::default()),
            _ => Err(self.expected("a duration like 30s")),
        }
    }

    /// A string, or a list of strings.
    pub fn string_or_list(&self) -> Result<Vec<String>, SpecError> {
        match &self.node.value {
            Value::Null => Ok(Vec::new()),
            Value::Seq(items) => self.each(items, |at| at.string()),
            _ => Ok(vec![self.string()?]),
        }
    }

    /// A command: a list of words, or a string split like a shell would.
    pub fn command(&self) -> Result<Option<Vec<String>>, SpecError> {
        match &self.node.value {
            Value::Null => Ok(None),
            Value::Str(s) => shell_words::split(s)
                .map(Some)
                .map_err(|e| self.err(format!("cannot split {s:?} into words: {e}"))),
            Value::Seq(items) => self.each(items, |at| at.string()).map(Some),
            _ => Err(self.expected("a string or a list of strings")),
        }
    }

    /// Runs `f` on every item of a sequence, with `path[i]` paths.
    pub fn each<T>(
        &self,
        items: &'a [Node],
        f: impl Fn(At<'_>) -> Result<T, SpecError>,
    ) -> Result<Vec<T>, SpecError> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.path);
                f(At::new(item, &path))
            })
            .collect()
    }

    /// `KEY=VALUE` list or mapping; a list entry or mapping value without a value
    /// is `None`.
    pub fn list_or_dict(&self) -> Result<BTreeMap<String, Option<String>>, SpecError> {
        let mut out = BTreeMap::new();
        match &self.node.value {
            Value::Null => {}
            Value::Seq(items) => {
                for entry in self.each(items, |at| at.string())? {
                    match entry.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                        None => out.insert(entry, None),
                    };
                }
            }
            Value::Map(map) => {
                for (key, value) in map.iter() {
                    let path = format!("{}.{key}", self.path);
                    out.insert(key.clone(), At::new(value, &path).opt_string()?);
                }
            }
            _ => return Err(self.expected("a list of KEY=VALUE or a mapping")),
        }
        Ok(out)
    }

    /// A mapping's entries with `path.key` paths.
    pub fn entries(&self) -> Result<Vec<(&'a str, &'a Node, String)>, SpecError> {
        match &self.node.value {
            Value::Null => Ok(Vec::new()),
            Value::Map(map) => Ok(map
                .iter()
                .map(|(k, v)| (k.as_str(), v, format!("{}.{k}", self.path)))
                .collect()),
            _ => Err(self.expected("a mapping")),
        }
    }
}
