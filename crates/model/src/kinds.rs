//! The kinds of event and the data each carries. Every data struct refuses unknown fields; the
//! contract for writers is `events/README.md`.

use serde::{Deserialize, Serialize};

use crate::date::FuzzyDate;
use crate::text::{Amount, EventKey, HashHex, Id, Text, Url, bounded_list, nonempty_list};

/// A kind together with its validated data. Serialized adjacently tagged, as
/// `{"kind": "plan_revised", "data": {...}}`.
///
/// The three largest kinds are boxed (serde reads and writes a `Box` as its content, so the
/// JSON is the same): inline, the correction alone (288 bytes) set the size of every event,
/// and a full replay keeps a million of them (BENCHMARKS.md). The rest fit in 120 bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum EventData {
    DecisionMade(DecisionMade),
    ContractSigned(ContractSigned),
    AgreementMade(AgreementMade),
    BudgetSet(BudgetSet),
    PlanRevised(PlanRevised),
    DelayAnnounced(DelayAnnounced),
    WaveStarted(WaveRef),
    RolloutPaused(RolloutChanged),
    RolloutResumed(RolloutChanged),
    WaveCompleted(WaveCompleted),
    WaveCancelled(WaveCancelled),
    ReclamationSent(ReclamationSent),
    ReclamationAnswered(ReclamationAnswered),
    SettlementReached(SettlementReached),
    LegalActionFiled(Box<LegalActionFiled>),
    LegalActionUpdated(LegalActionUpdated),
    ReviewCommissioned(ReviewCommissioned),
    ReviewCompleted(ReviewCompleted),
    InquiryReceived(InquiryReceived),
    InquiryAnswered(InquiryAnswered),
    // How a programme really goes (issue 14): recommendations that end nothing, formal pauses.
    RecommendationMade(RecommendationMade),
    PauseFormalised(PauseFormalised),
    FactReported(FactReported),
    SituationNoted(SituationNoted),
    CommunicationPublished(CommunicationPublished),
    FigureReported(FigureReported),
    RoleAssigned(RoleAssigned),
    ReportPublished(Box<ReportPublished>),
    PointsOrdered(PointsOrdered),
    EditionReviewed(EditionReviewed),
    EditionSent(EditionSent),
    EventCorrected(Box<EventCorrected>),
    EventRetracted(EventRetracted),
}

/// Every kind's name, in the order of [`EventData`].
pub const KINDS: &[&str] = &[
    "decision_made",
    "contract_signed",
    "agreement_made",
    "budget_set",
    "plan_revised",
    "delay_announced",
    "wave_started",
    "rollout_paused",
    "rollout_resumed",
    "wave_completed",
    "wave_cancelled",
    "reclamation_sent",
    "reclamation_answered",
    "settlement_reached",
    "legal_action_filed",
    "legal_action_updated",
    "review_commissioned",
    "review_completed",
    "inquiry_received",
    "inquiry_answered",
    "recommendation_made",
    "pause_formalised",
    "fact_reported",
    "situation_noted",
    "communication_published",
    "figure_reported",
    "role_assigned",
    "report_published",
    "points_ordered",
    "edition_reviewed",
    "edition_sent",
    "event_corrected",
    "event_retracted",
];

/// Reads the data of one kind from some input: from a `serde_json::Value` keeping the path to a
/// bad field ([`data_for_kind`]), or from stored text ([`crate::trusted`]).
pub(crate) trait DataReader {
    type Error;
    fn read<T: serde::de::DeserializeOwned>(self) -> Result<T, Self::Error>;
}

/// `data` as a value checked by some rules, with the path to a bad field (relative to `data`)
/// in the error.
pub(crate) struct FromValue(pub serde_json::Value, pub crate::text::Rules);

impl DataReader for FromValue {
    type Error = serde_path_to_error::Error<serde_json::Error>;
    fn read<T: serde::de::DeserializeOwned>(self) -> Result<T, Self::Error> {
        crate::stored::from_value_tracked(self.0, self.1)
    }
}

/// Reads `data` as the struct of `kind`. Returns `None` for an unknown kind.
pub(crate) fn read_data<R: DataReader>(kind: &str, data: R) -> Option<Result<EventData, R::Error>> {
    fn de<T: serde::de::DeserializeOwned, R: DataReader>(
        data: R,
        wrap: fn(T) -> EventData,
    ) -> Result<EventData, R::Error> {
        data.read().map(wrap)
    }
    Some(match kind {
        "decision_made" => de(data, EventData::DecisionMade),
        "contract_signed" => de(data, EventData::ContractSigned),
        "agreement_made" => de(data, EventData::AgreementMade),
        "budget_set" => de(data, EventData::BudgetSet),
        "plan_revised" => de(data, EventData::PlanRevised),
        "delay_announced" => de(data, EventData::DelayAnnounced),
        "wave_started" => de(data, EventData::WaveStarted),
        "rollout_paused" => de(data, EventData::RolloutPaused),
        "rollout_resumed" => de(data, EventData::RolloutResumed),
        "wave_completed" => de(data, EventData::WaveCompleted),
        "wave_cancelled" => de(data, EventData::WaveCancelled),
        "reclamation_sent" => de(data, EventData::ReclamationSent),
        "reclamation_answered" => de(data, EventData::ReclamationAnswered),
        "settlement_reached" => de(data, EventData::SettlementReached),
        "legal_action_filed" => de(data, |d| EventData::LegalActionFiled(Box::new(d))),
        "legal_action_updated" => de(data, EventData::LegalActionUpdated),
        "review_commissioned" => de(data, EventData::ReviewCommissioned),
        "review_completed" => de(data, EventData::ReviewCompleted),
        "inquiry_received" => de(data, EventData::InquiryReceived),
        "inquiry_answered" => de(data, EventData::InquiryAnswered),
        "recommendation_made" => de(data, EventData::RecommendationMade),
        "pause_formalised" => de(data, EventData::PauseFormalised),
        "fact_reported" => de(data, EventData::FactReported),
        "situation_noted" => de(data, EventData::SituationNoted),
        "communication_published" => de(data, EventData::CommunicationPublished),
        "figure_reported" => de(data, EventData::FigureReported),
        "role_assigned" => de(data, EventData::RoleAssigned),
        "report_published" => de(data, |d| EventData::ReportPublished(Box::new(d))),
        "points_ordered" => de(data, EventData::PointsOrdered),
        "edition_reviewed" => de(data, EventData::EditionReviewed),
        "edition_sent" => de(data, EventData::EditionSent),
        "event_corrected" => de(data, |d| EventData::EventCorrected(Box::new(d))),
        "event_retracted" => de(data, EventData::EventRetracted),
        _ => return None,
    })
}

/// Deserializes `data` as the struct of `kind`, keeping the path to a bad field (relative to
/// `data`). Returns `None` for an unknown kind.
pub(crate) fn data_for_kind(
    kind: &str,
    data: serde_json::Value,
    rules: crate::text::Rules,
) -> Option<Result<EventData, serde_path_to_error::Error<serde_json::Error>>> {
    read_data(kind, FromValue(data, rules))
}

impl EventData {
    pub fn kind(&self) -> &'static str {
        match self {
            EventData::DecisionMade(_) => "decision_made",
            EventData::ContractSigned(_) => "contract_signed",
            EventData::AgreementMade(_) => "agreement_made",
            EventData::BudgetSet(_) => "budget_set",
            EventData::PlanRevised(_) => "plan_revised",
            EventData::DelayAnnounced(_) => "delay_announced",
            EventData::WaveStarted(_) => "wave_started",
            EventData::RolloutPaused(_) => "rollout_paused",
            EventData::RolloutResumed(_) => "rollout_resumed",
            EventData::WaveCompleted(_) => "wave_completed",
            EventData::WaveCancelled(_) => "wave_cancelled",
            EventData::ReclamationSent(_) => "reclamation_sent",
            EventData::ReclamationAnswered(_) => "reclamation_answered",
            EventData::SettlementReached(_) => "settlement_reached",
            EventData::LegalActionFiled(_) => "legal_action_filed",
            EventData::LegalActionUpdated(_) => "legal_action_updated",
            EventData::ReviewCommissioned(_) => "review_commissioned",
            EventData::ReviewCompleted(_) => "review_completed",
            EventData::InquiryReceived(_) => "inquiry_received",
            EventData::InquiryAnswered(_) => "inquiry_answered",
            EventData::RecommendationMade(_) => "recommendation_made",
            EventData::PauseFormalised(_) => "pause_formalised",
            EventData::FactReported(_) => "fact_reported",
            EventData::SituationNoted(_) => "situation_noted",
            EventData::CommunicationPublished(_) => "communication_published",
            EventData::FigureReported(_) => "figure_reported",
            EventData::RoleAssigned(_) => "role_assigned",
            EventData::ReportPublished(_) => "report_published",
            EventData::PointsOrdered(_) => "points_ordered",
            EventData::EditionReviewed(_) => "edition_reviewed",
            EventData::EditionSent(_) => "edition_sent",
            EventData::EventCorrected(_) => "event_corrected",
            EventData::EventRetracted(_) => "event_retracted",
        }
    }

    /// Historical facts must say where they come from; what staff type themselves (notes,
    /// communications, figures, roles) and what the program writes (corrections, publications)
    /// may leave the source out.
    pub fn requires_source(&self) -> bool {
        !matches!(
            self,
            EventData::SituationNoted(_)
                | EventData::CommunicationPublished(_)
                | EventData::FigureReported(_)
                | EventData::RoleAssigned(_)
                | EventData::ReportPublished(_)
                | EventData::PointsOrdered(_)
                | EventData::EditionReviewed(_)
                | EventData::EditionSent(_)
                | EventData::EventCorrected(_)
                | EventData::EventRetracted(_)
        )
    }

    /// The earlier event this one corrects or retracts, if any.
    pub fn target(&self) -> Option<&Target> {
        match self {
            EventData::EventCorrected(c) => Some(&c.target),
            EventData::EventRetracted(r) => Some(&r.target),
            _ => None,
        }
    }

    pub fn target_mut(&mut self) -> Option<&mut Target> {
        match self {
            EventData::EventCorrected(c) => Some(&mut c.target),
            EventData::EventRetracted(r) => Some(&mut r.target),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionMade {
    pub decided_by: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Text>,
    /// The decision ends the whole programme: every wave not done is cancelled by it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ends_programme: bool,
    /// The waves the decision cancels.
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ends_waves: Vec<Id>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSigned {
    pub supplier: Text,
    pub buyer: Text,
    #[serde(
        default,
        deserialize_with = "crate::text::optional_non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub value_msek: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementMade {
    #[serde(deserialize_with = "nonempty_list")]
    pub parties: Vec<Text>,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub covers: Vec<Text>,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cancels: Vec<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSet {
    pub budget: Id,
    #[serde(deserialize_with = "crate::text::non_negative")]
    pub value_msek: Amount,
    /// The top of a range ("5,5–11 miljarder": `value_msek` 5500, `value_high_msek` 11000); never
    /// below `value_msek` (issue 14: honest precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_high_msek: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRevised {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    #[serde(deserialize_with = "nonempty_list")]
    pub waves: Vec<PlannedWave>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedWave {
    pub wave: Id,
    pub area: Text,
    pub planned: FuzzyDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelayAnnounced {
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub waves: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveCompleted {
    pub wave: Id,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveRef {
    pub wave: Id,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub units: Vec<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutChanged {
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub waves: Vec<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveCancelled {
    pub wave: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// Who decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReclamationSent {
    pub matter: Id,
    pub from: Text,
    pub to: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<FuzzyDate>,
    #[serde(
        default,
        deserialize_with = "crate::text::optional_non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub claim_msek: Option<Amount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReclamationAnswered {
    pub matter: Id,
    pub from: Text,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementReached {
    #[serde(deserialize_with = "nonempty_list")]
    pub parties: Vec<Text>,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub matters: Vec<Id>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub amount_disclosed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalActionFiled {
    pub matter: Id,
    pub plaintiff: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defendant: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub court: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_date: Option<FuzzyDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalActionUpdated {
    pub matter: Id,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_date: Option<FuzzyDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewCommissioned {
    pub matter: Id,
    pub reviewer: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commissioned_by: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<FuzzyDate>,
    #[serde(
        default,
        deserialize_with = "crate::text::optional_non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub cost_cap_msek: Option<Amount>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewCompleted {
    pub matter: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InquiryReceived {
    pub matter: Id,
    pub from: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<FuzzyDate>,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InquiryAnswered {
    pub matter: Id,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub closed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactReported {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Id>,
}

/// The report section a note belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// *Sammanfattande lägesbild*.
    Summary,
    /// *Kommunikativ lägesbild*.
    Communications,
    /// *Verksamhetens kommentar*.
    Operations,
    /// *Om Samordning vårdinformationssystem*.
    About,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SituationNoted {
    pub section: Section,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub points: Vec<Text>,
    /// The last day the note stands; must be a whole day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<FuzzyDate>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standing: bool,
    /// The note stands while this matter is open and stops when it closes ("until the review
    /// is done"); without `until` it stands from its day on (issue 14: notes that follow facts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub while_open: Option<Id>,
    /// The point of an earlier edition this one was carried over from ("start from last
    /// week"), so that what changed between editions is known point by point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<u64>,
    /// A suggestion carried over from the last edition that staff have not yet kept: shown to
    /// them in place, left out of the report until kept (a correction that clears it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proposed: bool,
}

/// Where a published item is listed in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    /// *Kommunikativa åtgärder, urval*, in the report of its week.
    #[default]
    Dated,
    /// *Samlad information*, until retracted.
    Collected,
}

impl Listing {
    fn is_default(&self) -> bool {
        *self == Listing::Dated
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommunicationPublished {
    pub title: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Text>,
    #[serde(default, skip_serializing_if = "Listing::is_default")]
    pub listing: Listing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureReported {
    pub figure: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Text>,
    pub value: Amount,
    pub unit: Text,
    /// When the value was measured, if not on `occurred` (issue 14: figures in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<FuzzyDate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleAssigned {
    pub role: Id,
    pub person: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportPublished {
    /// The day the report describes.
    pub report_date: FuzzyDate,
    /// The time printed as *Sammanställd*, `YYYY-MM-DDTHH:MM`.
    pub compiled_at: FuzzyDate,
    /// The last sequence number the report was built from.
    pub log_seq: u64,
    /// The chain hash at `log_seq`.
    pub head_hash: HashHex,
    /// SHA-256 over the templates used, in name order.
    pub template_digest: HashHex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Text>,
    #[serde(deserialize_with = "nonempty_list")]
    pub outputs: Vec<RenderedOutput>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderedOutput {
    pub format: Id,
    pub sha256: HashHex,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// The order of the points of one section in one edition: the notes' sequence numbers, first
/// first. Points of the section not listed follow in the order they were written. The latest
/// order of the edition's week wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsOrdered {
    /// The edition's report day.
    pub edition: FuzzyDate,
    pub section: Section,
    #[serde(deserialize_with = "bounded_list")]
    pub order: Vec<u64>,
}

/// A step of an edition's review before publishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStep {
    /// An editor asks for review.
    Submitted,
    /// Another person, an approver, approves the draft as it stood.
    Approved,
    /// An approver sends it back, with a comment.
    Returned,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditionReviewed {
    /// The edition's report day.
    pub edition: FuzzyDate,
    pub step: ReviewStep,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<Text>,
    /// SHA-256 of the draft as reviewed (its report model without the compile time and log
    /// position), so that an approval holds only for the draft that was approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_sha256: Option<HashHex>,
}

/// How a send of an edition to a distribution list went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendOutcome {
    /// The SMTP server accepted the message for every recipient.
    Sent,
    /// It did not; `error` says why. The edition page offers to send it again.
    Failed,
}

/// A published edition sent by e-mail to one distribution list (or a failed attempt), so that
/// the archive shows who got which edition and a failure is never lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditionSent {
    /// The `report_published` event of the version sent.
    pub report_seq: u64,
    /// The edition's report day.
    pub edition: FuzzyDate,
    /// The distribution list's name, as configured.
    pub list: Text,
    /// How many addresses the message went to.
    pub recipients: u64,
    /// The message's `Message-ID`, angle brackets included.
    pub message_id: Text,
    pub outcome: SendOutcome,
    /// Why it failed: the SMTP server's answer or the connection's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Text>,
}

/// The event a correction or retraction points at. Writers give the key or the sequence
/// number; the store fills in the sequence number when it appends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<EventKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCorrected {
    pub target: Target,
    pub reason: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred: Option<FuzzyDate>,
    #[serde(
        default,
        deserialize_with = "crate::text::optional_summary",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::event::Source>,
    /// The target's corrected data, whole; checked against the target's kind on append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRetracted {
    pub target: Target,
    pub reason: Text,
}

// How a programme really goes (issue 14): a recommendation is not an end, and a pause can be
// formalised later with its terms.

/// Someone recommended something (to end the programme, to cancel waves). It ends nothing: only a
/// decision ([`DecisionMade::ends_programme`], [`DecisionMade::ends_waves`]) or a
/// `wave_cancelled` does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationMade {
    /// Who recommended it.
    pub by: Text,
    /// Who it was addressed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Text>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ends_programme: bool,
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ends_waves: Vec<Id>,
}

/// A pause already in force was formalised, with its terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseFormalised {
    /// The parties to the formal pause.
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parties: Vec<Text>,
    /// Who may end it.
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub may_end: Vec<Text>,
    /// The notice period for ending it, in months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_months: Option<u32>,
    /// What the pause covers.
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub covers: Vec<Text>,
    /// The waves it applies to; default: every paused wave.
    #[serde(
        default,
        deserialize_with = "bounded_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub waves: Vec<Id>,
}

/// The kinds that open a matter (`data.matter`); every other event naming a matter must come
/// after one of these for the same matter, in the log or in the same batch.
pub const MATTER_OPENING_KINDS: [&str; 4] = [
    "reclamation_sent",
    "legal_action_filed",
    "review_commissioned",
    "inquiry_received",
];

impl EventData {
    /// The matter this event opens, if it is of a [`MATTER_OPENING_KINDS`] kind.
    pub fn opens_matter(&self) -> Option<&Id> {
        match self {
            EventData::ReclamationSent(d) => Some(&d.matter),
            EventData::LegalActionFiled(d) => Some(&d.matter),
            EventData::ReviewCommissioned(d) => Some(&d.matter),
            EventData::InquiryReceived(d) => Some(&d.matter),
            _ => None,
        }
    }

    /// The matters this event answers, updates or closes, each with the field naming it: they
    /// must have been opened.
    pub fn follows_matters(&self) -> Vec<(String, &Id)> {
        match self {
            EventData::ReclamationAnswered(d) => vec![("data.matter".to_owned(), &d.matter)],
            EventData::LegalActionUpdated(d) => vec![("data.matter".to_owned(), &d.matter)],
            EventData::ReviewCompleted(d) => vec![("data.matter".to_owned(), &d.matter)],
            EventData::InquiryAnswered(d) => vec![("data.matter".to_owned(), &d.matter)],
            EventData::SettlementReached(d) => d
                .matters
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("data.matters[{i}]"), m))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod size_tests {
    use super::EventData;

    /// Every event holds its `EventData` inline, and a full replay keeps a million events' worth
    /// of it: the largest kinds are boxed so that the others set its size. A kind that grows
    /// past this makes every event in memory larger; box it as the three are.
    #[test]
    fn event_data_stays_within_120_bytes() {
        let size = std::mem::size_of::<EventData>();
        assert!(
            size <= 120,
            "EventData is {size} bytes; box the kind that grew"
        );
    }

    /// The same for the event around it: its source is boxed (144 bytes inline, and absent
    /// from about half of a busy log's events, its figures), which took a read event 464 -> 328
    /// bytes and a 1M replay's peak memory 746 -> 695 MB (BENCHMARKS.md).
    #[test]
    fn events_stay_within_their_sizes() {
        let new = std::mem::size_of::<crate::NewEvent>();
        assert!(new <= 248, "NewEvent is {new} bytes");
        let stored = std::mem::size_of::<crate::StoredEvent>();
        assert!(stored <= 328, "StoredEvent is {stored} bytes");
    }
}
