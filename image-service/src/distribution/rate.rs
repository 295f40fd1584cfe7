//! A floor under a blob transfer's rate, as curl's `--speed-limit`/`--speed-time` set one.
//!
//! The stall timeout only bounds the wait for the *next* bytes, so a registry that sends one
//! byte every few seconds never trips it and holds a pull for as long as it likes. A
//! [`RateWindow`] measures a connection over tumbling windows: a window that ends with fewer
//! than `min × elapsed` bytes ends the connection (the download then resumes, within its
//! attempts). Pure, clock passed in, so tests need no sleeping.

use std::time::{Duration, Instant};

/// The least a transfer must move: `min` bytes a second, measured over `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateFloor {
    /// Bytes per second; 0 turns the floor off.
    pub min: u64,
    /// How long the rate is measured over before it is judged.
    pub window: Duration,
}

impl RateFloor {
    /// No floor.
    pub const OFF: RateFloor = RateFloor {
        min: 0,
        window: Duration::from_secs(30),
    };

    /// What a connection must bring in over `elapsed`.
    fn needed(&self, elapsed: Duration) -> u64 {
        let bytes = u128::from(self.min) * elapsed.as_millis() / 1000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Bytes on one connection that show it is healthy (a window's worth): below this, a
    /// connection's progress does not reset the download's attempts, so a drip that is cut
    /// and resumed over and over still runs out of them.
    pub(super) fn healthy_progress(&self) -> u64 {
        self.needed(self.window)
    }
}

impl Default for RateFloor {
    /// 1 KiB/s over 30 s: a healthy registry, even on a poor link, moves far more.
    fn default() -> Self {
        RateFloor {
            min: 1024,
            window: Duration::from_secs(30),
        }
    }
}

/// A connection too slow: what a window brought in against what it needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooSlow {
    pub(super) got: u64,
    pub(super) elapsed: Duration,
}

/// One connection's current window.
#[derive(Debug, Clone)]
pub(super) struct RateWindow {
    floor: RateFloor,
    started: Instant,
    bytes: u64,
}

impl RateWindow {
    /// A window opening at `now` (when a connection opens).
    pub(super) fn new(floor: RateFloor, now: Instant) -> Self {
        RateWindow {
            floor,
            started: now,
            bytes: 0,
        }
    }

    /// Counts `n` bytes received at `now`; judges the window if it has ended, then opens the
    /// next one.
    pub(super) fn record(&mut self, now: Instant, n: u64) -> Result<(), TooSlow> {
        if self.floor.min == 0 {
            return Ok(());
        }
        self.bytes = self.bytes.saturating_add(n);
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < self.floor.window {
            return Ok(());
        }
        if self.bytes < self.floor.needed(elapsed) {
            return Err(TooSlow {
                got: self.bytes,
                elapsed,
            });
        }
        *self = RateWindow::new(self.floor, now);
        Ok(())
    }

    /// How long until the window ends, so a wait for bytes can end in time to judge it;
    /// `None` when there is no floor.
    pub(super) fn remaining(&self, now: Instant) -> Option<Duration> {
        (self.floor.min > 0).then(|| {
            let elapsed = now.saturating_duration_since(self.started);
            self.floor.window.saturating_sub(elapsed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOOR: RateFloor = RateFloor {
        min: 1000,
        window: Duration::from_secs(2),
    };

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn a_drip_is_judged_when_its_window_ends() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(FLOOR, t0);
        // A byte every 500 ms: never a stall, far under 1000 B/s.
        for i in 1..4 {
            assert_eq!(w.record(at(t0, 500 * i), 1), Ok(()));
        }
        assert_eq!(w.remaining(at(t0, 1500)), Some(Duration::from_millis(500)));
        let slow = w.record(at(t0, 2000), 1).unwrap_err();
        assert_eq!((slow.got, slow.elapsed), (4, Duration::from_secs(2)));
    }

    #[test]
    fn a_healthy_window_opens_the_next_and_each_is_judged_alone() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(FLOOR, t0);
        assert_eq!(w.record(at(t0, 100), 5000), Ok(()));
        assert_eq!(w.record(at(t0, 2000), 0), Ok(()));
        assert_eq!(w.remaining(at(t0, 2000)), Some(FLOOR.window));
        // The next window's rate is its own: the earlier burst does not carry a drip.
        let slow = w.record(at(t0, 4500), 10).unwrap_err();
        assert_eq!(slow.got, 10);
        // A late window needs the rate over all of its time, not just the nominal window.
        let mut w = RateWindow::new(FLOOR, t0);
        assert!(w.record(at(t0, 3000), 2500).is_err());
        assert_eq!(
            RateWindow::new(FLOOR, t0).record(at(t0, 3000), 3000),
            Ok(())
        );
    }

    #[test]
    fn no_floor_never_trips() {
        let t0 = Instant::now();
        let mut w = RateWindow::new(RateFloor::OFF, t0);
        assert_eq!(w.record(at(t0, 3_600_000), 0), Ok(()));
        assert_eq!(w.remaining(t0), None);
        assert_eq!(RateFloor::OFF.healthy_progress(), 0);
        assert_eq!(RateFloor::default().healthy_progress(), 30 * 1024);
    }
}
