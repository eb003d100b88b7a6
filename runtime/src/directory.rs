//! The LDAP client behind directory logins (`wardwatch_core::directory`):
//! a simple bind as the user (RFC 4513 §5.1.3), then the groups whose
//! `member` (or `uniqueMember`) is the user's DN, which is how both
//! OpenLDAP's `groupOfNames` and Active Directory's `group` list members.
//! With `user_base`/`user_filter` (Active Directory, binding with a user
//! principal name) the user's own entry is looked up first for its DN.
//!
//! An empty password is refused before any bind: LDAP treats a simple bind
//! with a name and no password as an *unauthenticated* bind that succeeds
//! (RFC 4513 §5.1.2), the classic way into applications that forget it.
//! Values are escaped for DNs (RFC 4514) and filters (RFC 4515).

use std::time::Duration;

use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry, dn_escape, ldap_escape};
use wardwatch_core::Result;
use wardwatch_core::directory::{Directory, DirectoryConfig, DirectoryUser, unavailable};

/// Bind results that mean "not these credentials" (RFC 4511 §4.1.9):
/// noSuchObject, invalidDNSyntax, inappropriateAuthentication,
/// invalidCredentials, unwillingToPerform (Active Directory's answer for a
/// disabled or expired account). Any other failure means the directory
/// could not answer.
const REFUSED: [u32; 5] = [32, 34, 48, 49, 53];

/// How long the directory may take to connect, and to answer each request.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The binaries' [`Directory`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Ldap;

impl Directory for Ldap {
    fn authenticate(
        &self,
        config: &DirectoryConfig,
        username: &str,
        password: &str,
    ) -> Result<Option<DirectoryUser>> {
        if password.is_empty() || username.is_empty() {
            return Ok(None);
        }
        // ldap3's blocking client runs a runtime of its own: on a thread of
        // its own, so that a caller inside an async runtime is fine too.
        let (config, username, password) =
            (config.clone(), username.to_owned(), password.to_owned());
        std::thread::spawn(move || bind_and_read(&config, &username, &password))
            .join()
            .unwrap_or_else(|_| Err(unavailable("the LDAP client stopped")))
    }
}

fn fail(what: &str) -> impl Fn(ldap3::LdapError) -> wardwatch_core::Error + '_ {
    move |e| unavailable(format!("{what}: {e}"))
}

fn bind_and_read(
    config: &DirectoryConfig,
    username: &str,
    password: &str,
) -> Result<Option<DirectoryUser>> {
    let settings = LdapConnSettings::new()
        .set_conn_timeout(TIMEOUT)
        .set_starttls(config.starttls);
    let mut conn = LdapConn::with_settings(settings, &config.url).map_err(fail("connecting"))?;
    let bind_name = config.bind.replace("{user}", &dn_escape(username));
    let bound = conn
        .with_timeout(TIMEOUT)
        .simple_bind(&bind_name, password)
        .map_err(fail("binding"))?;
    if REFUSED.contains(&bound.rc) {
        let _ = conn.unbind();
        return Ok(None);
    }
    bound.success().map_err(fail("binding"))?;

    // The user's entry: looked up (Active Directory), or the bind DN.
    let (dn, display_name) = match (&config.user_base, &config.user_filter) {
        (Some(base), Some(filter)) => {
            let filter = filter.replace("{user}", &ldap_escape(username));
            let (found, _) = conn
                .with_timeout(TIMEOUT)
                .search(base, Scope::Subtree, &filter, vec!["cn", "displayName"])
                .and_then(|r| r.success())
                .map_err(fail("looking the user up"))?;
            match found.into_iter().next() {
                Some(e) => {
                    let e = SearchEntry::construct(e);
                    let name = display_name_of(&e);
                    (e.dn, name)
                }
                None => {
                    let _ = conn.unbind();
                    return Ok(None);
                }
            }
        }
        _ => {
            let (found, _) = conn
                .with_timeout(TIMEOUT)
                .search(
                    &bind_name,
                    Scope::Base,
                    "(objectClass=*)",
                    vec!["cn", "displayName"],
                )
                .and_then(|r| r.success())
                .map_err(fail("reading the user's entry"))?;
            let name = found
                .into_iter()
                .next()
                .map(SearchEntry::construct)
                .and_then(|e| display_name_of(&e));
            (bind_name.clone(), name)
        }
    };
    let filter = format!(
        "(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=group))(|(member={0})(uniqueMember={0})))",
        ldap_escape(&dn)
    );
    let (groups, _) = conn
        .with_timeout(TIMEOUT)
        .search(&config.group_base, Scope::Subtree, &filter, vec!["1.1"])
        .and_then(|r| r.success())
        .map_err(fail("reading the user's groups"))?;
    let groups = groups
        .into_iter()
        .map(|e| SearchEntry::construct(e).dn)
        .collect();
    let _ = conn.unbind();
    Ok(Some(DirectoryUser {
        dn,
        display_name,
        groups,
    }))
}

fn display_name_of(e: &SearchEntry) -> Option<String> {
    ["displayName", "cn"]
        .iter()
        .find_map(|a| e.attrs.get(*a).and_then(|v| v.first()).cloned())
        .map(|n| wardwatch_core::text::printable(&n).into_owned())
}
