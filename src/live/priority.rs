//! The CPU priority of live delivery (`live.delivery_priority`).
//!
//! Delivering one message to 10,000 subscribers is 10,000 socket writes:
//! tens of milliseconds of work for every core. At the operating system's
//! usual priority those threads take turns with the ones that answer
//! requests and write posts, and a POST that arrives meanwhile waits for
//! its turn at every hand-off between threads (connection, writer,
//! database driver). At the lowest priority (`SCHED_IDLE` on Linux) a
//! request or write thread that wakes up takes the core at once, and
//! delivery runs on whatever the cores have left. Measured with 10,000
//! subscribers (BENCHMARKS.md, "Live fan-out"): the POST's median stays
//! what it is with no subscriber; delivery is as fast as before.
//!
//! The threads are the subscribers' runtime's; the hub's hand-out thread
//! keeps the usual priority (see `hub::spawn_fan_out_thread`).
//!
//! The price: when requests alone keep every core busy, delivery waits.
//! Subscribers' queues then fill, and a subscriber whose queue is full is
//! told `lagged` with its cursor and resumes from the store; nothing is
//! lost, but a feed can fall behind a server saturated by requests.
//! `normal` shares the cores evenly instead.
//!
//! The choice is process-wide, like the subscribers' runtime: a thread
//! takes the priority chosen when it starts.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::DeliveryPriority;

/// Whether delivery threads started from now on run at the idle priority.
static IDLE: AtomicBool = AtomicBool::new(true);

/// Chooses the priority of the delivery threads started from now on.
pub fn choose(priority: DeliveryPriority) {
    IDLE.store(priority == DeliveryPriority::Idle, Ordering::Relaxed);
}

/// The priority chosen last (idle until chosen).
pub fn chosen() -> DeliveryPriority {
    if IDLE.load(Ordering::Relaxed) {
        DeliveryPriority::Idle
    } else {
        DeliveryPriority::Normal
    }
}

/// Puts the calling thread, a delivery thread starting, at the chosen
/// priority. A system that refuses leaves it at the usual one, with a
/// warning: delivery is slower to yield, never wrong.
pub fn apply_chosen() {
    if let Err(error) = apply(chosen()) {
        tracing::warn!(%error, "delivery runs at the usual CPU priority");
    }
}

/// Puts the calling thread at `priority`. A thread starts at the usual
/// priority, so `Normal` changes nothing.
fn apply(priority: DeliveryPriority) -> std::io::Result<()> {
    match priority {
        DeliveryPriority::Normal => Ok(()),
        DeliveryPriority::Idle => to_idle(),
    }
}

#[cfg(target_os = "linux")]
fn to_idle() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` outlives the call.
    // No privilege is needed to lower one's own priority.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Elsewhere the thread keeps the usual priority (a warning says so).
#[cfg(not(target_os = "linux"))]
fn to_idle() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "an idle CPU priority is only set on Linux",
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The scheduling policy of a new thread after `apply(priority)`.
    fn policy_after(priority: DeliveryPriority) -> i32 {
        std::thread::spawn(move || {
            apply(priority).unwrap();
            // SAFETY: pid 0 names the calling thread.
            unsafe { libc::sched_getscheduler(0) }
        })
        .join()
        .unwrap()
    }

    #[test]
    fn idle_puts_the_thread_at_the_idle_policy() {
        assert_eq!(policy_after(DeliveryPriority::Idle), libc::SCHED_IDLE);
    }

    #[test]
    fn normal_leaves_the_usual_policy() {
        assert_eq!(policy_after(DeliveryPriority::Normal), libc::SCHED_OTHER);
    }
}
