//! Signed tokens (`auth.mode jwt`): issued by `dunder token`, taken with the
//! same rules and the same errors over REST, GraphQL over HTTP, a
//! WebSocket's `connection_init` and the WebSocket upgrade's own
//! `Authorization` header; a read token reads but cannot post; the
//! historical token is refused unless the mode takes it.

use std::path::Path;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsFrame;

use dunder::config::AuthMode;

use crate::helpers::{error_codes, read, token, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

const SECRET: &str = "a secret of more than thirty-two bytes, for tests only";

/// `dunder token` with the key in `dir`, for `user`; its stdout.
fn issue(dir: &Path, args: &[&str]) -> std::process::Output {
    let key = dir.join("jwt.key");
    std::process::Command::new(env!("CARGO_BIN_EXE_dunder"))
        .args(["--auth.mode", "jwt", "--auth.jwt_key_file"])
        .arg(&key)
        .args(["--auth.jwt_audience", "dunder-tests", "token"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run dunder token")
}

fn issued(dir: &Path, user: &str, scope: &str) -> String {
    let output = issue(dir, &["--user", user, "--scope", scope, "--ttl", "1h"]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A server taking signed tokens (HS256, audience `dunder-tests`) with
/// `mode`, and the directory of its key.
async fn server(backend: Backend, mode: AuthMode) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("jwt.key");
    std::fs::write(&key, format!("{SECRET}\n")).unwrap();
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::system(), |flags| {
        flags.auth_mode = Some(mode);
        flags.auth_jwt_key_file = Some(key.clone());
        flags.auth_jwt_audience = Some("dunder-tests".to_owned());
    })
    .await;
    (app, dir)
}

async fn rest_post(app: &TestApp, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url("/message"))
        .json(&json!({"text": "signed #jwt", "hashtags": []}));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    read(request.send().await.unwrap()).await
}

const POST: &str = "mutation { postMessage(input: {text: \"over graphql\"}) { user { name } } }";

async fn graphql_post(app: &TestApp, authorization: Option<&str>) -> Value {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("Accept", "application/graphql-response+json")
        .json(&json!({ "query": POST }));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    read(request.send().await.unwrap()).await.1
}

/// The payload of `postMessage` over `graphql-transport-ws`, the token in
/// the `connection_init` payload or in the upgrade request's header.
async fn ws_post(app: &TestApp, in_payload: Option<&str>, in_upgrade: Option<&str>) -> Value {
    ws_post_over(app, "graphql-transport-ws", in_payload, in_upgrade).await
}

/// The same over `protocol` (`graphql-transport-ws`, or the older
/// `graphql-ws` of subscriptions-transport-ws).
async fn ws_post_over(
    app: &TestApp,
    protocol: &str,
    in_payload: Option<&str>,
    in_upgrade: Option<&str>,
) -> Value {
    let address = app.address.trim_start_matches("http://");
    let mut request = format!("ws://{address}/graphql/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    if let Some(value) = in_upgrade {
        request
            .headers_mut()
            .insert("Authorization", value.parse().unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let payload = match in_payload {
        Some(value) => json!({ "Authorization": value }),
        None => json!({}),
    };
    let send = |message: Value| WsFrame::Text(message.to_string().into());
    socket
        .send(send(json!({"type": "connection_init", "payload": payload})))
        .await
        .unwrap();
    socket
        .send(send(json!({
            "id": "1",
            "type": if protocol == "graphql-ws" { "start" } else { "subscribe" },
            "payload": {"query": POST},
        })))
        .await
        .unwrap();
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("an answer within 10 s")
            .expect("the socket stays open")
            .unwrap();
        let WsFrame::Text(text) = frame else { continue };
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("next") | Some("data") => return message["payload"].clone(),
            Some("error") => return json!({ "errors": message["payload"] }),
            _ => continue,
        }
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A write token posts everywhere; a read token reads but is FORBIDDEN to
/// post (403 over REST); no token, or the historical one, is
/// UNAUTHENTICATED (401); nothing refused is written.
async fn signed_tokens_are_checked_on_every_door(backend: Backend) {
    let (app, dir) = server(backend, AuthMode::Jwt).await;
    let writer = bearer(&issued(dir.path(), "alice", "write"));
    let reader = bearer(&issued(dir.path(), "bob", "read"));
    let historical = bearer(&token("alice"));

    let (status, body) = rest_post(&app, Some(&writer)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let body = graphql_post(&app, Some(&writer)).await;
    assert_eq!(
        body["data"]["postMessage"]["user"]["name"], "alice",
        "{body}"
    );
    let body = ws_post(&app, Some(&writer), None).await;
    assert_eq!(
        body["data"]["postMessage"]["user"]["name"], "alice",
        "{body}"
    );
    let body = ws_post(&app, None, Some(&writer)).await;
    assert_eq!(
        body["data"]["postMessage"]["user"]["name"], "alice",
        "the upgrade request's header: {body}"
    );
    let footprint = app.footprint().await;

    let (status, body) = rest_post(&app, Some(&reader)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("scope read"),
        "{body}"
    );
    assert_eq!(
        error_codes(&graphql_post(&app, Some(&reader)).await),
        ["FORBIDDEN"]
    );
    assert_eq!(
        error_codes(&ws_post(&app, Some(&reader), None).await),
        ["FORBIDDEN"]
    );
    assert_eq!(
        error_codes(&ws_post(&app, None, Some(&reader)).await),
        ["FORBIDDEN"]
    );
    assert_eq!(
        error_codes(&ws_post_over(&app, "graphql-ws", Some(&reader), None).await),
        ["FORBIDDEN"],
        "the older WebSocket protocol"
    );
    // A read token reads.
    let listing = app
        .client
        .get(app.url("/message"))
        .header("Authorization", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), StatusCode::OK);

    for authorization in [Some(historical.as_str()), None, Some("Bearer not.a.token")] {
        let (status, body) = rest_post(&app, authorization).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{authorization:?}: {body}"
        );
        assert_eq!(
            error_codes(&graphql_post(&app, authorization).await),
            ["UNAUTHENTICATED"],
            "{authorization:?}"
        );
        assert_eq!(
            error_codes(&ws_post(&app, authorization, None).await),
            ["UNAUTHENTICATED"],
            "{authorization:?}"
        );
    }
    let (_, body) = rest_post(&app, Some(&historical)).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("not a signed token"),
        "{body}"
    );
    assert_eq!(
        app.footprint().await,
        footprint,
        "nothing refused was written"
    );
}

/// `both` takes either token; `legacy`, the default, refuses signed ones.
async fn both_takes_either_token_and_legacy_only_its_own(backend: Backend) {
    let (app, dir) = server(backend, AuthMode::Both).await;
    let writer = bearer(&issued(dir.path(), "alice", "write"));
    for authorization in [writer.as_str(), &bearer(&token("carol"))] {
        let (status, body) = rest_post(&app, Some(authorization)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (app, _dir) = server(backend, AuthMode::Legacy).await;
    let (status, body) = rest_post(&app, Some(&writer)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("auth.mode legacy"),
        "{body}"
    );
}

/// A token signed with `secret` in `algorithm`, with `claims`.
fn forge(claims: Value, secret: &[u8], algorithm: jsonwebtoken::Algorithm) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(algorithm),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// Forged, expired, unsigned (`alg: none`), wrongly signed and misaddressed
/// tokens are each refused, with UNAUTHENTICATED on every door (REST 401,
/// GraphQL over HTTP, both WebSocket protocols) and the reason named;
/// nothing is written. The same claims, rightly signed, post as their
/// `sub`.
async fn bad_tokens_are_refused_on_every_door(backend: Backend) {
    let (app, _dir) = server(backend, AuthMode::Jwt).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims =
        |aud: &str, exp: u64| json!({"sub": "mallory", "exp": exp, "scope": "write", "aud": aud});
    let hs256 = jsonwebtoken::Algorithm::HS256;
    let good = forge(claims("dunder-tests", exp), SECRET.as_bytes(), hs256);
    let unsigned = {
        use base64::Engine;
        let encode = |value: Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        format!(
            "{}.{}.",
            encode(json!({"alg": "none", "typ": "JWT"})),
            encode(claims("dunder-tests", exp))
        )
    };
    let footprint = app.footprint().await;
    for (token, why) in [
        (
            forge(
                claims("dunder-tests", exp),
                b"another secret that is long enough!!",
                hs256,
            ),
            "signature",
        ),
        (
            forge(claims("dunder-tests", 1_000), SECRET.as_bytes(), hs256),
            "expired",
        ),
        (unsigned, "refused"),
        (
            forge(
                claims("dunder-tests", exp),
                SECRET.as_bytes(),
                jsonwebtoken::Algorithm::HS384,
            ),
            "not signed with HS256",
        ),
        (
            forge(claims("somewhere-else", exp), SECRET.as_bytes(), hs256),
            "aud",
        ),
    ] {
        let authorization = bearer(&token);
        let (status, body) = rest_post(&app, Some(&authorization)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(why),
            "{why}: {body}"
        );
        let body = graphql_post(&app, Some(&authorization)).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{why}: {body}");
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            let body = ws_post_over(&app, protocol, Some(&authorization), None).await;
            assert_eq!(
                error_codes(&body),
                ["UNAUTHENTICATED"],
                "{why} over {protocol}: {body}"
            );
        }
    }
    assert_eq!(
        app.footprint().await,
        footprint,
        "nothing refused was written"
    );
    let authorization = bearer(&good);
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let body = ws_post_over(&app, protocol, Some(&authorization), None).await;
        assert_eq!(
            body["data"]["postMessage"]["user"]["name"], "mallory",
            "{protocol}: {body}"
        );
    }
    let (status, body) = rest_post(&app, Some(&authorization)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

on_every_backend!(
    bad_tokens_are_refused_on_every_door,
    signed_tokens_are_checked_on_every_door,
    both_takes_either_token_and_legacy_only_its_own,
);

/// `dunder token` refuses bad input in one line, exit code 2.
#[test]
fn the_token_command_refuses_bad_input_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jwt.key"), "short").unwrap();
    for (args, says) in [
        (vec!["--user", "alice"], "at least 32 bytes (got 5)"),
        (vec!["--user", "alice", "--ttl", "soon"], "--ttl"),
        (
            vec!["--user", "alice", "--scope", "admin"],
            "--scope: scope must be read or write",
        ),
        (
            vec!["--user", "al\u{200b}ice"],
            "--user: must not contain invisible",
        ),
    ] {
        let output = issue(dir.path(), &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(error.contains(says), "{args:?}: {error}");
        assert_eq!(error.trim().lines().count(), 1, "{error}");
        assert!(output.stdout.is_empty());
    }
}
