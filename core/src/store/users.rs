//! Users and their roles. The backend checks roles (see `api`), not the UI.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};

/// What a user may do. Ordered by privilege for the checks in `api`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees the catalogue and de-identified data (data engineers, scientists).
    Data,
    /// Reads patients and alarms.
    Viewer,
    /// Reads patients, acts on alarms, alerts patients.
    Clinician,
    /// Configures sources, sync and users; imports the registry.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Data => "data",
            Role::Viewer => "viewer",
            Role::Clinician => "clinician",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "data" => Ok(Role::Data),
            "viewer" => Ok(Role::Viewer),
            "clinician" => Ok(Role::Clinician),
            "admin" => Ok(Role::Admin),
            other => Err(Error::InvalidInput {
                what: "role",
                reason: format!("`{other}` is not one of admin, clinician, viewer, data"),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    /// A service account (the headless runtime's): it logs in only for
    /// `serve` (client `service`), never interactively. Set when the user
    /// is added, changed by `Store::set_user_service`; `put_user` keeps an
    /// existing user's.
    pub service: bool,
}

impl Store {
    pub fn user(&self, username: &str) -> Result<Option<User>> {
        self.conn
            .query_row(
                "SELECT username, display_name, role, active, service FROM users WHERE username = ?1",
                [username],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()
            .ctx("reading a user")?
            .map(|(username, display_name, role, active, service)| {
                Ok(User {
                    username,
                    display_name,
                    role: Role::parse(&role)?,
                    active,
                    service,
                })
            })
            .transpose()
    }

    pub fn user_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .ctx("counting users")
    }

    /// Adds a user, or changes the role and name of an existing one.
    pub fn put_user(&self, user: &User, now: chrono::DateTime<chrono::Utc>) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO users (username, display_name, role, active, created_ms, service)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (username) DO UPDATE SET
                   display_name = excluded.display_name, role = excluded.role,
                   active = excluded.active",
                params![
                    user.username,
                    user.display_name,
                    user.role.as_str(),
                    user.active,
                    to_ms(now),
                    user.service
                ],
            )
            .ctx("writing a user")?;
        Ok(())
    }

    /// Makes a user a service account, or a person again; their sessions
    /// end either way.
    pub fn set_user_service(&self, username: &str, service: bool) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE users SET service = ?2 WHERE username = ?1",
                params![username, service],
            )
            .ctx("writing a user")?;
        if n == 0 {
            return Err(Error::UserNotFound {
                user: crate::text::printable(username).into_owned(),
            });
        }
        self.conn
            .execute("DELETE FROM sessions WHERE username = ?1", [username])
            .ctx("ending a user's sessions")?;
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT username, display_name, role, active, service FROM users ORDER BY username",
            )
            .ctx("listing users")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, bool>(4)?,
                ))
            })
            .ctx("listing users")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing users")?;
        rows.into_iter()
            .map(|(username, display_name, role, active, service)| {
                Ok(User {
                    username,
                    display_name,
                    role: Role::parse(&role)?,
                    active,
                    service,
                })
            })
            .collect()
    }
}

/// What a login checks of a user.
#[derive(Debug, Clone)]
pub(crate) struct UserAuth {
    pub user: User,
    pub password_hash: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
}

impl Store {
    pub(crate) fn user_auth(&self, username: &str) -> Result<Option<UserAuth>> {
        let found = self
            .conn
            .query_row(
                "SELECT password_hash, locked_until_ms FROM users WHERE username = ?1",
                [username],
                |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<i64>>(1)?)),
            )
            .optional()
            .ctx("reading a user's login state")?;
        let Some((password_hash, locked)) = found else {
            return Ok(None);
        };
        let Some(user) = self.user(username)? else {
            return Ok(None);
        };
        Ok(Some(UserAuth {
            user,
            password_hash,
            locked_until: locked.map(from_ms),
        }))
    }

    /// Sets a user's password hash; lifts any lock and ends their sessions.
    pub(crate) fn set_password_hash(
        &self,
        username: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE users SET password_hash = ?2, password_set_ms = ?3, failed_logins = 0,
                   locked_until_ms = NULL WHERE username = ?1",
                params![username, hash, to_ms(now)],
            )
            .ctx("setting a password")?;
        self.end_sessions_of(username)
    }

    /// Counts a failed login; returns the failures in a row and the lock
    /// they earned.
    pub(crate) fn note_login_failure(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>)> {
        let failures: i64 = self
            .conn
            .query_row(
                "UPDATE users SET failed_logins = failed_logins + 1 WHERE username = ?1
                 RETURNING failed_logins",
                [username],
                |r| r.get(0),
            )
            .ctx("counting a failed login")?;
        let until = crate::auth::lock_for(failures).map(|d| now + d);
        self.conn
            .execute(
                "UPDATE users SET locked_until_ms = ?2 WHERE username = ?1",
                params![username, until.map(to_ms)],
            )
            .ctx("locking an account")?;
        Ok((failures, until))
    }

    pub(crate) fn note_login_success(&self, username: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE users SET failed_logins = 0, locked_until_ms = NULL WHERE username = ?1",
                [username],
            )
            .ctx("recording a login")?;
        Ok(())
    }

    pub(crate) fn create_session(
        &self,
        digest: &[u8],
        username: &str,
        client: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Ended sessions go whenever one starts: the table stays small.
        self.conn
            .execute(
                "DELETE FROM sessions WHERE expires_ms <= ?1 OR last_used_ms <= ?2",
                params![to_ms(now), to_ms(now - crate::auth::SESSION_IDLE)],
            )
            .ctx("removing ended sessions")?;
        self.conn
            .execute(
                "INSERT INTO sessions (token_sha256, username, client, created_ms, last_used_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                params![
                    digest,
                    username,
                    client,
                    to_ms(now),
                    to_ms(now + crate::auth::SESSION_MAX)
                ],
            )
            .ctx("opening a session")?;
        Ok(())
    }

    /// When a session ends at the latest (`auth::SESSION_MAX` after it
    /// opened); `None` for no such session.
    pub(crate) fn session_expires(&self, digest: &[u8]) -> Result<Option<DateTime<Utc>>> {
        let ms: Option<i64> = self
            .conn
            .query_row(
                "SELECT expires_ms FROM sessions WHERE token_sha256 = ?1",
                [digest],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading a session's end")?;
        Ok(ms.and_then(DateTime::from_timestamp_millis))
    }

    /// The user of a session that has not ended, marking it used now.
    pub(crate) fn session_user(&self, digest: &[u8], now: DateTime<Utc>) -> Result<Option<String>> {
        let user: Option<String> = self
            .conn
            .query_row(
                "UPDATE sessions SET last_used_ms = ?2
                 WHERE token_sha256 = ?1 AND expires_ms > ?2 AND last_used_ms > ?3
                 RETURNING username",
                params![digest, to_ms(now), to_ms(now - crate::auth::SESSION_IDLE)],
                |r| r.get(0),
            )
            .optional()
            .ctx("resuming a session")?;
        Ok(user)
    }

    /// Like [`Store::session_user`] for a client that asks on every call
    /// (the desktop app): a read, and a write only when the last use it
    /// recorded is over a minute old.
    pub(crate) fn session_alive(
        &self,
        digest: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let found: Option<(String, i64)> = self
            .conn
            .query_row(
                "SELECT username, last_used_ms FROM sessions
                 WHERE token_sha256 = ?1 AND expires_ms > ?2 AND last_used_ms > ?3",
                params![digest, to_ms(now), to_ms(now - crate::auth::SESSION_IDLE)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("checking a session")?;
        match found {
            Some((_, last)) if to_ms(now) - last > 60_000 => self.session_user(digest, now),
            Some((user, _)) => Ok(Some(user)),
            None => Ok(None),
        }
    }

    pub(crate) fn end_session(&self, digest: &[u8]) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM sessions WHERE token_sha256 = ?1", [digest])
            .ctx("ending a session")?;
        Ok(n > 0)
    }

    pub(crate) fn end_sessions_of(&self, username: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sessions WHERE username = ?1", [username])
            .ctx("ending a user's sessions")?;
        Ok(())
    }
}
