//! A store's background chores (the idempotency cleanup, SQLite's
//! checkpoints): a job run every interval on the runtime, for as long as
//! the store lives.

use std::future::Future;
use std::time::Duration;

/// A chore's task; stopped when dropped, that is when the last clone of
/// its store is.
pub(crate) struct Chore(tokio::task::AbortHandle);

impl Drop for Chore {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `job` every `interval`, the first time one interval from now. A
/// run that overruns delays the next rather than bunching them up; a
/// job handles its own failures (logs them, and is tried again next time).
pub(crate) fn every<Job, Run>(interval: Duration, mut job: Job) -> Chore
where
    Job: FnMut() -> Run + Send + 'static,
    Run: Future<Output = ()> + Send,
{
    let task = tokio::spawn(async move {
        let start = tokio::time::Instant::now() + interval;
        let mut ticks = tokio::time::interval_at(start, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            job().await;
        }
    });
    Chore(task.abort_handle())
}
