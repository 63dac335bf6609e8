//! Swedish formatting: "27 december 2024", "hösten 2024", "kl. 11.15", "1 046", "3,7".

use chrono::{Datelike, NaiveDate, Timelike};
use lagesbild_model::{FuzzyDate, Half};

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

pub fn month_name(month: u32) -> &'static str {
    MONTHS[(month.clamp(1, 12) - 1) as usize]
}

/// "27 december 2024".
pub fn day(date: NaiveDate) -> String {
    format!(
        "{} {} {}",
        date.day(),
        month_name(date.month()),
        date.year()
    )
}

/// A fuzzy date in the words a Swedish report uses, never more precise than the date.
pub fn fuzzy(date: &FuzzyDate) -> String {
    match *date {
        FuzzyDate::Year(year) => year.to_string(),
        FuzzyDate::Half {
            year,
            half: Half::Spring,
        } => format!("våren {year}"),
        FuzzyDate::Half {
            year,
            half: Half::Autumn,
        } => format!("hösten {year}"),
        FuzzyDate::Month { year, month } => format!("{} {year}", month_name(month)),
        FuzzyDate::Day(d) => day(d),
        FuzzyDate::Minute(at) => format!("{} {}", day(at.date()), time(at.hour(), at.minute())),
        // "2017–2018", "hösten 2022–våren 2023": each end in its own words, an en dash between.
        FuzzyDate::Span { from, to } => {
            format!("{}–{}", fuzzy(&from.as_date()), fuzzy(&to.as_date()))
        }
    }
}

/// The precision of a date in Swedish, as tables print it beside the date.
pub fn precision(precision: lagesbild_model::Precision) -> &'static str {
    use lagesbild_model::Precision;
    match precision {
        Precision::Year => "år",
        Precision::Half => "halvår",
        Precision::Month => "månad",
        Precision::Day => "dag",
        Precision::Minute => "minut",
        Precision::Span => "period",
    }
}

/// "kl. 11.15".
pub fn time(hour: u32, minute: u32) -> String {
    format!("kl. {hour:02}.{minute:02}")
}

/// A number with a space between thousands and a decimal comma: 1046 → "1 046", 3.7 → "3,7".
pub fn number(value: f64) -> String {
    let negative = value < 0.0;
    let text = format!("{}", value.abs());
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w.to_owned(), Some(f.to_owned())),
        None => (text, None),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    // A no-break space keeps "1 046" on one line; plain text readers see a space.
    let mut out = if negative {
        format!("−{grouped}")
    } else {
        grouped
    };
    if let Some(fraction) = fraction {
        out.push(',');
        out.push_str(&fraction);
    }
    out.replace('\u{a0}', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_swedish() {
        let d = |t: &str| FuzzyDate::parse(t).unwrap();
        assert_eq!(fuzzy(&d("2024-12-27")), "27 december 2024");
        assert_eq!(fuzzy(&d("2024-H2")), "hösten 2024");
        assert_eq!(fuzzy(&d("2021-H1")), "våren 2021");
        assert_eq!(fuzzy(&d("2019-12")), "december 2019");
        assert_eq!(fuzzy(&d("2024-11-12T05:30")), "12 november 2024 kl. 05.30");
        assert_eq!(fuzzy(&d("2017/2018")), "2017–2018");
        assert_eq!(fuzzy(&d("2022/23")), "2022–2023");
        assert_eq!(fuzzy(&d("2022-H2/2023-H1")), "hösten 2022–våren 2023");
    }

    #[test]
    fn numbers_in_swedish() {
        assert_eq!(number(1046.0), "1 046");
        assert_eq!(number(2100.0), "2 100");
        assert_eq!(number(3.7), "3,7");
        assert_eq!(number(120.0), "120");
        assert_eq!(number(1_234_567.25), "1 234 567,25");
    }
}
