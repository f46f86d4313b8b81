//! The operations in flight on one socket: each one's async-graphql
//! execution (admission, validation, limits, its own errors and end) and
//! its outlet, through which `messagePosted` hands over its messages; each
//! message goes out with the payload of the operation's selection, built
//! once for every subscriber of that selection (see `shared`).
//!
//! Operations are polled in turn, starting after the last one that had
//! something, so that a busy subscription cannot keep the others waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use async_graphql::Response;
use axum::body::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use super::outlet::Outlet;
use super::shared::{self, Template};
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
    template: Arc<Template>,
    /// The selection's format, found when the first message comes.
    format: Option<Arc<Format>>,
    /// A payload being built (or waited for).
    building: Option<Pin<Box<dyn Future<Output = Bytes> + Send>>>,
    /// A response that came after messages still in the outlet.
    after_messages: Option<Response>,
    ended: bool,
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
        self.list.push(Operation {
            id: id.into(),
            execution,
            outlet,
            template: Arc::new(template),
            format: None,
            building: None,
            after_messages: None,
            ended: false,
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
            // Messages the execution handed over come before anything it
            // yields after them.
            if let Some(message) = self.outlet.take() {
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
            if let Some(response) = self.after_messages.take() {
                return Poll::Ready(Some(Output::Response(response)));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match self.execution.poll_next_unpin(cx) {
                // The messages put in the outlet during this poll came
                // first (the last of a lagging feed, then `LAGGED`).
                Poll::Ready(Some(response)) if !self.outlet.is_empty() => {
                    self.after_messages = Some(response);
                }
                Poll::Ready(Some(response)) => {
                    return Poll::Ready(Some(Output::Response(response)))
                }
                Poll::Ready(None) => self.ended = true,
                // Messages came: send them before polling again.
                Poll::Pending if !self.outlet.is_empty() => {}
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
