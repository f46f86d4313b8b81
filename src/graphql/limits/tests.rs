//! The request guard on the real schema, without a database: what it
//! refuses and how fast async-graphql's own passes are on the heaviest
//! documents admission lets through (validation only: the first pass of
//! a batch runs nothing).

use std::time::Instant;

use async_graphql::{Request, Schema};

use super::*;
use crate::graphql::mutation::MutationRoot;
use crate::graphql::query::QueryRoot;
use crate::graphql::subscription::SubscriptionRoot;
use crate::graphql::{analysis, DunderSchema};

const INTROSPECTION: &str = include_str!("../../../tests/introspection/query.graphql");

fn schema(limits: GraphqlLimits) -> DunderSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .limit_recursive_depth(analysis::nesting_cap(&limits))
        .extension(RequestGuardFactory(limits))
        .finish()
}

fn codes(response: &Response) -> Vec<String> {
    response
        .errors
        .iter()
        .map(|error| {
            error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .map(|code| code.to_string().trim_matches('"').to_owned())
                .unwrap_or_default()
        })
        .collect()
}

/// Admission and validation only.
async fn preflight(schema: &DunderSchema, query: &str) -> Response {
    schema
        .execute(Request::new(query).data(CostPhase::Preflight))
        .await
}

#[tokio::test]
async fn the_standard_introspection_query_runs_with_default_limits() {
    let schema = schema(GraphqlLimits::default());
    let started = Instant::now();
    let response = schema.execute(INTROSPECTION).await;
    eprintln!("introspection answered in {:?}", started.elapsed());
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let types = &response.data.into_json().unwrap()["__schema"]["types"];
    assert!(types.as_array().is_some_and(|t| t.len() > 10));
}

#[tokio::test]
async fn complexity_is_compared_by_number_and_added_up_per_request() {
    let schema = schema(GraphqlLimits::default());
    let nested = "{ messages(first: 100) { edges { node { user { messages(first: 100) { edges { node { id } } } } } } } }";
    assert_eq!(
        codes(&preflight(&schema, nested).await),
        [QUERY_TOO_COMPLEX]
    );
    // 30 trends of 10,000 buckets.
    let trends: String = (0..30)
        .map(|i| format!("t{i}: trend(fromDate: \"2000-01-01T00:00:00Z\", toDate: \"2000-01-07T22:40:00Z\") {{ count }} "))
        .collect();
    assert_eq!(
        codes(&preflight(&schema, &format!("{{ {trends} }}")).await),
        [QUERY_TOO_COMPLEX]
    );
    // Variables count too: 10,000 one-minute buckets.
    let response = schema
        .execute(
            Request::new("query($to: DateTime!) { trend(fromDate: \"2000-01-01T00:00:00Z\", toDate: $to) { fromDate toDate count } }")
                .variables(async_graphql::Variables::from_json(
                    serde_json::json!({"to": "2000-01-07T22:40:00Z"}),
                ))
                .data(CostPhase::Preflight),
        )
        .await;
    assert_eq!(codes(&response), [QUERY_TOO_COMPLEX]);
    // Each operation within its limit, the request over its own.
    let cost = RequestCost::new(5);
    let cheap = "{ __schema { types { fields { name } } } }";
    for expected in [vec![], vec![REQUEST_TOO_COMPLEX.to_owned()]] {
        let request = Request::new(cheap)
            .data(cost.clone())
            .data(CostPhase::Check);
        assert_eq!(codes(&schema.execute(request).await), expected);
    }
}

#[tokio::test]
async fn the_heaviest_admitted_documents_validate_quickly() {
    let limits = GraphqlLimits::default();
    let schema = schema(limits);
    // As many fields as admission allows: one level, and fanned out
    // through fragments (2^10 fields from 11 fragments).
    let wide = format!(
        "{{ message(id: \"x\") {{ {} }} }}",
        "text ".repeat(limits.max_fields - 2)
    );
    let mut fan_out = String::from("{ message(id: \"x\") { ...F0 } }");
    for i in 0..10 {
        fan_out.push_str(&format!(
            "fragment F{i} on Message {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    fan_out.push_str("fragment F10 on Message { text }");
    // Same-named fields with differing arguments, compared pairwise by
    // the rule that fields must merge.
    let conflicting = format!(
        "{{ user(name: \"x\") {{ {} }} }}",
        (0..300)
            .map(|i| format!("messages(first: {}) {{ edges {{ cursor }} }} ", i % 100 + 1))
            .collect::<String>()
    );
    let introspection_twice =
        format!("{INTROSPECTION} query Again {{ __schema {{ types {{ ...FullType }} }} }}");
    for (name, query) in [
        ("wide", wide.as_str()),
        ("fan-out", fan_out.as_str()),
        ("conflicting", conflicting.as_str()),
        ("introspection", INTROSPECTION),
        ("introspection twice", introspection_twice.as_str()),
    ] {
        let started = Instant::now();
        let response = preflight(&schema, query).await;
        let took = started.elapsed();
        let codes = codes(&response);
        eprintln!(
            "{name}: {} errors {:?} in {took:?}",
            codes.len(),
            codes.first()
        );
        assert!(took.as_secs_f64() < 1.0, "{name}: {took:?}");
    }
}

/// The one message of async-graphql that Dunder reads (see
/// [`INPUT_VALUE_ERROR_PREFIX`]), made by async-graphql itself, for a
/// scalar and for a value a custom scalar refuses.
#[test]
fn async_graphql_still_words_input_errors_as_pinned() {
    use async_graphql::{InputValueError, Pos};
    let date = InputValueError::<chrono::DateTime<chrono::Utc>>::custom("premature end of input")
        .into_server_error(Pos::default());
    let number = InputValueError::<i32>::custom("out of range").into_server_error(Pos::default());
    for error in [date, number] {
        assert!(is_input_value_error(&error), "{}", error.message);
        assert_eq!(input_or(&error, INTERNAL_SERVER_ERROR), BAD_USER_INPUT);
    }
    let fault = ServerError::new("something broke", None);
    assert_eq!(
        input_or(&fault, INTERNAL_SERVER_ERROR),
        INTERNAL_SERVER_ERROR
    );
}

/// A malformed `DateTime` literal, refused as the field runs, is the
/// client's input, coded as such.
#[tokio::test]
async fn a_malformed_scalar_is_bad_user_input() {
    let response = schema(GraphqlLimits::default())
        .execute("{ trend(fromDate: \"garbage\", toDate: \"2019-09-23T10:00:00Z\") { count } }")
        .await;
    assert_eq!(
        codes(&response),
        ["BAD_USER_INPUT"],
        "{:?}",
        response.errors
    );
}
