//! A calendar day as a person types it: `2024-12-27`, `27 december 2024` (or `27 dec 2024`)
//! and `27/12 2024` (or `27/12/2024`), with a Swedish error that names the accepted forms.
//!
//! This is input syntax for people, not the log's date format: what is stored is always the
//! ISO day (`FuzzyDate` in `lagesbild-model` keeps the log's own, stricter grammar). The web
//! forms, the `as_of`/`date` query parameters and the command line read days through here.

use chrono::NaiveDate;
use lagesbild_model::FuzzyDate;

/// The accepted forms, for hints and errors.
pub const FORMS: &str = "27 december 2024, 27/12 2024 eller 2024-12-27";

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// Why a text is not a day, in Swedish (it is shown to the person who typed it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DayInputError {
    #[error("Ange en dag, till exempel {FORMS}")]
    Empty,
    #[error("”{0}” är ingen dag. Skriv till exempel {FORMS}")]
    NotADay(String),
    #[error("Dagen {0} finns inte i kalendern")]
    NoSuchDay(String),
}

/// Reads one day in any of the accepted forms. Surrounding space, a leading `den` and case do
/// not matter.
pub fn parse_day(text: &str) -> Result<NaiveDate, DayInputError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DayInputError::Empty);
    }
    let lower = trimmed.to_lowercase();
    let lower = lower.strip_prefix("den ").unwrap_or(&lower).trim();
    let not_a_day = || DayInputError::NotADay(trimmed.to_owned());
    let (year, month, day) = if let Some((y, m, d)) = iso(lower) {
        (y, m, d)
    } else if let Some((d, m, y)) = slashed(lower) {
        (y, m, d)
    } else if let Some((d, m, y)) = named(lower) {
        (y, m, d)
    } else {
        return Err(not_a_day());
    };
    NaiveDate::from_ymd_opt(year, month, day)
        .ok_or_else(|| DayInputError::NoSuchDay(trimmed.to_owned()))
}

/// A date as precise as its source in the log's own forms (`2024-12`, `2019-H2`, `hösten 2019`,
/// `2024-12-27`), or a day as people type it (`27 december 2024`, `27/12 2024`). The error is
/// the log format's own when neither reads.
pub fn parse_date(text: &str) -> Result<FuzzyDate, String> {
    let text = text.trim();
    FuzzyDate::parse(text)
        .or_else(|e| parse_day(text).map(FuzzyDate::Day).map_err(|_| e))
        .map_err(|e| e.to_string())
}

fn number<T: std::str::FromStr>(text: &str, max_len: usize) -> Option<T> {
    (!text.is_empty() && text.len() <= max_len && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn year(text: &str) -> Option<i32> {
    (text.len() == 4).then(|| number(text, 4)).flatten()
}

/// `2024-12-27`.
fn iso(text: &str) -> Option<(i32, u32, u32)> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || m.len() != 2 || d.len() != 2 {
        return None;
    }
    Some((year(y)?, number(m, 2)?, number(d, 2)?))
}

/// `27/12 2024`, `27/12/2024`, `27/12-2024`.
fn slashed(text: &str) -> Option<(u32, u32, i32)> {
    let (d, rest) = text.split_once('/')?;
    let (m, y) = rest.split_once([' ', '/', '-'])?;
    Some((number(d.trim(), 2)?, number(m.trim(), 2)?, year(y.trim())?))
}

/// `27 december 2024`, `27 dec 2024`, `27 dec. 2024`.
fn named(text: &str) -> Option<(u32, u32, i32)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [d, m, y] = words.as_slice() else {
        return None;
    };
    let m = m.trim_end_matches('.');
    let month = MONTHS
        .iter()
        .position(|name| *name == m || (m.chars().count() >= 3 && name.starts_with(m)))?;
    Some((number(d, 2)?, u32::try_from(month).ok()? + 1, year(y)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a day")
    }

    #[test]
    fn the_three_forms_of_a_day_read_the_same() {
        for text in [
            "2024-12-27",
            "27 december 2024",
            "27 December 2024",
            " den 27 december 2024 ",
            "27 dec 2024",
            "27 dec. 2024",
            "27/12 2024",
            "27/12/2024",
            "27/12-2024",
        ] {
            assert_eq!(parse_day(text), Ok(day(2024, 12, 27)), "{text:?}");
        }
        assert_eq!(parse_day("1 maj 2025"), Ok(day(2025, 5, 1)));
        assert_eq!(parse_day("3/2 2022"), Ok(day(2022, 2, 3)));
        assert_eq!(
            parse_date("27 december 2024"),
            Ok(FuzzyDate::Day(day(2024, 12, 27)))
        );
        assert_eq!(
            parse_date("hösten 2019").expect("a season").to_string(),
            "2019-H2"
        );
    }

    #[test]
    fn a_wrong_day_gets_a_swedish_error_naming_the_accepted_forms() {
        let error = parse_day("hösten 20x").expect_err("not a day");
        assert_eq!(error, DayInputError::NotADay("hösten 20x".into()));
        let text = error.to_string();
        assert!(
            text.contains("27 december 2024, 27/12 2024 eller 2024-12-27"),
            "{text}"
        );
        assert!(!text.contains("YYYY"), "{text}");
        assert_eq!(
            parse_day("30 februari 2024"),
            Err(DayInputError::NoSuchDay("30 februari 2024".into()))
        );
        assert_eq!(parse_day("  "), Err(DayInputError::Empty));
        // Two-digit years and month names that are not months are refused, not guessed.
        for text in [
            "27/12 24",
            "27 ma 2024",
            "27 decembr 2024",
            "2024-1-5",
            "12/27 2024",
        ] {
            assert!(parse_day(text).is_err(), "{text:?}");
        }
    }
}
