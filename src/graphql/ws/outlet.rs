//! How `messagePosted` hands its messages to the WebSocket adapter instead
//! of to async-graphql, so that a message's selection is executed once for
//! every subscriber that asked for it the same way (see `shared`), not once
//! per subscriber.
//!
//! - An [`Outlet`] is in the request data of every operation started on a
//!   socket. The resolver, finding it, still parses its arguments and runs
//!   its feed, but puts each message in the outlet and yields only what is
//!   the subscriber's own: the `LAGGED` and `REPLAY_LIMIT` errors and store
//!   failures. async-graphql then runs everything else as usual (admission,
//!   validation, limits, the connection's operation budget, errors, the
//!   end), and the adapter sends each message with the shared payload.
//! - An [`EncodeSource`] is in the request data of the one execution that
//!   builds a selection's payloads: the resolver yields the messages put in
//!   it, whatever its arguments.
//!
//! Without either (over HTTP, or a schema run in a test) the resolver
//! yields every message to async-graphql, as any resolver does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::domain::Message;

/// The most messages an outlet holds before its stream waits for the
/// operation to send them.
const HELD: usize = 8;

/// Messages a subscription's resolver hands to its operation.
#[derive(Default)]
pub struct Outlet {
    messages: Mutex<VecDeque<Arc<Message>>>,
}

impl Outlet {
    fn messages(&self) -> MutexGuard<'_, VecDeque<Arc<Message>>> {
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next message handed in, if any.
    pub fn take(&self) -> Option<Arc<Message>> {
        self.messages().pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.messages().is_empty()
    }

    /// `events` with every message put in the outlet: the stream yields the
    /// rest. It takes messages while the events have them, up to
    /// [`HELD`]: at that point it wakes its task and returns `Pending`, so
    /// that the operation sends them before the execution goes further
    /// (async-graphql polls a subscription's stream only once woken). A
    /// subscriber thus holds at most [`HELD`] messages here beyond its hub
    /// queue, and the operation that owns the outlet looks into it
    /// whenever the execution is pending.
    pub fn carry<T: Send + 'static>(
        self: Arc<Self>,
        events: impl Stream<Item = Carried<T>> + Send + 'static,
    ) -> impl Stream<Item = T> + Send {
        let mut events = Box::pin(events);
        futures::stream::poll_fn(move |cx: &mut Context<'_>| loop {
            if self.messages().len() >= HELD {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match events.as_mut().poll_next(cx) {
                Poll::Ready(Some(Carried::Message(message))) => self.messages().push_back(message),
                Poll::Ready(Some(Carried::Other(other))) => return Poll::Ready(Some(other)),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        })
    }
}

/// What [`Outlet::carry`] takes: a message for the outlet, or anything
/// else for the stream.
pub enum Carried<T> {
    Message(Arc<Message>),
    Other(T),
}

/// The messages whose payloads one selection's execution builds (see
/// `shared`); the resolver takes them once.
pub struct EncodeSource(Mutex<Option<mpsc::UnboundedReceiver<Arc<Message>>>>);

impl EncodeSource {
    pub fn new(receiver: mpsc::UnboundedReceiver<Arc<Message>>) -> EncodeSource {
        EncodeSource(Mutex::new(Some(receiver)))
    }

    /// The messages, in the order given; empty if already taken.
    pub fn messages(&self) -> BoxStream<'static, Arc<Message>> {
        let receiver = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match receiver {
            Some(mut receiver) => {
                futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
            }
            None => futures::stream::empty().boxed(),
        }
    }
}
