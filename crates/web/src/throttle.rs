//! Sign-in throttling: after a few wrong passwords for one user name, or from one client
//! address, further attempts wait an exponentially growing time (answered 429 with
//! `Retry-After`) before a password is checked again.
//!
//! The name's wait is capped at a minute, and it does not apply to an address the user has
//! signed in from before, so an attacker who knows a name can slow guessing at it but cannot
//! keep its owner out. The address's wait grows to a quarter of an hour: one address guessing
//! at many names is the attack that matters there. Attempts refused while waiting are not
//! counted, so hammering does not lengthen the wait. Everything is in memory and bounded.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How one kind of key (a name, an address) is throttled.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Failures allowed before any wait.
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub first_wait: Duration,
    /// The longest wait.
    pub longest_wait: Duration,
    /// A key with no failure for this long starts again from nothing.
    pub forget_after: Duration,
}

/// Per user name: five tries, then 1 s, 2 s, 4 s … at most 60 s.
pub const PER_NAME: Policy = Policy {
    free_failures: 5,
    first_wait: Duration::from_secs(1),
    longest_wait: Duration::from_secs(60),
    forget_after: Duration::from_secs(3600),
};

/// Per client address: twenty tries (an office behind one address), then 1 s, 2 s … at most
/// 15 minutes.
pub const PER_ADDRESS: Policy = Policy {
    free_failures: 20,
    first_wait: Duration::from_secs(1),
    longest_wait: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(3600),
};

/// How long an address a user signed in from stays exempt from that name's wait.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// The most keys each table keeps; past it the stalest are dropped, so a flood of invented
/// names or addresses cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    last_failure: Instant,
    wait_until: Option<Instant>,
}

#[derive(Debug)]
struct Table<K> {
    policy: Policy,
    records: HashMap<K, Record>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(policy: Policy) -> Table<K> {
        Table {
            policy,
            records: HashMap::new(),
        }
    }

    fn record(&mut self, key: &K, now: Instant) -> Option<&mut Record> {
        let forget = self.policy.forget_after;
        let stale = self
            .records
            .get(key)
            .is_some_and(|r| now.duration_since(r.last_failure) >= forget);
        if stale {
            self.records.remove(key);
        }
        self.records.get_mut(key)
    }

    /// The time left to wait, if any.
    fn waiting(&mut self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.record(key, now)?.wait_until?;
        (until > now).then(|| until - now)
    }

    fn fail(&mut self, key: &K, now: Instant) {
        if self.records.len() >= MAX_KEYS && !self.records.contains_key(key) {
            self.prune(now);
        }
        let policy = self.policy;
        let record = match self.record(key, now) {
            Some(record) => record,
            None => self.records.entry(key.clone()).or_insert(Record {
                failures: 0,
                last_failure: now,
                wait_until: None,
            }),
        };
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        if record.failures > policy.free_failures {
            let doublings = (record.failures - policy.free_failures - 1).min(30);
            let wait = policy
                .first_wait
                .saturating_mul(1u32 << doublings)
                .min(policy.longest_wait);
            record.wait_until = Some(now + wait);
        }
    }

    fn clear(&mut self, key: &K) {
        self.records.remove(key);
    }

    /// Drops forgotten keys, then, if still full, the half that failed longest ago.
    fn prune(&mut self, now: Instant) {
        let forget = self.policy.forget_after;
        self.records
            .retain(|_, r| now.duration_since(r.last_failure) < forget);
        if self.records.len() >= MAX_KEYS {
            let mut ages: Vec<Instant> = self.records.values().map(|r| r.last_failure).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.records.retain(|_, r| r.last_failure > cut);
        }
    }
}

#[derive(Debug)]
struct Tables {
    names: Table<String>,
    addresses: Table<IpAddr>,
    /// (name, address) pairs that signed in, and when.
    known: HashMap<(String, IpAddr), Instant>,
}

/// Why a sign-in must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures for this user name.
    Name(Duration),
    /// Too many failures from this address.
    Address(Duration),
}

impl Refusal {
    /// Whole seconds to wait, at least one, for `Retry-After`.
    pub fn retry_after_secs(self) -> u64 {
        let (Refusal::Name(wait) | Refusal::Address(wait)) = self;
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    }
}

/// The sign-in throttle the server shares between requests.
#[derive(Debug)]
pub struct Throttle {
    tables: Mutex<Tables>,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle::new(PER_NAME, PER_ADDRESS)
    }
}

impl Throttle {
    pub fn new(per_name: Policy, per_address: Policy) -> Throttle {
        Throttle {
            tables: Mutex::new(Tables {
                names: Table::new(per_name),
                addresses: Table::new(per_address),
                known: HashMap::new(),
            }),
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while holding the lock leaves counters, not broken invariants: keep going.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an attempt for `name` from `address` may check its password now.
    pub fn check(&self, name: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let name = normalise(name);
        let mut tables = self.tables();
        if let Some(address) = address
            && let Some(wait) = tables.addresses.waiting(&address, now)
        {
            return Err(Refusal::Address(wait));
        }
        let known = address.is_some_and(|a| {
            tables
                .known
                .get(&(name.clone(), a))
                .is_some_and(|at| now.duration_since(*at) < KNOWN_FOR)
        });
        if !known && let Some(wait) = tables.names.waiting(&name, now) {
            return Err(Refusal::Name(wait));
        }
        Ok(())
    }

    /// Counts a wrong name or password.
    pub fn failed(&self, name: &str, address: Option<IpAddr>, now: Instant) {
        let name = normalise(name);
        let mut tables = self.tables();
        tables.names.fail(&name, now);
        if let Some(address) = address {
            tables.addresses.fail(&address, now);
        }
    }

    /// A right password: the name's and the address's failures are forgiven, and the address
    /// is remembered as the user's.
    pub fn succeeded(&self, name: &str, address: Option<IpAddr>, now: Instant) {
        let name = normalise(name);
        let mut tables = self.tables();
        tables.names.clear(&name);
        if let Some(address) = address {
            tables.addresses.clear(&address);
            if tables.known.len() >= MAX_KEYS {
                tables
                    .known
                    .retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
                if tables.known.len() >= MAX_KEYS {
                    tables.known.clear();
                }
            }
            tables.known.insert((name, address), now);
        }
    }
}

/// Names are compared trimmed and case-folded, so `Anna ` and `anna` share one count.
fn normalise(name: &str) -> String {
    name.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("address"))
    }

    #[test]
    fn a_name_waits_after_its_free_failures_and_the_wait_doubles_up_to_the_cap() {
        let throttle = Throttle::default();
        let start = Instant::now();
        for i in 0..PER_NAME.free_failures {
            assert_eq!(throttle.check("anna", ip("10.0.0.1"), start), Ok(()), "{i}");
            throttle.failed("anna", ip("10.0.0.1"), start);
        }
        assert_eq!(throttle.check("anna", ip("10.0.0.2"), start), Ok(()));
        throttle.failed("Anna ", ip("10.0.0.2"), start);
        assert_eq!(
            throttle.check("anna", ip("10.0.0.3"), start),
            Err(Refusal::Name(Duration::from_secs(1)))
        );
        let mut now = start;
        for _ in 0..20 {
            now += Duration::from_secs(61);
            throttle.failed("anna", ip("10.0.0.4"), now);
        }
        let refusal = throttle.check("anna", None, now).expect_err("waits");
        assert_eq!(refusal, Refusal::Name(PER_NAME.longest_wait));
        assert!(
            throttle
                .check("anna", None, now + PER_NAME.longest_wait)
                .is_ok()
        );
    }

    #[test]
    fn attempts_refused_while_waiting_do_not_lengthen_the_wait() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..=PER_NAME.free_failures {
            throttle.failed("anna", None, now);
        }
        for _ in 0..100 {
            assert!(throttle.check("anna", None, now).is_err());
        }
        assert!(
            throttle
                .check("anna", None, now + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn an_address_the_user_signed_in_from_is_not_held_up_by_the_name() {
        let throttle = Throttle::default();
        let now = Instant::now();
        throttle.succeeded("anna", ip("192.0.2.7"), now);
        for _ in 0..50 {
            throttle.failed("anna", ip("203.0.113.9"), now);
        }
        assert!(throttle.check("anna", ip("203.0.113.9"), now).is_err());
        assert!(throttle.check("anna", ip("198.51.100.1"), now).is_err());
        assert_eq!(throttle.check("anna", ip("192.0.2.7"), now), Ok(()));
    }

    #[test]
    fn an_address_guessing_many_names_waits() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for i in 0..=PER_ADDRESS.free_failures {
            throttle.failed(&format!("user{i}"), ip("203.0.113.9"), now);
        }
        assert_eq!(
            throttle.check("someone-else", ip("203.0.113.9"), now),
            Err(Refusal::Address(Duration::from_secs(1)))
        );
        assert_eq!(
            throttle.check("someone-else", ip("203.0.113.10"), now),
            Ok(())
        );
    }

    #[test]
    fn failures_are_forgotten_and_the_tables_stay_bounded() {
        let throttle = Throttle::default();
        let now = Instant::now();
        for _ in 0..10 {
            throttle.failed("anna", None, now);
        }
        assert!(
            throttle
                .check("anna", None, now + PER_NAME.forget_after)
                .is_ok()
        );
        for i in 0..(MAX_KEYS + 10) {
            throttle.failed(&format!("n{i}"), None, now);
        }
        assert!(throttle.tables().names.records.len() <= MAX_KEYS);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(
            Refusal::Name(Duration::from_millis(1500)).retry_after_secs(),
            2
        );
        assert_eq!(
            Refusal::Address(Duration::from_secs(3)).retry_after_secs(),
            3
        );
    }
}
