//! The analyst's outputs: the timeline, the waves with the milestone trend chart, and the diff
//! between two dates, as documents; and the timeline in TimelineJS's JSON format.

use chrono::NaiveDate;
use lagesbild_model::{FuzzyDate, MonthSpan, Source};
use lagesbild_timeline::{Diff, Matter, TimelineEntry, View, WaveStatus};
use serde_json::{Value, json};

use crate::chart;
use crate::doc::{Block, Doc, Inline, text};
use crate::escape;
use crate::swedish;

/// The two time axes a view was asked for, printed under every title.
#[derive(Clone, Debug, Default)]
pub struct Axes {
    pub as_of: Option<NaiveDate>,
    /// The transaction time the log was read at, as given, and the log position it meant.
    pub known_at: Option<String>,
    pub log_seq: u64,
    /// The public-record day: only facts whose sources were published by then.
    pub public_at: Option<NaiveDate>,
}

fn axes_line(axes: &Axes) -> Block {
    let as_of = match axes.as_of {
        Some(day) => format!("Läget per {}", swedish::day(day)),
        None => "Allt som har hänt".to_owned(),
    };
    let known = match &axes.known_at {
        Some(at) => format!(
            "som det var känt {at} (loggen till och med händelse {})",
            axes.log_seq
        ),
        None => format!(
            "enligt hela loggen (till och med händelse {})",
            axes.log_seq
        ),
    };
    let public = match axes.public_at {
        Some(day) => format!(
            ", som det var offentligt känt {} (efter källornas publiceringsdatum)",
            swedish::day(day)
        ),
        None => String::new(),
    };
    Block::Paragraph(vec![text(format!("{as_of}, {known}{public}."))])
}

fn dated(date: &FuzzyDate, tentative: bool) -> String {
    let mut s = swedish::fuzzy(date);
    if tentative {
        s.push_str(" (osäkert om det hade hänt)");
    }
    s
}

fn one_source(source: &Source) -> Inline {
    let mut title = source.title.to_string();
    if let Some(published) = &source.published {
        title.push_str(&format!(", {}", swedish::fuzzy(published)));
    }
    match &source.url {
        Some(url) => Inline::Link {
            text: title,
            url: url.to_string(),
        },
        None => text(title),
    }
}

/// " Källa: A; även: B, C", and a date the sources do not print marked as inferred.
fn source_inlines(source: &Option<Source>) -> Vec<Inline> {
    let Some(source) = source else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    if let Some(how) = &source.date_inferred {
        parts.push(text(format!(" (Härlett datum: {how})")));
    }
    parts.push(text(" Källa: "));
    parts.push(one_source(source));
    for (i, also) in source.also.iter().enumerate() {
        parts.push(text(if i == 0 { "; även: " } else { ", " }));
        parts.push(one_source(also));
    }
    for disagreement in &source.disputed {
        parts.push(text(format!(
            ". Källorna är oense om {}: ",
            disputed_about(disagreement.about.as_str())
        )));
        parts.push(one_source(&Source {
            title: disagreement.title.clone(),
            url: disagreement.url.clone(),
            published: disagreement.published,
            date_inferred: None,
            also: Vec::new(),
            disputed: Vec::new(),
        }));
        parts.push(text(format!(" anger: {}", disagreement.says)));
    }
    parts
}

/// What a disagreement is about, in the words a reader needs: the date, the kind of fact, or
/// the rest (a summary or a field of the fact's data, which `says` itself explains).
pub fn disputed_about(about: &str) -> &'static str {
    match about {
        "occurred" => "datumet",
        "kind" => "vad som hände",
        _ => "uppgiften",
    }
}

fn entry_inlines(entry: &TimelineEntry) -> Vec<Inline> {
    // A fact the source dates only to a period is said to have happened "under" it: "under
    // 2017–2018", "under hösten 2019"; the timeline places it at the period's middle.
    let under = if entry.period { "under " } else { "" };
    let mut parts = vec![text(format!(
        "{under}{}: {}",
        dated(&entry.occurred, entry.tentative),
        entry.summary
    ))];
    if let Some(finding) = &entry.finding {
        parts.push(text(format!(" Slutsats: {finding}")));
    }
    if let Some((low, high)) = entry.amount_msek {
        let amount = match high {
            Some(high) => format!("{}–{}", swedish::number(low), swedish::number(high)),
            None => swedish::number(low),
        };
        parts.push(text(format!(" (Belopp: {amount} miljoner kronor)")));
    }
    if !entry.corrected_by.is_empty() {
        let list: Vec<String> = entry.corrected_by.iter().map(u64::to_string).collect();
        parts.push(text(format!(" (rättad i händelse {})", list.join(", "))));
    }
    parts.extend(source_inlines(&entry.source));
    parts
}

/// Said under the axes when the timeline holds a fact dated only to a period.
pub const PERIOD_NOTE: &str = "Händelser som källan daterar bara till ett år, ett halvår eller en period (”under 2017–2018”) står vid periodens mitt (ett år i juli, våren i april, hösten i oktober), inte på dess första dag.";

pub fn timeline_doc(view: &View, axes: &Axes) -> Doc {
    let mut blocks = vec![axes_line(axes)];
    if view.timeline.iter().any(|e| e.period) {
        blocks.push(Block::Paragraph(vec![text(PERIOD_NOTE)]));
    }
    let mut year = None;
    let mut items = Vec::new();
    for entry in &view.timeline {
        // The year the timeline places the fact in: a span's middle may lie in its second year.
        let placed = chrono::Datelike::year(&entry.occurred.timeline_day());
        if year != Some(placed) {
            if !items.is_empty() {
                blocks.push(Block::List(std::mem::take(&mut items)));
            }
            year = Some(placed);
            blocks.push(Block::Heading(2, placed.to_string()));
        }
        items.push(entry_inlines(entry));
    }
    if !items.is_empty() {
        blocks.push(Block::List(items));
    }
    if view.timeline.is_empty() {
        blocks.push(Block::Paragraph(vec![text("Inga händelser.")]));
    }
    Doc {
        title: "Tidslinje för program Millennium".into(),
        blocks,
    }
}

/// "+43 mån (±3)"; a slip still growing (an overdue wave) is "minst +26 mån (±3)".
pub fn span(span: &Option<MonthSpan>) -> String {
    let Some(s) = span else {
        return "–".into();
    };
    let at_least = if s.at_least { "minst " } else { "" };
    if s.plus_minus > 0 {
        format!("{at_least}{:+} mån (±{})", s.months, s.plus_minus)
    } else {
        format!("{at_least}{:+} mån", s.months)
    }
}

fn planned_cell(date: Option<&FuzzyDate>) -> String {
    date.map(|d| {
        format!(
            "{} ({})",
            swedish::fuzzy(d),
            swedish::precision(d.precision())
        )
    })
    .unwrap_or_else(|| "–".into())
}

/// A wave's status as the tables print it: "pausad sedan 15 november 2024; formell paus sedan 7
/// februari 2025, uppsägning med fyra månaders varsel", "inställd sedan 3 mars 2026 genom beslut
/// av Regionstyrelsen", "struken ur planen sedan 17 maj 2022 ur Tidplan maj 2022".
pub fn wave_state_text(wave: &WaveStatus) -> String {
    let mut state = match &wave.state_since {
        Some(since) => format!("{} sedan {}", wave.state.swedish(), swedish::fuzzy(since)),
        None => wave.state.swedish().to_owned(),
    };
    if let Some(by) = wave.ended.as_ref().and_then(|e| e.swedish()) {
        state.push(' ');
        state.push_str(&by);
    }
    if let Some(formal) = wave.pause.as_ref().and_then(|p| p.formal.as_ref()) {
        state.push_str(&format!(
            "; formell paus sedan {}",
            swedish::fuzzy(&formal.since)
        ));
        if let Some(months) = formal.notice_months {
            state.push_str(&format!(
                ", uppsägning med {} varsel",
                lagesbild_timeline::notice_words(months)
            ));
        }
        if !formal.may_end.is_empty() {
            state.push_str(&format!(
                " (kan sägas upp av {})",
                formal.may_end.join(" och ")
            ));
        }
    }
    state
}

fn wave_row(wave: &WaveStatus) -> Vec<String> {
    let state = wave_state_text(wave);
    vec![
        wave.wave.clone(),
        wave.area.clone(),
        planned_cell(wave.baseline.as_ref().map(|b| &b.planned)),
        planned_cell(wave.current.as_ref().map(|c| &c.planned)),
        wave.actual_start
            .map(|d| swedish::fuzzy(&d))
            .unwrap_or_else(|| "–".into()),
        state,
        span(&wave.slip_vs_baseline),
        span(&wave.slip_vs_previous),
    ]
}

pub fn waves_doc(view: &View, axes: &Axes, with_chart: bool) -> Doc {
    waves_doc_linked(view, axes, with_chart, None)
}

/// A matter's line in a list: its summary, category, party and next date ("försenat: var …"
/// once passed), linked to its own page when `href` gives one.
fn matter_item(m: &Matter, href: Option<fn(&str) -> String>) -> Vec<Inline> {
    let mut rest = format!(" ({}", m.category.swedish());
    if let Some(party) = &m.party {
        rest.push_str(&format!(", {party}"));
    }
    rest.push(')');
    if let Some(next) = &m.next_date {
        let label = if m.overdue_since.is_some() {
            "försenat: var"
        } else {
            "nästa datum"
        };
        rest.push_str(&format!("; {label} {}", swedish::fuzzy(next)));
        if let Some(step) = &m.next_step {
            rest.push_str(&format!(": {step}"));
        }
    }
    if let Some(closed) = &m.closed {
        rest.push_str(&format!("; avslutat {}", swedish::fuzzy(closed)));
    }
    match href {
        Some(href) => vec![
            Inline::Link {
                text: m.summary.clone(),
                url: href(&m.matter),
            },
            text(rest),
        ],
        None => vec![text(format!("{}{rest}", m.summary))],
    }
}

/// [`waves_doc`], with each matter linked to its own page (`matter_href`, the web app's
/// `/arenden/ID`) and, when linked, the closed matters listed too so that every matter's page
/// can be reached.
pub fn waves_doc_linked(
    view: &View,
    axes: &Axes,
    with_chart: bool,
    matter_href: Option<fn(&str) -> String>,
) -> Doc {
    let mut blocks = vec![axes_line(axes)];
    blocks.push(Block::Table {
        caption: "Etapper: plan, status och förskjutning i månader".into(),
        header: [
            "etapp",
            "område",
            "första plan",
            "gällande plan",
            "faktisk start",
            "status",
            "mot första plan",
            "mot föregående plan",
        ]
        .map(String::from)
        .to_vec(),
        rows: view.waves.iter().map(wave_row).collect(),
    });
    blocks.push(Block::Paragraph(vec![text(
        "Förskjutningen räknas från mitten av ett datums period (våren = april, hösten = oktober, ett år = juli) till faktisk start, eller till gällande plan om etappen inte har startat. En etapp vars hela planerade period har passerat utan start är försenad; dess förskjutning räknas till dagen för läget och är ett minsta värde som växer (”minst”). ± anger osäkerheten som periodernas längd ger.",
    )]));
    if let Some(end) = &view.programme_ended {
        blocks.push(Block::Paragraph(vec![text(format!(
            "Programmet avslutades {} genom beslut av {}: {}",
            swedish::fuzzy(&end.occurred),
            end.by.as_deref().unwrap_or("okänd"),
            end.summary
        ))]));
    }
    if !view.recommendations.is_empty() {
        blocks.push(Block::Heading(
            2,
            "Rekommendationer (avslutar ingenting)".into(),
        ));
        blocks.push(Block::List(
            view.recommendations
                .iter()
                .map(|r| {
                    vec![text(format!(
                        "{}: {} (från {}{})",
                        swedish::fuzzy(&r.occurred),
                        r.summary,
                        r.by,
                        r.to.as_ref()
                            .map(|t| format!(" till {t}"))
                            .unwrap_or_default()
                    ))]
                })
                .collect(),
        ));
    }
    blocks.push(Block::Heading(2, "Tidplaner".into()));
    let mut plan_rows = Vec::new();
    for plan in &view.plans {
        for wave in &plan.waves {
            plan_rows.push(vec![
                dated(&plan.occurred, plan.tentative),
                plan.label
                    .clone()
                    .or_else(|| plan.decided_by.clone())
                    .unwrap_or_default(),
                wave.wave.clone(),
                wave.area.clone(),
                planned_cell(Some(&wave.planned)),
            ]);
        }
    }
    if with_chart {
        blocks.push(Block::TrustedHtml(chart::milestone_trend_svg(view, "mta")));
    }
    blocks.push(Block::Table {
        caption: "Milstolpstrendanalys som tabell: varje tidplans planerade datum per etapp".into(),
        header: ["tidplanens datum", "tidplan", "etapp", "område", "planerat"]
            .map(String::from)
            .to_vec(),
        rows: plan_rows,
    });
    let open: Vec<Vec<Inline>> = view
        .open_matters()
        .map(|m| matter_item(m, matter_href))
        .collect();
    blocks.push(Block::Heading(2, "Öppna ärenden".into()));
    if open.is_empty() {
        blocks.push(Block::Paragraph(vec![text("Inga öppna ärenden.")]));
    } else {
        blocks.push(Block::List(open));
    }
    if matter_href.is_some() {
        let closed: Vec<Vec<Inline>> = view
            .matters
            .iter()
            .filter(|m| !m.open)
            .map(|m| matter_item(m, matter_href))
            .collect();
        blocks.push(Block::Heading(2, "Avslutade ärenden".into()));
        if closed.is_empty() {
            blocks.push(Block::Paragraph(vec![text("Inga avslutade ärenden.")]));
        } else {
            blocks.push(Block::List(closed));
        }
    }
    Doc {
        title: "Etapper och tidplaner för Millennium".into(),
        blocks,
    }
}

/// A step of a matter's life in Swedish.
fn step_swedish(step: &str) -> &'static str {
    match step {
        "opened" => "öppnat",
        "answered" => "besvarat",
        "updated" => "uppdaterat",
        _ => "avslutat",
    }
}

/// One matter's page: what it is, where it stands on the as-of day (open or closed, its next
/// date and whether it has passed, its finding or outcome) and its whole history step by step,
/// each with its source.
pub fn matter_doc(m: &Matter, axes: &Axes) -> Doc {
    let mut blocks = vec![axes_line(axes)];
    blocks.push(Block::Paragraph(vec![text(m.summary.clone())]));
    let mut facts = vec![vec![text(format!("Slag: {}", m.category.swedish()))]];
    if let Some(party) = &m.party {
        facts.push(vec![text(format!("Parter: {party}"))]);
    }
    if let Some(opened) = &m.opened {
        facts.push(vec![text(format!("Öppnat: {}", swedish::fuzzy(opened)))]);
    }
    facts.push(vec![text(match &m.closed {
        Some(closed) => format!("Läge: avslutat {}", swedish::fuzzy(closed)),
        None => "Läge: öppet".to_owned(),
    })]);
    if let Some(next) = &m.next_date {
        let mut line = match m.overdue_since {
            Some(since) => format!(
                "Försenat: var {} (passerat sedan {})",
                swedish::fuzzy(next),
                swedish::day(since)
            ),
            None => format!("Nästa datum: {}", swedish::fuzzy(next)),
        };
        if let Some(step) = &m.next_step {
            line.push_str(&format!(", {step}"));
        }
        facts.push(vec![text(line)]);
    }
    if let Some(finding) = &m.finding {
        facts.push(vec![text(format!("Slutsats: {finding}"))]);
    } else if let Some(outcome) = &m.outcome {
        facts.push(vec![text(format!("Utfall: {outcome}"))]);
    }
    blocks.push(Block::List(facts));
    blocks.push(Block::Heading(2, "Ärendets historia".into()));
    let steps: Vec<Vec<Inline>> = m
        .steps
        .iter()
        .map(|step| {
            let mut line = format!(
                "{} – {}: {}",
                dated(&step.occurred, false),
                step_swedish(step.step),
                step.summary
            );
            if let Some(next) = &step.next_date {
                line.push_str(&format!(" (nästa datum: {})", swedish::fuzzy(next)));
            }
            let mut parts = vec![text(line)];
            if let Some(entry) = m.history.iter().find(|h| h.seq == step.seq) {
                if let Some(finding) = &entry.finding {
                    parts.push(text(format!(" Slutsats: {finding}")));
                }
                parts.extend(source_inlines(&entry.source));
            }
            parts
        })
        .collect();
    if steps.is_empty() {
        blocks.push(Block::Paragraph(vec![text("Inga steg.")]));
    } else {
        blocks.push(Block::List(steps));
    }
    Doc {
        title: format!("Ärende {}", m.matter),
        blocks,
    }
}

pub fn diff_doc(diff: &Diff, axes: &Axes) -> Doc {
    let day = |d: Option<NaiveDate>| d.map(swedish::day).unwrap_or_else(|| "i dag".into());
    let mut blocks = vec![axes_line(axes)];
    blocks.push(Block::Paragraph(vec![text(format!(
        "Skillnader mellan läget {} och läget {}.",
        day(diff.from),
        day(diff.to)
    ))]));
    let section = |blocks: &mut Vec<Block>, heading: &str, items: Vec<Vec<Inline>>| {
        blocks.push(Block::Heading(2, heading.into()));
        if items.is_empty() {
            blocks.push(Block::Paragraph(vec![text("Inga.")]));
        } else {
            blocks.push(Block::List(items));
        }
    };
    section(
        &mut blocks,
        "Nya tidplaner",
        diff.new_plans
            .iter()
            .map(|p| {
                let waves: Vec<String> = p
                    .waves
                    .iter()
                    .map(|w| format!("{} {}", w.wave, swedish::fuzzy(&w.planned)))
                    .collect();
                vec![text(format!(
                    "{}: {} ({})",
                    swedish::fuzzy(&p.occurred),
                    p.summary,
                    waves.join(", ")
                ))]
            })
            .collect(),
    );
    let fmt_snapshot = |s: &lagesbild_timeline::WaveSnapshot| {
        let mut t = s.state.clone();
        if let Some(by) = &s.ended_by {
            t.push_str(&format!(" {by}"));
        }
        if let Some(p) = &s.planned
            && let Ok(d) = FuzzyDate::parse(p)
        {
            t.push_str(&format!(", planerad {}", swedish::fuzzy(&d)));
        }
        if let Some(a) = &s.actual_start
            && let Ok(d) = FuzzyDate::parse(a)
        {
            t.push_str(&format!(", startade {}", swedish::fuzzy(&d)));
        }
        if let Some(f) = &s.formal_pause_since
            && let Ok(d) = FuzzyDate::parse(f)
        {
            t.push_str(&format!(", formell paus sedan {}", swedish::fuzzy(&d)));
        }
        t
    };
    if let Some(end) = &diff.programme_ended {
        let by = end.by.as_deref().unwrap_or("okänd");
        section(
            &mut blocks,
            "Programmet avslutat",
            vec![vec![text(format!(
                "{}: {} (beslut av {by})",
                swedish::fuzzy(&end.occurred),
                end.summary
            ))]],
        );
    }
    section(
        &mut blocks,
        "Etapper som ändrats",
        diff.wave_changes
            .iter()
            .map(|c| {
                let before = c
                    .before
                    .as_ref()
                    .map(fmt_snapshot)
                    .unwrap_or_else(|| "fanns inte".into());
                vec![text(format!(
                    "{} ({}): {} → {}",
                    c.wave,
                    c.area,
                    before,
                    fmt_snapshot(&c.after)
                ))]
            })
            .collect(),
    );
    section(
        &mut blocks,
        "Nya öppna ärenden",
        diff.opened_matters
            .iter()
            .map(|m| vec![text(format!("{} ({})", m.summary, m.category.swedish()))])
            .collect(),
    );
    section(
        &mut blocks,
        "Avslutade ärenden",
        diff.closed_matters
            .iter()
            .map(|m| {
                let mut line = format!("{} ({})", m.summary, m.category.swedish());
                match (&m.finding, &m.outcome) {
                    (Some(finding), _) => line.push_str(&format!(" Slutsats: {finding}")),
                    (None, Some(outcome)) => line.push_str(&format!(" Utfall: {outcome}")),
                    _ => {}
                }
                vec![text(line)]
            })
            .collect(),
    );
    section(
        &mut blocks,
        "Ärenden med nytt datum",
        diff.rescheduled_matters
            .iter()
            .map(|m| {
                vec![text(format!(
                    "{}: {} → {}",
                    m.summary,
                    m.next_date_before.clone().unwrap_or_else(|| "–".into()),
                    m.next_date_after.clone().unwrap_or_else(|| "–".into())
                ))]
            })
            .collect(),
    );
    section(
        &mut blocks,
        "Rekommendationer (inga beslut)",
        diff.new_recommendations
            .iter()
            .map(|r| {
                vec![text(format!(
                    "{}: {} (från {})",
                    swedish::fuzzy(&r.occurred),
                    r.summary,
                    r.by
                ))]
            })
            .collect(),
    );
    section(
        &mut blocks,
        "Händelser däremellan",
        diff.new_facts.iter().map(entry_inlines).collect(),
    );
    Doc {
        title: "Vad har ändrats".into(),
        blocks,
    }
}

fn timelinejs_date(date: &FuzzyDate) -> (Value, Option<Value>) {
    match *date {
        FuzzyDate::Year(year) => (json!({ "year": year }), None),
        FuzzyDate::Half { year, .. } => {
            let first = date.first_day();
            let last = date.last_day();
            (
                json!({ "year": year, "month": chrono::Datelike::month(&first) }),
                Some(json!({ "year": year, "month": chrono::Datelike::month(&last) })),
            )
        }
        FuzzyDate::Month { year, month } => (json!({ "year": year, "month": month }), None),
        FuzzyDate::Span { .. } => {
            use chrono::Datelike;
            let (first, last) = (date.first_day(), date.last_day());
            (
                json!({ "year": first.year(), "month": first.month() }),
                Some(json!({ "year": last.year(), "month": last.month() })),
            )
        }
        FuzzyDate::Day(d) => (
            json!({ "year": chrono::Datelike::year(&d), "month": chrono::Datelike::month(&d), "day": chrono::Datelike::day(&d) }),
            None,
        ),
        FuzzyDate::Minute(at) => {
            use chrono::{Datelike, Timelike};
            (
                json!({ "year": at.year(), "month": at.month(), "day": at.day(), "hour": at.hour(), "minute": at.minute() }),
                None,
            )
        }
    }
}

/// The timeline in the JSON format of TimelineJS 3 (Knight Lab), whose text fields are HTML:
/// every text from the log is HTML-escaped.
pub fn timelinejs(view: &View) -> Value {
    let events: Vec<Value> = view
        .timeline
        .iter()
        .map(|entry| {
            let (start, end) = timelinejs_date(&entry.occurred);
            let mut body = escape::html(&entry.summary);
            if let Some(finding) = &entry.finding {
                body.push_str(&format!("<p>Slutsats: {}</p>", escape::html(finding)));
            }
            let inferred = entry.source.as_ref().and_then(|s| s.date_inferred.as_ref());
            if let Some(how) = inferred {
                body.push_str(&format!("<p>Härlett datum: {}</p>", escape::html(how.as_str())));
            }
            if let Some(source) = &entry.source {
                let title = escape::html(source.title.as_str());
                match &source.url {
                    Some(url) => body.push_str(&format!(r#"<p>Källa: <a href="{}">{title}</a></p>"#, escape::html(url.as_str()))),
                    None => body.push_str(&format!("<p>Källa: {title}</p>")),
                }
                for d in &source.disputed {
                    body.push_str(&format!(
                        "<p>Källorna är oense om {}: {} anger: {}</p>",
                        disputed_about(d.about.as_str()),
                        escape::html(d.title.as_str()),
                        escape::html(d.says.as_str())
                    ));
                }
            }
            let mut event = json!({
                "start_date": start,
                "display_date": if inferred.is_some() {
                    format!("{} (härlett)", swedish::fuzzy(&entry.occurred))
                } else {
                    swedish::fuzzy(&entry.occurred)
                },
                "text": { "headline": escape::html(&entry.summary.chars().take(90).collect::<String>()), "text": body },
                "group": entry.kind,
                "unique_id": format!("e{}", entry.seq),
            });
            if let Some(end) = end {
                event["end_date"] = end;
            }
            event
        })
        .collect();
    json!({
        "title": { "text": { "headline": "Program Millennium", "text": "Västra Götalandsregionens införande av vårdinformationssystemet Millennium, ur händelseloggen." } },
        "events": events,
    })
}
