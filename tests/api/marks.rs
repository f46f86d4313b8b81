//! Low-water marks across processes: two servers in the test process share
//! one database (LISTEN/NOTIFY on PostgreSQL, the tail relay and the
//! `live_marks` table on SQLite). A feed holds a message until every live
//! process's mark has passed it, whatever the clocks say, so that "resume
//! after this id" stays exact; a process that stops announcing holds the
//! others back for its timeout, no longer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dunder::domain::MessageId;
use dunder::store::{MarkNotice, MARKS_CHANNEL};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::Value;

use crate::helpers::{
    default_start, Backend, SseClient, SseNext, TestApp, TestClock, TestDatabase,
};
use crate::on_every_backend;

/// A server on `database` with the backend's relay and `timeout` as its
/// mark timeout.
async fn server(
    database: &Arc<TestDatabase>,
    backend: Backend,
    clock: TestClock,
    timeout: Duration,
) -> TestApp {
    let relay = backend.relay();
    TestApp::spawn_on(database.clone(), clock, move |flags| {
        flags.live_relay = Some(relay);
        flags.live_tail_interval_ms = Some(50);
        flags.live_mark_timeout_ms = Some(timeout.as_millis() as u64);
    })
    .await
}

/// Waits until `app` counts `count` other processes as live, or fails.
async fn wait_for_live_processes(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.live.marks().live_processes() != count {
        assert!(
            Instant::now() < deadline,
            "{count} other processes never counted as live (have {})",
            app.live.marks().live_processes()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `app`'s hub holds `count` subscribers, or fails.
async fn wait_for_subscribers(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.live.hub().subscriber_count() != count {
        assert!(Instant::now() < deadline, "{count} subscribers never came");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The text and id of the next message on `sse`.
async fn next_text(sse: &mut SseClient) -> (String, String) {
    let event = sse.next_message().await;
    let message: Value = serde_json::from_str(&event.data).unwrap();
    (
        message["text"].as_str().unwrap().to_owned(),
        event.id.expect("an event id"),
    )
}

/// Nothing but heartbeats on `sse` for `wait`.
async fn nothing_within(sse: &mut SseClient, wait: Duration, what: &str) {
    let until = Instant::now() + wait;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match sse.next_within(left).await {
            SseNext::Timeout => return,
            SseNext::Event(event) if event.comment.is_some() => continue,
            other => panic!("{what}: expected nothing, got {other:?}"),
        }
    }
}

/// Two processes, one whose clock runs three seconds behind the other's.
/// The one ahead posts first (a larger id); a second later, longer than
/// any fixed order window of the past, the one behind posts (a smaller
/// id). Both feeds hold the larger id until the clock behind passes it,
/// then send both in id order, on both processes; a resume after the
/// first gives exactly the second. The mark timeout is far longer than
/// the test, so only the marks release anything.
async fn a_clock_seconds_behind_still_gives_id_order_and_exact_resumes(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let start = default_start();
    let behind_clock = TestClock::at(start - chrono::Duration::seconds(3));
    let long = Duration::from_secs(60);
    let ahead = server(&database, backend, TestClock::at(start), long).await;
    let behind = server(&database, backend, behind_clock.clone(), long).await;
    wait_for_live_processes(&ahead, 1).await;
    wait_for_live_processes(&behind, 1).await;

    let mut on_ahead = SseClient::open(&ahead, "hashtag=skew", None).await;
    let mut on_behind = SseClient::open(&behind, "hashtag=skew", None).await;
    wait_for_subscribers(&ahead, 1).await;
    wait_for_subscribers(&behind, 1).await;

    let larger = ahead.post_ok("ahead", "from ahead", &["skew"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let smaller = behind.post_ok("behind", "from behind", &["skew"]).await;
    assert!(smaller < larger, "the clock behind gave the smaller id");
    // The clock behind catches up: its mark passes both.
    behind_clock.set(start + chrono::Duration::seconds(1));

    for (side, sse) in [("ahead", &mut on_ahead), ("behind", &mut on_behind)] {
        let first = next_text(sse).await;
        let second = next_text(sse).await;
        assert_eq!(
            [first.0.as_str(), second.0.as_str()],
            ["from behind", "from ahead"],
            "id order on the process {side}"
        );
        assert_eq!([first.1, second.1], [smaller.clone(), larger.clone()]);
    }

    let mut resumed = SseClient::open(&ahead, "hashtag=skew", Some(&smaller)).await;
    assert_eq!(
        next_text(&mut resumed).await.1,
        larger,
        "exactly what follows"
    );
    nothing_within(&mut resumed, Duration::from_millis(300), "after the resume").await;
}

/// Announces, once, a mark for a process that does not exist, then falls
/// silent: a pg_notify on the marks channel (PostgreSQL), or a row of the
/// marks table written twice, so that it is seen to change (SQLite).
async fn announce_a_silent_process(app: &TestApp, backend: Backend, mark: MessageId) {
    let notice = MarkNotice {
        process_id: 0x5157,
        mark,
        last: None,
    };
    match backend {
        Backend::Sqlite => {
            for updated_at in [1, 2] {
                app.store.upsert_mark(&notice, updated_at).await.unwrap();
                // Two polls of the tail relay apart, so that both are read.
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        }
        _ => {
            let sql = format!(
                "SELECT pg_notify('{MARKS_CHANNEL}', '{}')",
                notice.to_payload()
            );
            app.store
                .connection()
                .execute(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap();
        }
    }
}

/// A process announces a mark below a new post, then stops announcing.
/// While it counts as live, the post is held (half the timeout passes with
/// nothing sent); once it is dropped, after its timeout, the post goes out,
/// and the process no longer counts.
async fn a_silent_process_holds_messages_for_its_timeout_only(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let timeout = Duration::from_secs(2);
    let app = server(&database, backend, TestClock::system(), timeout).await;
    let mut sse = SseClient::open(&app, "hashtag=silent", None).await;
    wait_for_subscribers(&app, 1).await;

    let before: DateTime<Utc> = Utc::now() - chrono::Duration::seconds(60);
    announce_a_silent_process(&app, backend, MessageId::lowest_at_or_after(before)).await;
    wait_for_live_processes(&app, 1).await;
    app.post_ok("here", "held", &["silent"]).await;
    nothing_within(&mut sse, timeout / 2, "while the silent process counts").await;
    assert_eq!(
        next_text(&mut sse).await.0,
        "held",
        "released after its timeout"
    );
    wait_for_live_processes(&app, 0).await;
}

on_every_backend!(
    a_clock_seconds_behind_still_gives_id_order_and_exact_resumes,
    a_silent_process_holds_messages_for_its_timeout_only
);
