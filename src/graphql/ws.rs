//! GraphQL over WebSocket at `/graphql/ws`: `graphql-transport-ws` and the
//! legacy `graphql-ws` subprotocol, through async-graphql's protocol state
//! machine, with what a long-lived socket needs around it: the token from
//! the `connection_init` payload (`{"Authorization": "Bearer ..."}`), a
//! deadline for that `connection_init`, server keepalive pings, a cap on
//! operations in flight per connection, and a clean close (1001) on
//! shutdown. Each socket holds a live-stream slot for its whole life (taken
//! before the upgrade: a full server answers 503, a full address 429), and
//! every operation on it spends the viewer's and the address's rate limits.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::http::{
    WebSocket as ProtocolMachine, WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS,
};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::{future, SinkExt, StreamExt};
use serde_json::{json, Value};

use super::budget::OperationBudget;
use super::errors::TOO_MANY_STREAMS;
use super::{ClientAddress, DunderSchema, Viewer};
use crate::guard::{client_address, Guards, StreamRefusal, StreamSlot};
use crate::live::Live;

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
    // The request-body limit holds for socket messages too.
    upgrade
        .max_message_size(crate::rest::MAX_BODY_BYTES)
        .max_frame_size(crate::rest::MAX_BODY_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let peer = Peer {
                protocol,
                address,
                slot,
            };
            serve(socket, schema, live, guards, peer)
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
}

/// Serves one socket.
async fn serve(socket: WebSocket, schema: DunderSchema, live: Live, guards: Guards, peer: Peer) {
    let Peer {
        protocol,
        address,
        slot: _slot,
    } = peer;
    let settings = *live.settings();
    let (mut sink, source) = socket.split();
    let input = source
        .take_while(|frame| future::ready(frame.is_ok()))
        .filter_map(|frame| {
            future::ready(match frame {
                Ok(Message::Text(text)) => Some(axum::body::Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let initialized = Arc::new(AtomicBool::new(false));
    let init_flag = initialized.clone();
    let max_operations = settings.max_operations;
    let mut outgoing = ProtocolMachine::new(schema, input, protocol)
        .on_connection_init(move |payload| async move {
            let mut data = Data::default();
            data.insert(viewer_from_payload(&payload));
            data.insert(OperationBudget::new(max_operations));
            data.insert(ClientAddress(address));
            data.insert(guards);
            init_flag.store(true, Ordering::Relaxed);
            Ok(data)
        })
        .keepalive_timeout(None);

    let period = settings.keepalive_interval;
    let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let init_deadline = tokio::time::sleep(settings.connection_init_timeout);
    let shutting_down = live.shutting_down();
    tokio::pin!(init_deadline, shutting_down);
    loop {
        tokio::select! {
            message = outgoing.next() => match message {
                Some(WsMessage::Text(text)) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = sink.send(close(code, &reason)).await;
                    break;
                }
                None => break,
            },
            _ = keepalive.tick() => {
                if sink.send(Message::Text(keepalive_message(protocol).into())).await.is_err() {
                    break;
                }
            }
            _ = &mut init_deadline, if !initialized.load(Ordering::Relaxed) => {
                let _ = sink.send(close(4408, "Connection initialisation timeout")).await;
                break;
            }
            _ = &mut shutting_down => {
                let _ = sink.send(close(1001, "server shutting down")).await;
                break;
            }
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

/// The `Authorization` entry of a `connection_init` payload, whatever its
/// case (clients differ).
fn viewer_from_payload(payload: &Value) -> Viewer {
    let authorization = payload.as_object().and_then(|map| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| value.as_str())
    });
    Viewer::from_authorization(authorization)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::json;

    #[test]
    fn the_token_is_found_whatever_its_key_case() {
        let viewer = viewer_from_payload(&json!({"authorization": "Bearer YWxpY2U="}));
        assert_eq!(viewer.user().unwrap().as_str(), "alice");
        assert!(viewer_from_payload(&json!({})).user().is_err());
        assert!(viewer_from_payload(&Value::Null).user().is_err());
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
