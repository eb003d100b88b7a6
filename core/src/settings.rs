//! The settings an admin may change (`wardwatchctl settings`), each checked
//! before it is stored: a typo must be refused at the keyboard, not found
//! when the runtime next starts. `messages.destination` has its own command
//! (`messages configure`).

use crate::alarms::Rules;
use crate::error::{Error, Result};

/// A setting: its key and what it holds (also `settings list`'s text).
#[derive(Debug)]
pub struct Setting {
    pub key: &'static str,
    pub holds: &'static str,
    check: fn(&str) -> std::result::Result<(), String>,
}

fn whole(value: &str, min: u64, max: u64) -> std::result::Result<(), String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!("a whole number from {min} to {max}")),
    }
}

/// Every setting `settings set` accepts.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "alarms.rules",
        holds: "the ward's alarm rules, JSON (see `alarms::Rules`)",
        check: |v| {
            let rules = serde_json::from_str::<Rules>(v)
                .map_err(|e| format!("JSON of the alarm rules ({e})"))?;
            rules
                .check()
                .map_err(|e| format!("alarm rules a ward can use ({e})"))
        },
    },
    Setting {
        key: "retention.raw_numerics_hours",
        holds: "hours of raw numeric samples kept (default 24)",
        check: |v| whole(v, 1, 87_600),
    },
    Setting {
        key: "retention.ecg_hours",
        holds: "hours of full-rate ECG kept (default 72)",
        check: |v| whole(v, 1, 87_600),
    },
    Setting {
        key: "quarantine.max_mb",
        holds: "the quarantine's byte budget in MiB (default 256)",
        check: |v| whole(v, 1, 1_000_000),
    },
    Setting {
        key: "quarantine.keep_days",
        holds: "days a quarantined record is kept (default 30)",
        check: |v| whole(v, 1, 3650),
    },
    Setting {
        key: "ldap.directory",
        holds: "the hospital's LDAP directory for logins, JSON (see `directory::DirectoryConfig`; unset: local accounts only)",
        check: |v| crate::directory::DirectoryConfig::parse(v).map(drop),
    },
    Setting {
        key: "backup.dir",
        holds: "folder of scheduled backups, an absolute path (unset: none)",
        check: |v| {
            if std::path::Path::new(v.trim()).is_absolute() {
                Ok(())
            } else {
                Err("an absolute path".into())
            }
        },
    },
    Setting {
        key: "backup.every_hours",
        holds: "hours between scheduled backups (default 24)",
        check: |v| whole(v, 1, 720),
    },
    Setting {
        key: "backup.keep",
        holds: "scheduled backups kept (default 7)",
        check: |v| whole(v, 1, 1000),
    },
    Setting {
        key: "archive.after_days",
        holds: "days lake objects stay in their storage class before raw and cleaned move to the archive class (default 1095 = 3 years; at least that)",
        check: |v| whole(v, 1095, 36_500),
    },
    Setting {
        key: "archive.class",
        holds: "the archive storage class of raw and cleaned objects: GLACIER or DEEP_ARCHIVE (default GLACIER)",
        check: |v| match v.trim() {
            "GLACIER" | "DEEP_ARCHIVE" => Ok(()),
            _ => Err("GLACIER or DEEP_ARCHIVE".into()),
        },
    },
    Setting {
        key: "archive.expire_days",
        holds: "days after which archived raw and cleaned objects are deleted (unset: never; at least archive.after_days + 180)",
        check: |v| whole(v, 1275, 36_500),
    },
    Setting {
        key: "sync.object_kib",
        holds: "compressed size at which spooled lake lines are sealed into an object, KiB (default 1024; S3 does not archive objects under 128 KiB)",
        check: |v| whole(v, 16, 1_048_576),
    },
    Setting {
        key: "sync.object_max_minutes",
        holds: "minutes after which spooled lake lines are sealed whatever their size (default 60)",
        check: |v| whole(v, 1, 1440),
    },
    Setting {
        key: "sync.curate_minutes",
        holds: "minutes of store data gathered before they are committed to the curated Iceberg tables (default 60; each commit adds a snapshot)",
        check: |v| whole(v, 1, 1440),
    },
    Setting {
        key: "sync.alarm_after_minutes",
        holds: "minutes a lake object may wait for its target before a technical alarm (default 30)",
        check: |v| whole(v, 1, 10_080),
    },
    Setting {
        key: "sync.request_timeout_seconds",
        holds: "seconds one lake object's upload may take, retries included, before the pass gives up on a stalled target and waits for the next (default 120)",
        check: |v| whole(v, 1, 3600),
    },
    Setting {
        key: "sync.outbox_alarm_mb",
        holds: "MiB of unsynced lake data that raise a technical alarm (default 1024)",
        check: |v| whole(v, 1, 1_000_000),
    },
];

/// The setting `key`; an unknown key is an error naming the known ones.
pub fn known(key: &str) -> Result<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .ok_or_else(|| Error::InvalidInput {
            what: "setting",
            reason: format!(
                "unknown key `{key}`; known: {}",
                SETTINGS
                    .iter()
                    .map(|s| s.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Checks `value` for `key`.
pub fn check(key: &str, value: &str) -> Result<()> {
    (known(key)?.check)(value).map_err(|expected| Error::InvalidInput {
        what: "setting",
        // A long value (the rules' JSON) is not echoed: the reason in
        // `expected` names the field, and the message stays readable.
        reason: if value.chars().count() <= 40 {
            format!("`{key}` must be {expected}; `{value}` is not")
        } else {
            format!("`{key}` must be {expected}")
        },
    })
}

/// A whole-number setting as stored, checked as `settings set` checks it:
/// `None` when unset; an out-of-range stored value is an error naming the
/// key (the runtime refuses to start on it rather than guess).
pub fn stored_number(store: &crate::store::Store, key: &str) -> Result<Option<u64>> {
    let Some(value) = store.setting(key)? else {
        return Ok(None);
    };
    check(key, &value)?;
    value
        .trim()
        .parse::<u64>()
        .map(Some)
        .map_err(|_| Error::InvalidInput {
            what: "setting",
            reason: format!("`{key}` must be a whole number; `{value}` is not"),
        })
}
