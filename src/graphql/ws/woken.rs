//! A future or stream polled only when it asked to be: [`Woken`] is the
//! waker it is polled with, which notes the wakeup before waking the
//! socket's task. A socket's task wakes for many reasons (a message in a
//! feed, most of all, 10,000 times per post at 10,000 subscribers); what
//! was not woken is not polled again on each of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Whether one part of a socket's task has been woken since it was last
/// polled, and the task to wake.
pub struct Woken {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Woken {
    /// A flag that starts set (a part is polled first without being
    /// woken: it has to start), and the waker to poll that part with.
    pub fn new() -> (Arc<Woken>, Waker) {
        let woken = Arc::new(Woken {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(woken.clone());
        (woken, waker)
    }

    /// Has the part polled next time, as if it had been woken.
    pub fn note(&self) {
        self.woken.store(true, Ordering::Release);
    }

    /// Registers the task of `cx` to be woken with the part; then whether
    /// the part was woken since it was last polled (which clears it).
    pub fn register_and_take(&self, cx: &Context<'_>) -> bool {
        self.task.register(cx.waker());
        self.woken.swap(false, Ordering::AcqRel)
    }

    /// Polls the part with `poll`, given the part's `waker`, if it was
    /// woken; `Pending` (the task woken with it later) if not. A part that
    /// was ready may be ready again without a wakeup: it is polled next
    /// time too.
    pub fn poll_if_woken<T>(
        &self,
        cx: &Context<'_>,
        waker: &Waker,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if !self.register_and_take(cx) {
            return Poll::Pending;
        }
        let ready = poll(&mut Context::from_waker(waker));
        if ready.is_ready() {
            self.note();
        }
        ready
    }
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.note();
        self.task.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Polled first; then only after its own waker was used, which wakes
    /// the task; a part that was ready is polled again.
    #[test]
    fn a_part_is_polled_only_once_woken() {
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let task_waker = Waker::from(task.clone());
        let cx = Context::from_waker(&task_waker);
        let (woken, waker) = Woken::new();
        let polls = AtomicUsize::new(0);
        let pending = |_: &mut Context<'_>| {
            polls.fetch_add(1, Ordering::SeqCst);
            Poll::<()>::Pending
        };
        assert!(woken.poll_if_woken(&cx, &waker, pending).is_pending());
        assert!(woken.poll_if_woken(&cx, &waker, pending).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1, "not polled again unwoken");
        waker.wake_by_ref();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert!(woken.poll_if_woken(&cx, &waker, pending).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
        waker.wake_by_ref();
        assert!(woken
            .poll_if_woken(&cx, &waker, |_| Poll::Ready(()))
            .is_ready());
        assert!(woken.poll_if_woken(&cx, &waker, pending).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 3, "polled again after ready");
    }
}
