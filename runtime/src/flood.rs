//! Whether a source floods the quarantine: a broken or hostile stream that
//! sends mostly bad records is a technical alarm (`tech:quarantine:SOURCE`),
//! not just a number in `ingest status` (issue 9, item 4). Pure: the stage
//! feeds it counts and instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Rejected or conflicting records per minute from one source that make a
/// flood. A healthy ward's sources reject a few records an hour.
pub const FLOOD_PER_MINUTE: usize = 100;
/// The flood ends once a minute holds fewer than this.
pub const FLOOD_ENDS_BELOW: usize = FLOOD_PER_MINUTE / 4;
const WINDOW: Duration = Duration::from_secs(60);

/// One source's rejected records over the last minute.
#[derive(Debug, Default)]
pub struct FloodWatch {
    window: VecDeque<(Instant, usize)>,
    raised: bool,
}

impl FloodWatch {
    /// Records `n` rejected records at `at` (0 from the once-a-second tick);
    /// returns `Some(true)` when a flood starts, `Some(false)` when it ends.
    pub fn record(&mut self, at: Instant, n: usize) -> Option<bool> {
        if n > 0 {
            self.window.push_back((at, n));
        }
        while self
            .window
            .front()
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) >= WINDOW)
        {
            self.window.pop_front();
        }
        let count = self.count();
        if !self.raised && count >= FLOOD_PER_MINUTE {
            self.raised = true;
            return Some(true);
        }
        if self.raised && count < FLOOD_ENDS_BELOW {
            self.raised = false;
            return Some(false);
        }
        None
    }

    /// Rejected records in the last minute.
    pub fn count(&self) -> usize {
        self.window.iter().map(|(_, n)| n).sum()
    }

    /// Nothing to watch: no rejects in the window and no flood raised.
    pub fn is_idle(&self) -> bool {
        self.window.is_empty() && !self.raised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_starts_at_the_rate_and_ends_only_well_below_it() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut w = FloodWatch::default();
        // A few rejects a minute: no alarm.
        for s in 0..60 {
            assert_eq!(w.record(at(s), 1), None);
        }
        // A burst: the alarm starts once, when the minute holds 100.
        let mut started = 0;
        for s in 60..70 {
            if w.record(at(s), 10) == Some(true) {
                started += 1;
            }
        }
        assert_eq!(started, 1);
        // Still 30 a minute: not over yet.
        for s in 70..130 {
            assert_eq!(w.record(at(s), usize::from(s % 2 == 0)), None, "{s}");
        }
        // Quiet: it ends once the burst has left the window.
        let ended = (130..200).find(|s| w.record(at(*s), 0) == Some(false));
        assert!(ended.is_some());
        assert!(w.count() < FLOOD_ENDS_BELOW);
    }
}
