//! The server's messages of the two subprotocols, `graphql-transport-ws`
//! and the legacy `graphql-ws` (subscriptions-transport-ws), as
//! async-graphql's protocol machine words them, so that clients see no
//! difference; the client's messages are async-graphql's own
//! [`ClientMessage`](async_graphql::http::ClientMessage).
//!
//! A result frame is written around a payload serialized beforehand: a
//! message's payload is shared by every subscriber of its selection, and
//! only the operation id and the message type differ between them.

use async_graphql::http::WebSocketProtocols;

pub const CONNECTION_ACK: &str = r#"{"type":"connection_ack"}"#;
pub const PONG: &str = r#"{"type":"pong"}"#;

/// The longest close reason a close frame carries (RFC 6455: 125 bytes
/// of payload, two of them the code).
const MAX_CLOSE_REASON: usize = 123;

/// A result of operation `id`: `next` (`data` in the legacy protocol)
/// with `payload`, a serialized GraphQL response.
pub fn next(protocol: WebSocketProtocols, id: &str, payload: &str) -> String {
    let kind = match protocol {
        WebSocketProtocols::GraphQLWS => "next",
        WebSocketProtocols::SubscriptionsTransportWS => "data",
    };
    let id = json_string(id);
    let mut frame = String::with_capacity(payload.len() + id.len() + 40);
    frame.push_str(r#"{"type":""#);
    frame.push_str(kind);
    frame.push_str(r#"","id":"#);
    frame.push_str(&id);
    frame.push_str(r#","payload":"#);
    frame.push_str(payload);
    frame.push('}');
    frame
}

/// Operation `id` is over.
pub fn complete(id: &str) -> String {
    format!(r#"{{"type":"complete","id":{}}}"#, json_string(id))
}

/// The legacy protocol's refusal of the connection.
pub fn connection_error(message: &str) -> String {
    format!(
        r#"{{"type":"connection_error","payload":{{"message":{}}}}}"#,
        json_string(message)
    )
}

/// `reason` cut to what a close frame carries, on a character boundary.
pub fn close_reason(reason: &str) -> &str {
    if reason.len() <= MAX_CLOSE_REASON {
        return reason;
    }
    let mut end = MAX_CLOSE_REASON;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(frame: &str) -> Value {
        serde_json::from_str(frame).expect("a JSON frame")
    }

    #[test]
    fn frames_are_the_protocols_json() {
        let payload = r#"{"data":{"messagePosted":{"text":"hi"}}}"#;
        let expected = |kind: &str| json!({"type": kind, "id": "a\"b", "payload": {"data": {"messagePosted": {"text": "hi"}}}});
        assert_eq!(
            parse(&next(WebSocketProtocols::GraphQLWS, "a\"b", payload)),
            expected("next")
        );
        assert_eq!(
            parse(&next(
                WebSocketProtocols::SubscriptionsTransportWS,
                "a\"b",
                payload
            )),
            expected("data")
        );
        assert_eq!(
            parse(&complete("7")),
            json!({"type": "complete", "id": "7"})
        );
        assert_eq!(
            parse(&connection_error("no")),
            json!({"type": "connection_error", "payload": {"message": "no"}})
        );
        assert_eq!(parse(CONNECTION_ACK), json!({"type": "connection_ack"}));
        assert_eq!(parse(PONG), json!({"type": "pong"}));
    }

    #[test]
    fn close_reasons_are_cut_on_a_character() {
        assert_eq!(close_reason("short"), "short");
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(cut.len() <= MAX_CLOSE_REASON && cut.len() >= MAX_CLOSE_REASON - 1);
        assert!(long.starts_with(cut));
    }
}
