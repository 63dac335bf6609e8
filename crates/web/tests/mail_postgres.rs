//! The mail cases (`mail.rs`: an edition mailed to a real SMTP server on loopback) run again
//! with the log in PostgreSQL. Each case gets a fresh database on the server named by
//! `LAGESBILD_TEST_PG`; without it the cases say so loudly and pass, except under `CI=true`,
//! where they fail. `support::backend()` chooses PostgreSQL by this binary's name.

#[path = "mail.rs"]
mod mail;
