//! GraphQL over WebSocket at `/graphql/ws`: `graphql-transport-ws` and the
//! legacy `graphql-ws` subprotocol. The token comes in the
//! `connection_init` payload (`{"Authorization": "Bearer ..."}`); queries
//! and mutations run over the socket as over HTTP.

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use serde_json::Value;

use super::{GraphqlState, Viewer};

pub async fn upgrade(
    State(state): State<GraphqlState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, state.schema, protocol)
                .on_connection_init(|payload| async move {
                    let mut data = Data::default();
                    data.insert(viewer_from_payload(&payload));
                    Ok(data)
                })
                .serve()
        })
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
    use serde_json::json;

    #[test]
    fn the_token_is_found_whatever_its_key_case() {
        let viewer = viewer_from_payload(&json!({"authorization": "Bearer YWxpY2U="}));
        assert_eq!(viewer.user().unwrap().as_str(), "alice");
        assert!(viewer_from_payload(&json!({})).user().is_err());
        assert!(viewer_from_payload(&Value::Null).user().is_err());
    }
}
