//! Docker's output conventions: tables aligned like Go's tabwriter (min width 10, padding 3),
//! sizes in decimal units with 3 significant digits, durations in words.

pub(crate) use ferry_proto::docker::human_duration;

pub(crate) mod format;
pub(crate) mod progress;
pub(crate) mod template;
pub(crate) mod time;

/// Docker's `units.HumanSizeWithPrecision(size, 3)`: 999B, 13.3kB, 4.26MB.
pub(crate) fn human_size(bytes: u64) -> String {
    scaled(bytes, 1000.0, ["B", "kB", "MB", "GB", "TB", "PB", "EB"], 3)
}

/// Docker's `units.BytesSize`: binary units with Go's `%.4g` (`64MiB`, `7.775GiB`).
pub(crate) fn bytes_size(bytes: u64) -> String {
    scaled(
        bytes,
        1024.0,
        ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        4,
    )
}

/// `bytes` in the largest unit it reaches (each `base` times the last), with `digits`
/// significant digits.
fn scaled(bytes: u64, base: f64, units: [&str; 7], digits: usize) -> String {
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= base && unit < units.len() - 1 {
        size /= base;
        unit += 1;
    }
    format!("{}{}", significant(size, digits), units[unit])
}

/// Go's `%.Ng` for the values `scaled` produces (0 <= v < base): `digits` significant digits,
/// trailing zeros dropped.
fn significant(v: f64, digits: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = (v.abs().log10().floor() as i64 + 1).max(1) as usize;
    let decimals = digits.saturating_sub(int_digits);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Docker's `formatter.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub(crate) fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub(crate) fn ago(unix: i64, now: i64) -> String {
    if unix <= 0 {
        return "N/A".into();
    }
    format!("{} ago", human_duration(now - unix))
}

/// Renders rows like `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    table_min(rows, 10)
}

/// Renders rows like `tabwriter.NewWriter(out, min_width, 1, 3, ' ', 0)`.
pub(crate) fn table_min(rows: &[Vec<String>], min_width: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            let w = rows
                .iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            (w + 3).max(min_width)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Docker's familiar form of a fully qualified name: `docker.io/library/busybox:latest` is
/// `busybox:latest`.
pub(crate) fn familiar(full: &str) -> String {
    let s = full.strip_prefix("docker.io/").unwrap_or(full);
    if full.starts_with("docker.io/") {
        s.strip_prefix("library/").unwrap_or(s).to_string()
    } else {
        s.to_string()
    }
}

/// Splits a stored name into (repository, tag) as `images` shows them.
pub(crate) fn repo_and_tag(full: &str) -> (String, String) {
    let fam = familiar(full);
    let no_digest = fam.split('@').next().unwrap_or(&fam).to_string();
    let digest_only = fam.contains('@');
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') && !digest_only => {
            (no_digest[..i].to_string(), no_digest[i + 1..].to_string())
        }
        Some(i) if !no_digest[i..].contains('/') => (no_digest[..i].to_string(), "<none>".into()),
        _ => (no_digest, "<none>".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(13_300), "13.3kB");
        assert_eq!(human_size(4_261_234), "4.26MB");
        assert_eq!(human_size(1_240_000_000), "1.24GB");
        assert_eq!(human_size(0), "0B");
    }

    #[test]
    fn binary_sizes_keep_four_digits() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1023), "1023B");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(1_047_552), "1023KiB");
        assert_eq!(bytes_size(8_348_000_000), "7.775GiB");
    }

    #[test]
    fn ellipsis_cuts_to_the_width() {
        assert_eq!(ellipsis("12345", 5), "12345");
        assert_eq!(ellipsis("123456", 5), "1234…");
        assert_eq!(ellipsis("ééééé", 4), "ééé…");
        assert_eq!(ellipsis("", 3), "");
    }

    #[test]
    fn durations_match_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(10 * 86400), "10 days");
        assert_eq!(human_duration(150 * 86400), "5 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn names_are_shown_familiar() {
        assert_eq!(
            repo_and_tag("docker.io/library/busybox:latest"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            repo_and_tag("127.0.0.1:5000/a/b:v1"),
            ("127.0.0.1:5000/a/b".into(), "v1".into())
        );
        assert_eq!(
            repo_and_tag("docker.io/x/y@sha256:ab"),
            ("x/y".into(), "<none>".into())
        );
    }

    #[test]
    fn table_pads_like_tabwriter() {
        let t = table(&[
            vec!["REPOSITORY".into(), "TAG".into()],
            vec!["busybox".into(), "latest".into()],
        ]);
        assert_eq!(t, "REPOSITORY   TAG\nbusybox      latest\n");
    }
}
