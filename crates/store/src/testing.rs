//! For tests in every crate that run against PostgreSQL: the test server from
//! `LAGESBILD_TEST_PG` (said loudly when it is missing, a failure under `CI=true`), and a new
//! empty database on it per case. Not for programs: nothing here is used outside tests.

use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};

/// The variable naming the test server (`tools/with-postgres` sets it).
pub const TEST_SERVER_VARIABLE: &str = "LAGESBILD_TEST_PG";

/// The test server's URL, or `None` with a notice on stderr naming `what` did not run. Under
/// `CI=true` a missing server is a failure: CI must run the PostgreSQL cases.
pub fn postgres_test_url(what: &str) -> Option<String> {
    match std::env::var(TEST_SERVER_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{TEST_SERVER_VARIABLE} is not set under CI=true: {what} did not run on PostgreSQL \
                 (.ci/run starts a cluster with tools/with-postgres)"
            );
            eprintln!(
                "NOTICE: {TEST_SERVER_VARIABLE} is not set; {what} did NOT run on PostgreSQL. Run \
                 the tests under `tools/with-postgres` (or `just pg-test`)."
            );
            None
        }
    }
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{database}{query}")
}

static DATABASES: AtomicU64 = AtomicU64::new(0);

/// A new, empty database (no schema) on the server at `url`, named after `prefix`, this process
/// and a counter; its URL.
pub fn fresh_database(url: &str, prefix: &str) -> String {
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    // CREATE DATABASE copies template0, which fails while another copy of it is under way:
    // one at a time in this process, retried while another test process copies.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut admin = Client::connect(url, NoTls).expect("connects to the test server");
    // Two statements, since a batch of them is one transaction, which DROP DATABASE refuses.
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .expect("drops a leftover test database");
    let mut tries = 0;
    while let Err(error) =
        admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
    {
        tries += 1;
        assert!(tries < 50, "cannot create test database {name}: {error:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    with_database(url, &name)
}

/// Runs `sql` on the database at `url` as the connecting role, bypassing the store (tests that
/// tamper with a log).
pub fn execute(url: &str, sql: &str) {
    let mut client = Client::connect(url, NoTls).expect("connects to the test database");
    client.batch_execute(sql).expect("the test's SQL runs");
}
