//! The clock staff commands and pages read: now in Swedish local time, to the minute.
//! `LAGESBILD_NOW` (RFC 3339) fixes it, for tests and for reproducing a session.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike, Utc};

/// The environment variable that fixes the clock.
pub const NOW_VARIABLE: &str = "LAGESBILD_NOW";

/// Now in Europe/Stockholm, seconds dropped.
pub fn now_local() -> Result<NaiveDateTime, String> {
    let now: DateTime<Utc> = match std::env::var(NOW_VARIABLE) {
        Ok(text) => DateTime::parse_from_rfc3339(&text)
            .map_err(|_| format!("{NOW_VARIABLE}={text:?} is not RFC 3339"))?
            .with_timezone(&Utc),
        Err(_) => Utc::now(),
    };
    let local = now
        .with_timezone(&chrono_tz::Europe::Stockholm)
        .naive_local();
    Ok(local
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(local))
}

/// Today in Europe/Stockholm.
pub fn today() -> Result<NaiveDate, String> {
    Ok(now_local()?.date())
}
