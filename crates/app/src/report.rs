//! The weekly report's model up to a log position: the programme from its checkpoints, the
//! report's own material, and the views as of the report day and the previous report.

use chrono::{Days, NaiveDate};
use lagesbild_model::FuzzyDate;
use lagesbild_store::{Filter, Store, StoreError, scan};
use lagesbild_timeline::{Material, REPORT_MATERIAL_KINDS, ReportModel, build_report};

use crate::caches::CacheNotice;
use crate::{material, replay};

/// The report material for `day` as known at `max_seq`: looked up in the material index, brought
/// up to date first; or, where the index cannot be kept (a read-only file behind the log), folded
/// from every material event up to `max_seq`, which gives the same report more slowly.
///
/// A row of the index that does not match the log is never used: the lookup fails, the index
/// is dropped (rebuilt by the next report), the material is folded, and `notices` says so.
fn material(
    store: &mut dyn Store,
    max_seq: u64,
    day: NaiveDate,
    notices: &mut Vec<CacheNotice>,
) -> Result<Material, StoreError> {
    let found = material::catch_up_noted(store, notices)
        .and_then(|()| material::for_day(store, max_seq, day));
    match found {
        Ok(material) => Ok(material),
        Err(StoreError::CacheDamaged(reason)) => {
            let notice = CacheNotice::new("material", max_seq, reason);
            notice.warn();
            notices.push(notice);
            if let Err(error) = store.drop_material() {
                tracing::debug!(%error, "refused material index not dropped");
            }
            fold_material(store, max_seq)
        }
        Err(error) => {
            tracing::debug!(%error, "material index not usable; folding the material");
            fold_material(store, max_seq)
        }
    }
}

/// Every item of report material up to `max_seq`, folded from the log.
pub fn fold_material(store: &dyn Store, max_seq: u64) -> Result<Material, StoreError> {
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
        material.apply_owned(event?);
    }
    Ok(material)
}

/// Builds the report for `day` from the log up to `max_seq`.
pub fn build_model(
    store: &mut dyn Store,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
) -> Result<ReportModel, StoreError> {
    build_model_noted(store, max_seq, day, compiled_at, &mut Vec::new())
}

/// [`build_model`], saying in `notices` which caches it refused and rebuilt from the log.
pub fn build_model_noted(
    store: &mut dyn Store,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
    notices: &mut Vec<CacheNotice>,
) -> Result<ReportModel, StoreError> {
    build_model_public_noted(store, max_seq, day, compiled_at, None, notices)
}

/// [`build_model_noted`] as the public record stood on `public_at` (`None`: everything): facts
/// and material whose sources were published later are left out, so the edition can be rebuilt
/// as it could have been written that day.
pub fn build_model_public_noted(
    store: &mut dyn Store,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
    public_at: Option<NaiveDate>,
    notices: &mut Vec<CacheNotice>,
) -> Result<ReportModel, StoreError> {
    // The report reads waves, plans and matters, never the timeline-only facts: the programme
    // from its checkpoints is enough, and its cost does not grow with operational streams.
    let projection = replay::programme_noted(store, max_seq, notices)?;
    let material = material(store, max_seq, day, notices)?;
    let material = match public_at {
        Some(public) => material.public_at(public),
        None => material,
    };
    Ok(model_from(
        &projection,
        &material,
        max_seq,
        day,
        compiled_at,
        public_at,
    ))
}

/// Builds the report for `day` from the log up to `max_seq` alone: the programme folded from
/// the first event and the material folded from every material event, no checkpoint and no
/// index read. Publishing, reproducing and the provenance check use it, because what they
/// write or call identical must follow from the chain and nothing else. Slower than
/// [`build_model`] (it reads the whole log up to `max_seq`); only reads.
pub fn build_model_from_log(
    store: &dyn Store,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
) -> Result<ReportModel, StoreError> {
    let projection = replay::programme_from_log(store, max_seq)?;
    let material = fold_material(store, max_seq)?;
    Ok(model_from(
        &projection,
        &material,
        max_seq,
        day,
        compiled_at,
        None,
    ))
}

fn model_from(
    projection: &lagesbild_timeline::Projection,
    material: &Material,
    max_seq: u64,
    day: NaiveDate,
    compiled_at: FuzzyDate,
    public_at: Option<NaiveDate>,
) -> ReportModel {
    let view = projection.view_public(Some(day), public_at);
    let since = material.previous_report(day).unwrap_or(day - Days::new(7));
    let earlier = projection.view_public(Some(since), public_at.map(|p| p.min(since)));
    let mut model = build_report(material, &view, &earlier, day, compiled_at);
    model.log_seq = max_seq;
    model
}
