//! Read models of the projection as of a valid-time date: the timeline, the plan history, each
//! wave's plan and status with its slippage, and the programme's record of matters.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lagesbild_model::{EventData, FuzzyDate, MonthSpan, Source};
use serde::Serialize;

use crate::projection::{Entry, Projection};

/// A wave's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveState {
    Planned,
    /// Planned, but the whole planned period had passed on the as-of day without a start.
    Overdue,
    Started,
    Paused,
    Resumed,
    /// Left out of a later full plan revision: dropped from the plan, not cancelled by anyone.
    Dropped,
    /// Cancelled by a decision (`wave_cancelled`, or a `decision_made` that ends it).
    Cancelled,
    Done,
}

impl WaveState {
    /// The Swedish word a report prints.
    pub fn swedish(self) -> &'static str {
        match self {
            WaveState::Planned => "planerad",
            WaveState::Overdue => "försenad",
            WaveState::Started => "startad",
            WaveState::Paused => "pausad",
            WaveState::Resumed => "återupptagen",
            WaveState::Dropped => "struken",
            WaveState::Cancelled => "inställd",
            WaveState::Done => "genomförd",
        }
    }
}

/// One fact on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub seq: u64,
    pub key: Option<String>,
    pub kind: &'static str,
    pub stream: String,
    pub occurred: FuzzyDate,
    pub precision: &'static str,
    /// The source dates the fact only to a period (a year, a half-year or a span of them): the
    /// timeline places it at the period's middle ([`FuzzyDate::timeline_day`]) and says so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub period: bool,
    /// The date's period had not ended on the as-of day: it may not have happened yet.
    pub tentative: bool,
    pub summary: String,
    /// A completed review's finding (`Slutsats`), shown with its completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// A budget's amount in MSEK, with the top of its range when it is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_msek: Option<(f64, Option<f64>)>,
    pub source: Option<Source>,
    /// Sequence numbers of the corrections applied to this fact.
    pub corrected_by: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedWaveView {
    pub wave: String,
    pub area: String,
    pub planned: FuzzyDate,
    pub precision: &'static str,
}

/// One plan revision with its waves.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanRevision {
    pub seq: u64,
    pub key: Option<String>,
    pub occurred: FuzzyDate,
    pub tentative: bool,
    pub label: Option<String>,
    pub decided_by: Option<String>,
    pub partial: bool,
    pub summary: String,
    pub source: Option<Source>,
    pub waves: Vec<PlannedWaveView>,
}

/// A planned date for a wave, as one plan set it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanPoint {
    pub plan_seq: u64,
    /// When the plan was made.
    pub plan_date: FuzzyDate,
    pub planned: FuzzyDate,
    pub precision: &'static str,
}

/// A change of a wave's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusChange {
    pub seq: u64,
    pub occurred: FuzzyDate,
    pub state: WaveState,
    pub summary: String,
}

/// One wave: every planned date it had, its state and how far it slipped.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveStatus {
    pub wave: String,
    pub area: String,
    pub baseline: Option<PlanPoint>,
    pub plans: Vec<PlanPoint>,
    pub current: Option<PlanPoint>,
    pub actual_start: Option<FuzzyDate>,
    pub state: WaveState,
    pub state_since: Option<FuzzyDate>,
    /// The first day on which the current plan's date had passed without a start (only for a
    /// wave that is [`WaveState::Overdue`] on the as-of day).
    pub overdue_since: Option<NaiveDate>,
    /// From the baseline to the actual start, or to the current plan if not started; for an
    /// overdue wave, to the as-of day, as a lower bound that grows with it.
    pub slip_vs_baseline: Option<MonthSpan>,
    /// From the previous plan to the actual start, or to the current plan.
    pub slip_vs_previous: Option<MonthSpan>,
    /// Delays announced for this wave without new dates.
    pub delays: Vec<TimelineEntry>,
    pub history: Vec<StatusChange>,
    /// How the wave ended, if it did (dropped from a plan, cancelled by a decision, completed).
    pub ended: Option<WaveEnd>,
    /// The pause in force, with its terms once formalised.
    pub pause: Option<PauseView>,
}

/// How a wave (or the programme) ended, and by which event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WaveEnd {
    /// `dropped` (left out of a plan revision), `cancelled` (by a decision) or `completed`.
    pub how: &'static str,
    pub seq: u64,
    pub key: Option<String>,
    pub occurred: FuzzyDate,
    /// Who decided it, or the plan that left the wave out.
    pub by: Option<String>,
    pub summary: String,
}

impl WaveEnd {
    /// "genom beslut av Regionstyrelsen", "ur Tidplan maj 2022": how a report says it.
    pub fn swedish(&self) -> Option<String> {
        let by = self.by.as_ref()?;
        Some(match self.how {
            "dropped" => format!("ur {by}"),
            "cancelled" => format!("genom beslut av {by}"),
            _ => format!("av {by}"),
        })
    }
}

/// A pause in force: since when, by whom, and its formal terms once agreed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PauseView {
    pub since: FuzzyDate,
    pub decided_by: Option<String>,
    /// How many pause events this pause has seen (a second pause of a paused wave counts).
    pub pause_events: u32,
    pub formal: Option<FormalPause>,
}

/// The terms of a formalised pause.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FormalPause {
    pub seq: u64,
    pub since: FuzzyDate,
    pub parties: Vec<String>,
    pub may_end: Vec<String>,
    pub notice_months: Option<u32>,
    pub covers: Vec<String>,
}

/// A recommendation: recorded, shown, and ending nothing.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecommendationView {
    pub seq: u64,
    pub key: Option<String>,
    pub occurred: FuzzyDate,
    pub by: String,
    pub to: Option<String>,
    pub ends_programme: bool,
    pub ends_waves: Vec<String>,
    pub summary: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatterCategory {
    Reclamation,
    LegalAction,
    Review,
    Inquiry,
}

impl MatterCategory {
    pub fn swedish(self) -> &'static str {
        match self {
            MatterCategory::Reclamation => "reklamation",
            MatterCategory::LegalAction => "rättslig process",
            MatterCategory::Review => "granskning",
            MatterCategory::Inquiry => "förfrågan",
        }
    }
}

/// Something that opens and later closes: a reclamation, a legal action, a review, an inquiry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Matter {
    pub matter: String,
    pub category: MatterCategory,
    pub summary: String,
    pub party: Option<String>,
    pub opened: Option<FuzzyDate>,
    pub open: bool,
    pub closed: Option<FuzzyDate>,
    pub outcome: Option<String>,
    pub next_date: Option<FuzzyDate>,
    pub next_step: Option<String>,
    /// The first day on which the next date had passed with the matter still open (only when
    /// that day is on or before the as-of day).
    pub overdue_since: Option<NaiveDate>,
    /// A completed review's or inquiry's finding, shown where its completion is shown.
    pub finding: Option<String>,
    /// The matter's life step by step: opened, answered, updated (with the next date it set),
    /// closed.
    pub steps: Vec<MatterStep>,
    pub history: Vec<TimelineEntry>,
}

/// One step in a matter's life.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MatterStep {
    pub seq: u64,
    pub occurred: FuzzyDate,
    /// `opened`, `answered`, `updated` or `closed`.
    pub step: &'static str,
    /// The next date the step set, if any.
    pub next_date: Option<FuzzyDate>,
    pub summary: String,
}

/// A budget with every value it had.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Budget {
    pub budget: String,
    pub value_msek: f64,
    pub occurred: FuzzyDate,
    pub history: Vec<(FuzzyDate, f64)>,
}

/// Everything the log says about the programme as of one date.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct View {
    /// The valid-time day, or `None` for everything known.
    pub as_of: Option<NaiveDate>,
    /// The public-record day, if asked: only facts whose sources had been published by then
    /// (see [`Entry::public_from`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_at: Option<NaiveDate>,
    /// The last log position folded in (the known-at axis).
    pub log_seq: u64,
    pub timeline: Vec<TimelineEntry>,
    pub plans: Vec<PlanRevision>,
    pub waves: Vec<WaveStatus>,
    pub matters: Vec<Matter>,
    pub decisions: Vec<TimelineEntry>,
    pub contracts: Vec<TimelineEntry>,
    pub agreements: Vec<TimelineEntry>,
    pub settlements: Vec<TimelineEntry>,
    pub pauses: Vec<TimelineEntry>,
    pub budgets: Vec<Budget>,
    /// The decision that ended the programme, if one did.
    pub programme_ended: Option<WaveEnd>,
    pub recommendations: Vec<RecommendationView>,
}

impl View {
    pub fn wave(&self, id: &str) -> Option<&WaveStatus> {
        self.waves.iter().find(|w| w.wave == id)
    }

    pub fn matter(&self, id: &str) -> Option<&Matter> {
        self.matters.iter().find(|m| m.matter == id)
    }

    pub fn open_matters(&self) -> impl Iterator<Item = &Matter> {
        self.matters.iter().filter(|m| m.open)
    }

    /// The plan in force: the latest plan revision, if any.
    pub fn current_plan(&self) -> Option<&PlanRevision> {
        self.plans
            .iter()
            .rev()
            .find(|p| !p.partial)
            .or(self.plans.last())
    }
}

impl Entry {
    /// The fact is on the timeline as of `as_of` (its date may have begun by then), as the
    /// public record stood on `public_at`, and not retracted: what every view shows.
    pub fn on_timeline(&self, as_of: Option<NaiveDate>, public_at: Option<NaiveDate>) -> bool {
        self.retracted.is_none()
            && as_of.is_none_or(|day| self.occurred.possibly_by(day))
            && public_at.is_none_or(|day| self.public_from() <= day)
    }

    /// Where the fact stands on the timeline: by valid time, then log position.
    pub fn timeline_key(&self) -> TimelineKey {
        TimelineKey {
            occurred: self.occurred,
            seq: self.seq,
        }
    }

    /// The fact as the timeline lists it as of `as_of`.
    pub fn timeline_entry(&self, as_of: Option<NaiveDate>) -> TimelineEntry {
        timeline_entry(self, as_of)
    }
}

/// A place on the timeline, ordered as [`View::timeline`] is: by the day the timeline places a
/// fact on ([`FuzzyDate::timeline_day`]: a period's middle), then its first day, then valid time
/// ([`FuzzyDate`]'s order), then log position. Written `DATE.SEQ` (`2024-03-05.4711`), the
/// cursor of a page of the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimelineKey {
    pub occurred: FuzzyDate,
    pub seq: u64,
}

impl TimelineKey {
    /// The day the timeline places the fact on.
    pub fn day(&self) -> NaiveDate {
        self.occurred.timeline_day()
    }
}

impl Ord for TimelineKey {
    fn cmp(&self, other: &TimelineKey) -> std::cmp::Ordering {
        (self.day(), self.occurred.first_day())
            .cmp(&(other.day(), other.occurred.first_day()))
            .then_with(|| self.occurred.cmp(&other.occurred))
            .then_with(|| self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for TimelineKey {
    fn partial_cmp(&self, other: &TimelineKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for TimelineKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.occurred, self.seq)
    }
}

impl std::str::FromStr for TimelineKey {
    type Err = String;

    fn from_str(text: &str) -> Result<TimelineKey, String> {
        let wrong =
            || format!("{text:?} is not a place on the timeline (DATE.SEQ, as 2024-03-05.4711)");
        let (date, seq) = text.rsplit_once('.').ok_or_else(wrong)?;
        Ok(TimelineKey {
            occurred: FuzzyDate::parse(date).map_err(|_| wrong())?,
            seq: seq.parse().map_err(|_| wrong())?,
        })
    }
}

fn timeline_entry(entry: &Entry, as_of: Option<NaiveDate>) -> TimelineEntry {
    TimelineEntry {
        seq: entry.seq,
        key: entry.key.clone(),
        kind: entry.data.kind(),
        stream: entry.stream.clone(),
        occurred: entry.occurred,
        precision: entry.occurred.precision().as_str(),
        period: entry.occurred.precision().is_period(),
        tentative: as_of.is_some_and(|day| !entry.occurred.surely_by(day)),
        summary: entry.summary.clone(),
        finding: match &entry.data {
            EventData::ReviewCompleted(done) => done.finding.as_ref().map(ToString::to_string),
            _ => None,
        },
        amount_msek: match &entry.data {
            EventData::BudgetSet(b) => Some((
                b.value_msek.as_f64(),
                b.value_high_msek.as_ref().map(|h| h.as_f64()),
            )),
            _ => None,
        },
        source: entry.source.as_deref().cloned(),
        corrected_by: entry.corrections.iter().map(|c| c.seq).collect(),
    }
}

struct WaveBuilder {
    status: WaveStatus,
}

impl WaveBuilder {
    fn new(id: &str, area: &str) -> WaveBuilder {
        WaveBuilder {
            status: WaveStatus {
                wave: id.to_owned(),
                area: area.to_owned(),
                baseline: None,
                plans: Vec::new(),
                current: None,
                actual_start: None,
                state: WaveState::Planned,
                state_since: None,
                overdue_since: None,
                slip_vs_baseline: None,
                slip_vs_previous: None,
                delays: Vec::new(),
                history: Vec::new(),
                ended: None,
                pause: None,
            },
        }
    }

    fn set_state(&mut self, entry: &Entry, state: WaveState) {
        self.status.state = state;
        self.status.state_since = Some(entry.occurred);
        self.status.history.push(StatusChange {
            seq: entry.seq,
            occurred: entry.occurred,
            state,
            summary: entry.summary.clone(),
        });
    }

    fn end(&mut self, entry: &Entry, state: WaveState, how: &'static str, by: Option<String>) {
        self.set_state(entry, state);
        self.status.pause = None;
        self.status.ended = Some(WaveEnd {
            how,
            seq: entry.seq,
            key: entry.key.clone(),
            occurred: entry.occurred,
            by,
            summary: entry.summary.clone(),
        });
    }

    /// Ended by a plan or a decision: the wave will not start, so it has no slippage.
    fn is_called_off(&self) -> bool {
        matches!(self.status.state, WaveState::Dropped | WaveState::Cancelled)
    }

    fn finish(mut self, as_of: Option<NaiveDate>) -> WaveStatus {
        if self.is_called_off() {
            return self.status;
        }
        let s = &mut self.status;
        // A planned wave whose planned period has passed on the as-of day without a start is
        // overdue, and its slip runs to the as-of day (see docs/replay.md).
        if let (WaveState::Planned, Some(day), Some(current)) = (s.state, as_of, &s.current)
            && current.planned.overdue_on(day)
        {
            let since = current.planned.overdue_from();
            s.state = WaveState::Overdue;
            s.state_since = Some(FuzzyDate::Day(since));
            s.overdue_since = Some(since);
            s.slip_vs_baseline = s
                .baseline
                .as_ref()
                .map(|b| b.planned.months_overdue_on(day));
            s.slip_vs_previous = (s.plans.len() >= 2)
                .then(|| s.plans[s.plans.len() - 2].planned.months_overdue_on(day));
            return self.status;
        }
        let reached = s.actual_start.or(s.current.as_ref().map(|c| c.planned));
        if let (Some(baseline), Some(reached)) = (&s.baseline, reached) {
            s.slip_vs_baseline = Some(baseline.planned.months_until(&reached));
        }
        // The previous plan: the one before the current, or the current itself once started.
        let previous = if s.actual_start.is_some() {
            s.plans.last()
        } else if s.plans.len() >= 2 {
            s.plans.get(s.plans.len() - 2)
        } else {
            None
        };
        if let (Some(previous), Some(reached)) = (previous, reached) {
            s.slip_vs_previous = Some(previous.planned.months_until(&reached));
        }
        self.status
    }
}

/// A matter's steps, from the events of its history.
fn matter_steps(projection: &Projection, matter: &Matter) -> Vec<MatterStep> {
    let mut open = false;
    matter
        .history
        .iter()
        .map(|item| {
            let data = projection.entry(item.seq).map(|e| &e.data);
            let (step, next_date) = match data {
                Some(EventData::ReclamationSent(d)) => ("opened", d.deadline),
                Some(EventData::LegalActionFiled(d)) => ("opened", d.next_date),
                Some(EventData::ReviewCommissioned(d)) => ("opened", d.due),
                Some(EventData::InquiryReceived(d)) => ("opened", d.due),
                Some(EventData::ReclamationAnswered(_)) => ("answered", None),
                Some(EventData::LegalActionUpdated(d)) if d.closed => ("closed", None),
                Some(EventData::LegalActionUpdated(d)) => ("updated", d.next_date),
                Some(EventData::InquiryAnswered(d)) if !d.closed => ("answered", None),
                _ => ("closed", None),
            };
            // A second opening event of the same matter updates it.
            let step = if step == "opened" && open {
                "updated"
            } else {
                step
            };
            open = step != "closed";
            MatterStep {
                seq: item.seq,
                occurred: item.occurred,
                step,
                next_date,
                summary: item.summary.clone(),
            }
        })
        .collect()
}

impl Projection {
    /// The programme as of `as_of` (valid time; `None` means everything known). Facts whose
    /// date begins on or before the day are included; those whose period has not ended are marked
    /// `tentative` (see docs/replay.md).
    pub fn view(&self, as_of: Option<NaiveDate>) -> View {
        self.view_public(as_of, None)
    }

    /// The programme as of `as_of`, as the public record stood on `public_at`: a fact counts
    /// only from the day its sources had surely been published ([`Entry::public_from`]). The
    /// third replay axis beside valid time (`as_of`) and transaction time (the log position the
    /// projection was folded to); see docs/replay.md.
    pub fn view_public(&self, as_of: Option<NaiveDate>, public_at: Option<NaiveDate>) -> View {
        let mut visible: Vec<&Entry> = self
            .entries()
            .filter(|e| e.on_timeline(as_of, public_at))
            .collect();
        visible.sort_by_key(|e| e.timeline_key());

        let mut view = View {
            as_of,
            public_at,
            log_seq: self.last_seq(),
            timeline: Vec::with_capacity(visible.len()),
            plans: Vec::new(),
            waves: Vec::new(),
            matters: Vec::new(),
            decisions: Vec::new(),
            contracts: Vec::new(),
            agreements: Vec::new(),
            settlements: Vec::new(),
            pauses: Vec::new(),
            budgets: Vec::new(),
            programme_ended: None,
            recommendations: Vec::new(),
        };
        // Waves in the order they first appear; a BTreeMap of index keeps lookups cheap.
        let mut waves: Vec<WaveBuilder> = Vec::new();
        let mut wave_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut matters: Vec<Matter> = Vec::new();
        let mut matter_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut budgets: BTreeMap<String, Budget> = BTreeMap::new();

        fn wave<'w>(
            waves: &'w mut Vec<WaveBuilder>,
            index: &mut BTreeMap<String, usize>,
            id: &str,
            area: &str,
        ) -> &'w mut WaveBuilder {
            let i = *index.entry(id.to_owned()).or_insert_with(|| {
                waves.push(WaveBuilder::new(id, area));
                waves.len() - 1
            });
            &mut waves[i]
        }

        let matter = |matters: &mut Vec<Matter>,
                      index: &mut BTreeMap<String, usize>,
                      id: &str,
                      category: MatterCategory,
                      entry: &Entry|
         -> usize {
            *index.entry(id.to_owned()).or_insert_with(|| {
                matters.push(Matter {
                    matter: id.to_owned(),
                    category,
                    summary: entry.summary.clone(),
                    party: None,
                    opened: None,
                    open: true,
                    closed: None,
                    outcome: None,
                    next_date: None,
                    next_step: None,
                    overdue_since: None,
                    finding: None,
                    steps: Vec::new(),
                    history: Vec::new(),
                });
                matters.len() - 1
            })
        };

        for entry in visible {
            let item = timeline_entry(entry, as_of);
            match &entry.data {
                EventData::PlanRevised(plan) => {
                    let listed: Vec<&str> = plan.waves.iter().map(|w| w.wave.as_str()).collect();
                    for planned in &plan.waves {
                        let builder = wave(
                            &mut waves,
                            &mut wave_index,
                            planned.wave.as_str(),
                            planned.area.as_str(),
                        );
                        let point = PlanPoint {
                            plan_seq: entry.seq,
                            plan_date: entry.occurred,
                            planned: planned.planned,
                            precision: planned.planned.precision().as_str(),
                        };
                        builder.status.area = planned.area.to_string();
                        if builder.status.baseline.is_none() {
                            builder.status.baseline = Some(point.clone());
                        }
                        builder.status.plans.push(point.clone());
                        builder.status.current = Some(point);
                        if builder.is_called_off() {
                            // A later plan lists the wave again: it is planned anew.
                            builder.set_state(entry, WaveState::Planned);
                            builder.status.ended = None;
                        }
                    }
                    if !plan.partial {
                        let plan_name = plan
                            .label
                            .as_ref()
                            .map(ToString::to_string)
                            .or_else(|| Some(format!("tidplanen {}", entry.occurred)));
                        for builder in waves.iter_mut() {
                            let id = builder.status.wave.clone();
                            if !listed.contains(&id.as_str())
                                && builder.status.state == WaveState::Planned
                            {
                                builder.end(
                                    entry,
                                    WaveState::Dropped,
                                    "dropped",
                                    plan_name.clone(),
                                );
                                builder.status.current = None;
                            }
                        }
                    }
                    view.plans.push(PlanRevision {
                        seq: entry.seq,
                        key: entry.key.clone(),
                        occurred: entry.occurred,
                        tentative: item.tentative,
                        label: plan.label.as_ref().map(ToString::to_string),
                        decided_by: plan.decided_by.as_ref().map(ToString::to_string),
                        partial: plan.partial,
                        summary: entry.summary.clone(),
                        source: entry.source.as_deref().cloned(),
                        waves: plan
                            .waves
                            .iter()
                            .map(|w| PlannedWaveView {
                                wave: w.wave.to_string(),
                                area: w.area.to_string(),
                                planned: w.planned,
                                precision: w.planned.precision().as_str(),
                            })
                            .collect(),
                    });
                }
                EventData::DelayAnnounced(delay) => {
                    for id in &delay.waves {
                        wave(&mut waves, &mut wave_index, id.as_str(), id.as_str())
                            .status
                            .delays
                            .push(item.clone());
                    }
                }
                EventData::WaveStarted(started) => {
                    let builder = wave(
                        &mut waves,
                        &mut wave_index,
                        started.wave.as_str(),
                        started.wave.as_str(),
                    );
                    builder.status.actual_start = Some(entry.occurred);
                    builder.set_state(entry, WaveState::Started);
                }
                EventData::RolloutPaused(change) | EventData::RolloutResumed(change) => {
                    let pausing = matches!(entry.data, EventData::RolloutPaused(_));
                    let (from, to): (&[WaveState], WaveState) = if pausing {
                        (&[WaveState::Started, WaveState::Resumed], WaveState::Paused)
                    } else {
                        (&[WaveState::Paused], WaveState::Resumed)
                    };
                    for builder in waves.iter_mut() {
                        let named = change
                            .waves
                            .iter()
                            .any(|w| w.as_str() == builder.status.wave);
                        let applies = (change.waves.is_empty()
                            && from.contains(&builder.status.state))
                            || named;
                        let status = &mut builder.status;
                        if pausing
                            && status.state == WaveState::Paused
                            && (applies || change.waves.is_empty())
                        {
                            // A second pause of a paused wave: the pause stands since the first,
                            // and the second is in its history.
                            if let Some(pause) = status.pause.as_mut() {
                                pause.pause_events += 1;
                                if let Some(by) = &change.decided_by {
                                    pause.decided_by = Some(by.to_string());
                                }
                            }
                            status.history.push(StatusChange {
                                seq: entry.seq,
                                occurred: entry.occurred,
                                state: WaveState::Paused,
                                summary: entry.summary.clone(),
                            });
                        } else if applies {
                            builder.set_state(entry, to);
                            builder.status.pause = pausing.then(|| PauseView {
                                since: entry.occurred,
                                decided_by: change.decided_by.as_ref().map(ToString::to_string),
                                pause_events: 1,
                                formal: None,
                            });
                        }
                    }
                    view.pauses.push(item.clone());
                }
                EventData::PauseFormalised(formal) => {
                    for builder in waves.iter_mut() {
                        let named = formal
                            .waves
                            .iter()
                            .any(|w| w.as_str() == builder.status.wave);
                        if !(named || formal.waves.is_empty()) {
                            continue;
                        }
                        if let Some(pause) = builder.status.pause.as_mut() {
                            pause.formal = Some(FormalPause {
                                seq: entry.seq,
                                since: entry.occurred,
                                parties: formal.parties.iter().map(ToString::to_string).collect(),
                                may_end: formal.may_end.iter().map(ToString::to_string).collect(),
                                notice_months: formal.notice_months,
                                covers: formal.covers.iter().map(ToString::to_string).collect(),
                            });
                            builder.status.history.push(StatusChange {
                                seq: entry.seq,
                                occurred: entry.occurred,
                                state: WaveState::Paused,
                                summary: entry.summary.clone(),
                            });
                        }
                    }
                    view.pauses.push(item.clone());
                }
                EventData::RecommendationMade(rec) => {
                    view.recommendations.push(RecommendationView {
                        seq: entry.seq,
                        key: entry.key.clone(),
                        occurred: entry.occurred,
                        by: rec.by.to_string(),
                        to: rec.to.as_ref().map(ToString::to_string),
                        ends_programme: rec.ends_programme,
                        ends_waves: rec.ends_waves.iter().map(ToString::to_string).collect(),
                        summary: entry.summary.clone(),
                    });
                }
                EventData::WaveCompleted(done) => {
                    wave(
                        &mut waves,
                        &mut wave_index,
                        done.wave.as_str(),
                        done.wave.as_str(),
                    )
                    .end(entry, WaveState::Done, "completed", None);
                }
                EventData::WaveCancelled(cancelled) => {
                    wave(
                        &mut waves,
                        &mut wave_index,
                        cancelled.wave.as_str(),
                        cancelled.wave.as_str(),
                    )
                    .end(
                        entry,
                        WaveState::Cancelled,
                        "cancelled",
                        cancelled.decided_by.as_ref().map(ToString::to_string),
                    );
                }
                EventData::ReclamationSent(sent) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        sent.matter.as_str(),
                        MatterCategory::Reclamation,
                        entry,
                    );
                    let m = &mut matters[i];
                    m.party = Some(format!("{} → {}", sent.from, sent.to));
                    m.opened.get_or_insert(entry.occurred);
                    m.next_date = sent.deadline;
                    m.history.push(item.clone());
                }
                EventData::ReclamationAnswered(answer) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        answer.matter.as_str(),
                        MatterCategory::Reclamation,
                        entry,
                    );
                    matters[i].next_date = None;
                    matters[i].history.push(item.clone());
                }
                EventData::SettlementReached(settlement) => {
                    for id in &settlement.matters {
                        if let Some(&i) = matter_index.get(id.as_str()) {
                            let m = &mut matters[i];
                            m.open = false;
                            m.closed = Some(entry.occurred);
                            m.outcome = Some(entry.summary.clone());
                            m.next_date = None;
                            m.next_step = None;
                            m.history.push(item.clone());
                        }
                    }
                    view.settlements.push(item.clone());
                }
                EventData::LegalActionFiled(filed) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        filed.matter.as_str(),
                        MatterCategory::LegalAction,
                        entry,
                    );
                    let m = &mut matters[i];
                    m.party = Some(match &filed.defendant {
                        Some(defendant) => format!("{} mot {defendant}", filed.plaintiff),
                        None => filed.plaintiff.to_string(),
                    });
                    m.opened.get_or_insert(entry.occurred);
                    m.next_date = filed.next_date;
                    m.next_step = filed.next_step.as_ref().map(ToString::to_string);
                    m.history.push(item.clone());
                }
                EventData::LegalActionUpdated(update) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        update.matter.as_str(),
                        MatterCategory::LegalAction,
                        entry,
                    );
                    let m = &mut matters[i];
                    if update.closed {
                        m.open = false;
                        m.closed = Some(entry.occurred);
                        m.next_date = None;
                        m.next_step = None;
                    } else {
                        m.next_date = update.next_date.or(m.next_date);
                        if let Some(step) = &update.next_step {
                            m.next_step = Some(step.to_string());
                        }
                    }
                    if let Some(outcome) = &update.outcome {
                        m.outcome = Some(outcome.to_string());
                    }
                    m.history.push(item.clone());
                }
                EventData::ReviewCommissioned(review) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        review.matter.as_str(),
                        MatterCategory::Review,
                        entry,
                    );
                    let m = &mut matters[i];
                    m.party = Some(review.reviewer.to_string());
                    m.opened.get_or_insert(entry.occurred);
                    m.next_date = review.due;
                    m.next_step = review.due.map(|_| "granskningen ska vara klar".to_owned());
                    m.history.push(item.clone());
                }
                EventData::ReviewCompleted(done) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        done.matter.as_str(),
                        MatterCategory::Review,
                        entry,
                    );
                    let m = &mut matters[i];
                    m.open = false;
                    m.closed = Some(entry.occurred);
                    m.outcome = done.finding.as_ref().map(ToString::to_string);
                    m.finding = m.outcome.clone();
                    m.next_date = None;
                    m.next_step = None;
                    m.history.push(item.clone());
                }
                EventData::InquiryReceived(inquiry) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        inquiry.matter.as_str(),
                        MatterCategory::Inquiry,
                        entry,
                    );
                    let m = &mut matters[i];
                    m.party = Some(inquiry.from.to_string());
                    m.opened.get_or_insert(entry.occurred);
                    m.next_date = inquiry.due;
                    m.next_step = inquiry.due.map(|_| "svar senast".to_owned());
                    m.history.push(item.clone());
                }
                EventData::InquiryAnswered(answer) => {
                    let i = matter(
                        &mut matters,
                        &mut matter_index,
                        answer.matter.as_str(),
                        MatterCategory::Inquiry,
                        entry,
                    );
                    let m = &mut matters[i];
                    if answer.closed {
                        m.open = false;
                        m.closed = Some(entry.occurred);
                        m.next_date = None;
                        m.next_step = None;
                    }
                    m.history.push(item.clone());
                }
                EventData::BudgetSet(budget) => {
                    let value = budget.value_msek.as_f64();
                    let slot = budgets
                        .entry(budget.budget.to_string())
                        .or_insert_with(|| Budget {
                            budget: budget.budget.to_string(),
                            value_msek: value,
                            occurred: entry.occurred,
                            history: Vec::new(),
                        });
                    slot.value_msek = value;
                    slot.occurred = entry.occurred;
                    slot.history.push((entry.occurred, value));
                }
                EventData::DecisionMade(decision) => {
                    let by = Some(decision.decided_by.to_string());
                    for builder in waves.iter_mut() {
                        let named = decision
                            .ends_waves
                            .iter()
                            .any(|w| w.as_str() == builder.status.wave);
                        let ended = matches!(
                            builder.status.state,
                            WaveState::Dropped | WaveState::Cancelled | WaveState::Done
                        );
                        if named || (decision.ends_programme && !ended) {
                            builder.end(entry, WaveState::Cancelled, "cancelled", by.clone());
                        }
                    }
                    if decision.ends_programme {
                        view.programme_ended = Some(WaveEnd {
                            how: "cancelled",
                            seq: entry.seq,
                            key: entry.key.clone(),
                            occurred: entry.occurred,
                            by,
                            summary: entry.summary.clone(),
                        });
                    }
                    view.decisions.push(item.clone());
                }
                EventData::ContractSigned(_) => view.contracts.push(item.clone()),
                EventData::AgreementMade(_) => view.agreements.push(item.clone()),
                _ => {}
            }
            view.timeline.push(item);
        }
        // The state above is folded in valid-time order; the timeline itself places a fact
        // dated to a period at the period's middle, not on its first day (docs/replay.md). The
        // sort is stable, so facts on the same day keep the fold's order.
        view.timeline
            .sort_by_key(|entry| (entry.occurred.timeline_day(), entry.occurred.first_day()));
        view.waves = waves.into_iter().map(|w| w.finish(as_of)).collect();
        for m in matters.iter_mut() {
            m.steps = matter_steps(self, m);
        }
        if let Some(day) = as_of {
            for m in matters.iter_mut().filter(|m| m.open) {
                if let Some(next) = m.next_date
                    && next.overdue_on(day)
                {
                    m.overdue_since = Some(next.overdue_from());
                }
            }
        }
        view.matters = matters;
        view.budgets = budgets.into_values().collect();
        view
    }
}
