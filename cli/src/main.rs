//! `wardwatchctl`: Wardwatch without a window. Imports the registry, lists and
//! shows patients, manages users; later issues add the runtime (`serve`), the
//! simulator and the analysis commands here. It only parses arguments, calls
//! `wardwatch_core::api` and prints: no logic lives in this binary.
//!
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 import finished with
//! rejected rows (the good rows are stored), 4 `status`: no runtime watches
//! the store.

mod safe_out;
mod session;
mod sim;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use wardwatch_core::alarms::{LimitEdit, LimitView};
use wardwatch_core::analysis::SignalChoice;
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::SystemClock;
use wardwatch_core::import::ImportReport;
use wardwatch_core::ingest::source::SourceConfig;
use wardwatch_core::model::PatientSummary;
use wardwatch_core::store::{AuditKeys, Role};

/// mimalloc rather than glibc's malloc: `serve`'s writer thread spent about
/// 12 % of its samples in malloc and free (perf, 5,000 patients). With it,
/// `bench/scale.sh` at 5,000 patients ran 0.50× real time rather than 0.40×
/// on 19 % less CPU, for 15 % more peak memory (594 MB, not 518) (issue 16).
/// The pipeline bench uses the same allocator, so it stays the baseline.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "wardwatchctl",
    version,
    about = "Wardwatch clinical monitoring, headless"
)]
struct Cli {
    /// Where the clinical store lives [default: the OS data directory]
    #[arg(long, global = true, env = "WARDWATCH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Act as this registered user [default: the login name]
    #[arg(long, global = true, env = "WARDWATCH_USER", value_name = "NAME")]
    user: Option<String>,

    /// The folder of audit keys, outside the data directory
    /// [default: $XDG_CONFIG_HOME/wardwatch/keys]
    #[arg(long, global = true, env = "WARDWATCH_KEY_DIR", value_name = "DIR")]
    key_dir: Option<PathBuf>,

    /// Log in for this one command with the password in FILE's first line
    /// (automation, e.g. a systemd credential) instead of the kept session
    #[arg(
        long,
        global = true,
        env = "WARDWATCH_PASSWORD_FILE",
        value_name = "FILE"
    )]
    password_file: Option<PathBuf>,

    /// Log in for this one command with the password on standard input's
    /// first line instead of the kept session
    #[arg(long, global = true)]
    password_stdin: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new store in the data directory; you become its admin (asks
    /// for your new password) and are logged in
    Init,
    /// Log in (asks for the password) and keep the session for later
    /// commands: 60 minutes unused, 12 hours at most
    Login,
    /// End the kept session
    Logout,
    /// Change your own password (asks for the current one)
    Passwd {
        /// The new password: FILE's first line [default: asked twice]
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Import data from the hospital's systems
    #[command(subcommand)]
    Import(ImportCmd),
    /// List and show patients
    #[command(subcommand)]
    Patients(PatientsCmd),
    /// Manage users and roles (admin)
    #[command(subcommand)]
    Users(UsersCmd),
    /// The built-in demo ward
    #[command(subcommand)]
    Demo(DemoCmd),
    /// Compute a NEWS2 score (RCP 2017); omitted parameters give a partial score
    News2(News2Args),
    /// Analyse ECG recordings
    #[command(subcommand)]
    Ecg(EcgCmd),
    /// Configure the cloud stream sources (admin)
    #[command(subcommand)]
    Sources(SourcesCmd),
    /// Ingestion status and the quarantine
    #[command(subcommand)]
    Ingest(IngestCmd),
    /// Run the runtime (sources → store → scoring → alarms) until SIGINT or SIGTERM
    Serve,
    /// Whether a runtime watches this store, and its heartbeat (exit 4 if not)
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Simulate the cloud's vital-sign streams (demo, tests, benchmarks)
    Sim(sim::SimArgs),
    /// List and act on alarms
    #[command(subcommand)]
    Alarms(AlarmsCmd),
    /// Where alerts to patients go, and their delivery
    #[command(subcommand)]
    Messages(MessagesCmd),
    /// Devices, whom they measured, and moving misfiled data
    #[command(subcommand)]
    Devices(DevicesCmd),
    /// Check, back up and restore the store (admin)
    #[command(subcommand)]
    Store(StoreCmd),
    /// Where the store's and the audit trail's keys are kept: the key
    /// folder or the OS keyring (admin)
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Show and change the settings (admin); the runtime reads them at start
    #[command(subcommand)]
    Settings(SettingsCmd),
    /// The data lake: where objects go, syncing them, and the outbox
    #[command(subcommand)]
    Sync(SyncCmd),
    /// The lake's archival rules in the bucket, and restoring archived objects
    #[command(subcommand)]
    Archive(ArchiveCmd),
    /// The dataset catalogue: find datasets, schema versions, partitions and
    /// objects of the lake (data and admin roles; docs/catalog.md)
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// Show the newest audit-log entries, or verify the trail (admin)
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        verify: Option<AuditCmd>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Check every entry against its seal and the head kept beside the
    /// keys; exits 1 and says where when anything was edited, forged,
    /// deleted, inserted or reordered
    Verify {
        #[arg(long)]
        json: bool,
        /// Also compare with the newest head the lake holds (written
        /// once by the runtime's sync under `_audit/CHAIN/`)
        #[arg(long)]
        lake: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DevicesCmd {
    /// Every device with the patient it reports for now
    List {
        #[arg(long)]
        json: bool,
    },
    /// Whom a device measured, and when (the stream's and corrections)
    History {
        device: String,
        #[arg(long)]
        json: bool,
    },
    /// Move a device's data over a time range from one patient to another
    /// (a monitor left assigned to the bed's previous patient); audited
    Move {
        device: String,
        /// The patient the data was filed under
        #[arg(long)]
        from: String,
        /// The patient it belongs to
        #[arg(long)]
        to: String,
        /// Start of the range, RFC 3339 (e.g. 2026-11-30T08:00:00Z)
        #[arg(long, value_parser = parse_time)]
        since: chrono::DateTime<chrono::Utc>,
        /// End of the range (exclusive), RFC 3339
        #[arg(long, value_parser = parse_time)]
        until: chrono::DateTime<chrono::Utc>,
    },
}

/// An RFC 3339 time, or a day `YYYY-MM-DD` meaning its last moment (UTC).
fn parse_time_or_day(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_milli_opt(23, 59, 59, 999)
    {
        return Ok(t.and_utc());
    }
    parse_time(s)
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-30T08:00:00Z ({e})"))
}

#[derive(Debug, Subcommand)]
enum SyncCmd {
    /// Where lake objects go (none configured: the folder DATA_DIR/lake)
    #[command(subcommand)]
    Targets(Box<TargetsCmd>),
    /// Seal spooled data into objects and send pending objects to the
    /// target, verified; until SIGINT, or once with --once
    Run {
        /// One pass, then exit (exit 1 if objects are left pending)
        #[arg(long)]
        once: bool,
        /// Seal everything spooled now, whatever its size or age
        #[arg(long)]
        flush: bool,
    },
    /// Pending and synced objects and bytes per zone, oldest pending, last error
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCmd {
    /// Search the catalogue, e.g. `column:spo2`, `kind:object zone:raw
    /// archive_state:archived`, `dataset:vitals_minute ward:"Ward 2"
    /// date:2026-03` (docs/catalog.md has the syntax and more examples)
    Search {
        /// The query; empty matches everything
        #[arg(default_value = "")]
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Counts of the matches by zone, kind, dataset, ward, storage
        /// class, archive state, sync state, schema version, tag and day
        #[arg(long)]
        facets: bool,
        #[arg(long)]
        json: bool,
    },
    /// One entry in full (its id, as a search shows it)
    Show {
        id: String,
        /// As it was then: RFC 3339, or a day (its end), e.g. 2026-03-31
        #[arg(long, value_parser = parse_time_or_day)]
        at: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long)]
        json: bool,
    },
    /// Schema versions with their columns and what changed between them
    Schemas {
        /// A dataset (`scores` or `curated/scores`); all when left out
        dataset: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every version of an entry: when, by whom, what changed
    History {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Bring the catalogue up to date with the lake now (the runtime does
    /// after each sync pass) (admin)
    Refresh,
    /// Rebuild the search index from the store, after its loss or
    /// corruption (admin)
    Reindex,
    /// Describe an entry: description, owner, tags (admin)
    Annotate {
        id: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// A tag; repeat for several (replaces the annotation's tags)
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ArchiveCmd {
    /// The rules the settings ask for against the bucket's lifecycle
    /// (exit 1 when they differ)
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Write the rules into the bucket's lifecycle and read them back (admin)
    Apply,
    /// Ask the bucket to restore an archived object for some days (admin)
    Restore {
        key: String,
        #[arg(long, default_value_t = 7)]
        days: i32,
    },
}

// Parsed once per command: the size of `Add` does not matter.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
enum TargetsCmd {
    /// Add the target (admin). Credentials come from the AWS chain
    /// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile, web identity,
    /// instance or container role), never from the command line
    Add {
        name: String,
        /// file:///absolute/dir or s3://bucket[/prefix]
        url: String,
        /// An S3-compatible endpoint (SeaweedFS, MinIO, Ceph); omit for AWS
        #[arg(long)]
        endpoint: Option<String>,
        #[arg(long)]
        region: Option<String>,
        /// STANDARD, STANDARD_IA, INTELLIGENT_TIERING, ONEZONE_IA or GLACIER_IR
        #[arg(long)]
        storage_class: Option<String>,
        /// Server-side encryption: AES256 (SSE-S3) or aws:kms (SSE-KMS)
        #[arg(long)]
        sse: Option<String>,
        /// The KMS key for --sse aws:kms (default: the bucket's)
        #[arg(long)]
        sse_kms_key: Option<String>,
        /// The AWS shared-config profile (SSO, assumed role, …)
        #[arg(long)]
        profile: Option<String>,
        /// A PEM file of CA certificates to trust beside the system's (a
        /// hospital CA in front of the object store)
        #[arg(long)]
        ca_bundle: Option<String>,
        /// An Iceberg REST catalog (the URL before /v1) that holds the
        /// curated tables: they are created and committed through it, and
        /// their descriptions and tags become its table properties
        #[arg(long)]
        iceberg_catalog: Option<String>,
        /// Sign the catalog's requests with SigV4 for this service (s3,
        /// s3tables or glue), with the target's credentials
        #[arg(long)]
        iceberg_signing: Option<String>,
        /// The curated tables' namespace in the catalog (default wardwatch;
        /// one per installation where several share a catalog)
        #[arg(long)]
        iceberg_namespace: Option<String>,
    },
    /// The configured target
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a target (admin); pending objects wait for the next
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
enum SettingsCmd {
    /// Every setting, what it holds and its stored value
    List,
    /// Check and store a value
    Set { key: String, value: String },
    /// Remove a value: back to the default
    Unset { key: String },
}

#[derive(Debug, Subcommand)]
enum StoreCmd {
    /// Check the store for damage: SQLite's full integrity_check (minutes
    /// on a large store; `--quick` for quick_check). Exit 1 when damaged
    Check {
        #[arg(long)]
        quick: bool,
    },
    /// Where the store's bytes are: each table with its indexes, free
    /// pages, the WAL (reads every page: a minute or more on a large store)
    Space {
        #[arg(long)]
        json: bool,
    },
    /// Write a checked, owner-only copy of the store to DEST (a new file),
    /// also while the runtime runs
    Backup { dest: PathBuf },
    /// Replace the store with BACKUP after checking it in full; the runtime
    /// must be stopped. The replaced database is kept beside it
    Restore { backup: PathBuf },
    /// Encrypt a store kept in clear, in place (SQLCipher, with a new key
    /// saved in the key folder). The runtime must be stopped and the app
    /// closed
    Encrypt {
        /// Use the key in FILE (32 bytes or 64 hex digits, e.g. for a
        /// systemd credential) instead of a new key in the key folder
        #[arg(long, value_name = "FILE", conflicts_with = "passphrase_file")]
        new_key_file: Option<PathBuf>,
        /// Derive the key from the passphrase on FILE's first line (at
        /// least 12 characters; Argon2id); every later use needs
        /// WARDWATCH_STORE_PASSPHRASE_FILE
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Rotate the encrypted store's key (a new key saved in the key folder);
    /// the old key file is kept for the backups made with it
    Rekey {
        /// Use the key in FILE (32 bytes or 64 hex digits) instead of a new
        /// key in the key folder
        #[arg(long, value_name = "FILE", conflicts_with = "passphrase_file")]
        new_key_file: Option<PathBuf>,
        /// Derive the new key from the passphrase on FILE's first line
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Each key the store needs, and where it is: the key folder, the OS
    /// keyring, or missing
    List {
        #[arg(long)]
        json: bool,
    },
    /// Move every key of the key folder into the OS keyring (Secret
    /// Service): each is stored, read back and compared, then its file is
    /// overwritten and removed
    ToKeyring,
    /// Move the store's keys from the OS keyring back into the key folder
    /// (owner-only files), e.g. to back them up
    ToFolder,
    /// Keep cloud credentials (S3, Kinesis) in the OS keyring as NAME, for
    /// `--credentials keyring:NAME` and AWS profiles; the secret access key
    /// is read from standard input's first line, never an argument
    CloudSet {
        name: String,
        #[arg(long)]
        access_key_id: String,
    },
    /// Remove the cloud credentials NAME from the OS keyring
    CloudRemove { name: String },
    /// Print the cloud credentials NAME as an AWS `credential_process`
    /// (JSON, Version 1), for a profile's `credential_process =
    /// wardwatchctl keys credential-process NAME`; needs no login, only the
    /// unlocked keyring of this session
    CredentialProcess { name: String },
}

#[derive(Debug, clap::Args)]
struct News2Args {
    /// Respiration rate, breaths/min
    #[arg(long)]
    rr: Option<f64>,
    /// SpO2, %
    #[arg(long)]
    spo2: Option<f64>,
    /// SpO2 scale: 1, or 2 for hypercapnic respiratory failure (target 88–92 %)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    scale: u8,
    /// Breathing room air
    #[arg(long, conflicts_with = "oxygen")]
    air: bool,
    /// On supplemental oxygen
    #[arg(long)]
    oxygen: bool,
    /// Systolic blood pressure, mmHg
    #[arg(long)]
    sbp: Option<f64>,
    /// Pulse, beats/min
    #[arg(long)]
    pulse: Option<f64>,
    /// ACVPU: A (alert), C (new confusion), V, P, U
    #[arg(long)]
    consciousness: Option<String>,
    /// Temperature, °C
    #[arg(long)]
    temp: Option<f64>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum EcgCmd {
    /// Beats, heart rate, HRV and rhythm findings of one ECG lead; for a WFDB
    /// record without --signal, also each life-threatening finding confirmed
    /// or suppressed by every lead, pleth and arterial pressure
    Analyze {
        /// A WFDB header (.hea; formats 212, 16, 80) or one sample per line in mV
        file: PathBuf,
        /// Sampling frequency in Hz (required for a sample column)
        #[arg(long)]
        fs: Option<f64>,
        /// Signal of a WFDB record: 0-based index or name (e.g. MLII) [default: 0]
        #[arg(long)]
        signal: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AlarmsCmd {
    /// Alarms, newest first
    List {
        /// Only alarms not yet resolved
        #[arg(long)]
        active: bool,
        /// How many of the newest (1 to 100,000)
        #[arg(long, default_value_t = api::ALARMS_LISTED)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alarm (stops reminders and escalation)
    Ack {
        id: i64,
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an alarm by hand
    Resolve { id: i64 },
    /// Label an alarm for false-alarm review
    Annotate {
        id: i64,
        #[arg(long = "as", value_enum)]
        label: AnnotationArg,
    },
    /// Silence a patient's alarms for a while; a higher priority breaks through
    Silence {
        mrn: String,
        #[arg(long, default_value_t = 2)]
        minutes: u32,
        #[arg(long, value_enum, default_value_t = PriorityArg::Medium)]
        up_to: PriorityArg,
    },
    /// Set a patient's own limit for a vital (reverts at discharge); a side
    /// not given keeps its limit. Prints the limits that now apply.
    Limit {
        mrn: String,
        #[arg(long, value_enum)]
        vital: VitalArg,
        /// The patient's own low limit
        #[arg(long, conflicts_with = "ward_low")]
        low: Option<f64>,
        /// The patient's own high limit
        #[arg(long, conflicts_with = "ward_high")]
        high: Option<f64>,
        /// Back to the ward's low limit
        #[arg(long)]
        ward_low: bool,
        /// Back to the ward's high limit
        #[arg(long)]
        ward_high: bool,
    },
    /// A patient's alarm limits: their own and the ward's
    Limits {
        mrn: String,
        #[arg(long)]
        json: bool,
    },
    /// Send an alert on to the alarm's patient (needs their consent)
    NotifyPatient {
        id: i64,
        #[arg(long)]
        message: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum AnnotationArg {
    True,
    False,
    NonActionable,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PriorityArg {
    Low,
    Medium,
    High,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum VitalArg {
    Hr,
    Spo2,
    Rr,
    Sbp,
    Temp,
}

#[derive(Debug, Subcommand)]
enum MessagesCmd {
    /// Set the Kinesis stream patient messages go to (admin)
    Configure {
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        stream: String,
        #[arg(long, default_value = "eu-west-2")]
        region: String,
        #[arg(long, default_value = "env:WARDWATCH_AWS")]
        credentials: String,
        /// A PEM file of CA certificates to trust beside the system's
        #[arg(long)]
        ca_bundle: Option<String>,
    },
    /// Messages sent to patients, with their delivery state
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SourcesCmd {
    /// Add (or replace) a source
    #[command(subcommand)]
    Add(SourceAdd),
    /// List configured sources
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a source and its checkpoints
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
enum SourceAdd {
    /// A Server-Sent Events gateway
    Sse { name: String, url: String },
    /// An AWS Kinesis Data Streams stream
    Kinesis {
        name: String,
        #[arg(long)]
        endpoint: String,
        #[arg(long)]
        stream: String,
        #[arg(long, default_value = "eu-west-2")]
        region: String,
        /// Where the keys are: env:PREFIX reads PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY;
        /// keyring:NAME reads them from the OS keyring (`keys cloud-set NAME`)
        #[arg(long, default_value = "env:WARDWATCH_AWS")]
        credentials: String,
        /// A PEM file of CA certificates to trust beside the system's (an
        /// endpoint behind the hospital's own CA)
        #[arg(long)]
        ca_bundle: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum IngestCmd {
    /// Per source: records stored and quarantined, reconnects, last sequence, lag
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Records that failed validation, with the reason (admin)
    Quarantine {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ImportCmd {
    /// Import the patient registry: a CSV export or a FHIR R4 Bundle (.json)
    Patients {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PatientsCmd {
    /// The ward overview: every patient, by ward and bed
    List {
        #[arg(long)]
        json: bool,
    },
    /// One patient's full record
    Show {
        mrn: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCmd {
    /// Register a user or change their role
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Their first password: FILE's first line [default: none yet;
        /// set it with `users set-password`]
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
        /// A service account (true) that logs in only for `serve` (the
        /// headless runtime), never at a terminal or in the app; false makes
        /// it a person's account again [default: unchanged]
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        service: Option<bool>,
    },
    /// Set a user's password (lifts a lock, ends their sessions)
    SetPassword {
        name: String,
        /// The new password: FILE's first line [default: asked twice]
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// List registered users
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop a user from opening the store (their audit entries stay)
    Deactivate { name: String },
    /// Let a deactivated user open the store again
    Activate { name: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RoleArg {
    Admin,
    Clinician,
    Viewer,
    Data,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Clinician => Role::Clinician,
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Data => Role::Data,
        }
    }
}

#[derive(Debug, Subcommand)]
enum DemoCmd {
    /// Load the demo ward (24 patients) into the store
    Load {
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Build minute history into the store for its patients (the demo's
    /// and the benchmarks' past; admin): `--long-days` for the first bed's
    /// patient, `--days` for the others; hours already held are kept
    Backfill {
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, default_value_t = 366)]
        long_days: u32,
        /// The last hours' raw readings too (1 Hz, within the raw-numeric
        /// window), as a ward's store holds them: a store at its steady
        /// state for the benchmarks
        #[arg(long, default_value_t = 0)]
        raw_hours: u32,
    },
    /// Write demo registry records as CSV or FHIR, for trying the importer
    Export {
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// How many patients (more than 24 spreads them over several wards)
        #[arg(long, default_value_t = 24)]
        count: usize,
        /// Output file [default: standard output]
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormat {
    Csv,
    Fhir,
}

fn main() -> ExitCode {
    wardwatch_runtime::setup::crypto_without_exit_cleanup();
    wardwatch_runtime::setup::small_pages();
    let cli = Cli::parse();
    // The runtime logs to a rotated file in its store as well (JSON lines);
    // short commands log to standard error only.
    let log_dir = matches!(cli.command, Command::Serve)
        .then(|| data_dir(&cli).ok())
        .flatten()
        .filter(|d| wardwatch_core::store::Store::exists_in(d))
        .map(|d| wardwatch_runtime::setup::log_dir(&d));
    wardwatch_runtime::setup::init_tracing(log_dir.as_deref());
    match run(cli) {
        Ok(code) => code,
        // `wardwatchctl patients list | head` closes our stdout early: not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: {}",
                wardwatch_core::text::printable_lines(&error_text(&e))
            );
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, skipping a cause the message already quotes
/// (library errors include their source's text for the UI's sake).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if !text.contains(&c) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&c);
        }
    }
    text
}

fn data_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    Ok(wardwatch_runtime::setup::data_dir(cli.data_dir.clone())?)
}

/// The key in `path` (32 raw bytes or 64 hex digits), when one is named.
fn new_key_file_key(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<wardwatch_core::store::StoreKey>> {
    let Some(path) = path else { return Ok(None) };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(wardwatch_core::store::StoreKey::from_bytes(&bytes)?))
}

fn keys(cli: &Cli) -> anyhow::Result<AuditKeys> {
    Ok(AuditKeys::in_dir(wardwatch_runtime::setup::key_dir(
        cli.key_dir.clone(),
    )?))
}

fn username(cli: &Cli) -> anyhow::Result<String> {
    Ok(wardwatch_runtime::setup::username(cli.user.clone())?)
}

fn password(cli: &Cli) -> session::PasswordSource {
    session::PasswordSource {
        file: cli.password_file.clone(),
        stdin: cli.password_stdin,
    }
}

/// A new password from `file`, else asked twice on the terminal.
fn new_password(file: &Option<PathBuf>, prompt: &str) -> anyhow::Result<String> {
    session::PasswordSource {
        file: file.clone(),
        stdin: false,
    }
    .new_password(prompt)
}

/// Opens the existing store as the logged-in user (see `session`); a path
/// without one is an error, never a new empty store (a mistyped path must
/// not answer "0 alarms").
fn open(cli: &Cli) -> anyhow::Result<Ctx> {
    session::open(
        &data_dir(cli)?,
        &keys(cli)?,
        &username(cli)?,
        &password(cli),
        "cli",
    )
}

fn sync_command(cli: &Cli, cmd: &SyncCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let ctx = open(cli)?;
    match cmd {
        SyncCmd::Targets(targets) => match targets.as_ref() {
            TargetsCmd::Add {
                name,
                url,
                endpoint,
                region,
                storage_class,
                sse,
                sse_kms_key,
                profile,
                ca_bundle,
                iceberg_catalog,
                iceberg_signing,
                iceberg_namespace,
            } => {
                api::add_lake_target(
                    &ctx,
                    &api::TargetSpec {
                        name: name.clone(),
                        url: url.clone(),
                        endpoint: endpoint.clone(),
                        region: region.clone(),
                        storage_class: storage_class.clone(),
                        sse: sse.clone(),
                        sse_kms_key: sse_kms_key.clone(),
                        profile: profile.clone(),
                        ca_bundle: ca_bundle.clone(),
                        iceberg_catalog: iceberg_catalog.clone(),
                        iceberg_signing: iceberg_signing.clone(),
                        iceberg_namespace: iceberg_namespace.clone(),
                    },
                )?;
                writeln!(
                    out,
                    "lake objects go to {name} ({url}); restart the runtime for it to apply"
                )?;
            }
            TargetsCmd::List { json } => {
                let targets = api::lake_targets(&ctx)?;
                let shown = wardwatch_sync::configured_target(&targets, ctx.data_dir());
                if *json {
                    print_json(out, &targets)?;
                } else if targets.is_empty() {
                    if let Ok(t) = shown {
                        writeln!(
                            out,
                            "no target configured: objects go to the embedded default, {}",
                            t.url
                        )?;
                    }
                } else {
                    for t in targets {
                        writeln!(
                            out,
                            "{:<16} {}{}{}{}{} (added by {} {})",
                            t.name,
                            t.url,
                            t.endpoint
                                .map(|e| format!(" endpoint {e}"))
                                .unwrap_or_default(),
                            t.storage_class
                                .map(|c| format!(" class {c}"))
                                .unwrap_or_default(),
                            t.sse.map(|s| format!(" sse {s}")).unwrap_or_default(),
                            t.iceberg_catalog
                                .map(|c| format!(" iceberg catalog {c}"))
                                .unwrap_or_default(),
                            t.created_by.escape_debug(),
                            t.created.to_rfc3339()
                        )?;
                    }
                }
            }
            TargetsCmd::Remove { name } => {
                api::remove_lake_target(&ctx, name)?;
                writeln!(
                    out,
                    "target {name} removed; pending objects wait for the next target"
                )?;
            }
        },
        SyncCmd::Status { json } => {
            let status = api::lake_status(&ctx)?;
            if *json {
                print_json(out, &status)?;
            } else {
                writeln!(
                    out,
                    "{:<8} {:>9} {:>12} {:>9} {:>12} {:>10} {:>12}",
                    "ZONE", "PENDING", "BYTES", "SYNCED", "BYTES", "SPOOLED", "BYTES"
                )?;
                for (zone, z) in &status.zones {
                    writeln!(
                        out,
                        "{:<8} {:>9} {:>12} {:>9} {:>12} {:>10} {:>12}",
                        zone.as_str(),
                        z.pending_objects,
                        z.pending_bytes,
                        z.synced_objects,
                        z.synced_bytes,
                        z.spooled_records,
                        z.spooled_bytes
                    )?;
                }
                let now = chrono::Utc::now();
                match status.oldest_pending {
                    Some(t) => writeln!(
                        out,
                        "oldest unsynced: {} ({} min ago)",
                        t.to_rfc3339(),
                        (now - t).num_minutes()
                    )?,
                    None => writeln!(out, "nothing waits")?,
                }
                if let Some(t) = status.last_synced {
                    writeln!(out, "last synced: {}", t.to_rfc3339())?;
                }
                let (n, bytes) = status.synced_last_hour;
                writeln!(
                    out,
                    "synced in the last hour: {n} objects, {:.1} MB ({:.1} kB/s)",
                    bytes as f64 / 1e6,
                    bytes as f64 / 3600.0 / 1e3
                )?;
                if let Some((key, e)) = &status.last_error {
                    writeln!(out, "last error: {key}: {}", e.escape_debug())?;
                }
                if status.tables.is_empty() {
                    writeln!(out, "curated tables: none yet (made at the first sync)")?;
                } else {
                    writeln!(
                        out,
                        "{:<16} {:>10} {:>8} {:>8} {:<20} METADATA (read with DuckDB's iceberg_scan)",
                        "TABLE", "ROWS", "COMMITS", "ORPHANS", "UP TO"
                    )?;
                    for t in &status.tables {
                        writeln!(
                            out,
                            "{:<16} {:>10} {:>8} {:>8} {:<20} {}",
                            t.name,
                            t.rows,
                            t.commits,
                            t.orphans_removed,
                            t.watermark.format("%Y-%m-%dT%H:%MZ"),
                            t.metadata_location
                        )?;
                    }
                }
            }
        }
        SyncCmd::Run { once, flush } => {
            api::authorize_sync(&ctx, *flush)?;
            let data_dir = ctx.data_dir().to_owned();
            let target = wardwatch_sync::configured_target(&api::lake_targets(&ctx)?, &data_dir)?;
            drop(ctx);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            return rt.block_on(sync_run(data_dir, target, *once, *flush, out));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn archive_command(cli: &Cli, cmd: &ArchiveCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let ctx = open(cli)?;
    let (action, key) = match cmd {
        ArchiveCmd::Show { .. } => ("show", None),
        ArchiveCmd::Apply => ("apply", None),
        ArchiveCmd::Restore { key, .. } => ("restore", Some(key.as_str())),
    };
    api::authorize_archive(&ctx, action, key)?;
    let target = wardwatch_sync::configured_target(&api::lake_targets(&ctx)?, ctx.data_dir())?;
    let store = wardwatch_core::store::Store::open_dir(ctx.data_dir())?;
    let policy = wardwatch_sync::archive::Policy::from_settings(&store)?;
    drop((ctx, store));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let target = wardwatch_sync::Target::open(&target, None).await?;
        let Some(s3) = target.as_s3() else {
            anyhow::bail!(
                "target `{}` is a folder ({}): archival rules apply to S3 buckets only",
                target.name(),
                target_url_of(&target)
            );
        };
        match cmd {
            ArchiveCmd::Show { json } => {
                let c = s3.compare_lifecycle(&policy).await?;
                if *json {
                    print_json(out, &c)?;
                } else {
                    for r in &c.wanted {
                        writeln!(
                            out,
                            "{:<20} {:<30} > {} B: after {} days to {}{}",
                            r.id,
                            r.prefix,
                            r.min_size.unwrap_or(0),
                            r.transition_days,
                            r.class,
                            r.expire_days.map(|d| format!(", deleted after {d} days")).unwrap_or_default()
                        )?;
                    }
                    for w in c.warnings() {
                        writeln!(out, "warning: {w}")?;
                    }
                    match &c.found {
                        None => writeln!(out, "bucket {}: no lifecycle configuration", s3.bucket())?,
                        Some(_) if c.matches() => writeln!(out, "bucket {}: its lifecycle holds these rules ({} other rules kept)", s3.bucket(), c.others)?,
                        Some(found) => writeln!(out, "bucket {}: its lifecycle differs: {found:?}", s3.bucket())?,
                    }
                }
                Ok(if c.matches() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
            ArchiveCmd::Apply => {
                let c = s3.apply_lifecycle(&policy).await?;
                for w in c.warnings() {
                    writeln!(out, "warning: {w}")?;
                }
                writeln!(
                    out,
                    "bucket {}: {} archival rules written and read back ({} other rules kept)",
                    s3.bucket(),
                    c.wanted.len(),
                    c.others
                )?;
                Ok(ExitCode::SUCCESS)
            }
            ArchiveCmd::Restore { key, days } => {
                s3.restore(key, *days).await?;
                writeln!(out, "restore of {key} requested for {days} days; it reads once the bucket has restored it")?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

fn target_url_of(target: &wardwatch_sync::Target) -> String {
    match target {
        wardwatch_sync::Target::Local(_) => "local folder".into(),
        wardwatch_sync::Target::S3(s) => format!("s3://{}", s.bucket()),
    }
}

async fn sync_run(
    data_dir: PathBuf,
    target: wardwatch_core::store::lake::LakeTarget,
    once: bool,
    flush: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
    let rules = wardwatch_sync::Rules::from_settings(&store)?;
    let target = wardwatch_sync::Target::open(&target, None).await?;
    let mut engine = wardwatch_sync::Engine::new(store, target, rules, Arc::new(SystemClock));
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    loop {
        let mut shown = 0usize;
        let mut bar = |p: &wardwatch_sync::Progress<'_>| {
            shown = p.done;
            if tty {
                let width = 30;
                let filled =
                    (p.bytes_done.min(p.bytes_total) * width / p.bytes_total.max(1)) as usize;
                eprint!(
                    "\r[{}{}] {}/{} objects, {:.1}/{:.1} MB, {:.1} MB/s   ",
                    "#".repeat(filled),
                    " ".repeat(width as usize - filled),
                    p.done,
                    p.total,
                    p.bytes_done as f64 / 1e6,
                    p.bytes_total as f64 / 1e6,
                    p.bytes_done as f64 / 1e6 / started.elapsed().as_secs_f64().max(1e-3)
                );
            }
        };
        let pass = engine.pass(flush, &mut bar).await;
        if tty && shown > 0 {
            eprintln!();
        }
        let pass = pass?;
        // The audit chain's head, write-once, beside the data it audits.
        {
            let (store, target) = engine.parts();
            if let Some(seq) =
                wardwatch_sync::audit::publish_head(store, target, chrono::Utc::now()).await?
            {
                writeln!(out, "audit chain head (entry {seq}) written to the lake")?;
            }
        }
        writeln!(
            out,
            "sealed {} objects; wrote {} ({:.2} MB, verified), {} already there; {} pending",
            pass.sealed,
            pass.written,
            pass.bytes as f64 / 1e6,
            pass.already_there,
            pass.pending
        )?;
        if pass.curated.commits > 0 || pass.curated.orphans_removed > 0 {
            writeln!(
                out,
                "curated tables: {} commits, {} rows; {} files of interrupted commits removed",
                pass.curated.commits, pass.curated.rows, pass.curated.orphans_removed
            )?;
        }
        if once {
            if let Some(e) = pass.failure {
                anyhow::bail!("{e}");
            }
            return Ok(if pass.pending == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if let Some(e) = &pass.failure {
            eprintln!("sync: {e}; retrying in 30 s");
        }
        let wait = if pass.failure.is_some() || pass.pending == 0 {
            30
        } else {
            1
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
        }
    }
}

/// Text safe for a terminal: control and bidirectional-override
/// characters are shown escaped, everything else as it is.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A byte count for people.
fn human_bytes(n: i64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}

/// One line about an entry: its kind, id and what tells it apart.
fn entry_line(e: &wardwatch_core::store::catalog::CatalogEntry) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &e.date {
        parts.push(d.clone());
    }
    if !e.wards.is_empty() {
        parts.push(format!("ward {}", e.wards.join(", ")));
    }
    if let Some(r) = e.rows {
        parts.push(format!("{r} rows"));
    }
    if let Some(b) = e.bytes {
        parts.push(human_bytes(b));
    }
    if let Some(v) = e.schema_version {
        parts.push(format!("schema {v}"));
    }
    if let (Some(a), Some(c)) = (&e.archive_state, &e.storage_class) {
        parts.push(format!("{a} ({c})"));
    }
    if let Some(s) = &e.sync_state {
        parts.push(s.clone());
    }
    if !e.changes.is_empty() && e.kind == wardwatch_core::store::catalog::EntryKind::Schema {
        parts.push(e.changes.join("; "));
    }
    let line = format!(
        "{:<9} {}  {}",
        e.kind.as_str(),
        e.id.split_once(':').map_or(e.id.as_str(), |(_, rest)| rest),
        parts.join(" · ")
    );
    shown(&line)
}

fn catalog_command(cli: &Cli, cmd: &CatalogCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    use wardwatch_catalog::Catalog;
    let ctx = open(cli)?;
    let data_dir = ctx.data_dir().to_owned();
    let index_dir = Catalog::dir_of(&data_dir);
    match cmd {
        CatalogCmd::Search {
            query,
            limit,
            facets,
            json,
        } => {
            api::authorize_catalog(&ctx, "search", serde_json::json!({ "query": query }))?;
            let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let catalog = Catalog::open(&index_dir)?;
            let found = catalog.search(query, *limit, *facets)?;
            let mut hits = Vec::new();
            for h in &found.hits {
                let entry = store.catalog_entry(&h.id)?;
                let columns: Vec<_> = entry
                    .as_ref()
                    .map(|e| {
                        wardwatch_catalog::matched_columns(e, &found.column_terms)
                            .into_iter()
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                hits.push((h, entry, columns));
            }
            if *json {
                let hits: Vec<_> = hits
                    .iter()
                    .map(|(h, e, c)| serde_json::json!({ "id": h.id, "score": h.score, "entry": e, "matched_columns": c }))
                    .collect();
                print_json(
                    out,
                    &serde_json::json!({ "total": found.total, "hits": hits, "facets": found.facets }),
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            writeln!(
                out,
                "{} matches{}",
                found.total,
                if found.total > hits.len() {
                    format!(" (the best {}; --limit for more)", hits.len())
                } else {
                    String::new()
                }
            )?;
            for (h, e, columns) in &hits {
                match e {
                    Some(e) => writeln!(out, "{}", entry_line(e))?,
                    None => writeln!(out, "{} (changed since; run `catalog refresh`)", h.id)?,
                }
                for c in columns {
                    writeln!(
                        out,
                        "          column {} {}{}  {}",
                        c.name,
                        c.ty,
                        if c.required { "" } else { " (optional)" },
                        c.doc
                    )?;
                }
            }
            if let Some(f) = &found.facets {
                for (name, values) in &f.counts {
                    if values.is_empty() {
                        continue;
                    }
                    let counts: Vec<String> =
                        values.iter().map(|(v, n)| format!("{v} {n}")).collect();
                    writeln!(out, "{name}: {}", shown(&counts.join(", ")))?;
                }
            }
        }
        CatalogCmd::Show { id, at, json } => {
            api::authorize_catalog(&ctx, "show", serde_json::json!({ "id": id, "at": at }))?;
            let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let entry = match at {
                None => store.catalog_entry(id)?,
                Some(at) => {
                    let Some(v) = store.catalog_entry_at(id, *at)? else {
                        anyhow::bail!(
                            "catalogue entry `{}` did not exist at {}",
                            id.escape_debug(),
                            at.to_rfc3339()
                        );
                    };
                    if !*json {
                        writeln!(
                            out,
                            "version: {} of {} by {}",
                            v.version,
                            v.at.to_rfc3339(),
                            shown(&v.actor)
                        )?;
                    }
                    v.entry
                }
            };
            let Some(e) = entry else {
                anyhow::bail!(
                    "no catalogue entry `{}`: `catalog search` shows the ids",
                    id.escape_debug()
                );
            };
            if *json {
                print_json(out, &e)?;
            } else {
                let v = serde_json::to_value(&e)?;
                if let Some(obj) = v.as_object() {
                    for (k, v) in obj {
                        let text = match v {
                            serde_json::Value::Null => continue,
                            serde_json::Value::Array(a) if a.is_empty() => continue,
                            serde_json::Value::String(s) if s.is_empty() => continue,
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Array(a) if k == "columns" => a
                                .iter()
                                .map(|c| {
                                    format!(
                                        "\n  {} {}{}  {}",
                                        c["name"].as_str().unwrap_or_default(),
                                        c["type"].as_str().unwrap_or_default(),
                                        if c["required"].as_bool() == Some(true) {
                                            ""
                                        } else {
                                            " (optional)"
                                        },
                                        c["doc"].as_str().unwrap_or_default()
                                    )
                                })
                                .collect(),
                            v => v.to_string(),
                        };
                        let lines: Vec<String> = text.split('\n').map(shown).collect();
                        writeln!(out, "{k}: {}", lines.join("\n"))?;
                    }
                }
            }
        }
        CatalogCmd::Schemas { dataset, json } => {
            api::authorize_catalog(&ctx, "schemas", serde_json::json!({ "dataset": dataset }))?;
            let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let mut schemas = Vec::new();
            store.catalog_each(|e| {
                let wanted = dataset
                    .as_deref()
                    .is_none_or(|d| d == e.dataset || d == format!("{}/{}", e.zone, e.dataset));
                if e.kind == wardwatch_core::store::catalog::EntryKind::Schema && wanted {
                    schemas.push(e);
                }
            })?;
            if schemas.is_empty()
                && let Some(d) = dataset
            {
                anyhow::bail!("no dataset `{}` in the catalogue", d.escape_debug());
            }
            if *json {
                print_json(out, &schemas)?;
            } else {
                for s in &schemas {
                    writeln!(
                        out,
                        "{}/{} schema {} ({}): {}",
                        s.zone,
                        s.dataset,
                        s.schema_version.unwrap_or(0),
                        s.fingerprint.as_deref().unwrap_or("-"),
                        s.changes.join("; ")
                    )?;
                    for c in &s.columns {
                        writeln!(
                            out,
                            "  {:<20} {:<12}{}  {}",
                            c.name,
                            c.ty,
                            if c.required { "" } else { " optional" },
                            c.doc
                        )?;
                    }
                }
            }
        }
        CatalogCmd::History { id, json } => {
            api::authorize_catalog(&ctx, "history", serde_json::json!({ "id": id }))?;
            let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let history = store.catalog_history(id)?;
            if history.is_empty() {
                anyhow::bail!("no catalogue entry `{}` ever", id.escape_debug());
            }
            if *json {
                print_json(out, &history)?;
            } else {
                let mut before: Option<serde_json::Value> = None;
                for v in &history {
                    let now = v.entry.as_ref().map(serde_json::to_value).transpose()?;
                    let changed: Vec<String> = match (&before, &now) {
                        (
                            Some(serde_json::Value::Object(a)),
                            Some(serde_json::Value::Object(b)),
                        ) => b
                            .iter()
                            .filter(|(k, val)| a.get(*k) != Some(val))
                            .map(|(k, val)| match val {
                                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                                    k.clone()
                                }
                                val => format!("{k}={val}"),
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    writeln!(
                        out,
                        "v{} {} {} by {}{}",
                        v.version,
                        v.at.to_rfc3339(),
                        v.change,
                        shown(&v.actor),
                        if changed.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", shown(&changed.join(", ")))
                        }
                    )?;
                    before = now;
                }
            }
        }
        CatalogCmd::Refresh => {
            api::authorize_catalog(&ctx, "refresh", serde_json::json!({}))?;
            let mut store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let who = username(cli)?;
            let r = wardwatch_catalog::refresh(&mut store, &data_dir, &who, chrono::Utc::now())?;
            writeln!(
                out,
                "catalogue: {} created, {} updated, {} removed; {} index entries {}",
                r.store.created,
                r.store.updated,
                r.store.removed,
                r.indexed,
                if r.built { "built" } else { "updated" }
            )?;
            let target = wardwatch_sync::configured_target(&api::lake_targets(&ctx)?, &data_dir)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let written = rt.block_on(async {
                let target = wardwatch_sync::Target::open(&target, None).await?;
                anyhow::Ok(
                    wardwatch_catalog::manifest::publish(&store, &target, chrono::Utc::now())
                        .await?,
                )
            })?;
            writeln!(out, "{written} dataset manifests written to the lake")?;
        }
        CatalogCmd::Reindex => {
            api::authorize_catalog(&ctx, "reindex", serde_json::json!({}))?;
            let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let started = std::time::Instant::now();
            let mut bar = |done: u64, total: u64| {
                if tty {
                    let width = 30u64;
                    let filled = (done.min(total) * width / total.max(1)) as usize;
                    eprint!(
                        "\r[{}{}] {done}/{total} entries   ",
                        "#".repeat(filled),
                        " ".repeat(width as usize - filled)
                    );
                }
            };
            let c = Catalog::rebuild(&index_dir, &store, &mut bar)?;
            if tty {
                eprintln!();
            }
            writeln!(
                out,
                "catalogue index rebuilt: {} entries, {} on disk, in {:.1} s",
                c.len(),
                human_bytes(c.disk_bytes() as i64),
                started.elapsed().as_secs_f64()
            )?;
        }
        CatalogCmd::Annotate {
            id,
            description,
            owner,
            tags,
        } => {
            api::authorize_catalog(
                &ctx,
                "annotate",
                serde_json::json!({ "id": id, "description": description, "owner": owner, "tags": tags }),
            )?;
            let mut store = wardwatch_core::store::Store::open_dir(&data_dir)?;
            if store.catalog_entry(id)?.is_none() {
                anyhow::bail!(
                    "no catalogue entry `{}`: `catalog search` shows the ids",
                    id.escape_debug()
                );
            }
            let who = username(cli)?;
            let tags = (!tags.is_empty()).then_some(tags.as_slice());
            store.catalog_annotate(
                id,
                description.as_deref(),
                owner.as_deref(),
                tags,
                &who,
                chrono::Utc::now(),
            )?;
            let r = wardwatch_catalog::refresh(&mut store, &data_dir, &who, chrono::Utc::now())?;
            writeln!(out, "{id} annotated; {} index entries updated", r.indexed)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the store, or creates it when there is none (`init`, `demo
/// load`): its first admin is you, with the password given (or asked twice),
/// and you are logged in.
fn create(cli: &Cli) -> anyhow::Result<Ctx> {
    let dir = data_dir(cli)?;
    if wardwatch_core::store::Store::exists_in(&dir) {
        return open(cli);
    }
    let (keys, user) = (keys(cli)?, username(cli)?);
    api::validate_username(&user)?;
    let pw = password(cli).new_password(&format!("New password for the store's admin {user}: "))?;
    let ctx = Ctx::create_admin(&dir, &keys, &user, &pw, Arc::new(SystemClock))?;
    drop(ctx);
    session::login_and_keep(&dir, &keys, &user, &pw)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = &mut safe_out::SafeOut::new(std::io::stdout().lock());
    wardwatch_runtime::setup::provide_store_key()?;
    if let Ok(k) = keys(&cli) {
        wardwatch_runtime::vault::install(k.dir());
    }
    match &cli.command {
        Command::Init => {
            let dir = data_dir(&cli)?;
            if wardwatch_core::store::Store::exists_in(&dir) {
                writeln!(
                    out,
                    "a store already exists in {}: left as it was",
                    dir.display()
                )?;
            } else {
                let ctx = create(&cli)?;
                writeln!(
                    out,
                    "store created in {}; {} is its admin, logged in",
                    dir.display(),
                    ctx.actor.username
                )?;
            }
        }
        Command::Login => {
            let (dir, keys, user) = (data_dir(&cli)?, keys(&cli)?, username(&cli)?);
            let pw = password(&cli).get(&format!("Password for {user}: "))?;
            let ctx = session::login_and_keep(&dir, &keys, &user, &pw)?;
            writeln!(
                out,
                "logged in as {} ({}); the session ends after {} minutes unused or {} hours in all",
                ctx.actor.username,
                ctx.actor.role.as_str(),
                wardwatch_core::auth::SESSION_IDLE.num_minutes(),
                wardwatch_core::auth::SESSION_MAX.num_hours()
            )?;
        }
        Command::Logout => {
            let user = username(&cli)?;
            if session::logout(&data_dir(&cli)?, &keys(&cli)?, &user)? {
                writeln!(out, "logged out")?;
            } else {
                writeln!(out, "no session of {user} was kept here")?;
            }
        }
        Command::Passwd { new_password_file } => {
            let (dir, keys, user) = (data_dir(&cli)?, keys(&cli)?, username(&cli)?);
            // The current password, asked for even with a session, proves
            // who changes it.
            let current = password(&cli).get("Current password: ")?;
            let (ctx, _) = Ctx::login(&dir, &keys, &user, &current, "cli", Arc::new(SystemClock))?;
            let new = new_password(new_password_file, "New password: ")?;
            api::change_password(&ctx, &current, &new)?;
            drop(ctx);
            // Changing it ended every session: log this one in again.
            let (_, token) = Ctx::login(&dir, &keys, &user, &new, "cli", Arc::new(SystemClock))?;
            session::keep(&dir, &keys, &user, &token)?;
            writeln!(out, "password changed; your other sessions have ended")?;
        }
        Command::Import(ImportCmd::Patients { file, json }) => {
            let mut ctx = open(&cli)?;
            let report = api::import_patients(&mut ctx, file)?;
            if *json {
                print_json(out, &report)?;
            } else {
                print_import(out, file, &report)?;
            }
            return Ok(if report.is_clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            });
        }
        Command::Patients(PatientsCmd::List { json }) => {
            let list = api::list_patients(&open(&cli)?)?;
            if *json {
                print_json(out, &list)?;
            } else {
                print_patients(out, &list)?;
            }
        }
        Command::Patients(PatientsCmd::Show { mrn, json }) => {
            let view = api::show_patient(&open(&cli)?, mrn)?;
            if *json {
                print_json(out, &view)?;
            } else {
                print_patient(out, &view)?;
            }
        }
        Command::Users(UsersCmd::Add {
            name,
            role,
            new_password_file,
            service,
        }) => {
            let ctx = open(&cli)?;
            api::put_user(&ctx, name, (*role).into())?;
            if let Some(f) = new_password_file {
                api::set_password(&ctx, name, &new_password(&Some(f.clone()), "")?)?;
            }
            if let Some(service) = service {
                api::set_user_service(&ctx, name, *service)?;
                writeln!(
                    out,
                    "{name} is {}",
                    if *service {
                        "a service account: it logs in only for `serve`"
                    } else {
                        "a person's account"
                    }
                )?;
            }
            writeln!(
                out,
                "user {name} now has role {}",
                Role::from(*role).as_str()
            )?;
        }
        Command::Users(UsersCmd::SetPassword {
            name,
            new_password_file,
        }) => {
            let ctx = open(&cli)?;
            let pw = new_password(new_password_file, &format!("New password for {name}: "))?;
            api::set_password(&ctx, name, &pw)?;
            writeln!(out, "password of {name} set; their sessions have ended")?;
        }
        Command::Users(UsersCmd::Deactivate { name }) => {
            api::set_user_active(&open(&cli)?, name, false)?;
            writeln!(out, "user {name} deactivated")?;
        }
        Command::Users(UsersCmd::Activate { name }) => {
            api::set_user_active(&open(&cli)?, name, true)?;
            writeln!(out, "user {name} activated")?;
        }
        Command::Users(UsersCmd::List { json: true }) => {
            print_json(out, &api::list_users(&open(&cli)?)?)?;
        }
        Command::Users(UsersCmd::List { json: false }) => {
            for u in api::list_users(&open(&cli)?)? {
                writeln!(
                    out,
                    "{:<20} {:<10} {}{}",
                    u.username,
                    u.role.as_str(),
                    if u.active { "active" } else { "inactive" },
                    if u.service { ", service account" } else { "" }
                )?;
            }
        }
        Command::Demo(DemoCmd::Load { seed }) => {
            let report = api::load_demo_ward(&mut create(&cli)?, *seed)?;
            writeln!(
                out,
                "demo ward loaded: {} inserted, {} updated, {} unchanged",
                report.inserted, report.updated, report.unchanged
            )?;
        }
        Command::Demo(DemoCmd::Backfill {
            days,
            long_days,
            raw_hours,
        }) => {
            let hours =
                api::backfill_demo_history(&mut open(&cli)?, *days, *long_days, *raw_hours)?;
            writeln!(
                out,
                "history back-filled: {hours} patient-vital-hours written"
            )?;
        }
        Command::Demo(DemoCmd::Export {
            format,
            seed,
            count,
            output,
        }) => {
            let today = chrono::Utc::now().date_naive();
            let records = wardwatch_core::demo::registry(*count, *seed, today);
            let mut sink: Box<dyn Write> = match output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("cannot create `{}`", p.display()))?,
                )),
                None => Box::new(std::io::stdout()),
            };
            match format {
                ExportFormat::Csv => wardwatch_core::import::csv::write(&records, &mut sink)?,
                ExportFormat::Fhir => {
                    serde_json::to_writer_pretty(
                        &mut sink,
                        &wardwatch_core::import::fhir::write(&records),
                    )?;
                    writeln!(sink)?;
                }
            }
            sink.flush()?;
        }
        Command::News2(a) => {
            let consciousness = match &a.consciousness {
                None => None,
                Some(letter) => Some(wardwatch_score::Acvpu::from_letter(letter).with_context(
                    || format!("--consciousness `{letter}` is not one of A, C, V, P, U"),
                )?),
            };
            let input = wardwatch_score::News2Input {
                resp_rate_per_min: a.rr,
                spo2_pct: a.spo2,
                spo2_scale: wardwatch_score::Spo2Scale::from_number(a.scale.into())
                    .unwrap_or_default(),
                breathing: match (a.air, a.oxygen) {
                    (true, _) => Some(wardwatch_score::Breathing::Air),
                    (_, true) => Some(wardwatch_score::Breathing::Oxygen),
                    _ => None,
                },
                systolic_bp_mmhg: a.sbp,
                pulse_per_min: a.pulse,
                consciousness,
                temperature_c: a.temp,
            };
            let score = wardwatch_score::news2(&input)?;
            if a.json {
                print_json(out, &score)?;
            } else {
                writeln!(out, "{score}")?;
            }
        }
        Command::Ecg(EcgCmd::Analyze {
            file,
            fs,
            signal,
            json,
        }) => {
            let choice = signal
                .as_deref()
                .map_or(SignalChoice::First, SignalChoice::parse);
            let report = wardwatch_core::analysis::analyze_ecg_file(file, *fs, &choice)?;
            // Without --signal, a record's every lead, pleth and arterial
            // pressure also decide each life-threatening finding together.
            let bedside = if signal.is_none() {
                wardwatch_core::analysis::analyze_record_signals(file)?
            } else {
                None
            };
            if *json {
                let mut value = serde_json::to_value(&report)?;
                if let (Some(b), Some(map)) = (&bedside, value.as_object_mut()) {
                    map.insert("bedside".into(), serde_json::to_value(b)?);
                }
                print_json(out, &value)?;
            } else {
                writeln!(out, "{report}")?;
                if let Some(b) = &bedside {
                    write!(out, "{b}")?;
                }
            }
        }
        Command::Sources(cmd) => {
            let ctx = open(&cli)?;
            match cmd {
                SourcesCmd::Add(add) => {
                    let config = match add {
                        SourceAdd::Sse { name, url } => SourceConfig::Sse {
                            name: name.clone(),
                            url: url.clone(),
                        },
                        SourceAdd::Kinesis {
                            name,
                            endpoint,
                            stream,
                            region,
                            credentials,
                            ca_bundle,
                        } => SourceConfig::Kinesis {
                            name: name.clone(),
                            endpoint: endpoint.clone(),
                            stream: stream.clone(),
                            region: region.clone(),
                            credentials: credentials.clone(),
                            ca_bundle: ca_bundle.clone(),
                        },
                    };
                    api::put_source(&ctx, &config)?;
                    writeln!(out, "source {} saved", config.name())?;
                }
                SourcesCmd::List { json } => {
                    let list = api::list_sources(&ctx)?;
                    if *json {
                        print_json(out, &list)?;
                    } else {
                        for s in list {
                            match s {
                                SourceConfig::Sse { name, url } => {
                                    writeln!(out, "{name:<16} sse      {url}")?
                                }
                                SourceConfig::Kinesis {
                                    name,
                                    endpoint,
                                    stream,
                                    region,
                                    ..
                                } => writeln!(
                                    out,
                                    "{name:<16} kinesis  {endpoint} stream={stream} region={region}"
                                )?,
                            }
                        }
                    }
                }
                SourcesCmd::Remove { name } => {
                    api::remove_source(&ctx, name)?;
                    writeln!(out, "source {name} removed")?;
                }
            }
        }
        Command::Ingest(IngestCmd::Status { json }) => {
            let status = api::ingest_status(&open(&cli)?)?;
            if *json {
                print_json(out, &status)?;
            } else {
                writeln!(
                    out,
                    "{:<16} {:<8} {:>10} {:>11} {:>10} {:>9} {:>10} {:>9} {:>9}  LAST SEQUENCE",
                    "SOURCE",
                    "KIND",
                    "STORED",
                    "QUARANTINED",
                    "DUPLICATES",
                    "CONFLICTS",
                    "RECONNECTS",
                    "LAG",
                    "PENDING"
                )?;
                for s in status {
                    writeln!(
                        out,
                        "{:<16} {:<8} {:>10} {:>11} {:>10} {:>9} {:>10} {:>9} {:>9}  {}",
                        s.name,
                        s.kind,
                        s.stored,
                        s.quarantined,
                        s.duplicates,
                        s.conflicts,
                        s.reconnects,
                        s.lag_ms
                            .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                            .unwrap_or_else(|| "-".into()),
                        s.oldest_pending_ms
                            .map(|ms| format!("{ms} ms"))
                            .unwrap_or_else(|| "-".into()),
                        s.last_sequence
                            .map(|q| q.escape_debug().to_string())
                            .unwrap_or_else(|| "-".into())
                    )?;
                    if s.quarantine_dropped > 0 {
                        writeln!(
                            out,
                            "{:<16} {} quarantine entries dropped for the quarantine's size budget (oldest first)",
                            "", s.quarantine_dropped
                        )?;
                    }
                    if s.gaps > 0 {
                        writeln!(
                            out,
                            "{:<16} {} records lost at the source before they were read ({} notices; each a technical alarm)",
                            "", s.lost, s.gaps
                        )?;
                    }
                    if let Some(e) = s.last_error {
                        writeln!(out, "{:<16} last error: {e}", "")?;
                    }
                }
            }
        }
        Command::Ingest(IngestCmd::Quarantine { limit, json }) => {
            let q = api::quarantine(&open(&cli)?, *limit)?;
            if *json {
                print_json(out, &q)?;
            } else {
                for r in q {
                    writeln!(
                        out,
                        "{}  {:<12} seq {:<8} {:<18} {}",
                        r.received.format("%Y-%m-%d %H:%M:%S"),
                        r.source,
                        r.sequence.unwrap_or_default().escape_debug(),
                        r.code,
                        r.reason
                    )?;
                }
            }
        }
        Command::Serve => {
            // Resolve the user first: only a registered user of a clinical
            // role (or an admin) may start the runtime, and it is audited.
            // As the headless runtime: the one login a service account has.
            let ctx = session::open(
                &data_dir(&cli)?,
                &keys(&cli)?,
                &username(&cli)?,
                &password(&cli),
                api::SERVICE_CLIENT,
            )?;
            api::runtime_start(&ctx, "wardwatchctl serve")?;
            let data_dir = ctx.data_dir().to_owned();
            // With no notification daemon this still starts: every notice
            // then fails fast and raises the technical alarm in the store.
            let notifier = Box::new(wardwatch_notify::DesktopNotifier::new()?);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let report = rt.block_on(wardwatch_runtime::serve(
                data_dir,
                keys(&cli)?,
                Arc::new(SystemClock),
                notifier,
                shutdown_signal(),
            ));
            let outcome = match &report {
                Ok(_) => "stopped".to_owned(),
                Err(e) => format!("failed: {}", e.kind().code()),
            };
            if let Err(e) = api::runtime_stop(&ctx, &outcome) {
                tracing::error!(error = %e, "the runtime's stop could not be audited");
            }
            let report = report?;
            let t = report.ingest.total();
            let n = &report.notifications;
            let pct = |p| {
                n.latency_percentile_ms(p)
                    .map_or("-".to_owned(), |ms| format!("{ms:.0} ms"))
            };
            writeln!(
                out,
                "stopped: {} stored, {} duplicates, {} quarantined; {} notifications ({} failed), latency from sample arrival p50 {} p99 {}",
                t.stored,
                t.duplicates,
                t.quarantined,
                n.delivered,
                n.failed,
                pct(50.0),
                pct(99.0)
            )?;
            if n.retried > 0 || n.given_up > 0 {
                writeln!(
                    out,
                    "notifications the desktop did not take: {} tried again, {} given up after their retries (left to their alarms' reminders), {} not tried again (acknowledged or resolved meanwhile)",
                    n.retried, n.given_up, n.retries_closed
                )?;
            }
            if n.closed > 0 {
                writeln!(
                    out,
                    "notifications taken down as their alarms were acknowledged or resolved: {}",
                    n.closed
                )?;
            }
            if n.queue_full > 0 {
                writeln!(
                    out,
                    "notifications not sent, their queue full (a burst faster than the desktop takes them; the alarms are in the app's list): {}",
                    n.queue_full
                )?;
            }
            if n.folded > 0 {
                writeln!(
                    out,
                    "new alarms and reminders shown in the summary notification (the desktop showing {} alarm notifications already): {}, in {} updates of it",
                    wardwatch_runtime::stage::ON_SCREEN_MAX,
                    n.folded,
                    n.summary_updates
                )?;
            }
            if n.records_retried > 0 || n.records_lost > 0 {
                writeln!(
                    out,
                    "recording deliveries: {} tried again on a busy store, {} lost (those alarms do not show their notification)",
                    n.records_retried, n.records_lost
                )?;
            }
            if let (Some(a), Some(b)) = (n.parts_percentile_ms(50.0), n.parts_percentile_ms(99.0)) {
                writeln!(
                    out,
                    "latency parts p50/p99 ms: to the writer {:.0}/{:.0}, store {:.0}/{:.0}, stage queue {:.0}/{:.0}, scoring {:.0}/{:.0}, alarm engine {:.0}/{:.0}, notifier queue {:.0}/{:.0}, desktop call {:.0}/{:.0}",
                    a.to_writer,
                    b.to_writer,
                    a.store,
                    b.store,
                    a.stage_queue,
                    b.stage_queue,
                    a.scoring,
                    b.scoring,
                    a.alarm,
                    b.alarm,
                    a.notifier_queue,
                    b.notifier_queue,
                    a.desktop,
                    b.desktop
                )?;
            }
        }
        Command::Alarms(cmd) => run_alarms(&cli, cmd, out)?,
        Command::Status { json } => {
            let ctx = open(&cli)?;
            let status = runtime_status(ctx.data_dir(), chrono::Utc::now());
            if *json {
                print_json(out, &status)?;
            } else {
                writeln!(out, "store    {}", ctx.data_dir().display())?;
                writeln!(
                    out,
                    "runtime  {}",
                    status.holder.as_deref().unwrap_or("none is running")
                )?;
                match &status.heartbeat {
                    Some(h) => writeln!(
                        out,
                        "heartbeat {} ({} s ago, PID {})",
                        h.state,
                        status.heartbeat_age_s.unwrap_or_default(),
                        h.pid
                    )?,
                    None => writeln!(out, "heartbeat none")?,
                }
                writeln!(
                    out,
                    "watched  {}",
                    if status.watched { "yes" } else { "NO" }
                )?;
            }
            if !status.watched {
                return Ok(ExitCode::from(4));
            }
        }
        Command::Sim(args) => {
            let report = sim::run(args)?;
            if args.json {
                print_json(out, &report)?;
            } else {
                writeln!(
                    out,
                    "sim: {} records ({} numeric, {} ECG with {} samples, {} malformed)",
                    report.emitted_total,
                    report.numeric,
                    report.ecg,
                    report.ecg_samples,
                    report.malformed
                )?;
            }
        }
        Command::Messages(cmd) => {
            let ctx = open(&cli)?;
            match cmd {
                MessagesCmd::Configure {
                    endpoint,
                    stream,
                    region,
                    credentials,
                    ca_bundle,
                } => {
                    api::configure_messages(
                        &ctx,
                        &wardwatch_core::messages::MessageDestination {
                            endpoint: endpoint.clone(),
                            stream: stream.clone(),
                            region: region.clone(),
                            credentials: credentials.clone(),
                            ca_bundle: ca_bundle.clone(),
                        },
                    )?;
                    writeln!(out, "patient messages go to stream {stream} at {endpoint}")?;
                }
                MessagesCmd::List { json } => {
                    let list = api::list_messages(&ctx)?;
                    if *json {
                        print_json(out, &list)?;
                    } else {
                        for m in list {
                            writeln!(
                                out,
                                "{:>4} {:<10} alarm {:<5} {:<7} by {:<12} {}",
                                m.id,
                                m.mrn,
                                m.alarm_id.unwrap_or_default(),
                                m.state,
                                m.sent_by,
                                m.last_error.unwrap_or_default()
                            )?;
                        }
                    }
                }
            }
        }
        Command::Devices(DevicesCmd::List { json }) => {
            let devices = api::devices(&open(&cli)?)?;
            if *json {
                print_json(out, &devices)?;
            } else {
                writeln!(out, "{:<24} {:<12} SINCE", "DEVICE", "PATIENT")?;
                for d in devices {
                    writeln!(
                        out,
                        "{:<24} {:<12} {}",
                        d.device.escape_debug().to_string(),
                        d.mrn.unwrap_or_else(|| "-".into()),
                        d.since.map_or("-".into(), |t| t.to_rfc3339())
                    )?;
                }
            }
        }
        Command::Devices(DevicesCmd::History { device, json }) => {
            let history = api::device_history(&open(&cli)?, device)?;
            if *json {
                print_json(out, &history)?;
            } else {
                for a in history {
                    writeln!(
                        out,
                        "{} – {}  {:<12} by {}{}",
                        a.from.to_rfc3339(),
                        a.to.map_or("now".into(), |t| t.to_rfc3339()),
                        a.mrn,
                        a.by,
                        a.note.map(|n| format!(" ({n})")).unwrap_or_default()
                    )?;
                }
            }
        }
        Command::Devices(DevicesCmd::Move {
            device,
            from,
            to,
            since,
            until,
        }) => {
            let report = api::move_device_data(
                &mut open(&cli)?,
                &wardwatch_core::store::devices::DataMove {
                    device,
                    from_mrn: from,
                    to_mrn: to,
                    since: *since,
                    until: *until,
                },
            )?;
            writeln!(
                out,
                "moved {} samples and {} ECG blocks of {device} from {from} to {to}; {} history hours rebuilt, {} scores superseded, {} alarms of {from} marked misfiled",
                report.samples,
                report.ecg_blocks,
                report.hours_rebuilt,
                report.scores_superseded,
                report.alarms_marked
            )?;
        }
        Command::Sync(cmd) => return sync_command(&cli, cmd, out),
        Command::Archive(cmd) => return archive_command(&cli, cmd, out),
        Command::Catalog(cmd) => return catalog_command(&cli, cmd, out),
        Command::Settings(cmd) => {
            let ctx = open(&cli)?;
            match cmd {
                SettingsCmd::List => {
                    for (key, holds, value) in api::settings(&ctx)? {
                        writeln!(
                            out,
                            "{key:<30} {:<40} {holds}",
                            value.as_deref().unwrap_or("(default)")
                        )?;
                    }
                }
                SettingsCmd::Set { key, value } => {
                    api::set_setting(&ctx, key, Some(value))?;
                    writeln!(out, "{key} set; restart the runtime for it to apply")?;
                }
                SettingsCmd::Unset { key } => {
                    api::set_setting(&ctx, key, None)?;
                    writeln!(
                        out,
                        "{key} back to its default; restart the runtime for it to apply"
                    )?;
                }
            }
        }
        Command::Store(StoreCmd::Check { quick }) => {
            let ctx = open(&cli)?;
            let problems = api::check_store(&ctx, !quick)?;
            match api::store_key_id(&ctx)? {
                Some(id) => writeln!(out, "encrypted (SQLCipher, key {id})")?,
                None => writeln!(out, "in clear: `wardwatchctl store encrypt` encrypts it")?,
            }
            if problems.is_empty() {
                writeln!(
                    out,
                    "store ok ({} check)",
                    if *quick { "quick" } else { "integrity" }
                )?;
            } else {
                for p in &problems {
                    writeln!(out, "  {}", p.escape_debug())?;
                }
                anyhow::bail!(
                    "the store is damaged ({} problems): restore a backup with `wardwatchctl store restore BACKUP`",
                    problems.len()
                );
            }
        }
        Command::Store(StoreCmd::Space { json }) => {
            let ctx = open(&cli)?;
            let space = api::store_space(&ctx)?;
            if *json {
                print_json(out, &space)?;
            } else {
                let mb = |b: i64| b as f64 / 1e6;
                let share = |b: i64| 100.0 * b as f64 / space.file_bytes.max(1) as f64;
                writeln!(
                    out,
                    "{:<28} {:>12} {:>6}",
                    "TABLE (WITH INDEXES)", "MB", "%"
                )?;
                for t in &space.tables {
                    writeln!(
                        out,
                        "{:<28} {:>12.1} {:>6.1}",
                        t.table,
                        mb(t.bytes),
                        share(t.bytes)
                    )?;
                }
                writeln!(
                    out,
                    "{:<28} {:>12.1} {:>6.1}",
                    "(free pages)",
                    mb(space.free_bytes),
                    share(space.free_bytes)
                )?;
                writeln!(
                    out,
                    "{:<28} {:>12.1}",
                    "database file",
                    mb(space.file_bytes)
                )?;
                writeln!(
                    out,
                    "{:<28} {:>12.1}",
                    "write-ahead log",
                    space.wal_bytes as f64 / 1e6
                )?;
            }
        }
        Command::Store(cmd @ (StoreCmd::Encrypt { .. } | StoreCmd::Rekey { .. })) => {
            let dir = data_dir(&cli)?;
            let _lock = wardwatch_runtime::lock::RuntimeLock::acquire(&dir, chrono::Utc::now())?;
            let (rotate, new_key_file, passphrase_file) = match cmd {
                StoreCmd::Rekey {
                    new_key_file,
                    passphrase_file,
                } => (true, new_key_file, passphrase_file),
                StoreCmd::Encrypt {
                    new_key_file,
                    passphrase_file,
                } => (false, new_key_file, passphrase_file),
                _ => unreachable!("matched above"),
            };
            let new_key = match (new_key_file_key(new_key_file.as_deref())?, passphrase_file) {
                (Some(k), _) => Some(wardwatch_core::store::cipher::NewKey::given(k)),
                (None, Some(f)) => {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    Some(wardwatch_core::store::cipher::NewKey::from_passphrase(
                        text.lines().next().unwrap_or(""),
                    )?)
                }
                (None, None) => None,
            };
            let done = api::rekey_store(open(&cli)?, rotate, new_key)?;
            match (&done.old_key_id, &done.key_file) {
                (None, _) => writeln!(out, "store encrypted with key {}", done.new_key_id)?,
                (Some(old), _) => writeln!(
                    out,
                    "store key rotated: {old} -> {}; the old key file stays for backups made with it",
                    done.new_key_id
                )?,
            }
            match &done.key_file {
                Some(f) => writeln!(
                    out,
                    "the key is {}: back it up apart from the data (without it the store cannot be read)",
                    f.display()
                )?,
                None => writeln!(
                    out,
                    "the key is the one provided (or derived from the passphrase); keep it where it came from"
                )?,
            }
        }
        Command::Keys(KeysCmd::CredentialProcess { name }) => {
            let c =
                wardwatch_runtime::vault::keyring_credentials(name).map_err(anyhow::Error::msg)?;
            let mut doc = serde_json::json!({
                "Version": 1,
                "AccessKeyId": c.access_key_id,
                "SecretAccessKey": c.secret_access_key,
            });
            if let Some(t) = &c.session_token {
                doc["SessionToken"] = serde_json::Value::String(t.clone());
            }
            // Straight to stdout: the AWS SDK reads it; nothing is escaped.
            let mut raw = std::io::stdout().lock();
            writeln!(raw, "{doc}")?;
        }
        Command::Keys(cmd) => {
            use wardwatch_core::store::cipher::KeyKind;
            use wardwatch_runtime::vault;
            let ctx = open(&cli)?;
            let key_dir = keys(&cli)?.dir().to_owned();
            let (store_ids, audit_ids) = api::store_keys(&ctx)?;
            let needed: Vec<(KeyKind, String)> = store_ids
                .iter()
                .map(|id| (KeyKind::Store, id.clone()))
                .chain(audit_ids.iter().map(|id| (KeyKind::Audit, id.clone())))
                .collect();
            match cmd {
                KeysCmd::List { json } => {
                    let mut rows = Vec::new();
                    for (kind, id) in &needed {
                        let file = match kind {
                            KeyKind::Store => key_dir.join(format!("store-{id}.key")),
                            KeyKind::Audit => key_dir.join(format!("{id}.key")),
                        };
                        let place = if file.is_file() {
                            "folder".to_owned()
                        } else {
                            match vault::holds(*kind, id) {
                                Ok(true) => "keyring".to_owned(),
                                Ok(false) => "missing".to_owned(),
                                Err(e) => format!("unknown ({e})"),
                            }
                        };
                        rows.push(serde_json::json!({
                            "kind": kind.as_str(), "id": id, "where": place,
                        }));
                    }
                    if *json {
                        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
                    } else {
                        for r in &rows {
                            writeln!(
                                out,
                                "{:<6} {}  {}",
                                r["kind"].as_str().unwrap_or(""),
                                r["id"].as_str().unwrap_or(""),
                                r["where"].as_str().unwrap_or("")
                            )?;
                        }
                    }
                }
                KeysCmd::ToKeyring => {
                    let moved = vault::move_to_keyring(&key_dir)?;
                    let ids: Vec<String> = moved.iter().map(|k| k.id.clone()).collect();
                    api::record_key_move(&ctx, "keys.to_keyring", &ids)?;
                    writeln!(
                        out,
                        "{} keys moved into the OS keyring; their files are gone from {}",
                        moved.len(),
                        key_dir.display()
                    )?;
                }
                KeysCmd::CloudSet {
                    name,
                    access_key_id,
                } => {
                    let mut secret = String::new();
                    std::io::stdin().read_line(&mut secret)?;
                    let secret = secret.trim_end_matches(['\r', '\n']);
                    anyhow::ensure!(!secret.is_empty(), "no secret access key on standard input");
                    vault::put_cloud(
                        name,
                        &wardwatch_cloud::Credentials {
                            access_key_id: access_key_id.clone(),
                            secret_access_key: secret.to_owned(),
                            session_token: None,
                        },
                    )?;
                    api::record_key_move(&ctx, "keys.cloud_set", std::slice::from_ref(name))?;
                    writeln!(
                        out,
                        "credentials {name} kept in the OS keyring: use --credentials keyring:{name}"
                    )?;
                }
                KeysCmd::CloudRemove { name } => {
                    let had = vault::remove_cloud(name)?;
                    api::record_key_move(&ctx, "keys.cloud_remove", std::slice::from_ref(name))?;
                    writeln!(
                        out,
                        "{}",
                        if had {
                            format!("credentials {name} removed from the OS keyring")
                        } else {
                            format!("the OS keyring held no credentials {name}")
                        }
                    )?;
                }
                KeysCmd::CredentialProcess { .. } => unreachable!("handled above"),
                KeysCmd::ToFolder => {
                    let moved = vault::move_to_folder(&key_dir, &needed)?;
                    let ids: Vec<String> = moved.iter().map(|k| k.id.clone()).collect();
                    api::record_key_move(&ctx, "keys.to_folder", &ids)?;
                    writeln!(
                        out,
                        "{} keys moved from the OS keyring into {}",
                        moved.len(),
                        key_dir.display()
                    )?;
                }
            }
        }
        Command::Store(StoreCmd::Backup { dest }) => {
            let backup = api::backup_store(&open(&cli)?, dest)?;
            writeln!(
                out,
                "backup written to {} ({:.1} MB, checked)",
                backup.path.display(),
                backup.bytes as f64 / 1e6
            )?;
        }
        Command::Store(StoreCmd::Restore { backup }) => {
            let dir = data_dir(&cli)?;
            // Held throughout: no runtime may start, or be running, meanwhile.
            let _lock = wardwatch_runtime::lock::RuntimeLock::acquire(&dir, chrono::Utc::now())?;
            let who = open(&cli).map_err(|e| match e.downcast::<wardwatch_core::Error>() {
                Ok(core) => core,
                Err(other) => wardwatch_core::Error::InvalidInput {
                    what: "login",
                    reason: other.to_string(),
                },
            });
            let replaced = match who {
                Ok(ctx) => api::restore_store(ctx, backup)?,
                // A damaged store cannot say who its admins are; whoever can
                // reach its owner-only folder owns it, and the restored store
                // records who restored it.
                Err(e) if e.kind() == wardwatch_core::ErrorKind::Damaged => {
                    wardwatch_core::store::backup::restore(
                        &dir,
                        &keys(&cli)?,
                        backup,
                        &username(&cli)?,
                        chrono::Utc::now(),
                    )?
                }
                Err(e) => return Err(e.into()),
            };
            writeln!(
                out,
                "store restored from {}; the replaced database is kept as {}",
                backup.display(),
                replaced.display()
            )?;
        }
        Command::Audit {
            verify: Some(AuditCmd::Verify { json, lake }),
            ..
        } => {
            let ctx = open(&cli)?;
            let mut elsewhere = Vec::new();
            if *lake {
                let chain = api::audit_chain(&ctx)?;
                let t =
                    wardwatch_sync::configured_target(&api::lake_targets(&ctx)?, ctx.data_dir())?;
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let head = rt.block_on(async {
                    let target = wardwatch_sync::Target::open(&t, None).await?;
                    wardwatch_sync::audit::newest_head(&target, &chain).await
                })?;
                match head {
                    Some(h) => elsewhere.push((format!("the lake ({})", t.name), h)),
                    None => writeln!(
                        out,
                        "the lake ({}) holds no head of this trail yet: the runtime's sync writes one every 5 minutes",
                        t.name
                    )?,
                }
            }
            let v = api::verify_audit_with(&ctx, &elsewhere)?;
            if *json {
                print_json(out, &v)?;
            } else {
                writeln!(
                    out,
                    "{} entries: {} verified, {} from before the chain (unsealed); head outside the store: {}",
                    v.entries,
                    v.verified,
                    v.unsealed_before_chain,
                    v.head
                        .as_ref()
                        .map_or("none".to_owned(), |h| format!("entry {}", h.seq))
                )?;
                for p in &v.problems {
                    writeln!(
                        out,
                        "{:<15} {}",
                        serde_json::to_value(&p.kind)?.as_str().unwrap_or("?"),
                        p.what
                    )?;
                }
                writeln!(
                    out,
                    "{}",
                    if v.intact() {
                        "the audit trail is intact"
                    } else {
                        "THE AUDIT TRAIL HAS BEEN TAMPERED WITH (or its keys are missing): see above"
                    }
                )?;
            }
            if !v.intact() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Audit {
            verify: None,
            limit,
            json,
        } => {
            let entries = api::recent_audit(&open(&cli)?, *limit)?;
            if *json {
                print_json(out, &entries)?;
            } else {
                for e in entries {
                    writeln!(
                        out,
                        "{}  {:<12} {:<24} {}",
                        e.at.format("%Y-%m-%d %H:%M:%S"),
                        e.actor,
                        e.action,
                        e.target.unwrap_or_default()
                    )?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether a runtime watches a store, as `status` reports it.
#[derive(Debug, serde::Serialize)]
struct RuntimeStatus {
    holder: Option<String>,
    heartbeat: Option<wardwatch_runtime::supervisor::Heartbeat>,
    heartbeat_age_s: Option<i64>,
    /// A runtime holds the lock and its heartbeat is fresh and `ok`.
    watched: bool,
}

/// A heartbeat older than this means the runtime is not working.
const HEARTBEAT_STALE_S: i64 = 30;

fn runtime_status(data_dir: &std::path::Path, now: chrono::DateTime<chrono::Utc>) -> RuntimeStatus {
    let holder = wardwatch_runtime::lock::holder(data_dir);
    let heartbeat = wardwatch_runtime::supervisor::read_heartbeat(data_dir);
    let heartbeat_age_s = heartbeat.as_ref().map(|h| (now - h.at).num_seconds());
    let watched = holder.is_some()
        && heartbeat.as_ref().is_some_and(|h| h.state == "ok")
        && heartbeat_age_s.is_some_and(|age| age <= HEARTBEAT_STALE_S);
    RuntimeStatus {
        holder,
        heartbeat,
        heartbeat_age_s,
        watched,
    }
}

fn run_alarms(cli: &Cli, cmd: &AlarmsCmd, out: &mut impl Write) -> anyhow::Result<()> {
    use wardwatch_core::alarms::{Annotation, Priority};
    use wardwatch_core::model::Vital;
    let ctx = open(cli)?;
    match cmd {
        AlarmsCmd::List {
            active,
            limit,
            json,
        } => {
            let list = api::list_alarms_up_to(&ctx, *active, *limit)?;
            // The list is only as current as the runtime that writes it.
            if wardwatch_runtime::lock::holder(ctx.data_dir()).is_none() {
                eprintln!(
                    "warning: no runtime is running for this store: these alarms are not being updated (`wardwatchctl serve`)"
                );
            }
            if *json {
                print_json(out, &list)?;
            } else {
                for a in &list {
                    writeln!(
                        out,
                        "{:>5} {:<4} {:<12} {:<20} bed {:<3} {:<40} {}{}{}",
                        a.id,
                        a.priority.marker(),
                        a.state,
                        a.raised.format("%Y-%m-%d %H:%M:%S"),
                        a.bed.as_deref().unwrap_or("-"),
                        a.message,
                        a.patient.as_deref().unwrap_or("system"),
                        a.escalated_to
                            .as_deref()
                            .map(|t| format!("  (escalated to {t})"))
                            .unwrap_or_default(),
                        a.misfiled_to
                            .as_deref()
                            .map(|m| format!("  (misfiled: the data was {m}'s)"))
                            .unwrap_or_default()
                    )?;
                }
                writeln!(out, "{} alarms", list.len())?;
            }
        }
        AlarmsCmd::Ack { id, note } => {
            let a = api::ack_alarm(&ctx, *id, note.as_deref())?;
            writeln!(out, "alarm {} {} by {}", a.id, a.state, ctx.actor.username)?;
        }
        AlarmsCmd::Resolve { id } => {
            let a = api::resolve_alarm(&ctx, *id)?;
            writeln!(out, "alarm {} {}", a.id, a.state)?;
        }
        AlarmsCmd::Annotate { id, label } => {
            let annotation = match label {
                AnnotationArg::True => Annotation::True,
                AnnotationArg::False => Annotation::False,
                AnnotationArg::NonActionable => Annotation::NonActionable,
            };
            api::annotate_alarm(&ctx, *id, annotation)?;
            writeln!(out, "alarm {id} annotated {}", annotation.as_str())?;
        }
        AlarmsCmd::Silence {
            mrn,
            minutes,
            up_to,
        } => {
            let p = match up_to {
                PriorityArg::Low => Priority::Low,
                PriorityArg::Medium => Priority::Medium,
                PriorityArg::High => Priority::High,
            };
            api::silence_patient(&ctx, mrn, *minutes, p)?;
            writeln!(
                out,
                "{mrn}: alarms up to {} silenced for {minutes} min",
                p.as_str()
            )?;
        }
        AlarmsCmd::Limit {
            mrn,
            vital,
            low,
            high,
            ward_low,
            ward_high,
        } => {
            let v = match vital {
                VitalArg::Hr => Vital::HeartRate,
                VitalArg::Spo2 => Vital::Spo2,
                VitalArg::Rr => Vital::RespRate,
                VitalArg::Sbp => Vital::SystolicBp,
                VitalArg::Temp => Vital::TemperatureC,
            };
            let edit = |value: Option<f64>, ward: bool| match (value, ward) {
                (Some(v), _) => LimitEdit::Set(v),
                (None, true) => LimitEdit::Ward,
                (None, false) => LimitEdit::Keep,
            };
            if low.is_none() && high.is_none() && !ward_low && !ward_high {
                anyhow::bail!(
                    "nothing to change: give --low, --high, --ward-low or --ward-high (`alarms limits {mrn}` shows them)"
                );
            }
            let after =
                api::set_alarm_limit(&ctx, mrn, v, edit(*low, *ward_low), edit(*high, *ward_high))?;
            writeln!(out, "{mrn}: {}", limit_line(&after))?;
        }
        AlarmsCmd::Limits { mrn, json } => {
            let limits = api::alarm_limits(&ctx, mrn)?;
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&limits)?)?;
            } else {
                for l in &limits {
                    writeln!(out, "{}", limit_line(l))?;
                }
            }
        }
        AlarmsCmd::NotifyPatient { id, message } => {
            let msg = api::notify_patient(&ctx, *id, message)?;
            writeln!(out, "message {msg} queued for the patient of alarm {id}")?;
            if !api::messaging_configured(&ctx)? {
                writeln!(
                    out,
                    "no message destination is configured yet: `wardwatchctl messages configure` (it stays queued)"
                )?;
            }
            match wardwatch_runtime::lock::holder(ctx.data_dir()) {
                Some(holder) => writeln!(
                    out,
                    "the runtime ({holder}) delivers it; `wardwatchctl messages list` shows its state"
                )?,
                None => eprintln!(
                    "warning: no runtime is running for this store: the message stays queued until `wardwatchctl serve` runs"
                ),
            }
        }
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn print_json(
    out: &mut (impl Write + ?Sized),
    value: &impl serde::Serialize,
) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

fn print_import(
    out: &mut impl Write,
    file: &std::path::Path,
    r: &ImportReport,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "imported {}: {} inserted, {} updated, {} unchanged, {} rejected",
        file.display(),
        r.inserted,
        r.updated,
        r.unchanged,
        r.rejected.len()
    )?;
    for c in &r.cleared {
        writeln!(
            out,
            "  cleared {} (MRN {}): {} (empty in this file)",
            c.location,
            c.mrn,
            c.fields.join(", ")
        )?;
    }
    for bad in &r.rejected {
        match &bad.mrn {
            Some(mrn) => writeln!(
                out,
                "  rejected {} (MRN {mrn}): {}",
                bad.location, bad.reason
            )?,
            None => writeln!(out, "  rejected {}: {}", bad.location, bad.reason)?,
        }
    }
    Ok(())
}

fn print_patients(out: &mut impl Write, list: &[PatientSummary]) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:<10} {:<4} {:<10} {:<26} {:>3} {:<6} {:<5} CONDITIONS",
        "WARD", "BED", "MRN", "NAME", "AGE", "SEX", "SPO2"
    )?;
    for p in list {
        writeln!(
            out,
            "{:<10} {:<4} {:<10} {:<26} {:>3} {:<6} {:<5} {}",
            p.ward.as_deref().unwrap_or("-"),
            p.bed.as_deref().unwrap_or("-"),
            p.mrn,
            p.name,
            p.age_years.map_or("?".to_owned(), |a| a.to_string()),
            p.sex.as_str(),
            format!("S{}", p.spo2_scale.number()),
            p.conditions.join("; ")
        )?;
    }
    writeln!(out, "{} patients", list.len())?;
    Ok(())
}

fn print_patient(out: &mut impl Write, v: &api::PatientView) -> anyhow::Result<()> {
    let r = &v.record;
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let num = |x: Option<f64>, unit: &str| {
        x.map(|x| format!("{x} {unit}"))
            .unwrap_or_else(|| "-".into())
    };
    writeln!(out, "{} ({})", r.display_name(), r.mrn)?;
    match (r.birth_date, v.age_years) {
        (Some(born), Some(age)) => {
            writeln!(out, "  born        {born} ({age} y, {})", r.sex.as_str())?
        }
        _ => writeln!(
            out,
            "  born        unknown (age unknown, {})",
            r.sex.as_str()
        )?,
    }
    writeln!(out, "  ward / bed  {} / {}", opt(&r.ward), opt(&r.bed))?;
    writeln!(out, "  attending   {}", opt(&r.attending))?;
    writeln!(out, "  conditions  {}", r.conditions.join("; "))?;
    writeln!(out, "  medications {}", r.medications.join("; "))?;
    writeln!(
        out,
        "  allergies   {}",
        if r.allergies.is_empty() {
            "none recorded".into()
        } else {
            r.allergies.join("; ")
        }
    )?;
    let b = &r.baseline;
    writeln!(
        out,
        "  baseline    HR {}, RR {}, SBP {}, SpO2 {}, T {}",
        num(b.hr_bpm, "/min"),
        num(b.rr_per_min, "/min"),
        num(b.sbp_mmhg, "mmHg"),
        num(b.spo2_pct, "%"),
        num(b.temp_c, "°C")
    )?;
    writeln!(out, "  NEWS2 SpO2  scale {}", r.spo2_scale.number())?;
    writeln!(
        out,
        "  alerts      {}",
        if r.alert_consent {
            "patient consents to alerts"
        } else {
            "no consent to alerts"
        }
    )?;
    if let Some(a) = r.admitted_at {
        writeln!(out, "  admitted    {}", a.format("%Y-%m-%d %H:%M UTC"))?;
    }
    if let Some(d) = r.discharged_at {
        writeln!(out, "  discharged  {}", d.format("%Y-%m-%d %H:%M UTC"))?;
    }
    Ok(())
}

/// "HR low 40 (ward) · high 150 (patient)": what applies, and whose it is.
fn limit_line(l: &LimitView) -> String {
    let side = |name: &str, applies: Option<f64>, own: Option<f64>| match applies {
        None => format!("{name} none"),
        Some(v) => format!(
            "{name} {v} {}{}",
            l.vital.unit(),
            if own.is_some() {
                " (patient)"
            } else {
                " (ward)"
            }
        ),
    };
    format!(
        "{} {} · {}",
        l.vital.label(),
        side("low", l.low, l.own_low),
        side("high", l.high, l.own_high)
    )
}
