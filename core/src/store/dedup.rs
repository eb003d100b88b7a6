//! The observation ids a store saw lately, held in memory by the store that
//! writes the batches.
//!
//! Sources deliver at least once, so a record may come again. The store
//! recognises it in two ways:
//! - by what it says (`vitals::already_held`): the same samples at the same
//!   patient, vital (or lead) and instant are a duplicate, other values
//!   there a conflict. This holds for as long as the samples are stored,
//!   across restarts.
//! - by its id, within [`DEDUP_WINDOW`]: the same id with the same content
//!   is a duplicate; the same id with other content (a value at another
//!   instant, which the first check cannot see) is a conflict.
//!
//! Issue 16: these ids were a table (`seen_ids`, a 64-bit hash per row).
//! Its keys are random, so every batch dirtied nearly every page of it: at
//! 10,000 patients the table was most of what a commit wrote and encrypted,
//! and the pipeline benchmark ran at 0.12× real time with it, 0.26×
//! without. Held here, an id costs a map entry and is gone with the window.
//!
//! What is given up: ids are not remembered across a restart. A record
//! delivered again after a restart is still a duplicate by its content; an
//! id reused for another instant right across a restart is stored as a new
//! sample instead of quarantined.

use std::collections::VecDeque;

/// Id hashes (FNV of what sources send) to digests: foldhash, seeded per
/// process, not SipHash — every record is looked up here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// How long an observation id is remembered: longer than a source's
/// retries and reconnections take (seconds). A record delivered again later
/// is recognised by its content.
pub const DEDUP_WINDOW: chrono::Duration = chrono::Duration::minutes(2);

/// At most this many ids are held, whatever the rate: about 27 s of a
/// 10,000-patient hospital at 5.5 records a patient-second, and ~50 MB
/// (the map's 17 bytes an entry at its load, 8 in the batch list). Beyond
/// it the oldest batches' ids go first.
pub const DEDUP_MAX_IDS: usize = 1_500_000;

/// Ids seen within the window, by batch.
#[derive(Debug, Default)]
pub(crate) struct RecentIds {
    /// Id hash → the observation's digest.
    digests: HashMap<i64, i64>,
    /// Each batch's new ids with the time it was received, oldest first.
    batches: VecDeque<(i64, Vec<i64>)>,
}

/// What the window knows of an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// Not seen within the window: now it is.
    New,
    /// Seen with this content.
    Same,
    /// Seen with other content.
    Other,
}

impl RecentIds {
    /// Starts a batch received at `received_ms`: forgets the ids past the
    /// window, and the oldest beyond [`DEDUP_MAX_IDS`].
    pub(crate) fn begin(&mut self, received_ms: i64) {
        let before = received_ms - DEDUP_WINDOW.num_milliseconds();
        while let Some((at, ids)) = self.batches.front() {
            if *at >= before && self.digests.len() <= DEDUP_MAX_IDS {
                break;
            }
            for id in ids {
                self.digests.remove(id);
            }
            self.batches.pop_front();
        }
        if self.batches.is_empty() {
            // Give the memory back after a burst.
            self.digests.shrink_to(DEDUP_MAX_IDS / 64);
        }
        self.batches.push_back((received_ms, Vec::new()));
    }

    /// Checks `id_hash` and, when new, holds it with `digest` as part of
    /// the batch begun last.
    pub(crate) fn see(&mut self, id_hash: i64, digest: i64) -> Seen {
        match self.digests.entry(id_hash) {
            std::collections::hash_map::Entry::Occupied(e) if *e.get() == digest => Seen::Same,
            std::collections::hash_map::Entry::Occupied(_) => Seen::Other,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(digest);
                if let Some((_, ids)) = self.batches.back_mut() {
                    ids.push(id_hash);
                }
                Seen::New
            }
        }
    }

    /// Forgets the ids of the batch begun last: its transaction was rolled
    /// back, so a retry must find them new again.
    pub(crate) fn undo_last(&mut self) {
        if let Some((_, ids)) = self.batches.pop_back() {
            for id in ids {
                self.digests.remove(&id);
            }
        }
    }

    /// Ids held.
    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_held_for_the_window_then_forgotten() {
        let mut r = RecentIds::default();
        r.begin(0);
        assert_eq!(r.see(1, 10), Seen::New);
        assert_eq!(r.see(1, 10), Seen::Same);
        assert_eq!(r.see(1, 11), Seen::Other);
        r.begin(DEDUP_WINDOW.num_milliseconds());
        assert_eq!(r.see(1, 11), Seen::Other, "still within the window");
        r.begin(DEDUP_WINDOW.num_milliseconds() + 1);
        assert_eq!(r.len(), 0);
        assert_eq!(r.see(1, 11), Seen::New, "past the window");
    }

    #[test]
    fn a_rolled_back_batch_leaves_its_ids_new() {
        let mut r = RecentIds::default();
        r.begin(0);
        assert_eq!(r.see(1, 10), Seen::New);
        r.begin(1);
        assert_eq!(r.see(2, 20), Seen::New);
        assert_eq!(r.see(1, 10), Seen::Same);
        r.undo_last();
        r.begin(2);
        assert_eq!(r.see(2, 20), Seen::New, "the retry stores it");
        assert_eq!(r.see(1, 10), Seen::Same, "the batch before kept its own");
    }

    #[test]
    fn the_oldest_batches_go_beyond_the_cap() {
        let mut r = RecentIds::default();
        let per_batch = DEDUP_MAX_IDS / 4;
        for b in 0..6i64 {
            r.begin(b);
            for i in 0..per_batch as i64 {
                r.see(b * 10_000_000 + i, 0);
            }
        }
        r.begin(7);
        assert!(r.len() <= DEDUP_MAX_IDS, "{}", r.len());
        assert_eq!(r.see(5 * 10_000_000, 0), Seen::Same, "the newest kept");
        assert_eq!(r.see(0, 0), Seen::New, "the oldest forgotten");
    }
}
