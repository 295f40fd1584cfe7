//! Docker's STATUS column: "Up 3 minutes", "Exited (0) 2 seconds ago", "Up 1 second (Paused)".

use super::record::{ContainerRecord, State};
use ferry_proto::docker::human_duration;

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
