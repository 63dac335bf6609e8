//! The reads a timeline page needs, so that its cost follows the page and not the log: the facts
//! of a few days in valid-time order (through `events_by_occurred`), a handful of events by
//! sequence number, and the corrections and retractions of exactly those facts (through the
//! partial indexes of `schema/007_timeline_window.sql`).
//!
//! [`Store`](crate::Store) has default implementations of these built on
//! [`EventLog::read_page`](crate::EventLog::read_page) alone (correct for any backend, and as
//! slow as reading the log); [`SqliteStore`] answers them with index ranges.

use crate::error::SqliteResult;
use chrono::NaiveDate;
use lagesbild_model::{EventData, FuzzyDate, StoredEvent};
use rusqlite::types::Value as SqlValue;

use crate::error::StoreError;
use crate::sqlite::{READ_COLUMNS, SqliteStore, read_rows_in, seq_param, to_u64};
use crate::{EventLog, Filter, scan};

/// The schema version that added the indexes of `schema/007_timeline_window.sql`; a file opened
/// read-only at an older version is read without them.
const WINDOW_SCHEMA_VERSION: i64 = 7;

/// [`Store::amendments_of`](crate::Store::amendments_of) by reading every correction and
/// retraction up to `max_seq`: any backend, and a SQLite file without the index.
pub(crate) fn amendments_by_reading<L: EventLog + ?Sized>(
    log: &L,
    targets: &[u64],
    max_seq: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let targets: std::collections::BTreeSet<u64> = targets.iter().copied().collect();
    let filter = Filter {
        kinds: vec!["event_corrected".into(), "event_retracted".into()],
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut found = Vec::new();
    for event in scan(log, &filter) {
        let event = event?;
        let target = event.event.data.target().and_then(|t| t.seq);
        if target.is_some_and(|seq| targets.contains(&seq)) {
            found.push(event);
        }
    }
    Ok(found)
}

/// The condition of the partial index `events_period_facts`, as it must be written to use it:
/// the canonical forms of a year (four digits), a half-year (`2020-H1`) and a span (`A/B`).
const PERIOD_FACTS: &str = "WHERE kind = 'fact_reported' \
     AND (length(occurred) = 4 OR instr(occurred, 'H') > 0 OR instr(occurred, '/') > 0) \
     AND seq <= ? ORDER BY seq";

/// [`Store::period_facts`](crate::Store::period_facts) by reading every fact up to `max_seq`.
pub(crate) fn period_facts_by_reading<L: EventLog + ?Sized>(
    log: &L,
    max_seq: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let filter = Filter {
        kinds: vec!["fact_reported".into()],
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut found = Vec::new();
    for event in scan(log, &filter) {
        let event = event?;
        if event.event.occurred.precision().is_period() {
            found.push(event);
        }
    }
    Ok(found)
}

/// [`Store::redatings`](crate::Store::redatings) by reading every correction up to `max_seq`.
pub(crate) fn redatings_by_reading<L: EventLog + ?Sized>(
    log: &L,
    max_seq: u64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let filter = Filter {
        kinds: vec!["event_corrected".into()],
        max_seq: Some(max_seq),
        ..Filter::default()
    };
    let mut found = Vec::new();
    for event in scan(log, &filter) {
        let event = event?;
        if matches!(&event.event.data, EventData::EventCorrected(c) if c.occurred.is_some()) {
            found.push(event);
        }
    }
    Ok(found)
}

/// Which events [`Store::scan_by_day`](crate::Store::scan_by_day) reads: those of `kinds` up to
/// and including `max_seq` whose valid time begins (its first day) within `first_from ..=
/// first_to`, in (first day, seq) order, ascending or `descending`, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayScan<'a> {
    pub kinds: &'a [&'a str],
    pub max_seq: u64,
    pub first_from: Option<NaiveDate>,
    pub first_to: Option<NaiveDate>,
    pub descending: bool,
    pub limit: usize,
}

/// How many sequence numbers go into one `IN (…)` list: far below SQLite's limit of variables.
const CHUNK: usize = 500;

fn marks(count: usize) -> String {
    vec!["?"; count].join(", ")
}

fn seq_values(seqs: &[u64]) -> Vec<SqlValue> {
    seqs.iter()
        .filter_map(|seq| seq_param(*seq))
        .map(SqlValue::Integer)
        .collect()
}

impl SqliteStore {
    /// See [`DayScan`]. One range of `events_by_occurred` (named, so the planner cannot pick the
    /// kind index and sort every fact of the log instead); the seq bound is checked in the index,
    /// the kind and the stored date in the row.
    pub fn scan_by_day(&self, scan: &DayScan<'_>) -> Result<Vec<(u64, FuzzyDate)>, StoreError> {
        if scan.kinds.is_empty() || scan.limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT seq, occurred FROM events INDEXED BY events_by_occurred WHERE seq <= ?",
        );
        let mut params = vec![SqlValue::Integer(
            seq_param(scan.max_seq).unwrap_or(i64::MAX),
        )];
        if let Some(from) = scan.first_from {
            sql.push_str(" AND occurred_first >= ?");
            params.push(SqlValue::Text(from.to_string()));
        }
        if let Some(to) = scan.first_to {
            sql.push_str(" AND occurred_first <= ?");
            params.push(SqlValue::Text(to.to_string()));
        }
        sql.push_str(&format!(" AND kind IN ({})", marks(scan.kinds.len())));
        params.extend(scan.kinds.iter().map(|k| SqlValue::Text((*k).to_owned())));
        let order = if scan.descending { "DESC" } else { "ASC" };
        sql.push_str(&format!(
            " ORDER BY occurred_first {order}, seq {order} LIMIT ?"
        ));
        params.push(SqlValue::Integer(
            i64::try_from(scan.limit).unwrap_or(i64::MAX),
        ));
        let sql_error = |e| StoreError::from_sqlite(e, self.busy_timeout_ms);
        let mut statement = self.conn.prepare_cached(&sql).map_err(sql_error)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(params.iter()))
            .map_err(sql_error)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            let seq = to_u64(row.get(0).storage()?);
            let text = row
                .get_ref(1)
                .storage()?
                .as_str()
                .map_err(|e| StoreError::Broken {
                    seq,
                    reason: format!("occurred is not text: {e}"),
                })?;
            let occurred = FuzzyDate::parse(text).map_err(|e| StoreError::Broken {
                seq,
                reason: format!("occurred {text:?} is not a date: {e}"),
            })?;
            found.push((seq, occurred));
        }
        Ok(found)
    }

    /// The events with these sequence numbers (those the log holds), in log order.
    pub fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::new();
        for chunk in seqs.chunks(CHUNK) {
            let params = seq_values(chunk);
            if params.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT {READ_COLUMNS} FROM events WHERE seq IN ({}) ORDER BY seq",
                marks(params.len())
            );
            events.extend(read_rows_in(
                &self.conn,
                self.busy_timeout_ms,
                &sql,
                &params,
            )?);
        }
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    /// The corrections and retractions up to and including `max_seq` whose target is one of
    /// `targets`, in log order (index `events_by_target`).
    pub fn amendments_of(
        &self,
        targets: &[u64],
        max_seq: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if self.schema_version()? < WINDOW_SCHEMA_VERSION {
            return amendments_by_reading(self, targets, max_seq);
        }
        let mut events = Vec::new();
        for chunk in targets.chunks(CHUNK) {
            let mut params = seq_values(chunk);
            if params.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT {READ_COLUMNS} FROM events INDEXED BY events_by_target \
                 WHERE kind IN ('event_corrected', 'event_retracted') \
                 AND json_extract(content, '$.data.target.seq') IN ({}) AND seq <= ? \
                 ORDER BY seq",
                marks(params.len())
            );
            params.push(SqlValue::Integer(seq_param(max_seq).unwrap_or(i64::MAX)));
            events.extend(read_rows_in(
                &self.conn,
                self.busy_timeout_ms,
                &sql,
                &params,
            )?);
        }
        events.sort_by_key(|e| e.seq);
        events.dedup_by_key(|e| e.seq);
        Ok(events)
    }

    /// Every `fact_reported` up to and including `max_seq` dated to a period (a year, a
    /// half-year, a span), in log order (index `events_period_facts`).
    pub fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        if self.schema_version()? < WINDOW_SCHEMA_VERSION {
            return period_facts_by_reading(self, max_seq);
        }
        read_rows_in(
            &self.conn,
            self.busy_timeout_ms,
            &format!(
                "SELECT {READ_COLUMNS} FROM events INDEXED BY events_period_facts {PERIOD_FACTS}"
            ),
            &[SqlValue::Integer(seq_param(max_seq).unwrap_or(i64::MAX))],
        )
    }

    /// Every correction up to and including `max_seq` that gives its target another date, in
    /// log order (index `events_redated`).
    pub fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        if self.schema_version()? < WINDOW_SCHEMA_VERSION {
            return redatings_by_reading(self, max_seq);
        }
        read_rows_in(
            &self.conn,
            self.busy_timeout_ms,
            &format!(
                "SELECT {READ_COLUMNS} FROM events INDEXED BY events_redated \
                 WHERE kind = 'event_corrected' \
                 AND json_extract(content, '$.data.occurred') IS NOT NULL AND seq <= ? \
                 ORDER BY seq"
            ),
            &[SqlValue::Integer(seq_param(max_seq).unwrap_or(i64::MAX))],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lagesbild_model::parse_event;

    fn plan(stmt: &str, store: &SqliteStore) -> String {
        let mut statement = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {stmt}"))
            .expect("explain");
        let rows = statement
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("; ")
    }

    /// The partial indexes can serve only a query that repeats their expressions exactly; the
    /// queries name them (`INDEXED BY`, so a drift is an error, not a slow read of every
    /// correction) and this checks SQLite accepts and uses them as written.
    #[test]
    fn the_window_queries_use_their_indexes() {
        let store = SqliteStore::open_in_memory().expect("store");
        let targets = plan(
            "SELECT seq FROM events INDEXED BY events_by_target \
             WHERE kind IN ('event_corrected', 'event_retracted') \
             AND json_extract(content, '$.data.target.seq') IN (1, 2) AND seq <= 9 ORDER BY seq",
            &store,
        );
        assert!(targets.contains("events_by_target"), "{targets}");
        let redated = plan(
            "SELECT seq FROM events INDEXED BY events_redated WHERE kind = 'event_corrected' \
             AND json_extract(content, '$.data.occurred') IS NOT NULL AND seq <= 9 ORDER BY seq",
            &store,
        );
        assert!(redated.contains("events_redated"), "{redated}");
        let periods = plan(
            &format!("SELECT seq FROM events INDEXED BY events_period_facts {PERIOD_FACTS}")
                .replace('?', "9"),
            &store,
        );
        assert!(periods.contains("events_period_facts"), "{periods}");
    }

    /// The index's condition in SQL picks exactly the dates the model calls periods.
    #[test]
    fn period_facts_are_the_facts_dated_to_a_period() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let dates = [
            "2020",
            "2020-H1",
            "2020-H2",
            "2020-01",
            "2020-01-01",
            "2020-01-01T08:30",
            "2019/2020",
            "2024-01/2024-03",
            "hösten 2021",
        ];
        let batch: Vec<_> = dates
            .iter()
            .map(|date| {
                parse_event(&format!(
                    r#"{{"kind":"fact_reported","occurred":"{date}","summary":"S.","source":{{"title":"K"}},"data":{{"topic":"t"}}}}"#
                ))
                .expect("valid")
            })
            .collect();
        store.append(&batch, &[]).expect("append");
        let by_index: Vec<u64> = store
            .period_facts(99)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect();
        let by_reading: Vec<u64> = period_facts_by_reading(&store, 99)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(by_index, vec![1, 2, 3, 7, 8, 9]);
        assert_eq!(by_index, by_reading);
        assert_eq!(store.period_facts(2).expect("read").len(), 2);
    }

    #[test]
    fn a_day_scan_reads_in_day_order_within_its_bounds() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let line = |occurred: &str, kind: &str| {
            let data = if kind == "fact_reported" {
                r#"{"topic":"t"}"#
            } else {
                r#"{"waves":[{"wave":"w","area":"A","planned":"2030"}]}"#
            };
            parse_event(&format!(
                r#"{{"kind":"{kind}","occurred":"{occurred}","summary":"S.","source":{{"title":"K"}},"data":{data}}}"#
            ))
            .expect("valid")
        };
        let batch = vec![
            line("2020-03-02", "fact_reported"),
            line("2020-01", "fact_reported"),
            line("2020-03-01", "plan_revised"),
            line("2020", "fact_reported"),
            line("2021-05-05", "fact_reported"),
        ];
        store.append(&batch, &[]).expect("append");
        let day = |s: &str| s.parse::<NaiveDate>().expect("day");
        let scan = |from, to, descending, limit, max_seq| {
            store
                .scan_by_day(&DayScan {
                    kinds: &["fact_reported"],
                    max_seq,
                    first_from: from,
                    first_to: to,
                    descending,
                    limit,
                })
                .expect("scan")
                .into_iter()
                .map(|(seq, _)| seq)
                .collect::<Vec<_>>()
        };
        // By first day, then seq: "2020-01" and "2020" both begin on 1 January.
        assert_eq!(scan(None, None, false, 10, 9), vec![2, 4, 1, 5]);
        assert_eq!(scan(None, None, true, 2, 9), vec![5, 1]);
        assert_eq!(
            scan(
                Some(day("2020-01-02")),
                Some(day("2020-12-31")),
                false,
                10,
                9
            ),
            vec![1]
        );
        assert_eq!(scan(None, None, false, 10, 3), vec![2, 1]);
        assert_eq!(
            store
                .events_at(&[5, 1, 77])
                .expect("read")
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>(),
            vec![1, 5]
        );
    }
}
