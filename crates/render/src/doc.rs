//! A small document model (headings, paragraphs, lists, tables) with one renderer per format,
//! so that the timeline, wave and diff outputs are written once and escaped in one place.

use crate::escape;

#[derive(Clone, Debug)]
pub enum Inline {
    Text(String),
    Link { text: String, url: String },
}

pub fn text(t: impl Into<String>) -> Inline {
    Inline::Text(t.into())
}

#[derive(Clone, Debug)]
pub enum Block {
    Heading(u8, String),
    Paragraph(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table {
        caption: String,
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Trusted markup made by this crate (the SVG chart); only the HTML renderer shows it.
    TrustedHtml(String),
}

#[derive(Clone, Debug)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

fn inline_text(parts: &[Inline]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Inline::Text(t) => t.clone(),
            Inline::Link { text, url } => format!("{text} <{url}>"),
        })
        .collect()
}

pub fn to_text(doc: &Doc) -> String {
    let mut out = format!("{}\n{}\n", doc.title, "=".repeat(doc.title.chars().count()));
    for block in &doc.blocks {
        match block {
            Block::Heading(_, t) => {
                out.push_str(&format!("\n{t}\n{}\n", "-".repeat(t.chars().count())))
            }
            Block::Paragraph(p) => out.push_str(&format!("\n{}\n", inline_text(p))),
            Block::List(items) => {
                out.push('\n');
                for item in items {
                    out.push_str(&format!("- {}\n", inline_text(item)));
                }
            }
            Block::Table { header, rows, .. } => {
                let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
                for row in rows {
                    for (i, cell) in row.iter().enumerate() {
                        if let Some(w) = widths.get_mut(i) {
                            *w = (*w).max(cell.chars().count());
                        }
                    }
                }
                let line = |cells: &[String]| {
                    cells
                        .iter()
                        .enumerate()
                        .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
                        .collect::<Vec<_>>()
                        .join("  ")
                        .trim_end()
                        .to_owned()
                };
                out.push('\n');
                out.push_str(&line(header));
                out.push('\n');
                for row in rows {
                    out.push_str(&line(row));
                    out.push('\n');
                }
            }
            Block::TrustedHtml(_) => {}
        }
    }
    out
}

fn inline_markdown(parts: &[Inline]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Inline::Text(t) => escape::markdown(t),
            Inline::Link { text, url } => {
                format!(
                    "[{}](<{}>)",
                    escape::markdown(text),
                    url.replace(['<', '>', ' '], "")
                )
            }
        })
        .collect()
}

pub fn to_markdown(doc: &Doc) -> String {
    let mut out = format!("# {}\n", escape::markdown(&doc.title));
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                out.push_str(&format!(
                    "\n{} {}\n",
                    "#".repeat(usize::from(*level).clamp(2, 6)),
                    escape::markdown(t)
                ));
            }
            Block::Paragraph(p) => out.push_str(&format!("\n{}\n", inline_markdown(p))),
            Block::List(items) => {
                out.push('\n');
                for item in items {
                    out.push_str(&format!("- {}\n", inline_markdown(item)));
                }
            }
            Block::Table {
                caption,
                header,
                rows,
            } => {
                out.push_str(&format!("\n{}\n\n", escape::markdown(caption)));
                let cells = |cells: &[String]| {
                    format!(
                        "| {} |",
                        cells
                            .iter()
                            .map(|c| escape::markdown(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    )
                };
                out.push_str(&cells(header));
                out.push('\n');
                out.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
                for row in rows {
                    out.push_str(&cells(row));
                    out.push('\n');
                }
            }
            Block::TrustedHtml(_) => {}
        }
    }
    out
}

fn inline_html(parts: &[Inline]) -> String {
    parts
        .iter()
        .map(|p| match p {
            Inline::Text(t) => escape::html(t),
            Inline::Link { text, url } => format!(
                r#"<a href="{}">{}</a>"#,
                escape::html(url),
                escape::html(text)
            ),
        })
        .collect()
}

/// Renders the body of a document as HTML fragments (no `<html>` wrapper).
pub fn to_html_body(doc: &Doc) -> String {
    let mut out = format!("<h1>{}</h1>\n", escape::html(&doc.title));
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                let level = level.clamp(&2, &6);
                out.push_str(&format!("<h{level}>{}</h{level}>\n", escape::html(t)));
            }
            Block::Paragraph(p) => out.push_str(&format!("<p>{}</p>\n", inline_html(p))),
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", inline_html(item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Table {
                caption,
                header,
                rows,
            } => {
                out.push_str(&format!(
                    "<table>\n<caption>{}</caption>\n<thead><tr>",
                    escape::html(caption)
                ));
                for h in header {
                    out.push_str(&format!(r#"<th scope="col">{}</th>"#, escape::html(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        out.push_str(&format!("<td>{}</td>", escape::html(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::TrustedHtml(html) => {
                out.push_str(html);
                out.push('\n');
            }
        }
    }
    out
}

/// The stylesheet of standalone pages: readable on a phone, printable on A4, contrast above
/// WCAG 2.1 AA (text #1a1a1a on white is 17:1, links #005a9c 7:1).
pub const STYLE: &str = "body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:60rem;margin:0 auto;padding:1rem;line-height:1.5}\
a{color:#005a9c}table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:bold;padding:.25rem 0}\
th,td{border:1px solid #767676;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f2f2f2}\
svg{max-width:100%;height:auto}@media print{@page{size:A4;margin:18mm}body{max-width:none;padding:0;font-size:11pt}a{color:#1a1a1a}}";

/// A complete, self-contained HTML page.
pub fn to_html_page(doc: &Doc) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"sv\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{}</main>\n</body>\n</html>\n",
        escape::html(&doc.title),
        to_html_body(doc)
    )
}
