//! One client connection's guards: what it is doing, and the timeouts that
//! close it when it stalls.
//!
//! [`GuardedIo`] wraps the socket (under TLS, so the handshake counts too):
//! it holds the connection's slot for as long as the socket lives (after a
//! WebSocket upgrade as well), notes when request bytes arrive, and fails a
//! write that the peer leaves unread for longer than the send timeout, so
//! a client that stops reading cannot hold a task, a buffer or the server's
//! shutdown. [`Activity`] is what the service and the socket tell the
//! watchdog: requests in flight, when the connection went idle, when an
//! unanswered request began to arrive. [`watchdog`] completes when the
//! connection has broken a rule (headers too slow, idle too long); the
//! serving task then drops the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};

/// What a connection is doing, shared by its socket, its service and its
/// watchdog. Instants are milliseconds since `epoch`.
#[derive(Debug)]
pub struct Activity {
    epoch: Instant,
    /// Requests dispatched and not yet fully answered.
    in_flight: AtomicUsize,
    /// When the last request was answered (or the connection opened).
    idle_since: AtomicU64,
    /// When bytes of a request not yet dispatched first arrived; 0: none.
    request_started: AtomicU64,
    /// The connection became a WebSocket: its own keepalives rule it now.
    upgraded: AtomicBool,
    /// Wakes the watchdog when a request begins to arrive, so that the
    /// header timeout runs from then rather than from its next check.
    request_arriving: Notify,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            request_started: AtomicU64::new(0),
            upgraded: AtomicBool::new(false),
            request_arriving: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        // Never 0, which means "none" for `request_started`.
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn at(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis.saturating_sub(1))
    }

    /// Bytes arrived from the client.
    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .request_started
                .compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.request_arriving.notify_one();
        }
    }

    /// A request was dispatched to the router; its answer ends when the
    /// returned guard drops (with the response body).
    pub fn request_began(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.request_started.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// The connection switched protocols (WebSocket).
    pub fn upgraded(&self) {
        self.upgraded.store(true, Ordering::Release);
    }
}

/// One request in flight; dropping it (with the response body) marks the
/// connection idle when it was the last.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity.idle_since.store(activity.now(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A request began to arrive and its headers did not complete in time.
    SlowHeaders,
    /// Nothing was asked for the idle timeout.
    Idle,
}

/// Completes when the connection breaks a rule: a request whose headers
/// take longer than `header_timeout` from its first byte, or no request for
/// `idle_timeout`. Never completes while a request is being answered (the
/// request timeout rules that) or once the connection is a WebSocket.
pub async fn watchdog(
    activity: Arc<Activity>,
    header_timeout: Duration,
    idle_timeout: Duration,
) -> Stall {
    loop {
        if activity.upgraded.load(Ordering::Acquire) {
            return std::future::pending().await;
        }
        let wake = if activity.in_flight.load(Ordering::Acquire) > 0 {
            // Look again later; a request in flight breaks no rule here.
            Instant::now() + header_timeout.min(idle_timeout)
        } else {
            let started = activity.request_started.load(Ordering::Acquire);
            let (deadline, stall) = if started != 0 {
                (activity.at(started) + header_timeout, Stall::SlowHeaders)
            } else {
                let idle = activity.idle_since.load(Ordering::Acquire);
                (activity.at(idle) + idle_timeout, Stall::Idle)
            };
            if Instant::now() >= deadline {
                return stall;
            }
            deadline
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = activity.request_arriving.notified() => {}
        }
    }
}

/// The socket of one connection; see the module documentation.
pub struct GuardedIo<S> {
    inner: S,
    activity: Arc<Activity>,
    send_timeout: Duration,
    /// The send timeout's timer, made once and reset at each stall.
    write_stall: Option<Pin<Box<Sleep>>>,
    /// Whether a write is waiting for the peer to read now.
    stalled: bool,
    /// The connection's slot under the connection cap.
    _slot: OwnedSemaphorePermit,
}

impl<S> GuardedIo<S> {
    pub fn new(
        inner: S,
        activity: Arc<Activity>,
        send_timeout: Duration,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        GuardedIo {
            inner,
            activity,
            send_timeout,
            write_stall: None,
            stalled: false,
            _slot: slot,
        }
    }

    /// `Pending` from the socket starts (or continues) the send timeout;
    /// anything else stops it.
    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if result.is_ready() {
            self.stalled = false;
            return result;
        }
        let deadline = Instant::now() + self.send_timeout;
        let starting = !std::mem::replace(&mut self.stalled, true);
        let stall = self
            .write_stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if starting {
            stall.as_mut().reset(deadline);
        }
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the send timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch_write(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch_write(cx, result)
    }
}

/// A response body that keeps its request counted as in flight until it
/// has been sent (or the client went away).
pub struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl TrackedBody {
    pub fn new(inner: Body, in_flight: InFlight) -> Self {
        TrackedBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_connections_and_slow_headers_are_found_and_requests_in_flight_are_not() {
        let header = Duration::from_secs(10);
        let idle = Duration::from_secs(60);

        // Idle from the start: closed after the idle timeout.
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(watchdog(activity, header, idle).await, Stall::Idle);
        assert!(started.elapsed() >= idle);

        // A request begins to arrive: its headers get the header timeout.
        let activity = Activity::new();
        activity.bytes_read();
        let started = Instant::now();
        assert_eq!(watchdog(activity, header, idle).await, Stall::SlowHeaders);
        let waited = started.elapsed();
        assert!(waited >= header && waited < idle, "{waited:?}");

        // A request in flight for longer than both: no stall until it ends.
        let activity = Activity::new();
        activity.bytes_read();
        let request = activity.request_began();
        let dog = tokio::spawn(watchdog(activity.clone(), header, idle));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(!dog.is_finished());
        let ended = Instant::now();
        drop(request);
        assert_eq!(dog.await.unwrap(), Stall::Idle);
        assert!(ended.elapsed() >= idle);

        // A WebSocket is never closed by the watchdog.
        let activity = Activity::new();
        activity.upgraded();
        let dog = tokio::spawn(watchdog(activity, header, idle));
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!dog.is_finished());
        dog.abort();
    }
}
