//! Health, readiness, metrics and unknown routes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.get("/healthz").await,
        (StatusCode::OK, json!({"data": {"status": "ok"}}))
    );
    assert_eq!(
        app.get("/readyz").await,
        (StatusCode::OK, json!({"data": {"status": "ready"}}))
    );

    app.post_ok("alice", "counted", &[]).await;
    assert_eq!(app.metric("dunder_messages_posted_total").await, 1);

    let (status, body) = app.get("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no route for GET /nowhere");

    // A known route with a method it does not take: 405 in the same envelope.
    let response = app.client.delete(app.url("/message")).send().await.unwrap();
    let (status, body) = crate::helpers::read(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "/message does not take DELETE");
}

/// `/readyz` answers 503 once the database is gone.
async fn readiness_fails_without_the_database(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.store.connection().clone().close().await.unwrap();
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "database unavailable");
}

on_every_backend!(health_and_readiness, readiness_fails_without_the_database);
