//! Across instances: a post accepted by one server reaches a subscriber on
//! another server using the same database, through PostgreSQL LISTEN/NOTIFY
//! and through the tail relay (on PostgreSQL and on SQLite).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunder::config::RelayMode;
use serde_json::{json, Value};

use crate::helpers::{
    default_start, Backend, LiveSocket, SseClient, TestApp, TestClock, TestDatabase,
};

/// Subscribes on one server, posts on the other, and checks that every
/// post arrives once, in order, over WebSocket and SSE. Returns the
/// slowest delivery seen.
async fn posts_cross_servers(backend: Backend, relay: RelayMode) -> Duration {
    let database = Arc::new(TestDatabase::create(backend).await);
    let clock = TestClock::at(default_start());
    let configure = move |flags: &mut dunder::cli::Flags| {
        flags.live_relay = Some(relay);
        flags.live_tail_interval_ms = Some(50);
    };
    let subscriber_side = TestApp::spawn_on(database.clone(), clock.clone(), configure).await;
    let poster_side = TestApp::spawn_on(database, clock, configure).await;

    let mut socket =
        LiveSocket::connect(&subscriber_side, "graphql-transport-ws", None, true).await;
    socket
        .start(
            "x",
            "subscription { messagePosted(filter: {hashtag: \"across\"}) { text user { name } } }",
            json!({}),
        )
        .await;
    let mut sse = SseClient::open(&subscriber_side, "hashtag=across", None).await;
    for _ in 0..200 {
        if subscriber_side.live.hub().subscriber_count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut slowest = Duration::ZERO;
    for n in 0..5 {
        let posted_at = Instant::now();
        poster_side
            .post_ok("remote", &format!("across {n}"), &["across"])
            .await;
        poster_side
            .post_ok("remote", "not this one", &["elsewhere"])
            .await;
        let (_, payload) = socket.next_payload().await;
        slowest = slowest.max(posted_at.elapsed());
        assert_eq!(
            payload["data"]["messagePosted"],
            json!({"text": format!("across {n}"), "user": {"name": "remote"}})
        );
        let event = sse.next_message().await;
        let message: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(message["text"], format!("across {n}"));
    }
    // Nothing twice, nothing unmatched.
    assert!(socket
        .next_frame_within(Duration::from_millis(300))
        .await
        .is_none());
    slowest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_carries_posts_between_servers_on_postgres() {
    let slowest = posts_cross_servers(Backend::Postgres, RelayMode::Auto).await;
    println!("LISTEN/NOTIFY: slowest delivery {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_relay_carries_posts_between_servers_on_postgres() {
    let slowest = posts_cross_servers(Backend::Postgres, RelayMode::Tail).await;
    println!("tail relay (50 ms) on PostgreSQL: slowest delivery {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tail_relay_carries_posts_between_servers_on_sqlite() {
    let slowest = posts_cross_servers(Backend::Sqlite, RelayMode::Tail).await;
    println!("tail relay (50 ms) on SQLite: slowest delivery {slowest:?}");
}

/// Without a relay, a second server's posts stay there: the relay is what
/// the other tests see working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_relay_nothing_crosses() {
    let database = Arc::new(TestDatabase::create(Backend::Sqlite).await);
    let clock = TestClock::at(default_start());
    let off = |flags: &mut dunder::cli::Flags| flags.live_relay = Some(RelayMode::Off);
    let subscriber_side = TestApp::spawn_on(database.clone(), clock.clone(), off).await;
    let poster_side = TestApp::spawn_on(database, clock, off).await;
    let mut socket = LiveSocket::connect(&subscriber_side, "graphql-ws", None, true).await;
    socket
        .start("x", "subscription { messagePosted { text } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    poster_side.post_ok("remote", "stays there", &[]).await;
    assert!(socket
        .next_frame_within(Duration::from_millis(500))
        .await
        .is_none());
}
