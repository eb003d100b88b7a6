//! Archival rules (docs/data-lake.md, "Archival"): the hospital keeps lake
//! data at least three years in the cloud, then raw and cleaned objects move
//! to an archive storage class, and may expire after more years. Wardwatch
//! applies them as the bucket's lifecycle configuration, reads it back and
//! compares; it never executes transitions itself.
//!
//! - Rules are per zone prefix (`raw/`, `cleaned/`, under the target's
//!   prefix), with ids `wardwatch-<zone>`; rules of other ids in the bucket
//!   are kept as they are.
//! - `ObjectSizeGreaterThan` is set deliberately to 128 KiB − 1: S3 charges
//!   archived objects at least 128 KiB and 40 KiB of metadata, so smaller
//!   ones stay in their class (AWS's default since 2024 is the same; setting
//!   it makes the rule say so rather than depend on the account).
//! - Curated Iceberg data is never moved to a class that cannot be read at
//!   once: an engine reading a table would fail on a GLACIER data file.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, Transition, TransitionStorageClass,
};
use serde::Serialize;
use wardwatch_core::settings::stored_number;
use wardwatch_core::store::Store;

use crate::error::{Error, Fault};
use crate::target::S3Target;

/// Days objects stay in their class before the archive (three years).
pub const MIN_CLOUD_DAYS: u64 = 1095;
/// The smallest object a rule moves, exclusive (128 KiB − 1).
pub const ARCHIVE_MIN_SIZE: i64 = (128 << 10) - 1;
/// Zones whose objects are archived.
pub const ARCHIVED_ZONES: [&str; 2] = ["raw", "cleaned"];

/// The archival policy, from the settings `archive.after_days`,
/// `archive.class` and `archive.expire_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub after_days: u64,
    /// `GLACIER` or `DEEP_ARCHIVE`.
    pub class: String,
    /// `None`: never expire.
    pub expire_days: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            after_days: MIN_CLOUD_DAYS,
            class: "GLACIER".into(),
            expire_days: None,
        }
    }
}

impl Policy {
    pub fn from_settings(store: &Store) -> wardwatch_core::error::Result<Policy> {
        let d = Policy::default();
        Ok(Policy {
            after_days: stored_number(store, "archive.after_days")?.unwrap_or(d.after_days),
            class: match store.setting("archive.class")? {
                Some(c) => {
                    wardwatch_core::settings::check("archive.class", &c)?;
                    c.trim().to_owned()
                }
                None => d.class,
            },
            expire_days: stored_number(store, "archive.expire_days")?,
        })
        .and_then(|p| {
            // S3 charges GLACIER for 90 days and DEEP_ARCHIVE for 180 at least.
            match p.expire_days {
                Some(e) if e < p.after_days + 180 => Err(wardwatch_core::error::Error::InvalidInput {
                    what: "setting",
                    reason: format!(
                        "archive.expire_days ({e}) must be at least archive.after_days ({}) + 180",
                        p.after_days
                    ),
                }),
                _ => Ok(p),
            }
        })
    }

    /// The rules for a bucket whose objects live under `prefix` ("" or
    /// "hospital").
    pub fn rules(&self, prefix: &str) -> Vec<Rule> {
        ARCHIVED_ZONES
            .iter()
            .map(|zone| Rule {
                id: format!("wardwatch-{zone}"),
                prefix: if prefix.is_empty() {
                    format!("{zone}/")
                } else {
                    format!("{prefix}/{zone}/")
                },
                min_size: Some(ARCHIVE_MIN_SIZE),
                transition_days: self.after_days as i32,
                class: self.class.clone(),
                expire_days: self.expire_days.map(|d| d as i32),
            })
            .collect()
    }
}

/// One lifecycle rule as Wardwatch writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: String,
    pub prefix: String,
    /// `None` in a rule read back from a server that dropped the size
    /// filter (moto 5 does).
    pub min_size: Option<i64>,
    pub transition_days: i32,
    pub class: String,
    pub expire_days: Option<i32>,
}

impl Rule {
    fn to_sdk(&self) -> Result<LifecycleRule, String> {
        let mut b = LifecycleRule::builder()
            .id(&self.id)
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .and(
                        LifecycleRuleAndOperator::builder()
                            .prefix(&self.prefix)
                            .set_object_size_greater_than(self.min_size)
                            .build(),
                    )
                    .build(),
            )
            .transitions(
                Transition::builder()
                    .days(self.transition_days)
                    .storage_class(TransitionStorageClass::from(self.class.as_str()))
                    .build(),
            );
        if let Some(days) = self.expire_days {
            b = b.expiration(LifecycleExpiration::builder().days(days).build());
        }
        b.build().map_err(|e| e.to_string())
    }

    /// The rule as read back, where it has Wardwatch's shape.
    fn from_sdk(r: &LifecycleRule) -> Option<Rule> {
        let filter = r.filter()?;
        let (prefix, min_size) = match filter.and() {
            Some(and) => (and.prefix()?.to_owned(), and.object_size_greater_than()),
            None => (
                filter.prefix()?.to_owned(),
                filter.object_size_greater_than(),
            ),
        };
        let t = r.transitions().first()?;
        Some(Rule {
            id: r.id()?.to_owned(),
            prefix,
            min_size,
            transition_days: t.days()?,
            class: t.storage_class()?.as_str().to_owned(),
            expire_days: r.expiration().and_then(|e| e.days()),
        })
    }
}

/// What the bucket holds against what the policy asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    pub wanted: Vec<Rule>,
    /// Wardwatch's rules found in the bucket (`None`: the bucket has no
    /// lifecycle configuration at all).
    pub found: Option<Vec<Rule>>,
    /// Rules of other ids in the bucket, left as they are.
    pub others: usize,
}

impl Comparison {
    /// Whether the bucket holds the wanted rules (a size filter the server
    /// dropped aside: see [`Comparison::warnings`]).
    pub fn matches(&self) -> bool {
        self.found.as_ref().is_some_and(|f| {
            let mut f = f.clone();
            f.sort_by(|a, b| a.id.cmp(&b.id));
            let size_aside = |r: &Rule| Rule {
                min_size: None,
                ..r.clone()
            };
            f.len() == self.wanted.len()
                && f.iter().zip(&self.wanted).all(|(found, wanted)| {
                    found == wanted
                        || (found.min_size.is_none() && size_aside(found) == size_aside(wanted))
                })
        })
    }

    /// What differs without breaking the rules: a server that dropped the
    /// size filter archives objects under 128 KiB too (a cost, not a loss).
    pub fn warnings(&self) -> Vec<String> {
        let dropped = self.found.iter().flatten().any(|r| r.min_size.is_none());
        if dropped {
            vec![format!(
                "the server dropped ObjectSizeGreaterThan ({ARCHIVE_MIN_SIZE} B) from the rules: objects under 128 KiB will be archived too"
            )]
        } else {
            Vec::new()
        }
    }
}

impl S3Target {
    async fn lifecycle(&self) -> Result<Option<Vec<LifecycleRule>>, Error> {
        match self
            .client()
            .get_bucket_lifecycle_configuration()
            .bucket(self.bucket())
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.rules().to_vec())),
            Err(e)
                if aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                    == Some("NoSuchLifecycleConfiguration") =>
            {
                Ok(None)
            }
            Err(e) => Err(self.classify("the bucket's lifecycle", e)),
        }
    }

    /// Reads the bucket's lifecycle and compares it with `policy`.
    pub async fn compare_lifecycle(&self, policy: &Policy) -> Result<Comparison, Error> {
        let mut wanted = policy.rules(self.prefix());
        wanted.sort_by(|a, b| a.id.cmp(&b.id));
        let rules = self.lifecycle().await?;
        let (found, others) = match rules {
            None => (None, 0),
            Some(rules) => {
                let ours: Vec<Rule> = rules
                    .iter()
                    .filter(|r| r.id().is_some_and(|id| id.starts_with("wardwatch-")))
                    .filter_map(Rule::from_sdk)
                    .collect();
                let others = rules
                    .iter()
                    .filter(|r| !r.id().is_some_and(|id| id.starts_with("wardwatch-")))
                    .count();
                (Some(ours), others)
            }
        };
        Ok(Comparison {
            wanted,
            found,
            others,
        })
    }

    /// Writes `policy` into the bucket's lifecycle (keeping rules of other
    /// ids), then reads it back; an error when what was read back differs.
    pub async fn apply_lifecycle(&self, policy: &Policy) -> Result<Comparison, Error> {
        let kept: Vec<LifecycleRule> = self
            .lifecycle()
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|r| !r.id().is_some_and(|id| id.starts_with("wardwatch-")))
            .collect();
        let mut rules = kept;
        for r in policy.rules(self.prefix()) {
            rules.push(r.to_sdk().map_err(|e| Error::config(self.name(), e))?);
        }
        let config = BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| Error::config(self.name(), e.to_string()))?;
        let put = self
            .client()
            .put_bucket_lifecycle_configuration()
            .bucket(self.bucket())
            .lifecycle_configuration(config)
            .send()
            .await;
        if let Err(e) = put {
            let not_implemented = e.raw_response().is_some_and(|r| r.status().as_u16() == 501)
                || aws_sdk_s3::error::ProvideErrorMetadata::code(&e) == Some("NotImplemented");
            if not_implemented {
                return Err(Error::new(
                    self.name(),
                    Fault::Refused,
                    format!(
                        "this S3 server does not implement lifecycle transitions (501 NotImplemented): bucket `{}` cannot archive by itself; use a server that does (AWS S3, Ceph) or archive with its own tools",
                        self.bucket()
                    ),
                ));
            }
            return Err(self.classify("the bucket's lifecycle", e));
        }
        let comparison = self.compare_lifecycle(policy).await?;
        if !comparison.matches() {
            return Err(Error::new(
                self.name(),
                Fault::Refused,
                format!(
                    "bucket `{}` reads back other lifecycle rules than were written: {:?}",
                    self.bucket(),
                    comparison.found
                ),
            ));
        }
        Ok(comparison)
    }

    /// Asks the bucket to restore an archived object for `days`.
    pub async fn restore(&self, key: &str, days: i32) -> Result<(), Error> {
        let full = self.full_key(key);
        let request = aws_sdk_s3::types::RestoreRequest::builder()
            .days(days)
            .glacier_job_parameters(
                aws_sdk_s3::types::GlacierJobParameters::builder()
                    .tier(aws_sdk_s3::types::Tier::Standard)
                    .build()
                    .map_err(|e| Error::config(self.name(), e.to_string()))?,
            )
            .build();
        match self
            .client()
            .restore_object()
            .bucket(self.bucket())
            .key(&full)
            .restore_request(request)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // A restore already under way is not an error.
            Err(e)
                if aws_sdk_s3::error::ProvideErrorMetadata::code(&e)
                    == Some("RestoreAlreadyInProgress") =>
            {
                Ok(())
            }
            Err(e) => Err(self.classify(&full, e)),
        }
    }
}
