//! A tiny subset of Go's text/template, enough for Docker's `--format`.
//!
//! Supported actions: `{{.}}`, `{{.Field}}`, `{{.A.B}}` (paths into a JSON value), `{{json .X}}`,
//! `{{index .X "k"}}`, and method-style `{{.Label "k"}}` (the same as `index .Label "k"`).
//! A leading `table ` asks for tab-separated cells under a header row; the literal escapes `\t`
//! and `\n` become a tab and a newline, as in Docker's formatter. Values print as Go's `%v` does:
//! maps as `map[k:v]`, lists as `[a b]`, null as `<no value>`.

use serde_json::Value;

#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum TemplateError {
    #[error("template: unclosed action in {0:?}")]
    Unclosed(String),
    #[error("template: function {0:?} not defined")]
    UnknownFunction(String),
    #[error("template: bad action {0:?}")]
    BadAction(String),
    #[error("template: can't evaluate field {0}")]
    NoField(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Action(Action),
}

#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// `.A.B`: the value at a path (empty = the root).
    Path(Vec<String>),
    /// `json .A`: the value as compact JSON.
    Json(Vec<String>),
    /// `index .A "k" …` or `.A "k"`: keys into a map; a missing key is empty.
    Index(Vec<String>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    /// `table …`: render rows as tab-separated cells under a header.
    pub(crate) table: bool,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a `--format` value (after the caller has expanded bare `table` and `json`).
    pub(crate) fn parse(format: &str) -> Result<Template, TemplateError> {
        let (table, body) = match format.strip_prefix("table ") {
            Some(rest) => (true, rest.trim()),
            None => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Template {
            table,
            pieces: parse_pieces(&body)?,
        })
    }

    pub(crate) fn render(&self, root: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Action(a) => out.push_str(&eval(a, root)?),
            }
        }
        Ok(out)
    }

    /// The header line: each action replaced by `name(field)` for its last path element.
    pub(crate) fn header(&self, name: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Action(Action::Path(path) | Action::Json(path))
                | Piece::Action(Action::Index(path, _)) => {
                    out.push_str(&name(path.last().map(String::as_str).unwrap_or("")))
                }
            }
        }
        out
    }
}

fn parse_pieces(body: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(body.to_string()))?;
        let inner = after[..end].trim_start_matches('-').trim_end_matches('-');
        pieces.push(Piece::Action(parse_action(inner.trim())?));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn parse_action(inner: &str) -> Result<Action, TemplateError> {
    let words = split_words(inner).ok_or_else(|| TemplateError::BadAction(inner.into()))?;
    let bad = || TemplateError::BadAction(inner.to_string());
    match words.as_slice() {
        [w] if w.starts_with('.') => Ok(Action::Path(path(w))),
        [f, p] if f == "json" && p.starts_with('.') => Ok(Action::Json(path(p))),
        [f, p, keys @ ..] if f == "index" && p.starts_with('.') && !keys.is_empty() => {
            Ok(Action::Index(path(p), quoted(keys).ok_or_else(bad)?))
        }
        [p, keys @ ..] if p.starts_with('.') && p.len() > 1 => {
            Ok(Action::Index(path(p), quoted(keys).ok_or_else(bad)?))
        }
        [f, ..] if !f.starts_with('.') && !f.starts_with('"') => {
            Err(TemplateError::UnknownFunction(f.clone()))
        }
        _ => Err(bad()),
    }
}

/// Splits on spaces, keeping `"quoted strings"` (with their quotes) as one word.
fn split_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        if c == '"' {
            w.push(c);
            chars.next();
            loop {
                let c = chars.next()?;
                w.push(c);
                match c {
                    '\\' => w.push(chars.next()?),
                    '"' => break,
                    _ => {}
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        words.push(w);
    }
    Some(words)
}

fn quoted(words: &[String]) -> Option<Vec<String>> {
    words
        .iter()
        .map(|w| serde_json::from_str::<String>(w).ok())
        .collect()
}

fn path(word: &str) -> Vec<String> {
    word.split('.')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn lookup<'a>(root: &'a Value, path: &[String]) -> Result<&'a Value, TemplateError> {
    let mut v = root;
    for seg in path {
        v = v
            .as_object()
            .and_then(|m| m.get(seg))
            .ok_or_else(|| TemplateError::NoField(seg.clone()))?;
    }
    Ok(v)
}

fn eval(action: &Action, root: &Value) -> Result<String, TemplateError> {
    match action {
        Action::Path(p) => Ok(go_format(lookup(root, p)?)),
        Action::Json(p) => Ok(lookup(root, p)?.to_string()),
        Action::Index(p, keys) => {
            let mut v = lookup(root, p)?;
            for k in keys {
                match v.get(k) {
                    Some(next) => v = next,
                    None => return Ok(String::new()),
                }
            }
            Ok(go_format(v))
        }
    }
}

/// Go's `%v` for decoded JSON.
pub(crate) fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", inner.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_format(&m[*k])))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn root() -> Value {
        json!({
            "ID": "abc123",
            "Names": "web",
            "Labels": "a=1,b=2",
            "Label": {"a": "1", "b": "2"},
            "State": {"Running": true, "Pid": 42, "Status": "running"},
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"x": "y"}},
            "Nothing": null,
        })
    }

    #[test]
    fn renders_fields_paths_and_functions() {
        let cases = [
            ("{{.ID}}", "abc123"),
            ("{{.ID}} {{.Names}}", "abc123 web"),
            ("id={{ .ID }}!", "id=abc123!"),
            ("{{.Label \"a\"}}", "1"),
            ("{{.Label \"zz\"}}", ""),
            ("{{index .Config.Labels \"x\"}}", "y"),
            ("{{.State.Running}} {{.State.Pid}}", "true 42"),
            ("{{.Config.Env}}", "[A=1 B=2]"),
            ("{{.Config.Labels}}", "map[x:y]"),
            ("{{json .Config.Labels}}", "{\"x\":\"y\"}"),
            ("{{json .State.Status}}", "\"running\""),
            ("{{.Nothing}}", "<no value>"),
            ("{{.ID}}\\t{{.Names}}", "abc123\tweb"),
            ("plain", "plain"),
        ];
        for (fmt, want) in cases {
            let t = Template::parse(fmt).expect(fmt);
            assert_eq!(t.render(&root()).as_deref(), Ok(want), "{fmt}");
        }
    }

    #[test]
    fn table_prefix_gives_a_header() {
        let t = Template::parse("table {{.ID}}\\t{{.Names}}\\t{{.Label \"a\"}}").expect("parse");
        assert!(t.table);
        let header = t.header(&|f| f.to_uppercase());
        assert_eq!(header, "ID\tNAMES\tLABEL");
        assert_eq!(t.render(&root()).as_deref(), Ok("abc123\tweb\t1"));
    }

    #[test]
    fn errors_are_reported() {
        assert!(matches!(
            Template::parse("{{.ID"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("{{upper .ID}}"),
            Err(TemplateError::UnknownFunction(_))
        ));
        assert!(matches!(
            Template::parse("{{.Label \"a}}"),
            Err(TemplateError::BadAction(_))
        ));
        let t = Template::parse("{{.Nope}}").expect("parse");
        assert_eq!(
            t.render(&root()),
            Err(TemplateError::NoField("Nope".into()))
        );
    }
}
