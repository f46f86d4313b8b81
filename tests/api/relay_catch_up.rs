//! What the relays do when they could miss a post: the notify relay
//! catches up what was announced while its LISTEN connection was down, and
//! the tail relay does not let a process whose clock runs ahead move its
//! watermark past other processes' posts. The servers run in the test
//! process, on one database; the subscriber is on SSE.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dunder::config::RelayMode;
use dunder::domain::cursor::Cursor;
use dunder::domain::MessageId;
use serde_json::{json, Value};

use crate::helpers::{token, Backend, SseClient, SseNext, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;
use crate::relay::{listening_backends, wait_for_subscribers};

/// Posts the notify test's poster sends.
const POSTS: usize = 150;

/// `POST /message` of `text` with the hashtag `steady` to `url`, as
/// `poster`; returns the new message's id.
async fn post(client: &reqwest::Client, url: &str, text: String) -> String {
    let response = client
        .post(url)
        .bearer_auth(token("poster"))
        .json(&json!({"text": text, "hashtags": ["steady"]}))
        .send()
        .await
        .expect("POST /message");
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("a JSON body");
    body["data"]["id"].as_str().expect("an id").to_owned()
}

fn id(text: &str) -> MessageId {
    MessageId::parse("id", text).expect("a message id")
}

/// The LISTEN connections drop and drop again: for `flapping`, every
/// LISTEN backend of the database is terminated as soon as it appears (so
/// each server's relay reconnects several times, and posts commit while it
/// is down); then the test waits until both servers listen again.
async fn flap_listen_connections(admin: &mut sea_orm::sqlx::PgConnection, flapping: Duration) {
    let mut dropped = Vec::new();
    let until = Instant::now() + flapping;
    while Instant::now() < until {
        for pid in listening_backends(admin).await {
            let _: bool = sea_orm::sqlx::query_scalar("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .fetch_one(&mut *admin)
                .await
                .expect("pg_terminate_backend");
            dropped.push(pid);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(dropped.len() >= 2, "both LISTEN connections dropped");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listening = listening_backends(admin).await;
        if listening.len() == 2 && listening.iter().all(|pid| !dropped.contains(pid)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the LISTEN connections did not come back (listening: {listening:?}, dropped: {dropped:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads `count` messages from `sse`, resuming on `app` from the cursor of
/// each `lagged` event. A resume continues after its cursor, so what one
/// connection delivered past the cursor it ended with is dropped (the
/// resume sends it again): the result is what a client that resumes keeps.
async fn receive(app: &TestApp, mut sse: SseClient, count: usize) -> (Vec<MessageId>, usize) {
    let mut kept: Vec<MessageId> = Vec::new();
    let mut segment: Vec<MessageId> = Vec::new();
    let mut lags = 0;
    while kept.len() + segment.len() < count {
        match sse.next_within(Duration::from_secs(10)).await {
            SseNext::Event(event) if event.comment.is_some() => {}
            SseNext::Event(event) if event.event.as_deref() == Some("lagged") => {
                let data: Value = serde_json::from_str(&event.data).expect("JSON");
                let cursor = data["cursor"].as_str().expect("a cursor").to_owned();
                let resume_after = Cursor::parse("cursor", &cursor).expect("a cursor").id;
                kept.extend(segment.drain(..).take_while(|id| *id <= resume_after));
                lags += 1;
                sse = SseClient::open(app, &format!("hashtag=steady&cursor={cursor}"), None).await;
            }
            SseNext::Event(event) => segment.push(id(&event.id.expect("an event id"))),
            other => panic!(
                "{} of {count} messages arrived, then {other:?}",
                kept.len() + segment.len()
            ),
        }
    }
    kept.append(&mut segment);
    match sse.next_within(Duration::from_millis(300)).await {
        SseNext::Timeout => {}
        SseNext::Event(event) if event.comment.is_some() => {}
        other => panic!("nothing after the {count} messages, got {other:?}"),
    }
    (kept, lags)
}

/// "After a LISTEN reconnect, the relay reads what was committed since its
/// watermark less the lookback": a server posts 150 messages, one after
/// the other, while the test terminates every LISTEN backend three times
/// (each time again and again for 150 ms, as a flapping network would);
/// a subscriber on the other server gets every message exactly once, in
/// id order (or it is told it lagged, resumes from its cursor, and what it
/// keeps is that). Without the catch-up, what was announced while a
/// connection was down never comes. PostgreSQL only: LISTEN is
/// PostgreSQL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_announced_while_the_listen_connection_is_down_arrive_once_on_postgres() {
    use sea_orm::sqlx::{Connection, PgConnection};

    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let notify = |flags: &mut dunder::cli::Flags| flags.live_relay = Some(RelayMode::Notify);
    let subscriber_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let poster_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let mut admin = PgConnection::connect(&database.url)
        .await
        .expect("an admin connection");
    let sse = SseClient::open(&subscriber_side, "hashtag=steady", None).await;
    wait_for_subscribers(&subscriber_side, 1).await;

    let posted = Arc::new(AtomicUsize::new(0));
    let poster = {
        let (client, url) = (poster_side.client.clone(), poster_side.url("/message"));
        let posted = posted.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..POSTS {
                ids.push(post(&client, &url, format!("steady {n}")).await);
                posted.fetch_add(1, Ordering::SeqCst);
                // A steady stream rather than a burst, so that posts
                // commit while each connection is down.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };
    for at in [POSTS / 5, POSTS / 2, 4 * POSTS / 5] {
        while posted.load(Ordering::SeqCst) < at {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        flap_listen_connections(&mut admin, Duration::from_millis(150)).await;
    }
    let mut expected: Vec<MessageId> = poster
        .await
        .expect("the poster")
        .iter()
        .map(|text| id(text))
        .collect();
    expected.sort();

    let (kept, lags) = receive(&subscriber_side, sse, POSTS).await;
    assert_eq!(
        kept, expected,
        "every message once, in id order ({lags} lagged events)"
    );
    let _ = admin.close().await;
}

/// "The tail relay's watermark never runs ahead of the database's clock":
/// three servers on one database with the tail relay. The poster whose
/// clock runs 30 s ahead posts first; once a subscriber on the first
/// server has its message, the poster whose clock is right posts five
/// more, each of which must reach the subscriber. Were the watermark the
/// newest id seen less the lookback, it would be 25 s ahead of the right
/// clock, and those posts would be skipped.
async fn a_clock_ahead_does_not_hide_other_posts_from_the_tail_relay(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let tail = |flags: &mut dunder::cli::Flags| {
        flags.live_relay = Some(RelayMode::Tail);
        flags.live_tail_interval_ms = Some(50);
    };
    let subscriber_side = TestApp::spawn_on(database.clone(), TestClock::system(), tail).await;
    let ahead_clock = TestClock::at(chrono::Utc::now() + chrono::Duration::seconds(30));
    let ahead = TestApp::spawn_on(database.clone(), ahead_clock, tail).await;
    let on_time = TestApp::spawn_on(database.clone(), TestClock::system(), tail).await;
    let mut sse = SseClient::open(&subscriber_side, "hashtag=skew", None).await;
    wait_for_subscribers(&subscriber_side, 1).await;

    let first = ahead.post_ok("ahead", "from 30 s ahead", &["skew"]).await;
    assert_eq!(sse.next_message().await.id, Some(first));
    for n in 0..5 {
        let posted = on_time
            .post_ok("on_time", &format!("on time {n}"), &["skew"])
            .await;
        let event = sse.next_message().await;
        assert_eq!(event.id, Some(posted), "on time {n}: {}", event.data);
    }
    match sse.next_within(Duration::from_millis(300)).await {
        SseNext::Timeout => {}
        SseNext::Event(event) if event.comment.is_some() => {}
        other => panic!("nothing more, got {other:?}"),
    }
}

on_every_backend!(a_clock_ahead_does_not_hide_other_posts_from_the_tail_relay);
