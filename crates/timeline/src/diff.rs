//! What changed between two views: plans made, waves whose plan or state moved, matters opened,
//! closed or rescheduled, and the facts in between.

use serde::Serialize;

use crate::view::{
    Matter, PlanRevision, RecommendationView, TimelineEntry, View, WaveEnd, WaveStatus,
};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveChange {
    pub wave: String,
    pub area: String,
    pub before: Option<WaveSnapshot>,
    pub after: WaveSnapshot,
}

/// The comparable part of a wave's status.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveSnapshot {
    pub planned: Option<String>,
    pub state: String,
    pub actual_start: Option<String>,
    /// How the wave ended and by whom ("genom beslut av Regionstyrelsen"), if it did.
    pub ended_by: Option<String>,
    /// The pause's formal terms, once agreed ("formell paus sedan 2025-02").
    pub formal_pause_since: Option<String>,
}

impl WaveSnapshot {
    fn of(wave: &WaveStatus) -> WaveSnapshot {
        WaveSnapshot {
            planned: wave.current.as_ref().map(|c| c.planned.to_string()),
            state: wave.state.swedish().to_owned(),
            actual_start: wave.actual_start.map(|d| d.to_string()),
            ended_by: wave.ended.as_ref().and_then(WaveEnd::swedish),
            formal_pause_since: wave
                .pause
                .as_ref()
                .and_then(|p| p.formal.as_ref())
                .map(|f| f.since.to_string()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatterChange {
    pub matter: String,
    pub summary: String,
    pub next_date_before: Option<String>,
    pub next_date_after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    pub from: Option<chrono::NaiveDate>,
    pub to: Option<chrono::NaiveDate>,
    pub new_plans: Vec<PlanRevision>,
    pub wave_changes: Vec<WaveChange>,
    pub opened_matters: Vec<Matter>,
    pub closed_matters: Vec<Matter>,
    pub rescheduled_matters: Vec<MatterChange>,
    /// Recommendations made in between; they end nothing.
    pub new_recommendations: Vec<RecommendationView>,
    /// The decision that ended the programme, if it came in between.
    pub programme_ended: Option<WaveEnd>,
    pub new_facts: Vec<TimelineEntry>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.new_plans.is_empty()
            && self.wave_changes.is_empty()
            && self.opened_matters.is_empty()
            && self.closed_matters.is_empty()
            && self.rescheduled_matters.is_empty()
            && self.new_recommendations.is_empty()
            && self.programme_ended.is_none()
            && self.new_facts.is_empty()
    }
}

/// Compares two views of the same projection, `before` as of an earlier date.
pub fn diff(before: &View, after: &View) -> Diff {
    let new_plans = after
        .plans
        .iter()
        .filter(|p| !before.plans.iter().any(|q| q.seq == p.seq))
        .cloned()
        .collect();
    let wave_changes = after
        .waves
        .iter()
        .filter_map(|wave| {
            let now = WaveSnapshot::of(wave);
            let then = before.wave(&wave.wave).map(WaveSnapshot::of);
            (then.as_ref() != Some(&now)).then(|| WaveChange {
                wave: wave.wave.clone(),
                area: wave.area.clone(),
                before: then,
                after: now,
            })
        })
        .collect();
    let was_open = |id: &str| before.matter(id).is_some_and(|m| m.open);
    let opened_matters = after
        .matters
        .iter()
        .filter(|m| m.open && before.matter(&m.matter).is_none())
        .cloned()
        .collect();
    let closed_matters = after
        .matters
        .iter()
        .filter(|m| !m.open && (was_open(&m.matter) || before.matter(&m.matter).is_none()))
        .cloned()
        .collect();
    let rescheduled_matters = after
        .matters
        .iter()
        .filter(|m| m.open)
        .filter_map(|m| {
            let old = before.matter(&m.matter)?;
            (old.open && old.next_date != m.next_date).then(|| MatterChange {
                matter: m.matter.clone(),
                summary: m.summary.clone(),
                next_date_before: old.next_date.map(|d| d.to_string()),
                next_date_after: m.next_date.map(|d| d.to_string()),
            })
        })
        .collect();
    let new_recommendations = after
        .recommendations
        .iter()
        .filter(|r| !before.recommendations.iter().any(|b| b.seq == r.seq))
        .cloned()
        .collect();
    let programme_ended = after
        .programme_ended
        .clone()
        .filter(|_| before.programme_ended.is_none());
    let new_facts = after
        .timeline
        .iter()
        .filter(|e| !before.timeline.iter().any(|b| b.seq == e.seq))
        .cloned()
        .collect();
    Diff {
        from: before.as_of,
        to: after.as_of,
        new_plans,
        wave_changes,
        opened_matters,
        closed_matters,
        rescheduled_matters,
        new_recommendations,
        programme_ended,
        new_facts,
    }
}
