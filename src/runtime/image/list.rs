//! `images` listing: docker's filters (`dangling`, `reference`, `label`,
//! `before`, `since`, `until`) over the images of a store.

use chrono::{DateTime, Utc};

use super::error::ImageError;
use super::images::{Image, ImageStore};
use super::reference::Reference;

/// Docker's image filters. Several `reference` patterns match any; several
/// `label`s must all match.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    pub dangling: Option<bool>,
    /// Go `path.Match` patterns against `name:tag` and `name` (familiar forms).
    pub references: Vec<String>,
    /// `key` or `key=value`.
    pub labels: Vec<(String, Option<String>)>,
    /// Only images created before this one.
    pub before: Option<DateTime<Utc>>,
    /// Only images created after this one.
    pub since: Option<DateTime<Utc>>,
    /// Only images created before this time.
    pub until: Option<DateTime<Utc>>,
}

/// One image as `images` shows it: the tags the filter kept.
#[derive(Debug, Clone)]
pub struct Summary {
    pub image: Image,
    /// Kept tags, sorted; empty for an untagged (dangling) image.
    pub tags: Vec<Reference>,
}

impl Summary {
    /// `name@<manifest digest>` for each repository the image is tagged in:
    /// every berth image has a manifest, so, like docker's containerd store,
    /// every tagged image has repo digests.
    pub fn repo_digests(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tags.iter().map(Reference::familiar_name).collect();
        names.dedup();
        names
            .into_iter()
            .map(|n| format!("{n}@{}", self.image.manifest))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("invalid reference filter {pattern:?}: syntax error in pattern")]
    BadPattern { pattern: String },
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// The images `filter` keeps, newest first.
pub fn list(images: &ImageStore<'_>, filter: &ImageFilter) -> Result<Vec<Summary>, ListError> {
    for pattern in &filter.references {
        glob_match(pattern, "").map_err(|BadPattern| ListError::BadPattern {
            pattern: pattern.clone(),
        })?;
    }
    let mut out = Vec::new();
    for image in images.all()? {
        if !filter.keeps_metadata(&image) {
            continue;
        }
        let tags = filter.kept_tags(&image);
        let keep = match (tags.is_empty(), filter.dangling) {
            // No tag matched a reference filter: not an untagged image to show.
            (true, _) if !filter.references.is_empty() => false,
            (true, dangling) => dangling != Some(false),
            (false, dangling) => dangling != Some(true),
        };
        if keep {
            out.push(Summary { image, tags });
        }
    }
    Ok(out)
}

impl ImageFilter {
    fn keeps_metadata(&self, image: &Image) -> bool {
        let created = image.created.as_deref().and_then(parse_time);
        let labels = image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default();
        let labels_ok = self.labels.iter().all(|(k, v)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.contains_key(k),
        });
        let before = |bound: &Option<DateTime<Utc>>| match (bound, created) {
            (Some(b), Some(c)) => c < *b,
            (Some(_), None) => false,
            (None, _) => true,
        };
        let after_since = match (self.since, created) {
            (Some(s), Some(c)) => c > s,
            (Some(_), None) => false,
            (None, _) => true,
        };
        labels_ok && before(&self.before) && before(&self.until) && after_since
    }

    fn kept_tags(&self, image: &Image) -> Vec<Reference> {
        let mut tags: Vec<Reference> = image
            .tags
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .filter(|r| self.references.is_empty() || self.references.iter().any(|p| matches(p, r)))
            .collect();
        tags.sort_by_key(|r| (r.familiar_name(), r.tag().map(str::to_string)));
        tags
    }
}

/// docker's `FamiliarMatch`: the pattern against `name:tag`, then `name`.
fn matches(pattern: &str, reference: &Reference) -> bool {
    glob_match(pattern, &reference.familiar()).unwrap_or(false)
        || glob_match(pattern, &reference.familiar_name()).unwrap_or(false)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A malformed glob pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` is any run of characters but `/`, `?` one character
/// but `/`, `[...]` a class (`[^...]` negated, `a-z` ranges), `\` escapes.
/// Err for a malformed pattern, whatever the name.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = name.chars().collect();
    validate(&p)?;
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and how much of the name it has swallowed.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if let Some(next) = step(&p, pi, s[si])? {
            pi = next;
            si += 1;
            continue;
        }
        if p.get(pi) == Some(&'*') {
            star = Some((pi, si));
            pi += 1;
            continue;
        }
        match star {
            Some((sp, ss)) if s[ss] != '/' => {
                star = Some((sp, ss + 1));
                pi = sp + 1;
                si = ss + 1;
            }
            _ => return Ok(false),
        }
    }
    Ok(p[pi..].iter().all(|c| *c == '*'))
}

/// Matches one name character at pattern position `pi`; the next pattern
/// position on success. A `*` is left to the caller.
fn step(p: &[char], pi: usize, c: char) -> Result<Option<usize>, BadPattern> {
    Ok(match p.get(pi) {
        None | Some('*') => None,
        Some('?') => (c != '/').then_some(pi + 1),
        Some('[') => {
            let (hit, next) = class(p, pi, c)?;
            hit.then_some(next)
        }
        Some('\\') => (p.get(pi + 1) == Some(&c)).then_some(pi + 2),
        Some(x) => (*x == c).then_some(pi + 1),
    })
}

/// The class starting at `p[start] == '['`: whether `c` is in it, and the
/// position after its `]`.
fn class(p: &[char], start: usize, c: char) -> Result<(bool, usize), BadPattern> {
    let mut i = start + 1;
    let negated = p.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        match p.get(i) {
            None => return Err(BadPattern),
            Some(']') if !first => return Ok((hit != negated, i + 1)),
            _ => {}
        }
        first = false;
        let (lo, after) = class_char(p, i)?;
        let (hi, after) = if p.get(after) == Some(&'-') {
            class_char(p, after + 1)?
        } else {
            (lo, after)
        };
        hit |= lo <= c && c <= hi;
        i = after;
    }
}

fn class_char(p: &[char], i: usize) -> Result<(char, usize), BadPattern> {
    match p.get(i) {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => p.get(i + 1).map(|c| (*c, i + 2)).ok_or(BadPattern),
        Some(c) => Ok((*c, i + 1)),
    }
}

/// Classes and escapes must be well formed anywhere in the pattern, as in Go.
fn validate(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        i = match p[i] {
            '[' => class(p, i, '\0')?.1,
            '\\' if i + 1 >= p.len() => return Err(BadPattern),
            '\\' => i + 2,
            _ => i + 1,
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_go_path_match() {
        let m = |p: &str, s: &str| glob_match(p, s).unwrap();
        assert!(m("busy*", "busybox:latest"));
        assert!(m("*:latest", "busybox:latest"));
        assert!(!m("*:latest", "user/app:latest"));
        assert!(m("*/*:latest", "user/app:latest"));
        assert!(m("busybox", "busybox"));
        assert!(!m("busybox", "busybox:latest"));
        assert!(m("b?sybox", "busybox"));
        assert!(!m("a?b", "a/b"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[^a-c]x", "bx"));
        assert!(m("[^a-c]x", "dx"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        for bad in ["[", "[]", "a\\", "[a-", "x[^]"] {
            assert!(glob_match(bad, "anything").is_err(), "{bad}");
        }
    }

    #[test]
    fn references_match_by_name_tag_or_name() {
        let r = Reference::parse("localhost:5000/team/app:1.0").unwrap();
        assert!(matches("localhost:5000/team/app", &r));
        assert!(matches("localhost:5000/*/app:1.*", &r));
        assert!(!matches("app", &r));
        let b = Reference::parse("busybox").unwrap();
        assert!(matches("busybox", &b));
        assert!(matches("busybox:latest", &b));
        assert!(!matches("library/busybox", &b));
    }
}
