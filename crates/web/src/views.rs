//! The pages' Handlebars templates (`crates/web/templates/`, embedded), rendered in strict mode
//! with HTML escaping. Text from the log only ever reaches a page through `{{…}}`, which
//! escapes it, or as HTML that `lagesbild-render` built and escaped (`{{{…}}}`).

use std::sync::LazyLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::error::WebError;
use crate::session::Viewer;

const TEMPLATES: [(&str, &str); 15] = [
    ("layout", include_str!("../templates/layout.hbs")),
    ("report", include_str!("../templates/report.hbs")),
    ("report_mail", include_str!("../templates/report_mail.hbs")),
    ("archive", include_str!("../templates/archive.hbs")),
    ("preview", include_str!("../templates/preview.hbs")),
    ("analysis", include_str!("../templates/analysis.hbs")),
    ("log", include_str!("../templates/log.hbs")),
    ("event", include_str!("../templates/event.hbs")),
    ("verify", include_str!("../templates/verify.hbs")),
    ("write", include_str!("../templates/write.hbs")),
    ("advanced", include_str!("../templates/advanced.hbs")),
    ("signin", include_str!("../templates/signin.hbs")),
    ("error", include_str!("../templates/error.hbs")),
    ("edition", include_str!("../templates/edition.hbs")),
    (
        "edition-publish",
        include_str!("../templates/edition-publish.hbs"),
    ),
];

/// The page stylesheet, served at `/stil.css` (never inline, so the Content-Security-Policy
/// needs no `'unsafe-inline'`): the documents' own (`lagesbild_render::doc::STYLE`) plus the
/// site's. Text #1a1a1a and links #005a9c on white; focus is a 3 px outline. Everything fits a
/// 360 px wide screen: the menu wraps, long words and hashes break, and wide tables scroll
/// inside their own labelled region (`scrollable_tables`) instead of widening the page.
const SITE_STYLE: &str = "html{-webkit-text-size-adjust:100%}body{overflow-wrap:break-word}\
header.site{border-bottom:1px solid #767676;margin-bottom:1rem}\
header.site .who{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .75rem;margin:.25rem 0}\
header.site .who .name{font-weight:bold;margin-right:auto}header.site .who form{margin:0}\
header.site .who button{margin:0}\
nav.menu>ul{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.25rem 1.5rem;align-items:baseline}\
nav.menu li{margin:0}nav.menu ul ul{list-style:none;padding:0;margin:0;display:inline-flex;flex-wrap:wrap;gap:.25rem .75rem}\
nav.menu .group{font-weight:600;margin-right:.5rem}\
nav.menu a{display:inline-block;padding:.2rem 0}\
nav.menu a[aria-current=page]{font-weight:bold;text-decoration:none;border-bottom:3px solid #005a9c}\
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}\
.visually-hidden{position:absolute!important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}\
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus,[tabindex]:focus{outline:3px solid #1a1a1a;outline-offset:2px}\
.banner{border:2px solid #8a4b00;background:#fff8e6;padding:.5rem 1rem;margin:1rem 0}\
.ok{border:2px solid #1e6b2f;background:#eefaf0;padding:.5rem 1rem;margin:1rem 0}\
.fel{border:2px solid #a4161a;background:#fdf0f0;padding:.5rem 1rem;margin:1rem 0}\
.error-summary{border:4px solid #a4161a;padding:.75rem 1rem;margin:1rem 0}\
.error-summary h2{margin:0 0 .5rem;font-size:1.25rem}.error-summary ul{margin:0;padding-left:1.25rem}\
.error-summary a{color:#a4161a;font-weight:600}\
.field-error{color:#a4161a;font-weight:600;margin:.1rem 0}\
[aria-invalid=true]{border:2px solid #a4161a!important}\
form.inline{display:inline}fieldset{border:1px solid #767676;margin:1rem 0;padding:.5rem 1rem;min-width:0}\
legend h2{margin:0}\
label{display:block;margin:.5rem 0 .1rem;font-weight:600}input,select,textarea,button{font:inherit;color:#1a1a1a}\
input[type=text],input[type=date],input[type=password],input[type=datetime-local],input[type=url],select,textarea{width:100%;max-width:40rem;padding:.3rem;border:1px solid #595959;border-radius:2px;box-sizing:border-box}\
input[type=checkbox],input[type=radio]{width:auto}label.check{font-weight:normal}\
button{background:#005a9c;color:#fff;border:0;padding:.45rem 1rem;margin:.5rem 0;border-radius:2px;cursor:pointer}\
button.secondary{background:#fff;color:#005a9c;border:1px solid #005a9c}\
.hint{color:#3d3d3d;font-size:.95rem;margin:.1rem 0}pre{white-space:pre-wrap;word-break:break-all;background:#f2f2f2;padding:.5rem;border:1px solid #767676}\
code{overflow-wrap:anywhere;word-break:break-all}\
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dl.fields dt{font-weight:600}dl.fields dd{margin:0;word-break:break-word;min-width:0}\
.table-wrap{overflow-x:auto;max-width:100%}.table-wrap table{margin:0}.table-wrap{margin:1rem 0}.pager{display:flex;gap:1rem}\
@media (max-width:40rem){body{padding:.5rem}dl.fields{grid-template-columns:1fr}dl.fields dd{margin-bottom:.5rem}h1{font-size:1.6rem}}\
.point.changed,.point:target{outline:3px solid #1e6b2f;outline-offset:4px;background:#eefaf0}\
ins{background:#e6f4ea;color:#1a1a1a}del{background:#fde7e9;color:#1a1a1a}\
.proposed{border:2px dashed #8a4b00;padding:.25rem 1rem;margin:.5rem 0}\
.point-actions{display:flex;flex-wrap:wrap;gap:.5rem;list-style:none;padding:0}.edition-section{margin-bottom:1.5rem}\
@media print{header.site,.noprint,footer.site{display:none}.table-wrap{overflow:visible}}";

/// The stylesheet's text, as `/stil.css` serves it.
pub(crate) fn stylesheet() -> &'static str {
    static SHEET: LazyLock<String> =
        LazyLock::new(|| format!("{}{SITE_STYLE}", lagesbild_render::doc::STYLE));
    &SHEET
}

/// The stylesheet's address with a digest of its text, so that a browser may cache it for
/// good and still fetches a changed one after an upgrade.
pub(crate) fn stylesheet_href() -> &'static str {
    static HREF: LazyLock<String> = LazyLock::new(|| {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(stylesheet().as_bytes()));
        format!("/stil.css?v={}", &digest[..12])
    });
    &HREF
}

/// Puts every `<table>` of a page body that `lagesbild-render` built into a region that scrolls
/// sideways on its own, named after the table's caption and reachable by keyboard (WCAG
/// 2.1.1: a scrollable region must be focusable), so a wide table never widens the page. A
/// table already inside `<div class="table-wrap">` gets the region's attributes on that div,
/// unless it is a region already.
pub(crate) fn scrollable_tables(html: &str) -> String {
    const WRAP_START: &str = "<div class=\"table-wrap\"";
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(at) = rest.find("<table") {
        let (before, from_table) = rest.split_at(at);
        let end = from_table
            .find("</table>")
            .map_or(from_table.len(), |e| e + "</table>".len());
        let (table, after) = from_table.split_at(end);
        let label = table
            .find("<caption>")
            .and_then(|c| {
                let text = &table[c + "<caption>".len()..];
                text.find("</caption>").map(|e| &text[..e])
            })
            .map(strip_tags)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "Tabell".to_owned());
        let open = format!(
            "<div class=\"table-wrap\" role=\"region\" aria-label=\"{label}\" tabindex=\"0\">"
        );
        // The wrapper the table already has, if the last tag before it is one.
        let wrapper = before
            .rfind(WRAP_START)
            .filter(|at| !before[at + 1..].contains('<') && before.ends_with('>'));
        if let Some(at) = wrapper {
            if before[at..].contains("role=\"region\"") {
                // Already a labelled, focusable region (the report templates make their own).
                out.push_str(before);
            } else {
                out.push_str(&before[..at]);
                out.push_str(&open);
            }
            out.push_str(table);
        } else {
            out.push_str(before);
            out.push_str(&open);
            out.push_str(table);
            out.push_str("</div>");
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The text of escaped HTML without its tags, still escaped (so safe inside an attribute).
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            '"' => out.push_str("&quot;"),
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

pub struct Views {
    registry: Handlebars<'static>,
}

impl Views {
    pub fn new() -> anyhow::Result<Views> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        for (name, text) in TEMPLATES {
            registry
                .register_template_string(name, text)
                .map_err(|e| anyhow::anyhow!("page template {name}: {e}"))?;
        }
        lagesbild_render::report::register_helpers(&mut registry);
        crate::form_errors::register(&mut registry)?;
        Ok(Views { registry })
    }

    /// Renders page `name` inside the layout. `context` is the page's own data; the layout's
    /// (title, navigation, viewer, mode) is added here. `writable` is whether anybody can
    /// write on this server, `None` where a page does not know (an error page): only a server
    /// known to be read-only shows the read-only banner.
    pub fn page(
        &self,
        name: &str,
        title: &str,
        nav: &str,
        viewer: Option<&Viewer>,
        writable: Option<bool>,
        mut context: Value,
    ) -> Result<Html<String>, WebError> {
        let map = context
            .as_object_mut()
            .ok_or_else(|| WebError::Internal("a page's context is not an object".into()))?;
        map.insert("page_title".into(), json!(title));
        map.entry("form_errors")
            .or_insert_with(|| crate::form_errors::FormErrors::default().context());
        map.insert("stylesheet".into(), json!(stylesheet_href()));
        map.insert("nav".into(), nav_items(nav));
        map.insert("user".into(), json!(viewer.and_then(|v| v.user.clone())));
        map.insert("csrf".into(), json!(viewer.map(|v| v.csrf.clone())));
        map.insert("writable".into(), json!(writable == Some(true)));
        map.insert("read_only".into(), json!(writable == Some(false)));
        // A cache the read refused (lagesbild_app::caches::CacheNotice), said on every page.
        map.entry("cache_notices").or_insert_with(|| json!([]));
        self.registry.render(name, &context).map(Html).map_err(|e| {
            tracing::error!(error = %e, page = name, "a page template failed");
            WebError::Internal(format!("sidmallen {name}: {e}"))
        })
    }
}

/// The menu, by what people come to do: write the week's edition, read what was published,
/// analyse the plan through time, and audit the log. One entry is a link (`href`) or a group of
/// links; a page names the entry it belongs to by its id (`Views::page`'s `nav`).
pub(crate) struct NavEntry {
    pub id: &'static str,
    pub label: &'static str,
    pub href: Option<&'static str>,
    pub items: &'static [(&'static str, &'static str, &'static str)],
}

pub(crate) const NAV: [NavEntry; 4] = [
    NavEntry {
        id: "skriv",
        label: "Skriv",
        // This week's edition (`/utgavor` redirects to it).
        href: Some("/utgavor"),
        items: &[],
    },
    NavEntry {
        id: "arkiv",
        label: "Arkiv",
        href: Some("/rapporter"),
        items: &[],
    },
    NavEntry {
        id: "analys",
        label: "Analys",
        href: None,
        items: &[
            ("tidslinje", "/tidslinje", "Tidslinje"),
            ("vagor", "/vagor", "Etapper"),
            ("skillnad", "/skillnad", "Skillnad"),
        ],
    },
    NavEntry {
        id: "granskning",
        label: "Granskning",
        href: None,
        items: &[
            ("logg", "/logg", "Logg"),
            ("verifiera", "/verifiera", "Verifiera"),
            ("avancerat", "/granskning/avancerat", "Avancerat"),
        ],
    },
];

/// Which menu entry a page id lights up: pages that are not in the menu themselves belong to
/// the entry a person reached them from.
fn nav_id(page: &str) -> &str {
    match page {
        "rapport" => "arkiv",
        "forhandsvisning" => "skriv",
        other => other,
    }
}

fn nav_items(current: &str) -> Value {
    let current = nav_id(current);
    NAV.iter()
        .map(|entry| {
            let items: Vec<Value> = entry
                .items
                .iter()
                .map(|(id, href, label)| {
                    json!({ "href": href, "label": label, "current": *id == current })
                })
                .collect();
            let inside = entry.items.iter().any(|(id, _, _)| *id == current);
            json!({
                "id": entry.id,
                "label": entry.label,
                "href": entry.href,
                "current": entry.id == current,
                "inside": inside,
                "items": items,
            })
        })
        .collect()
}

pub(crate) static VIEWS: LazyLock<Views> =
    LazyLock::new(|| Views::new().expect("the embedded page templates compile"));

/// An error as a page of its own, for the browser. `writable` decides the read-only banner.
pub(crate) fn error_page(status: StatusCode, message: &str, writable: bool) -> Response {
    let heading = match status {
        StatusCode::BAD_REQUEST => "Felaktig uppgift",
        StatusCode::NOT_FOUND => "Sidan finns inte",
        StatusCode::METHOD_NOT_ALLOWED => "Det går inte att göra så här",
        StatusCode::PAYLOAD_TOO_LARGE => "För mycket på en gång",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Fel sorts innehåll",
        StatusCode::UNAUTHORIZED => "Logga in först",
        StatusCode::FORBIDDEN => "Inte tillåtet",
        StatusCode::CONFLICT => "Loggen tog inte emot händelsen",
        StatusCode::TOO_MANY_REQUESTS => "För många försök",
        StatusCode::SERVICE_UNAVAILABLE => "Servern är upptagen",
        _ => "Ett fel inträffade",
    };
    let context = json!({ "heading": heading, "message": message, "status": status.as_u16() });
    match VIEWS.page("error", heading, "", None, Some(writable), context) {
        Ok(html) => (status, html).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

/// `next=<path>` for the sign-in link, percent-encoded.
pub fn next_query(path: &str) -> String {
    serde_urlencoded::to_string([("next", path)]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    /// WCAG 2.1 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let value = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")) / 255.0;
            if value <= 0.03928 {
                value / 12.92
            } else {
                ((value + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    #[test]
    fn every_text_colour_on_its_background_meets_wcag_aa() {
        // (foreground, background, where) for every pair the page and document styles use.
        let pairs = [
            ("#1a1a1a", "#ffffff", "body text"),
            ("#005a9c", "#ffffff", "links, secondary buttons"),
            ("#ffffff", "#005a9c", "primary buttons"),
            ("#3d3d3d", "#ffffff", "hints"),
            ("#1a1a1a", "#f2f2f2", "table headers, code blocks"),
            ("#1a1a1a", "#fff8e6", "the read-only banner"),
            ("#1a1a1a", "#eefaf0", "success notices"),
            ("#1a1a1a", "#fdf0f0", "errors"),
            ("#1a1a1a", "#e6f4ea", "words added in a change"),
            ("#1a1a1a", "#fde7e9", "words removed in a change"),
            ("#005a9c", "#f2f2f2", "links in table headers"),
        ];
        let style = super::stylesheet();
        for (fg, bg, what) in pairs {
            for colour in [fg, bg] {
                assert!(
                    colour == "#ffffff" || style.contains(colour),
                    "{colour} ({what}) is not in the stylesheet any more"
                );
            }
            let ratio = contrast(fg, bg);
            assert!(ratio >= 4.5, "{what}: {fg} on {bg} is {ratio:.2}:1");
        }
        // Borders that carry meaning (form fields, notices) need 3:1 against white.
        for border in ["#595959", "#767676", "#8a4b00", "#1e6b2f", "#a4161a"] {
            assert!(style.contains(border), "{border}");
            assert!(contrast(border, "#ffffff") >= 3.0, "{border}");
        }
    }
}
