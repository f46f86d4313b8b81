//! `dunder trend`: the chart's rows and counts, and `--json`'s buckets,
//! for messages posted minutes ago.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{assert_exit, dunder, json_lines, stdout};
use crate::helpers::{Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

on_every_backend!(trend_draws_the_counts_of_each_minute);

async fn trend_draws_the_counts_of_each_minute(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let now = Utc::now();
    let app = TestApp::spawn_on(database, TestClock::at(now), |_| {}).await;
    let server = app.address.as_str();
    let minute = |t: DateTime<Utc>| t.duration_trunc(Duration::minutes(1)).expect("a minute");
    // Three #rust messages ten minutes ago, one #rust and one #go three
    // minutes ago.
    let ten = now - Duration::minutes(10);
    let three = now - Duration::minutes(3);
    app.clock.set(ten);
    for _ in 0..3 {
        app.post_ok("alice", "hello #rust", &[]).await;
    }
    app.clock.set(three);
    app.post_ok("bob", "more #rust", &[]).await;
    app.post_ok("bob", "and #go", &[]).await;

    let output = dunder(
        &[
            "trend", "--since", "15m", "--every", "1m", "--json", "--server", server,
        ],
        &[],
    )
    .await;
    assert_exit(&output, 0, "");
    let buckets = json_lines(&output);
    // 15 minutes of one-minute buckets: 15, or 16 when the range starts
    // inside a minute.
    assert!((15..=16).contains(&buckets.len()), "{buckets:?}");
    let count_at = |buckets: &[serde_json::Value], t: DateTime<Utc>| -> i64 {
        let from = t.format("%Y-%m-%dT%H:%M:00.000000Z").to_string();
        buckets
            .iter()
            .find(|b| b["from_date"] == from.as_str())
            .unwrap_or_else(|| panic!("no bucket from {from} in {buckets:?}"))["count"]
            .as_i64()
            .expect("a count")
    };
    assert_eq!(count_at(&buckets, minute(ten)), 3);
    assert_eq!(count_at(&buckets, minute(three)), 2);
    let total: i64 = buckets
        .iter()
        .map(|b| b["count"].as_i64().unwrap_or(-1))
        .sum();
    assert_eq!(total, 5, "every other bucket is zero: {buckets:?}");

    let output = dunder(
        &[
            "trend",
            "--hashtag",
            "rust",
            "--since",
            "15m",
            "--json",
            "--server",
            server,
        ],
        &[],
    )
    .await;
    let buckets = json_lines(&output);
    assert_eq!(count_at(&buckets, minute(three)), 1);

    // The chart: one row per bucket, time, bar, count, within COLUMNS.
    let output = dunder(
        &[
            "trend", "--since", "15m", "--every", "1m", "--server", server,
        ],
        &[("COLUMNS", "50")],
    )
    .await;
    assert_exit(&output, 0, "");
    let text = stdout(&output);
    let rows: Vec<&str> = text.lines().collect();
    assert!((15..=16).contains(&rows.len()), "{text}");
    let row = |t: DateTime<Utc>| -> &str {
        let label = t.format("%H:%M ").to_string();
        rows.iter()
            .find(|r| r.starts_with(&label))
            .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
    };
    let full = format!("{} 3", "█".repeat(50 - 6 - 2));
    assert_eq!(
        row(minute(ten)),
        format!("{} {full}", minute(ten).format("%H:%M"))
    );
    let two = row(minute(three));
    assert_eq!(two.matches('█').count(), 28, "two thirds of 42: {two}");
    assert!(two.ends_with(" 2"), "{two}");
    assert_eq!(
        rows.iter().filter(|r| r.ends_with(" 0")).count(),
        rows.len() - 2
    );
    assert!(rows.iter().all(|r| r.chars().count() == 50), "{text}");

    // Durations are checked before anything is sent.
    let output = dunder(&["trend", "--every", "30s", "--server", server], &[]).await;
    assert_exit(&output, 2, "--every");
    let output = dunder(&["trend", "--since", "soon", "--server", server], &[]).await;
    assert_exit(&output, 2, "--since");
}
