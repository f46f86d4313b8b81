//! GraphQL over WebSocket at `/graphql/ws`: `graphql-transport-ws` and the
//! legacy `graphql-ws` subprotocol, with what a long-lived socket needs
//! around them: the token from the `connection_init` payload
//! (`{"Authorization": "Bearer ..."}`), a deadline for that
//! `connection_init`, server keepalive pings, a cap on operations in flight
//! per connection, and a clean close (1001) on shutdown. Each socket holds a
//! live-stream slot for its whole life (taken before the upgrade: a full
//! server answers 503, a full address 429), and every operation on it
//! spends the viewer's and the address's rate limits.
//!
//! The protocol is spoken here, as async-graphql's own machine speaks it,
//! so that a `messagePosted` message is sent with a payload executed once
//! for every subscriber of the same selection (see `outlet`, `shared` and
//! `operations`); every operation still runs through async-graphql.
//!
//! An idle socket is small: its read buffer starts at [`READ_BUFFER`] and
//! grows only for a larger client message (at most the request-body
//! limit); its write buffer grows to the largest frame sent.

mod operations;
mod outlet;
mod protocol;
mod shared;
mod woken;

use crate::auth::Authenticator;
use axum::http::HeaderValue;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::Poll;

use async_graphql::http::{ClientMessage, WebSocketProtocols, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{Data, Request};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

use super::budget::OperationBudget;
use super::errors::TOO_MANY_STREAMS;
use super::{ClientAddress, DunderSchema, Viewer};
use crate::guard::{client_address, Guards, StreamRefusal, StreamSlot};
use crate::live::Live;
use operations::{Operations, Output};
pub(super) use outlet::{Carried, EncodeSource, Outlet};
use shared::Template;
use woken::Woken;

/// The read buffer a socket starts with: a client's messages
/// (`connection_init`, `subscribe`, `complete`, pings) are far smaller.
/// The WebSocket library's default, 128 KiB, made most of an idle
/// subscriber's memory.
pub const READ_BUFFER: usize = 4 * 1024;

/// The most frames one write carries when operations have several ready.
const COALESCED_FRAMES: usize = 32;

pub async fn upgrade(
    State(schema): State<DunderSchema>,
    State(live): State<Live>,
    State(guards): State<Guards>,
    headers: HeaderMap,
    extensions: Extensions,
    upgrade: WebSocketUpgrade,
) -> Response {
    let address = client_address(&extensions);
    let slot = match guards.streams.try_open(address) {
        Ok(slot) => slot,
        Err(refusal) => {
            guards.refusals.count(TOO_MANY_STREAMS);
            return stream_refused(refusal);
        }
    };
    let protocol = requested_protocol(&headers);
    // The upgrade request's token, for a `connection_init` without one
    // (clients that can set headers on the upgrade, unlike browsers).
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    // The request-body limit holds for socket messages too.
    upgrade
        .read_buffer_size(READ_BUFFER)
        .max_message_size(crate::rest::MAX_BODY_BYTES)
        .max_frame_size(crate::rest::MAX_BODY_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let peer = Peer {
                protocol,
                address,
                slot,
                authorization,
            };
            // On the subscribers' own runtime (see `live::runtime`); the
            // upgrade's task waits for it, so a drain still sees the socket.
            let socket_task =
                crate::live::runtime::spawn_subscriber(serve(socket, schema, live, guards, peer));
            async move {
                if let Err(error) = socket_task.await {
                    tracing::error!(%error, "a WebSocket task ended abnormally");
                }
            }
        })
}

/// No slot for another live stream: 503 (the server is full) or 429 (this
/// address is), with when to try again, in GraphQL's error shape.
fn stream_refused(refusal: StreamRefusal) -> Response {
    let body = json!({"errors": [{
        "message": refusal.message(),
        "extensions": {"code": TOO_MANY_STREAMS},
    }]});
    (
        refusal.status(),
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (
                header::RETRY_AFTER,
                &StreamRefusal::RETRY_AFTER.as_secs().to_string(),
            ),
        ],
        body.to_string(),
    )
        .into_response()
}

/// The first subprotocol the client offers that Dunder speaks; the legacy
/// one when it offers none (as old clients do).
fn requested_protocol(headers: &HeaderMap) -> WebSocketProtocols {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offered| offered.split(',').find_map(|p| p.trim().parse().ok()))
        .unwrap_or(WebSocketProtocols::SubscriptionsTransportWS)
}

/// One client's socket: the subprotocol it speaks, its address, and its
/// live-stream slot, given back when the socket ends.
struct Peer {
    protocol: WebSocketProtocols,
    address: Option<IpAddr>,
    slot: StreamSlot,
    /// The upgrade request's `Authorization` header, if any.
    authorization: Option<HeaderValue>,
}

/// What the socket does after a client message or an event.
enum Step {
    Nothing,
    Send(String),
    /// Send this, then end the connection (without a close frame, as the
    /// legacy protocol's refusal does).
    SendThenEnd(String),
    Close(u16, String),
    End,
}

/// One socket's protocol state.
struct Connection {
    protocol: WebSocketProtocols,
    schema: DunderSchema,
    /// The connection data every operation runs with, once
    /// `connection_init` came.
    session: Option<Arc<Data>>,
    operations: Operations,
    address: Option<IpAddr>,
    guards: Guards,
    max_operations: usize,
    /// The upgrade request's `Authorization` header, used when the
    /// `connection_init` payload has none.
    upgrade_authorization: Option<HeaderValue>,
}

impl Connection {
    /// What a client message asks.
    fn receive(&mut self, bytes: &[u8]) -> Step {
        let message = match ClientMessage::from_bytes(bytes) {
            Ok(message) => message,
            Err(error) => return Step::Close(1002, error.to_string()),
        };
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.session.is_some() {
                    let reason = "Too many initialisation requests.";
                    return match self.protocol {
                        WebSocketProtocols::GraphQLWS => Step::Close(4429, reason.to_owned()),
                        WebSocketProtocols::SubscriptionsTransportWS => {
                            Step::SendThenEnd(protocol::connection_error(reason))
                        }
                    };
                }
                let mut data = Data::default();
                data.insert(viewer_from_payload(
                    &self.guards.auth,
                    &payload.unwrap_or_default(),
                    self.upgrade_authorization.as_ref(),
                ));
                data.insert(OperationBudget::new(self.max_operations));
                data.insert(ClientAddress(self.address));
                data.insert(self.guards.clone());
                self.session = Some(Arc::new(data));
                Step::Send(protocol::CONNECTION_ACK.to_owned())
            }
            ClientMessage::Start { id, payload } => {
                let Some(session) = self.session.clone() else {
                    return Step::Close(1011, "The handshake is not completed.".to_owned());
                };
                self.start(id, payload, session);
                Step::Nothing
            }
            ClientMessage::Stop { id } => {
                if self.operations.stop(&id) {
                    Step::Send(protocol::complete(&id))
                } else {
                    Step::Nothing
                }
            }
            ClientMessage::ConnectionTerminate => Step::End,
            ClientMessage::Ping { .. } => Step::Send(protocol::PONG.to_owned()),
            ClientMessage::Pong { .. } => Step::Nothing,
        }
    }

    /// Starts operation `id`: its execution runs (admission, validation,
    /// limits) as the socket polls it; a subscription to `messagePosted`
    /// hands its messages to the outlet.
    fn start(&mut self, id: String, request: Request, session: Arc<Data>) {
        let outlet = Arc::new(Outlet::default());
        let template = Template::of(&request);
        let request = request.data(outlet.clone());
        let execution = self
            .schema
            .execute_stream_with_session_data(request, session);
        self.operations.start(id, execution, outlet, template);
    }

    /// The frame of what operation `id` has to send.
    fn frame(&self, id: &str, output: Output) -> String {
        match output {
            Output::Payload(payload) => {
                protocol::next(self.protocol, id, &String::from_utf8_lossy(&payload))
            }
            Output::Response(response) => {
                let payload = serde_json::to_string(&response).unwrap_or_default();
                protocol::next(self.protocol, id, &payload)
            }
            Output::Complete => protocol::complete(id),
        }
    }
}

/// What wakes a socket other than its client and its operations.
enum Rare {
    Keepalive,
    ShuttingDown,
}

/// Serves one socket.
///
/// The socket is not split: reading and writing take turns in this one
/// loop, and a split socket pays a lock on every read and every write.
async fn serve(
    mut socket: WebSocket,
    schema: DunderSchema,
    live: Live,
    guards: Guards,
    peer: Peer,
) {
    let Peer {
        protocol,
        address,
        slot: _slot,
        authorization,
    } = peer;
    let settings = *live.settings();
    let mut connection = Connection {
        protocol,
        schema: schema.clone(),
        session: None,
        operations: Operations::new(schema, live.clone()),
        address,
        guards,
        max_operations: settings.max_operations,
        upgrade_authorization: authorization,
    };

    let period = settings.keepalive_interval;
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let init_deadline = tokio::time::sleep(settings.connection_init_timeout);
    let shutting_down = live.shutting_down();
    tokio::pin!(init_deadline, shutting_down);
    // The socket is read only when its reader was woken: nearly every
    // wakeup of a subscriber's task is a message to send, and a read
    // attempt on each (the WebSocket library's, the TCP stream's
    // readiness, their wakers) was a few percent of delivery's time.
    let (read_woken, read_waker) = Woken::new();
    // The keepalive's timer and the shutdown signal likewise, together:
    // the shutdown signal is shared by every socket, and polling it took
    // its lock once per socket for every message.
    let (rare_woken, rare_waker) = Woken::new();
    loop {
        let initialized = connection.session.is_some();
        let has_operations = !connection.operations.is_empty();
        let step = tokio::select! {
            frame = std::future::poll_fn(|cx| {
                read_woken.poll_if_woken(cx, &read_waker, |read_cx| socket.poll_next_unpin(read_cx))
            }) => match frame {
                Some(Ok(Message::Text(text))) => connection.receive(text.as_bytes()),
                Some(Ok(Message::Binary(bytes))) => connection.receive(&bytes),
                // Pings are answered by the WebSocket library; a close
                // frame is followed by the end of the stream.
                Some(Ok(_)) => Step::Nothing,
                Some(Err(_)) | None => Step::End,
            },
            (id, output) = std::future::poll_fn(|cx| connection.operations.poll_next(cx)), if has_operations => {
                Step::Send(connection.frame(&id, output))
            }
            rare = std::future::poll_fn(|cx| {
                rare_woken.poll_if_woken(cx, &rare_waker, |rare_cx| {
                    if shutting_down.as_mut().poll(rare_cx).is_ready() {
                        return Poll::Ready(Rare::ShuttingDown);
                    }
                    keepalive.poll_tick(rare_cx).map(|_| Rare::Keepalive)
                })
            }) => match rare {
                Rare::Keepalive => Step::Send(keepalive_message(protocol).to_owned()),
                Rare::ShuttingDown => Step::Close(1001, "server shutting down".to_owned()),
            },
            _ = &mut init_deadline, if !initialized => {
                Step::Close(4408, "Connection initialisation timeout".to_owned())
            }
        };
        match step {
            Step::Nothing => {}
            Step::Send(text) => {
                if socket.feed(Message::Text(text.into())).await.is_err() {
                    break;
                }
                // What else the operations already have goes out in the
                // same write: under load a subscriber's task wakes with
                // several messages queued, and one write (one syscall) for
                // all of them is the cheaper half of a frame.
                for _ in 1..COALESCED_FRAMES {
                    let ready =
                        std::future::poll_fn(|cx| Poll::Ready(connection.operations.poll_next(cx)))
                            .await;
                    let Poll::Ready((id, output)) = ready else {
                        break;
                    };
                    let frame = connection.frame(&id, output);
                    if socket.feed(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                if socket.flush().await.is_err() {
                    break;
                }
            }
            Step::SendThenEnd(text) => {
                let _ = socket.send(Message::Text(text.into())).await;
                break;
            }
            Step::Close(code, reason) => {
                let _ = socket
                    .send(close(code, protocol::close_reason(&reason)))
                    .await;
                break;
            }
            Step::End => break,
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// A protocol-level keepalive: `ping` (answered with `pong` by
/// graphql-transport-ws clients) or the legacy protocol's `ka`.
fn keepalive_message(protocol: WebSocketProtocols) -> &'static str {
    match protocol {
        WebSocketProtocols::GraphQLWS => r#"{"type":"ping"}"#,
        WebSocketProtocols::SubscriptionsTransportWS => r#"{"type":"ka"}"#,
    }
}

/// The viewer of the `Authorization` entry of a `connection_init` payload,
/// whatever its case (clients differ), else of the upgrade request's
/// `Authorization` header: the same rules and errors as over HTTP.
fn viewer_from_payload(
    auth: &Authenticator,
    payload: &Value,
    upgrade: Option<&HeaderValue>,
) -> Viewer {
    let authorization = payload.as_object().and_then(|map| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| value.as_str())
    });
    match authorization {
        Some(value) => Viewer::from_authorization(auth, Some(value)),
        None => Viewer::from_header(auth, upgrade),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn the_token_is_found_whatever_its_key_case() {
        let legacy = Authenticator::default();
        let viewer =
            viewer_from_payload(&legacy, &json!({"authorization": "Bearer YWxpY2U="}), None);
        assert_eq!(viewer.user().unwrap().as_str(), "alice");
        assert!(viewer_from_payload(&legacy, &json!({}), None)
            .user()
            .is_err());
        assert!(viewer_from_payload(&legacy, &Value::Null, None)
            .user()
            .is_err());
        // The upgrade request's header, when the payload has none.
        let header = HeaderValue::from_static("Bearer Ym9i");
        let viewer = viewer_from_payload(&legacy, &json!({}), Some(&header));
        assert_eq!(viewer.user().unwrap().as_str(), "bob");
        let viewer = viewer_from_payload(
            &legacy,
            &json!({"Authorization": "Bearer YWxpY2U="}),
            Some(&header),
        );
        assert_eq!(
            viewer.user().unwrap().as_str(),
            "alice",
            "the payload first"
        );
    }

    #[test]
    fn the_first_known_subprotocol_is_spoken() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            requested_protocol(&headers),
            WebSocketProtocols::SubscriptionsTransportWS
        );
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, graphql-transport-ws"),
        );
        assert_eq!(requested_protocol(&headers), WebSocketProtocols::GraphQLWS);
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("graphql-ws"),
        );
        assert_eq!(
            requested_protocol(&headers),
            WebSocketProtocols::SubscriptionsTransportWS
        );
    }
}
