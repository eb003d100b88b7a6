//! Directory logins (issue 12): where the hospital has an LDAP directory
//! (OpenLDAP, or Active Directory, which speaks LDAP v3), a user without a
//! local password logs in with their directory password, and the groups the
//! directory puts them in decide their role. Core knows no LDAP client: the
//! binaries hand [`crate::api::Ctx::login_with`] a [`Directory`] (the
//! runtime's `directory::Ldap`), configured by the `ldap.directory` setting.
//!
//! Rules, all in `Ctx::login_with`:
//! - A local account with a password logs in locally; the directory is
//!   asked only for names without a local password.
//! - The directory decides the role at every login, from
//!   [`DirectoryConfig::group_roles`]; in several mapped groups, the role
//!   first in [`ROLE_PRECEDENCE`] wins. In no mapped group: refused.
//! - A name an admin deactivated stays refused whatever the directory says.
//! - The same lockout, the same answer for every failure, and the same
//!   audit as local logins; a directory that cannot be reached is a clear
//!   error of its own, never a silent local fallback.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Role;

/// The setting that configures the directory (JSON of [`DirectoryConfig`]).
pub const SETTING: &str = "ldap.directory";

/// Where the directory is and how its users and groups are found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Upgrade `ldap://` to TLS with StartTLS before binding.
    #[serde(default)]
    pub starttls: bool,
    /// The DN (or, for Active Directory, the user principal name) to bind
    /// as, with `{user}` for the escaped user name:
    /// `uid={user},ou=people,dc=hospital,dc=example` or
    /// `{user}@hospital.example`.
    pub bind: String,
    /// Where to look the bound user's entry up (its DN is what groups list
    /// as members), with `user_filter`; unset: the bind DN is the entry.
    #[serde(default)]
    pub user_base: Option<String>,
    /// e.g. `(sAMAccountName={user})` for Active Directory.
    #[serde(default)]
    pub user_filter: Option<String>,
    /// Where the groups are (searched for `member` or `uniqueMember` equal
    /// to the user's DN).
    pub group_base: String,
    /// Group DN → role.
    pub group_roles: BTreeMap<String, Role>,
}

/// Which role wins for a user in several mapped groups.
pub const ROLE_PRECEDENCE: [Role; 4] = [Role::Admin, Role::Clinician, Role::Data, Role::Viewer];

impl DirectoryConfig {
    /// Parses and checks the setting's JSON.
    pub fn parse(json: &str) -> std::result::Result<DirectoryConfig, String> {
        let c: DirectoryConfig =
            serde_json::from_str(json).map_err(|e| format!("JSON of the directory ({e})"))?;
        let url = c.url.to_ascii_lowercase();
        if !(url.starts_with("ldap://") || url.starts_with("ldaps://")) {
            return Err("`url` is ldap://host:port or ldaps://host:port".into());
        }
        if url.contains('@') {
            return Err("`url` holds no credentials: users bind with their own".into());
        }
        if !c.bind.contains("{user}") {
            return Err("`bind` must contain {user}".into());
        }
        if c.user_base.is_some() != c.user_filter.is_some() {
            return Err("`user_base` and `user_filter` go together".into());
        }
        if c.group_roles.is_empty() {
            return Err("`group_roles` maps at least one group to a role".into());
        }
        Ok(c)
    }

    /// The role the groups give, if any.
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        let roles: Vec<Role> = groups
            .iter()
            .filter_map(|g| {
                self.group_roles
                    .iter()
                    .find(|(dn, _)| dn.eq_ignore_ascii_case(g))
                    .map(|(_, r)| *r)
            })
            .collect();
        ROLE_PRECEDENCE.into_iter().find(|r| roles.contains(r))
    }
}

/// What a successful directory bind says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user's entry.
    pub dn: String,
    pub display_name: Option<String>,
    /// The DNs of the groups the user is a member of.
    pub groups: Vec<String>,
}

/// An LDAP client, as the binaries provide it.
pub trait Directory {
    /// Binds as `username` with `password`: `Ok(None)` when the directory
    /// refuses the credentials, `Err` when it cannot answer (unreachable,
    /// TLS, a search refused).
    fn authenticate(
        &self,
        config: &DirectoryConfig,
        username: &str,
        password: &str,
    ) -> Result<Option<DirectoryUser>>;
}

/// The error for a directory that cannot answer.
pub fn unavailable(reason: impl Into<String>) -> Error {
    Error::DirectoryUnavailable {
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DirectoryConfig {
        DirectoryConfig::parse(
            r#"{"url": "ldap://127.0.0.1:389", "bind": "uid={user},ou=people,dc=h",
                "group_base": "ou=groups,dc=h",
                "group_roles": {"cn=nurses,ou=groups,dc=h": "clinician",
                                "cn=admins,ou=groups,dc=h": "admin",
                                "cn=readers,ou=groups,dc=h": "viewer"}}"#,
        )
        .expect("valid")
    }

    #[test]
    fn the_most_privileged_mapped_group_decides_and_unmapped_groups_give_nothing() {
        let c = config();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            c.role_for(&g(&[
                "CN=Nurses,OU=groups,DC=h",
                "cn=readers,ou=groups,dc=h"
            ])),
            Some(Role::Clinician)
        );
        assert_eq!(
            c.role_for(&g(&["cn=admins,ou=groups,dc=h"])),
            Some(Role::Admin)
        );
        assert_eq!(c.role_for(&g(&["cn=cafeteria,ou=groups,dc=h"])), None);
        assert_eq!(c.role_for(&[]), None);
    }

    #[test]
    fn a_directory_setting_with_credentials_or_no_user_placeholder_is_refused() {
        for bad in [
            r#"{"url": "ldap://admin:pw@host", "bind": "uid={user}", "group_base": "x", "group_roles": {"a": "admin"}}"#,
            r#"{"url": "http://host", "bind": "uid={user}", "group_base": "x", "group_roles": {"a": "admin"}}"#,
            r#"{"url": "ldap://host", "bind": "uid=fixed", "group_base": "x", "group_roles": {"a": "admin"}}"#,
            r#"{"url": "ldap://host", "bind": "uid={user}", "group_base": "x", "group_roles": {}}"#,
            r#"{"url": "ldap://host", "bind": "uid={user}", "group_base": "x", "group_roles": {"a": "root"}}"#,
            r#"{"url": "ldap://host", "bind": "uid={user}", "group_base": "x", "group_roles": {"a": "admin"}, "extra": 1}"#,
        ] {
            assert!(DirectoryConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
