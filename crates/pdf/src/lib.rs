//! A PDF from a typst template and JSON data, typeset by typst used as a library.
//!
//! The template is trusted (it ships with the program or is one of the user's templates, and is
//! part of the template digest); the data is not: it is the report model, full of text people
//! typed. It never becomes markup. The template reads it as a value with
//! `json("/data.json")`, so a point containing `#read("/etc/passwd")`, `]` or `$` is a string
//! that typst sets as text. The [`World`] this crate gives typst holds exactly two files, the
//! template and the data, and the bundled fonts; every other path, every package import and the
//! clock are refused, so a template cannot read the machine it runs on either.
//!
//! The output is reproducible: the creation date is the one the caller gives (the edition's
//! compile time), the document identifier is derived from the caller's `ident`, and nothing else
//! varies between runs.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDateTime, Timelike};
use typst::diag::{FileError, FileResult, Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, Timestamp};

/// Where the template and the data are in the template's virtual file system.
pub const TEMPLATE_PATH: &str = "/report.typ";
pub const DATA_PATH: &str = "/data.json";

/// What went wrong typesetting: the template's own errors, located in it.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("{template}, line {line}: {message}")]
    Template {
        template: String,
        line: usize,
        message: String,
    },
    #[error("{template}: {message}")]
    Other { template: String, message: String },
}

/// One document to typeset.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The template's name, for error messages (`report.typ`).
    pub template_name: &'a str,
    /// The typst source of the template.
    pub template: &'a str,
    /// The data as JSON, read by the template from [`DATA_PATH`].
    pub data: &'a [u8],
    /// A stable identifier of the document (the edition's), hashed into the PDF's document id.
    pub ident: &'a str,
    /// The creation date written into the PDF's metadata, in UTC.
    pub created: NaiveDateTime,
}

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

/// The fonts bundled with typst (Libertinus Serif, New Computer Modern, DejaVu Sans Mono),
/// parsed once per process. No system font is looked at, so the PDF is the same on every machine.
fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

fn file_id(path: &str) -> FileId {
    let vpath = VirtualPath::new(path).expect("a constant absolute path");
    RootedPath::new(VirtualRoot::Project, vpath).intern()
}

/// The two files and the fonts; nothing else exists.
struct SealedWorld {
    main: FileId,
    data_id: FileId,
    source: Source,
    data: Bytes,
}

impl World for SealedWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main {
            Ok(self.source.clone())
        } else if id == self.data_id {
            Err(FileError::NotSource)
        } else {
            Err(refused(id))
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main {
            Ok(Bytes::from_string(self.source.clone()))
        } else if id == self.data_id {
            Ok(self.data.clone())
        } else {
            Err(refused(id))
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    // No clock: the document must not depend on when it is typeset.
    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}

fn refused(id: FileId) -> FileError {
    FileError::Other(Some(
        format!(
            "{} is not available: a report template reads only {DATA_PATH}",
            id.get().vpath().get_with_slash()
        )
        .into(),
    ))
}

/// Typesets `job` into PDF bytes: A4 or whatever the template sets, fonts embedded (subset),
/// tagged, with the given creation date and a document id from `ident`.
pub fn typeset(job: &Job<'_>) -> Result<Vec<u8>, PdfError> {
    let main = file_id(TEMPLATE_PATH);
    let world = SealedWorld {
        main,
        data_id: file_id(DATA_PATH),
        source: Source::new(main, job.template.to_owned()),
        data: Bytes::new(job.data.to_vec()),
    };
    let result = typst::compile::<PagedDocument>(&world);
    let document = result
        .output
        .map_err(|errors| diagnostic_error(job, &world, &errors))?;
    let created = job.created;
    let timestamp = Datetime::from_ymd_hms(
        created.year(),
        u8::try_from(created.month()).unwrap_or(1),
        u8::try_from(created.day()).unwrap_or(1),
        u8::try_from(created.hour()).unwrap_or(0),
        u8::try_from(created.minute()).unwrap_or(0),
        u8::try_from(created.second()).unwrap_or(0),
    )
    .map(Timestamp::new_utc);
    let options = PdfOptions {
        ident: Smart::Custom(job.ident.to_owned()),
        creator: Smart::Custom(Some("lagesbild".to_owned())),
        timestamp,
        ..PdfOptions::default()
    };
    let bytes = typst_pdf::pdf(&document, &options)
        .map_err(|errors| diagnostic_error(job, &world, &errors))?;
    // typst memoizes across compilations; a long-running server keeps only recent entries.
    typst::comemo::evict(10);
    Ok(bytes)
}

/// The first error, located in the template by line where it has a place there.
fn diagnostic_error(
    job: &Job<'_>,
    world: &SealedWorld,
    diagnostics: &[SourceDiagnostic],
) -> PdfError {
    let Some(first) = diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
        .or(diagnostics.first())
    else {
        return PdfError::Other {
            template: job.template_name.to_owned(),
            message: "typesetting failed without a message".into(),
        };
    };
    let mut message = first.message.to_string();
    for hint in &first.hints {
        message.push_str(&format!(" (hint: {})", hint.v));
    }
    let line = first
        .span
        .id()
        .filter(|id| *id == world.main)
        .and_then(|_| world.range(first.span))
        .and_then(|range| world.source.lines().byte_to_line(range.start));
    match line {
        Some(line) => PdfError::Template {
            template: job.template_name.to_owned(),
            line: line + 1,
            message,
        },
        None => PdfError::Other {
            template: job.template_name.to_owned(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<'a>(template: &'a str, data: &'a [u8]) -> Job<'a> {
        Job {
            template_name: "report.typ",
            template,
            data,
            ident: "test",
            created: chrono::NaiveDate::from_ymd_opt(2024, 12, 27)
                .and_then(|d| d.and_hms_opt(11, 15, 0))
                .expect("a time"),
        }
    }

    #[test]
    fn the_template_reads_its_data_and_nothing_else() {
        let data = br#"{"text": "hej"}"#;
        let pdf =
            typeset(&job("#let r = json(\"/data.json\")\n#r.text\n", data)).expect("typesets");
        assert!(pdf.starts_with(b"%PDF-"));
        for template in [
            "#read(\"/etc/passwd\")",
            "#read(\"../../../../etc/passwd\")",
            "#import \"@preview/cetz:0.3.0\": *",
            "#image(\"/etc/hostname\")",
        ] {
            let error = typeset(&job(template, data)).expect_err(template);
            let PdfError::Template { line, message, .. } = &error else {
                panic!("{template}: {error}");
            };
            assert_eq!(*line, 1, "{template}: {error}");
            assert!(!message.is_empty(), "{template}");
        }
    }

    #[test]
    fn the_clock_is_not_available_and_two_runs_are_identical() {
        let data = b"{}";
        assert!(typeset(&job("#datetime.today().display()", data)).is_err());
        let a = typeset(&job("= Rubrik\nText.", data)).expect("typesets");
        let b = typeset(&job("= Rubrik\nText.", data)).expect("typesets");
        assert!(a == b, "identical bytes");
    }
}
