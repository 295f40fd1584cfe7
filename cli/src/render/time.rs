//! Go's `time.Unix(s, 0).String()`, which Docker prints for `{{.CreatedAt}}`:
//! `2026-12-03 09:12:01 +0000 UTC`, in the local zone.
//!
//! chrono's `%Z` knows no zone names (it prints `+00:00`), so the wall clock, offset and
//! abbreviation come from the C library's `localtime_r`, which reads the same `TZ` and
//! `/etc/localtime` as Go's zone loader.

use std::ffi::CStr;

/// A Unix time as the local zone sees it.
#[derive(Debug, PartialEq)]
pub(crate) struct LocalTime {
    pub(crate) civil: chrono::NaiveDateTime,
    /// Seconds east of UTC.
    pub(crate) offset: i64,
    /// The zone's abbreviation (`UTC`, `CET`); empty when the zone has none.
    pub(crate) zone: String,
}

/// `unix` in Go's `Time.String()` layout, local zone; empty if the time is out of range.
pub(crate) fn go_time_string(unix: i64) -> String {
    local_time(unix).map(|t| format(&t)).unwrap_or_default()
}

/// Go's layout `2006-01-02 15:04:05.999999999 -0700 MST` for a whole second.
pub(crate) fn format(t: &LocalTime) -> String {
    let sign = if t.offset < 0 { '-' } else { '+' };
    let minutes = t.offset.abs() / 60;
    let numeric = format!("{sign}{:02}{:02}", minutes / 60, minutes % 60);
    // Go prints the numeric offset again when the zone has no name.
    let zone = if t.zone.is_empty() { &numeric } else { &t.zone };
    format!("{} {numeric} {zone}", t.civil.format("%Y-%m-%d %H:%M:%S"))
}

fn local_time(unix: i64) -> Option<LocalTime> {
    let secs = libc::time_t::try_from(unix).ok()?;
    // SAFETY: `tm` is plain data; all-zero is a valid value (null `tm_zone`) that
    // `localtime_r` overwrites.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live, aligned locals; `localtime_r` is the reentrant form
    // and writes only into `tm` (it may read TZ, which nothing in the CLI changes).
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `tm_zone` from `localtime_r` points at a NUL-terminated name in
        // the C library's zone data, alive for the rest of the process.
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        tm.tm_year.checked_add(1900)?,
        u32::try_from(tm.tm_mon + 1).ok()?,
        u32::try_from(tm.tm_mday).ok()?,
    )?;
    let time = chrono::NaiveTime::from_hms_opt(
        u32::try_from(tm.tm_hour).ok()?,
        u32::try_from(tm.tm_min).ok()?,
        // A leap second (60) is shown as 59, as Go normalises it.
        u32::try_from(tm.tm_sec.min(59)).ok()?,
    )?;
    Some(LocalTime {
        civil: date.and_time(time),
        offset: tm.tm_gmtoff,
        zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str, offset: i64, zone: &str) -> LocalTime {
        LocalTime {
            civil: chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time"),
            offset,
            zone: zone.into(),
        }
    }

    #[test]
    fn formats_as_go_time_string() {
        let cases = [
            (
                at("2026-12-03 09:12:01", 0, "UTC"),
                "2026-12-03 09:12:01 +0000 UTC",
            ),
            (
                at("2026-07-01 11:00:00", 7200, "CEST"),
                "2026-07-01 11:00:00 +0200 CEST",
            ),
            (
                at("2026-01-01 00:00:00", -12600, "-0330"),
                "2026-01-01 00:00:00 -0330 -0330",
            ),
            (
                at("2026-01-01 05:30:00", 19800, ""),
                "2026-01-01 05:30:00 +0530 +0530",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(format(&t), want);
        }
    }

    #[test]
    fn the_local_zone_is_named_not_an_offset() {
        let s = go_time_string(1_796_289_121);
        let zone = s.rsplit(' ').next().unwrap_or_default();
        // chrono's `%Z` gave `+00:00`; Go (and now this) gives a name or `+0000`.
        assert!(!zone.contains(':'), "{s}");
        assert_eq!(
            s.len() - zone.len(),
            "2026-12-03 09:12:01 +0000 ".len(),
            "{s}"
        );
    }
}
