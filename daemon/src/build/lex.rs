//! Word expansion in Dockerfile instructions, as BuildKit's `frontend/dockerfile/shell/lex.go`
//! defines it: `$V`, `${V}`, `${V:-w}`, `${V-w}`, `${V:+w}`, `${V+w}`, `${V:?e}`, `${V?e}`,
//! single quotes (literal), double quotes (expansions, `\"` `\$` `\\` escapes), and the escape
//! character (`\` or the `# escape=` directive's) outside quotes. RUN, CMD and ENTRYPOINT are
//! not expanded here: their shell does it.
//!
//! Differences from lex.go: the pattern operators (`${V#p}`, `${V%p}`, `${V/p/r}`) are refused
//! as unsupported modifiers.

use std::collections::BTreeMap;

/// Variables visible to an instruction: the stage's ENV and ARGs.
pub(crate) type Vars = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    Modifier(char),
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    /// `${V:?message}` with V unset (or empty).
    #[error("{name}: {message}")]
    Unset { name: String, message: String },
}

/// Expands `word` into one string, quotes removed (lex.go's `ProcessWord`).
pub(crate) fn expand(word: &str, vars: &Vars, escape: char) -> Result<String, LexError> {
    let mut lx = Lexer::new(word, vars, escape);
    Ok(lx.until(None)?.text)
}

/// Expands `word` and splits it into words at unquoted white space, including white space that
/// an unquoted expansion produced (lex.go's `ProcessWords`).
pub(crate) fn expand_words(word: &str, vars: &Vars, escape: char) -> Result<Vec<String>, LexError> {
    let mut lx = Lexer::new(word, vars, escape);
    Ok(lx.until(None)?.words.finish())
}

/// Expands a heredoc's body: only `$` expansions and the escape before `$` (quotes are text
/// in a heredoc, as in a shell's here-document).
pub(crate) fn expand_heredoc(body: &str, vars: &Vars) -> Result<String, LexError> {
    let mut lx = Lexer::new(body, vars, '\\');
    let mut out = String::new();
    while let Some(c) = lx.peek() {
        match c {
            '$' => out.push_str(&lx.dollar()?),
            '\\' if lx.chars.get(lx.pos + 1) == Some(&'$') => {
                lx.pos += 2;
                out.push('$');
            }
            c => {
                lx.pos += 1;
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Splits an instruction's arguments at unquoted white space without expanding anything, quotes
/// and escapes kept (BuildKit's parser does this before `ENV a=1 b="x y"` is expanded per value).
pub(crate) fn split_raw(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), _) => {}
            (_, c) if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The words being built: a new word starts at unquoted white space.
#[derive(Debug, Default)]
struct Words {
    done: Vec<String>,
    cur: String,
    /// The current word exists even if empty (`""` is a word).
    started: bool,
}

impl Words {
    /// A character that splits at white space (unquoted, or from an expansion).
    fn split_char(&mut self, c: char) {
        if c.is_whitespace() {
            self.end();
        } else {
            self.raw_char(c);
        }
    }

    fn raw_char(&mut self, c: char) {
        self.cur.push(c);
        self.started = true;
    }

    fn raw_str(&mut self, s: &str) {
        self.cur.push_str(s);
        self.started = true;
    }

    fn end(&mut self) {
        if self.started {
            self.done.push(std::mem::take(&mut self.cur));
            self.started = false;
        }
    }

    fn finish(mut self) -> Vec<String> {
        self.end();
        self.done
    }
}

/// What a scan up to a stop character produced.
#[derive(Debug)]
struct Scanned {
    text: String,
    words: Words,
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    vars: &'a Vars,
    escape: char,
}

impl<'a> Lexer<'a> {
    fn new(word: &str, vars: &'a Vars, escape: char) -> Self {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            vars,
            escape,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// lex.go's `processStopOn`: scans until `stop` (consumed) or the end (`stop` None).
    fn until(&mut self, stop: Option<char>) -> Result<Scanned, LexError> {
        let mut text = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(Scanned { text, words });
            }
            match c {
                '$' => {
                    let v = self.dollar()?;
                    v.chars().for_each(|c| words.split_char(c));
                    text.push_str(&v);
                }
                '\'' | '"' => {
                    let v = if c == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    words.raw_str(&v);
                    text.push_str(&v);
                }
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        // An escape at the very end is dropped.
                        let Some(n) = self.next() else { break };
                        words.raw_char(n);
                        text.push(n);
                    } else {
                        words.split_char(c);
                        text.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(LexError::Unterminated(s)),
            None => Ok(Scanned { text, words }),
        }
    }

    fn single_quote(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(LexError::Unterminated('\'')),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(LexError::Unterminated('"')),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes; other escapes stay.
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(LexError::MissingBrace),
            Some('{' | '}' | ':') => return Err(LexError::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(self.lookup(&name).unwrap_or_default()),
            Some(':') => {
                let op = self.next().ok_or(LexError::MissingBrace)?;
                self.modifier(&name, op, true)
            }
            Some(op @ ('-' | '+' | '?')) => self.modifier(&name, op, false),
            Some(other) => Err(LexError::Modifier(other)),
            None => Err(LexError::MissingBrace),
        }
    }

    /// `${name<op>word}`; with `colon`, an empty value counts as unset.
    fn modifier(&mut self, name: &str, op: char, colon: bool) -> Result<String, LexError> {
        if !matches!(op, '-' | '+' | '?') {
            return Err(LexError::Modifier(op));
        }
        let word = self.until(Some('}'))?.text;
        let value = self.lookup(name);
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            '-' if set => Ok(value.unwrap_or_default()),
            '-' => Ok(word),
            '+' if set => Ok(word),
            '+' => Ok(String::new()),
            _ if set => Ok(value.unwrap_or_default()),
            _ => Err(LexError::Unset {
                name: name.to_string(),
                message: if word.is_empty() {
                    "is not allowed to be unset".to_string()
                } else {
                    word
                },
            }),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                self.pos += 1;
                name.push(c);
            }
            return name;
        }
        if let Some(c) = self.peek().filter(|c| "*#$@!?-".contains(*c)) {
            self.pos += 1;
            return c.to_string();
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            self.pos += 1;
            name.push(c);
        }
        name
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "a"), ("E", ""), ("S", "x y"), ("PATH", "/bin")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ex(w: &str) -> String {
        expand(w, &vars(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(ex("$A"), "a");
        assert_eq!(ex("${A}b"), "ab");
        assert_eq!(ex("$Ab"), "");
        assert_eq!(ex("pre-$A-post"), "pre-a-post");
        assert_eq!(ex("$UNSET"), "");
        assert_eq!(ex("$"), "$");
        assert_eq!(ex("a$ b"), "a$ b");
        assert_eq!(ex("$PATH:/usr/bin"), "/bin:/usr/bin");
    }

    #[test]
    fn modifiers_with_and_without_the_colon() {
        assert_eq!(ex("${U:-def}"), "def");
        assert_eq!(ex("${E:-def}"), "def");
        assert_eq!(ex("${E-def}"), "");
        assert_eq!(ex("${U-def}"), "def");
        assert_eq!(ex("${A:-def}"), "a");
        assert_eq!(ex("${A:+alt}"), "alt");
        assert_eq!(ex("${E:+alt}"), "");
        assert_eq!(ex("${E+alt}"), "alt");
        assert_eq!(ex("${U+alt}"), "");
        assert_eq!(ex("${U:-$A}"), "a");
        assert_eq!(ex("${U:-${A}x}"), "ax");
        assert_eq!(ex("${E?oops}"), "");
        assert_eq!(ex("${A:?oops}"), "a");
    }

    #[test]
    fn required_variables_fail_with_their_message() {
        let err = expand("${U:?must be set}", &vars(), '\\').unwrap_err();
        assert_eq!(err.to_string(), "U: must be set");
        let err = expand("${E:?}", &vars(), '\\').unwrap_err();
        assert_eq!(err.to_string(), "E: is not allowed to be unset");
        assert!(expand("${U?}", &vars(), '\\').is_err());
    }

    #[test]
    fn syntax_errors_are_named() {
        let e = |w: &str| expand(w, &vars(), '\\').unwrap_err().to_string();
        assert_eq!(e("${A"), "syntax error: missing '}'");
        assert_eq!(e("${"), "syntax error: missing '}'");
        assert_eq!(e("${}"), "syntax error: bad substitution");
        assert_eq!(e("${:-x}"), "syntax error: bad substitution");
        assert_eq!(e("${A:=x}"), "unsupported modifier (=) in substitution");
        assert_eq!(e("${A#x}"), "unsupported modifier (#) in substitution");
        assert_eq!(
            e("${U:-x"),
            "unexpected end of statement while looking for matching }"
        );
        assert_eq!(
            e("\"abc"),
            "unexpected end of statement while looking for matching \""
        );
        assert_eq!(
            e("'abc"),
            "unexpected end of statement while looking for matching '"
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(ex("'$A'"), "$A");
        assert_eq!(ex("\"$A\""), "a");
        assert_eq!(ex("\"\\$A\""), "$A");
        assert_eq!(ex("\\$A"), "$A");
        assert_eq!(ex("\"a\\\"b\""), "a\"b");
        assert_eq!(ex("\"a\\nb\""), "a\\nb");
        assert_eq!(ex("a\\ b"), "a b");
        assert_eq!(ex("trailing\\"), "trailing");
        assert_eq!(ex("'it''s'"), "its");
        assert_eq!(expand("`$A", &vars(), '`').unwrap(), "$A");
        assert_eq!(expand("\\$A", &vars(), '`').unwrap(), "\\a");
    }

    #[test]
    fn words_split_at_unquoted_space_and_in_expansions() {
        let w = |s: &str| expand_words(s, &vars(), '\\').unwrap();
        assert_eq!(w("a b  c"), ["a", "b", "c"]);
        assert_eq!(w("\"a b\" c"), ["a b", "c"]);
        assert_eq!(w("$S"), ["x", "y"]);
        assert_eq!(w("\"$S\""), ["x y"]);
        assert_eq!(w("'' x"), ["", "x"]);
        assert_eq!(w("a\\ b"), ["a b"]);
        assert!(w("").is_empty());
    }

    #[test]
    fn heredoc_bodies_expand_variables_but_keep_quotes() {
        let got = expand_heredoc("a=$A \"q\" 'x' \\$A\n", &vars()).unwrap();
        assert_eq!(got, "a=a \"q\" 'x' $A\n");
    }

    #[test]
    fn raw_split_keeps_quotes_for_later_expansion() {
        assert_eq!(
            split_raw(r#"a=1 b="x y" c='$d' e=f\ g"#, '\\'),
            ["a=1", r#"b="x y""#, "c='$d'", r"e=f\ g"]
        );
        assert_eq!(split_raw("  one   two ", '\\'), ["one", "two"]);
    }
}
