//! The gate on events that make claims about the log: a `report_published` says it was built
//! from the log up to a position, with the chain hash there, and that its outputs have given
//! digests. Such an event is accepted only when every claim holds: the position is at or below
//! the head at that point of the append, the hash is the chain hash at that position, and a
//! rebuild of that edition from the log alone (no cache) with the templates of the recorded
//! digest gives the recorded digests. Every front end that appends or restores goes through
//! [`append`] or [`check_log`], so a forged provenance is refused the same way by the web API,
//! `import`, `append` and `restore`. The same gate checks that matters are opened before they
//! are answered or closed ([`crate::matters`]).

use lagesbild_model::{EventData, FieldError, GENESIS_HASH, NewEvent, sha256_hex};
use lagesbild_render::report::{ReportFormat, ReportRenderer, TemplateSet};
use lagesbild_store::{
    AppendReport, EventRef, Expectation, Filter, Outcome, Store, StoreError, scan,
};

use crate::report::build_model_from_log;

/// The template sets a rebuild may use: the built-in ones, the configured folder's when it is
/// another set (and that folder less its typst template, the set an edition published from it
/// before the PDF recorded), and every set the program has shipped before
/// ([`TemplateSet::released`]), so an edition published before a template change is still
/// rebuilt with its own templates. A recorded digest that matches none of them is refused as
/// unknown. Look one up with [`template_set_for`].
pub fn template_sets(configured: Option<&TemplateSet>) -> Vec<TemplateSet> {
    let mut sets = vec![TemplateSet::embedded()];
    let mut digests = vec![sets[0].digest()];
    let released = TemplateSet::released();
    let older = configured.map(TemplateSet::without_print);
    for set in configured
        .into_iter()
        .chain(older.iter())
        .chain(released.iter())
    {
        let digest = set.digest();
        if !digests.contains(&digest) {
            digests.push(digest);
            sets.push(set.clone());
        }
    }
    sets
}

/// The set among `sets` whose digest is `digest`: the templates an edition recorded as its own.
pub fn template_set_for<'a>(sets: &'a [TemplateSet], digest: &str) -> Option<&'a TemplateSet> {
    sets.iter().find(|set| set.digest() == digest)
}

/// Appends `batch` like [`EventLog::append`], checking every event that claims a log position
/// against the log as it stands at that event (the events before it in the batch included)
/// before anything is committed. A refused claim is a [`StoreError::Invalid`] naming the event's
/// place in the batch and the field, so the front ends locate it as they locate any other.
pub fn append(
    store: &mut dyn Store,
    batch: &[NewEvent],
    expectations: &[Expectation],
    sets: &[TemplateSet],
) -> Result<AppendReport, StoreError> {
    append_inner(store, batch, expectations, sets, true)
}

/// [`append`] without committing: every check, nothing written.
pub fn append_dry_run(
    store: &mut dyn Store,
    batch: &[NewEvent],
    expectations: &[Expectation],
    sets: &[TemplateSet],
) -> Result<AppendReport, StoreError> {
    append_inner(store, batch, expectations, sets, false)
}

fn append_inner(
    store: &mut dyn Store,
    batch: &[NewEvent],
    expectations: &[Expectation],
    sets: &[TemplateSet],
    commit: bool,
) -> Result<AppendReport, StoreError> {
    // The claims, checked inside the append's transaction.
    let claims: Vec<(usize, &NewEvent)> = batch
        .iter()
        .enumerate()
        .filter(|(_, event)| claims_position(event))
        .collect();
    // Matters must be opened before they are answered or closed (crate::matters).
    let matters = crate::matters::MatterCheck::of(batch);
    let mut check = |store: &dyn Store, report: &AppendReport| -> Result<(), StoreError> {
        matters.check(store, report)?;
        for (index, event) in &claims {
            // An event already present was checked when it was appended.
            if let Some(Outcome::Appended { seq, .. }) = report.outcomes.get(*index) {
                check_event(store, *seq, event, sets).map_err(|error| invalid(*index, error))?;
            }
        }
        Ok(())
    };
    if commit {
        store.append_checked(batch, expectations, &mut check)
    } else {
        store.append_checked_dry_run(batch, expectations, &mut check)
    }
}

/// Checks every event of the log that claims a log position (after a restore, before it is
/// committed). A refused claim is a [`StoreError::Invalid`] whose index is the event's seq less
/// one, its place in the restored log.
pub fn check_log(store: &dyn Store, sets: &[TemplateSet]) -> Result<(), StoreError> {
    let filter = Filter {
        kinds: vec!["report_published".into()],
        ..Filter::default()
    };
    for event in scan(store, &filter) {
        let event = event?;
        let index = usize::try_from(event.seq.saturating_sub(1)).unwrap_or(usize::MAX);
        check_event(store, event.seq, &event.event, sets).map_err(|error| invalid(index, error))?;
    }
    Ok(())
}

/// Whether the event makes a claim about the log that [`check_event`] must check.
pub fn claims_position(event: &NewEvent) -> bool {
    matches!(event.data, EventData::ReportPublished(_))
}

/// What a refused claim says, or the store failing while it was checked.
#[derive(Debug)]
pub enum Refusal {
    Claim(FieldError),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        Refusal::Store(error)
    }
}

fn invalid(index: usize, refusal: Refusal) -> StoreError {
    match refusal {
        Refusal::Claim(error) => StoreError::Invalid { index, error },
        Refusal::Store(error) => error,
    }
}

fn refuse(field: impl Into<String>, reason: String) -> Refusal {
    Refusal::Claim(FieldError::new(field, reason))
}

/// Checks the claims of `event`, which is (or is about to be) event `seq` of the log `store`
/// holds; events that claim nothing pass.
pub fn check_event(
    store: &dyn Store,
    seq: u64,
    event: &NewEvent,
    sets: &[TemplateSet],
) -> Result<(), Refusal> {
    let EventData::ReportPublished(published) = &event.data else {
        return Ok(());
    };
    let head = seq.saturating_sub(1);
    if published.log_seq > head {
        return Err(refuse(
            "data.log_seq",
            format!(
                "the report claims to be built from event {}, past the head of the log at this event (event {head})",
                published.log_seq
            ),
        ));
    }
    let chain_hash = if published.log_seq == 0 {
        GENESIS_HASH.to_owned()
    } else {
        store
            .event(&EventRef::Seq(published.log_seq))?
            .map(|at| at.hash)
            .ok_or_else(|| {
                refuse(
                    "data.log_seq",
                    format!("the log holds no event {}", published.log_seq),
                )
            })?
    };
    if published.head_hash.as_str() != chain_hash {
        return Err(refuse(
            "data.head_hash",
            format!(
                "{} is not the chain hash at event {}, which is {chain_hash}",
                published.head_hash, published.log_seq
            ),
        ));
    }
    let wanted = published.template_digest.as_str();
    let Some(set) = template_set_for(sets, wanted) else {
        let known: Vec<String> = sets
            .iter()
            .filter(|set| !set.origin.starts_with("report-templates/"))
            .map(|set| format!("{} ({})", set.digest(), set.origin))
            .collect();
        return Err(refuse(
            "data.template_digest",
            format!(
                "no templates with digest {wanted} are known here (known: {} and {} released sets), so the report cannot be rebuilt to check its digests; give the templates it was published with",
                known.join(", "),
                sets.len() - known.len()
            ),
        ));
    };
    let day = published.report_date.first_day();
    let model = build_model_from_log(store, published.log_seq, day, published.compiled_at)?;
    for (i, output) in published.outputs.iter().enumerate() {
        let Some(format) = format_named(output.format.as_str()) else {
            return Err(refuse(
                format!("data.outputs[{i}].format"),
                format!(
                    "{:?} is not a report format (md, html, pdf)",
                    output.format.as_str()
                ),
            ));
        };
        let bytes = ReportRenderer::new(set.clone(), format)
            .and_then(|renderer| renderer.render_bytes(&model, format))
            .map_err(|e| {
                refuse(
                    "data.template_digest",
                    format!("the templates of digest {wanted} fail to render: {e}"),
                )
            })?;
        let rebuilt = sha256_hex(&bytes);
        if output.sha256.as_str() != rebuilt {
            return Err(refuse(
                format!("data.outputs[{i}].sha256"),
                format!(
                    "{} is not the digest of the report for {day} rebuilt from the log up to event {} ({}: {rebuilt})",
                    output.sha256,
                    published.log_seq,
                    output.format.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The report format an output names.
pub fn format_named(name: &str) -> Option<ReportFormat> {
    ReportFormat::ALL.into_iter().find(|f| f.name() == name)
}
