//! The CPU priority of live delivery (`live.delivery_priority`).
//!
//! Delivering one message to 10,000 subscribers is 10,000 socket writes:
//! tens of milliseconds of work for every core. At the operating system's
//! usual priority those threads take turns with the ones that answer
//! requests and write posts, and a POST that arrives meanwhile waits for
//! its turn at every hand-off between threads (connection, writer,
//! database driver). Three choices:
//!
//! - `low` (the default): the delivery threads run at nice 10, a tenth of
//!   the usual weight, and at the batch policy, so that they never take a
//!   core from a running thread when they wake. A request's thread that
//!   wakes is mostly run first: on a saturated machine it may still wait
//!   a few milliseconds for a core a batch thread holds (BENCHMARKS.md,
//!   "Live fan-out", sixth run). When requests keep every core busy,
//!   delivery still gets about a tenth of a core's time against each of
//!   them: feeds slow down, they do not stop.
//! - `idle`: `SCHED_IDLE` on Linux; delivery runs only on what the cores
//!   have left. The POST's tail is shortest this way (BENCHMARKS.md, "Live
//!   fan-out"), but while requests, or any other process on the machine,
//!   keep every core busy, delivery gets almost nothing: a test suite
//!   running beside it stalled a feed for more than ten seconds. For a
//!   machine that serves Dunder alone and is never saturated.
//! - `normal`: the cores are shared evenly.
//!
//! The threads are the subscribers' runtime's, and the hub's hand-out
//! thread, which runs at `low` unless delivery runs at `normal` (never at
//! `idle`: every feed waits for it, see `hub::spawn_fan_out_thread`).
//!
//! A subscriber whose queue fills while delivery waits is told `lagged`
//! with its cursor and resumes from the store: a feed can fall behind,
//! nothing is lost.
//!
//! The choice is process-wide, like the subscribers' runtime: a thread
//! takes the priority chosen when it starts.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::DeliveryPriority;

/// How much `low` raises delivery's threads' nice value: at nice 10 a
/// thread weighs 110 against the usual 1,024 in Linux's scheduler.
const LOW_NICE: i32 = 10;

/// The priority of delivery threads started from now on.
static CHOSEN: AtomicU8 = AtomicU8::new(DeliveryPriority::Low as u8);

/// Chooses the priority of the delivery threads started from now on.
pub fn choose(priority: DeliveryPriority) {
    CHOSEN.store(priority as u8, Ordering::Relaxed);
}

/// The priority chosen last (`low` until chosen).
pub fn chosen() -> DeliveryPriority {
    match CHOSEN.load(Ordering::Relaxed) {
        value if value == DeliveryPriority::Idle as u8 => DeliveryPriority::Idle,
        value if value == DeliveryPriority::Normal as u8 => DeliveryPriority::Normal,
        _ => DeliveryPriority::Low,
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
        DeliveryPriority::Low => to_low(),
        DeliveryPriority::Idle => to_idle(),
    }
}

/// Ten nice steps down, at the batch policy.
///
/// Why the batch policy: a batch thread gets its fair share of the cores
/// as any other, but never takes a core from the running thread when it
/// wakes. Without it, the thread that a commit wakes (the hand-out) or
/// that a hand-out wakes (a delivery thread) took the core from the
/// POST's own thread, which then waited, runnable, until a core was free:
/// 2 to 10 ms, the POST's p99 at 10,000 subscribers (BENCHMARKS.md,
/// "Delivery that does not preempt"). A nice value alone did not prevent
/// it: Linux's scheduler (EEVDF) may run first a thread that slept,
/// whatever its weight.
#[cfg(target_os = "linux")]
fn to_low() -> std::io::Result<()> {
    // On Linux the nice value is the thread's, and `who` 0 names the
    // calling thread. Relative to the process's own nice value, so that a
    // server started under `nice` keeps its delivery below its requests.
    // No privilege is needed to lower one's own priority.
    // SAFETY: plain system calls with integer arguments; errno is the
    // calling thread's.
    let current = unsafe {
        // getpriority may return -1 as a value: errno tells the error.
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, 0);
        if current == -1 && *libc::__errno_location() != 0 {
            return Err(std::io::Error::last_os_error());
        }
        current
    };
    // The batch policy first (it keeps the nice value), then the nice
    // value. A system that refuses the policy still gets the nice value,
    // the larger half of the effect.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` outlives the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "delivery keeps the usual policy");
    }
    // SAFETY: as above.
    match unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, (current + LOW_NICE).min(19)) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Puts the calling thread, the hub's hand-out thread, at `low` unless
/// delivery runs at `normal`: a commit wakes it, and at the usual
/// priority it took the core from the POST's threads for the whole
/// hand-out (about 5 ms at 10,000 subscribers). Never at `idle`: feeds
/// wait for the hand-out (see `hub::spawn_fan_out_thread`).
pub fn hand_out_thread() {
    if chosen() == DeliveryPriority::Normal {
        return;
    }
    if let Err(error) = to_low() {
        tracing::debug!(%error, "the hand-out thread keeps the usual priority");
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

/// Elsewhere a nice value would be the whole process's: the threads keep
/// the usual priority (a warning says so).
#[cfg(not(target_os = "linux"))]
fn to_low() -> std::io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
fn to_idle() -> std::io::Result<()> {
    Err(unsupported())
}

#[cfg(not(target_os = "linux"))]
fn unsupported() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "a lower CPU priority for delivery's threads is only set on Linux",
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The scheduling policy and nice value of a new thread after
    /// `apply(priority)`.
    fn policy_after(priority: DeliveryPriority) -> (i32, i32) {
        std::thread::spawn(move || {
            apply(priority).unwrap();
            // SAFETY: pid and who 0 name the calling thread.
            unsafe {
                (
                    libc::sched_getscheduler(0),
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                )
            }
        })
        .join()
        .unwrap()
    }

    /// The nice value of the thread that runs the tests (usually 0).
    fn usual_nice() -> i32 {
        std::thread::spawn(|| unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            .join()
            .unwrap()
    }

    #[test]
    fn low_lowers_the_nice_value_by_ten_at_the_batch_policy() {
        let usual = usual_nice();
        assert_eq!(
            policy_after(DeliveryPriority::Low),
            (libc::SCHED_BATCH, (usual + LOW_NICE).min(19))
        );
    }

    #[test]
    fn idle_puts_the_thread_at_the_idle_policy() {
        assert_eq!(policy_after(DeliveryPriority::Idle).0, libc::SCHED_IDLE);
    }

    #[test]
    fn normal_leaves_the_usual_policy() {
        assert_eq!(
            policy_after(DeliveryPriority::Normal),
            (libc::SCHED_OTHER, usual_nice())
        );
    }

    #[test]
    fn the_choice_reads_back() {
        for priority in [
            DeliveryPriority::Idle,
            DeliveryPriority::Normal,
            DeliveryPriority::Low,
        ] {
            choose(priority);
            assert_eq!(chosen(), priority);
        }
    }
}
