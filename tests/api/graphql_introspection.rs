//! The standard introspection query, exactly as graphql-js 16 builds it
//! (`getIntrospectionQuery` with every option on; printed by
//! `tests/introspection/check.mjs --print-query`), is always accepted with
//! the default limits: tools such as GraphiQL and code generators send it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

/// `getIntrospectionQuery({descriptions: true, specifiedByUrl: true,
/// directiveIsRepeatable: true, schemaDescription: true,
/// inputValueDeprecation: true, oneOf: true})` from graphql 16.11.0.
pub const INTROSPECTION_QUERY: &str = include_str!("../introspection/query.graphql");

async fn the_standard_introspection_query_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.graphql(None, INTROSPECTION_QUERY, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    let schema = &body["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    let names: Vec<&str> = schema["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "Message",
        "MessageConnection",
        "TrendBucket",
        "PostMessageInput",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    // Over GET too, as GraphiQL may send it.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", INTROSPECTION_QUERY)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
}

on_every_backend!(the_standard_introspection_query_is_accepted);
