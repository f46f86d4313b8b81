//! Trends: counts and bucket alignment for 1m, 1h30m and 24h, for all
//! messages and for one hashtag; how many one-minute buckets one GraphQL
//! `trend` may cover; and that trends come from the per-minute counters,
//! not from the messages.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};

use crate::helpers::{error_codes, Backend, TestApp};
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

/// `{ fromDate toDate count }` over `[from, to)` in one-minute buckets
/// (the default aggregation), for `#day`.
const THREE_FIELDS: &str = "query($from: DateTime!, $to: DateTime!) {
  trend(hashtag: \"day\", fromDate: $from, toDate: $to) { fromDate toDate count }
}";

fn minutes_after(start: DateTime<Utc>, minutes: i64) -> Value {
    json!((start + Duration::minutes(minutes)).to_rfc3339())
}

/// The README: one `trend` of three fields covers "up to about 1,600
/// buckets, a day of one-minute buckets". Three fields a bucket under a
/// limit of 5,000 is 1,666 buckets: a whole day (1,440) is answered in
/// full, 1,667 and 1,700 are refused by their cost before anything runs.
async fn a_day_of_one_minute_buckets_fits_one_graphql_trend(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let day: DateTime<Utc> = "2019-09-24T00:00:00Z".parse().unwrap();
    // One post in every minute of the day, so that every bucket is there
    // to be answered (empty ones are left out).
    for minute in 0..1440 {
        app.clock
            .set(day + Duration::minutes(minute) + Duration::seconds(minute % 60));
        app.post_ok("trender", "t", &["day"]).await;
    }

    let data = app
        .graphql_data(
            THREE_FIELDS,
            json!({"from": minutes_after(day, 0), "to": minutes_after(day, 1440)}),
        )
        .await;
    let buckets = data["trend"].as_array().unwrap();
    assert_eq!(buckets.len(), 1440);
    for (minute, bucket) in (0..).zip(buckets) {
        let from = (day + Duration::minutes(minute)).to_rfc3339();
        let to = (day + Duration::minutes(minute + 1)).to_rfc3339();
        assert_eq!(bucket, &json!({"fromDate": from, "toDate": to, "count": 1}));
    }
    // REST answers the same day the same way.
    let (status, body) = app
        .get("/trend?hashtag=day&from_date=2019-09-24&to_date=2019-09-25&aggregation=1m")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rest = body["data"]["trends"].as_array().unwrap();
    assert_eq!(rest.len(), 1440);
    assert!(rest.iter().all(|bucket| bucket["count"] == 1), "{body}");

    // The last range the limit admits, and the first it refuses.
    let (status, body) = app
        .graphql(
            None,
            THREE_FIELDS,
            json!({"from": minutes_after(day, 0), "to": minutes_after(day, 1666)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["trend"].as_array().unwrap().len(), 1440);
    for (buckets, cost) in [(1667, 5001), (1700, 5100)] {
        let (status, body) = app
            .graphql(
                None,
                THREE_FIELDS,
                json!({"from": minutes_after(day, 0), "to": minutes_after(day, buckets)}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{buckets} buckets: {body}");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(error_codes(&body), ["QUERY_TOO_COMPLEX"], "{body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("the query costs {cost}; at most 5000 is allowed")),
            "{message}"
        );
    }
}

/// Runs `sql` on the server's database, behind the server's back.
async fn execute(app: &TestApp, sql: &str) {
    let db = app.store.connection();
    db.execute(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// "Trends are read from per-minute counters kept by the write path, never
/// by scanning messages": with every message deleted from the database,
/// REST and GraphQL trends answer what they answered before; with the
/// counters changed, they answer the counters.
async fn trends_are_read_from_the_counters_not_the_messages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    post_at(&app, "2019-09-23T10:00:10Z", &["rust"]).await;
    post_at(&app, "2019-09-23T10:00:50Z", &["rust", "go"]).await;
    post_at(&app, "2019-09-23T10:01:30Z", &[]).await;
    post_at(&app, "2019-09-23T10:05:00Z", &["go"]).await;

    let rest = || async {
        let mut answers = Vec::new();
        for query in [
            "hashtag=rust&from_date=2019-09-23&to_date=2019-09-24&aggregation=1m",
            "from_date=2019-09-23&to_date=2019-09-24&aggregation=1m",
        ] {
            let (status, body) = app.get(&format!("/trend?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            answers.push(buckets(&body));
        }
        answers
    };
    let graphql = || {
        app.graphql_data(
            "{ rust: trend(hashtag: \"rust\", fromDate: \"2019-09-23T10:00:00Z\", toDate: \"2019-09-23T11:00:00Z\") { fromDate count }
               all: trend(fromDate: \"2019-09-23T10:00:00Z\", toDate: \"2019-09-23T11:00:00Z\") { fromDate count }
               trendingHashtags { hashtag count } }",
            json!({}),
        )
    };
    let posted = vec![
        vec![bucket("2019-09-23T10:00:00", "2019-09-23T10:01:00", 2)],
        vec![
            bucket("2019-09-23T10:00:00", "2019-09-23T10:01:00", 2),
            bucket("2019-09-23T10:01:00", "2019-09-23T10:02:00", 1),
            bucket("2019-09-23T10:05:00", "2019-09-23T10:06:00", 1),
        ],
    ];
    assert_eq!(rest().await, posted);
    let from_posts = json!({
        "rust": [{"fromDate": "2019-09-23T10:00:00+00:00", "count": 2}],
        "all": [
            {"fromDate": "2019-09-23T10:00:00+00:00", "count": 2},
            {"fromDate": "2019-09-23T10:01:00+00:00", "count": 1},
            {"fromDate": "2019-09-23T10:05:00+00:00", "count": 1}
        ],
        "trendingHashtags": [{"hashtag": "go", "count": 2}, {"hashtag": "rust", "count": 2}]
    });
    assert_eq!(graphql().await, from_posts);

    // No message left to scan: the trends do not change.
    execute(&app, "DELETE FROM message_hashtags").await;
    execute(&app, "DELETE FROM messages").await;
    let (_, listing) = app.get("/message").await;
    assert_eq!(listing, json!({"data": {"messages": []}}));
    assert_eq!(rest().await, posted);
    assert_eq!(graphql().await, from_posts);

    // The counters are what the trends say.
    execute(&app, "UPDATE trend_counts SET count = count * 10").await;
    assert_eq!(
        rest().await,
        vec![
            vec![bucket("2019-09-23T10:00:00", "2019-09-23T10:01:00", 20)],
            vec![
                bucket("2019-09-23T10:00:00", "2019-09-23T10:01:00", 20),
                bucket("2019-09-23T10:01:00", "2019-09-23T10:02:00", 10),
                bucket("2019-09-23T10:05:00", "2019-09-23T10:06:00", 10),
            ],
        ]
    );
    assert_eq!(
        graphql().await,
        json!({
            "rust": [{"fromDate": "2019-09-23T10:00:00+00:00", "count": 20}],
            "all": [
                {"fromDate": "2019-09-23T10:00:00+00:00", "count": 20},
                {"fromDate": "2019-09-23T10:01:00+00:00", "count": 10},
                {"fromDate": "2019-09-23T10:05:00+00:00", "count": 10}
            ],
            "trendingHashtags": [{"hashtag": "go", "count": 20}, {"hashtag": "rust", "count": 20}]
        })
    );
}

on_every_backend!(
    trends_are_read_from_the_counters_not_the_messages,
    trend_counts_and_alignment,
    a_day_of_one_minute_buckets_fits_one_graphql_trend
);
