//! Variable interpolation as defined by the Compose Specification.
//!
//! Supported forms: `$$`, `$NAME`, `${NAME}`, and `${NAME<op>arg}` where `<op>`
//! is one of `:-`, `-`, `:?`, `?`, `:+`, `+`. The `arg` part may itself contain
//! interpolations, which are only evaluated when their value is needed, but
//! are always syntax-checked so a malformed file fails regardless of the
//! environment it happens to be run in.

use thiserror::Error;

/// Bounds recursion so hostile input (`${A:-${A:-${A:-...`) cannot overflow
/// the stack; real files never come close.
const MAX_DEPTH: usize = 64;

/// Result of interpolating one string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    pub value: String,
    /// At least one variable reference (not just `$$`) was expanded.
    pub substituted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InterpolateError {
    /// The text is not valid interpolation syntax.
    #[error("invalid interpolation format for {input:?}: {reason}")]
    InvalidFormat { input: String, reason: String },
    /// A `${NAME:?message}` / `${NAME?message}` reference had no value.
    #[error("required variable {name} is missing a value{}", message_suffix(.message))]
    MissingRequired { name: String, message: String },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// Interpolates `input`, resolving variable names through `lookup`.
pub fn interpolate(
    input: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolateError> {
    let mut interpolator = Interpolator {
        input,
        lookup,
        substituted: false,
    };
    let value = interpolator.expand(input, Mode::Evaluate, 0)?;
    Ok(Interpolated {
        value,
        substituted: interpolator.substituted,
    })
}

/// Unused default/replacement branches are walked in `CheckOnly` mode: syntax
/// errors are reported but nothing is looked up or required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Evaluate,
    CheckOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Default,
    Require,
    Replace,
}

/// The `<op>arg` tail of a braced reference.
#[derive(Debug, Clone, Copy)]
struct Modifier<'t> {
    action: Action,
    /// The `:` forms treat an empty value like an unset one.
    empty_is_unset: bool,
    arg: &'t str,
}

struct Interpolator<'a> {
    input: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    substituted: bool,
}

impl Interpolator<'_> {
    fn expand(&mut self, text: &str, mode: Mode, depth: usize) -> Result<String, InterpolateError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid(format!(
                "variable references are nested more than {MAX_DEPTH} levels deep"
            )));
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            // `$` is one byte, so `dollar + 1` is a char boundary.
            let after = &rest[dollar + 1..];
            let consumed = self.reference(after, mode, depth, &mut out)?;
            rest = &after[consumed..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands the reference whose text follows a `$` into `out`, returning
    /// how many bytes of `after` it used. Every returned length ends just
    /// after an ASCII byte, so it is always a char boundary.
    fn reference(
        &mut self,
        after: &str,
        mode: Mode,
        depth: usize,
        out: &mut String,
    ) -> Result<usize, InterpolateError> {
        match after.as_bytes().first() {
            Some(b'$') => {
                out.push('$');
                Ok(1)
            }
            Some(b'{') => self.braced(after, mode, depth, out),
            Some(&b) if is_name_start(b) => {
                let len = name_len(after);
                if let Some(value) = self.fetch(&after[..len], mode) {
                    out.push_str(&value);
                }
                Ok(len)
            }
            // A `$` that starts no reference (`$(date)`, `$1`, a trailing `$`) is
            // kept as written, as docker compose does: shell snippets in
            // dockerfile_inline and commands rely on it.
            Some(_) | None => {
                out.push('$');
                Ok(0)
            }
        }
    }

    /// Handles `${...}`; `after` starts at the `{`.
    fn braced(
        &mut self,
        after: &str,
        mode: Mode,
        depth: usize,
        out: &mut String,
    ) -> Result<usize, InterpolateError> {
        let inner = &after[1..];
        let Some(close) = matching_brace(inner) else {
            return Err(self.invalid(format!(
                "unterminated \"${{\" in {:?}",
                format!("${{{inner}")
            )));
        };
        let body = &inner[..close];
        let (name, modifier) = self.parse_body(body)?;
        let value = self.resolve(name, modifier, mode, depth)?;
        out.push_str(&value);
        // `{` + body + `}`.
        Ok(close + 2)
    }

    fn parse_body<'t>(
        &self,
        body: &'t str,
    ) -> Result<(&'t str, Option<Modifier<'t>>), InterpolateError> {
        if body.is_empty() {
            return Err(self.invalid("empty variable name in \"${}\"".to_string()));
        }
        let len = match body.as_bytes().first() {
            Some(&b) if is_name_start(b) => name_len(body),
            _ => 0,
        };
        let (name, tail) = body.split_at(len);
        if tail.is_empty() {
            return Ok((name, None));
        }
        match parse_modifier(tail) {
            Some(modifier) if len > 0 => Ok((name, Some(modifier))),
            _ => Err(self.invalid(format!(
                "{:?} is not a valid variable reference (expected ${{NAME}} optionally \
                 followed by one of :- - :? ? :+ + and a value)",
                format!("${{{body}}}")
            ))),
        }
    }

    fn resolve(
        &mut self,
        name: &str,
        modifier: Option<Modifier<'_>>,
        mode: Mode,
        depth: usize,
    ) -> Result<String, InterpolateError> {
        let Some(modifier) = modifier else {
            return Ok(self.fetch(name, mode).unwrap_or_default());
        };
        if mode == Mode::CheckOnly {
            self.expand(modifier.arg, Mode::CheckOnly, depth + 1)?;
            return Ok(String::new());
        }
        let value = self.fetch(name, mode);
        let has_value = match &value {
            Some(v) => !(modifier.empty_is_unset && v.is_empty()),
            None => false,
        };
        // Which branch is live decides whether the argument is evaluated
        // or only syntax-checked.
        let arg_mode = match (modifier.action, has_value) {
            (Action::Replace, true) | (Action::Default | Action::Require, false) => Mode::Evaluate,
            _ => Mode::CheckOnly,
        };
        let arg = self.expand(modifier.arg, arg_mode, depth + 1)?;
        match (modifier.action, has_value) {
            (Action::Default | Action::Require, true) => Ok(value.unwrap_or_default()),
            (Action::Default, false) => Ok(arg),
            (Action::Require, false) => Err(InterpolateError::MissingRequired {
                name: name.to_string(),
                message: arg,
            }),
            (Action::Replace, true) => Ok(arg),
            (Action::Replace, false) => Ok(String::new()),
        }
    }

    fn fetch(&mut self, name: &str, mode: Mode) -> Option<String> {
        match mode {
            Mode::Evaluate => {
                self.substituted = true;
                (self.lookup)(name)
            }
            Mode::CheckOnly => None,
        }
    }

    fn invalid(&self, reason: String) -> InterpolateError {
        InterpolateError::InvalidFormat {
            input: self.input.to_string(),
            reason,
        }
    }
}

fn parse_modifier(tail: &str) -> Option<Modifier<'_>> {
    let (empty_is_unset, rest) = match tail.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, tail),
    };
    let action = match rest.as_bytes().first()? {
        b'-' => Action::Default,
        b'?' => Action::Require,
        b'+' => Action::Replace,
        _ => return None,
    };
    Some(Modifier {
        action,
        empty_is_unset,
        arg: &rest[1..],
    })
}

/// Finds the `}` closing a `${` whose body starts at `text`, counting every
/// nested `${` (even one preceded by `$`, so `${A:-$${B}}` keeps `${B}` whole).
fn matching_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut open = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'}' if open == 0 => return Some(i),
            b'}' => open -= 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                open += 1;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

/// Length of the (ASCII) name at the start of `text`.
fn name_len(text: &str) -> usize {
    text.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "B" => Some("beta".into()),
            "EMPTY" => Some(String::new()),
            "UNICODE" => Some("日本語".into()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<Interpolated, InterpolateError> {
        interpolate(input, &env)
    }

    fn value(input: &str) -> String {
        match run(input) {
            Ok(done) => done.value,
            Err(err) => panic!("{input:?} failed: {err}"),
        }
    }

    fn error(input: &str) -> InterpolateError {
        match run(input) {
            Ok(done) => panic!("{input:?} unexpectedly gave {:?}", done.value),
            Err(err) => err,
        }
    }

    fn invalid_reason(input: &str) -> String {
        match error(input) {
            InterpolateError::InvalidFormat {
                input: named,
                reason,
            } => {
                assert_eq!(named, input);
                reason
            }
            other => panic!("{input:?}: expected InvalidFormat, got {other:?}"),
        }
    }

    fn missing(name: &str, message: &str) -> InterpolateError {
        InterpolateError::MissingRequired {
            name: name.into(),
            message: message.into(),
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        let done = run("hello world").unwrap();
        assert_eq!(done.value, "hello world");
        assert!(!done.substituted);
        assert_eq!(value(""), "");
    }

    #[test]
    fn double_dollar_is_literal() {
        assert_eq!(value("a$$b"), "a$b");
        assert_eq!(value("$$A"), "$A");
        assert_eq!(value("$${A}"), "${A}");
        assert_eq!(value("$$$$"), "$$");
        assert_eq!(value("$$$A"), "$alpha");
        assert!(!run("cost: $$5").unwrap().substituted);
    }

    #[test]
    fn unbraced_names_are_greedy() {
        assert_eq!(value("$A"), "alpha");
        assert_eq!(value("x$A-y"), "xalpha-y");
        assert_eq!(value("$A_B"), "");
        assert_eq!(value("$A.B"), "alpha.B");
        assert_eq!(value("$_"), "");
        assert_eq!(value("$A$B"), "alphabeta");
    }

    #[test]
    fn braced_names() {
        assert_eq!(value("${A}"), "alpha");
        assert_eq!(value("${A}_${B}"), "alpha_beta");
        assert_eq!(value("${A}B"), "alphaB");
        assert_eq!(value("${_x9}"), "");
    }

    #[test]
    fn unset_without_modifier_is_empty() {
        let done = run("[${NOPE}][$NOPE]").unwrap();
        assert_eq!(done.value, "[][]");
        assert!(done.substituted);
    }

    #[test]
    fn default_if_unset_or_empty() {
        assert_eq!(value("${A:-d}"), "alpha");
        assert_eq!(value("${EMPTY:-d}"), "d");
        assert_eq!(value("${NOPE:-d}"), "d");
        assert_eq!(value("${NOPE:-}"), "");
        assert_eq!(value("${NOPE:-a:b-c}"), "a:b-c");
    }

    #[test]
    fn default_if_unset() {
        assert_eq!(value("${A-d}"), "alpha");
        assert_eq!(value("${EMPTY-d}"), "");
        assert_eq!(value("${NOPE-d}"), "d");
    }

    #[test]
    fn required_if_unset_or_empty() {
        assert_eq!(value("${A:?boom}"), "alpha");
        assert_eq!(error("${EMPTY:?boom}"), missing("EMPTY", "boom"));
        assert_eq!(error("${NOPE:?boom}"), missing("NOPE", "boom"));
        assert_eq!(error("${NOPE:?}"), missing("NOPE", ""));
    }

    #[test]
    fn required_if_unset() {
        assert_eq!(value("${A?boom}"), "alpha");
        assert_eq!(value("${EMPTY?boom}"), "");
        assert_eq!(error("${NOPE?boom}"), missing("NOPE", "boom"));
    }

    #[test]
    fn required_messages() {
        assert_eq!(
            error("x ${NOPE:?please set it}").to_string(),
            "required variable NOPE is missing a value: please set it"
        );
        assert_eq!(
            error("${NOPE?}").to_string(),
            "required variable NOPE is missing a value"
        );
        // The message is interpolated too.
        assert_eq!(error("${NOPE:?need $A}"), missing("NOPE", "need alpha"));
    }

    #[test]
    fn replacement_if_set_and_not_empty() {
        assert_eq!(value("${A:+r}"), "r");
        assert_eq!(value("${EMPTY:+r}"), "");
        assert_eq!(value("${NOPE:+r}"), "");
    }

    #[test]
    fn replacement_if_set() {
        assert_eq!(value("${A+r}"), "r");
        assert_eq!(value("${EMPTY+r}"), "r");
        assert_eq!(value("${NOPE+r}"), "");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(value("${NOPE:-${B:-x}}"), "beta");
        assert_eq!(value("${NOPE:-${NADA:-x}}"), "x");
        assert_eq!(value("${NOPE:-pre-${B}-post}"), "pre-beta-post");
        assert_eq!(value("${NOPE:-pre-$B-post}"), "pre-beta-post");
        assert_eq!(value("${A:+<${B}>}"), "<beta>");
        assert_eq!(value("${NOPE:-${NADA:-${UNICODE}}}!"), "日本語!");
        assert_eq!(value("${NOPE:-$$}"), "$");
        assert_eq!(value("${NOPE:-$${B}}"), "${B}");
        assert_eq!(value("${NOPE:-a}b}"), "ab}");
    }

    #[test]
    fn unused_branches_are_not_evaluated() {
        assert_eq!(value("${A:-${NOPE:?never}}"), "alpha");
        assert_eq!(value("${NOPE:+${NADA:?never}}"), "");
        assert_eq!(value("${A?${NOPE:?never}}"), "alpha");
        assert!(!run("${A:-x}").unwrap().value.is_empty());
    }

    #[test]
    fn unused_branches_are_still_syntax_checked() {
        invalid_reason("${A:-${1A}}");
        invalid_reason("${NOPE:+${}}");
    }

    #[test]
    fn substituted_flag() {
        assert!(!run("plain").unwrap().substituted);
        assert!(!run("$$").unwrap().substituted);
        assert!(run("$A").unwrap().substituted);
        assert!(run("${NOPE:-x}").unwrap().substituted);
        assert!(run("$$ and ${A}").unwrap().substituted);
    }

    #[test]
    fn multibyte_text_round_trips() {
        assert_eq!(value("héllo ${A} 日本 😀"), "héllo alpha 日本 😀");
        assert_eq!(value("${NOPE:-日本}"), "日本");
        assert_eq!(value("é$UNICODE"), "é日本語");
    }

    #[test]
    fn lone_dollars_are_kept() {
        assert_eq!(value("abc$"), "abc$");
        assert_eq!(value("$1"), "$1");
        assert_eq!(value("a$-b"), "a$-b");
        assert_eq!(value("$é"), "$é");
        assert_eq!(value("echo $(seq 10)"), "echo $(seq 10)");
    }

    #[test]
    fn invalid_error_message_names_input() {
        let message = error("a${}").to_string();
        assert!(
            message.starts_with("invalid interpolation format for \"a${}\": "),
            "{message}"
        );
    }

    #[test]
    fn unterminated_braces() {
        assert!(invalid_reason("${").contains("unterminated"));
        assert!(invalid_reason("x ${A").contains("\"${A\""));
        assert!(invalid_reason("${A:-${B}").contains("unterminated"));
        assert!(invalid_reason("${A:-${B:-}").contains("unterminated"));
    }

    #[test]
    fn invalid_braced_names() {
        assert!(invalid_reason("${}").contains("empty variable name"));
        assert!(invalid_reason("${1A}").contains("\"${1A}\""));
        assert!(invalid_reason("${A B}").contains("\"${A B}\""));
        assert!(invalid_reason("${A:}").contains("\"${A:}\""));
        assert!(invalid_reason("${:-x}").contains("\"${:-x}\""));
        assert!(invalid_reason("${A*x}").contains("not a valid variable reference"));
        assert!(invalid_reason("${日本}").contains("\"${日本}\""));
    }

    #[test]
    fn errors_inside_nested_defaults_name_the_whole_input() {
        let reason = invalid_reason("outer ${NOPE:-${1}}");
        assert!(reason.contains("\"${1}\""), "{reason}");
        assert_eq!(error("${NOPE:-${NADA?inner}}"), missing("NADA", "inner"));
    }

    #[test]
    fn excessive_nesting_is_an_error_not_a_crash() {
        let levels = 10_000;
        let input = format!("{}x{}", "${NOPE:-".repeat(levels), "}".repeat(levels));
        assert!(invalid_reason(&input).contains("nested"));
        let ok = format!("{}x{}", "${NOPE:-".repeat(20), "}".repeat(20));
        assert_eq!(value(&ok), "x");
    }

    /// xorshift64*: deterministic, dependency-free randomness.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        const PIECES: &[&str] = &[
            "$", "$", "$$", "{", "}", "${", ":", "-", "?", "+", "A", "B", "EMPTY", "_", "1", " ",
            "é", "日", "😀", "\n", "\\", "\"", "'", ":-", ":?", ":+", "NOPE",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = rng.below(24);
            let input: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            match run(&input) {
                Ok(done) if !input.contains('$') => assert_eq!(done.value, input),
                Ok(_) => {}
                Err(err) => assert!(!err.to_string().is_empty()),
            }
        }
    }
}
