//! Users and their roles. The backend checks roles (see `api`), not the UI.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Store, to_ms};
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
}

impl Store {
    pub fn user(&self, username: &str) -> Result<Option<User>> {
        self.conn
            .query_row(
                "SELECT username, display_name, role, active FROM users WHERE username = ?1",
                [username],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                },
            )
            .optional()
            .ctx("reading a user")?
            .map(|(username, display_name, role, active)| {
                Ok(User {
                    username,
                    display_name,
                    role: Role::parse(&role)?,
                    active,
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
                "INSERT INTO users (username, display_name, role, active, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (username) DO UPDATE SET
                   display_name = excluded.display_name, role = excluded.role,
                   active = excluded.active",
                params![
                    user.username,
                    user.display_name,
                    user.role.as_str(),
                    user.active,
                    to_ms(now)
                ],
            )
            .ctx("writing a user")?;
        Ok(())
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .conn
            .prepare("SELECT username, display_name, role, active FROM users ORDER BY username")
            .ctx("listing users")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            })
            .ctx("listing users")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing users")?;
        rows.into_iter()
            .map(|(username, display_name, role, active)| {
                Ok(User {
                    username,
                    display_name,
                    role: Role::parse(&role)?,
                    active,
                })
            })
            .collect()
    }
}
