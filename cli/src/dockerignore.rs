//! `.dockerignore`: which paths of a build context are not sent to ferryd, with the rules of
//! Docker's `patternmatcher` (the client applies them, as Docker's CLI does).
//!
//! * One pattern per line; blank lines and lines starting with `#` are skipped; surrounding
//!   white space is trimmed; a pattern is cleaned like a path (`/a//b/` is `a/b`) and is always
//!   relative to the context root.
//! * `*` is any run of characters but `/`, `?` one character but `/`, `[a-z]` `[!a]` classes,
//!   `\` escapes the next character; `**` any number of directories (zero too), `**/` at the
//!   start included; a trailing `**` anything below.
//! * A pattern that matches a directory excludes everything below it.
//! * `!` makes an exception; the last pattern that matches a path decides.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `?`: one non-`/` character.
    One,
    /// `**/` (or `**` in the middle): zero or more whole directories.
    Dirs,
    /// A trailing `**`: anything.
    All,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    toks: Vec<Tok>,
    exception: bool,
}

/// The patterns of one `.dockerignore`, in file order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the file's text; a malformed pattern (an unclosed `[`) is an error naming it.
    pub(crate) fn parse(text: &str) -> Result<Ignore, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pat);
            if cleaned.is_empty() {
                continue;
            }
            let toks =
                compile(&cleaned).ok_or_else(|| format!("syntax error in pattern {line:?}"))?;
            patterns.push(Pattern { toks, exception });
        }
        Ok(Ignore { patterns })
    }

    /// Whether any pattern is an exception (then excluded directories must still be walked).
    pub(crate) fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is excluded: the last
    /// pattern matching it or one of its parent directories decides.
    pub(crate) fn excludes(&self, path: &Path) -> bool {
        let path = path.to_string_lossy();
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for p in &self.patterns {
            let hit = (1..=parts.len()).any(|n| matches(&p.toks, &parts[..n].join("/")));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }
}

/// `filepath.Clean` of a relative pattern: no leading `/`, no empty or `.` components, `..`
/// folded where it can be.
fn clean(pat: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for comp in pat.split('/') {
        match comp {
            "" | "." => {}
            ".." if out.last().is_some_and(|c| *c != "..") => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn compile(pat: &str) -> Option<Vec<Tok>> {
    let chars: Vec<char> = pat.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i >= chars.len() {
                    Tok::All
                } else {
                    Tok::Dirs
                });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => {
                toks.push(Tok::Lit(*chars.get(i)?));
                i += 1;
            }
            '[' => {
                let (tok, next) = class(&chars, i)?;
                toks.push(tok);
                i = next;
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Some(toks)
}

/// A `[...]` class starting after the `[` at `i`; returns it and the index after `]`.
fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i)?;
        i += 1;
        if c == ']' && !first {
            return Some((Tok::Class { ranges, negated }, i));
        }
        first = false;
        if c == '\\' {
            c = *chars.get(i)?;
            i += 1;
        }
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|n| *n != ']') {
            let hi = chars[i + 1];
            ranges.push((c, hi));
            i += 2;
        } else {
            ranges.push((c, c));
        }
    }
}

/// Whether the whole of `text` matches `toks` (backtracking; patterns are short).
fn matches(toks: &[Tok], text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    match_at(toks, &chars)
}

fn match_at(toks: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Lit(c) => s.first() == Some(c) && match_at(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && match_at(rest, &s[1..]),
        Tok::Class { ranges, negated } => {
            s.first().is_some_and(|c| {
                *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
            }) && match_at(rest, &s[1..])
        }
        Tok::Star => {
            let run = s.iter().take_while(|c| **c != '/').count();
            (0..=run).any(|n| match_at(rest, &s[n..]))
        }
        Tok::All => true,
        // Zero directories, or up to and including any later `/`.
        Tok::Dirs => {
            match_at(rest, s)
                || s.iter()
                    .enumerate()
                    .filter(|(_, c)| **c == '/')
                    .any(|(i, _)| match_at(rest, &s[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(rules: &str, path: &str) -> bool {
        Ignore::parse(rules).unwrap().excludes(Path::new(path))
    }

    // The examples of Docker's documentation ("Build context", .dockerignore files).
    #[test]
    fn documented_examples() {
        let rules = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
        assert!(ex(rules, "somedir/temporary.txt"));
        assert!(ex(rules, "somedir/temp"));
        assert!(!ex(rules, "temporary.txt"));
        assert!(ex(rules, "somedir/subdir/temporary.txt"));
        assert!(ex(rules, "tempa"));
        assert!(ex(rules, "tempb"));
        assert!(!ex(rules, "tempab"));
        assert!(!ex(rules, "# comment"));
    }

    #[test]
    fn double_star_matches_any_number_of_directories() {
        assert!(ex("**/*.go", "main.go"));
        assert!(ex("**/*.go", "a/b/c/main.go"));
        assert!(!ex("**/*.go", "main.rs"));
        assert!(ex("a/**/z", "a/z"));
        assert!(ex("a/**/z", "a/b/c/z"));
        assert!(ex("a/**", "a/b/c"));
        assert!(!ex("a/**/z", "b/z"));
    }

    #[test]
    fn exceptions_and_the_last_match_wins() {
        let rules = "*.md\n!README.md\n";
        assert!(ex(rules, "CHANGES.md"));
        assert!(!ex(rules, "README.md"));
        let rules = "*.md\n!README*.md\nREADME-secret.md\n";
        assert!(ex(rules, "CHANGES.md"));
        assert!(!ex(rules, "README-public.md"));
        assert!(ex(rules, "README-secret.md"));
        let rules = "README-secret.md\n*.md\n!README*.md\n";
        assert!(!ex(rules, "README-secret.md"));
    }

    #[test]
    fn patterns_are_rooted_and_cleaned_and_a_directory_takes_its_contents() {
        assert!(ex("/build/", "build/out/a.o"));
        assert!(ex("./build", "build"));
        assert!(!ex("build", "src/build"));
        assert!(ex("a/../b", "b/x"));
        assert!(ex("  node_modules  ", "node_modules/x/y.js"));
        assert!(!ex("\n\n", "anything"));
        let rules = "vendor\n!vendor/keep.txt\n";
        assert!(ex(rules, "vendor/other.txt"));
        assert!(!ex(rules, "vendor/keep.txt"));
    }

    #[test]
    fn single_character_and_classes_do_not_cross_slashes() {
        assert!(ex("file[0-9].txt", "file7.txt"));
        assert!(!ex("file[0-9].txt", "filex.txt"));
        assert!(ex("file[!0-9].txt", "filex.txt"));
        assert!(!ex("a?b", "a/b"));
        assert!(!ex("a*b", "a/b"));
        assert!(ex("a\\*b", "a*b"));
        assert!(!ex("a\\*b", "axb"));
        assert!(Ignore::parse("[abc").is_err());
    }
}
