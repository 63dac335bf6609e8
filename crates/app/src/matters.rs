//! Matters have a whole life: an answer, an update, a finding or a settlement must name a matter
//! that was opened (by a reclamation, a legal action, a review or an inquiry), earlier in the log
//! or anywhere in the same batch, so that a history file imports in any order. Every front end
//! appends through [`crate::provenance::append`], which runs [`MatterCheck`] inside the append's
//! transaction, on the log as it will be with the batch in it.
//!
//! The rule lives here rather than in the store: the store keeps the log's own invariants (the
//! chain, keys, correction targets) for any events, while this is a rule of the programme's
//! model. The check reads the opening events through the `(kind, seq)` index, so it costs what
//! the number of matters costs, not the log's length, and nothing when the batch names no matter.

use std::collections::HashSet;

use lagesbild_model::kinds::MATTER_OPENING_KINDS;
use lagesbild_model::{FieldError, NewEvent};
use lagesbild_store::{AppendReport, EventLog, Filter, Outcome, StoreError, scan};

/// The matters a batch answers, updates or closes, kept for the check after the batch has moved
/// into the store.
#[derive(Debug, Default)]
pub struct MatterCheck {
    /// (place in the batch, field, matter, kind).
    follows: Vec<(usize, String, String, &'static str)>,
}

impl MatterCheck {
    pub fn of(batch: &[NewEvent]) -> MatterCheck {
        let follows = batch
            .iter()
            .enumerate()
            .flat_map(|(index, event)| {
                let kind = event.data.kind();
                event
                    .data
                    .follows_matters()
                    .into_iter()
                    .map(move |(field, matter)| (index, field, matter.as_str().to_owned(), kind))
            })
            .collect();
        MatterCheck { follows }
    }

    /// Checks the matters against `log`, which holds the batch (as inside the append's
    /// transaction): every matter an appended event follows must be opened by some event of the
    /// log. The error names the event's place in the batch, the field and the matter.
    pub fn check<L: EventLog + ?Sized>(
        &self,
        log: &L,
        report: &AppendReport,
    ) -> Result<(), StoreError> {
        // An event already present was checked when it was appended.
        let appended = |index: usize| {
            matches!(
                report.outcomes.get(index),
                Some(Outcome::Appended { .. }) | None
            )
        };
        if !self.follows.iter().any(|(index, ..)| appended(*index)) {
            return Ok(());
        }
        let filter = Filter {
            kinds: MATTER_OPENING_KINDS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            ..Filter::default()
        };
        let mut opened: HashSet<String> = HashSet::new();
        for event in scan(log, &filter) {
            if let Some(matter) = event?.event.data.opens_matter() {
                opened.insert(matter.as_str().to_owned());
            }
        }
        for (index, field, matter, kind) in &self.follows {
            if appended(*index) && !opened.contains(matter) {
                return Err(StoreError::Invalid {
                    index: *index,
                    error: FieldError::new(
                        field.clone(),
                        format!(
                            "matter {matter:?} was never opened: {kind} answers, updates or closes a matter, which needs a reclamation_sent, legal_action_filed, review_commissioned or inquiry_received with \"matter\": {matter:?}, earlier in the log or in the same batch"
                        ),
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use lagesbild_store::{EventLog, SqliteStore};

    use crate::provenance::{append, template_sets};

    fn event(json: &str) -> lagesbild_model::NewEvent {
        lagesbild_model::parse_event(json).expect("a valid event")
    }

    const OPEN: &str = r#"{"kind":"review_commissioned","occurred":"2024-11","summary":"KPMG fick uppdraget.","source":{"title":"T"},"data":{"matter":"kpmg","reviewer":"KPMG AB"}}"#;
    const DONE: &str = r#"{"kind":"review_completed","occurred":"2025-03","summary":"KPMG lämnade sin granskning.","source":{"title":"T"},"data":{"matter":"kpmg","finding":"Styrningen brast."}}"#;

    #[test]
    fn a_completion_of_a_matter_never_opened_is_refused_naming_the_matter() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let error = append(&mut store, &[event(DONE)], &[], &template_sets(None)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("event 0 of the batch"), "{text}");
        assert!(text.contains("data.matter"), "{text}");
        assert!(text.contains("\"kpmg\" was never opened"), "{text}");
        assert_eq!(store.head().expect("head").seq, 0, "nothing was written");
    }

    #[test]
    fn a_batch_may_open_its_matters_in_any_order_and_the_log_remembers_them() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        // Completion first, opening second, in one batch: a history file in any order.
        append(
            &mut store,
            &[event(DONE), event(OPEN)],
            &[],
            &template_sets(None),
        )
        .expect("appends");
        // A later settlement of the same matter finds the opening in the log.
        let settle = r#"{"kind":"settlement_reached","occurred":"2025-04","summary":"Uppgörelse.","source":{"title":"T"},"data":{"parties":["A"],"matters":["kpmg","annat"]}}"#;
        let error = append(&mut store, &[event(settle)], &[], &template_sets(None)).unwrap_err();
        assert!(error.to_string().contains("data.matters[1]"), "{error}");
        assert!(error.to_string().contains("\"annat\""), "{error}");
    }
}
