//! The analysis on the documents hostile clients send: each refused with
//! its code, and the work done growing with the document's size only.

use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::Variables;
use serde_json::json;

use super::*;
use crate::graphql::errors::{
    GRAPHQL_VALIDATION_FAILED, INTROSPECTION_TOO_DEEP, QUERY_TOO_DEEP, TOO_MANY_ALIASES,
    TOO_MANY_DIRECTIVES, TOO_MANY_FIELDS, VALUES_TOO_DEEP,
};

/// The standard introspection query, as graphql-js 16 builds it.
const INTROSPECTION: &str = include_str!("../../../tests/introspection/query.graphql");

fn defaults() -> GraphqlLimits {
    GraphqlLimits::default()
}

/// Limits that refuse nothing, to measure the work on any document.
fn unbounded() -> GraphqlLimits {
    GraphqlLimits {
        max_depth: usize::MAX / 4,
        max_introspection_depth: usize::MAX / 4,
        max_complexity: usize::MAX,
        max_request_complexity: usize::MAX,
        max_aliases: usize::MAX,
        max_fields: usize::MAX,
        max_tokens: usize::MAX,
        max_value_depth: usize::MAX,
        max_directives: usize::MAX,
        max_document_directives: usize::MAX,
        max_batch: usize::MAX,
        max_query_bytes: usize::MAX,
    }
}

fn code(query: &str, limits: &GraphqlLimits) -> Option<&'static str> {
    match check(query, &Variables::default(), None, limits) {
        Ok(_) => None,
        Err(Rejection::Limit(refusal)) => Some(refusal.code),
        Err(Rejection::Parse(error)) => panic!("{query}: {error:?}"),
    }
}

/// Each fragment spreads the next twice; the last selects `__typename`.
fn fan_out(levels: usize) -> String {
    let mut text = String::from("{...F0}");
    for i in 0..levels {
        text.push_str(&format!(
            "fragment F{i} on Query{{...F{} ...F{}}}",
            i + 1,
            i + 1
        ));
    }
    text.push_str(&format!("fragment F{levels} on Query{{__typename}}"));
    text
}

/// `levels` fields, each inside the previous one.
fn nested(levels: usize) -> String {
    format!("{}{}", "{a".repeat(levels), "}".repeat(levels))
}

/// One field holding `count` leaf fields.
fn wide(count: usize) -> String {
    format!("{{a{{{}}}}}", "b ".repeat(count))
}

/// The structural pass's visits over `query`, with nothing refused.
fn visits(query: &str) -> u64 {
    match check(query, &Variables::default(), None, &unbounded()) {
        Ok(analysed) => analysed.shape.visits,
        Err(error) => panic!("{error:?}"),
    }
}

#[test]
fn the_fragment_fan_out_is_refused_at_once() {
    let query = fan_out(26);
    assert!(query.len() < 1024, "{} bytes", query.len());
    let started = Instant::now();
    let refusal = match check(&query, &Variables::default(), None, &defaults()) {
        Err(Rejection::Limit(refusal)) => refusal,
        other => panic!("{other:?}"),
    };
    let took = started.elapsed();
    assert_eq!(refusal.code, TOO_MANY_FIELDS);
    assert!(
        refusal.message.contains("67108864") && refusal.message.contains("2000"),
        "{}",
        refusal.message
    );
    eprintln!(
        "fan-out of 26 levels ({} bytes) refused in {took:?}",
        query.len()
    );
    assert!(took.as_secs_f64() < 1.0);
}

#[test]
fn the_work_grows_linearly_with_the_document() {
    type Build = fn(usize) -> String;
    let documents: [(&str, Build, usize); 3] = [
        ("fragment fan-out", fan_out, 100),
        ("deep nesting", nested, 15),
        ("many tokens", wide, 2000),
    ];
    for (name, build, n) in documents {
        let base = visits(&build(n));
        let double = visits(&build(2 * n));
        let quadruple = visits(&build(4 * n));
        eprintln!("{name}: {base} / {double} / {quadruple} visits at N, 2N, 4N");
        assert!(
            double as f64 <= 2.25 * base as f64,
            "{name}: {base} then {double}"
        );
        assert!(
            quadruple as f64 <= 4.5 * base as f64,
            "{name}: {base} then {quadruple}"
        );
    }
}

#[test]
fn the_worst_documents_within_the_size_limit_are_checked_quickly() {
    let limits = defaults();
    let max = limits.max_query_bytes;
    let fan_out_in_bytes = {
        let mut levels = 1;
        while fan_out(levels + 1).len() <= max {
            levels += 1;
        }
        fan_out(levels)
    };
    // As many fragments as the token limit allows, each spreading the
    // next twice: refused after the parse, by the structural pass.
    let fan_out_in_tokens = {
        let mut levels = 1;
        while scan(&fan_out(levels + 1), &limits).is_ok() {
            levels += 1;
        }
        fan_out(levels)
    };
    let deep = {
        let levels = max / 3;
        format!("{}{}", "{a".repeat(levels), "}".repeat(levels))
    };
    let tokens = format!("{{a{{{}}}}}", "b ".repeat(max / 2 - 4));
    let chain = {
        let mut text = String::from("{...F0}");
        let mut i = 0;
        while text.len() < max - 64 {
            text.push_str(&format!("fragment F{i} on Query{{...F{} a}}", i + 1));
            i += 1;
        }
        text.push_str(&format!("fragment F{i} on Query{{a}}"));
        text
    };
    for (name, query) in [
        ("fan-out", fan_out_in_bytes),
        ("fan-out within the token limit", fan_out_in_tokens),
        ("deep", deep),
        ("tokens", tokens),
        ("fragment chain", chain),
    ] {
        assert!(query.len() <= max, "{name}: {}", query.len());
        let started = Instant::now();
        let outcome = check(&query, &Variables::default(), None, &limits);
        let took = started.elapsed();
        let code = match outcome {
            Ok(_) => "accepted",
            Err(Rejection::Limit(refusal)) => refusal.code,
            Err(Rejection::Parse(_)) => "parse error",
        };
        // Of which the parse, when the lexical pass lets it through.
        let parse = scan(&query, &limits).ok().map(|_| {
            let started = Instant::now();
            let _ = async_graphql::parser::parse_query(&query);
            started.elapsed()
        });
        eprintln!(
            "{name} ({} bytes): {code} in {took:?} (parse: {parse:?})",
            query.len()
        );
        assert_ne!(code, "accepted", "{name}");
        assert!(took.as_secs_f64() < 1.0, "{name}: {took:?}");
    }
}

#[test]
fn the_standard_introspection_query_is_accepted() {
    assert!(INTROSPECTION.contains("query IntrospectionQuery"));
    let started = Instant::now();
    let analysed = check(INTROSPECTION, &Variables::default(), None, &defaults())
        .unwrap_or_else(|error| panic!("{error:?}"));
    eprintln!(
        "introspection query: {} tokens, {} visits, checked in {:?}",
        analysed.lexed.tokens,
        analysed.shape.visits,
        started.elapsed()
    );
    assert_eq!(analysed.shape.operation, Some(OperationType::Query));
}

#[test]
fn depth_counts_fields_through_fragments_and_leaves_introspection_to_its_own_limit() {
    let limits = GraphqlLimits {
        max_depth: 3,
        max_introspection_depth: 5,
        ..defaults()
    };
    // a b c: three deep, through two fragments.
    let within = "{ a { ...F } } fragment F on X { b { ...G } } fragment G on X { c }";
    assert_eq!(code(within, &limits), None);
    let deeper = "{ a { ...F } } fragment F on X { b { ...G } } fragment G on X { c { d } }";
    assert_eq!(code(deeper, &limits), Some(QUERY_TOO_DEEP));
    // Below __schema only the introspection limit counts.
    let introspection = "{ __schema { types { fields { type { name } } } } }";
    assert_eq!(code(introspection, &limits), None);
    // Written out, the text itself nests past both limits: the lexical
    // pass refuses it before anything is parsed.
    let too_deep = "{ __schema { types { fields { type { ofType { name } } } } } }";
    assert_eq!(code(too_deep, &limits), Some(QUERY_TOO_DEEP));
    // Through a fragment the text stays shallow; expanded, it passes the
    // introspection limit.
    let through_fragment = "{ __schema { ...T } } \
        fragment T on __Schema { types { fields { type { ofType { name } } } } }";
    assert_eq!(
        code(through_fragment, &limits),
        Some(INTROSPECTION_TOO_DEEP)
    );
    // A sibling of __schema still counts against max_depth.
    let sibling = "{ __schema { types { name } } a { b { c { d } } } }";
    assert_eq!(code(sibling, &limits), Some(QUERY_TOO_DEEP));
}

#[test]
fn aliases_and_root_fields_are_counted_with_fragments_expanded() {
    let limits = GraphqlLimits {
        max_aliases: 4,
        ..defaults()
    };
    // Root fields a, b (through F, once per spread) and aliases x, y.
    assert_eq!(
        code(
            "{ a ...F } fragment F on Query { b x: c { y: d } }",
            &limits
        ),
        None
    );
    assert_eq!(
        code("{ a ...F ...F } fragment F on Query { b x: c }", &limits),
        Some(TOO_MANY_ALIASES)
    );
}

#[test]
fn writes_are_the_root_fields_of_the_mutation_run() {
    let variables = Variables::default();
    let query = "query Q { a } mutation M { a: post b: post ...P __typename }
                 fragment P on Mutation { c: post }";
    let shape = |name| {
        check(query, &variables, name, &defaults())
            .map(|analysed| analysed.shape)
            .unwrap()
    };
    let mutation = shape(Some("M"));
    assert_eq!(mutation.operation, Some(OperationType::Mutation));
    assert_eq!(mutation.writes, 3);
    assert_eq!(shape(Some("Q")).writes, 0);
    assert_eq!(shape(None).operation, None);
}

#[test]
fn fragment_cycles_are_refused_before_anything_walks_them() {
    let refusal = match check(
        "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { a ...A }",
        &Variables::default(),
        None,
        &defaults(),
    ) {
        Err(Rejection::Limit(refusal)) => refusal,
        other => panic!("{other:?}"),
    };
    assert_eq!(refusal.code, GRAPHQL_VALIDATION_FAILED);
    assert!(
        refusal.message.contains("spreads itself"),
        "{}",
        refusal.message
    );
    // An unused cycle too.
    assert_eq!(
        code("{ a } fragment A on Query { ...A }", &defaults()),
        Some(GRAPHQL_VALIDATION_FAILED)
    );
}

#[test]
fn directives_are_limited_per_field_and_per_spread() {
    let limits = GraphqlLimits {
        max_directives: 2,
        ..defaults()
    };
    assert_eq!(
        code("{ a @skip(if: false) @include(if: true) }", &limits),
        None
    );
    assert_eq!(code("{ a @a @b @c }", &limits), Some(TOO_MANY_DIRECTIVES));
    assert_eq!(
        code("{ ...F @a @b @c } fragment F on Query { a }", &limits),
        Some(TOO_MANY_DIRECTIVES)
    );
}

#[test]
fn variables_are_limited_in_depth() {
    let deep = json!({"v": [[[[[[[[[1]]]]]]]]]});
    let ok = json!({"v": [[[[[[[[1]]]]]]]], "w": {"a": {"b": "c"}}});
    let run = |variables: serde_json::Value| {
        check(
            "query($v: Int) { a(v: $v) }",
            &Variables::from_json(variables),
            None,
            &defaults(),
        )
    };
    match run(deep) {
        Err(Rejection::Limit(refusal)) => {
            assert_eq!(refusal.code, VALUES_TOO_DEEP);
            assert!(
                refusal.message.starts_with("variable $v:"),
                "{}",
                refusal.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(run(ok).is_ok());
}
