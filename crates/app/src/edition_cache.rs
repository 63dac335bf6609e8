//! The cache of published editions' outputs: what a verified rebuild of an edition produced,
//! kept so that its pages are served without rebuilding the report on every view. A row is
//! served only when it holds against the edition's `report_published` event, read by its seq
//! (one index seek): bound to that event's chain hash, rendered with the edition's templates,
//! the formats the edition lists, and every output's bytes hashing to the digest the edition
//! recorded. A refused row is dropped, rebuilt from the log and noticed ([`CacheNotice`]);
//! `verify` checks every row ([`verify`]).

use lagesbild_model::kinds::ReportPublished;
use lagesbild_model::{EventData, StoredEvent, sha256_hex};
use lagesbild_render::report::TemplateSet;
use lagesbild_store::{EditionOutput, EditionOutputs, EventRef, Store, StoreError};

use crate::caches::{CacheNotice, CacheProblem};

/// The table, as notices and problems name it.
pub const TABLE: &str = "edition_outputs";

/// Keeps the outputs of the edition of event `seq` rendered with `template_digest`. Only
/// outputs a rebuild from the log gave, identical to what the edition recorded, are kept (the
/// callers: publishing, and a reproduction found identical). A file that cannot be written (read
/// only) keeps nothing, which costs only speed.
pub fn keep(store: &mut dyn Store, seq: u64, template_digest: &str, outputs: &[(&str, &[u8])]) {
    if let Err(error) = store.save_edition_outputs(seq, template_digest, outputs) {
        tracing::debug!(%error, seq, "edition outputs not kept");
    }
}

/// Why the cached `row` may not be served for the edition `event` (at its seq, with the
/// `report_published` data `published`), or `None` when every byte of it is what the edition
/// recorded.
pub fn problem(
    event: &StoredEvent,
    published: &ReportPublished,
    row: &EditionOutputs,
) -> Option<String> {
    if row.template_digest != published.template_digest.as_str() {
        return Some(format!(
            "it was rendered with templates of digest {}, not the edition's {}",
            row.template_digest, published.template_digest
        ));
    }
    if let Some(bound) = row.chain_hashes.iter().find(|h| **h != event.hash) {
        return Some(format!(
            "it is bound to chain hash {bound}, but the log has {} at event {}",
            event.hash, event.seq
        ));
    }
    let mut listed: Vec<&str> = published
        .outputs
        .iter()
        .map(|o| o.format.as_str())
        .collect();
    listed.sort_unstable();
    let held: Vec<&str> = row.outputs.iter().map(|o| o.format.as_str()).collect();
    if held != listed {
        return Some(format!(
            "it holds the formats [{}], the edition lists [{}]",
            held.join(", "),
            listed.join(", ")
        ));
    }
    for output in &row.outputs {
        let computed = sha256_hex(&output.bytes);
        if computed != output.sha256 {
            return Some(format!(
                "its {} bytes have digest {computed}, not the recorded {}: they were edited",
                output.format, output.sha256
            ));
        }
        let recorded = published
            .outputs
            .iter()
            .find(|o| o.format.as_str() == output.format)
            .map(|o| o.sha256.as_str())
            .unwrap_or_default();
        if computed != recorded {
            return Some(format!(
                "its {} bytes have digest {computed}, but the edition recorded {recorded}",
                output.format
            ));
        }
    }
    None
}

/// The cached outputs of the edition `event`, checked against it ([`problem`]) before anything
/// is returned: `None` when nothing is kept for these templates, or what was kept was refused
/// (dropped, and said in `notices`).
pub fn served(
    store: &mut dyn Store,
    event: &StoredEvent,
    published: &ReportPublished,
    template_digest: &str,
    notices: &mut Vec<CacheNotice>,
) -> Result<Option<Vec<EditionOutput>>, StoreError> {
    let Some(row) = store.edition_outputs(event.seq, template_digest)? else {
        return Ok(None);
    };
    // Templates other than the edition's are never kept: such a row is refused below.
    match problem(event, published, &row) {
        None => Ok(Some(row.outputs)),
        Some(reason) => {
            let notice = CacheNotice::new(TABLE, event.seq, reason);
            notice.warn();
            notices.push(notice);
            if let Err(error) = store.drop_edition_outputs(event.seq) {
                tracing::debug!(%error, "refused edition outputs not dropped");
            }
            Ok(None)
        }
    }
}

/// Checks every edition in the cache against its event ([`problem`]) and, unless `quick`,
/// rebuilds it from the log with the templates of its digest among `sets` and compares the
/// bytes. An edition whose templates are not known here is checked against its recorded
/// digests only (which the provenance gate checked against a rebuild when it was appended).
/// Returns how many editions were checked and what was found. Only reads.
pub fn verify(
    store: &dyn Store,
    quick: bool,
    sets: &[TemplateSet],
) -> Result<(usize, Vec<CacheProblem>), StoreError> {
    let mut problems = Vec::new();
    let all = store.all_edition_outputs()?;
    for row in &all {
        let position = format!(
            "edition at event {} (templates {})",
            row.seq, row.template_digest
        );
        let Some(event) = store.event(&EventRef::Seq(row.seq))? else {
            problems.push(CacheProblem::new(
                TABLE,
                position,
                format!("the log holds no event {}", row.seq),
            ));
            continue;
        };
        let EventData::ReportPublished(published) = &event.event.data else {
            problems.push(CacheProblem::new(
                TABLE,
                position,
                format!(
                    "event {} is a {}, not a report_published",
                    row.seq,
                    event.event.kind()
                ),
            ));
            continue;
        };
        if let Some(reason) = problem(&event, published, row) {
            problems.push(CacheProblem::new(TABLE, position, reason));
            continue;
        }
        if quick {
            continue;
        }
        let Some(set) = sets.iter().find(|s| s.digest() == row.template_digest) else {
            continue;
        };
        let rebuilt = match crate::publish::rebuild(store, set, published) {
            Ok((rebuilt, _)) => rebuilt,
            Err(crate::publish::PublishError::Store(error)) => return Err(error),
            Err(other) => {
                problems.push(CacheProblem::new(
                    TABLE,
                    position,
                    format!("it cannot be rebuilt from the log: {other}"),
                ));
                continue;
            }
        };
        for output in &row.outputs {
            let same = rebuilt
                .iter()
                .find(|r| r.format == output.format)
                .and_then(|r| r.bytes.as_deref())
                .is_some_and(|bytes| bytes == output.bytes.as_slice());
            if !same {
                problems.push(CacheProblem::new(
                    TABLE,
                    position.clone(),
                    format!(
                        "its {} bytes are not the report rebuilt from the log up to event {}",
                        output.format, published.log_seq
                    ),
                ));
            }
        }
    }
    Ok((all.len(), problems))
}
