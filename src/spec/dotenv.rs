//! Parser for `.env` / `env_file` content, following docker compose's format.
//!
//! Accepted entries: `KEY=VALUE`, `KEY: VALUE`, an optional `export ` prefix,
//! and bare `KEY` lines that inherit the value from the caller's lookup.
//! Values may be unquoted (trimmed, ` #` starts a comment, interpolated),
//! single-quoted (literal) or double-quoted (escapes, interpolated); quoted
//! values may span lines.

use super::interpolate::interpolate;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct DotenvError {
    /// 1-based line where the offending entry starts.
    pub line: usize,
    pub message: String,
}

/// Parses an env file's content. Returns the variables in file order. A bare
/// `KEY` line (no `=`) yields (KEY, lookup(KEY)) i.e. None when the lookup has
/// nothing.
///
/// A key defined several times appears once per definition, so applying the
/// entries in order gives the usual last-one-wins result.
pub fn parse(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, DotenvError> {
    let content = content.strip_prefix('\u{feff}').unwrap_or(content);
    // Normalising first keeps CRLF files' multi-line values identical to
    // their LF equivalents.
    let text = content.replace("\r\n", "\n");
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut entries = Vec::new();
    while parser.next_statement() {
        let line = parser.line;
        let entry = parser
            .entry(&entries, lookup)
            .map_err(|message| DotenvError { line, message })?;
        entries.push(entry);
    }
    Ok(entries)
}

type Entry = (String, Option<String>);

/// Errors are plain messages here; `parse` attaches the entry's line.
type Step<T> = Result<T, String>;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_inline_space(&mut self) {
        while self.peek().is_some_and(is_inline_space) {
            self.bump();
        }
    }

    /// Consumes the rest of the current line, including its newline.
    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// Moves past blank and comment lines; false once the input is exhausted.
    fn next_statement(&mut self) -> bool {
        loop {
            while self.peek().is_some_and(char::is_whitespace) {
                self.bump();
            }
            match self.peek() {
                Some('#') => self.skip_line(),
                Some(_) => return true,
                None => return false,
            }
        }
    }

    /// The remainder of the current line starting at `start`, for messages.
    fn line_from(&self, start: usize) -> String {
        self.chars
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| **c != '\n')
            .collect()
    }

    fn entry(&mut self, earlier: &[Entry], lookup: &dyn Fn(&str) -> Option<String>) -> Step<Entry> {
        let start = self.pos;
        self.skip_export();
        let key = self.key(start)?;
        let gap = self.peek();
        self.skip_inline_space();
        match self.peek() {
            Some('=' | ':') => {
                self.bump();
                let value = self.value(&key, earlier, lookup)?;
                Ok((key, Some(value)))
            }
            None | Some('\n' | '#') => {
                self.skip_line();
                let value = lookup(&key);
                Ok((key, value))
            }
            Some(c) => {
                // A second word after the key: the key itself contained the gap.
                let bad = gap.unwrap_or(c);
                Err(format!(
                    "unexpected character {bad:?} in variable name {:?}",
                    self.line_from(start)
                ))
            }
        }
    }

    /// Skips an `export ` prefix unless `export` is itself the key.
    fn skip_export(&mut self) {
        let is_export = "export"
            .chars()
            .enumerate()
            .all(|(i, expected)| self.peek_at(i) == Some(expected));
        if !is_export || !self.peek_at(6).is_some_and(is_inline_space) {
            return;
        }
        let mut offset = 7;
        while self.peek_at(offset).is_some_and(is_inline_space) {
            offset += 1;
        }
        if self.peek_at(offset).is_some_and(is_key_char) {
            self.pos += offset;
        }
    }

    fn key(&mut self, start: usize) -> Step<String> {
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == '=' || c == ':' {
                break;
            }
            if !is_key_char(c) {
                return Err(format!(
                    "unexpected character {c:?} in variable name {:?}",
                    self.line_from(start)
                ));
            }
            key.push(c);
            self.bump();
        }
        if key.is_empty() {
            return Err(format!(
                "missing variable name in {:?}",
                self.line_from(start)
            ));
        }
        Ok(key)
    }

    fn value(
        &mut self,
        key: &str,
        earlier: &[Entry],
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Step<String> {
        self.skip_inline_space();
        let start = self.pos;
        match self.peek() {
            Some('\'') => {
                let value = self.single_quoted(start)?;
                self.after_closing_quote(key)?;
                Ok(value)
            }
            Some('"') => {
                let template = self.double_quoted(start)?;
                self.after_closing_quote(key)?;
                expand(&template, earlier, lookup)
            }
            _ => {
                let raw = self.unquoted();
                expand(&raw, earlier, lookup)
            }
        }
    }

    fn unquoted(&mut self) -> String {
        let mut raw = Vec::new();
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
            raw.push(c);
        }
        // Only whitespace-then-`#` starts a comment, so `a#b` keeps its hash.
        let end = raw
            .windows(2)
            .position(|pair| pair[0].is_whitespace() && pair[1] == '#')
            .unwrap_or(raw.len());
        raw.truncate(end);
        raw.into_iter().collect::<String>().trim_end().to_string()
    }

    /// Literal text; only `\'` is special so a quote can still be embedded,
    /// matching docker compose.
    fn single_quoted(&mut self, start: usize) -> Step<String> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err(self.unterminated(start)),
                Some('\'') => return Ok(value),
                Some('\\') => match self.bump() {
                    None => return Err(self.unterminated(start)),
                    Some('\'') => value.push('\''),
                    Some(next) => {
                        value.push('\\');
                        value.push(next);
                    }
                },
                Some(c) => value.push(c),
            }
        }
    }

    /// Returns the value with escapes resolved, ready for interpolation:
    /// `\$` becomes `$$` so it survives interpolation as a literal `$`.
    fn double_quoted(&mut self, start: usize) -> Step<String> {
        self.bump();
        let mut template = String::new();
        loop {
            match self.bump() {
                None => return Err(self.unterminated(start)),
                Some('"') => return Ok(template),
                Some('\\') => {
                    let Some(next) = self.bump() else {
                        return Err(self.unterminated(start));
                    };
                    push_escape(&mut template, next);
                }
                Some(c) => template.push(c),
            }
        }
    }

    fn after_closing_quote(&mut self, key: &str) -> Step<()> {
        self.skip_inline_space();
        match self.peek() {
            None | Some('\n' | '#') => {
                self.skip_line();
                Ok(())
            }
            Some(c) => Err(format!(
                "unexpected character {c:?} after the closing quote of the value of {key}; \
                 only a comment may follow"
            )),
        }
    }

    fn unterminated(&self, start: usize) -> String {
        format!("unterminated quoted value {:?}", self.line_from(start))
    }
}

fn push_escape(template: &mut String, escaped: char) {
    match escaped {
        'n' => template.push('\n'),
        'r' => template.push('\r'),
        't' => template.push('\t'),
        '\\' => template.push('\\'),
        '"' => template.push('"'),
        '$' => template.push_str("$$"),
        other => {
            template.push('\\');
            template.push(other);
        }
    }
}

/// Interpolates a value; variables set earlier in the file win over `lookup`.
fn expand(
    template: &str,
    earlier: &[Entry],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Step<String> {
    let resolve = |name: &str| {
        earlier
            .iter()
            .rev()
            .find_map(|(key, value)| if key == name { value.clone() } else { None })
            .or_else(|| lookup(name))
    };
    interpolate(template, &resolve)
        .map(|done| done.value)
        .map_err(|err| err.to_string())
}

fn is_inline_space(c: char) -> bool {
    c.is_whitespace() && c != '\n'
}

/// Beyond the usual `[A-Za-z0-9_.-]`, any visible character is accepted except
/// those that have a meaning in the syntax or almost certainly signal a
/// malformed line.
fn is_key_char(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '=' | ':' | '#' | '"' | '\'' | '`' | '$' | '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn os_env(name: &str) -> Option<String> {
        match name {
            "VAR_TO_BE_LOADED_FROM_OS_ENV" => Some("loaded from os env".into()),
            "OPTION_A" => Some("from os".into()),
            "HOME" => Some("/home/me".into()),
            _ => None,
        }
    }

    fn pairs(
        content: &str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Vec<(String, Option<String>)> {
        match parse(content, lookup) {
            Ok(entries) => entries,
            Err(err) => panic!("{content:?} failed: {err}"),
        }
    }

    /// Parses content whose entries all have values and no lookup.
    fn values(content: &str) -> Vec<(String, String)> {
        pairs(content, &no_env)
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => (key, value),
                None => panic!("{key} has no value"),
            })
            .collect()
    }

    fn expected(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn failure(content: &str) -> DotenvError {
        match parse(content, &no_env) {
            Ok(entries) => panic!("{content:?} unexpectedly parsed: {entries:?}"),
            Err(err) => err,
        }
    }

    const PLAIN: &str = "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n\
        456 = ABC\nOPTION_F = \nOPTION_G=\nOPTION_H = my string # Inline comment\n";

    const PLAIN_EXPECTED: &[(&str, &str)] = &[
        ("OPTION_A", "1"),
        ("OPTION_B", "2"),
        ("OPTION_C", "3"),
        ("OPTION_D", "4"),
        ("OPTION_E", "5"),
        ("456", "ABC"),
        ("OPTION_F", ""),
        ("OPTION_G", ""),
        ("OPTION_H", "my string"),
    ];

    #[test]
    fn fixture_plain() {
        assert_eq!(values(PLAIN), expected(PLAIN_EXPECTED));
    }

    #[test]
    fn fixture_utf8_bom() {
        let content = "\u{feff}OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n\
            456 = ABC\nOPTION_F =\nOPTION_G=\nOPTION_H = my string # Inline comment\n";
        assert_eq!(values(content), expected(PLAIN_EXPECTED));
    }

    #[test]
    fn fixture_quoted() {
        let content = "OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\n\
            OPTION_F=\"2\"\nOPTION_G=\"\"\nOPTION_H=\"\\n\"\n\
            OPTION_I = \"echo 'asd'\" # Inline comment\n\
            OPTION_J = 'first line\nsecond line\nthird line\nand so on'\n\
            OPTION_K='Let\\'s go!'\nOPTION_Z = \"last value\"\n";
        let want = expected(&[
            ("OPTION_A", "1"),
            ("OPTION_B", "2"),
            ("OPTION_C", ""),
            ("OPTION_D", "\\n"),
            ("OPTION_E", "1"),
            ("OPTION_F", "2"),
            ("OPTION_G", ""),
            ("OPTION_H", "\n"),
            ("OPTION_I", "echo 'asd'"),
            ("OPTION_J", "first line\nsecond line\nthird line\nand so on"),
            ("OPTION_K", "Let's go!"),
            ("OPTION_Z", "last value"),
        ]);
        assert_eq!(values(content), want);
    }

    #[test]
    fn fixture_unquoted() {
        let content = "OPTION_A = \"some quoted phrase\"\n\
            OPTION_B=first one with an unquoted phrase\n\
            OPTION_C = then another one with an unquoted phrase\n\
            OPTION_D = then another one with an unquoted phrase special è char\n\
            OPTION_E = \"then another one quoted phrase\"\n";
        let want = expected(&[
            ("OPTION_A", "some quoted phrase"),
            ("OPTION_B", "first one with an unquoted phrase"),
            ("OPTION_C", "then another one with an unquoted phrase"),
            (
                "OPTION_D",
                "then another one with an unquoted phrase special è char",
            ),
            ("OPTION_E", "then another one quoted phrase"),
        ]);
        assert_eq!(values(content), want);
    }

    #[test]
    fn fixture_equals() {
        let content = "export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n";
        let want = expected(&[(
            "OPTION_A",
            "postgres://localhost:5432/database?sslmode=disable",
        )]);
        assert_eq!(values(content), want);
    }

    #[test]
    fn fixture_exported() {
        let content = "export OPTION_A=2\nexport OPTION_B='\\n'\n";
        assert_eq!(
            values(content),
            expected(&[("OPTION_A", "2"), ("OPTION_B", "\\n")])
        );
    }

    #[test]
    fn fixture_custom_format() {
        assert_eq!(
            values("FOO:BAR\nZOT:QIX"),
            expected(&[("FOO", "BAR"), ("ZOT", "QIX")])
        );
    }

    #[test]
    fn fixture_special() {
        let content =
            "VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n";
        let want = expected(&[
            ("VAR.WITH.DOTS", "dots"),
            ("VAR_WITH_UNDERSCORES", "underscores"),
            ("VAR-WITH-DASHES", "dashes"),
        ]);
        assert_eq!(values(content), want);
    }

    #[test]
    fn fixture_substitutions() {
        let content = "OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\n\
            OPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n";
        let want = expected(&[
            ("OPTION_A", "1"),
            ("OPTION_B", "1"),
            ("OPTION_C", "1"),
            ("OPTION_D", "1_1"),
            ("OPTION_E", ""),
        ]);
        assert_eq!(values(content), want);
    }

    const SUBSTITUTIONS_DEFAULT: &str = "OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\n\
        OPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n";

    #[test]
    fn fixture_substitutions_default() {
        let want = expected(&[
            ("OPTION_A", "1"),
            ("OPTION_B", "1"),
            ("OPTION_C", "1"),
            ("OPTION_D", "1_1"),
            ("OPTION_E", ""),
        ]);
        assert_eq!(values(SUBSTITUTIONS_DEFAULT), want);
    }

    #[test]
    fn fixture_substitutions_default_with_lookup_value() {
        let got = pairs(SUBSTITUTIONS_DEFAULT, &os_env);
        let a = Some("from os".to_string());
        assert_eq!(got[0], ("OPTION_A".to_string(), a.clone()));
        assert_eq!(got[2], ("OPTION_C".to_string(), a));
        assert_eq!(got[3].1.as_deref(), Some("from os_from os"));
    }

    #[test]
    fn fixture_inherited_single_var() {
        assert_eq!(
            pairs("VAR_TO_BE_LOADED_FROM_OS_ENV\n", &os_env),
            vec![(
                "VAR_TO_BE_LOADED_FROM_OS_ENV".to_string(),
                Some("loaded from os env".to_string())
            )]
        );
    }

    #[test]
    fn fixture_inherited_multi_var() {
        let got = pairs("foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n", &os_env);
        let want = vec![
            ("foo".to_string(), Some("bar".to_string())),
            (
                "VAR_TO_BE_LOADED_FROM_OS_ENV".to_string(),
                Some("loaded from os env".to_string()),
            ),
            ("bar".to_string(), Some("baz".to_string())),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn fixture_inherited_not_found() {
        assert_eq!(
            pairs("VARIABLE_NOT_FOUND\n", &os_env),
            vec![("VARIABLE_NOT_FOUND".to_string(), None)]
        );
    }

    #[test]
    fn fixture_invalid1() {
        let content = "# some comments\nfoo=\"\n  a\n  multine\n  value\n\"\nINVALID LINE\nzot=qix";
        let err = failure(content);
        assert_eq!(err.line, 7);
        assert_eq!(
            err.to_string(),
            "line 7: unexpected character ' ' in variable name \"INVALID LINE\""
        );
    }

    #[test]
    fn multiline_double_quoted_value_keeps_newlines() {
        let content = "foo=\"\n  a\n  multine\n  value\n\"\nzot=qix";
        assert_eq!(
            values(content),
            expected(&[("foo", "\n  a\n  multine\n  value\n"), ("zot", "qix")])
        );
    }

    #[test]
    fn crlf_line_endings() {
        let content = "A=1\r\nB=\"x\r\ny\"\r\n# c\r\nC = 'z' \r\n";
        assert_eq!(
            values(content),
            expected(&[("A", "1"), ("B", "x\ny"), ("C", "z")])
        );
    }

    #[test]
    fn blank_and_comment_lines_are_skipped() {
        let content = "\n   \n# top\n   # indented\nA=1\n\t\nB=2 # trailing\n#C=3";
        assert_eq!(values(content), expected(&[("A", "1"), ("B", "2")]));
    }

    #[test]
    fn hash_without_preceding_space_is_kept() {
        assert_eq!(
            values("A=a#b\nB=#start\nC=x\t# tab comment\nD=\"q\"# c\n"),
            expected(&[("A", "a#b"), ("B", "#start"), ("C", "x"), ("D", "q")])
        );
    }

    #[test]
    fn empty_value_and_bare_key() {
        let got = pairs("EMPTY=\nHOME\nMISSING\nexport HOME2", &os_env);
        let want = vec![
            ("EMPTY".to_string(), Some(String::new())),
            ("HOME".to_string(), Some("/home/me".to_string())),
            ("MISSING".to_string(), None),
            ("HOME2".to_string(), None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn bare_key_may_carry_a_comment() {
        assert_eq!(
            pairs("HOME # from the shell\n", &os_env),
            vec![("HOME".to_string(), Some("/home/me".to_string()))]
        );
    }

    #[test]
    fn export_prefix_forms() {
        assert_eq!(
            values("export  A=1\nexport\tB: 2\nexport=3\nexport_C=4"),
            expected(&[("A", "1"), ("B", "2"), ("export", "3"), ("export_C", "4")])
        );
    }

    #[test]
    fn yaml_style_values() {
        assert_eq!(
            values("URL: http://host:80/x\nQ: \"quoted: yes\"\nS:'single'"),
            expected(&[
                ("URL", "http://host:80/x"),
                ("Q", "quoted: yes"),
                ("S", "single")
            ])
        );
    }

    #[test]
    fn double_quote_escapes() {
        let content = r#"A="tab\there\nnew\rret\\back\"quote"
B="cost \$5 and \$HOME"
C="keep \q and \'"
"#;
        assert_eq!(
            values(content),
            expected(&[
                ("A", "tab\there\nnew\rret\\back\"quote"),
                ("B", "cost $5 and $HOME"),
                ("C", "keep \\q and \\'"),
            ])
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        let content = r"A='$HOME ${X:-y} \t \\ \'q'";
        assert_eq!(
            pairs(content, &os_env),
            vec![("A".to_string(), Some(r"$HOME ${X:-y} \t \\ 'q".to_string()))]
        );
    }

    #[test]
    fn interpolation_forms_in_values() {
        let content = "A=${HOME}/a\nB=\"$HOME/b\"\nC=${NOPE:-def}\nD=${NOPE-x}\n\
            E=${HOME:+set}\nF=${A}|${B}\nG=$$HOME\n";
        assert_eq!(
            pairs(content, &os_env)
                .into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect::<Vec<_>>(),
            expected(&[
                ("A", "/home/me/a"),
                ("B", "/home/me/b"),
                ("C", "def"),
                ("D", "x"),
                ("E", "set"),
                ("F", "/home/me/a|/home/me/b"),
                ("G", "$HOME"),
            ])
        );
    }

    #[test]
    fn earlier_definitions_win_over_lookup() {
        let got = pairs("HOME=/override\nX=$HOME\nHOME=/again\nY=${HOME}", &os_env);
        assert_eq!(got[1].1.as_deref(), Some("/override"));
        assert_eq!(got[3].1.as_deref(), Some("/again"));
    }

    #[test]
    fn duplicate_keys_are_kept_in_order() {
        assert_eq!(values("A=1\nA=2"), expected(&[("A", "1"), ("A", "2")]));
    }

    #[test]
    fn unterminated_quotes_report_the_starting_line() {
        let err = failure("A=1\n\nB=\"open\nstill open\n");
        assert_eq!(err.line, 3);
        assert!(err.message.contains("unterminated"), "{err}");
        assert_eq!(failure("A='x").line, 1);
        assert_eq!(failure("A=\"x\\").line, 1);
        assert_eq!(failure("A='x\\").line, 1);
    }

    #[test]
    fn text_after_closing_quote_is_rejected() {
        let err = failure("A=1\nB=\"x\" y\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("'y'"), "{err}");
    }

    #[test]
    fn interpolation_errors_carry_the_line() {
        let err = failure("A=1\nB=${NOPE:?must be set}\n");
        assert_eq!(err.line, 2);
        assert_eq!(
            err.message,
            "required variable NOPE is missing a value: must be set"
        );
        let err = failure("A=1\n\nC=\"multi\nline ${\"\n");
        assert_eq!(err.line, 3);
        assert!(
            err.message.contains("invalid interpolation format"),
            "{err}"
        );
        assert_eq!(failure("A=1\nPRICE=${5}").line, 2);
    }

    #[test]
    fn invalid_keys() {
        let err = failure("=value");
        assert!(err.message.contains("missing variable name"), "{err}");
        let err = failure("A=1\nFOO$BAR=1");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("'$'"), "{err}");
        assert!(failure("A B C=1").message.contains("' '"));
        assert!(failure("FOO#x=1").message.contains("'#'"));
    }

    #[test]
    fn unusual_but_accepted_keys() {
        assert_eq!(
            values("a[0]=x\nÉTÉ=summer\nx/y@z=1"),
            expected(&[("a[0]", "x"), ("ÉTÉ", "summer"), ("x/y@z", "1")])
        );
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
            "A", "B", "=", ":", " ", "\t", "\n", "\r\n", "\r", "#", "'", "\"", "\\", "$", "{", "}",
            ":-", "export ", "é", "日", "😀", "\u{feff}", "HOME", "\\'", "\\\"",
        ];
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        for _ in 0..20_000 {
            let len = rng.below(30);
            let input: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            if let Err(err) = parse(&input, &os_env) {
                let lines = input.split('\n').count().max(1);
                assert!(err.line >= 1 && err.line <= lines, "{input:?}: {err}");
            }
        }
    }
}
