//! The report as a PDF: the report model turned into the print template's data (every date,
//! number and composite line already in Swedish, since a typst template cannot call the
//! Handlebars helpers), handed to `report.typ` as JSON data, never as markup, and typeset by
//! [`lagesbild_pdf`]. The words around the data (headings, the sender, the distribution line)
//! are the template's; the wording of the composite lines follows `report.md.hbs`.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Europe::Stockholm;
use lagesbild_model::FuzzyDate;
use lagesbild_timeline::{FigureLine, MatterLine, NoteLine, ReportModel, WaveLine};
use serde_json::{Value, json};

use crate::swedish;

fn date(d: &FuzzyDate) -> String {
    swedish::fuzzy(d)
}

fn opt_date(d: Option<&FuzzyDate>) -> String {
    d.map(date).unwrap_or_else(|| "–".to_owned())
}

fn notes(lines: &[NoteLine]) -> Value {
    lines
        .iter()
        .map(|l| json!({ "text": l.text, "points": l.points }))
        .collect()
}

fn months(months: Option<i64>, plus_minus: Option<u32>) -> String {
    match months {
        Some(m) => match plus_minus.unwrap_or(0) {
            0 => format!("{m:+} mån"),
            pm => format!("{m:+} mån (±{pm})"),
        },
        None => "–".to_owned(),
    }
}

fn wave(w: &WaveLine) -> Value {
    let mut state = w.state.clone();
    if let Some(since) = &w.state_since {
        state.push_str(&format!(" sedan {}", date(since)));
    }
    if let Some(by) = &w.ended_by {
        state.push_str(&format!(" {by}"));
    }
    if let Some(since) = &w.formal_pause_since {
        state.push_str(&format!("; formell paus sedan {}", date(since)));
        if let Some(notice) = &w.pause_notice {
            state.push_str(&format!(", uppsägning med {notice} varsel"));
        }
    }
    let slip = format!(
        "{}{}",
        if w.slip_at_least { "minst " } else { "" },
        months(w.slip_months, w.slip_plus_minus)
    );
    json!({
        "wave": w.wave,
        "area": w.area,
        "planned": opt_date(w.planned.as_ref()),
        "actual_start": opt_date(w.actual_start.as_ref()),
        "state": state,
        "slip": slip,
    })
}

fn matter(m: &MatterLine) -> String {
    let mut line = format!("{} ({}", m.summary, m.category);
    if let Some(party) = &m.party {
        line.push_str(&format!(", {party}"));
    }
    line.push(')');
    if let Some(next) = &m.next_date {
        let lead = if m.overdue {
            "Försenat: var"
        } else {
            "Nästa datum:"
        };
        line.push_str(&format!(" {lead} {}", date(next)));
        if let Some(step) = &m.next_step {
            line.push_str(&format!(", {step}"));
        }
        line.push('.');
    }
    line
}

fn change(value: Option<f64>) -> String {
    match value {
        Some(v) if v.abs() < 1e-9 => "oförändrat".to_owned(),
        Some(v) if v > 0.0 => format!("+{}", swedish::number(v)),
        Some(v) => swedish::number(v),
        None => "–".to_owned(),
    }
}

fn figure(f: &FigureLine, model: &ReportModel) -> String {
    let mut line = format!(
        "{}: {} {} ({}",
        f.label,
        swedish::number(f.value),
        f.unit,
        date(&f.as_of)
    );
    if let Some(published) = &f.published {
        line.push_str(&format!(", enligt källa publicerad {}", date(published)));
    }
    if f.stale {
        line.push_str(&format!("; äldre än {} dagar", model.figure_max_age_days));
    }
    if f.previous.is_some()
        && let Some(previous) = model.previous_report
    {
        line.push_str(&format!(
            "; {} sedan {}",
            change(f.change),
            swedish::day(previous)
        ));
    }
    line.push(')');
    line
}

fn compiled(at: &FuzzyDate) -> String {
    match at {
        FuzzyDate::Minute(at) => {
            format!("{} klockan {}", at.format("%Y-%m-%d"), at.format("%H.%M"))
        }
        other => other.to_string(),
    }
}

/// The data `report.typ` reads: plain strings and lists, nothing the template would evaluate.
pub fn print_data(model: &ReportModel) -> Value {
    let week = model
        .week
        .split_once("-W")
        .map(|(_, w)| w.trim_start_matches('0').to_owned())
        .unwrap_or_else(|| model.week.clone());
    let since = swedish::day(model.new_since.since);
    let new_since = if model.new_since.since_previous_report {
        format!("förra rapporten ({since})")
    } else {
        since
    };
    json!({
        "title": model.title,
        "day": swedish::day(model.report_date),
        "week": week,
        "number": model.number,
        "version": model.version,
        "compiled": compiled(&model.compiled_at),
        "summary": notes(&model.summary),
        "communications": notes(&model.communications),
        "operations": notes(&model.operations),
        "actions": model.actions.iter().map(|a| json!({
            "label": a.date_label, "title": a.title, "url": a.url,
        })).collect::<Vec<_>>(),
        "collected": model.collected.iter().map(|l| json!({
            "title": l.title, "url": l.url,
        })).collect::<Vec<_>>(),
        "spokespersons": model.spokespersons.iter().map(|p| match &p.title {
            Some(title) => format!("{}, {title}", p.person),
            None => p.person.clone(),
        }).collect::<Vec<_>>(),
        "new_since": { "since": new_since, "lines": model.new_since.lines },
        "waves": model.waves.iter().map(wave).collect::<Vec<_>>(),
        "open_matters": model.open_matters.iter().map(matter).collect::<Vec<_>>(),
        "figures": model.figures.iter().map(|f| figure(f, model)).collect::<Vec<_>>(),
        "sources": model.sources.iter().map(|s| json!({
            "title": s.title,
            "url": s.url,
            "published": s.published.as_ref().map(date),
        })).collect::<Vec<_>>(),
        "about": notes(&model.about),
    })
}

/// The PDF's creation date in UTC, as the PDF's metadata states it: the edition's compile time
/// (a minute), or the start of its day, both Swedish local time.
pub fn creation_date(model: &ReportModel) -> NaiveDateTime {
    utc_of_swedish(match &model.compiled_at {
        FuzzyDate::Minute(at) => *at,
        _ => model.report_date.and_time(chrono::NaiveTime::MIN),
    })
}

fn utc_of_swedish(local: NaiveDateTime) -> NaiveDateTime {
    // A minute that does not exist (the hour skipped in spring) is read as the same clock time
    // an hour later, and one that occurs twice (in autumn) as the first of the two.
    let zoned = Stockholm
        .from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            Stockholm
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        });
    zoned.map_or(local, |at| at.naive_utc())
}

/// The PDF's stable identity: the edition (its day and version), hashed into the document id.
pub fn ident(model: &ReportModel) -> String {
    format!(
        "lagesbild/regional-rapport/{}/v{}",
        model.report_date, model.version
    )
}

/// Typesets the report with the template `template` (`report.typ`'s text).
pub fn render(
    model: &ReportModel,
    template_name: &str,
    template: &str,
) -> Result<Vec<u8>, lagesbild_pdf::PdfError> {
    let data = serde_json::to_vec(&print_data(model)).unwrap_or_default();
    lagesbild_pdf::typeset(&lagesbild_pdf::Job {
        template_name,
        template,
        data: &data,
        ident: &ident(model),
        created: creation_date(model),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").expect("a time")
    }

    #[test]
    fn the_creation_date_is_swedish_time_in_utc() {
        assert_eq!(
            utc_of_swedish(at("2024-12-27T10:15")),
            at("2024-12-27T09:15")
        );
        assert_eq!(
            utc_of_swedish(at("2024-06-01T10:15")),
            at("2024-06-01T08:15")
        );
        // The hour skipped in spring, and the one that occurs twice in autumn.
        assert_eq!(
            utc_of_swedish(at("2024-03-31T02:30")),
            at("2024-03-31T01:30")
        );
        assert_eq!(
            utc_of_swedish(at("2024-10-27T02:30")),
            at("2024-10-27T00:30")
        );
    }
}
