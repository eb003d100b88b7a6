//! Authentication: passwords, failed-login back-off, sessions (issue 12,
//! SECURITY.md). The API layer (`api::Ctx::login`, `api::Ctx::resume`) uses
//! these; the store keeps only what they produce.
//!
//! - Passwords are hashed with Argon2id (RFC 9106) at the OWASP Password
//!   Storage Cheat Sheet's first recommended setting, m = 19 MiB, t = 2,
//!   p = 1, with a 16-byte random salt, and kept as a PHC string; a hash
//!   made with other parameters still verifies (the string names them).
//! - A password is 10 to 128 characters, not the user's name, not one of
//!   the most common passwords (NIST SP 800-63B §5.1.1.2 asks for a check
//!   against such a list and no composition rules).
//! - After [`FREE_FAILURES`] consecutive failed logins an account is locked
//!   for [`FIRST_LOCK`], doubling with each further failure up to
//!   [`MAX_LOCK`]; a locked account is refused without its password being
//!   checked, and a success ends the count. An admin's password reset
//!   lifts the lock.
//! - A session is 32 random bytes, given to the client once (hex); the
//!   store keeps its SHA-256 only, so a copy of the store opens no session.
//!   It ends after [`SESSION_IDLE`] without use or [`SESSION_MAX`] in all,
//!   at logout, or when its user is deactivated or their password changes.
//!   Its use is recorded at most once a minute, so the idle end may come up
//!   to a minute early.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::Duration;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Consecutive failed logins allowed before the first lock.
pub const FREE_FAILURES: i64 = 5;
/// The first lock; each failure after it doubles the lock.
pub const FIRST_LOCK: Duration = Duration::minutes(1);
/// The longest lock.
pub const MAX_LOCK: Duration = Duration::hours(1);
/// A session unused this long has ended.
pub const SESSION_IDLE: Duration = Duration::minutes(60);
/// A session ends this long after its login, used or not.
pub const SESSION_MAX: Duration = Duration::hours(12);

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;

/// Among the most used passwords of breach corpora, at least 10 characters
/// long (shorter ones are refused by length anyway), lowercase.
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0987654321",
    "1q2w3e4r5t",
    "qwertyuiop",
    "1qaz2wsx3edc",
    "qwerty1234",
    "password123",
    "password12",
    "password1!",
    "passw0rd123",
    "iloveyou123",
    "abcdefghij",
    "abc1234567",
    "aaaaaaaaaa",
    "1111111111",
    "0000000000",
    "letmein123",
    "welcome123",
    "welcome2024",
    "welcome2025",
    "welcome2026",
    "changeme123",
    "administrator",
    "hospital123",
    "wardwatch123",
    "wardwatch2026",
];

/// `N` bytes from the operating system's random generator; `what` names
/// what they are for in the error.
pub(crate) fn random_bytes<const N: usize>(what: &'static str) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::InvalidInput {
        what,
        reason: format!("the system gave no random bytes: {e}"),
    })?;
    Ok(bytes)
}

/// Argon2id with the documented parameters, for password hashes and for
/// store keys derived from a passphrase (`store::cipher`).
pub(crate) fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("the documented Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Refuses a password that is too short or long, is the user's name, or is
/// a common one; says which.
pub fn check_password(username: &str, password: &str) -> Result<()> {
    let chars = password.chars().count();
    let refuse = |reason: String| {
        Err(Error::InvalidInput {
            what: "password",
            reason,
        })
    };
    if chars < PASSWORD_MIN_CHARS {
        return refuse(format!(
            "it has {chars} characters; at least {PASSWORD_MIN_CHARS} are needed (a phrase of a few words is easy to remember)"
        ));
    }
    if chars > PASSWORD_MAX_CHARS {
        return refuse(format!("it has over {PASSWORD_MAX_CHARS} characters"));
    }
    let lower = password.to_lowercase();
    if lower.contains(&username.to_lowercase()) {
        return refuse("it contains the user name".into());
    }
    let one_char_repeated = lower.chars().all(|c| lower.starts_with(c));
    if COMMON.contains(&lower.as_str()) || one_char_repeated {
        return refuse("it is one of the most common passwords".into());
    }
    Ok(())
}

/// The PHC string of `password`'s Argon2id hash with a new random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt: [u8; 16] = random_bytes("password")?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::InvalidInput {
        what: "password",
        reason: format!("salt: {e}"),
    })?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::InvalidInput {
            what: "password",
            reason: format!("cannot hash it: {e}"),
        })
}

/// Whether `password` matches the stored PHC string `hash`. A damaged hash
/// matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// Spends what a verification spends, for a name that has no hash: the
/// answer for an unknown user takes as long as for a wrong password, so
/// timing does not tell which names exist.
pub fn verify_nothing(password: &str) {
    // A fixed, valid hash of a random password nobody knows.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zr4L2uFtnbf4Yp2nYgAAZw2Jv8nGuD3ZKi5kn0cT3lQ";
    let _ = verify_password(DUMMY, password);
}

/// How long an account stays locked after `failures` consecutive failed
/// logins: nothing up to [`FREE_FAILURES`], then [`FIRST_LOCK`] doubling,
/// at most [`MAX_LOCK`].
pub fn lock_for(failures: i64) -> Option<Duration> {
    let over = failures - FREE_FAILURES;
    if over < 0 {
        return None;
    }
    let factor = 1i64 << over.min(20);
    Some((FIRST_LOCK * factor as i32).min(MAX_LOCK))
}

/// A new session token (hex, 64 digits) and the SHA-256 the store keeps.
pub fn new_token() -> Result<(String, Vec<u8>)> {
    let raw: [u8; 32] = random_bytes("session")?;
    let token = crate::text::hex(&raw);
    let digest = token_digest(&token);
    Ok((token, digest))
}

/// What the store keeps of a token.
pub fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_names_argon2id() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse battery "));
        assert!(!verify_password("not a hash", "x"));
        // Salted: the same password hashes differently each time.
        assert_ne!(h, hash_password("correct horse battery").expect("hash"));
        verify_nothing("anything");
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        for (pw, why) in [
            ("short", "characters"),
            ("nurse.kim-2026!", "user name"),
            ("Password123", "common"),
            ("zzzzzzzzzzzz", "common"),
        ] {
            let e = check_password("nurse.kim", pw).expect_err(pw);
            assert!(e.to_string().contains(why), "{pw}: {e}");
        }
        check_password("nurse.kim", "blue kettle on the ward").expect("a passphrase");
    }

    #[test]
    fn locks_start_after_five_failures_and_double_up_to_an_hour() {
        assert_eq!(lock_for(4), None);
        assert_eq!(lock_for(5), Some(Duration::minutes(1)));
        assert_eq!(lock_for(6), Some(Duration::minutes(2)));
        assert_eq!(lock_for(9), Some(Duration::minutes(16)));
        assert_eq!(lock_for(12), Some(Duration::hours(1)));
        assert_eq!(lock_for(1_000), Some(Duration::hours(1)));
    }
}
