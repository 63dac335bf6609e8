//! The milestone trend analysis chart as static, accessible SVG: x is the date each plan was
//! made, y the date it planned for a wave, one line per wave, the diagonal where the two meet,
//! the actual start marked on it. No script, no fonts to load, no downloads.

use std::fmt::Write;

use lagesbild_model::FuzzyDate;
use lagesbild_timeline::View;

use crate::escape::html as esc;
use crate::swedish;

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 56.0;

/// Colours with at least 4.5:1 contrast on white; each wave also has its own marker shape and
/// dash pattern, so colour is never the only difference.
const COLOURS: [&str; 8] = [
    "#005a9c", "#b3261e", "#1b6e20", "#6a3d9a", "#8a4b00", "#00657a", "#a1005f", "#4d4d4d",
];
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];

/// A linear map from months to pixels.
struct Scale {
    min: f64,
    max: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn at(&self, months: f64) -> f64 {
        self.from + (months - self.min) / (self.max - self.min) * (self.to - self.from)
    }
}

fn months(date: &FuzzyDate) -> f64 {
    // The midpoint rule of slippage arithmetic (docs/replay.md), so the chart and the numbers
    // agree.
    date.midpoint_month_index() as f64
}

/// One line of the chart: a wave's plans and its actual start.
struct Series {
    wave: String,
    area: String,
    points: Vec<(FuzzyDate, FuzzyDate)>,
    actual: Option<FuzzyDate>,
}

fn series(view: &View) -> Vec<Series> {
    view.waves
        .iter()
        .filter(|w| !w.plans.is_empty())
        .map(|w| Series {
            wave: w.wave.clone(),
            area: w.area.clone(),
            points: w.plans.iter().map(|p| (p.plan_date, p.planned)).collect(),
            actual: w.actual_start,
        })
        .collect()
}

/// The chart's text description, also used as the SVG's `<desc>`.
pub fn description(view: &View) -> String {
    let all = series(view);
    if all.is_empty() {
        return "Inga tidplaner finns i loggen för det valda datumet.".to_owned();
    }
    let mut text = format!(
        "Milstolpstrendanalys: {} tidplaner för {} etapper. ",
        view.plans.len(),
        all.len()
    );
    for s in &all {
        let first = &s.points[0];
        let last = &s.points[s.points.len() - 1];
        let _ = write!(
            text,
            "{} ({}): planerad till {} i tidplanen från {}, senast {} i tidplanen från {}",
            s.wave,
            s.area,
            swedish::fuzzy(&first.1),
            swedish::fuzzy(&first.0),
            swedish::fuzzy(&last.1),
            swedish::fuzzy(&last.0)
        );
        if let Some(actual) = &s.actual {
            let _ = write!(text, "; startade {}", swedish::fuzzy(actual));
        }
        text.push_str(". ");
    }
    text.trim_end().to_owned()
}

/// Renders the chart. `id` makes the title and description ids unique in a page.
pub fn milestone_trend_svg(view: &View, id: &str) -> String {
    let all = series(view);
    let title = "Milstolpstrendanalys: planerat datum per etapp och tidplan";
    let desc = description(view);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title {id}-desc" font-family="sans-serif" font-size="13"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc><rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>"##,
        esc(title),
        esc(&desc)
    );
    if all.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#1a1a1a">Inga tidplaner</text></svg>"##,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return svg;
    }
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for s in &all {
        for (made, planned) in &s.points {
            for v in [months(made), months(planned)] {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if let Some(a) = &s.actual {
            lo = lo.min(months(a));
            hi = hi.max(months(a));
        }
    }
    // Whole years around the data, so that the axes start and end on a January.
    let lo = (lo / 12.0).floor() * 12.0;
    let hi = ((hi + 1.0) / 12.0).ceil() * 12.0;
    let x = Scale {
        min: lo,
        max: hi,
        from: LEFT,
        to: WIDTH - RIGHT,
    };
    let y = Scale {
        min: lo,
        max: hi,
        from: HEIGHT - BOTTOM,
        to: TOP,
    };

    // Grid and axes: one line per year.
    let first_year = (lo / 12.0) as i64;
    let last_year = (hi / 12.0) as i64;
    let step = if last_year - first_year > 12 { 2 } else { 1 };
    for year in (first_year..=last_year).step_by(step) {
        let m = (year * 12) as f64;
        let (px, py) = (x.at(m), y.at(m));
        let _ = write!(
            svg,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#d9d9d9"/><line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#d9d9d9"/><text x="{px:.1}" y="{:.1}" text-anchor="middle" fill="#1a1a1a">{year}</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#1a1a1a">{year}</text>"##,
            HEIGHT - BOTTOM,
            WIDTH - RIGHT,
            HEIGHT - BOTTOM + 18.0,
            LEFT - 8.0,
            py + 4.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#1a1a1a">Tidplanens datum</text><text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle" fill="#1a1a1a">Planerat datum</text><text x="{:.1}" y="28" text-anchor="middle" font-size="15" font-weight="bold" fill="#1a1a1a">{}</text>"##,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 16.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (LEFT + WIDTH - RIGHT) / 2.0,
        esc(title)
    );
    // The diagonal: a plan whose planned date equals the day it was made.
    let _ = write!(
        svg,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#595959" stroke-dasharray="4 4"><title>Diagonalen: planerat datum = tidplanens datum</title></line>"##,
        x.at(lo),
        y.at(lo),
        x.at(hi),
        y.at(hi)
    );

    for (i, s) in all.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // Past the last colour the dash pattern shifts, so no two waves look alike.
        let dash = DASHES[(i + i / COLOURS.len()) % DASHES.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|(made, planned)| {
                format!("{:.1},{:.1}", x.at(months(made)), y.at(months(planned)))
            })
            .collect();
        let dash_attr = if dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{dash}""#)
        };
        let _ = write!(
            svg,
            r#"<g><title>{}</title><polyline points="{}" fill="none" stroke="{colour}" stroke-width="2.5"{dash_attr}/>"#,
            esc(&format!("{} ({})", s.wave, s.area)),
            points.join(" ")
        );
        for (made, planned) in &s.points {
            let (px, py) = (x.at(months(made)), y.at(months(planned)));
            let _ = write!(
                svg,
                r#"<circle cx="{px:.1}" cy="{py:.1}" r="4" fill="{colour}"><title>{}</title></circle>"#,
                esc(&format!(
                    "{}: tidplan {} planerade {}",
                    s.wave,
                    swedish::fuzzy(made),
                    swedish::fuzzy(planned)
                ))
            );
        }
        if let Some(actual) = &s.actual {
            let (px, py) = (x.at(months(actual)), y.at(months(actual)));
            if let Some((_, last_planned)) = s.points.last() {
                let _ = write!(
                    svg,
                    r#"<line x1="{:.1}" y1="{:.1}" x2="{px:.1}" y2="{py:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="2 2"/>"#,
                    x.at(months(&s.points[s.points.len() - 1].0)),
                    y.at(months(last_planned))
                );
            }
            let _ = write!(
                svg,
                r##"<path d="M{px:.1} {:.1} L{:.1} {py:.1} L{px:.1} {:.1} L{:.1} {py:.1} Z" fill="{colour}" stroke="#000000"><title>{}</title></path>"##,
                py - 8.0,
                px + 8.0,
                py + 8.0,
                px - 8.0,
                esc(&format!("{}: startade {}", s.wave, swedish::fuzzy(actual)))
            );
        }
        // Legend entry.
        let ly = TOP + 8.0 + i as f64 * 22.0;
        let lx = WIDTH - RIGHT + 16.0;
        let _ = write!(
            svg,
            r##"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2.5"{dash_attr}/><text x="{:.1}" y="{:.1}" fill="#1a1a1a">{}</text></g>"##,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            esc(&s.wave)
        );
    }
    let ly = TOP + 8.0 + all.len() as f64 * 22.0;
    let lx = WIDTH - RIGHT + 16.0;
    let _ = write!(
        svg,
        r##"<path d="M{:.1} {:.1} L{:.1} {ly:.1} L{:.1} {:.1} L{:.1} {ly:.1} Z" fill="#ffffff" stroke="#000000"/><text x="{:.1}" y="{:.1}" fill="#1a1a1a">faktisk start</text></svg>"##,
        lx + 12.0,
        ly - 7.0,
        lx + 19.0,
        lx + 12.0,
        ly + 7.0,
        lx + 5.0,
        lx + 30.0,
        ly + 4.0
    );
    svg
}
