//! Where a log is, as people name it (`--db`, `LAGESBILD_DB`): a path is a SQLite file, a
//! `postgres://` or `postgresql://` URL a PostgreSQL database. Shown with any password elided,
//! so that error messages and logs can name it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::postgres::{POSTGRES_SCHEMA_VERSION, PostgresStore, is_postgres_url};
use crate::sqlite::SqliteStore;
use crate::{Store, StoreError};

/// A log's place: a SQLite file or a PostgreSQL database.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sqlite(PathBuf),
    /// The connection string as given (it may hold a password: show it with `Display`).
    Postgres(String),
}

impl StoreLocation {
    /// A URL naming PostgreSQL is PostgreSQL; anything else is a SQLite file's path.
    pub fn parse(text: &str) -> StoreLocation {
        if is_postgres_url(text) {
            StoreLocation::Postgres(text.to_owned())
        } else {
            StoreLocation::Sqlite(PathBuf::from(text))
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// The SQLite file, if the log is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreLocation::Sqlite(path) => Some(path),
            StoreLocation::Postgres(_) => None,
        }
    }

    /// Opens the log for reading and writing. A SQLite file is created when missing (as it
    /// always was); a PostgreSQL database must hold the schema already (`lagesbild init`
    /// creates it), and an older schema is migrated, a newer one refused.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        match self {
            StoreLocation::Sqlite(path) => Ok(Box::new(SqliteStore::open(path)?)),
            StoreLocation::Postgres(url) => {
                // open_read_only refuses a database without the schema or with a newer one,
                // and creates nothing; only an older schema needs the migrating open.
                let store = PostgresStore::open_read_only(url)?;
                if store.schema_version()? < POSTGRES_SCHEMA_VERSION {
                    drop(store);
                    return Ok(Box::new(PostgresStore::open(url)?));
                }
                Ok(Box::new(store))
            }
        }
    }

    /// Opens the log, creating its schema where there is none (`lagesbild init`).
    pub fn create(&self) -> Result<Box<dyn Store>, StoreError> {
        match self {
            StoreLocation::Sqlite(path) => Ok(Box::new(SqliteStore::open(path)?)),
            StoreLocation::Postgres(url) => Ok(Box::new(PostgresStore::open(url)?)),
        }
    }

    /// Opens an existing log without creating or migrating anything.
    pub fn open_read_only(&self) -> Result<Box<dyn Store>, StoreError> {
        match self {
            StoreLocation::Sqlite(path) => Ok(Box::new(SqliteStore::open_read_only(path)?)),
            StoreLocation::Postgres(url) => Ok(Box::new(PostgresStore::open_read_only(url)?)),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<StoreLocation, Self::Err> {
        Ok(StoreLocation::parse(text))
    }
}

impl From<PathBuf> for StoreLocation {
    fn from(path: PathBuf) -> StoreLocation {
        StoreLocation::Sqlite(path)
    }
}

impl From<&Path> for StoreLocation {
    fn from(path: &Path) -> StoreLocation {
        StoreLocation::Sqlite(path.to_owned())
    }
}

/// The path, or the URL with its password elided.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

/// Like `Display`: a configuration printed with `{:?}` must not show the password either.
impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreLocation::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&without_password(url))
                .finish(),
        }
    }
}

/// `url` with the password of its user part (`user:PASSWORD@`) and of a `password=` parameter
/// replaced by `***`.
pub fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |at| scheme_end + at);
    let authority = &base[scheme_end..authority_end];
    let mut shown = base[..scheme_end].to_owned();
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            match user.split_once(':') {
                Some((name, _)) => shown.push_str(&format!("{name}:***")),
                None => shown.push_str(user),
            }
            shown.push('@');
            shown.push_str(host);
        }
        None => shown.push_str(authority),
    }
    shown.push_str(&base[authority_end..]);
    if let Some(query) = query {
        let parameters: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&parameters.join("&"));
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_sqlite_and_a_postgres_url_is_postgres() {
        assert_eq!(
            StoreLocation::parse("lagesbild.db"),
            StoreLocation::Sqlite("lagesbild.db".into())
        );
        assert_eq!(
            StoreLocation::parse("/srv/postgres/lagesbild.db"),
            StoreLocation::Sqlite("/srv/postgres/lagesbild.db".into())
        );
        for url in [
            "postgres://u@h/db",
            "postgresql://u@/db?host=/run/postgresql",
        ] {
            assert!(StoreLocation::parse(url).is_postgres(), "{url}");
        }
    }

    #[test]
    fn a_password_is_never_shown() {
        let cases = [
            (
                "postgres://writer:hemligt@db.example:5432/lagesbild",
                "postgres://writer:***@db.example:5432/lagesbild",
            ),
            (
                "postgres://writer@db/lagesbild",
                "postgres://writer@db/lagesbild",
            ),
            ("postgres://db/lagesbild", "postgres://db/lagesbild"),
            (
                "postgresql://u:p%40ss@h/d?sslmode=disable&password=hemligt",
                "postgresql://u:***@h/d?sslmode=disable&password=***",
            ),
            ("postgres://u:a@b@h/d", "postgres://u:***@h/d"),
        ];
        for (url, shown) in cases {
            let location = StoreLocation::parse(url);
            assert_eq!(location.to_string(), shown);
            assert!(!format!("{location:?}").contains("hemligt"));
        }
    }
}
