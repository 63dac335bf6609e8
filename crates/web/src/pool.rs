//! A few store connections kept open across requests. Opening a SQLite connection per request
//! repeats the file's setup (WAL, pragmas, the schema version) and throws away every prepared
//! statement (`prepare_cached`) and the page cache; a pooled connection keeps them. The pool
//! knows nothing of SQLite: it holds whatever store its `open` function makes, so a second
//! backend pools the same way.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};

/// How many idle connections the web app keeps: the blocking pool may run more requests at
/// once (each opens its own when none is idle), but only this many are kept afterwards.
pub const MAX_IDLE: usize = 8;

type Opener<S> = Box<dyn Fn() -> Result<S, lagesbild_store::StoreError> + Send + Sync>;

/// Idle connections, and how to open another.
pub struct Pool<S: Send> {
    idle: Mutex<Vec<S>>,
    open: Opener<S>,
    max_idle: usize,
}

impl<S: Send> Pool<S> {
    pub fn new(
        max_idle: usize,
        open: impl Fn() -> Result<S, lagesbild_store::StoreError> + Send + Sync + 'static,
    ) -> Pool<S> {
        Pool {
            idle: Mutex::new(Vec::new()),
            open: Box::new(open),
            max_idle,
        }
    }

    /// An idle connection, or a new one when none is idle. It goes back to the pool when the
    /// guard is dropped, unless the thread is panicking (its state is then unknown).
    pub fn take(self: &Arc<Self>) -> Result<Pooled<S>, lagesbild_store::StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let store = match idle {
            Some(store) => store,
            None => (self.open)()?,
        };
        Ok(Pooled {
            pool: Arc::clone(self),
            store: Some(store),
        })
    }

    /// How many connections are idle now.
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A connection taken from a [`Pool`].
pub struct Pooled<S: Send> {
    pool: Arc<Pool<S>>,
    store: Option<S>,
}

impl<S: Send> Deref for Pooled<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.store.as_ref().expect("present until dropped")
    }
}

impl<S: Send> DerefMut for Pooled<S> {
    fn deref_mut(&mut self) -> &mut S {
        self.store.as_mut().expect("present until dropped")
    }
}

impl<S: Send> Drop for Pooled<S> {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        // A panic may have left the connection inside a transaction or half way through a
        // statement: close it rather than hand it to the next request.
        if std::thread::panicking() {
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.pool.max_idle {
            idle.push(store);
        }
    }
}

/// The idle connections are closed on a thread of their own: the pool goes when the server
/// stops, on an async thread, where closing a PostgreSQL connection (whose client blocks on a
/// runtime of its own) would panic.
impl<S: Send> Drop for Pool<S> {
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(PoisonError::into_inner));
        if !idle.is_empty() {
            std::thread::scope(|scope| {
                scope.spawn(move || drop(idle));
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(max_idle: usize) -> (Arc<Pool<usize>>, Arc<AtomicUsize>) {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&opened);
        let pool = Pool::new(max_idle, move || Ok(counter.fetch_add(1, Ordering::SeqCst)));
        (Arc::new(pool), opened)
    }

    #[test]
    fn a_connection_given_back_is_the_one_the_next_request_gets() {
        let (pool, opened) = counting(2);
        let first = *pool.take().expect("opens");
        for _ in 0..10 {
            assert_eq!(*pool.take().expect("idle"), first);
        }
        assert_eq!(opened.load(Ordering::SeqCst), 1, "opened once");
    }

    #[test]
    fn at_most_max_idle_are_kept_and_a_panic_closes_its_connection() {
        let (pool, opened) = counting(2);
        let held: Vec<_> = (0..4).map(|_| pool.take().expect("opens")).collect();
        assert_eq!(opened.load(Ordering::SeqCst), 4, "none idle: each opens");
        drop(held);
        assert_eq!(pool.idle(), 2);
        let shared = Arc::clone(&pool);
        let _ = std::thread::spawn(move || {
            let _taken = shared.take().expect("idle");
            panic!("a handler failed");
        })
        .join();
        assert_eq!(
            pool.idle(),
            1,
            "the panicking request's connection was closed"
        );
    }

    #[test]
    fn an_open_that_fails_is_the_requests_error_and_keeps_nothing() {
        let pool: Arc<Pool<usize>> = Arc::new(Pool::new(2, || {
            Err(lagesbild_store::StoreError::NotFound("no file".into()))
        }));
        assert!(pool.take().is_err());
        assert_eq!(pool.idle(), 0);
    }
}
