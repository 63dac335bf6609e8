//! The router's cases (`router.rs`) run again with the log in PostgreSQL: `serve --db
//! postgres://…` answers every route as it does on a SQLite file. Each case gets a fresh
//! database on the server named by `LAGESBILD_TEST_PG`; without it the cases say so loudly and
//! pass, except under `CI=true`, where they fail. `support::backend()` chooses PostgreSQL by
//! this binary's name.

#[path = "router.rs"]
mod router;
