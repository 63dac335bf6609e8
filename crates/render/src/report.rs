//! The weekly report through Handlebars: one registry per format, each with its own escaping
//! (HTML or Markdown), strict mode, Swedish helpers, and the templates from `report-templates/`
//! (embedded) or a folder of the user's. The PDF is typeset from the set's typst template
//! (`report.typ`) by [`crate::pdf`]; it belongs to the set and its digest like the others.

use std::path::Path;

use handlebars::{Handlebars, handlebars_helper};
use include_dir::{Dir, include_dir};
use lagesbild_model::{FuzzyDate, sha256_hex};
use lagesbild_timeline::ReportModel;
use serde_json::Value;

use crate::{escape, swedish};

static EMBEDDED: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../report-templates");

/// The folder of `report-templates/` that keeps every released template set, one folder per
/// set named by its digest ([`TemplateSet::released`]).
pub const RELEASED_DIR: &str = "history";

/// A report output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Markdown,
    Html,
    /// A4, typeset from `report.typ` (bytes, not text).
    Pdf,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "md",
            ReportFormat::Html => "html",
            ReportFormat::Pdf => "pdf",
        }
    }

    /// The template's name in a [`TemplateSet`].
    pub fn template(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "report.md",
            ReportFormat::Html => "report.html",
            ReportFormat::Pdf => PRINT_TEMPLATE,
        }
    }

    /// The MIME type of the output.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Markdown => "text/markdown; charset=utf-8",
            ReportFormat::Html => "text/html; charset=utf-8",
            ReportFormat::Pdf => "application/pdf",
        }
    }

    /// Every format, in the order a publication lists them.
    pub const ALL: [ReportFormat; 3] = [
        ReportFormat::Markdown,
        ReportFormat::Html,
        ReportFormat::Pdf,
    ];
}

/// The typst template of the PDF in a template set (its file name; Handlebars templates are named
/// without `.hbs`).
pub const PRINT_TEMPLATE: &str = "report.typ";

/// Whether a template set's file is a typst template rather than a Handlebars one.
fn is_typst(name: &str) -> bool {
    name.ends_with(".typ")
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read templates from {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("template {name}: {reason}")]
    Syntax { name: String, reason: String },
    #[error("template {name}, line {line}: {reason}")]
    Render {
        name: String,
        line: String,
        reason: String,
    },
}

/// A set of templates: name (file name without `.hbs`, or a typst template's whole file name,
/// `report.typ`) and text, in name order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSet {
    pub origin: String,
    pub files: Vec<(String, String)>,
}

impl TemplateSet {
    /// The templates compiled into the program.
    pub fn embedded() -> TemplateSet {
        let mut files: Vec<(String, String)> = EMBEDDED
            .files()
            .filter_map(|f| {
                let name = template_name(f.path().file_name()?.to_str()?)?;
                Some((name.to_owned(), f.contents_utf8()?.to_owned()))
            })
            .collect();
        files.sort();
        TemplateSet {
            origin: "embedded".into(),
            files,
        }
    }

    /// Every template set this program has shipped, earliest digests first by name: the folders
    /// `report-templates/history/DIGEST/`, compiled in. An edition records only its templates'
    /// digest, so an edition published with an earlier set is rebuilt (for the provenance check,
    /// `report reproduce` and its page) with the set kept here under that digest. A test keeps
    /// the current set among them, so a template change must add its set before it ships.
    pub fn released() -> Vec<TemplateSet> {
        let Some(history) = EMBEDDED.get_dir(RELEASED_DIR) else {
            return Vec::new();
        };
        let mut sets: Vec<TemplateSet> = history
            .dirs()
            .filter_map(|dir| {
                let mut files: Vec<(String, String)> = dir
                    .files()
                    .filter_map(|f| {
                        let name = template_name(f.path().file_name()?.to_str()?)?;
                        Some((name.to_owned(), f.contents_utf8()?.to_owned()))
                    })
                    .collect();
                files.sort();
                Some(TemplateSet {
                    origin: format!("report-templates/{}", dir.path().to_str()?),
                    files,
                })
            })
            .collect();
        sets.sort_by(|a, b| a.origin.cmp(&b.origin));
        sets
    }

    /// Every `*.hbs` and `*.typ` file of a folder.
    pub fn from_dir(dir: &Path) -> Result<TemplateSet, TemplateError> {
        let read_error = |reason: String| TemplateError::Read {
            path: dir.display().to_string(),
            reason,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| read_error(e.to_string()))? {
            let path = entry.map_err(|e| read_error(e.to_string()))?.path();
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(template_name)
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| read_error(format!("{}: {e}", path.display())))?;
            files.push((name.to_owned(), text));
        }
        files.sort();
        if files.is_empty() {
            return Err(read_error("no .hbs or .typ files".into()));
        }
        Ok(TemplateSet {
            origin: dir.display().to_string(),
            files,
        })
    }

    /// SHA-256 over every template, in name order: name, a NUL, the text, a NUL. A published
    /// report records it, so that a reproduction can tell whether the same templates were used.
    pub fn digest(&self) -> String {
        let mut bytes = Vec::new();
        for (name, text) in &self.files {
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend_from_slice(text.as_bytes());
            bytes.push(0);
        }
        sha256_hex(&bytes)
    }

    /// The text of the template `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }

    /// Whether the set can render `format`. A set without `report.typ` (a folder written by
    /// `templates init` before the PDF existed) publishes no PDF.
    pub fn has_format(&self, format: ReportFormat) -> bool {
        self.get(format.template()).is_some()
    }

    /// The formats a publication with this set gives.
    pub fn formats(&self) -> Vec<ReportFormat> {
        ReportFormat::ALL
            .into_iter()
            .filter(|f| *f != ReportFormat::Pdf || self.has_format(*f))
            .collect()
    }

    /// The set without its typst templates: the set, and its digest, as it was before the PDF
    /// was one of the outputs. Editions published then recorded this digest, and are rebuilt
    /// (Markdown and HTML) with this set.
    pub fn without_print(&self) -> TemplateSet {
        TemplateSet {
            origin: self.origin.clone(),
            files: self
                .files
                .iter()
                .filter(|(name, _)| !is_typst(name))
                .cloned()
                .collect(),
        }
    }

    /// Writes the templates to a folder (for `templates init`), refusing to overwrite.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, text) in &self.files {
            let path = if is_typst(name) {
                dir.join(name)
            } else {
                dir.join(format!("{name}.hbs"))
            };
            if path.exists() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    format!("{} exists; nothing was overwritten", path.display()),
                ));
            }
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// A template's name in a set from its file name: `report.md.hbs` is `report.md`, `report.typ`
/// stays `report.typ`; other files are no templates.
fn template_name(file_name: &str) -> Option<&str> {
    match file_name.strip_suffix(".hbs") {
        Some(name) if !is_typst(name) => Some(name),
        Some(_) => None,
        None if is_typst(file_name) => Some(file_name),
        None => None,
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

handlebars_helper!(datum: |value: Json| {
    let text = text_of(value);
    match FuzzyDate::parse(&text) {
        Ok(date) => swedish::fuzzy(&date),
        Err(_) => text,
    }
});

handlebars_helper!(sammanstalld: |value: Json| {
    match FuzzyDate::parse(&text_of(value)) {
        Ok(FuzzyDate::Minute(at)) => format!("{} klockan {}", at.format("%Y-%m-%d"), at.format("%H.%M")),
        Ok(date) => date.to_string(),
        Err(_) => text_of(value),
    }
});

handlebars_helper!(tal: |value: f64| swedish::number(value));

// "2024-W52" → "52", as the heading says "vecka 52".
handlebars_helper!(vecka: |value: Json| {
    let text = text_of(value);
    match text.split_once("-W") {
        Some((_, week)) => week.trim_start_matches('0').to_owned(),
        None => text,
    }
});

handlebars_helper!(forandring: |value: Json| {
    match value.as_f64() {
        Some(v) if v.abs() < 1e-9 => "oförändrat".to_owned(),
        Some(v) if v > 0.0 => format!("+{}", swedish::number(v)),
        Some(v) => swedish::number(v),
        None => "–".to_owned(),
    }
});

handlebars_helper!(manader: |months: Json, plus_minus: Json| {
    match months.as_i64() {
        Some(m) => {
            let pm = plus_minus.as_u64().unwrap_or(0);
            if pm > 0 { format!("{m:+} mån (±{pm})") } else { format!("{m:+} mån") }
        }
        None => "–".to_owned(),
    }
});

/// The templates registered for one format, with that format's escaping.
pub struct ReportRenderer {
    registry: Handlebars<'static>,
    set: TemplateSet,
}

impl std::fmt::Debug for ReportRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportRenderer")
            .field("origin", &self.set.origin)
            .finish_non_exhaustive()
    }
}

/// The Swedish helpers (`datum`, `sammanstalld`, `tal`, `forandring`, `manader`), for the
/// report's templates and the web app's pages alike.
pub fn register_helpers(registry: &mut Handlebars<'_>) {
    registry.register_helper("datum", Box::new(datum));
    registry.register_helper("sammanstalld", Box::new(sammanstalld));
    registry.register_helper("tal", Box::new(tal));
    registry.register_helper("vecka", Box::new(vecka));
    registry.register_helper("forandring", Box::new(forandring));
    registry.register_helper("manader", Box::new(manader));
}

impl ReportRenderer {
    pub fn new(set: TemplateSet, format: ReportFormat) -> Result<ReportRenderer, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        match format {
            ReportFormat::Html => registry.register_escape_fn(escape::html),
            ReportFormat::Markdown => registry.register_escape_fn(escape::markdown),
            // The PDF is typst's; no Handlebars template takes part.
            ReportFormat::Pdf => {
                if !set.has_format(format) {
                    return Err(TemplateError::Syntax {
                        name: PRINT_TEMPLATE.into(),
                        reason: format!("missing from {}", set.origin),
                    });
                }
                return Ok(ReportRenderer { registry, set });
            }
        }
        register_helpers(&mut registry);
        for (name, text) in set.files.iter().filter(|(name, _)| !is_typst(name)) {
            let result = match name.strip_prefix('_') {
                Some(partial) => registry.register_partial(partial, text.as_str()),
                None => registry.register_template_string(name, text.as_str()),
            };
            result.map_err(|e| TemplateError::Syntax {
                name: format!("{name}.hbs"),
                reason: e.to_string(),
            })?;
        }
        if !registry.has_template(format.template()) {
            return Err(TemplateError::Syntax {
                name: format!("{}.hbs", format.template()),
                reason: format!("missing from {}", set.origin),
            });
        }
        Ok(ReportRenderer { registry, set })
    }

    /// The output in `format` as bytes: the text of Markdown and HTML, the PDF's bytes.
    pub fn render_bytes(
        &self,
        model: &ReportModel,
        format: ReportFormat,
    ) -> Result<Vec<u8>, TemplateError> {
        match format {
            ReportFormat::Pdf => self.render_pdf(model),
            text => Ok(self.render(model, text)?.into_bytes()),
        }
    }

    /// The PDF, typeset from the set's `report.typ` with the model as data.
    pub fn render_pdf(&self, model: &ReportModel) -> Result<Vec<u8>, TemplateError> {
        let template = self
            .set
            .get(PRINT_TEMPLATE)
            .ok_or_else(|| TemplateError::Syntax {
                name: PRINT_TEMPLATE.into(),
                reason: format!("missing from {}", self.set.origin),
            })?;
        crate::pdf::render(model, PRINT_TEMPLATE, template).map_err(|e| match e {
            lagesbild_pdf::PdfError::Template {
                template,
                line,
                message,
            } => TemplateError::Render {
                name: template,
                line: line.to_string(),
                reason: message,
            },
            lagesbild_pdf::PdfError::Other { template, message } => TemplateError::Render {
                name: template,
                line: "?".into(),
                reason: message,
            },
        })
    }

    /// The output in a text format (Markdown, HTML); the PDF is [`Self::render_bytes`]'s.
    pub fn render(
        &self,
        model: &ReportModel,
        format: ReportFormat,
    ) -> Result<String, TemplateError> {
        if format == ReportFormat::Pdf {
            return Err(TemplateError::Render {
                name: PRINT_TEMPLATE.into(),
                line: "?".into(),
                reason: "the PDF is bytes, not text: render it with render_bytes".into(),
            });
        }
        self.registry.render(format.template(), model).map_err(|e| {
            let name = e
                .template_name
                .clone()
                .unwrap_or_else(|| format.template().to_owned());
            let source_line = e.line_no.and_then(|line| {
                let (_, text) = self
                    .set
                    .files
                    .iter()
                    .find(|(n, _)| *n == name || n.strip_prefix('_') == Some(name.as_str()))?;
                text.lines().nth(line.checked_sub(1)?).map(str::trim)
            });
            let mut reason = e.reason().to_string();
            // Handlebars does not name a missing helper parameter; the line shows it.
            if let Some(source_line) = source_line {
                reason.push_str(&format!(" in `{source_line}`"));
            }
            TemplateError::Render {
                name: format!("{name}.hbs"),
                line: e
                    .line_no
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "?".into()),
                reason,
            }
        })
    }

    pub fn templates(&self) -> &TemplateSet {
        &self.set
    }
}

/// Renders a report in one format with a template set, as bytes (the PDF's, or the text's).
pub fn render_report_bytes(
    model: &ReportModel,
    set: &TemplateSet,
    format: ReportFormat,
) -> Result<Vec<u8>, TemplateError> {
    ReportRenderer::new(set.clone(), format)?.render_bytes(model, format)
}

/// Renders a report as a PDF with a template set's `report.typ`.
pub fn render_pdf(model: &ReportModel, set: &TemplateSet) -> Result<Vec<u8>, TemplateError> {
    render_report_bytes(model, set, ReportFormat::Pdf)
}

/// Renders a report in one text format with a template set.
pub fn render_report(
    model: &ReportModel,
    set: &TemplateSet,
    format: ReportFormat,
) -> Result<String, TemplateError> {
    ReportRenderer::new(set.clone(), format)?.render(model, format)
}
