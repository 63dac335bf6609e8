//! The time parameters every front end takes, parsed by one set of rules: a valid-time day for
//! `as of`, and a transaction-time instant for `known at` and recorded ranges.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use lagesbild_model::{FuzzyDate, RecordedAt};

use crate::day_input;

/// A valid-time day; a coarser date (`2019-H2`, `hösten 2019`) means its last day. A day may
/// also be typed as a person writes it (`27 december 2024`, `27/12 2024`; see [`day_input`]).
pub fn as_of(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    FuzzyDate::parse(text)
        .map(|date| date.last_day())
        .or_else(|_| day_input::parse_day(text))
        .map_err(|_| {
            format!(
                "”{text}” är ingen dag. Skriv till exempel {}, eller en period som 2024-12, 2019-H2 eller hösten 2019",
                day_input::FORMS
            )
        })
}

/// A transaction-time instant: RFC 3339; a minute `2024-12-27T11:15` in Swedish local time (as
/// a browser's date-and-time field sends it); or a day, meaning its first moment (UTC) or,
/// with `end_of_day`, its last, so that a range to a day includes that day.
pub fn instant(text: &str, end_of_day: bool) -> Result<RecordedAt, String> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(RecordedAt::from_datetime(at.with_timezone(&Utc)));
    }
    if let Ok(local) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M") {
        let end = if end_of_day {
            chrono::Duration::seconds(60) - chrono::Duration::microseconds(1)
        } else {
            chrono::Duration::zero()
        };
        return match chrono_tz::Europe::Stockholm.from_local_datetime(&local) {
            chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
                Ok(RecordedAt::from_datetime(at.with_timezone(&Utc) + end))
            }
            chrono::LocalResult::None => Err(format!(
                "{text:?} does not exist in Swedish time (the clocks skip it)"
            )),
        };
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = if end_of_day {
            NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).expect("valid time")
        } else {
            NaiveTime::MIN
        };
        return Ok(RecordedAt(Utc.from_utc_datetime(&day.and_time(time))));
    }
    Err(format!(
        "{text:?} is not a time: give a day (2024-12-27), a local time (2024-12-27T11:15) or RFC 3339 (2024-12-27T11:15:00+01:00)"
    ))
}

/// A calendar day in any of the forms of [`day_input`] (`2024-12-27`, `27 december 2024`,
/// `27/12 2024`), with its Swedish error.
pub fn day(text: &str) -> Result<NaiveDate, String> {
    day_input::parse_day(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_minute_is_swedish_time_and_a_day_can_mean_its_end() {
        let winter = instant("2024-12-27T11:15", false).expect("valid");
        assert_eq!(winter.to_string(), "2024-12-27T10:15:00.000000Z");
        let end = instant("2024-12-27", true).expect("valid");
        assert_eq!(end.to_string(), "2024-12-27T23:59:59.999999Z");
        assert!(
            instant("igår", false)
                .unwrap_err()
                .contains("is not a time")
        );
        assert_eq!(
            as_of("hösten 2019").expect("valid").to_string(),
            "2019-12-31"
        );
        assert!(day("2024-02-30").is_err());
        assert_eq!(day("27 december 2024"), day("2024-12-27"));
        assert_eq!(
            as_of("27/12 2024").expect("valid").to_string(),
            "2024-12-27"
        );
        let error = as_of("hösten 20x").expect_err("not a day");
        assert!(
            error.contains("27 december 2024, 27/12 2024 eller 2024-12-27"),
            "{error}"
        );
    }
}
