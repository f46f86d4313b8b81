//! Retrying transactions the database asked us to retry.
//!
//! CockroachDB runs every transaction SERIALIZABLE and answers conflicts with
//! SQLSTATE 40001 ("restart transaction"); PostgreSQL does the same at that
//! isolation level, and may pick a deadlock victim (40P01). SQLite answers a
//! busy database with SQLITE_BUSY (5). Neither SeaORM nor sqlx retries, so
//! the write path does, with capped exponential backoff and full jitter, a
//! bounded number of times.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{DbErr, RuntimeErr};

use super::failure::{classify, Failure};

/// How many times a transaction is tried in all before its error is returned.
pub(crate) const MAX_ATTEMPTS: u32 = 10;
const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_millis(500);

/// The SQLSTATE (or SQLite result code) of a database error, if it has one.
pub(crate) fn database_code(error: &DbErr) -> Option<String> {
    let runtime = match error {
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(sea_orm::sqlx::Error::Database(db)) => {
            db.code().map(|code| code.into_owned())
        }
        _ => None,
    }
}

/// Whether trying the same transaction again at once may succeed: the
/// database reported a conflict (see [`super::failure`]).
pub(crate) fn is_retryable(error: &DbErr) -> bool {
    classify(error) == Failure::Conflict
}

/// Whether the error is a unique or primary-key violation (PostgreSQL
/// 23505, SQLite's extended codes 1555 and 2067).
pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        database_code(error).as_deref(),
        Some("23505") | Some("1555") | Some("2067")
    )
}

/// Runs `attempt` until it succeeds, fails for good, or has been tried
/// [`MAX_ATTEMPTS`] times; counts each retry in `retries`.
pub(crate) async fn with_retries<T, F, Fut>(retries: &AtomicU64, attempt: F) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    retry_when(is_retryable, retries, attempt).await
}

/// [`with_retries`] with the question "may this error be retried?" given:
/// the tests ask it of errors they make, the write path of the database's.
async fn retry_when<T, F, Fut>(
    retryable: impl Fn(&DbErr) -> bool,
    retries: &AtomicU64,
    mut attempt: F,
) -> Result<T, DbErr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, DbErr>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(error) if tries < MAX_ATTEMPTS && retryable(&error) => {
                retries.fetch_add(1, Ordering::Relaxed);
                let delay = backoff(tries);
                tracing::debug!(%error, tries, ?delay, "transaction conflict, retrying");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Full jitter: a random delay up to the capped exponential bound, so that
/// the transactions that collided do not collide again in lockstep.
fn backoff(tries: u32) -> Duration {
    let ceiling = BASE_DELAY
        .saturating_mul(1u32 << tries.min(16))
        .min(MAX_DELAY);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(fastrand::u64(1..=millis.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attempt that fails with a conflict until `succeed_at` (never,
    /// with `None`), counting its calls.
    fn attempts(
        succeed_at: Option<u32>,
        calls: &std::cell::Cell<u32>,
    ) -> impl FnMut() -> std::future::Ready<Result<(), DbErr>> + '_ {
        move || {
            calls.set(calls.get() + 1);
            std::future::ready(if Some(calls.get()) == succeed_at {
                Ok(())
            } else {
                Err(DbErr::Custom("conflict".into()))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn conflicts_are_retried_and_counted_up_to_the_cap() {
        let conflict = |error: &DbErr| matches!(error, DbErr::Custom(text) if text == "conflict");

        // Succeeds on the third try: two retries, counted.
        let (calls, retries) = (std::cell::Cell::new(0), AtomicU64::new(0));
        retry_when(conflict, &retries, attempts(Some(3), &calls))
            .await
            .unwrap();
        assert_eq!((calls.get(), retries.load(Ordering::Relaxed)), (3, 2));

        // Never succeeds: tried MAX_ATTEMPTS times in all, then the error.
        let (calls, retries) = (std::cell::Cell::new(0), AtomicU64::new(0));
        let error = retry_when(conflict, &retries, attempts(None, &calls))
            .await
            .unwrap_err();
        assert_eq!(error, DbErr::Custom("conflict".into()));
        assert_eq!(calls.get(), MAX_ATTEMPTS);
        assert_eq!(retries.load(Ordering::Relaxed), u64::from(MAX_ATTEMPTS - 1));

        // Not a conflict: one try, no retry.
        let (calls, retries) = (std::cell::Cell::new(0), AtomicU64::new(0));
        retry_when(|_: &DbErr| false, &retries, attempts(None, &calls))
            .await
            .unwrap_err();
        assert_eq!((calls.get(), retries.load(Ordering::Relaxed)), (1, 0));
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for tries in 1..40 {
            assert!(backoff(tries) <= MAX_DELAY);
            assert!(backoff(tries) >= Duration::from_millis(1));
        }
    }

    #[test]
    fn errors_without_a_code_are_not_retried() {
        assert!(!is_retryable(&DbErr::Custom("boom".into())));
        assert!(!is_retryable(&DbErr::Exec(RuntimeErr::Internal(
            "x".into()
        ))));
    }

    #[tokio::test]
    async fn a_final_error_is_returned_at_once() {
        let retries = AtomicU64::new(0);
        let mut calls = 0;
        let result: Result<(), DbErr> = with_retries(&retries, || {
            calls += 1;
            async { Err(DbErr::Custom("no".into())) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
        assert_eq!(retries.load(Ordering::Relaxed), 0);
    }
}
