//! Live feeds against real servers: GraphQL subscriptions over both
//! WebSocket subprotocols and Server-Sent Events; filtered delivery and
//! non-delivery; resume without gap or duplicate while a writer keeps
//! posting; a slow subscriber cut off with a resumable cursor while a fast
//! one gets everything; trendUpdated against the trend query; the socket's
//! own limits and a clean shutdown; the SSE heartbeat. Fan-out to many
//! subscribers is `fanout`'s.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    default_start, error_codes, Backend, Frame, LiveSocket, SseClient, SseNext, TestApp, TestClock,
    TestDatabase,
};
use crate::on_every_backend;

mod fanout;

const POSTED: &str = "subscription($filter: MessageFilter, $after: String) {
  messagePosted(filter: $filter, after: $after) { id text hashtags user { name } createdAt }
}";

fn text_of(payload: &Value) -> String {
    payload["data"]["messagePosted"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {payload}"))
        .to_owned()
}

async fn filtered_delivery_on_both_protocols_and_sse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut modern = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    let mut legacy = LiveSocket::connect(&app, "graphql-ws", None, true).await;
    modern
        .start("tags", POSTED, json!({"filter": {"hashtag": "live"}}))
        .await;
    legacy
        .start("bob", POSTED, json!({"filter": {"userName": "bob"}}))
        .await;
    let mut sse = SseClient::open(&app, "hashtag=LIVE&user_name=bob", None).await;
    // Subscriptions register as their first poll runs: wait until all three have.
    wait_for_subscribers(&app, 3).await;
    assert_eq!(app.metric("dunder_live_subscribers").await, 3);

    app.post_ok("alice", "one #live", &[]).await;
    app.post_ok("bob", "two", &["other"]).await;
    app.post_ok("bob", "three", &["Live"]).await;
    app.post_ok("carol", "four", &["elsewhere"]).await;
    app.post_ok("bob", "sentinel #live", &[]).await;

    let mut got = Vec::new();
    for _ in 0..3 {
        let (id, payload) = modern.next_payload().await;
        assert_eq!(id, "tags");
        got.push(text_of(&payload));
    }
    assert_eq!(got, ["one #live", "three", "sentinel #live"]);

    let mut got = Vec::new();
    for _ in 0..3 {
        let (id, payload) = legacy.next_payload().await;
        assert_eq!(id, "bob");
        got.push(text_of(&payload));
    }
    assert_eq!(got, ["two", "three", "sentinel #live"]);

    // SSE: bob and #live together; the event id is the message id.
    let first = sse.next_message().await;
    let message: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(message["text"], "three");
    assert_eq!(first.id.as_deref(), message["id"].as_str());
    assert_eq!(message["user"]["name"], "bob");
    let second = sse.next_message().await;
    assert_eq!(
        serde_json::from_str::<Value>(&second.data).unwrap()["text"],
        "sentinel #live"
    );
    // Nothing else was sent.
    assert!(modern
        .next_frame_within(Duration::from_millis(300))
        .await
        .is_none());
}

/// Waits until the hub holds at least `count` subscribers, or fails.
async fn wait_for_subscribers(app: &TestApp, count: usize) {
    wait_for_hub(app, "at least", |held| held >= count).await;
}

/// Waits until the hub holds exactly `count` subscribers, or fails.
async fn wait_for_subscriber_count(app: &TestApp, count: usize) {
    wait_for_hub(app, "exactly", |held| held == count).await;
}

async fn wait_for_hub(app: &TestApp, how: &str, done: impl Fn(usize) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held = app.live.hub().subscriber_count();
        if done(held) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the hub never held {how} the expected subscribers (holds {held})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Resuming while a writer is still posting, three ways at once: SSE
/// with `Last-Event-ID`, SSE with `cursor=`, and GraphQL with `after`. Each
/// walker disconnects every few dozen messages and resumes from the last
/// one it got, so the switch from replay to live happens again and again
/// while posts arrive; each must see every message exactly once, in order.
async fn resume_while_a_writer_posts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first_id = app.post_ok("writer", "start #resume", &[]).await;
    const TOTAL: usize = 150;
    // The first message's cursor (REST's next_cursor and GraphQL's
    // connection cursors are the same token).
    let (status, page) = app.get("/message?hashtag=resume&limit=1").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{page}");
    let first_cursor = page["data"]["next_cursor"].as_str().unwrap().to_owned();
    let writer = {
        let client = app.client.clone();
        let url = app.url("/message");
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..TOTAL {
                let response = client
                    .post(&url)
                    .bearer_auth(crate::helpers::token("writer"))
                    .json(&json!({"text": format!("n{n}"), "hashtags": ["resume"]}))
                    .send()
                    .await
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                ids.push(body["data"]["id"].as_str().unwrap().to_owned());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ids
        })
    };

    // SSE, reconnecting with Last-Event-ID (or cursor=) every 40 events.
    let sse_walk = |by_cursor: bool| {
        let app = &app;
        let first_id = first_id.clone();
        async move {
            let mut ids: Vec<String> = Vec::new();
            let mut last = first_id;
            while ids.len() < TOTAL {
                let mut stream = if by_cursor {
                    let id = dunder::domain::MessageId::parse("id", &last).unwrap();
                    let cursor = dunder::domain::Cursor::new(id).encode();
                    SseClient::open(app, &format!("hashtag=resume&cursor={cursor}"), None).await
                } else {
                    SseClient::open(app, "hashtag=resume", Some(&last)).await
                };
                for _ in 0..40 {
                    if ids.len() == TOTAL {
                        break;
                    }
                    let event = stream.next_message().await;
                    let id = event
                        .id
                        .clone()
                        .unwrap_or_else(|| panic!("an event id: {event:?}"));
                    last = id.clone();
                    ids.push(id);
                }
                // Dropping the stream disconnects; the writer goes on.
            }
            ids
        }
    };
    // GraphQL: the same walk with `after`, reconnecting every 55 messages.
    let graphql_walk = async {
        let mut ids: Vec<String> = Vec::new();
        let mut cursor = first_cursor.clone();
        let query = "subscription($after: String) { messagePosted(filter: {hashtag: \"resume\"}, after: $after) { id text } }";
        while ids.len() < TOTAL {
            let mut socket = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
            socket.start("r", query, json!({"after": cursor})).await;
            for _ in 0..55 {
                if ids.len() == TOTAL {
                    break;
                }
                let (_, payload) = socket.next_payload().await;
                ids.push(
                    payload["data"]["messagePosted"]["id"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                );
            }
            // The next connection resumes after the last message received.
            cursor = ids.last().unwrap().clone();
        }
        ids
    };
    let (by_last_event_id, by_cursor, ws_ids) =
        tokio::join!(sse_walk(false), sse_walk(true), graphql_walk);
    let posted = writer.await.unwrap();
    assert_eq!(
        by_last_event_id, posted,
        "SSE with Last-Event-ID: every message exactly once, in order"
    );
    assert_eq!(
        by_cursor, posted,
        "SSE with cursor=: every message exactly once, in order"
    );
    // GraphQL ids are global ids: compare through the REST ids they name.
    let mut ws_rest = Vec::new();
    for id in &ws_ids {
        let data = app
            .graphql_data(
                "query($id: ID!) { node(id: $id) { ... on Message { text } } }",
                json!({"id": id}),
            )
            .await;
        ws_rest.push(data["node"]["text"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..TOTAL).map(|n| format!("n{n}")).collect();
    assert_eq!(
        ws_rest, expected,
        "GraphQL: every message exactly once, in order"
    );
}

/// A subscriber that stops reading is cut off with a cursor, while another
/// on the same server receives every message; the cursor resumes the slow
/// one exactly where it stopped.
async fn a_slow_subscriber_lags_alone(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_subscriber_queue = Some(256);
    })
    .await;
    let mut slow =
        LiveSocket::connect_on(&app, "graphql-transport-ws", None, true, Some(4096)).await;
    let mut fast = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    slow.start("slow", POSTED, json!({})).await;
    fast.start("fast", POSTED, json!({})).await;
    wait_for_subscribers(&app, 2).await;

    // Enough to fill the slow client's socket and the server's send buffer
    // (which grows to megabytes) before its queue of 256 overflows.
    const TOTAL: usize = 8000;
    // How many messages the fast subscriber has read: the poster waits on
    // it, so the fast one never falls a queue behind however busy the
    // machine is, while the slow one, which reads nothing, must.
    let (progress, mut read_so_far) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut texts = Vec::with_capacity(TOTAL);
        while texts.len() < TOTAL {
            let (_, payload) = fast.next_payload().await;
            texts.push(text_of(&payload));
            let _ = progress.send(texts.len());
        }
        texts
    });
    // Posted through the store directly (the HTTP layer is not under test
    // here), in rounds of 100, each once the fast subscriber has read all
    // but the last round: it is never more than 200 behind, its queue 256.
    let mut stored = Vec::with_capacity(TOTAL);
    for round in 0..TOTAL / 100 {
        let caught_up = (round * 100).saturating_sub(100);
        tokio::time::timeout(
            Duration::from_secs(30),
            read_so_far.wait_for(|read| *read >= caught_up),
        )
        .await
        .expect("the fast subscriber keeps reading")
        .expect("the reader is alive");
        let posts = (0..100).map(|i| {
            let store = app.store.clone();
            let n = round * 100 + i;
            async move {
                let author = dunder::domain::UserName::parse("user", "burst").unwrap();
                let text = format!("b{n:05} {}", "x".repeat(480));
                let post = dunder::domain::NewMessage::parse(author, &text, &[], 500).unwrap();
                store.post(post).await.unwrap()
            }
        });
        stored.extend(futures::future::join_all(posts).await);
    }
    stored.sort_by_key(|m| m.id);
    let fast_texts = reader.await.unwrap();
    let mut sorted = fast_texts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        TOTAL,
        "the fast subscriber got every message once"
    );

    // The slow one reads now: what was queued, then LAGGED with a cursor.
    let mut slow_texts = Vec::new();
    let cursor = loop {
        match slow.next_frame().await {
            Frame::Next(_, payload) if payload.get("errors").is_some() => {
                assert_eq!(error_codes(&payload), ["LAGGED"], "{payload}");
                break payload["errors"][0]["extensions"]["cursor"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            }
            Frame::Next(_, payload) => slow_texts.push(text_of(&payload)),
            Frame::Keepalive => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(slow.next_frame().await, Frame::Complete("slow".into()));
    assert!(slow_texts.len() < TOTAL, "the slow subscriber was cut off");

    // Resuming from the cursor delivers the rest: together, every message once.
    let mut resumed = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    resumed
        .start("again", POSTED, json!({"after": cursor}))
        .await;
    while slow_texts.len() < TOTAL {
        let (_, payload) = resumed.next_payload().await;
        slow_texts.push(text_of(&payload));
    }
    let expected: Vec<String> = stored.iter().map(|m| m.text.clone()).collect();
    assert_eq!(
        slow_texts, expected,
        "delivered before the lag plus resumed: all, in order, once"
    );
}

/// A socket subscribed to `query` (a `trendUpdated` subscription), and
/// the first bucket it was sent.
async fn trend_feed(app: &TestApp, query: &str) -> (LiveSocket, Value) {
    let mut socket = LiveSocket::connect(app, "graphql-transport-ws", None, true).await;
    socket.start("t", query, json!({})).await;
    let (_, first) = socket.next_payload().await;
    (socket, bucket(&first))
}

/// The bucket of a `trendUpdated` payload.
fn bucket(payload: &Value) -> Value {
    payload["data"]["trendUpdated"].clone()
}

async fn trend_updates_match_the_trend_query(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut socket, first) = trend_feed(
        &app,
        "subscription { trendUpdated(hashtag: \"Pulse\", aggregation: \"1m\") { fromDate toDate count } }",
    )
    .await;
    assert_eq!(
        first,
        json!({"fromDate": "2019-09-23T10:00:00+00:00", "toDate": "2019-09-23T10:01:00+00:00", "count": 0})
    );

    for n in 0..5 {
        app.post_ok("pulse", &format!("beat {n}"), &["pulse"]).await;
    }
    app.post_ok("pulse", "not counted", &["other"]).await;
    // Coalesced: updates until the count reaches 5, never beyond.
    let mut count = 0;
    let mut updates = 0;
    while count < 5 {
        let (_, payload) = socket.next_payload().await;
        count = bucket(&payload)["count"].as_i64().unwrap();
        updates += 1;
        assert!(count <= 5);
    }
    assert!(
        updates <= 5,
        "coalesced into at most one update per message"
    );
    let data = app
        .graphql_data(
            "{ trend(hashtag: \"pulse\", fromDate: \"2019-09-23T10:00:00Z\", toDate: \"2019-09-23T10:01:00Z\") { count } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["trend"][0]["count"], 5,
        "the live count is the trend query's"
    );

    // A message in the next minute starts a new bucket.
    app.clock.set("2019-09-23T10:01:30Z".parse().unwrap());
    app.post_ok("pulse", "next minute", &["pulse"]).await;
    loop {
        let (_, payload) = socket.next_payload().await;
        let current = bucket(&payload);
        if current["fromDate"] == "2019-09-23T10:01:00+00:00" && current["count"] == 1 {
            break;
        }
    }
}

/// A post counted just before its bucket ends, while the feed waits out
/// its coalescing pause, still reaches the subscriber: the ended bucket's
/// last count comes before the new bucket's first.
async fn an_ended_bucket_sends_its_last_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (mut socket, first) = trend_feed(
        &app,
        "subscription { trendUpdated(hashtag: \"turn\", aggregation: \"1m\") { fromDate count } }",
    )
    .await;
    assert_eq!(
        first,
        json!({"fromDate": "2019-09-23T10:00:00+00:00", "count": 0})
    );
    app.clock.set("2019-09-23T10:00:59Z".parse().unwrap());
    app.post_ok("turner", "last of the minute", &["turn"]).await;
    // The minute turns before the feed (pausing 250 ms after the post's
    // event) reads the count again.
    app.clock.set("2019-09-23T10:01:10Z".parse().unwrap());
    let mut seen = Vec::new();
    while seen.last() != Some(&json!({"fromDate": "2019-09-23T10:01:00+00:00", "count": 0})) {
        let (_, payload) = socket.next_payload().await;
        seen.push(bucket(&payload));
    }
    assert_eq!(
        seen,
        [
            json!({"fromDate": "2019-09-23T10:00:00+00:00", "count": 1}),
            json!({"fromDate": "2019-09-23T10:01:00+00:00", "count": 0}),
        ]
    );
}

on_every_backend!(
    an_ended_bucket_sends_its_last_count,
    filtered_delivery_on_both_protocols_and_sse,
    resume_while_a_writer_posts,
    a_slow_subscriber_lags_alone,
    an_sse_subscriber_that_stops_reading_gets_lagged,
    trend_updates_match_the_trend_query,
    socket_limits_and_clean_shutdown,
    an_idle_sse_stream_gets_heartbeats
);

/// The SSE heartbeat: an idle stream gets a `heartbeat` comment every
/// `live.keepalive_interval_ms` (15 s by default, which the unit test
/// `rest::stream::tests` pins; 100 ms here), and keeps getting them after
/// a message.
async fn an_idle_sse_stream_gets_heartbeats(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_keepalive_interval_ms = Some(100);
    })
    .await;
    let heartbeat = SseNext::Event(crate::helpers::SseEvent {
        comment: Some("heartbeat".to_owned()),
        ..Default::default()
    });
    let mut sse = SseClient::open(&app, "", None).await;
    wait_for_subscribers(&app, 1).await;
    for _ in 0..2 {
        assert_eq!(sse.next_within(Duration::from_secs(5)).await, heartbeat);
    }
    app.post_ok("alice", "between heartbeats", &[]).await;
    let message: Value = serde_json::from_str(&sse.next_message().await.data).unwrap();
    assert_eq!(message["text"], "between heartbeats");
    assert_eq!(sse.next_within(Duration::from_secs(5)).await, heartbeat);
}

/// SSE's `event: lagged`: a client that stops reading (a 4 KiB receive
/// buffer) while big messages are posted fills the sockets, then its queue
/// of four; when it reads again it finds what was sent, then `lagged` with
/// a cursor, and the stream ends. Resuming from that cursor gives exactly
/// the rest.
async fn an_sse_subscriber_that_stops_reading_gets_lagged(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const TOTAL: usize = 1000;
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_subscriber_queue = Some(4);
        flags.max_text_length = Some(10_000);
    })
    .await;
    let address: std::net::SocketAddr = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    stream
        .write_all(b"GET /message/stream HTTP/1.1\r\nHost: dunder\r\n\r\n")
        .await
        .unwrap();
    wait_for_subscribers(&app, 1).await;

    // Big messages, through the store (the HTTP layer is not under test).
    let mut posted = Vec::with_capacity(TOTAL);
    for n in 0..TOTAL {
        let author = dunder::domain::UserName::parse("user", "big").unwrap();
        let text = format!("b{n:04} {}", "x".repeat(9_900));
        let post = dunder::domain::NewMessage::parse(author, &text, &[], 10_000).unwrap();
        posted.push(app.store.post(post).await.unwrap().id.to_string());
    }

    // Now read it all: the answer's head, then its chunks, until the end.
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            raw.extend_from_slice(&buffer[..n]);
            // The last chunk of a chunked body.
            if n == 0 || raw.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
    })
    .await
    .expect("the stream ends after lagged");
    let body = dechunk(&raw);
    let mut received = Vec::new();
    let mut lagged = None;
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        if block.starts_with(':') {
            continue; // a heartbeat
        }
        if let Some(data) = block.strip_prefix("event: lagged\ndata: ") {
            lagged = Some(serde_json::from_str::<Value>(data).unwrap());
            continue;
        }
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap_or_else(|| panic!("{block:.80}"));
        received.push(id.to_owned());
    }
    let lagged = lagged.expect("an event: lagged");
    assert!(
        received.len() < TOTAL,
        "the client lagged, so it cannot have everything"
    );
    assert_eq!(
        received,
        posted[..received.len()],
        "what came before lagged is in order"
    );

    // The cursor resumes exactly after the last message received.
    let cursor = lagged["cursor"].as_str().unwrap();
    let mut resumed = SseClient::open(&app, &format!("cursor={cursor}"), None).await;
    for id in &posted[received.len()..] {
        assert_eq!(
            resumed.next_message().await.id.as_deref(),
            Some(id.as_str())
        );
    }
}

/// The body of a chunked HTTP/1.1 answer (after its head), as text.
fn dechunk(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let (_, mut rest) = text.split_once("\r\n\r\n").expect("a head");
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    body
}

/// The socket's own rules: keepalive pings, a deadline for connection_init,
/// a cap on subscriptions per connection; and a clean close on shutdown.
async fn socket_limits_and_clean_shutdown(backend: Backend) {
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let mut app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_keepalive_interval_ms = Some(100);
        flags.live_connection_init_timeout_ms = Some(300);
        flags.live_max_operations = Some(2);
    })
    .await;

    // Keepalives on both protocols.
    for protocol in ["graphql-transport-ws", "graphql-ws"] {
        let mut socket = LiveSocket::connect(&app, protocol, None, true).await;
        assert_eq!(socket.next_frame().await, Frame::Keepalive, "{protocol}");
    }
    // No connection_init in time: closed with 4408.
    let mut silent = LiveSocket::connect(&app, "graphql-transport-ws", None, false).await;
    loop {
        match silent.next_frame().await {
            Frame::Keepalive => continue,
            frame => {
                assert_eq!(frame, Frame::Closed(4408));
                break;
            }
        }
    }
    // Two subscriptions per connection, the third refused (which one is
    // the third depends on the order the server first polls them).
    let mut socket = LiveSocket::connect(&app, "graphql-transport-ws", None, true).await;
    socket.start("1", POSTED, json!({})).await;
    socket.start("2", POSTED, json!({})).await;
    socket.start("3", POSTED, json!({})).await;
    let (refused, payload) = socket.next_payload().await;
    assert_eq!(error_codes(&payload), ["TOO_MANY_OPERATIONS"], "{payload}");
    assert_eq!(socket.next_frame().await, Frame::Complete(refused.clone()));
    let mut active: HashSet<String> = ["1", "2", "3"].iter().map(|s| s.to_string()).collect();
    active.remove(&refused);
    // Stopping one frees its place.
    let stopped = active.iter().next().unwrap().clone();
    active.remove(&stopped);
    socket
        .send(json!({"id": stopped, "type": "complete"}))
        .await;
    // The hub holds one subscriber per live operation: one less once the
    // stop is handled, two again once the new one is subscribed.
    wait_for_subscriber_count(&app, 1).await;
    socket.start("4", POSTED, json!({})).await;
    active.insert("4".to_owned());
    wait_for_subscriber_count(&app, 2).await;
    app.post_ok("someone", "hello", &[]).await;
    let mut seen = HashSet::new();
    while seen.len() < 2 {
        match socket.next_frame().await {
            Frame::Next(id, payload) => {
                assert_eq!(text_of(&payload), "hello");
                seen.insert(id);
            }
            // The stopped subscription's completion, keepalives.
            Frame::Complete(_) | Frame::Keepalive => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, active);

    // Shutdown: the socket is closed with 1001, the SSE stream ends, and
    // the server returns.
    let mut sse = SseClient::open(&app, "", None).await;
    wait_for_subscribers(&app, 3).await;
    app.stop().await;
    loop {
        match socket.next_frame().await {
            Frame::Closed(code) => {
                assert_eq!(code, 1001);
                break;
            }
            Frame::Complete(_) | Frame::Keepalive => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
    loop {
        match sse.next_within(Duration::from_secs(5)).await {
            SseNext::End => break,
            SseNext::Event(event) => assert!(
                event.comment.is_some(),
                "only heartbeats before the end: {event:?}"
            ),
            other => panic!("the stream should end cleanly, got {other:?}"),
        }
    }
}
