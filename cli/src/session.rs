//! Who runs a command: a logged-in user, never a name taken on trust.
//!
//! `wardwatchctl login` checks the password (`api::Ctx::login`) and keeps
//! the session's token in an owner-only file in the key folder,
//! `sessions/CHAIN-USER` (CHAIN names the store); later commands resume it
//! (`api::Ctx::resume`) until it ends (60 min unused, 12 h in all, logout,
//! deactivation, a password change). Automation gives the password per
//! command instead: `--password-stdin` (a pipe) or `--password-file FILE`
//! (e.g. a systemd credential); that logs in for the one command and keeps
//! nothing.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::SystemClock;
use wardwatch_core::store::{AuditKeys, Store};

/// Where a password comes from, as the command line says.
#[derive(Debug, Clone, Default)]
pub struct PasswordSource {
    pub file: Option<PathBuf>,
    pub stdin: bool,
}

impl PasswordSource {
    /// The password given for this command, if any: the first line of the
    /// file or of standard input, without its line end.
    pub fn given(&self) -> anyhow::Result<Option<String>> {
        let line = |text: &str| text.lines().next().unwrap_or("").to_owned();
        if let Some(f) = &self.file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the password file `{}`", f.display()))?;
            return Ok(Some(line(&text)));
        }
        if self.stdin {
            let mut text = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut text)
                .context("cannot read the password from standard input")?;
            return Ok(Some(line(&text)));
        }
        Ok(None)
    }

    /// The password given, else asked for on the terminal without echo.
    pub fn get(&self, prompt: &str) -> anyhow::Result<String> {
        if let Some(p) = self.given()? {
            return Ok(p);
        }
        ask(prompt)
    }

    /// A new password: given, else asked for twice on the terminal.
    pub fn new_password(&self, prompt: &str) -> anyhow::Result<String> {
        if let Some(p) = self.given()? {
            return Ok(p);
        }
        let first = ask(prompt)?;
        let again = ask("Again: ")?;
        anyhow::ensure!(
            first == again,
            "the two passwords differ: nothing was changed"
        );
        Ok(first)
    }
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        std::io::stdin().is_terminal() || std::io::stderr().is_terminal(),
        "no terminal to ask for a password: give it with --password-stdin or --password-file"
    );
    let _ = std::io::stderr().flush();
    rpassword::prompt_password(prompt).context("cannot read the password from the terminal")
}

fn session_file(keys: &AuditKeys, chain: &str, user: &str) -> PathBuf {
    keys.dir().join("sessions").join(format!("{chain}-{user}"))
}

fn chain_of(data_dir: &Path) -> anyhow::Result<String> {
    Ok(Store::open_dir(data_dir)?.audit_chain_id()?)
}

/// Keeps `token` as `user`'s session on the store in `data_dir`.
pub fn keep(data_dir: &Path, keys: &AuditKeys, user: &str, token: &str) -> anyhow::Result<()> {
    api::validate_username(user)?;
    let path = session_file(keys, &chain_of(data_dir)?, user);
    let dir = path.parent().unwrap_or(Path::new("."));
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    wardwatch_core::store::write_private_file(&path, token.as_bytes())
        .with_context(|| format!("cannot write `{}`", path.display()))
}

/// The kept session's token of `user` on the store in `data_dir`, if any.
fn kept(
    data_dir: &Path,
    keys: &AuditKeys,
    user: &str,
) -> anyhow::Result<Option<(PathBuf, String)>> {
    if api::validate_username(user).is_err() {
        return Ok(None);
    }
    let path = session_file(keys, &chain_of(data_dir)?, user);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some((path, t.trim().to_owned()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Logs `user` in with `password` as `client` (asking the hospital's
/// directory for users without a local password); the context and the
/// session's token.
pub fn login(
    data_dir: &Path,
    keys: &AuditKeys,
    user: &str,
    password: &str,
    client: &str,
) -> anyhow::Result<(Ctx, String)> {
    Ok(Ctx::login_with(
        data_dir,
        keys,
        user,
        password,
        client,
        Arc::new(SystemClock),
        Some(&wardwatch_runtime::directory::Ldap),
    )?)
}

/// Logs `user` in at the terminal and keeps the session for the commands
/// that follow.
pub fn login_and_keep(
    data_dir: &Path,
    keys: &AuditKeys,
    user: &str,
    password: &str,
) -> anyhow::Result<Ctx> {
    let (ctx, token) = login(data_dir, keys, user, password, "cli")?;
    keep(data_dir, keys, user, &token)?;
    Ok(ctx)
}

/// Opens the store as `user`: with the password given for this command
/// (logging in as `client`: `cli`, or `service` for `serve`), else with
/// their kept session.
pub fn open(
    data_dir: &Path,
    keys: &AuditKeys,
    user: &str,
    password: &PasswordSource,
    client: &str,
) -> anyhow::Result<Ctx> {
    let clock = Arc::new(SystemClock);
    if let Some(pw) = password.given()? {
        return Ok(login(data_dir, keys, user, &pw, client)?.0);
    }
    let Some((path, token)) = kept(data_dir, keys, user)? else {
        anyhow::bail!(
            "not logged in as `{}` on this store: run `wardwatchctl login` (or give the password with --password-stdin or --password-file)",
            wardwatch_core::text::printable(user)
        );
    };
    match Ctx::resume(data_dir, keys, &token, clock) {
        Ok(ctx) if ctx.actor.username == user => Ok(ctx),
        Ok(_) => anyhow::bail!("the kept session is another user's: run `wardwatchctl login`"),
        Err(e) => {
            if e.kind() == wardwatch_core::ErrorKind::Unauthenticated {
                let _ = std::fs::remove_file(&path);
            }
            Err(e.into())
        }
    }
}

/// Ends `user`'s kept session (in the store and on disk); whether there was one.
pub fn logout(data_dir: &Path, keys: &AuditKeys, user: &str) -> anyhow::Result<bool> {
    let Some((path, token)) = kept(data_dir, keys, user)? else {
        return Ok(false);
    };
    let ended = match Ctx::resume(data_dir, keys, &token, Arc::new(SystemClock)) {
        Ok(ctx) => {
            api::logout(&ctx, &token)?;
            true
        }
        Err(_) => false,
    };
    std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
    Ok(ended)
}
