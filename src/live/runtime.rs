//! The runtime that WebSocket subscribers run on, apart from the one that
//! answers requests and runs the writer.
//!
//! A message to 10,000 subscribers wakes 10,000 socket tasks at once. On
//! the request runtime they would queue ahead of every POST, query and
//! commit that arrives meanwhile, so a post's 201 would wait for the whole
//! fan-out. On a runtime of their own, the two share the cores through the
//! operating system's scheduler instead, and at a lower priority by
//! default (`live::priority`), so that a request's thread mostly takes a
//! core from them as soon as it wakes: fan-out stays off the writer's path
//! in time as well as in code.
//!
//! One runtime per process, built on first use and never dropped (so that
//! no socket or pooled connection it ever polled outlives it). The
//! sockets stay registered with the request runtime's reactor, which only
//! reports readiness; their reads, writes and frames happen here. (The
//! Server-Sent Event streams are response bodies that the HTTP connection
//! task writes, so they stay on the request runtime.)

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

/// Worker threads of the subscribers' runtime: one per core, as the
/// request runtime has. Measured with 10,000 subscribers on two cores
/// (BENCHMARKS.md, "Live fan-out"): a single thread made delivery slower
/// and the POST no faster. What keeps the POST fast is the threads'
/// priority (`live::priority`, applied as each starts).
fn worker_threads() -> usize {
    std::thread::available_parallelism()
        .map(|cores| cores.get())
        .unwrap_or(1)
}

fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("dunder-live")
                .on_thread_start(super::priority::apply_chosen)
                .enable_all()
                .build()
                .map_err(|error| {
                    tracing::warn!(%error, "no runtime of their own for subscribers: they share the request runtime");
                })
                .ok()
        })
        .as_ref()
}

/// Runs `task` (a subscriber's socket) on the subscribers' runtime, or on
/// the current one if that runtime could not be built.
pub fn spawn_subscriber<F>(task: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime() {
        Some(runtime) => runtime.spawn(task),
        None => tokio::spawn(task),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_runs_on_the_subscribers_runtime() {
        let thread = spawn_subscriber(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("dunder-live"));
    }
}
