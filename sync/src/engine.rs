//! The sync engine: plan, then apply. The planner ([`plan`]) is pure: from
//! what the spool holds and the rules it decides which groups to seal into
//! objects now. Applying seals them (one store transaction each) and sends
//! pending objects to the target, oldest first; an object is synced only
//! once the target acknowledged it and its checksum matched, and only then
//! are its local bytes dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use wardwatch_core::clock::Clock;
use wardwatch_core::settings::stored_number;
use wardwatch_core::store::Store;
use wardwatch_core::store::lake::{LakeObject, LakeStatus, SpoolGroup};

use crate::curated::{Curated, Curator, cut_at};
use crate::error::{Error, Fault};
use crate::target::{Put, Target};

/// When spooled lines become an object (settings `sync.object_kib`,
/// `sync.object_max_minutes`) and when waiting becomes an alarm
/// (`sync.alarm_after_minutes`, `sync.outbox_alarm_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Compressed spool bytes that make an object (1 MiB by default: S3
    /// lifecycle transitions skip objects under 128 KiB).
    pub object_bytes: i64,
    /// Lines older than this are sealed whatever their size.
    pub max_age: Duration,
    /// Data unsynced for longer raises a technical alarm.
    pub alarm_after: Duration,
    /// Unsynced bytes over this raise a technical alarm.
    pub alarm_bytes: i64,
    /// Store data gathered before a commit to the curated tables.
    pub curate_every: Duration,
    /// How long one object's put may take, retries included, before the
    /// pass gives up on the target (a stalled server or link) and waits.
    pub request_timeout: std::time::Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            object_bytes: 1 << 20,
            max_age: Duration::minutes(60),
            alarm_after: Duration::minutes(30),
            alarm_bytes: 1 << 30,
            curate_every: Duration::minutes(60),
            request_timeout: std::time::Duration::from_secs(120),
        }
    }
}

impl Rules {
    /// The rules from the store's settings; a stored value out of range is
    /// an error, never a silent default.
    pub fn from_settings(store: &Store) -> wardwatch_core::error::Result<Rules> {
        let d = Rules::default();
        Ok(Rules {
            object_bytes: stored_number(store, "sync.object_kib")?
                .map_or(d.object_bytes, |k| (k as i64) << 10),
            max_age: stored_number(store, "sync.object_max_minutes")?
                .map_or(d.max_age, |m| Duration::minutes(m as i64)),
            alarm_after: stored_number(store, "sync.alarm_after_minutes")?
                .map_or(d.alarm_after, |m| Duration::minutes(m as i64)),
            alarm_bytes: stored_number(store, "sync.outbox_alarm_mb")?
                .map_or(d.alarm_bytes, |m| (m as i64) << 20),
            curate_every: stored_number(store, "sync.curate_minutes")?
                .map_or(d.curate_every, |m| Duration::minutes(m as i64)),
            request_timeout: stored_number(store, "sync.request_timeout_seconds")?
                .map_or(d.request_timeout, std::time::Duration::from_secs),
        })
    }
}

/// The groups to seal now: all of them when `flush`; else those holding an
/// object's worth, those whose oldest line is past `max_age`, and those of
/// a day that has ended.
pub fn plan<'a>(
    groups: &'a [SpoolGroup],
    now: DateTime<Utc>,
    rules: &Rules,
    flush: bool,
) -> Vec<&'a SpoolGroup> {
    let today = now.format("%Y-%m-%d").to_string();
    groups
        .iter()
        .filter(|g| {
            flush
                || g.bytes >= rules.object_bytes
                || now - g.oldest >= rules.max_age
                || g.day < today
        })
        .collect()
}

/// Why the lake needs attention, if it does: the text of the technical
/// alarm `tech:sync`.
pub fn health(
    status: &LakeStatus,
    last_failure: Option<&Error>,
    now: DateTime<Utc>,
    rules: &Rules,
) -> Option<String> {
    let unsynced: i64 = status
        .zones
        .iter()
        .map(|(_, z)| z.pending_bytes + z.spooled_bytes)
        .sum();
    let waiting = status.oldest_pending.map(|t| now - t);
    let mut why = Vec::new();
    if let Some(w) = waiting.filter(|w| *w >= rules.alarm_after) {
        why.push(format!(
            "lake data has waited {} min for its target",
            w.num_minutes()
        ));
    }
    if unsynced >= rules.alarm_bytes {
        why.push(format!("{} MiB of lake data not synced", unsynced >> 20));
    }
    if let Some(e) = last_failure.filter(|e| matches!(e.fault, Fault::Credentials | Fault::Config))
    {
        why.push(e.to_string());
    }
    if why.is_empty() {
        None
    } else {
        if let Some(e) =
            last_failure.filter(|e| !matches!(e.fault, Fault::Credentials | Fault::Config))
        {
            why.push(format!("last error: {e}"));
        }
        Some(why.join("; "))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pass {
    /// Objects sealed from the spool.
    pub sealed: usize,
    /// Objects written and verified.
    pub written: usize,
    /// Objects found already in the target with the same bytes.
    pub already_there: usize,
    /// Compressed bytes written.
    pub bytes: u64,
    /// Objects still pending after the pass.
    pub pending: usize,
    /// The curated tables' commits, rows and removed orphans.
    pub curated: Curated,
    /// The failure that ended the pass early, or the last per-object one.
    #[serde(skip)]
    pub failure: Option<Error>,
    /// The pass was cancelled (the runtime is stopping) between two windows
    /// of objects; what was not written stays pending.
    pub cancelled: bool,
}

/// One object done, for a progress display.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub object: &'a LakeObject,
    pub put: Put,
    /// Objects and bytes done so far in this pass, of those pending at its start.
    pub done: usize,
    pub total: usize,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Objects sent per pass at most (a pass then reports and starts again).
const PASS_OBJECTS: usize = 512;
/// Objects sent at once.
const IN_FLIGHT: usize = 8;

/// The store, a target and the rules.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    target: Arc<Target>,
    curator: Curator,
    rules: Rules,
    clock: Arc<dyn Clock>,
    cancel: Option<Arc<AtomicBool>>,
}

impl Engine {
    pub fn new(store: Store, target: Target, rules: Rules, clock: Arc<dyn Clock>) -> Engine {
        let target = Arc::new(target);
        Engine {
            store,
            curator: Curator::new(target.clone()),
            target,
            rules,
            clock,
            cancel: None,
        }
    }

    /// Curated commits of at most `rows` minutes, scores or findings each
    /// ([`crate::curated::ROWS_PER_COMMIT`] otherwise).
    pub fn with_curated_rows_per_commit(mut self, rows: usize) -> Engine {
        self.curator = self.curator.with_rows_per_commit(rows);
        self
    }

    /// A pass under way ends early, between two windows of objects and before
    /// the curated tables, once `flag` is set: a runtime that stops is not
    /// held up by a long backlog, and nothing half-written is marked synced.
    pub fn cancel_on(&mut self, flag: Arc<AtomicBool>) {
        self.cancel = Some(flag);
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The store and the target together (the catalogue's manifests are
    /// recorded in one and written to the other).
    pub fn parts(&mut self) -> (&mut Store, &Target) {
        (&mut self.store, &self.target)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    fn store_err(&self, e: wardwatch_core::error::Error) -> Error {
        Error::store(self.target.name(), &e)
    }

    /// Seals what the plan says (everything when `flush`).
    pub fn seal(&mut self, flush: bool) -> Result<usize, Error> {
        let now = self.clock.now();
        let groups = self
            .store
            .lake_spool_groups()
            .map_err(|e| self.store_err(e))?;
        let mut sealed = 0;
        for g in plan(&groups, now, &self.rules, flush) {
            // A group larger than an object becomes several; its remainder
            // waits when it is neither old nor of a closed day. The rest is
            // read back after each object (never estimated), and a group is
            // sealed at most once per row it had, so that lines arriving
            // meanwhile cannot keep this going.
            let mut current = g.clone();
            for _ in 0..g.rows {
                let object = self
                    .store
                    .lake_seal(&current, self.rules.object_bytes)
                    .map_err(|e| self.store_err(e))?;
                if object.is_none() {
                    break;
                }
                sealed += 1;
                let rest = self
                    .store
                    .lake_spool_group(g)
                    .map_err(|e| self.store_err(e))?;
                match rest {
                    Some(rest)
                        if !plan(std::slice::from_ref(&rest), now, &self.rules, flush)
                            .is_empty() =>
                    {
                        current = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(sealed)
    }

    /// One pass: seal, then send pending objects oldest first. A fault of
    /// the target itself (unreachable, credentials, configuration) ends the
    /// pass; a fault of one object (conflict, refused) is recorded on it and
    /// the pass goes on.
    pub async fn pass(
        &mut self,
        flush: bool,
        progress: &mut (dyn FnMut(&Progress<'_>) + Send),
    ) -> Result<Pass, Error> {
        let mut pass = Pass {
            sealed: self.seal(flush)?,
            ..Pass::default()
        };
        let pending = self
            .store
            .lake_pending(PASS_OBJECTS)
            .map_err(|e| self.store_err(e))?;
        let total = pending.len();
        let bytes_total: u64 = pending.iter().map(|o| o.bytes as u64).sum();
        let mut done = 0;
        // A few objects in flight at once: a round trip per object would
        // otherwise bound the rate, not the link or the server.
        'windows: for window in pending.chunks(IN_FLIGHT) {
            if self.cancelled() {
                pass.cancelled = true;
                break 'windows;
            }
            let mut loaded = Vec::with_capacity(window.len());
            for o in window {
                let data = self
                    .store
                    .lake_object_data(&o.key)
                    .map_err(|e| self.store_err(e))?;
                loaded.push((o, data));
            }
            let target = &self.target;
            let deadline = self.rules.request_timeout;
            let puts = loaded.into_iter().map(|(o, data)| async move {
                let len = data.len() as u64;
                let put = target.put(&o.key, data, &o.sha256, &o.md5);
                let result = match tokio::time::timeout(deadline, put).await {
                    Ok(r) => r,
                    // A server that accepts and never answers, a link
                    // that stalls, a hung mount: no answer is a failure.
                    Err(_) => Err(Error::new(
                        target.name(),
                        Fault::Transient,
                        format!(
                            "no answer within {} s for {} (a stalled target or link); it is retried at the next pass (setting sync.request_timeout_seconds)",
                            deadline.as_secs(),
                            o.key
                        ),
                    )),
                };
                (o, len, result)
            });
            let results = futures_util::future::join_all(puts).await;
            let mut stop = false;
            for (o, len, result) in results {
                match result {
                    Ok(put) => {
                        self.store
                            .lake_mark_synced(&o.key, self.target.name(), self.clock.now())
                            .map_err(|e| self.store_err(e))?;
                        match put {
                            Put::Written | Put::Resumed { .. } => {
                                pass.written += 1;
                                pass.bytes += len;
                            }
                            Put::AlreadyThere => pass.already_there += 1,
                        }
                        done += 1;
                        progress(&Progress {
                            object: o,
                            put,
                            done,
                            total,
                            bytes_done: pass.bytes,
                            bytes_total,
                        });
                    }
                    Err(e) => {
                        self.store
                            .lake_mark_failed(&o.key, &e.message, self.clock.now())
                            .map_err(|e| self.store_err(e))?;
                        stop |= matches!(
                            e.fault,
                            Fault::Transient | Fault::Credentials | Fault::Config | Fault::Store
                        );
                        pass.failure = Some(e);
                    }
                }
            }
            if stop {
                break 'windows;
            }
        }
        pass.pending = self
            .store
            .lake_pending(usize::MAX >> 1)
            .map_err(|e| self.store_err(e))?
            .len();
        // The curated tables after the objects: a failure there is recorded
        // and alarms like any other, but never holds up the raw zone.
        pass.cancelled |= self.cancelled();
        if pass.failure.is_none() && !pass.cancelled {
            match self.curate(flush).await {
                Ok(c) => pass.curated = c,
                Err(e) => pass.failure = Some(e),
            }
        }
        Ok(pass)
    }

    /// Brings the curated tables up to date: when `flush`, to the current
    /// minute; else once `curate_every` of settled data has gathered.
    pub async fn curate(&mut self, flush: bool) -> Result<Curated, Error> {
        let now = self.clock.now();
        let cut = cut_at(now, flush);
        let due = flush
            || self
                .store
                .lake_tables()
                .map_err(|e| self.store_err(e))?
                .iter()
                .map(|t| t.watermark)
                .min()
                .is_none_or(|w| cut - w >= self.rules.curate_every)
            || !self
                .store
                .lake_table_intents()
                .map_err(|e| self.store_err(e))?
                .is_empty();
        if !due {
            return Ok(Curated::default());
        }
        // Minutes still in the rollup journal (a runtime merges it every
        // 30 s) are folded into their hours before they are read.
        self.store
            .merge_rollup_journal()
            .map_err(|e| self.store_err(e))?;
        self.curator.curate(&mut self.store, cut, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::store::lake::Zone;

    fn group(day: &str, bytes: i64, oldest: DateTime<Utc>) -> SpoolGroup {
        SpoolGroup {
            zone: Zone::Raw,
            dataset: "observations".into(),
            day: day.into(),
            part: "source=a".into(),
            rows: 1,
            records: 1,
            bytes,
            oldest,
        }
    }

    #[test]
    fn the_plan_seals_full_old_and_closed_day_groups_only() {
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().expect("time");
        let rules = Rules::default();
        let groups = [
            group("2026-11-30", 10_000, now - Duration::minutes(5)),
            group("2026-11-30", 2 << 20, now - Duration::minutes(5)),
            group("2026-11-30", 10_000, now - Duration::minutes(61)),
            group("2026-11-29", 10_000, now - Duration::minutes(5)),
        ];
        let sealed: Vec<_> = plan(&groups, now, &rules, false)
            .into_iter()
            .map(|g| (g.day.as_str(), g.bytes))
            .collect();
        assert_eq!(
            sealed,
            [
                ("2026-11-30", 2 << 20),
                ("2026-11-30", 10_000),
                ("2026-11-29", 10_000)
            ]
        );
        assert_eq!(plan(&groups, now, &rules, true).len(), 4);
    }
}
