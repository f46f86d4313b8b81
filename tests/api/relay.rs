//! Across instances: a post accepted by one server process reaches a
//! subscriber on another server process using the same database, through
//! PostgreSQL LISTEN/NOTIFY and through the tail relay (on PostgreSQL and
//! on SQLite). The subscriber's server runs in the test process, the
//! poster's is the `dunder` binary in a process of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunder::config::RelayMode;
use serde_json::{json, Value};

use crate::helpers::{
    default_start, Backend, LiveSocket, SseClient, SseNext, TestApp, TestClock, TestDatabase,
};
use crate::on_every_backend;
use crate::process::DunderProcess;

/// The `dunder` binary serving `database_url` with `relay`, as a child
/// process (port 0, read back from its log) that is stopped when dropped.
struct ServerProcess {
    process: DunderProcess,
    // Its working directory, kept for as long as it runs.
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    async fn start(database_url: &str, relay: RelayMode) -> ServerProcess {
        let dir = tempfile::tempdir().unwrap();
        let process = DunderProcess::start(
            dir.path(),
            [
                "--database_url",
                database_url,
                "--live.relay",
                relay.as_str(),
                "--live.tail_interval_ms",
                "50",
            ],
            false,
        );
        process.wait_ready().await;
        ServerProcess { process, _dir: dir }
    }

    async fn post(&self, text: &str, hashtag: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/message", self.process.base_url()))
            .bearer_auth(crate::helpers::token("remote"))
            .json(&json!({"text": text, "hashtags": [hashtag]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

/// Waits until `app`'s hub holds `count` subscribers, or fails.
async fn wait_for_subscribers(app: &TestApp, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.live.hub().subscriber_count() != count {
        assert!(
            Instant::now() < deadline,
            "{count} subscribers never registered (have {})",
            app.live.hub().subscriber_count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribes on one server, posts on the other process, and checks that
/// every post arrives once, in order, over WebSocket and SSE. Returns the
/// slowest delivery seen, from the POST sent to the message received.
async fn posts_cross_servers(backend: Backend, relay: RelayMode) -> Duration {
    let database = Arc::new(TestDatabase::create(backend).await);
    let subscriber_side = TestApp::spawn_on(
        database.clone(),
        TestClock::at(default_start()),
        move |flags| {
            flags.live_relay = Some(relay);
            flags.live_tail_interval_ms = Some(50);
        },
    )
    .await;
    let poster_side = ServerProcess::start(&database.url, relay).await;

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
    wait_for_subscribers(&subscriber_side, 2).await;

    let mut slowest = Duration::ZERO;
    for n in 0..5 {
        let posted_at = Instant::now();
        poster_side.post(&format!("across {n}"), "across").await;
        let (_, payload) = socket.next_payload().await;
        slowest = slowest.max(posted_at.elapsed());
        assert_eq!(
            payload["data"]["messagePosted"],
            json!({"text": format!("across {n}"), "user": {"name": "remote"}})
        );
        let event = sse.next_message().await;
        let message: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(message["text"], format!("across {n}"));
        poster_side.post("not this one", "elsewhere").await;
    }
    // Nothing twice, nothing unmatched.
    assert!(socket
        .next_frame_within(Duration::from_millis(300))
        .await
        .is_none());
    slowest
}

// LISTEN/NOTIFY is PostgreSQL's own: there is nothing to run on SQLite.
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

/// Posts accepted at the same moment by two processes reach a subscriber
/// in id order (the order window absorbs the relay's delay), so that a
/// resume from any event's id continues with exactly the events after it:
/// through LISTEN/NOTIFY on PostgreSQL, through the tail relay on SQLite.
async fn posts_from_two_processes_arrive_in_id_order_and_resume_exactly(backend: Backend) {
    let relay = match backend {
        Backend::Sqlite => RelayMode::Tail,
        _ => RelayMode::Auto,
    };
    let database = Arc::new(TestDatabase::create(backend).await);
    let local = TestApp::spawn_on(database.clone(), TestClock::system(), move |flags| {
        flags.live_relay = Some(relay);
        flags.live_tail_interval_ms = Some(50);
    })
    .await;
    let remote = ServerProcess::start(&database.url, relay).await;
    let mut sse = SseClient::open(&local, "hashtag=pair", None).await;
    wait_for_subscribers(&local, 1).await;

    const PAIRS: usize = 40;
    for n in 0..PAIRS {
        let (here, there) = (format!("l{n}"), format!("r{n}"));
        tokio::join!(
            local.post_ok("local", &here, &["pair"]),
            remote.post(&there, "pair")
        );
    }
    let mut ids = Vec::new();
    for _ in 0..2 * PAIRS {
        ids.push(sse.next_message().await.id.expect("an event id"));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        ids, sorted,
        "every message once, in id order, though two processes posted them"
    );

    // Resuming from any event gives exactly the ones after it.
    for cut in [PAIRS / 2, PAIRS, 3 * PAIRS / 2] {
        let mut resumed = SseClient::open(&local, "hashtag=pair", Some(&ids[cut])).await;
        let mut rest = Vec::new();
        for _ in cut + 1..ids.len() {
            rest.push(resumed.next_message().await.id.expect("an event id"));
        }
        assert_eq!(rest, ids[cut + 1..], "resume after event {cut}");
        match resumed.next_within(Duration::from_millis(300)).await {
            SseNext::Timeout => {}
            SseNext::Event(event) if event.comment.is_some() => {}
            other => panic!("nothing more after the resume, got {other:?}"),
        }
    }
}

/// Without a relay, a second server's posts stay there: the relay is what
/// the other tests see working. The subscriber's own server posts after
/// the other one, as a positive control: its message arrives, so the
/// subscription was live when the other's was committed, and that one
/// never comes (a relay would have brought it within its 50 ms interval).
async fn without_a_relay_nothing_crosses(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let clock = TestClock::at(default_start());
    let off = |flags: &mut dunder::cli::Flags| flags.live_relay = Some(RelayMode::Off);
    let subscriber_side = TestApp::spawn_on(database.clone(), clock.clone(), off).await;
    let poster_side = TestApp::spawn_on(database, clock, off).await;
    let mut socket = LiveSocket::connect(&subscriber_side, "graphql-ws", None, true).await;
    socket
        .start("x", "subscription { messagePosted { text } }", json!({}))
        .await;
    wait_for_subscribers(&subscriber_side, 1).await;
    poster_side.post_ok("remote", "stays there", &[]).await;
    subscriber_side.post_ok("local", "control", &[]).await;
    let (_, payload) = socket.next_payload().await;
    assert_eq!(
        payload["data"]["messagePosted"]["text"], "control",
        "{payload}"
    );
    assert!(socket
        .next_frame_within(Duration::from_millis(500))
        .await
        .is_none());
}

on_every_backend!(
    posts_from_two_processes_arrive_in_id_order_and_resume_exactly,
    without_a_relay_nothing_crosses
);
