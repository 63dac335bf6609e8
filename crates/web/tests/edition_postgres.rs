//! The edition page's cases (`edition.rs`) run again with the log in PostgreSQL: the weekly
//! job, the forms' refusals, four-eyes review and publishing answer as they do on a SQLite file.
//! Each case gets a fresh database on the server named by `LAGESBILD_TEST_PG`; without it the
//! cases say so loudly and pass, except under `CI=true`, where they fail. `support::backend()`
//! chooses PostgreSQL by this binary's name.

#[path = "edition.rs"]
mod edition;
