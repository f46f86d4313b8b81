//! Selections shared between subscribers: a `messagePosted` message is
//! executed and serialized once per distinct selection, and every
//! subscriber of that selection sends the same payload bytes (see
//! `live::Encodings`).
//!
//! Two operations have the same selection when they have the same document
//! text, operation name and values of the variables the payload can depend
//! on: every variable the operation uses except in `messagePosted`'s own
//! arguments (`filter` and `after` choose which messages a subscriber gets,
//! not what a message looks like). The text itself is part of the key
//! because the payload can carry it (the line and column of an error).
//!
//! A selection's payloads are built by one async-graphql execution of its
//! document that yields the messages it is given (an `EncodeSource`), run
//! inline by whichever subscriber needs a payload first. It runs without
//! any subscriber's connection data (viewer, address): no field of
//! `Message` depends on who asks. A field that came to depend on it would
//! have to leave this path.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::parser::Positioned;
use async_graphql::{Name, Request, Response, ServerError, Value, Variables};
use axum::body::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::outlet::EncodeSource;
use crate::domain::Message;
use crate::graphql::errors::INTERNAL_SERVER_ERROR;
use crate::graphql::limits::coded_error;
use crate::graphql::DunderSchema;
use crate::live::{Format, Live};

/// Adds the variables that the values of `arguments` name to `used`. The
/// parser's value type (which may hold variables) is not exported by
/// async-graphql, so it is only ever inferred, here.
macro_rules! variables_in {
    ($used:expr, $arguments:expr) => {
        for (_, value) in $arguments.iter() {
            let _ = value.node.clone().into_const_with(|name| {
                $used.insert(name.to_string());
                Ok::<_, std::convert::Infallible>(Value::Null)
            });
        }
    };
}

/// What an operation was started with, for its selection's key and
/// execution.
pub struct Template {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Variables,
}

impl Template {
    /// The template of `request`.
    pub fn of(request: &Request) -> Template {
        Template {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
        }
    }

    /// The selection's key (see the module documentation). Only called
    /// once the operation's resolver runs, so the document has passed
    /// admission and validation: parsing it again is bounded.
    pub fn key(&self) -> String {
        let used = async_graphql::parser::parse_query(&self.query)
            .ok()
            .and_then(|document| self.payload_variables(&document));
        let variables: BTreeMap<&Name, &Value> = match &used {
            Some(used) => self
                .variables
                .iter()
                .filter(|(name, _)| used.contains(name.as_str()))
                .collect(),
            // Not found (cannot happen after validation): every variable,
            // which can only split a selection in two, never merge two.
            None => self.variables.iter().collect(),
        };
        serde_json::to_string(&(&self.query, &self.operation_name, variables)).unwrap_or_default()
    }

    /// The variables the operation uses outside `messagePosted`'s own
    /// arguments.
    fn payload_variables(&self, document: &ExecutableDocument) -> Option<HashSet<String>> {
        let operation = match (&document.operations, &self.operation_name) {
            (DocumentOperations::Single(operation), _) => operation,
            (DocumentOperations::Multiple(operations), Some(name)) => {
                operations.get(name.as_str())?
            }
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
                operations.values().next()?
            }
            _ => return None,
        };
        let mut walk = Walk {
            document,
            used: HashSet::new(),
            fragments_seen: HashSet::new(),
        };
        for directive in &operation.node.directives {
            variables_in!(walk.used, &directive.node.arguments);
        }
        walk.selection_set(&operation.node.selection_set, true);
        Some(walk.used)
    }
}

/// The variables found so far, walking a document's selections.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    used: HashSet<String>,
    fragments_seen: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    /// `root`: whether these are the subscription's root fields.
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>, root: bool) {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    for directive in &field.directives {
                        variables_in!(self.used, &directive.node.arguments);
                    }
                    if !(root && field.name.node == "messagePosted") {
                        variables_in!(self.used, &field.arguments);
                    }
                    self.selection_set(&field.selection_set, false);
                }
                Selection::FragmentSpread(spread) => {
                    for directive in &spread.node.directives {
                        variables_in!(self.used, &directive.node.arguments);
                    }
                    let name = spread.node.fragment_name.node.as_str();
                    // Each fragment once (a cycle is refused by validation,
                    // but the walk must end regardless).
                    if !self.fragments_seen.insert(name) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(name) {
                        for directive in &fragment.node.directives {
                            variables_in!(self.used, &directive.node.arguments);
                        }
                        self.selection_set(&fragment.node.selection_set, root);
                    }
                }
                Selection::InlineFragment(inline) => {
                    for directive in &inline.node.directives {
                        variables_in!(self.used, &directive.node.arguments);
                    }
                    self.selection_set(&inline.node.selection_set, root);
                }
            }
        }
    }
}

/// The payload (`{"data": ...}`, as async-graphql serializes a response)
/// of `message` for the selection `format` names, built once for all its
/// subscribers.
pub async fn payload(
    format: &Arc<Format>,
    schema: &DunderSchema,
    template: &Arc<Template>,
    message: Arc<Message>,
) -> Bytes {
    let (building, schema, template) = (format.clone(), schema.clone(), template.clone());
    format
        .frame(message.id, move || async move {
            match building.state(|| Encoder::new(schema, template)) {
                Some(encoder) => encoder.payload(message).await,
                None => internal_error(),
            }
        })
        .await
}

/// The format of `template`'s selection.
pub fn format_of(live: &Live, template: &Template) -> Arc<Format> {
    live.encodings().format(&template.key())
}

/// The execution that builds a selection's payloads, started on first use.
struct Encoder {
    schema: DunderSchema,
    template: Arc<Template>,
    run: tokio::sync::Mutex<Option<Run>>,
}

/// One execution: the messages go in, one response per message comes out.
struct Run {
    messages: mpsc::UnboundedSender<Arc<Message>>,
    responses: BoxStream<'static, Response>,
    /// Set while a message is in; still set on the next use if the build
    /// that put it in was dropped halfway (its subscriber went away), when
    /// the run is out of step and is started again.
    busy: bool,
}

impl Encoder {
    fn new(schema: DunderSchema, template: Arc<Template>) -> Encoder {
        Encoder {
            schema,
            template,
            run: tokio::sync::Mutex::new(None),
        }
    }

    fn start(&self) -> Run {
        let (messages, source) = mpsc::unbounded_channel();
        let mut request = Request::new(self.template.query.clone())
            .variables(self.template.variables.clone())
            .data(EncodeSource::new(source));
        request.operation_name = self.template.operation_name.clone();
        Run {
            messages,
            responses: self.schema.execute_stream(request),
            busy: false,
        }
    }

    async fn payload(&self, message: Arc<Message>) -> Bytes {
        let mut run = self.run.lock().await;
        if run.as_ref().is_some_and(|run| run.busy) {
            *run = None;
        }
        let current = run.get_or_insert_with(|| self.start());
        current.busy = true;
        let _ = current.messages.send(message);
        let response = current.responses.next().await;
        current.busy = false;
        match response {
            Some(response) => serde_json::to_vec(&response)
                .map(Bytes::from)
                .unwrap_or_else(|_| internal_error()),
            None => {
                tracing::error!("a shared subscription execution ended early");
                *run = None;
                internal_error()
            }
        }
    }
}

/// The payload of a response that could not be built.
fn internal_error() -> Bytes {
    let error: ServerError = coded_error("internal server error".to_owned(), INTERNAL_SERVER_ERROR);
    Bytes::from(serde_json::to_vec(&Response::from_errors(vec![error])).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(query: &str, variables: serde_json::Value) -> Template {
        Template {
            query: query.to_owned(),
            operation_name: None,
            variables: Variables::from_json(variables),
        }
    }

    const BY_TAG: &str = "subscription($tag: String, $after: String, $long: Boolean!) {
        messagePosted(filter: {hashtag: $tag}, after: $after) {
            text
            ... on Message @include(if: $long) { hashtags }
        }
    }";

    /// Subscribers that differ only in which messages they get (filter,
    /// after) share a selection; a variable the payload depends on, or
    /// another document, makes another.
    #[test]
    fn the_key_leaves_out_what_chooses_messages() {
        let key = |variables| template(BY_TAG, variables).key();
        let rust = key(serde_json::json!({"tag": "rust", "long": true}));
        let go = key(serde_json::json!({"tag": "go", "after": "x", "long": true}));
        assert_eq!(rust, go);
        assert_ne!(rust, key(serde_json::json!({"tag": "rust", "long": false})));
        let other = template(
            &BY_TAG.replace("text", "id text"),
            serde_json::json!({"long": true}),
        );
        assert_ne!(rust, other.key());
    }

    /// Variables in fragments (and their directives) count; a fragment
    /// spread twice or a cycle is walked once; an unknown operation name
    /// keeps every variable.
    #[test]
    fn fragments_are_walked_once() {
        let query = "subscription Live($a: Boolean!, $tag: String) {
            messagePosted(filter: {hashtag: $tag}) { ...F ...F }
        }
        fragment F on Message { text @skip(if: $a) ...G }
        fragment G on Message { ...F }";
        let named = |name: Option<&str>, variables| Template {
            operation_name: name.map(str::to_owned),
            ..template(query, variables)
        };
        let a = |value| named(Some("Live"), serde_json::json!({"a": value, "tag": "t"})).key();
        assert_ne!(a(true), a(false));
        assert_eq!(
            named(Some("Live"), serde_json::json!({"a": true, "tag": "u"})).key(),
            a(true)
        );
        let unknown = |tag| named(Some("Other"), serde_json::json!({"a": true, "tag": tag})).key();
        assert_ne!(unknown("t"), unknown("u"));
    }
}
