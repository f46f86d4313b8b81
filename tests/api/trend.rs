//! Trends: counts and bucket alignment for 1m, 1h30m and 24h, for all
//! messages and for one hashtag.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

/// Posts at known times (the clock only moves forward).
async fn post_at(app: &TestApp, at: &str, tags: &[&str]) {
    app.clock.set(at.parse().unwrap());
    app.post_ok("trender", "t", tags).await;
}

fn buckets(body: &Value) -> Vec<(String, String, i64)> {
    body["data"]["trends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["from_date"].as_str().unwrap().to_owned(),
                b["to_date"].as_str().unwrap().to_owned(),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn bucket(from: &str, to: &str, count: i64) -> (String, String, i64) {
    (format!("{from}.000000Z"), format!("{to}.000000Z"), count)
}

async fn trend_counts_and_alignment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    post_at(&app, "2019-09-23T10:04:05.123Z", &["a"]).await;
    post_at(&app, "2019-09-23T10:04:59.999Z", &[]).await;
    post_at(&app, "2019-09-23T10:29:00Z", &["a", "b"]).await;
    post_at(&app, "2019-09-23T10:31:00Z", &["A"]).await;
    post_at(&app, "2019-09-23T11:59:00Z", &["b"]).await;
    post_at(&app, "2019-09-23T12:01:00Z", &["a"]).await;
    post_at(&app, "2019-09-24T00:00:00Z", &[]).await;

    let trend = |query: &'static str| {
        let app = &app;
        async move {
            let (status, body) = app.get(&format!("/trend?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            buckets(&body)
        }
    };

    // 1m: only the non-empty minutes, each [start, start + 1m).
    assert_eq!(
        trend("from_date=2019-09-23T10:00:00Z&to_date=2019-09-23T10:30:00Z&aggregation=1m").await,
        vec![
            bucket("2019-09-23T10:04:00", "2019-09-23T10:05:00", 2),
            bucket("2019-09-23T10:29:00", "2019-09-23T10:30:00", 1),
        ]
    );
    // 1h30m buckets are aligned to multiples of 90 minutes since the epoch:
    // 09:00, 10:30, 12:00 on that day. A range starting mid-bucket still
    // answers the whole bucket.
    assert_eq!(
        trend("from_date=2019-09-23T10:00:00Z&to_date=2019-09-23T13:00:00Z&aggregation=1h30m")
            .await,
        vec![
            bucket("2019-09-23T09:00:00", "2019-09-23T10:30:00", 3),
            bucket("2019-09-23T10:30:00", "2019-09-23T12:00:00", 2),
            bucket("2019-09-23T12:00:00", "2019-09-23T13:30:00", 1),
        ]
    );
    // 24h buckets are whole UTC days.
    assert_eq!(
        trend("from_date=2019-09-23&to_date=2019-09-25&aggregation=24h").await,
        vec![
            bucket("2019-09-23T00:00:00", "2019-09-24T00:00:00", 6),
            bucket("2019-09-24T00:00:00", "2019-09-25T00:00:00", 1),
        ]
    );
    // One hashtag, matched whatever its case.
    assert_eq!(
        trend("hashtag=A&from_date=2019-09-23&to_date=2019-09-24&aggregation=1h30m").await,
        vec![
            bucket("2019-09-23T09:00:00", "2019-09-23T10:30:00", 2),
            bucket("2019-09-23T10:30:00", "2019-09-23T12:00:00", 1),
            bucket("2019-09-23T12:00:00", "2019-09-23T13:30:00", 1),
        ]
    );
    // A tag nobody used, and a range with nothing in it.
    assert_eq!(
        trend("hashtag=none&from_date=2019-09-23&to_date=2019-09-24&aggregation=1m").await,
        vec![]
    );
    assert_eq!(
        trend("from_date=2020-01-01&to_date=2020-01-02&aggregation=15m").await,
        vec![]
    );
    let (_, body) = app
        .get("/trend?from_date=2020-01-01&to_date=2020-01-02&aggregation=15m")
        .await;
    assert_eq!(body, json!({"data": {"trends": []}}));
}

on_every_backend!(trend_counts_and_alignment);
