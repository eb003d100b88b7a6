//! The crate's one error type. Each variant carries the context a user needs to
//! act on it (which file and line, which patient, which user); `kind()` is what
//! callers branch on (CLI exit codes, the `{code, message}` sent to the UI).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely: callers branch on this, never on message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    NotFound,
    InvalidInput,
    PermissionDenied,
    Storage,
    Io,
    /// Another process holds the store's write lock longer than the busy
    /// timeout: transient, retry later.
    Busy,
    /// The disk under the store is full: retry once space is freed.
    DiskFull,
    /// No store at the given path (nothing was created).
    NoStore,
    /// Another runtime already runs on this store.
    RuntimeRunning,
    /// The store (or a backup) is damaged: restore a backup.
    Damaged,
    /// Not logged in: a wrong password, a locked account, an ended session.
    Unauthenticated,
}

impl ErrorKind {
    /// The stable code the UI and scripts see.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Storage => "storage",
            ErrorKind::Io => "io",
            ErrorKind::Busy => "busy",
            ErrorKind::DiskFull => "disk_full",
            ErrorKind::NoStore => "no_store",
            ErrorKind::RuntimeRunning => "runtime_running",
            ErrorKind::Damaged => "damaged",
            ErrorKind::Unauthenticated => "unauthenticated",
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("patient with MRN `{mrn}` not found")]
    PatientNotFound { mrn: String },

    #[error(
        "user `{user}` is not registered: ask an admin to run `wardwatchctl users add {user} --role clinician`"
    )]
    UnknownUser { user: String },

    #[error("user `{user}` is deactivated: an admin can run `wardwatchctl users activate {user}`")]
    InactiveUser { user: String },

    #[error("user `{user}` is not registered")]
    UserNotFound { user: String },

    #[error("wrong user name or password")]
    LoginFailed,

    #[error(
        "too many failed logins: the account is locked until {until} UTC (an admin can reset its password)"
    )]
    AccountLocked { until: String },

    #[error("the session has ended (logged out, expired, or its user changed): log in again")]
    SessionEnded,

    #[error(
        "the hospital directory (LDAP) cannot answer: {reason}; try again, or ask an admin (a local account still logs in)"
    )]
    DirectoryUnavailable { reason: String },

    #[error("user `{user}` (role {role}) may not {action}: it needs role {needed}")]
    Forbidden {
        user: String,
        role: &'static str,
        action: &'static str,
        needed: &'static str,
    },

    #[error("cannot read `{}`: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not a valid {format} file: {reason}", path.display())]
    InvalidFile {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },

    #[error("unknown import format for `{}`: use a `.csv` file or a FHIR R4 Bundle in `.json`", path.display())]
    UnknownFormat { path: PathBuf },

    #[error("invalid {what}: {reason}")]
    InvalidInput { what: &'static str, reason: String },

    #[error("data directory `{}`: {source}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "no Wardwatch store at `{}`: check --data-dir / WARDWATCH_DATA_DIR, or create one with `wardwatchctl init`",
        path.display()
    )]
    NoStore { path: PathBuf },

    #[error("{reason} `{}`: {fix}", path.display())]
    UnsafeDataDir {
        path: PathBuf,
        reason: String,
        fix: &'static str,
    },

    #[error(
        "a Wardwatch runtime already runs on `{}` ({holder}): stop it first, or use another --data-dir",
        path.display()
    )]
    RuntimeRunning { path: PathBuf, holder: String },

    #[error("database `{}` was written by a newer Wardwatch (schema {found}, this build knows {known}): upgrade Wardwatch", path.display())]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error(
        "the store `{}` is damaged ({problems}): nothing was changed; restore a backup with `wardwatchctl store restore BACKUP` (docs/operations.md)",
        path.display()
    )]
    StoreDamaged { path: PathBuf, problems: String },

    #[error(
        "the store in `{}` is encrypted and its key (id {key_ids}) is not available: it is looked for in the key folder {key_dir} and among keys handed over by the caller (WARDWATCH_STORE_KEY_FILE, the systemd credential `wardwatch-store-key`); restore the key file from the key backup (docs/operations.md)",
        path.display()
    )]
    StoreKeyMissing {
        path: PathBuf,
        key_ids: String,
        key_dir: String,
    },

    #[error(transparent)]
    Recording(#[from] wardwatch_wfdb::Error),

    #[error(transparent)]
    Score(#[from] wardwatch_score::Error),

    #[error("database error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::PatientNotFound { .. } => ErrorKind::NotFound,
            Error::UnknownUser { .. } | Error::InactiveUser { .. } | Error::Forbidden { .. } => {
                ErrorKind::PermissionDenied
            }
            Error::UserNotFound { .. } => ErrorKind::NotFound,
            Error::LoginFailed
            | Error::AccountLocked { .. }
            | Error::SessionEnded
            | Error::DirectoryUnavailable { .. } => ErrorKind::Unauthenticated,
            Error::ReadFile { .. } | Error::DataDir { .. } => ErrorKind::Io,
            Error::NoStore { .. } => ErrorKind::NoStore,
            Error::UnsafeDataDir { .. } | Error::StoreKeyMissing { .. } => {
                ErrorKind::PermissionDenied
            }
            Error::RuntimeRunning { .. } => ErrorKind::RuntimeRunning,
            Error::StoreDamaged { .. } => ErrorKind::Damaged,
            Error::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            } if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
            {
                ErrorKind::Busy
            }
            Error::Sqlite {
                source: rusqlite::Error::SqliteFailure(f, _),
                ..
            } if f.code == rusqlite::ErrorCode::DiskFull => ErrorKind::DiskFull,
            Error::InvalidFile { .. }
            | Error::UnknownFormat { .. }
            | Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::SchemaTooNew { .. } | Error::Sqlite { .. } => ErrorKind::Storage,
            Error::Recording(e) => match e.kind() {
                wardwatch_wfdb::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::InvalidInput,
            },
            Error::Score(_) => ErrorKind::InvalidInput,
        }
    }
}

/// Attaches what the store was doing to a rusqlite error.
pub(crate) trait SqlContext<T> {
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T> SqlContext<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|source| Error::Sqlite { context, source })
    }
}
