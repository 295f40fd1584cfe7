//! Docker's `--format` for listing verbs (`ps`, `stats`, `images`, `history`, `search`): `json`
//! (a JSON object a line), `table` or no flag (the verb's default table), `table TEMPLATE`
//! (tab-separated cells under a header row, aligned as Go's tabwriter), or a bare template (a line
//! a row).
//!
//! A verb turns each item into a JSON object of its fields and supplies [`Columns`]: how a field
//! is named in the header and how a row is written as a JSON line. The rest is shared here.

use serde_json::Value;

use super::table;
use super::template::{Template, TemplateError};

/// What a verb supplies to the shared renderer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns {
    /// The header of the column showing a field (`ID` → `CONTAINER ID`).
    pub(crate) header: fn(&str) -> String,
    /// A row as its `--format json` line.
    pub(crate) json: fn(&Value) -> String,
}

/// The output shape `--format` chose.
#[derive(Debug)]
pub(crate) enum Format {
    Json,
    Template(Template),
}

impl Format {
    /// `json`; `table` or no flag: `default`; `table TEMPLATE` or a bare template. A blank flag
    /// is a bare (empty) template, as `ps` and `stats` have always read it.
    pub(crate) fn parse(format: Option<&str>, default: &str) -> Result<Format, TemplateError> {
        match format.map(str::trim) {
            Some("json") => Ok(Format::Json),
            None | Some("table") => Ok(Format::Template(Template::parse(default)?)),
            Some(f) => Ok(Format::Template(Template::parse(f)?)),
        }
    }

    /// As [`Format::parse`], but a blank flag also means `default`, as Docker reads it.
    pub(crate) fn parse_blank_default(
        format: Option<&str>,
        default: &str,
    ) -> Result<Format, TemplateError> {
        Format::parse(format.filter(|f| !f.trim().is_empty()), default)
    }

    pub(crate) fn render(
        &self,
        rows: &[Value],
        columns: &Columns,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        match self {
            Format::Json => {
                for r in rows {
                    out.push_str(&(columns.json)(r));
                    out.push('\n');
                }
            }
            Format::Template(t) if t.table => {
                let mut cells = vec![split_cells(&t.header(&columns.header))];
                for r in rows {
                    cells.push(split_cells(&t.render(r)?));
                }
                out = table(&cells);
            }
            Format::Template(t) => {
                for r in rows {
                    out.push_str(&t.render(r)?);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }
}

fn split_cells(line: &str) -> Vec<String> {
    line.split('\t').map(String::from).collect()
}

/// `--format` of a verb that prints one object (`version`, `info`): `json` as compact JSON (Go's
/// escapes), anything else a template, rendered once and ended with a newline.
pub(crate) fn render_one(format: &str, v: &Value) -> Result<String, TemplateError> {
    match format.trim() {
        "json" => Ok(format!("{}\n", go_json(v))),
        _ => Ok(format!("{}\n", Template::parse(format)?.render(v)?)),
    }
}

/// A row as compact JSON.
pub(crate) fn plain_json(v: &Value) -> String {
    v.to_string()
}

/// JSON as Go's encoder writes it: `<`, `>` and `&` escaped.
pub(crate) fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const COLUMNS: Columns = Columns {
        header,
        json: go_json,
    };

    fn header(field: &str) -> String {
        match field {
            "ID" => "THING ID".into(),
            other => other.to_uppercase(),
        }
    }

    fn rows() -> Vec<Value> {
        vec![
            json!({"ID": "a1", "Name": "<none>"}),
            json!({"ID": "b22", "Name": "web"}),
        ]
    }

    fn render(format: &Format) -> String {
        format.render(&rows(), &COLUMNS).expect("render")
    }

    const DEFAULT: &str = "table {{.ID}}\t{{.Name}}";

    #[test]
    fn the_default_table_has_named_headers() {
        let want = "THING ID   NAME\na1         <none>\nb22        web\n";
        for flag in [None, Some("table"), Some(" table ")] {
            let f = Format::parse(flag, DEFAULT).expect("parse");
            assert_eq!(render(&f), want, "{flag:?}");
        }
    }

    #[test]
    fn custom_tables_templates_and_json() {
        let f = Format::parse(Some("table {{.Name}}"), DEFAULT).expect("parse");
        assert_eq!(render(&f), "NAME\n<none>\nweb\n");
        let f = Format::parse(Some("{{.Name}}={{.ID}}"), DEFAULT).expect("parse");
        assert_eq!(render(&f), "<none>=a1\nweb=b22\n");
        let f = Format::parse(Some(" json "), DEFAULT).expect("parse");
        assert_eq!(
            render(&f),
            "{\"ID\":\"a1\",\"Name\":\"\\u003cnone\\u003e\"}\n{\"ID\":\"b22\",\"Name\":\"web\"}\n"
        );
        let plain = Columns {
            json: plain_json,
            ..COLUMNS
        };
        let out = Format::Json.render(&rows()[..1], &plain).expect("render");
        assert_eq!(out, "{\"ID\":\"a1\",\"Name\":\"<none>\"}\n");
    }

    #[test]
    fn a_blank_flag_is_read_two_ways() {
        let f = Format::parse(Some(" "), DEFAULT).expect("parse");
        assert_eq!(render(&f), "\n\n");
        let f = Format::parse_blank_default(Some(" "), DEFAULT).expect("parse");
        assert!(render(&f).starts_with("THING ID   NAME\n"));
        let f = Format::parse_blank_default(Some("{{.ID}}"), DEFAULT).expect("parse");
        assert_eq!(render(&f), "a1\nb22\n");
    }

    #[test]
    fn one_object_renders_once() {
        let v = json!({"Name": "<x>", "Server": {"Version": "0.1.0"}});
        assert_eq!(
            render_one("{{.Server.Version}}", &v).as_deref(),
            Ok("0.1.0\n")
        );
        let json = "{\"Name\":\"\\u003cx\\u003e\",\"Server\":{\"Version\":\"0.1.0\"}}\n";
        assert_eq!(render_one("json", &v).as_deref(), Ok(json));
        assert_eq!(
            render_one("{{json .}}", &v).map(|s| s.contains("Server")),
            Ok(true)
        );
        assert!(render_one("{{.Nope}}", &v).is_err());
    }

    #[test]
    fn template_errors_come_back() {
        assert!(Format::parse(Some("{{.ID"), DEFAULT).is_err());
        let f = Format::parse(Some("{{.Missing}}"), DEFAULT).expect("parse");
        assert_eq!(
            f.render(&rows(), &COLUMNS),
            Err(TemplateError::NoField("Missing".into()))
        );
    }
}
