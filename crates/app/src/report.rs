//! The weekly report's model up to a log position: the programme from its checkpoints, the
//! report's own material, and the views as of the report day and the previous report.

use chrono::{Days, NaiveDate};
use lagesbild_model::FuzzyDate;
use lagesbild_store::{Filter, SqliteStore, StoreError, scan};
use lagesbild_timeline::{Material, REPORT_MATERIAL_KINDS, ReportModel, build_report};

use crate::replay;

/// Builds the report for `day` from the log up to `max_seq`.
pub fn build_model(
    store: &mut SqliteStore,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
) -> Result<ReportModel, StoreError> {
    // The report reads waves, plans and matters, never the timeline-only facts: the programme
    // from its checkpoints is enough, and its cost does not grow with operational streams.
    let projection = replay::programme(store, max_seq)?;
    let filter = Filter {
        kinds: REPORT_MATERIAL_KINDS
            .iter()
            .chain(&["event_corrected", "event_retracted"])
            .map(|kind| (*kind).to_owned())
            .collect(),
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut material = Material::new();
    for event in scan(store, &filter) {
        material.apply(&event?);
    }
    let view = projection.view(Some(day));
    let since = material.previous_report(day).unwrap_or(day - Days::new(7));
    let earlier = projection.view(Some(since));
    let mut model = build_report(&material, &view, &earlier, day, compiled_at);
    model.log_seq = max_seq;
    Ok(model)
}
