//! The reads a timeline page needs, on PostgreSQL: the same answers as SQLite's (`window.rs`)
//! and as the trait's defaults, from index ranges: the facts of a few days in valid-time order
//! through `events_by_occurred`, events by sequence number through the primary key, and the
//! corrections, retractions and period facts through the partial indexes of
//! `schema/postgres/006_timeline_window.sql`. A database an auditor opened before that
//! migration is read the default way.

use lagesbild_model::{FuzzyDate, StoredEvent};
use postgres::types::ToSql;

use crate::error::StoreError;
use crate::postgres::{COLUMNS, PostgresStore, to_u64};
use crate::window::{
    DayScan, amendments_by_reading, period_facts_by_reading, redatings_by_reading,
};

/// The schema version that added the indexes of `schema/postgres/006_timeline_window.sql`.
const WINDOW_SCHEMA_VERSION: i32 = 6;

/// The conditions of the partial indexes, written exactly as the migration writes them: the
/// planner matches an index's predicate and expression only to the same text.
pub(crate) const AMENDMENTS: &str = "WHERE kind IN ('event_corrected', 'event_retracted') \
     AND ((content::jsonb) #>> '{data,target,seq}') = ANY($1) AND seq <= $2 ORDER BY seq";
pub(crate) const REDATINGS: &str = "WHERE kind = 'event_corrected' \
     AND ((content::jsonb) #>> '{data,occurred}') IS NOT NULL AND seq <= $1 ORDER BY seq";
pub(crate) const PERIOD_FACTS: &str = "WHERE kind = 'fact_reported' \
     AND (length(occurred) = 4 OR strpos(occurred, 'H') > 0 OR strpos(occurred, '/') > 0) \
     AND seq <= $1 ORDER BY seq";

/// A sequence number as the column's type; past `i64::MAX` means "no bound".
fn bound(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// The query of [`PostgresStore::scan_by_day`]; its parameters are the seq bound, the kinds,
/// the first day's bounds that are set, and the limit, in that order.
fn day_scan_sql(scan: &DayScan<'_>) -> String {
    let mut sql =
        String::from("SELECT seq, occurred FROM events WHERE seq <= $1 AND kind = ANY($2)");
    let mut next = 3;
    if scan.first_from.is_some() {
        sql.push_str(&format!(" AND occurred_first >= ${next}"));
        next += 1;
    }
    if scan.first_to.is_some() {
        sql.push_str(&format!(" AND occurred_first <= ${next}"));
        next += 1;
    }
    let order = if scan.descending { "DESC" } else { "ASC" };
    sql.push_str(&format!(
        " ORDER BY occurred_first {order}, seq {order} LIMIT ${next}"
    ));
    sql
}

impl PostgresStore {
    fn has_window_indexes(&self) -> bool {
        self.schema() >= WINDOW_SCHEMA_VERSION
    }

    /// See [`DayScan`]: one range of `events_by_occurred` in (first day, seq) order, the seq
    /// bound and the kinds checked on the way.
    pub fn scan_by_day(&self, scan: &DayScan<'_>) -> Result<Vec<(u64, FuzzyDate)>, StoreError> {
        if scan.kinds.is_empty() || scan.limit == 0 {
            return Ok(Vec::new());
        }
        let max_seq = bound(scan.max_seq);
        let kinds: Vec<&str> = scan.kinds.to_vec();
        let from = scan.first_from.map(|day| day.to_string());
        let to = scan.first_to.map(|day| day.to_string());
        let limit = i64::try_from(scan.limit).unwrap_or(i64::MAX);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&max_seq, &kinds];
        params.extend(from.as_ref().map(|from| from as &(dyn ToSql + Sync)));
        params.extend(to.as_ref().map(|to| to as &(dyn ToSql + Sync)));
        params.push(&limit);
        let sql = day_scan_sql(scan);
        self.query(&sql, &params)?
            .iter()
            .map(|row| {
                let seq = to_u64(row.get(0));
                let text: String = row.get(1);
                let occurred = FuzzyDate::parse(&text).map_err(|e| StoreError::Broken {
                    seq,
                    reason: format!("occurred {text:?} is not a date: {e}"),
                })?;
                Ok((seq, occurred))
            })
            .collect()
    }

    /// The events with these sequence numbers (those the log holds), in log order: one lookup
    /// of the primary key for all of them.
    pub fn events_at(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let seqs: Vec<i64> = seqs.iter().filter_map(|s| i64::try_from(*s).ok()).collect();
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        self.read_events(
            &format!("SELECT {COLUMNS} FROM events WHERE seq = ANY($1) ORDER BY seq"),
            &[&seqs],
        )
    }

    /// The corrections and retractions up to and including `max_seq` whose target is one of
    /// `targets`, in log order (index `events_by_target`).
    pub fn amendments_of(
        &self,
        targets: &[u64],
        max_seq: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if !self.has_window_indexes() {
            return amendments_by_reading(self, targets, max_seq);
        }
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        // The index holds the target as the JSON text of its number, as canonical JSON
        // writes it.
        let targets: Vec<String> = targets.iter().map(u64::to_string).collect();
        self.read_events(
            &format!("SELECT {COLUMNS} FROM events {AMENDMENTS}"),
            &[&targets, &bound(max_seq)],
        )
    }

    /// Every `fact_reported` up to and including `max_seq` dated to a period (a year, a
    /// half-year, a span), in log order (index `events_period_facts`).
    pub fn period_facts(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        if !self.has_window_indexes() {
            return period_facts_by_reading(self, max_seq);
        }
        self.read_events(
            &format!("SELECT {COLUMNS} FROM events {PERIOD_FACTS}"),
            &[&bound(max_seq)],
        )
    }

    /// Every correction up to and including `max_seq` that gives its target another date, in
    /// log order (index `events_redated`).
    pub fn redatings(&self, max_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        if !self.has_window_indexes() {
            return redatings_by_reading(self, max_seq);
        }
        self.read_events(
            &format!("SELECT {COLUMNS} FROM events {REDATINGS}"),
            &[&bound(max_seq)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventLog;
    use lagesbild_model::parse_event;

    /// The partial indexes serve only a query that repeats their predicate and expression
    /// exactly, and a drift would not be an error here (PostgreSQL has no `INDEXED BY`), only a
    /// read of every correction or fact for every page. So this asks the planner, over a log
    /// large enough that an index pays, which index each window query uses.
    #[test]
    fn the_window_queries_use_their_indexes() {
        let Some(url) = crate::testing::postgres_test_url("the window query plans") else {
            return;
        };
        let mut store =
            PostgresStore::open(&crate::testing::fresh_database(&url, "lagesbild_plans"))
                .expect("opens");
        let facts: Vec<_> = (0..3_000)
            .map(|i| {
                let occurred = if i % 50 == 0 { "2020".to_owned() } else { format!("2020-{:02}-{:02}", i % 12 + 1, i % 28 + 1) };
                parse_event(&format!(
                    r#"{{"kind":"fact_reported","occurred":"{occurred}","summary":"F {i}.","source":{{"title":"K"}},"data":{{"topic":"t"}}}}"#
                ))
                .expect("a fact")
            })
            .collect();
        store.append(&facts, &[]).expect("appends facts");
        let amendments: Vec<_> = (1..=60)
            .map(|i| {
                let line = if i % 2 == 0 {
                    format!(r#"{{"kind":"event_corrected","occurred":"2026-11-23","summary":"R.","data":{{"target":{{"seq":{i}}},"reason":"Fel.","occurred":"2021-01-01"}}}}"#)
                } else {
                    format!(r#"{{"kind":"event_retracted","occurred":"2026-11-23","summary":"Å.","data":{{"target":{{"seq":{i}}},"reason":"Fel."}}}}"#)
                };
                parse_event(&line).expect("an amendment")
            })
            .collect();
        store.append(&amendments, &[]).expect("appends amendments");
        store.execute("ANALYZE events", &[]).expect("analyzes");
        let plan = |sql: &str, params: &[&(dyn ToSql + Sync)]| -> String {
            store
                .query(&format!("EXPLAIN {sql}"), params)
                .expect("explains")
                .iter()
                .map(|row| row.get::<_, String>(0))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let targets = vec!["4".to_owned(), "5".to_owned()];
        let cases = [
            (
                "events_by_target",
                plan(
                    &format!("SELECT seq FROM events {AMENDMENTS}"),
                    &[&targets, &i64::MAX],
                ),
            ),
            (
                "events_redated",
                plan(&format!("SELECT seq FROM events {REDATINGS}"), &[&i64::MAX]),
            ),
            (
                "events_period_facts",
                plan(
                    &format!("SELECT seq FROM events {PERIOD_FACTS}"),
                    &[&i64::MAX],
                ),
            ),
        ];
        let day_scan = DayScan {
            kinds: &["fact_reported"],
            max_seq: u64::MAX,
            first_from: Some(chrono::NaiveDate::from_ymd_opt(2020, 3, 1).expect("a day")),
            first_to: None,
            descending: false,
            limit: 20,
        };
        let kinds = vec!["fact_reported"];
        let from = "2020-03-01".to_owned();
        let by_day = plan(
            &day_scan_sql(&day_scan),
            &[&i64::MAX, &kinds, &from, &20_i64],
        );
        assert!(
            by_day.contains("events_by_occurred") && !by_day.contains("Sort"),
            "not one ordered range of events_by_occurred:\n{by_day}"
        );
        assert_eq!(store.scan_by_day(&day_scan).expect("scans").len(), 20);
        for (index, plan) in cases {
            assert!(plan.contains(index), "not through {index}:\n{plan}");
        }
        // What the queries read is what the partial indexes hold.
        assert_eq!(
            store.amendments_of(&[4, 5], u64::MAX).expect("reads").len(),
            2
        );
        assert_eq!(store.redatings(u64::MAX).expect("reads").len(), 30);
        assert_eq!(store.period_facts(u64::MAX).expect("reads").len(), 60);
        assert_eq!(store.head().expect("head").seq, 3_060);
    }

    /// A database of schema 5 (before the window indexes): an auditor's read-only connection
    /// reads a page the default way, with the same answers; opening it with the owner's role
    /// migrates it to 6, indexes and all, and the log verifies as before.
    #[test]
    fn a_log_of_schema_5_is_read_without_the_indexes_and_migrated_with_them() {
        let Some(url) = crate::testing::postgres_test_url("the window migration") else {
            return;
        };
        let url = crate::testing::fresh_database(&url, "lagesbild_migrate");
        let mut store = PostgresStore::open(&url).expect("opens");
        let lines = [
            r#"{"kind":"fact_reported","occurred":"2020","key":"a","summary":"År.","source":{"title":"K"},"data":{"topic":"t"}}"#,
            r#"{"kind":"fact_reported","occurred":"2020-03-02","key":"b","summary":"Dag.","source":{"title":"K"},"data":{"topic":"t"}}"#,
            r#"{"kind":"event_corrected","occurred":"2026-11-23","summary":"R.","data":{"target":{"key":"b"},"reason":"Fel.","occurred":"2020-04-01"}}"#,
            r#"{"kind":"event_retracted","occurred":"2026-11-23","summary":"Å.","data":{"target":{"key":"a"},"reason":"Fel."}}"#,
        ];
        let batch: Vec<_> = lines
            .iter()
            .map(|l| parse_event(l).expect("valid"))
            .collect();
        store.append(&batch, &[]).expect("appends");
        let answers = |store: &PostgresStore| {
            let seqs = |events: Vec<StoredEvent>| events.iter().map(|e| e.seq).collect::<Vec<_>>();
            (
                seqs(store.amendments_of(&[1, 2], u64::MAX).expect("reads")),
                seqs(store.redatings(u64::MAX).expect("reads")),
                seqs(store.period_facts(u64::MAX).expect("reads")),
            )
        };
        let expected = (vec![3, 4], vec![3], vec![1]);
        assert_eq!(answers(&store), expected);
        drop(store);
        crate::testing::execute(
            &url,
            "DROP INDEX events_by_target, events_redated, events_period_facts; \
             DELETE FROM schema_version WHERE version = 6",
        );
        let auditor = PostgresStore::open_read_only(&url).expect("opens read-only");
        assert_eq!(auditor.schema(), 5);
        assert_eq!(answers(&auditor), expected, "read the default way");
        drop(auditor);
        let store = PostgresStore::open(&url).expect("migrates");
        assert_eq!(store.schema(), 6);
        assert_eq!(answers(&store), expected);
        let indexes = store
            .query(
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'events' AND indexname IN \
                 ('events_by_target', 'events_redated', 'events_period_facts')",
                &[],
            )
            .expect("reads the catalogue")[0]
            .get::<_, i64>(0);
        assert_eq!(indexes, 3, "the migration built the indexes");
        store.verify(&mut |_| {}).expect("verifies");
    }
}
