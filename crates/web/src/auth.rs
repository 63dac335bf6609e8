//! Who may write, and who may read: the configuration file, password and token checks, and
//! the per-session CSRF token every form and every cookie-authenticated API write carries.
//!
//! Passwords are stored as Argon2id PHC strings (`lagesbild auth hash-password`), API tokens
//! as the hex SHA-256 of a random token (`lagesbild auth new-token`); neither is ever stored in
//! the clear. Sessions live in memory (tower-sessions) behind an `HttpOnly`, `SameSite=Strict`
//! cookie, `Secure` when configured; a server restart signs everybody out.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use lagesbild_app::edition::{Role, Rules};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The session keys.
pub(crate) const USER_KEY: &str = "user";
pub(crate) const CSRF_KEY: &str = "csrf";

/// The contents of the `--auth` file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Reading needs signing in too (default: reading is open).
    #[serde(default)]
    pub read_requires_sign_in: bool,
    /// Served behind HTTPS: the session cookie is `Secure` and responses carry HSTS.
    /// `behind_tls` is the same setting under the name that says why.
    #[serde(default, alias = "behind_tls")]
    pub secure_cookies: bool,
    /// The four-eyes rule: an edition is published only once someone other than who submitted
    /// it, with the approver role, approved it (default off).
    #[serde(default)]
    pub four_eyes: bool,
    /// A key figure older than this many weeks is flagged on the edition page (default 8;
    /// 0 never flags).
    #[serde(default = "default_figure_weeks")]
    pub figure_max_age_weeks: u32,
    /// Where a published edition goes, as the publish confirmation says.
    #[serde(default = "default_distribution")]
    pub distribution: String,
    /// Sending editions by e-mail: the sender, the SMTP server and the distribution lists
    /// (`[mail]`, `[mail.smtp]`, `[[mail.list]]`; docs/report.md). Without it nothing is sent.
    #[serde(default)]
    pub mail: Option<lagesbild_app::mail::MailConfig>,
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
    #[serde(default, rename = "token")]
    pub tokens: Vec<Token>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    /// An Argon2id PHC string.
    pub password_hash: String,
    /// `reader`, `editor` (the default, what every user could do before roles) or `approver`
    /// (an editor who may also approve someone else's edition).
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "editor".into()
}

fn default_figure_weeks() -> u32 {
    8
}

fn default_distribution() -> String {
    "politisk ledning och chefer, och publiceras på intranätet".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Who writes with it; recorded as the events' `by`.
    pub name: String,
    /// The hex SHA-256 of the token.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl AuthConfig {
    /// Reads and checks the file: every password hash must parse, every token hash must be 64
    /// hex digits, names must be unique and non-empty.
    pub fn load(path: &Path) -> Result<AuthConfig, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        AuthConfig::parse(&text).map_err(|reason| ConfigError::Invalid {
            path: shown,
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<AuthConfig, String> {
        let config: AuthConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut names = std::collections::BTreeSet::new();
        for user in &config.users {
            if user.name.trim().is_empty() {
                return Err("a [[user]] has an empty name".into());
            }
            if !names.insert(user.name.as_str()) {
                return Err(format!("user {:?} is listed twice", user.name));
            }
            if Role::from_name(&user.role).is_none() {
                return Err(format!(
                    "user {:?}: role {:?} is not reader, editor or approver",
                    user.name, user.role
                ));
            }
            PasswordHash::new(&user.password_hash).map_err(|e| {
                format!(
                    "user {:?}: password_hash is not a PHC string ({e}); make one with `lagesbild auth hash-password`",
                    user.name
                )
            })?;
        }
        if let Some(mail) = &config.mail {
            mail.check()?;
        }
        for token in &config.tokens {
            let ok =
                token.sha256.len() == 64 && token.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(format!(
                    "token {:?}: sha256 must be 64 hex digits; make one with `lagesbild auth new-token`",
                    token.name
                ));
            }
        }
        Ok(config)
    }

    /// A signed-in user's role; a name not in the file (a robot's token) is an editor.
    pub fn role_of(&self, name: &str) -> Role {
        self.users
            .iter()
            .find(|u| u.name == name)
            .and_then(|u| Role::from_name(&u.role))
            .unwrap_or(Role::Editor)
    }

    /// The rules editions are published under.
    pub fn rules(&self) -> Rules {
        Rules {
            four_eyes: self.four_eyes,
            figure_max_age_weeks: self.figure_max_age_weeks,
        }
    }

    /// Whether anybody can write at all.
    pub fn can_write(&self) -> bool {
        !self.users.is_empty() || !self.tokens.is_empty()
    }

    /// The user, if the password is right. Runs Argon2: call it off the async threads.
    pub fn check_password(&self, name: &str, password: &str) -> Option<String> {
        let user = self.users.iter().find(|u| u.name == name);
        // Hash against a fixed dummy when the name is unknown, so the answer takes as long.
        let dummy;
        let hash = match user {
            Some(user) => user.password_hash.as_str(),
            None => {
                dummy = dummy_hash();
                dummy.as_str()
            }
        };
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        match (user, ok) {
            (Some(user), true) => Some(user.name.clone()),
            _ => None,
        }
    }

    /// The token's owner, if the bearer token is known.
    pub fn check_token(&self, token: &str) -> Option<String> {
        let digest = hex::encode(Sha256::digest(token.as_bytes()));
        self.tokens
            .iter()
            .find(|t| constant_time_eq(t.sha256.to_ascii_lowercase().as_bytes(), digest.as_bytes()))
            .map(|t| t.name.clone())
    }
}

/// A PHC string for a password nobody has, checked when the user name is unknown.
fn dummy_hash() -> &'static String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("ingen har detta lösenord").unwrap_or_default())
}

/// Argon2id with the crate's defaults and a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A new random API token and the hex SHA-256 to put in the configuration.
pub fn new_token() -> Result<(String, String), String> {
    let token = random_hex(32)?;
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    Ok((token, digest))
}

/// `bytes` random bytes from the operating system, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|e| e.to_string())?;
    Ok(hex::encode(buffer))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_checks_and_a_wrong_one_does_not() {
        let hash = hash_password("rätt lösenord").expect("hashes");
        let config = AuthConfig::parse(&format!(
            "[[user]]\nname = \"anna\"\npassword_hash = \"{hash}\"\n"
        ))
        .expect("valid");
        assert_eq!(
            config.check_password("anna", "rätt lösenord").as_deref(),
            Some("anna")
        );
        assert_eq!(config.check_password("anna", "fel"), None);
        assert_eq!(config.check_password("okänd", "rätt lösenord"), None);
    }

    #[test]
    fn a_user_without_a_role_is_an_editor_as_before_roles() {
        let hash = hash_password("x").expect("hashes");
        let config = AuthConfig::parse(&format!(
            "four_eyes = true\n[[user]]\nname = \"anna\"\npassword_hash = \"{hash}\"\n[[user]]\nname = \"bertil\"\npassword_hash = \"{hash}\"\nrole = \"approver\"\n[[user]]\nname = \"cecilia\"\npassword_hash = \"{hash}\"\nrole = \"reader\"\n"
        ))
        .expect("valid");
        assert_eq!(config.role_of("anna"), Role::Editor);
        assert_eq!(config.role_of("bertil"), Role::Approver);
        assert_eq!(config.role_of("cecilia"), Role::Reader);
        assert!(config.rules().four_eyes);
        assert_eq!(config.rules().figure_max_age_weeks, 8);
    }

    #[test]
    fn a_token_is_known_by_its_digest_only() {
        let (token, digest) = new_token().expect("random");
        let config = AuthConfig::parse(&format!(
            "[[token]]\nname = \"robot\"\nsha256 = \"{digest}\"\n"
        ))
        .expect("valid");
        assert_eq!(config.check_token(&token).as_deref(), Some("robot"));
        assert_eq!(config.check_token(&digest), None);
    }

    #[test]
    fn a_bad_configuration_is_refused_with_the_reason() {
        let error = AuthConfig::parse("[[user]]\nname = \"anna\"\npassword_hash = \"hemligt\"\n")
            .expect_err("not a PHC string");
        assert!(
            error.contains("anna") && error.contains("hash-password"),
            "{error}"
        );
        let error =
            AuthConfig::parse("[[token]]\nname = \"r\"\nsha256 = \"abc\"\n").expect_err("short");
        assert!(error.contains("64 hex"), "{error}");
        let error = AuthConfig::parse(&format!(
            "[[user]]\nname = \"anna\"\npassword_hash = \"{}\"\nrole = \"chef\"\n",
            hash_password("x").expect("hashes")
        ))
        .expect_err("unknown role");
        assert!(
            error.contains("chef") && error.contains("approver"),
            "{error}"
        );
        let error = AuthConfig::parse("reed_requires_sign_in = true\n").expect_err("unknown key");
        assert!(error.contains("reed_requires_sign_in"), "{error}");
    }
}
