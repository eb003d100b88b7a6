//! Object-storage sync for Wardwatch: zone writers (raw, cleaned, curated), the
//! sync planner and the archival rules. Empty for now: the sync issue fills it.
//! Like `wardwatch-core`, this crate never depends on `tauri` or webkit.
