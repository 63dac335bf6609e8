//! The caches beside the log (the programme's checkpoints, the report material's index, the
//! published editions' outputs) as
//! untrusted input: what a read says when it refuses one ([`CacheNotice`]), and `verify`'s check
//! of every cache against the log ([`verify`]), naming the table and position of any
//! difference. The invariant they serve (ARCHITECTURE.md): no byte a user reads comes from a
//! cache that has not been checked against the chain.

use lagesbild_render::report::TemplateSet;
use lagesbild_store::{Filter, Store, StoreError};
use lagesbild_timeline::{PROJECTION_FORMAT, Projection};

use crate::material;
use crate::replay::{CHECKPOINT_INTERVAL, CHECKPOINT_NAME};

/// A cache a read refused and rebuilt from the log instead: the table, the log position the
/// cache claimed, and why. The CLI prints it on standard error, the web pages in Swedish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheNotice {
    pub table: &'static str,
    pub seq: u64,
    pub reason: String,
}

impl CacheNotice {
    pub fn new(table: &'static str, seq: u64, reason: String) -> CacheNotice {
        CacheNotice { table, seq, reason }
    }

    /// Logs it as a `tracing` warning.
    pub fn warn(&self) {
        tracing::warn!(
            table = self.table,
            seq = self.seq,
            reason = %self.reason,
            "a cache does not match the log; rebuilt from the log"
        );
    }

    /// The notice for a Swedish page.
    pub fn swedish(&self) -> String {
        format!(
            "En mellanlagring stämde inte med loggen (tabellen {}, händelse {}) och användes inte: det som visas är byggt direkt från loggen. Kör lagesbild verify.",
            self.table, self.seq
        )
    }
}

impl std::fmt::Display for CacheNotice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the cache in table {} at event {} does not match the log ({}); rebuilt from the log",
            self.table, self.seq, self.reason
        )
    }
}

/// A difference `verify` found between a cache and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheProblem {
    pub table: &'static str,
    /// Which row: "event 10000", "event 12 known from 40", a name.
    pub position: String,
    pub reason: String,
}

impl CacheProblem {
    pub fn new(table: &'static str, position: String, reason: String) -> CacheProblem {
        CacheProblem {
            table,
            position,
            reason,
        }
    }
}

impl std::fmt::Display for CacheProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "table {}, {}: {}",
            self.table, self.position, self.reason
        )
    }
}

/// What [`verify`] checked and found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheReport {
    pub checkpoints: usize,
    pub material_rows: usize,
    /// Editions (one per event and template digest) in the edition cache.
    pub editions: usize,
    pub problems: Vec<CacheProblem>,
}

/// Where the replay writes checkpoints: every [`CHECKPOINT_INTERVAL`] events.
pub fn on_policy(seq: u64) -> bool {
    seq > 0 && seq.is_multiple_of(CHECKPOINT_INTERVAL)
}

/// Checks every cache against the log. Each checkpoint of the programme must be bound to the
/// chain (its seq at or below the head and on the policy, the chain hash there, its digest)
/// and, unless `quick`, hold exactly the programme folded from the log up to its seq; the
/// material index must be bound and its digest match and, unless `quick`, hold exactly the rows
/// the fold makes of the log ([`material::verify_index`]). Checkpoints of another name or format
/// are never read and so not checked. The edition cache is checked by
/// [`crate::edition_cache::verify`], rebuilding with the built-in templates. Only reads.
pub fn verify(store: &dyn Store, quick: bool) -> Result<CacheReport, StoreError> {
    verify_with(store, quick, &crate::provenance::template_sets(None))
}

/// [`verify`], rebuilding cached editions with whichever of `sets` has their template digest.
pub fn verify_with(
    store: &dyn Store,
    quick: bool,
    sets: &[TemplateSet],
) -> Result<CacheReport, StoreError> {
    let mut report = CacheReport::default();
    let rows = store.checkpoints()?;
    let mut folded = Projection::new();
    for row in rows
        .iter()
        .filter(|r| r.name == CHECKPOINT_NAME && r.format == PROJECTION_FORMAT)
    {
        report.checkpoints += 1;
        let position = format!("{} at event {}", row.name, row.seq);
        if let Some(reason) = store.checkpoint_binding_problem(row, &on_policy)? {
            report
                .problems
                .push(CacheProblem::new("checkpoints", position, reason));
            continue;
        }
        if quick {
            continue;
        }
        // Rows come in seq order: fold on from the last one.
        let filter = Filter {
            max_seq: Some(row.seq),
            ..Filter::default()
        };
        let mut after = folded.last_seq();
        loop {
            let page = store.read_page(&filter, after, 2_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for event in &page {
                folded.apply_programme(event);
            }
        }
        if Projection::from_checkpoint(&row.state).as_ref() != Some(&folded) {
            report.problems.push(CacheProblem::new(
                "checkpoints",
                position,
                format!(
                    "its state is not the programme folded from the log up to event {}",
                    row.seq
                ),
            ));
        }
    }
    report.material_rows = store.material_all().map_or(0, |(rows, _)| rows.len());
    report
        .problems
        .extend(material::verify_index(store, quick)?);
    let (editions, problems) = crate::edition_cache::verify(store, quick, sets)?;
    report.editions = editions;
    report.problems.extend(problems);
    Ok(report)
}
