//! Fuzzy valid-time dates: a year, a half-year, a month, a day, a minute or a span of periods,
//! never more precise than the source.

use std::cmp::Ordering;
use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Years outside this range are refused: the history starts in 2016 and a typo such as `20244`
/// should be an error, not a date.
pub const YEAR_MIN: i32 = 1900;
pub const YEAR_MAX: i32 = 2200;

/// A date as precise as its source: "2018", "2019-H2" (hösten 2019), "2019-10", "2019-10-08",
/// "2024-11-12T05:30" (local time in Europe/Stockholm) or a span "2017/2018" (2017–2018).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FuzzyDate {
    Year(i32),
    Half {
        year: i32,
        half: Half,
    },
    Month {
        year: i32,
        month: u32,
    },
    Day(NaiveDate),
    Minute(NaiveDateTime),
    /// From one period to a later one, both included: "2017–2018" and "2022/23" (a source that
    /// gives two years) are `2017/2018` and `2022/2023`, "hösten 2022–våren 2023" is
    /// `2022-H2/2023-H1`. The ends do not overlap; the canonical form is ISO 8601's interval
    /// notation with each end in its own canonical form.
    Span {
        from: Period,
        to: Period,
    },
}

/// One end of a [`FuzzyDate::Span`]: a year, a half-year or a month. Spans of days are not a
/// form the sources use, and a day range would claim a precision they do not give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Period {
    Year(i32),
    Half { year: i32, half: Half },
    Month { year: i32, month: u32 },
}

impl Period {
    /// The period as a date of its own.
    pub fn as_date(self) -> FuzzyDate {
        match self {
            Period::Year(year) => FuzzyDate::Year(year),
            Period::Half { year, half } => FuzzyDate::Half { year, half },
            Period::Month { year, month } => FuzzyDate::Month { year, month },
        }
    }

    /// The date as a span's end, if it is a year, a half-year or a month.
    pub fn from_date(date: FuzzyDate) -> Option<Period> {
        match date {
            FuzzyDate::Year(year) => Some(Period::Year(year)),
            FuzzyDate::Half { year, half } => Some(Period::Half { year, half }),
            FuzzyDate::Month { year, month } => Some(Period::Month { year, month }),
            _ => None,
        }
    }
}

/// The two halves of a year as Swedish sources name them: *våren* (H1) and *hösten* (H2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Half {
    Spring,
    Autumn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    Year,
    Half,
    Month,
    Day,
    Minute,
    /// A span of periods ([`FuzzyDate::Span`]).
    Span,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Year => "year",
            Precision::Half => "half",
            Precision::Month => "month",
            Precision::Day => "day",
            Precision::Minute => "minute",
            Precision::Span => "span",
        }
    }

    /// A date of this precision names a period rather than a moment (a year, a half-year or a
    /// span of them): a timeline places it at the period's middle and says it is a period.
    pub fn is_period(self) -> bool {
        matches!(self, Precision::Year | Precision::Half | Precision::Span)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a date: {reason}")]
pub struct DateError {
    pub input: String,
    pub reason: String,
}

fn date_error(input: &str, reason: impl Into<String>) -> DateError {
    DateError {
        input: input.chars().take(80).collect(),
        reason: reason.into(),
    }
}

const FORMS: &str = "expected 2019, 2019-H2, hösten 2019, våren 2019, 2019-10, 2019-10-08, \
     2019-10-08T05:30 or a span such as 2017/2018, 2017–2018 or 2022/23";

/// The characters that separate a span's ends as people write them: ISO 8601's solidus (the
/// canonical form), the en dash of Swedish typography ("2017–2018"), and the em dash.
const SPAN_SEPARATORS: [char; 3] = ['/', '–', '—'];

fn parse_year(text: &str, input: &str) -> Result<i32, DateError> {
    if text.len() != 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(date_error(
            input,
            format!("the year must be four digits; {FORMS}"),
        ));
    }
    let year: i32 = text
        .parse()
        .map_err(|_| date_error(input, "the year is not a number"))?;
    if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
        return Err(date_error(
            input,
            format!("the year must lie between {YEAR_MIN} and {YEAR_MAX}"),
        ));
    }
    Ok(year)
}

fn parse_two_digits(text: &str, what: &str, input: &str) -> Result<u32, DateError> {
    if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(date_error(input, format!("the {what} must be two digits")));
    }
    text.parse()
        .map_err(|_| date_error(input, format!("the {what} is not a number")))
}

impl FuzzyDate {
    /// Parses the canonical forms and the Swedish seasons people type.
    pub fn parse(input: &str) -> Result<FuzzyDate, DateError> {
        match FuzzyDate::parse_canonical(input) {
            Some(date) => Ok(date),
            None => FuzzyDate::parse_any(input),
        }
    }

    /// Every form [`FuzzyDate::parse`] accepts, with the reason for a refusal.
    fn parse_any(input: &str) -> Result<FuzzyDate, DateError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(date_error(input, format!("it is empty; {FORMS}")));
        }
        if let Some(span) = FuzzyDate::parse_span(text, input)? {
            return Ok(span);
        }
        let lower = text.to_lowercase();
        for (word, half) in [("hösten", Half::Autumn), ("våren", Half::Spring)] {
            if let Some(rest) = lower.strip_prefix(word) {
                let year = parse_year(rest.trim(), input)?;
                return Ok(FuzzyDate::Half { year, half });
            }
        }
        if let Some((date_part, time_part)) = text.split_once('T') {
            let FuzzyDate::Day(day) = FuzzyDate::parse_numeric(date_part, input)? else {
                return Err(date_error(input, "a time needs a full day before the T"));
            };
            let Some((hour, minute)) = time_part.split_once(':') else {
                return Err(date_error(input, "the time must be HH:MM"));
            };
            let hour = parse_two_digits(hour, "hour", input)?;
            let minute = parse_two_digits(minute, "minute", input)?;
            let time = NaiveTime::from_hms_opt(hour, minute, 0)
                .ok_or_else(|| date_error(input, "no such time of day"))?;
            return Ok(FuzzyDate::Minute(day.and_time(time)));
        }
        FuzzyDate::parse_numeric(text, input)
    }

    /// A span, if `text` is written as one (`2017/2018`, `2017–2018`, `2017-2018`, `2022/23`,
    /// `hösten 2022–våren 2023`); `None` if it is not a span at all.
    fn parse_span(text: &str, input: &str) -> Result<Option<FuzzyDate>, DateError> {
        let split = text.split_once(SPAN_SEPARATORS).or_else(|| {
            // "2017-2018": a hyphen between two years, which no other form has (a month is two
            // digits after the hyphen).
            let bytes = text.as_bytes();
            (bytes.len() == 9
                && bytes[4] == b'-'
                && bytes
                    .iter()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_digit()))
            .then(|| (&text[..4], &text[5..]))
        });
        let Some((from_text, to_text)) = split else {
            return Ok(None);
        };
        let (from_text, to_text) = (from_text.trim(), to_text.trim());
        let end = |part: &str| -> Result<Period, DateError> {
            let date = FuzzyDate::parse_single(part, input)?;
            Period::from_date(date).ok_or_else(|| {
                date_error(
                    input,
                    "a span's ends must be years, half-years or months (2017/2018, \
                     2022-H2/2023-H1, 2024-01/2024-03)",
                )
            })
        };
        let from = end(from_text)?;
        // "2022/23", "1999/00": the end's year written with two digits, the first year after the
        // start that ends in them; only for one of the nine years after the start, since a
        // longer span written short ("2023/22") is far more likely a typo.
        let to = if to_text.len() == 2 && to_text.bytes().all(|b| b.is_ascii_digit()) {
            let Period::Year(start) = from else {
                return Err(date_error(
                    input,
                    "a two-digit end (2022/23) follows a year only",
                ));
            };
            let short: i32 = to_text.parse().expect("two ASCII digits");
            let mut year = start - start.rem_euclid(100) + short;
            if year <= start {
                year += 100;
            }
            if year - start > 9 {
                return Err(date_error(
                    input,
                    "a two-digit end (2022/23) names one of the nine years after the start; \
                     write both years in full",
                ));
            }
            if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
                return Err(date_error(
                    input,
                    format!("the year must lie between {YEAR_MIN} and {YEAR_MAX}"),
                ));
            }
            Period::Year(year)
        } else {
            end(to_text)?
        };
        FuzzyDate::span(from, to)
            .map(Some)
            .map_err(|reason| date_error(input, reason))
    }

    /// A span from `from` to `to`, both included; refused when `to` does not begin after `from`
    /// ends (the ends may not overlap).
    pub fn span(from: Period, to: Period) -> Result<FuzzyDate, &'static str> {
        if from.as_date().last_day() >= to.as_date().first_day() {
            return Err("a span's end must begin after its start ends (2017/2018, not 2018/2017)");
        }
        Ok(FuzzyDate::Span { from, to })
    }

    /// One date that is not a span, in any form [`FuzzyDate::parse`] accepts.
    fn parse_single(text: &str, input: &str) -> Result<FuzzyDate, DateError> {
        match FuzzyDate::parse_canonical(text) {
            Some(FuzzyDate::Span { .. }) | None => {}
            Some(date) => return Ok(date),
        }
        if text.contains(SPAN_SEPARATORS) {
            return Err(date_error(input, "a span has two ends, not more"));
        }
        FuzzyDate::parse_any(text)
            .map_err(|e| date_error(input, format!("its end {text:?}: {}", e.reason)))
    }

    /// The canonical forms alone (`2019`, `2019-H2`, `2019-10`, `2019-10-08`,
    /// `2019-10-08T05:30`), read by position without allocating: every date the log stores, and
    /// most that people write. `None` for anything else, which [`FuzzyDate::parse`] then reads
    /// (or refuses) the long way; for what this accepts, the long way gives the same date.
    fn parse_canonical(text: &str) -> Option<FuzzyDate> {
        if let Some((from, to)) = text.split_once('/') {
            let from = Period::from_date(FuzzyDate::parse_canonical(from)?)?;
            let to = Period::from_date(FuzzyDate::parse_canonical(to)?)?;
            return FuzzyDate::span(from, to).ok();
        }
        let bytes = text.as_bytes();
        let number = |range: std::ops::Range<usize>| -> Option<u32> {
            bytes.get(range)?.iter().try_fold(0u32, |value, &b| {
                b.is_ascii_digit().then(|| value * 10 + u32::from(b - b'0'))
            })
        };
        let year = i32::try_from(number(0..4)?).ok()?;
        if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
            return None;
        }
        if bytes.len() == 4 {
            return Some(FuzzyDate::Year(year));
        }
        if bytes[4] != b'-' {
            return None;
        }
        match &bytes[5..] {
            b"H1" => {
                return Some(FuzzyDate::Half {
                    year,
                    half: Half::Spring,
                });
            }
            b"H2" => {
                return Some(FuzzyDate::Half {
                    year,
                    half: Half::Autumn,
                });
            }
            _ => {}
        }
        let month = number(5..7)?;
        if bytes.len() == 7 {
            return (1..=12)
                .contains(&month)
                .then_some(FuzzyDate::Month { year, month });
        }
        if bytes[7] != b'-' {
            return None;
        }
        let day = NaiveDate::from_ymd_opt(year, month, number(8..10)?)?;
        if bytes.len() == 10 {
            return Some(FuzzyDate::Day(day));
        }
        if bytes.len() != 16 || bytes[10] != b'T' || bytes[13] != b':' {
            return None;
        }
        let time = NaiveTime::from_hms_opt(number(11..13)?, number(14..16)?, 0)?;
        Some(FuzzyDate::Minute(day.and_time(time)))
    }

    fn parse_numeric(text: &str, input: &str) -> Result<FuzzyDate, DateError> {
        let parts: Vec<&str> = text.split('-').collect();
        match parts.as_slice() {
            [year] => Ok(FuzzyDate::Year(parse_year(year, input)?)),
            [year, "H1" | "h1"] => Ok(FuzzyDate::Half {
                year: parse_year(year, input)?,
                half: Half::Spring,
            }),
            [year, "H2" | "h2"] => Ok(FuzzyDate::Half {
                year: parse_year(year, input)?,
                half: Half::Autumn,
            }),
            [year, month] => {
                let year = parse_year(year, input)?;
                let month = parse_two_digits(month, "month", input)?;
                if !(1..=12).contains(&month) {
                    return Err(date_error(input, "the month must be 01 to 12"));
                }
                Ok(FuzzyDate::Month { year, month })
            }
            [year, month, day] => {
                let year = parse_year(year, input)?;
                let month = parse_two_digits(month, "month", input)?;
                let day = parse_two_digits(day, "day", input)?;
                NaiveDate::from_ymd_opt(year, month, day)
                    .map(FuzzyDate::Day)
                    .ok_or_else(|| date_error(input, "no such day in the calendar"))
            }
            _ => Err(date_error(input, FORMS)),
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            FuzzyDate::Year(_) => Precision::Year,
            FuzzyDate::Half { .. } => Precision::Half,
            FuzzyDate::Month { .. } => Precision::Month,
            FuzzyDate::Day(_) => Precision::Day,
            FuzzyDate::Minute(_) => Precision::Minute,
            FuzzyDate::Span { .. } => Precision::Span,
        }
    }

    /// The year the date begins in.
    pub fn year(&self) -> i32 {
        match self {
            FuzzyDate::Year(year)
            | FuzzyDate::Half { year, .. }
            | FuzzyDate::Month { year, .. } => *year,
            FuzzyDate::Day(day) => day.year(),
            FuzzyDate::Minute(at) => at.year(),
            FuzzyDate::Span { from, .. } => from.as_date().year(),
        }
    }

    /// The first day the date covers.
    pub fn first_day(&self) -> NaiveDate {
        let ymd = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("years are range-checked");
        match *self {
            FuzzyDate::Year(year) => ymd(year, 1, 1),
            FuzzyDate::Half { year, half } => {
                ymd(year, if half == Half::Spring { 1 } else { 7 }, 1)
            }
            FuzzyDate::Month { year, month } => ymd(year, month, 1),
            FuzzyDate::Day(day) => day,
            FuzzyDate::Minute(at) => at.date(),
            FuzzyDate::Span { from, .. } => from.as_date().first_day(),
        }
    }

    /// The last day the date covers.
    pub fn last_day(&self) -> NaiveDate {
        if let FuzzyDate::Span { to, .. } = self {
            return to.as_date().last_day();
        }
        let first = self.first_day();
        let after = match self.precision() {
            Precision::Year => first + Months::new(12),
            Precision::Half => first + Months::new(6),
            Precision::Month => first + Months::new(1),
            Precision::Day | Precision::Minute | Precision::Span => first + Days::new(1),
        };
        after - Days::new(1)
    }

    /// True when the whole date lies on or before `day`: the fact had surely happened by then.
    pub fn surely_by(&self, day: NaiveDate) -> bool {
        self.last_day() <= day
    }

    /// True when the date begins on or before `day`: the fact may have happened by then.
    pub fn possibly_by(&self, day: NaiveDate) -> bool {
        self.first_day() <= day
    }

    /// The month index (year * 12 + zero-based month) of the date's midpoint, used in slippage
    /// arithmetic: a year counts as July, spring as April, autumn as October, a month or a day
    /// as its own month.
    pub fn midpoint_month_index(&self) -> i64 {
        if let FuzzyDate::Span { .. } = self {
            // The middle of the span's months, rounded up as a year's (July) is.
            let (first, last) = self.month_range();
            return (first + last + 1).div_euclid(2);
        }
        let year = i64::from(self.year());
        let month0: i64 = match *self {
            FuzzyDate::Year(_) => 6,
            FuzzyDate::Half {
                half: Half::Spring, ..
            } => 3,
            FuzzyDate::Half {
                half: Half::Autumn, ..
            } => 9,
            FuzzyDate::Month { month, .. } => i64::from(month) - 1,
            FuzzyDate::Day(day) => i64::from(day.month0()),
            FuzzyDate::Minute(at) => i64::from(at.month0()),
            FuzzyDate::Span { .. } => unreachable!("handled above"),
        };
        year * 12 + month0
    }

    /// The month indexes of the first and the last month the date covers.
    fn month_range(&self) -> (i64, i64) {
        let index = |day: NaiveDate| i64::from(day.year()) * 12 + i64::from(day.month0());
        (index(self.first_day()), index(self.last_day()))
    }

    /// Half the width of the date in whole months: how far its midpoint may be from the truth.
    pub fn half_width_months(&self) -> u32 {
        match self.precision() {
            Precision::Year => 6,
            Precision::Half => 3,
            Precision::Month | Precision::Day | Precision::Minute => 0,
            Precision::Span => {
                let (first, last) = self.month_range();
                u32::try_from((last - first + 1) / 2).expect("a span's ends are ordered")
            }
        }
    }

    /// The day a timeline places the fact on: a day on itself, and any other date on the first
    /// day of the month the slippage arithmetic counts it as ([`FuzzyDate::midpoint_month_index`]:
    /// a month on its first day, a year in July, spring in April, autumn in October, a span at
    /// its middle), so that a fact the source dates only to a period is not shown as if it
    /// happened on the period's first day.
    pub fn timeline_day(&self) -> NaiveDate {
        match self {
            FuzzyDate::Day(day) => *day,
            FuzzyDate::Minute(at) => at.date(),
            _ => {
                let index = self.midpoint_month_index();
                let year = i32::try_from(index.div_euclid(12)).expect("years are range-checked");
                let month = u32::try_from(index.rem_euclid(12)).expect("0..12") + 1;
                NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_else(|| self.first_day())
            }
        }
    }

    /// Whole months from `self` to `later`, midpoint to midpoint, with the uncertainty the two
    /// precisions leave.
    pub fn months_until(&self, later: &FuzzyDate) -> MonthSpan {
        MonthSpan {
            months: later.midpoint_month_index() - self.midpoint_month_index(),
            plus_minus: self.half_width_months() + later.half_width_months(),
            at_least: false,
        }
    }

    /// The date is a deadline or a planned date that has passed at `day` without the thing
    /// happening: every day it covers lies before `day` (the deadline of "hösten 2025" is 31
    /// December 2025, so it is overdue from 1 January 2026).
    pub fn overdue_on(&self, day: NaiveDate) -> bool {
        self.last_day() < day
    }

    /// The first day on which the date is overdue: the day after the last day it covers.
    pub fn overdue_from(&self) -> NaiveDate {
        self.last_day() + Days::new(1)
    }

    /// The slip from `self` to a thing that had still not happened on `day`: midpoint to the
    /// month of `day`, with `self`'s uncertainty only (the day is exact), and marked
    /// [`MonthSpan::at_least`] because it grows as long as the thing does not happen.
    pub fn months_overdue_on(&self, day: NaiveDate) -> MonthSpan {
        let day_index = i64::from(day.year()) * 12 + i64::from(day.month0());
        MonthSpan {
            months: day_index - self.midpoint_month_index(),
            plus_minus: self.half_width_months(),
            at_least: true,
        }
    }
}

/// A number of months with its uncertainty, `months ± plus_minus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthSpan {
    pub months: i64,
    pub plus_minus: u32,
    /// A lower bound that is still growing: the thing slipped to had not happened on the day
    /// the span was measured to ([`FuzzyDate::months_overdue_on`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub at_least: bool,
}

impl fmt::Display for MonthSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at_least {
            f.write_str("≥ ")?;
        }
        write!(f, "{:+}", self.months)?;
        if self.plus_minus > 0 {
            write!(f, " (±{})", self.plus_minus)?;
        }
        Ok(())
    }
}

impl fmt::Display for FuzzyDate {
    /// The canonical form, which [`FuzzyDate::parse`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let FuzzyDate::Span { from, to } = self {
            return write!(f, "{}/{}", from.as_date(), to.as_date());
        }
        if !(0..=9999).contains(&self.year()) {
            // A year that needs a sign or more than four digits: the formatter's own forms.
            return match self {
                FuzzyDate::Year(year) => write!(f, "{year:04}"),
                FuzzyDate::Half { year, half } => {
                    write!(
                        f,
                        "{year:04}-{}",
                        if *half == Half::Spring { "H1" } else { "H2" }
                    )
                }
                FuzzyDate::Month { year, month } => write!(f, "{year:04}-{month:02}"),
                FuzzyDate::Day(day) => write!(f, "{}", day.format("%Y-%m-%d")),
                FuzzyDate::Minute(at) => write!(
                    f,
                    "{}T{:02}:{:02}",
                    at.date().format("%Y-%m-%d"),
                    at.hour(),
                    at.minute()
                ),
                FuzzyDate::Span { .. } => unreachable!("written above"),
            };
        }
        // Digit by digit: every event the store appends and every view prints has dates.
        let mut text = *b"YYYY-MM-DDTHH:MM";
        let len = match *self {
            FuzzyDate::Year(year) => write_year(&mut text, year),
            FuzzyDate::Half { year, half } => {
                write_year(&mut text, year);
                text[5] = b'H';
                text[6] = if half == Half::Spring { b'1' } else { b'2' };
                7
            }
            FuzzyDate::Month { year, month } => {
                write_year(&mut text, year);
                write_digits(&mut text[5..7], month);
                7
            }
            FuzzyDate::Day(day) => write_day(&mut text, day),
            FuzzyDate::Minute(at) => {
                write_day(&mut text, at.date());
                write_digits(&mut text[11..13], at.hour());
                write_digits(&mut text[14..16], at.minute());
                16
            }
            FuzzyDate::Span { .. } => unreachable!("written above"),
        };
        f.write_str(std::str::from_utf8(&text[..len]).expect("ASCII digits"))
    }
}

/// Writes `value` into all of `out` as zero-padded decimal digits (`out.len()` of them).
pub(crate) fn write_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Four digits of a year from 0 to 9999 at the start of `out`; 0 (nothing written) for any
/// other year.
fn write_year(out: &mut [u8], year: i32) -> usize {
    match u32::try_from(year) {
        Ok(year @ 0..=9999) => {
            write_digits(&mut out[..4], year);
            4
        }
        _ => 0,
    }
}

/// Appends `day` as `YYYY-MM-DD`, exactly as its `Display` writes it (chrono's own form for a
/// year that needs a sign or more than four digits), without a `String` of its own: the store's
/// append writes an event's first and last day this way, on every event.
pub fn push_day(out: &mut String, day: NaiveDate) {
    let mut text = *b"YYYY-MM-DD";
    if write_day(&mut text, day) == 0 {
        use std::fmt::Write as _;
        write!(out, "{day}").expect("writing to a String cannot fail");
    } else {
        out.push_str(std::str::from_utf8(&text).expect("ASCII digits"));
    }
}

/// `YYYY-MM-DD` into the first ten bytes of `out` (which hold the dashes already), as chrono's
/// `%Y-%m-%d` writes it; 0 (nothing written) for a year outside 0..=9999.
pub(crate) fn write_day(out: &mut [u8], day: NaiveDate) -> usize {
    if write_year(out, day.year()) == 0 {
        return 0;
    }
    write_digits(&mut out[5..7], day.month());
    write_digits(&mut out[8..10], day.day());
    10
}

impl Ord for FuzzyDate {
    /// Chronological by first day, then the wider date first (a year opens before its months),
    /// then by time of day; two spans over the same days by the precision of their ends.
    fn cmp(&self, other: &FuzzyDate) -> Ordering {
        let time = |d: &FuzzyDate| match d {
            FuzzyDate::Minute(at) => Some(at.time()),
            _ => None,
        };
        let ends = |d: &FuzzyDate| match d {
            FuzzyDate::Span { from, to } => {
                Some((from.as_date().precision(), to.as_date().precision()))
            }
            _ => None,
        };
        self.first_day()
            .cmp(&other.first_day())
            .then_with(|| other.last_day().cmp(&self.last_day()))
            .then_with(|| self.precision().cmp(&other.precision()))
            .then_with(|| time(self).cmp(&time(other)))
            .then_with(|| ends(self).cmp(&ends(other)))
    }
}

impl PartialOrd for FuzzyDate {
    fn partial_cmp(&self, other: &FuzzyDate) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for FuzzyDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FuzzyDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Read from the borrowed text where the input allows it: no String per date.
        struct DateVisitor;
        impl serde::de::Visitor<'_> for DateVisitor {
            type Value = FuzzyDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<FuzzyDate, E> {
                FuzzyDate::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_string(DateVisitor)
    }
}

impl std::str::FromStr for FuzzyDate {
    type Err = DateError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FuzzyDate::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> FuzzyDate {
        FuzzyDate::parse(text).expect("valid date")
    }

    #[test]
    fn swedish_seasons_are_half_years() {
        assert_eq!(d("hösten 2019"), d("2019-H2"));
        assert_eq!(d("Våren 2022"), d("2022-H1"));
        assert_eq!(d("hösten 2019").to_string(), "2019-H2");
    }

    #[test]
    fn precision_is_kept() {
        for (text, precision) in [
            ("2018", Precision::Year),
            ("2019-H2", Precision::Half),
            ("2019-10", Precision::Month),
            ("2019-10-08", Precision::Day),
            ("2024-11-12T05:30", Precision::Minute),
        ] {
            let date = d(text);
            assert_eq!(date.precision(), precision, "{text}");
            assert_eq!(date.to_string(), text);
        }
    }

    #[test]
    fn impossible_dates_are_refused_with_the_reason() {
        let error = FuzzyDate::parse("2024-02-30").unwrap_err();
        assert!(error.to_string().contains("no such day"), "{error}");
        let error = FuzzyDate::parse("hösten 20x").unwrap_err();
        assert!(error.to_string().contains("four digits"), "{error}");
        for bad in [
            "",
            "2019-13",
            "2019-H3",
            "19-10-08",
            "2019-10-08T25:00",
            "2019-10T05:30",
        ] {
            assert!(FuzzyDate::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ranges_cover_the_period() {
        let autumn = d("2019-H2");
        assert_eq!(
            autumn.first_day(),
            NaiveDate::from_ymd_opt(2019, 7, 1).unwrap()
        );
        assert_eq!(
            autumn.last_day(),
            NaiveDate::from_ymd_opt(2019, 12, 31).unwrap()
        );
        let inside = NaiveDate::from_ymd_opt(2019, 9, 1).unwrap();
        assert!(autumn.possibly_by(inside));
        assert!(!autumn.surely_by(inside));
    }

    #[test]
    fn slippage_counts_midpoints_and_reports_uncertainty() {
        // Baseline spring 2021 (midpoint April), actual start 12 November 2024.
        let span = d("2021-H1").months_until(&d("2024-11-12"));
        assert_eq!(
            span,
            MonthSpan {
                months: 43,
                plus_minus: 3,
                at_least: false,
            }
        );
        assert_eq!(span.to_string(), "+43 (±3)");
        assert_eq!(d("2024-H2").months_until(&d("2025-H2")).months, 12);
    }

    #[test]
    fn a_planned_period_is_overdue_after_its_last_day_and_the_slip_grows() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let autumn = d("2025-H2");
        assert!(
            !autumn.overdue_on(day(2025, 12, 31)),
            "the deadline is the last day"
        );
        assert!(autumn.overdue_on(day(2026, 1, 1)));
        assert_eq!(autumn.overdue_from(), day(2026, 1, 1));
        // Planned for autumn 2022 (midpoint October), still not started on 27 December 2024.
        let e_services = d("2022-H2");
        let at = |y, m, dd| e_services.months_overdue_on(day(y, m, dd));
        assert_eq!(at(2024, 12, 27).to_string(), "≥ +26 (±3)");
        assert_eq!(at(2025, 11, 1).months, 37);
        // A month deadline: January 2025 is overdue from 1 February, exactly.
        let january = d("2025-01");
        assert!(!january.overdue_on(day(2025, 1, 31)));
        assert_eq!(
            january.months_overdue_on(day(2025, 11, 3)).to_string(),
            "≥ +10"
        );
    }

    #[test]
    fn order_is_chronological_with_wider_dates_first() {
        let mut dates = [d("2019-10-08"), d("2019-H2"), d("2019"), d("2019-10")];
        dates.sort();
        let texts: Vec<String> = dates.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["2019", "2019-H2", "2019-10", "2019-10-08"]);
    }

    #[test]
    fn spans_read_in_every_written_form_and_print_canonically() {
        for (text, canonical) in [
            ("2017/2018", "2017/2018"),
            ("2017–2018", "2017/2018"),
            ("2017-2018", "2017/2018"),
            ("2017 – 2018", "2017/2018"),
            ("2022/23", "2022/2023"),
            ("1999/00", "1999/2000"),
            ("hösten 2022–våren 2023", "2022-H2/2023-H1"),
            ("2022-H2/2023-H1", "2022-H2/2023-H1"),
            ("2024-01/2024-03", "2024-01/2024-03"),
            ("2019-H2/2021", "2019-H2/2021"),
        ] {
            let date = d(text);
            assert_eq!(date.precision(), Precision::Span, "{text}");
            assert_eq!(date.to_string(), canonical, "{text}");
            assert_eq!(d(canonical), date, "{canonical} reads back");
            let json = serde_json::to_string(&date).unwrap();
            assert_eq!(serde_json::from_str::<FuzzyDate>(&json).unwrap(), date);
        }
        let span = d("2017–2018");
        let day = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(span.first_day(), day(2017, 1, 1));
        assert_eq!(span.last_day(), day(2018, 12, 31));
        assert_eq!(span.year(), 2017);
        // Two years: the midpoint is January 2018, give or take a year.
        assert_eq!(span.midpoint_month_index(), 2018 * 12);
        assert_eq!(span.half_width_months(), 12);
        assert_eq!(span.timeline_day(), day(2018, 1, 1));
        assert!(span.overdue_on(day(2019, 1, 1)) && !span.overdue_on(day(2018, 12, 31)));
        let winter = d("hösten 2022–våren 2023");
        assert_eq!(winter.first_day(), day(2022, 7, 1));
        assert_eq!(winter.last_day(), day(2023, 6, 30));
        assert_eq!(winter.half_width_months(), 6);
        assert!(Precision::Span.is_period() && Precision::Year.is_period());
        assert!(!Precision::Month.is_period());
    }

    #[test]
    fn spans_that_run_backwards_overlap_or_end_in_days_are_refused() {
        for (bad, reason) in [
            ("2018/2017", "must begin after its start ends"),
            ("2017/2017", "must begin after its start ends"),
            ("2017/2017-H2", "must begin after its start ends"),
            ("2023/22", "nine years after the start"),
            ("2020/35", "nine years after the start"),
            ("2024-01-05/2024-02", "years, half-years or months"),
            ("2017/2018/2019", "two ends"),
            ("2022-H2/23", "follows a year only"),
            ("2200/01", "between 1900 and 2200"),
            ("2023/2022", "must begin after its start ends"),
            ("2017/", "its end \"\": it is empty"),
            ("/2018", "its end \"\": it is empty"),
            ("2017/20x8", "its end \"20x8\""),
        ] {
            let error = FuzzyDate::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(reason), "{bad}: {error}");
        }
    }

    #[test]
    fn a_timeline_places_a_period_at_its_middle() {
        let day = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(d("2018").timeline_day(), day(2018, 7, 1));
        assert_eq!(d("2019-H1").timeline_day(), day(2019, 4, 1));
        assert_eq!(d("2019-H2").timeline_day(), day(2019, 10, 1));
        assert_eq!(d("2019-10").timeline_day(), day(2019, 10, 1));
        assert_eq!(d("2019-10-08").timeline_day(), day(2019, 10, 8));
        assert_eq!(d("2024-11-12T05:30").timeline_day(), day(2024, 11, 12));
    }

    #[test]
    fn spans_order_with_the_other_dates_and_consistently_with_equality() {
        let mut dates = [
            d("2018"),
            d("2017-H1/2017-H2"),
            d("2017"),
            d("2017/2018"),
            d("2016-12"),
        ];
        dates.sort();
        let texts: Vec<String> = dates.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            ["2016-12", "2017/2018", "2017", "2017-H1/2017-H2", "2018"]
        );
        assert_ne!(d("2017"), d("2017-H1/2017-H2"));
        assert_ne!(d("2017").cmp(&d("2017-H1/2017-H2")), Ordering::Equal);
    }

    proptest! {
        /// Every span of two ordered periods reads back from its canonical form.
        #[test]
        fn spans_read_back(a in 1900i32..2150, gap in 1i32..40, from_kind in 0u8..3, to_kind in 0u8..3, m in 1u32..=12) {
            let period = |kind: u8, year: i32| match kind {
                0 => Period::Year(year),
                1 => Period::Half { year, half: if m > 6 { Half::Autumn } else { Half::Spring } },
                _ => Period::Month { year, month: m },
            };
            let date = FuzzyDate::span(period(from_kind, a), period(to_kind, a + gap)).unwrap();
            prop_assert_eq!(FuzzyDate::parse(&date.to_string()).unwrap(), date);
            prop_assert!(date.first_day() < date.last_day());
        }

        #[test]
        fn canonical_form_reads_back(year in 1900i32..2200, month in 1u32..=12, day in 1u32..=28, kind in 0u8..5, h in 0u32..24, m in 0u32..60) {
            let date = match kind {
                0 => FuzzyDate::Year(year),
                1 => FuzzyDate::Half { year, half: if month > 6 { Half::Autumn } else { Half::Spring } },
                2 => FuzzyDate::Month { year, month },
                3 => FuzzyDate::Day(NaiveDate::from_ymd_opt(year, month, day).unwrap()),
                _ => FuzzyDate::Minute(NaiveDate::from_ymd_opt(year, month, day).unwrap().and_hms_opt(h, m, 0).unwrap()),
            };
            prop_assert_eq!(FuzzyDate::parse(&date.to_string()).unwrap(), date);
        }

        /// Dates print as chrono's `%Y-%m-%d` and `{:04}` print them, for any year.
        #[test]
        fn dates_print_as_chrono_prints_them(days in -3_000_000i32..3_000_000, kind in 0u8..5, h in 0u32..24, m in 0u32..60) {
            let day = NaiveDate::from_num_days_from_ce_opt(days).expect("in range");
            let (year, month) = (day.year(), day.month());
            let (date, expected) = match kind {
                0 => (FuzzyDate::Year(year), format!("{year:04}")),
                1 => (FuzzyDate::Half { year, half: Half::Autumn }, format!("{year:04}-H2")),
                2 => (FuzzyDate::Month { year, month }, format!("{year:04}-{month:02}")),
                3 => (FuzzyDate::Day(day), day.format("%Y-%m-%d").to_string()),
                _ => {
                    let at = day.and_hms_opt(h, m, 0).expect("a time");
                    (FuzzyDate::Minute(at), format!("{}T{h:02}:{m:02}", day.format("%Y-%m-%d")))
                }
            };
            prop_assert_eq!(date.to_string(), expected);
        }

        /// `push_day` appends what a day's `Display` writes, for any year chrono holds.
        #[test]
        fn push_day_writes_what_display_writes(days in -95_000_000i32..95_000_000, prefix in "[a-z]{0,3}") {
            let day = NaiveDate::from_num_days_from_ce_opt(days).expect("in range");
            let mut out = prefix.clone();
            push_day(&mut out, day);
            prop_assert_eq!(out, format!("{prefix}{day}"));
        }

        #[test]
        fn parser_never_panics(text in "\\PC{0,40}") {
            let _ = FuzzyDate::parse(&text);
        }

        /// The fast path reads the canonical forms as the long way reads them, and every one of
        /// them; the rest (seasons in lower case, spaces, refusals) is left to the long way.
        #[test]
        fn the_canonical_reader_agrees_with_the_long_way(text in "[0-9]{4}(-([Hh][0-3]|[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:00)?)?)?))? ?") {
            match FuzzyDate::parse_canonical(&text) {
                Some(date) => {
                    prop_assert_eq!(FuzzyDate::parse_any(&text), Ok(date));
                    prop_assert_eq!(date.to_string(), text);
                }
                // Whatever is in canonical form takes the fast path.
                None => prop_assert!(
                    FuzzyDate::parse_any(&text).map_or(true, |date| date.to_string() != text)
                ),
            }
        }
    }
}
