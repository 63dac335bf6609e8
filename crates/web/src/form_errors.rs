//! Errors people understand: every refused field of a form shown next to that field, in
//! Swedish and without the model's internal names, with a summary at the top that links to
//! each field (the GOV.UK / DIGG error-summary pattern), keeping what was typed.
//!
//! How a form uses it:
//!
//! 1. Describe the form once as a `&[FormField]`: each field's posted `name`, its element `id`,
//!    the model fields it feeds (`FieldError::field` names such as `summary` or `data.value`)
//!    and its [`Kind`], which decides what is checked and what the person is told.
//! 2. On a POST, [`FormErrors::check`] checks every field as typed (so all problems are shown
//!    at once); if none is found, build the event, and map a refusal from the model or the
//!    store with [`FormErrors::from_error`]: the refused model field picks the form field, whose
//!    kind picks the Swedish message. A refusal no field explains becomes a line of its own in
//!    the summary; the English reason only goes to the server's log.
//! 3. Put [`FormErrors::context`] into the page's context as `form_errors` (`Views::page` adds
//!    an empty one otherwise), answer 400, and show the form again with what was typed.
//! 4. In the template: `{{> error_summary}}` at the top of the page's main content; for each
//!    field, `{{field_error "fig-value"}}` between the label and the control (the message, with
//!    id `fig-value-fel`) and `{{field_attrs "fig-value" "fig-value-hint"}}` inside the control
//!    (`aria-invalid="true"` and `aria-describedby` naming the message and the hints given).

use handlebars::{Context, Handlebars, Helper, HelperResult, Output, RenderContext};
use lagesbild_app::day_input;
use serde_json::{Map, Value, json};

use crate::error::WebError;

/// What kind of value a field takes, which decides the check and the message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// Free text (at most 4,000 characters, no control characters); `empty` is what to say
    /// when a required one is blank.
    Text { empty: &'static str },
    /// Lines of text, each a point of its own.
    Lines,
    /// A number as people type it (`120`, `1 234,5`).
    Number,
    /// A calendar day (`27 december 2024`, `27/12 2024`, `2024-12-27`).
    Day { empty: &'static str },
    /// A date as precise as the source: a day, a month, a half-year, a season.
    Date,
    /// A day, or a period meaning its last day (the analysis pages' *as of*).
    AsOf,
    /// A moment in the log's transaction time.
    Instant,
    /// A link, `https://…`.
    Url,
    /// An identifier (`konsulter`): a–z, 0–9 and `-`.
    Id { empty: &'static str },
    /// One of the given options.
    Choice { message: &'static str },
    /// An event in the log, by sequence number or key.
    EventRef,
    /// JSON typed by someone who knows the event format (the advanced forms).
    Json { empty: &'static str },
}

/// One field of a form, as the person sees it and as the model names it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FormField {
    /// The `name` the form posts.
    pub name: &'static str,
    /// The control's `id`: the summary links to `#id`, the message has the id `id-fel`.
    pub id: &'static str,
    /// The model's and the handler's names for this field (`FieldError::field`); a refused
    /// `data.target.seq` belongs to the field that names `data.target`, the longest match wins;
    /// [`ANY`] takes whatever no other field does.
    pub model: &'static [&'static str],
    pub kind: Kind,
    pub required: bool,
}

impl FormField {
    pub const fn new(
        name: &'static str,
        id: &'static str,
        model: &'static [&'static str],
        kind: Kind,
    ) -> FormField {
        FormField {
            name,
            id,
            model,
            kind,
            required: false,
        }
    }

    pub const fn required(mut self) -> FormField {
        self.required = true;
        self
    }

    /// What is wrong with `typed`, if anything can be told from the text alone.
    fn check(&self, typed: &str) -> Option<String> {
        let text = typed.trim();
        if text.is_empty() {
            return self.required.then(|| self.empty_message());
        }
        match self.kind {
            Kind::Text { .. } => text_problem(typed),
            Kind::Lines => typed.lines().find_map(|line| {
                text_problem(line).map(|_| {
                    "En underpunkt är för lång eller innehåller otillåtna tecken: högst 4 000 tecken per punkt".to_owned()
                })
            }),
            Kind::Number => number(text).is_none().then(|| NUMBER.to_owned()),
            Kind::Day { .. } => day_input::parse_day(text).err().map(|e| e.to_string()),
            Kind::Date => day_input::parse_date(text).err().map(|_| date_message(text)),
            Kind::AsOf => lagesbild_app::params::as_of(text).err(),
            Kind::Instant => lagesbild_app::params::instant(text, false)
                .is_err()
                .then(|| instant_message(text)),
            Kind::Url => lagesbild_model::Url::new(text).is_err().then(|| URL.to_owned()),
            Kind::Id { .. } => lagesbild_model::Id::new(text).is_err().then(|| ID.to_owned()),
            Kind::Json { .. } => serde_json::from_str::<Value>(text)
                .err()
                .map(|e| json_message(&e)),
            Kind::Choice { .. } | Kind::EventRef => None,
        }
    }

    fn empty_message(&self) -> String {
        match self.kind {
            Kind::Text { empty }
            | Kind::Day { empty }
            | Kind::Id { empty }
            | Kind::Json { empty } => empty.to_owned(),
            Kind::Number => NUMBER.to_owned(),
            Kind::Choice { message } => message.to_owned(),
            Kind::EventRef => EVENT_REF.to_owned(),
            Kind::Lines | Kind::Date | Kind::AsOf | Kind::Instant | Kind::Url => {
                "Fyll i fältet".to_owned()
            }
        }
    }

    /// What to tell the person when the model or the store refused `model_field` of this
    /// field, typed as `typed`. `reason` is the model's own (English) reason; only the JSON
    /// forms, whose users write the model's names themselves, are shown it.
    fn refused_message(&self, model_field: &str, typed: &str, reason: &str) -> String {
        if typed.trim().is_empty() {
            return self.empty_message();
        }
        if let Some(problem) = self.check(typed) {
            return problem;
        }
        match self.kind {
            Kind::Text { .. } | Kind::Lines => {
                "Texten kunde inte sparas: den får vara högst 4 000 tecken och inte innehålla styrtecken".to_owned()
            }
            Kind::Number => NUMBER.to_owned(),
            Kind::Day { .. } => format!("Ange en dag, till exempel {}", day_input::FORMS),
            Kind::Date => date_message(typed.trim()),
            Kind::AsOf => format!("Ange en dag, till exempel {}", day_input::FORMS),
            Kind::Instant => instant_message(typed.trim()),
            Kind::Url => URL.to_owned(),
            Kind::Id { .. } => ID.to_owned(),
            Kind::Choice { message } => message.to_owned(),
            Kind::EventRef => {
                if model_field.ends_with(".seq") || model_field.ends_with(".key") {
                    format!(
                        "Loggen har ingen händelse ”{}”: ange ett löpnummer eller en nyckel som finns",
                        typed.trim()
                    )
                } else {
                    "Rätta eller dra tillbaka den ursprungliga händelsen, inte en rättelse, ett tillbakadragande eller en publicerad rapport".to_owned()
                }
            }
            Kind::Json { .. } => {
                if model_field.is_empty() {
                    format!("Händelsen godtogs inte: {reason}")
                } else {
                    format!("Händelsen godtogs inte: fältet ”{model_field}”: {reason}")
                }
            }
        }
    }

    fn feeds(&self, model_field: &str) -> Option<usize> {
        self.model
            .iter()
            .filter(|m| {
                **m == ANY
                    || model_field == **m
                    || model_field
                        .strip_prefix(**m)
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .map(|m| if *m == ANY { 0 } else { m.len() })
            .max()
    }
}

/// In `FormField::model`: every model field no other form field names (the JSON forms).
pub(crate) const ANY: &str = "*";

const NUMBER: &str = "Ange ett tal, till exempel 120 eller 1 234,5";
const URL: &str =
    "Ange en fullständig länk som börjar med https://, till exempel https://www.vgregion.se/";
const ID: &str =
    "Ange ett id med små bokstäver a–z, siffror och bindestreck, till exempel konsulter";
const EVENT_REF: &str = "Ange händelsens löpnummer, till exempel 131, eller dess nyckel";

fn text_problem(text: &str) -> Option<String> {
    let chars = text.chars().count();
    if chars > 4000 {
        return Some(format!(
            "Texten är {chars} tecken lång; den får vara högst 4 000 tecken"
        ));
    }
    text.chars()
        .any(|c| {
            (c.is_control() && c != '\n' && c != '\t' && c != '\r')
                || lagesbild_model::text::is_bidi_control(c)
        })
        .then(|| "Texten innehåller ett otillåtet styrtecken".to_owned())
}

/// A number as `staff::figure` reads it: a decimal comma or point, spaces between thousands.
fn number(text: &str) -> Option<f64> {
    text.replace(',', ".")
        .replace([' ', '\u{a0}'], "")
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

fn date_message(text: &str) -> String {
    format!(
        "”{text}” är inget datum. Skriv till exempel {}, en månad som 2024-12 eller en period som hösten 2024",
        day_input::FORMS
    )
}

fn instant_message(text: &str) -> String {
    format!(
        "”{text}” är ingen tidpunkt. Skriv en dag (2024-12-27) eller en dag och tid (2024-12-27T11:15)"
    )
}

fn json_message(error: &serde_json::Error) -> String {
    format!(
        "Det är inte giltig JSON (rad {}, tecken {})",
        error.line(),
        error.column()
    )
}

/// The problems of one submitted form: the fields refused, each with its message, and any
/// refusal no field explains.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FormErrors {
    /// `(element id, message)`, in the order of the form.
    fields: Vec<(String, String)>,
    /// Problems with the form as a whole, shown in the summary (and by the form, see
    /// [`FormErrors::within`]).
    general: Vec<String>,
    /// Where the form shows its own problems, for the summary to link to; `None` when they
    /// are in the summary only.
    anchor: Option<String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// Every field of `form` checked as typed in `values` (the submitted form as JSON).
    pub fn check(form: &[FormField], values: &Value) -> FormErrors {
        let mut errors = FormErrors::default();
        for field in form {
            if let Some(message) = field.check(typed(values, field.name).as_str()) {
                errors.fields.push((field.id.to_owned(), message));
            }
        }
        errors
    }

    /// A refusal of the submitted form: a field's, in Swedish, or the whole form's.
    pub fn from_error(form: &[FormField], values: &Value, error: &WebError) -> FormErrors {
        let mut errors = FormErrors::default();
        match error {
            WebError::BadInput { field, reason } => {
                match owner(form, field) {
                    Some(owner) => {
                        let message =
                            owner.refused_message(field, &typed(values, owner.name), reason);
                        errors.fields.push((owner.id.to_owned(), message));
                    }
                    None => {
                        tracing::warn!(%field, %reason, "a refusal no form field explains");
                        errors.general.push(
                            "Uppgifterna kunde inte användas som de är skrivna. Kontrollera formuläret och försök igen.".to_owned(),
                        );
                    }
                }
            }
            WebError::Conflict(detail) => {
                tracing::info!(%detail, "a form's event conflicts with the log");
                errors.general.push(
                    "Loggen tog inte emot uppgiften: den krockar med en tidigare händelse med samma nyckel men annat innehåll. Ändra uppgiften eller läs in sidan igen.".to_owned(),
                );
            }
            WebError::Busy(_) => errors.general.push(
                "Loggen är upptagen av en annan skrivning just nu. Försök igen om en stund; det du skrev finns kvar.".to_owned(),
            ),
            other => errors.general.push(other.to_string()),
        }
        errors
    }

    /// A problem with one field, for a check a handler makes itself.
    pub fn field(mut self, id: impl Into<String>, message: impl Into<String>) -> FormErrors {
        self.fields.push((id.into(), message.into()));
        self
    }

    /// A refusal whose message is already written for the person, in Swedish (a use case's
    /// own check, such as a last day before the edition's day), shown at the form field that
    /// feeds `model_field`, or as the form's own problem when none does.
    pub fn explained(form: &[FormField], model_field: &str, message: &str) -> FormErrors {
        let errors = FormErrors::default();
        match owner(form, model_field) {
            Some(owner) => errors.field(owner.id, message),
            None => errors.general(message),
        }
    }

    /// The same problems for a form whose element ids all start with `prefix-` (a form
    /// repeated on a page, such as one per point: `punkt-12` and its `text` is
    /// `punkt-12-text`); the form's own problems are then shown at `prefix-fel`, and the
    /// summary links there.
    pub fn within(self, prefix: &str) -> FormErrors {
        FormErrors {
            fields: self
                .fields
                .into_iter()
                .map(|(id, message)| (format!("{prefix}-{id}"), message))
                .collect(),
            general: self.general,
            anchor: Some(format!("{prefix}-fel")),
        }
    }

    /// The form's own problems (not tied to a field), for the form to show beside itself.
    pub fn general_messages(&self) -> &[String] {
        &self.general
    }

    /// A problem with the form as a whole, shown in the summary only.
    pub fn general(mut self, message: impl Into<String>) -> FormErrors {
        self.general.push(message.into());
        self
    }

    /// What the templates read as `form_errors`: `any`, the `summary` (links to `#id`, or text
    /// alone for the form's own problems) and each field's message by id.
    pub fn context(&self) -> Value {
        let mut summary: Vec<Value> = self
            .fields
            .iter()
            .map(|(id, message)| json!({ "href": format!("#{id}"), "message": message }))
            .collect();
        summary.extend(self.general.iter().map(|message| {
            json!({ "href": self.anchor.as_ref().map(|a| format!("#{a}")), "message": message })
        }));
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .map(|(id, message)| (id.clone(), json!(message)))
            .collect();
        json!({ "any": !self.is_empty(), "summary": summary, "fields": fields })
    }
}

/// The form field that feeds `model_field`: the longest match wins.
fn owner<'a>(form: &'a [FormField], model_field: &str) -> Option<&'a FormField> {
    form.iter()
        .filter_map(|f| f.feeds(model_field).map(|len| (len, f)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, f)| f)
}

/// What was typed into field `name`, as text (a missing field is blank).
fn typed(values: &Value, name: &str) -> String {
    match values.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The message for element `id` in the page's `form_errors`, if it was refused.
fn message_for<'a>(ctx: &'a Context, id: &str) -> Option<&'a str> {
    ctx.data()
        .get("form_errors")?
        .get("fields")?
        .get(id)?
        .as_str()
}

fn id_param<'a>(h: &'a Helper, index: usize) -> Option<&'a str> {
    h.param(index).and_then(|p| p.value().as_str())
}

/// `{{field_error "id"}}`: the field's message as `<p class="field-error" id="id-fel">`, or
/// nothing when the field was not refused.
fn field_error_helper(
    h: &Helper,
    _: &Handlebars,
    ctx: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let Some(id) = id_param(h, 0) else {
        return Ok(());
    };
    if let Some(message) = message_for(ctx, id) {
        out.write(&format!(
            "<p class=\"field-error\" id=\"{}-fel\"><span class=\"visually-hidden\">Fel: </span>{}</p>",
            handlebars::html_escape(id),
            handlebars::html_escape(message)
        ))?;
    }
    Ok(())
}

/// `{{field_attrs "id" "hint-id" …}}`: ` aria-describedby="…"` naming the hints, and when the
/// field was refused, ` aria-invalid="true"` with the message first in `aria-describedby`.
fn field_attrs_helper(
    h: &Helper,
    _: &Handlebars,
    ctx: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let Some(id) = id_param(h, 0) else {
        return Ok(());
    };
    let mut described: Vec<String> = Vec::new();
    let invalid = message_for(ctx, id).is_some();
    if invalid {
        described.push(format!("{id}-fel"));
    }
    described.extend(
        h.params()
            .iter()
            .skip(1)
            .filter_map(|p| p.value().as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    if invalid {
        out.write(" aria-invalid=\"true\"")?;
    }
    if !described.is_empty() {
        out.write(&format!(
            " aria-describedby=\"{}\"",
            handlebars::html_escape(&described.join(" "))
        ))?;
    }
    Ok(())
}

// `(concat id "-text")`: element ids of a repeated form, for `field_error` and `field_attrs`.
handlebars::handlebars_helper!(concat: |*args| {
    args.iter().map(|a| match a {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }).collect::<String>()
});

/// The summary partial, the two field helpers and `concat`, for every page registry.
pub(crate) fn register(registry: &mut Handlebars<'static>) -> anyhow::Result<()> {
    registry
        .register_partial(
            "error_summary",
            include_str!("../templates/error_summary.hbs"),
        )
        .map_err(|e| anyhow::anyhow!("partial error_summary: {e}"))?;
    registry.register_helper("field_error", Box::new(field_error_helper));
    registry.register_helper("concat", Box::new(concat));
    registry.register_helper("field_attrs", Box::new(field_attrs_helper));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: [FormField; 3] = [
        FormField::new("value", "fig-value", &["data.value"], Kind::Number).required(),
        FormField::new("target", "cor-target", &["data.target"], Kind::EventRef).required(),
        FormField::new("occurred", "fig-occurred", &["occurred"], Kind::Date),
    ];

    #[test]
    fn a_refused_model_field_becomes_a_swedish_message_on_its_form_field() {
        let values = json!({ "value": "ca 90", "target": "999999" });
        let error = WebError::bad("data.value", "\"ca 90\" is not a number");
        let errors = FormErrors::from_error(&FORM, &values, &error);
        let context = errors.context();
        assert_eq!(context["any"], json!(true));
        assert_eq!(context["summary"][0]["href"], json!("#fig-value"));
        let message = context["fields"]["fig-value"].as_str().expect("a message");
        assert!(
            message.starts_with("Ange ett tal, till exempel 120"),
            "{message}"
        );
        assert!(!message.contains("data.value") && !message.contains("number"));
        // The store's "no such event" is on the target, by its longest match.
        let missing = WebError::bad("data.target.seq", "there is no event 999999 in the log");
        let context = FormErrors::from_error(&FORM, &values, &missing).context();
        let message = context["fields"]["cor-target"].as_str().expect("a message");
        assert!(message.contains("ingen händelse ”999999”"), "{message}");
    }

    #[test]
    fn every_field_is_checked_at_once_and_a_day_takes_the_swedish_forms() {
        let values = json!({ "value": "", "target": "", "occurred": "27 december 2024" });
        let errors = FormErrors::check(&FORM, &values);
        let context = errors.context();
        assert_eq!(context["summary"].as_array().expect("a list").len(), 2);
        assert!(context["fields"].get("fig-occurred").is_none(), "{context}");
        let bad = FormErrors::check(
            &FORM,
            &json!({ "value": "1", "target": "1", "occurred": "hösten 20x" }),
        );
        let message = bad.context()["fields"]["fig-occurred"]
            .as_str()
            .expect("a message")
            .to_owned();
        assert!(message.contains("27 december 2024"), "{message}");
    }

    #[test]
    fn a_refusal_no_field_explains_is_a_general_line_without_internal_names() {
        let error = WebError::bad("stream", "the identifier is empty");
        let context = FormErrors::from_error(&FORM, &json!({}), &error).context();
        assert_eq!(context["summary"][0]["href"], Value::Null);
        let message = context["summary"][0]["message"]
            .as_str()
            .expect("a message");
        assert!(
            !message.contains("stream") && !message.contains("identifier"),
            "{message}"
        );
    }
}
