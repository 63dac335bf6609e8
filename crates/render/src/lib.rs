//! Rendering: Swedish formatting, escaping per format, the analyst's documents (timeline, waves,
//! diff) as text, Markdown and HTML, TimelineJS JSON, and the milestone trend chart as SVG, the Atom feed of published editions and the index of a static export of them, and the
//! report's PDF (through typst, `pdf.rs`).
//! Renders what it is given; knows nothing of the database.

pub mod chart;
pub mod doc;
pub mod escape;
pub mod feed;
pub mod pdf;
pub mod report;
pub mod site;
pub mod swedish;
pub mod views;
