//! How `messagePosted` hands its messages to the WebSocket adapter instead
//! of to async-graphql, so that a message's selection is executed once for
//! every subscriber that asked for it the same way (see `shared`), not once
//! per subscriber.
//!
//! - An [`Outlet`] is in the request data of every operation started on a
//!   socket. The resolver, finding it, still parses its arguments and makes
//!   its feed, but leaves the feed in the outlet and yields only what the
//!   operation hands back as the subscriber's own: the `LAGGED` and
//!   `REPLAY_LIMIT` errors and store failures. The operation polls the
//!   feed and sends each message with the shared payload; async-graphql
//!   runs everything else as usual (admission, validation, limits, the
//!   connection's operation budget, errors, the end).
//! - An [`EncodeSource`] is in the request data of the one execution that
//!   builds a selection's payloads: the resolver yields the messages put in
//!   it, whatever its arguments.
//!
//! Without either (over HTTP, or a schema run in a test) the resolver
//! yields every message to async-graphql, as any resolver does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::domain::Message;
use crate::graphql::types::MessageObject;

/// What a subscription yields to async-graphql: the subscriber's own
/// events (an error that ends it), never a message on this path.
pub type OwnItem = async_graphql::Result<MessageObject>;

/// A `messagePosted` feed as the resolver hands it to the operation.
pub type Feed = BoxStream<'static, Carried>;

/// Where a subscription's resolver leaves its feed for the operation that
/// owns the outlet, and how the operation hands back the events that are
/// the subscriber's own.
#[derive(Default)]
pub struct Outlet {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The feed, until the operation takes it.
    feed: Option<Feed>,
    /// The subscriber's own events, for the execution to yield, in order.
    own: VecDeque<OwnItem>,
    /// The feed has ended: once `own` is empty, so does the execution.
    ended: bool,
    /// The execution's stream, waiting for `own` (or the end).
    waiting: Option<Waker>,
}

impl Outlet {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leaves `feed` for the operation, and returns what the subscription
    /// yields to async-graphql: the events the operation hands back with
    /// [`Outlet::hand_own`], then the end once it calls [`Outlet::end`].
    ///
    /// The operation polls the feed itself, straight from the socket's
    /// task: a message goes from the feed to the socket without a pass
    /// through async-graphql's stream machinery, which, once per message
    /// and subscriber, was most of the server's own cost of a frame.
    pub fn attach(self: Arc<Self>, feed: Feed) -> impl Stream<Item = OwnItem> + Send {
        self.state().feed = Some(feed);
        futures::stream::poll_fn(move |cx| {
            let mut state = self.state();
            if let Some(item) = state.own.pop_front() {
                return Poll::Ready(Some(item));
            }
            if state.ended {
                return Poll::Ready(None);
            }
            state.waiting = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// The feed the resolver left, once.
    pub fn take_feed(&self) -> Option<Feed> {
        self.state().feed.take()
    }

    /// Hands the execution one of the subscriber's own events.
    pub fn hand_own(&self, item: OwnItem) {
        self.tell_execution(|state| state.own.push_back(item));
    }

    /// The feed is over: the execution ends after the events handed.
    pub fn end(&self) {
        self.tell_execution(|state| state.ended = true);
    }

    /// Changes the state with `change`, then wakes the execution's stream
    /// if it waits (outside the lock, which its poll takes).
    fn tell_execution(&self, change: impl FnOnce(&mut State)) {
        let waiting = {
            let mut state = self.state();
            change(&mut state);
            state.waiting.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Whether events handed are still to be yielded by the execution.
    pub fn has_own(&self) -> bool {
        !self.state().own.is_empty()
    }
}

/// What a subscription's feed carries: a message for the operation to
/// send with its selection's shared payload, or an event of the
/// subscriber's own for async-graphql.
pub enum Carried {
    Message(Arc<Message>),
    Other(OwnItem),
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
