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

const TEMPLATES: [(&str, &str); 11] = [
    ("layout", include_str!("../templates/layout.hbs")),
    ("report", include_str!("../templates/report.hbs")),
    ("archive", include_str!("../templates/archive.hbs")),
    ("preview", include_str!("../templates/preview.hbs")),
    ("analysis", include_str!("../templates/analysis.hbs")),
    ("log", include_str!("../templates/log.hbs")),
    ("event", include_str!("../templates/event.hbs")),
    ("verify", include_str!("../templates/verify.hbs")),
    ("write", include_str!("../templates/write.hbs")),
    ("signin", include_str!("../templates/signin.hbs")),
    ("error", include_str!("../templates/error.hbs")),
];

/// The page stylesheet: the documents' own (`lagesbild_render::doc::STYLE`) plus navigation
/// and forms. Text #1a1a1a and links #005a9c on white; focus is a 3 px outline.
const SITE_STYLE: &str = "header.site{border-bottom:1px solid #767676;margin-bottom:1rem}\
header.site nav ul{list-style:none;padding:0;margin:.5rem 0;display:flex;flex-wrap:wrap;gap:.25rem 1rem}\
header.site nav a[aria-current=page]{font-weight:bold;text-decoration:none;border-bottom:3px solid #005a9c}\
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}\
a:focus,button:focus,input:focus,select:focus,textarea:focus,summary:focus{outline:3px solid #1a1a1a;outline-offset:2px}\
.banner{border:2px solid #8a4b00;background:#fff8e6;padding:.5rem 1rem;margin:1rem 0}\
.ok{border:2px solid #1e6b2f;background:#eefaf0;padding:.5rem 1rem;margin:1rem 0}\
.fel{border:2px solid #a4161a;background:#fdf0f0;padding:.5rem 1rem;margin:1rem 0}\
form.inline{display:inline}fieldset{border:1px solid #767676;margin:1rem 0;padding:.5rem 1rem}\
label{display:block;margin:.5rem 0 .1rem;font-weight:600}input,select,textarea,button{font:inherit;color:#1a1a1a}\
input[type=text],input[type=date],input[type=password],input[type=datetime-local],input[type=url],select,textarea{width:100%;max-width:40rem;padding:.3rem;border:1px solid #595959;border-radius:2px;box-sizing:border-box}\
input[type=checkbox],input[type=radio]{width:auto}label.check{font-weight:normal}\
button{background:#005a9c;color:#fff;border:0;padding:.45rem 1rem;margin:.5rem 0;border-radius:2px;cursor:pointer}\
button.secondary{background:#fff;color:#005a9c;border:1px solid #005a9c}\
.hint{color:#3d3d3d;font-size:.95rem;margin:.1rem 0}pre{white-space:pre-wrap;word-break:break-all;background:#f2f2f2;padding:.5rem;border:1px solid #767676}\
dl.fields{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dl.fields dt{font-weight:600}dl.fields dd{margin:0;word-break:break-word}\
.table-wrap{overflow-x:auto}.pager{display:flex;gap:1rem}\
@media print{header.site,.noprint,footer.site{display:none}}";

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
        Ok(Views { registry })
    }

    /// Renders page `name` inside the layout. `context` is the page's own data; the layout's
    /// (title, navigation, viewer, mode) is added here.
    pub fn page(
        &self,
        name: &str,
        title: &str,
        nav: &str,
        viewer: Option<&Viewer>,
        writable: bool,
        mut context: Value,
    ) -> Result<Html<String>, WebError> {
        let map = context
            .as_object_mut()
            .ok_or_else(|| WebError::Internal("a page's context is not an object".into()))?;
        map.insert("page_title".into(), json!(title));
        map.insert("style".into(), json!(style()));
        map.insert("nav".into(), nav_items(nav));
        map.insert("user".into(), json!(viewer.and_then(|v| v.user.clone())));
        map.insert("csrf".into(), json!(viewer.map(|v| v.csrf.clone())));
        map.insert("writable".into(), json!(writable));
        self.registry.render(name, &context).map(Html).map_err(|e| {
            tracing::error!(error = %e, page = name, "a page template failed");
            WebError::Internal(format!("sidmallen {name}: {e}"))
        })
    }
}

fn style() -> String {
    format!("{}{SITE_STYLE}", lagesbild_render::doc::STYLE)
}

const NAV: [(&str, &str, &str); 9] = [
    ("rapport", "/", "Senaste rapporten"),
    ("arkiv", "/rapporter", "Arkiv"),
    ("forhandsvisning", "/forhandsvisning", "Förhandsvisning"),
    ("tidslinje", "/tidslinje", "Tidslinje"),
    ("vagor", "/vagor", "Vågor och planer"),
    ("skillnad", "/skillnad", "Skillnad mellan datum"),
    ("logg", "/logg", "Loggen"),
    ("verifiera", "/verifiera", "Verifiera"),
    ("skriv", "/skriv", "Skriv och publicera"),
];

fn nav_items(current: &str) -> Value {
    NAV.iter()
        .map(|(id, href, label)| json!({ "href": href, "label": label, "current": *id == current }))
        .collect()
}

pub(crate) static VIEWS: LazyLock<Views> =
    LazyLock::new(|| Views::new().expect("the embedded page templates compile"));

/// An error as a page of its own, for the browser.
pub(crate) fn error_page(error: &WebError) -> Response {
    let status = error.status();
    let heading = match status {
        StatusCode::BAD_REQUEST => "Felaktig uppgift",
        StatusCode::NOT_FOUND => "Sidan finns inte",
        StatusCode::UNAUTHORIZED => "Logga in först",
        StatusCode::FORBIDDEN => "Inte tillåtet",
        StatusCode::CONFLICT => "Loggen tog inte emot händelsen",
        StatusCode::SERVICE_UNAVAILABLE => "Loggen är upptagen",
        _ => "Ett fel inträffade",
    };
    let message = match error {
        WebError::BadInput { field, reason } => format!("{field}: {reason}"),
        other => other.to_string(),
    };
    let context = json!({ "heading": heading, "message": message, "status": status.as_u16() });
    match VIEWS.page("error", heading, "", None, false, context) {
        Ok(html) => (status, html).into_response(),
        Err(_) => (status, message).into_response(),
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if self == WebError::SignInRequired {
            return axum::response::Redirect::to("/logga-in").into_response();
        }
        error_page(&self)
    }
}

impl PartialEq for WebError {
    fn eq(&self, other: &WebError) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
            && self.to_string() == other.to_string()
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
            ("#005a9c", "#f2f2f2", "links in table headers"),
        ];
        let style = super::style();
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
