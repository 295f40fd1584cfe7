//! Docker's STATUS column: "Up 3 minutes", "Exited (0) 2 seconds ago", "Up 1 second (Paused)".

use super::record::{ContainerRecord, State};

pub fn status_text(c: &ContainerRecord, now: chrono::DateTime<chrono::Utc>) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0)
    };
    match c.state {
        State::Created => "Created".into(),
        State::Running => format!("Up {}", human_duration(since(&c.started_at))),
        State::Paused => format!("Up {} (Paused)", human_duration(since(&c.started_at))),
        State::Restarting => format!(
            "Restarting ({}) {} ago",
            c.exit_code,
            human_duration(since(&c.finished_at))
        ),
        State::Exited => format!(
            "Exited ({}) {} ago",
            c.exit_code,
            human_duration(since(&c.finished_at))
        ),
        State::Dead => "Dead".into(),
    }
}

/// Docker's `units.HumanDuration` (the CLI keeps the same rules for CREATED).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let hours = (s as f64 / 3600.0 + 0.5) as i64;
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", s / 60),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", s / 3600 / 24 / 365),
    }
}
