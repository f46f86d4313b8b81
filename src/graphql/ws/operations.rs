//! The operations in flight on one socket: each one's async-graphql
//! execution (admission, validation, limits, its own errors and end) and
//! its outlet, through which `messagePosted` hands over its feed; the
//! operation polls the feed itself, and each message goes out with the
//! payload of the operation's selection, built once for every subscriber
//! of that selection (see `shared`).
//!
//! Operations are polled in turn, starting after the last one that had
//! something, so that a busy subscription cannot keep the others waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use async_graphql::Response;
use axum::body::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::outlet::{Carried, Feed, Outlet};
use super::shared::{self, Template};
use super::woken::Woken;
use crate::graphql::DunderSchema;
use crate::live::{Format, Live};

/// What an operation has to send.
pub enum Output {
    /// A message, as the shared payload of the operation's selection.
    Payload(Bytes),
    /// A response of the operation's own: a query's or mutation's result,
    /// a trend update, an error.
    Response(Response),
    /// The operation is over.
    Complete,
}

/// The operations of one socket.
pub struct Operations {
    list: Vec<Operation>,
    /// Where the next round of polling starts.
    next: usize,
    schema: DunderSchema,
    live: Live,
}

struct Operation {
    id: Arc<str>,
    execution: BoxStream<'static, Response>,
    outlet: Arc<Outlet>,
    /// `messagePosted`'s feed, once the resolver has left it in the outlet.
    feed: Option<Feed>,
    template: Arc<Template>,
    /// The selection's format, found when the first message comes.
    format: Option<Arc<Format>>,
    /// A payload being built (or waited for).
    building: Option<Pin<Box<dyn Future<Output = Bytes> + Send>>>,
    ended: bool,
    /// Whether the execution has been woken since it was last polled.
    /// Once the feed is the operation's own, a wakeup is nearly always a
    /// message; the execution is polled only when it asked to be, not on
    /// every message (a pass through async-graphql's stream machinery
    /// each time, for every subscriber).
    execution_woken: Arc<Woken>,
    /// The waker the execution is polled with.
    execution_waker: Waker,
}

impl Operations {
    pub fn new(schema: DunderSchema, live: Live) -> Operations {
        Operations {
            list: Vec::new(),
            next: 0,
            schema,
            live,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Starts operation `id` (replacing one of the same id, as
    /// async-graphql's machine does).
    pub fn start(
        &mut self,
        id: String,
        execution: BoxStream<'static, Response>,
        outlet: Arc<Outlet>,
        template: Template,
    ) {
        self.list.retain(|operation| *operation.id != *id);
        let (execution_woken, execution_waker) = Woken::new();
        self.list.push(Operation {
            id: id.into(),
            execution,
            outlet,
            feed: None,
            template: Arc::new(template),
            format: None,
            building: None,
            ended: false,
            execution_woken,
            execution_waker,
        });
    }

    /// Stops operation `id`; whether it was in flight.
    pub fn stop(&mut self, id: &str) -> bool {
        let before = self.list.len();
        self.list.retain(|operation| &*operation.id != id);
        self.list.len() < before
    }

    /// The next thing an operation has to send, with its id.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<(Arc<str>, Output)> {
        let count = self.list.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            let operation = &mut self.list[index];
            match operation.poll(cx, &self.schema, &self.live) {
                Poll::Ready(Some(output)) => {
                    self.next = index + 1;
                    return Poll::Ready((operation.id.clone(), output));
                }
                Poll::Ready(None) => {
                    let operation = self.list.remove(index);
                    self.next = index;
                    return Poll::Ready((operation.id, Output::Complete));
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

impl Operation {
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        schema: &DunderSchema,
        live: &Live,
    ) -> Poll<Option<Output>> {
        loop {
            if let Some(building) = &mut self.building {
                let payload = ready!(building.as_mut().poll(cx));
                self.building = None;
                return Poll::Ready(Some(Output::Payload(payload)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            // The feed is read only while the execution has yielded every
            // event handed to it, so that what the feed gives goes out in
            // its order: messages, then the error that ends it.
            if let Some(feed) = self.feed.as_mut().filter(|_| !self.outlet.has_own()) {
                match feed.poll_next_unpin(cx) {
                    Poll::Ready(Some(Carried::Message(message))) => {
                        let format = self
                            .format
                            .get_or_insert_with(|| shared::format_of(live, &self.template))
                            .clone();
                        if let Some(payload) = format.built(message.id) {
                            return Poll::Ready(Some(Output::Payload(payload)));
                        }
                        let schema = schema.clone();
                        let template = self.template.clone();
                        self.building = Some(Box::pin(async move {
                            shared::payload(&format, &schema, &template, message).await
                        }));
                        continue;
                    }
                    // The execution is polled next whether or not its
                    // stream was waiting yet.
                    Poll::Ready(Some(Carried::Other(own))) => {
                        self.outlet.hand_own(own);
                        self.execution_woken.note();
                    }
                    Poll::Ready(None) => {
                        self.feed = None;
                        self.outlet.end();
                        self.execution_woken.note();
                    }
                    Poll::Pending => {}
                }
            }
            if !self.execution_woken.register_and_take(cx) {
                return Poll::Pending;
            }
            let mut execution_cx = Context::from_waker(&self.execution_waker);
            match self.execution.poll_next_unpin(&mut execution_cx) {
                Poll::Ready(Some(response)) => {
                    // A stream that yielded may have more without a wakeup.
                    self.execution_woken.note();
                    return Poll::Ready(Some(Output::Response(response)));
                }
                Poll::Ready(None) => self.ended = true,
                Poll::Pending => {
                    // The resolver has just left its feed: read it now.
                    if self.feed.is_none() {
                        if let Some(feed) = self.outlet.take_feed() {
                            self.feed = Some(feed);
                            continue;
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
