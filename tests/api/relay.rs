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

/// The `dunder` binary serving `database_url` with `relay`, as a child
/// process that is stopped when this is dropped.
struct ServerProcess {
    child: std::process::Child,
    base: String,
}

impl ServerProcess {
    async fn start(database_url: &str, relay: RelayMode) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_dunder"))
            .args([
                "--port",
                &port.to_string(),
                "--listen_address",
                "127.0.0.1",
                "--log_level",
                "error",
            ])
            .args([
                "--database_url",
                database_url,
                "--live.relay",
                relay.as_str(),
                "--live.tail_interval_ms",
                "50",
            ])
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("start the dunder binary");
        let process = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(response) = client.get(format!("{}/readyz", process.base)).send().await {
                if response.status() == 200 {
                    return process;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the dunder process did not become ready");
    }

    async fn post(&self, text: &str, hashtag: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/message", self.base))
            .bearer_auth(crate::helpers::token("remote"))
            .json(&json!({"text": text, "hashtags": [hashtag]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    for _ in 0..200 {
        if subscriber_side.live.hub().subscriber_count() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

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
/// resume from any event's id continues with exactly the events after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_from_two_processes_arrive_in_id_order_and_resume_exactly() {
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let local = TestApp::spawn_on(database.clone(), TestClock::system(), |_| {}).await;
    let remote = ServerProcess::start(&database.url, RelayMode::Auto).await;
    let mut sse = SseClient::open(&local, "hashtag=pair", None).await;
    for _ in 0..200 {
        if local.live.hub().subscriber_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

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
