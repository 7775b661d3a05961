//! Docker-style image references: `[domain/]path[:tag][@sha256:hex]`.
//!
//! Normalization follows docker: no domain means `docker.io`, a single path
//! component on docker.io lives under `library/`, and no tag (and no digest)
//! means `latest`. So `busybox` is `docker.io/library/busybox:latest`, and
//! [`Reference::familiar`] turns that back into `busybox:latest` for display.

use std::fmt;

use super::digest::{Digest, is_lower_hex};

pub const DEFAULT_DOMAIN: &str = "docker.io";
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid reference format: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() {
            return Err(fail("empty reference".into()));
        }
        if input.len() == 64 && is_lower_hex(input) {
            return Err(fail(format!(
                "repository name ({input}) cannot be a 64-character hexadecimal string; use sha256:{input} to refer to an image id"
            )));
        }
        let (rest, digest) = split_digest(input).map_err(fail)?;
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag {
            validate_tag(tag).map_err(fail)?;
        }
        let (domain, path) = split_domain(name);
        validate_domain(&domain).map_err(fail)?;
        validate_path(&path, input).map_err(fail)?;
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("{OFFICIAL_PREFIX}{path}")
        } else {
            path
        };
        if domain.len() + 1 + path.len() > MAX_NAME_LEN {
            return Err(fail(format!(
                "repository name must not be more than {MAX_NAME_LEN} characters"
            )));
        }
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `docker.io`, `localhost:5000`, ...
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path, `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag as written (None when omitted).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag, defaulting to `latest` when neither tag nor digest was given;
    /// None for a pure digest reference.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The same repository with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        validate_tag(tag).map_err(|reason| ReferenceError {
            input: tag.to_string(),
            reason,
        })?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// `docker.io/library/busybox:latest`: the key of the tag index. None for a
    /// pure digest reference, which names content rather than a tag.
    pub fn tag_key(&self) -> Option<String> {
        self.effective_tag().map(|t| format!("{}:{t}", self.name()))
    }

    /// Short repository name as docker prints it: `busybox`, `user/app`,
    /// `localhost:5000/x/y`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        self.path
            .strip_prefix(OFFICIAL_PREFIX)
            .filter(|p| !p.contains('/'))
            .unwrap_or(&self.path)
            .to_string()
    }

    /// Display form: `busybox:latest`, `user/app:1.0`, `busybox@sha256:...`.
    pub fn familiar(&self) -> String {
        self.render(self.familiar_name())
    }

    fn render(&self, name: String) -> String {
        let mut s = name;
        if let Some(tag) = self.effective_tag() {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
        s
    }
}

impl fmt::Display for Reference {
    /// The fully normalized form, `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.name()))
    }
}

fn split_digest(input: &str) -> Result<(&str, Option<Digest>), String> {
    match input.split_once('@') {
        None => Ok((input, None)),
        Some((rest, d)) => {
            let digest = Digest::parse(d).map_err(|e| e.to_string())?;
            Ok((rest, Some(digest)))
        }
    }
}

/// A ':' after the last '/' starts the tag; one before it belongs to a port.
fn split_tag(rest: &str) -> (&str, Option<&str>) {
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    }
}

/// docker's rule: the first component is a registry host when it contains '.'
/// or ':', is `localhost`, or has uppercase letters (paths cannot).
fn split_domain(name: &str) -> (String, String) {
    if let Some((first, rest)) = name.split_once('/') {
        let is_host = first.contains(['.', ':'])
            || first == "localhost"
            || first.chars().any(|c| c.is_ascii_uppercase());
        if is_host {
            let domain = if first == LEGACY_DOMAIN {
                DEFAULT_DOMAIN
            } else {
                first
            };
            return (domain.to_string(), rest.to_string());
        }
    }
    (DEFAULT_DOMAIN.to_string(), name.to_string())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    let first_ok = chars.next().is_some_and(word);
    let rest_ok = chars.all(|c| word(c) || c == '.' || c == '-');
    if first_ok && rest_ok && tag.len() <= MAX_TAG_LEN {
        Ok(())
    } else {
        Err(format!(
            "invalid tag {tag:?}: use up to {MAX_TAG_LEN} letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ))
    }
}

fn validate_domain(domain: &str) -> Result<(), String> {
    let (host, port) = split_port(domain);
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("invalid port in registry {domain:?}"));
    }
    let ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
    } else {
        !host.is_empty() && host.split('.').all(valid_domain_component)
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid registry host {domain:?}"))
    }
}

fn split_port(domain: &str) -> (&str, Option<&str>) {
    // The port colon is the last one outside an IPv6 literal's brackets.
    let search_from = domain.rfind(']').unwrap_or(0);
    match domain[search_from..].rfind(':') {
        Some(i) => (
            &domain[..search_from + i],
            Some(&domain[search_from + i + 1..]),
        ),
        None => (domain, None),
    }
}

fn valid_domain_component(c: &str) -> bool {
    !c.is_empty()
        && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        && !c.starts_with('-')
        && !c.ends_with('-')
}

fn validate_path(path: &str, input: &str) -> Result<(), String> {
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("repository name ({path}) must be lowercase"));
    }
    if path.split('/').all(valid_path_component) {
        Ok(())
    } else {
        Err(format!(
            "{input:?}: repository names are lowercase letters and digits, separated by '/', and within a component by '.', '_', '__' or dashes"
        ))
    }
}

/// `alnum+ (separator alnum+)*` with separator `.`, `_`, `__` or `-+`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        if !valid_separator(&c[start..i]) {
            return false;
        }
    }
    true
}

fn valid_separator(sep: &str) -> bool {
    matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalization_table() {
        let cases = [
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "busybox:1.36",
                "docker.io/library/busybox:1.36",
                "busybox:1.36",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "user/app:v1.0-rc_1",
                "docker.io/user/app:v1.0-rc_1",
                "user/app:v1.0-rc_1",
            ),
            (
                "localhost:5000/x/y:tag",
                "localhost:5000/x/y:tag",
                "localhost:5000/x/y:tag",
            ),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            ("ghcr.io/o/p", "ghcr.io/o/p:latest", "ghcr.io/o/p:latest"),
            (
                "Registry.Example/a",
                "Registry.Example/a:latest",
                "Registry.Example/a:latest",
            ),
            ("[::1]:5000/a:b", "[::1]:5000/a:b", "[::1]:5000/a:b"),
            (
                "ab_c__d--e/f.g",
                "docker.io/ab_c__d--e/f.g:latest",
                "ab_c__d--e/f.g:latest",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.familiar(), familiar, "{input}");
        }
    }

    #[test]
    fn digest_references() {
        let r = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.tag_key(), None);
        assert_eq!(r.digest().unwrap().hex(), HEX);
        assert_eq!(r.familiar(), format!("busybox@sha256:{HEX}"));
        let both = Reference::parse(&format!("localhost:5000/x:1@sha256:{HEX}")).unwrap();
        assert_eq!(both.tag(), Some("1"));
        assert_eq!(both.domain(), "localhost:5000");
    }

    #[test]
    fn invalid_references() {
        let bad = [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "busybox:.x",
            "a b",
            "busybox@sha256:abc",
            "busybox@md5:abc",
            "-a/b",
            "a//b",
            "a/b/",
            "a..b",
            "a___b",
            "a_-b",
            "localhost:x/y",
            HEX,
        ];
        for input in bad {
            let err = Reference::parse(input).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid reference format"),
                "{input}: {err}"
            );
        }
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        let long_name = "a/".repeat(130) + "a";
        assert!(Reference::parse(&long_name).is_err());
    }

    #[test]
    fn uppercase_message_names_the_repository() {
        let err = Reference::parse("Busybox").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid reference format: repository name (Busybox) must be lowercase"
        );
    }

    #[test]
    fn with_tag_replaces_tag_and_digest() {
        let r = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        let t = r.with_tag("v2").unwrap();
        assert_eq!(t.to_string(), "docker.io/library/busybox:v2");
        assert!(r.with_tag("bad tag").is_err());
    }
}
