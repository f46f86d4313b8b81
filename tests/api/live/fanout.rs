//! Fan-out to many subscribers, from outside: every subscriber of one
//! selection gets the same bytes and another selection its own, built by
//! one execution whatever the number of subscribers; a post is answered
//! while a subscriber reads nothing and its queue is full; an idle
//! subscriber costs the server little memory.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::{wait_for_subscribers, POSTED};
use crate::helpers::{
    default_start, error_codes, Backend, Frame, LiveSocket, TestApp, TestClock, TestDatabase,
};
use crate::on_every_backend;
use crate::process::DunderProcess;

/// A GraphQL WebSocket client that keeps every frame's text as sent.
struct RawSocket {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    protocol: &'static str,
}

impl RawSocket {
    /// Connects to `/graphql/ws` at `address` (`host:port`) with
    /// `protocol`, and waits for the `connection_ack`.
    async fn open(address: &str, protocol: &'static str) -> RawSocket {
        let mut request = format!("ws://{address}/graphql/ws")
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocol.parse().expect("protocol header"),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws handshake");
        let mut raw = RawSocket { socket, protocol };
        raw.send(json!({"type": "connection_init", "payload": {}}))
            .await;
        let ack: Value = serde_json::from_str(&raw.next_text().await).expect("JSON");
        assert_eq!(ack["type"], "connection_ack");
        raw
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send a frame");
    }

    /// Starts subscription `id`.
    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        self.send(
            json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The next text frame, as sent.
    async fn next_text(&mut self) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a frame within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = frame {
                return text.to_string();
            }
        }
    }

    /// The next result frame (skipping keepalives), as sent.
    async fn next_result(&mut self) -> String {
        loop {
            let text = self.next_text().await;
            let frame: Value = serde_json::from_str(&text).expect("JSON");
            match frame["type"].as_str() {
                Some("next") | Some("data") => return text,
                Some("ping") | Some("ka") => continue,
                _ => panic!("expected a result, got {text}"),
            }
        }
    }
}

/// The payload of a result frame, as sent: what follows `"payload":`.
fn payload_of(frame: &str) -> &str {
    let start = frame.find(r#""payload":"#).expect("a payload") + r#""payload":"#.len();
    &frame[start..frame.len() - 1]
}

const TEXT_ONLY: &str =
    "subscription($filter: MessageFilter) { messagePosted(filter: $filter) { id text } }";
const WITH_TAGS: &str =
    "subscription($filter: MessageFilter) { messagePosted(filter: $filter) { id text hashtags user { name } } }";

/// Two subscribers of one selection (with different filters, which only
/// choose messages) get the same bytes; the legacy protocol sends the same
/// payload under its own message type; another selection gets its own.
async fn one_selection_one_payload(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut by_tag = RawSocket::open(&address, "graphql-transport-ws").await;
    by_tag
        .subscribe("s", TEXT_ONLY, json!({"filter": {"hashtag": "fan"}}))
        .await;
    let mut everything = RawSocket::open(&address, "graphql-transport-ws").await;
    everything.subscribe("s", TEXT_ONLY, json!({})).await;
    let mut legacy = RawSocket::open(&address, "graphql-ws").await;
    legacy
        .subscribe("s", TEXT_ONLY, json!({"filter": {"userName": "ann"}}))
        .await;
    let mut other = RawSocket::open(&address, "graphql-transport-ws").await;
    other.subscribe("s", WITH_TAGS, json!({})).await;
    wait_for_subscribers(&app, 4).await;

    let id = app.post_ok("ann", "hello #fan", &[]).await;
    let first = by_tag.next_result().await;
    assert_eq!(
        everything.next_result().await,
        first,
        "the same selection: the same bytes"
    );
    let payload: Value = serde_json::from_str(payload_of(&first)).expect("a JSON payload");
    let message = &payload["data"]["messagePosted"];
    assert_eq!(message["text"], "hello #fan");
    assert!(message.get("hashtags").is_none(), "{payload}");
    let data = app
        .graphql_data(
            "query($id: ID!) { node(id: $id) { ... on Message { text } } }",
            json!({"id": message["id"]}),
        )
        .await;
    assert_eq!(data["node"]["text"], "hello #fan", "the id names {id}");

    let legacy_frame = legacy.next_result().await;
    assert!(
        legacy_frame.starts_with(r#"{"type":"data","id":"s","payload":"#),
        "{legacy_frame}"
    );
    assert_eq!(payload_of(&legacy_frame), payload_of(&first));

    let own = other.next_result().await;
    let own_payload: Value = serde_json::from_str(payload_of(&own)).expect("a JSON payload");
    assert_eq!(
        own_payload["data"]["messagePosted"],
        json!({"id": message["id"], "text": "hello #fan", "hashtags": ["fan"], "user": {"name": "ann"}})
    );
}

/// A selection is executed once per message, however many subscribe to
/// it: with a selection that reads the store (the author's latest
/// message), a post costs as many statements with eight subscribers as
/// with one; seven more executions would add seven. On PostgreSQL a post's
/// own count varies by one from post to post (5 or 6), which the
/// comparison allows.
async fn one_execution_per_message_and_selection(backend: Backend) {
    const LATEST: &str = "subscription { messagePosted(filter: {hashtag: \"once\"}) {
        text user { messages(first: 1) { edges { node { text } } } }
    } }";
    const MANY: usize = 8;
    const NOISE: u64 = 2;
    let app = TestApp::spawn(backend).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Names known to the writer first, so that every post costs the same.
    app.post_ok("ann", "warm-up", &["once"]).await;
    app.post_ok("ann", "warm-up again", &["once"]).await;
    let statements = || app.metric("dunder_sql_statements_total");

    let mut sockets = Vec::new();
    let mut costs = Vec::new();
    // The first round warms the selection's statements.
    for (round, subscribers) in [1, 1, MANY].into_iter().enumerate() {
        while sockets.len() < subscribers {
            let mut socket = RawSocket::open(&address, "graphql-transport-ws").await;
            socket.subscribe("s", LATEST, json!({})).await;
            sockets.push(socket);
        }
        wait_for_subscribers(&app, subscribers).await;
        let before = statements().await;
        let text = format!("post {round}");
        app.post_ok("ann", &text, &["once"]).await;
        for socket in &mut sockets {
            let frame = socket.next_result().await;
            let payload: Value = serde_json::from_str(payload_of(&frame)).expect("JSON");
            let message = &payload["data"]["messagePosted"];
            assert_eq!(message["text"], text.as_str(), "{payload}");
            assert_eq!(
                message["user"]["messages"]["edges"][0]["node"]["text"],
                text.as_str()
            );
        }
        // The metrics request itself is not a statement.
        costs.push(statements().await - before);
    }
    let (one, many) = (costs[1], costs[2]);
    assert!(
        many <= one + NOISE,
        "a post cost {one} statements with one subscriber, {many} with {MANY}"
    );
    if backend == Backend::Sqlite {
        assert_eq!(many, one);
    }
}

/// Delivery is off the writer's path: a subscriber that reads nothing
/// (a 4 KiB receive buffer, 9 MB of messages: far more than the kernel
/// buffers of its socket hold) fills its socket, then its queue of two,
/// while every POST is still answered 201; it is then cut off with
/// `LAGGED`, as any subscriber that falls behind.
async fn a_post_is_answered_while_a_subscriber_reads_nothing(backend: Backend) {
    const POSTS: usize = 1000;
    const AT_ONCE: usize = 10;
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_subscriber_queue = Some(2);
        flags.max_text_length = Some(10_000);
    })
    .await;
    let mut sleeper =
        LiveSocket::connect_on(&app, "graphql-transport-ws", None, true, Some(4096)).await;
    sleeper.start("s", POSTED, json!({})).await;
    wait_for_subscribers(&app, 1).await;
    for first in (0..POSTS).step_by(AT_ONCE) {
        let posts = (first..first + AT_ONCE).map(|n| {
            let text = format!("{n:04} {}", "x".repeat(9_000));
            let app = &app;
            async move {
                let (status, body) = tokio::time::timeout(
                    Duration::from_secs(30),
                    app.post_message("poster", json!({"text": text, "hashtags": []})),
                )
                .await
                .unwrap_or_else(|_| panic!("POST {n} was not answered within 30 s"));
                assert_eq!(status, reqwest::StatusCode::CREATED, "POST {n}: {body}");
            }
        });
        futures::future::join_all(posts).await;
    }
    // What the sockets held, then the cut-off.
    loop {
        match sleeper.next_frame().await {
            Frame::Next(_, payload) if payload.get("errors").is_some() => {
                assert_eq!(error_codes(&payload), ["LAGGED"], "{payload}");
                break;
            }
            Frame::Next(..) | Frame::Keepalive => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

on_every_backend!(
    one_selection_one_payload,
    one_execution_per_message_and_selection,
    a_post_is_answered_while_a_subscriber_reads_nothing
);

/// The server's resident size, from its `/proc` status.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Idle subscribers are small: the real binary (the resident size is the
/// process's), with 300 idle GraphQL subscriptions, grows by less than
/// 48 KiB for each. A socket's read buffer alone was 128 KiB before it was
/// sized for small client messages. SQLite only: the memory measured is
/// the live side's, the same on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_subscribers_stay_small_on_sqlite() {
    const IDLE: usize = 300;
    const MAX_PER_SUBSCRIBER_KIB: u64 = 48;
    let (server, _dir) = sqlite_process(&[
        "--http.max_streams_per_address=1000",
        "--rate_limit.reads_per_address=0",
    ])
    .await;
    let address = format!("127.0.0.1:{}", server.port);
    let client = reqwest::Client::new();
    let subscribers = || async {
        let metrics =
            crate::helpers::metrics_text(&client, &format!("http://{address}/metrics")).await;
        crate::helpers::metric_in(&metrics, "dunder_live_subscribers").expect("the gauge")
    };
    // One subscriber first, so that what every socket shares (the
    // schema's caches, the hub's tables) is in the baseline.
    let mut sockets = vec![RawSocket::open(&address, "graphql-transport-ws").await];
    sockets[0].subscribe("s", TEXT_ONLY, json!({})).await;
    while subscribers().await < 1 {
        tokio::task::yield_now().await;
    }
    let before = resident_kib(server.pid());
    for _ in 1..IDLE {
        let mut socket = RawSocket::open(&address, "graphql-transport-ws").await;
        socket.subscribe("s", TEXT_ONLY, json!({})).await;
        sockets.push(socket);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while subscribers().await < IDLE as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the subscriptions never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let grown = resident_kib(server.pid()).saturating_sub(before);
    let per_subscriber = grown / (IDLE as u64 - 1);
    assert!(
        per_subscriber < MAX_PER_SUBSCRIBER_KIB,
        "{per_subscriber} KiB per idle subscriber ({grown} KiB for {})",
        IDLE - 1
    );
}

/// The real binary on a SQLite file of its own, with `args`, once ready;
/// with the file's directory, to be dropped after the server.
async fn sqlite_process(args: &[&str]) -> (DunderProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite:{}/dunder.db?mode=rwc", dir.path().display());
    let mut all_args = vec!["--database_url", database.as_str()];
    all_args.extend_from_slice(args);
    let server = DunderProcess::start(dir.path(), all_args, false);
    server.wait_ready().await;
    (server, dir)
}

/// A thread of the server: its name, scheduling policy and nice value.
#[derive(Debug)]
struct ThreadPriority {
    name: String,
    policy: i32,
    nice: i32,
}

/// Each thread of process `pid`, from its `/proc` stat: the name (2nd
/// field, which may hold spaces), the nice value (19th) and the
/// scheduling policy (41st).
fn thread_priorities(pid: u32) -> Vec<ThreadPriority> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc tasks");
    tasks
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
            // After the name come the 3rd field (state) and the rest.
            let field =
                |n: usize| -> Option<i32> { rest.split_whitespace().nth(n - 3)?.parse().ok() };
            Some(ThreadPriority {
                name: name.to_owned(),
                nice: field(19)?,
                policy: field(41)?,
            })
        })
        .collect()
}

/// The real binary with `args`, one subscriber that has had one message
/// (so that the subscribers' runtime and the fan-out thread exist): its
/// threads' priorities.
async fn priorities_after_one_delivery(args: &[&str]) -> Vec<ThreadPriority> {
    let (server, _dir) = sqlite_process(args).await;
    let address = format!("127.0.0.1:{}", server.port);
    let mut socket = RawSocket::open(&address, "graphql-transport-ws").await;
    socket.subscribe("s", TEXT_ONLY, json!({})).await;
    let client = reqwest::Client::new();
    // Posts until the subscriber has one: it may register after the first.
    for attempt in 0.. {
        assert!(attempt < 20, "no message delivered after 20 posts");
        let response = client
            .post(format!("http://{address}/message"))
            .bearer_auth("YW5u") // ann
            .json(&json!({"text": "priority", "hashtags": []}))
            .send()
            .await
            .expect("POST /message");
        assert_eq!(response.status(), 201);
        let frame = tokio::time::timeout(Duration::from_millis(500), socket.next_result()).await;
        if frame.is_ok() {
            break;
        }
    }
    thread_priorities(server.pid())
}

/// Policy numbers of Linux's `sched_setscheduler`.
const SCHED_OTHER: i32 = 0;
const SCHED_BATCH: i32 = 3;
const SCHED_IDLE: i32 = 5;

/// The threads of `threads` named `name`.
fn named<'a>(threads: &'a [ThreadPriority], name: &str) -> Vec<&'a ThreadPriority> {
    let found: Vec<_> = threads.iter().filter(|t| t.name == name).collect();
    assert!(!found.is_empty(), "no thread {name}: {threads:?}");
    found
}

/// The request threads (`tokio-rt-worker`) at the usual priority, that of
/// the server's process: their nice value, which the others' is compared
/// with.
fn usual_nice(threads: &[ThreadPriority]) -> i32 {
    let usual = named(threads, "tokio-rt-worker")[0].nice;
    for thread in named(threads, "tokio-rt-worker") {
        assert_eq!(
            (thread.policy, thread.nice),
            (SCHED_OTHER, usual),
            "{threads:?}"
        );
    }
    usual
}

/// Asserts that every thread of `threads` named `name` is at `policy` and
/// nice value `nice`.
fn all_at(threads: &[ThreadPriority], name: &str, policy: i32, nice: i32) {
    for thread in named(threads, name) {
        assert_eq!((thread.policy, thread.nice), (policy, nice), "{threads:?}");
    }
}

/// By default the threads that write to subscribers (the subscribers'
/// runtime, `dunder-live`) and the hub's hand-out thread (`dunder-fanout`)
/// run ten nice steps below the threads that answer requests, at the
/// batch policy: those run first, even when one of these wakes, and
/// delivery keeps a share of a busy machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_runs_at_a_low_priority_by_default_on_sqlite() {
    let threads = priorities_after_one_delivery(&[]).await;
    let low = (usual_nice(&threads) + 10).min(19);
    all_at(&threads, "dunder-live", SCHED_BATCH, low);
    all_at(&threads, "dunder-fanout", SCHED_BATCH, low);
}

/// `--live.delivery_priority=idle`: the delivery threads at `SCHED_IDLE`;
/// the hand-out thread at `low`, not idle (every feed waits for it); the
/// rest as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_delivery_priority_puts_delivery_at_the_idle_policy_on_sqlite() {
    let threads = priorities_after_one_delivery(&["--live.delivery_priority=idle"]).await;
    let low = (usual_nice(&threads) + 10).min(19);
    for thread in named(&threads, "dunder-live") {
        assert_eq!(thread.policy, SCHED_IDLE, "{threads:?}");
    }
    all_at(&threads, "dunder-fanout", SCHED_BATCH, low);
}

/// `--live.delivery_priority=normal`: every thread at the usual priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_delivery_priority_leaves_every_thread_usual_on_sqlite() {
    let threads = priorities_after_one_delivery(&["--live.delivery_priority=normal"]).await;
    let usual = usual_nice(&threads);
    all_at(&threads, "dunder-live", SCHED_OTHER, usual);
    all_at(&threads, "dunder-fanout", SCHED_OTHER, usual);
}

/// The SQLite driver's threads all run at the usual priority, however
/// hard the subscribers' threads press the read pool. A driver thread
/// takes the priority of the thread that opens its connection, and a
/// query over a WebSocket (or a feed's replay) runs on a delivery thread:
/// a connection opened there would run every later read, REST ones too,
/// at delivery's low priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_driver_threads_stay_at_the_usual_priority_on_sqlite() {
    const SOCKETS: usize = 16;
    const QUERIES: usize = 5;
    let (server, _dir) = sqlite_process(&[]).await;
    let address = format!("127.0.0.1:{}", server.port);
    let mut sockets = Vec::new();
    for _ in 0..SOCKETS {
        sockets.push(RawSocket::open(&address, "graphql-transport-ws").await);
    }
    // Every query sent before any answer is read, so that they overlap.
    for socket in &mut sockets {
        for n in 0..QUERIES {
            let query = "{ messages(first: 50) { edges { node { id text } } } }";
            socket.subscribe(&format!("q{n}"), query, json!({})).await;
        }
    }
    for socket in &mut sockets {
        let mut completed = 0;
        while completed < QUERIES {
            let frame: Value = serde_json::from_str(&socket.next_text().await).expect("JSON");
            match frame["type"].as_str() {
                Some("complete") => completed += 1,
                Some("next") => assert!(frame["payload"]["errors"].is_null(), "{frame}"),
                _ => {}
            }
        }
    }
    let threads = thread_priorities(server.pid());
    let usual = usual_nice(&threads);
    all_at(&threads, "sqlx-sqlite-wor", SCHED_OTHER, usual);
}
