//! Projections: fold an iterator of events into the programme's history and read it as of any
//! date. This crate never touches the database; the caller feeds it events in log order (from
//! the start or from a checkpoint) and asks for a [`View`].

mod diff;
mod projection;
mod report;
mod view;

pub use diff::{Diff, MatterChange, WaveChange, WaveSnapshot, diff};
pub use projection::{
    Amendment, Entry, PROJECTION_FORMAT, Projection, REPORT_MATERIAL_KINDS, TIMELINE_ONLY_KINDS,
    is_report_material, is_timeline_only, public_from,
};
pub use report::{
    ACTIONS_WINDOW_DAYS, ActionLine, FIGURE_MAX_AGE_DAYS, FigureLine, LapsedNote, LinkLine,
    Material, MaterialItem, MaterialKey, MatterLine, NewSince, NoteLine, PersonLine, ProposedLine,
    ReportModel, SourceLine, WaveLine, build_report, iso_week, material_class, notice_words,
    week_start,
};
pub use view::{
    Budget, FormalPause, Matter, MatterCategory, MatterStep, PauseView, PlanPoint, PlanRevision,
    PlannedWaveView, RecommendationView, StatusChange, TimelineEntry, TimelineKey, View, WaveEnd,
    WaveState, WaveStatus,
};

/// Folds events into a fresh projection.
pub fn replay<'a>(
    events: impl IntoIterator<Item = &'a lagesbild_model::StoredEvent>,
) -> Projection {
    let mut projection = Projection::new();
    for event in events {
        projection.apply(event);
    }
    projection
}
