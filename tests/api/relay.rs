//! Across instances: a post accepted by one server process reaches a
//! subscriber on another server process using the same database, through
//! PostgreSQL LISTEN/NOTIFY and through the tail relay (on PostgreSQL and
//! on SQLite). The subscriber's server runs in the test process, the
//! poster's is the `dunder` binary in a process of its own. Then what the
//! relays must not do (carry anything with `off`, or with `auto` on
//! SQLite; announce a batch that did not commit), and a LISTEN connection
//! that drops: those run two servers in the test process, whose state
//! (the hub, the store's database) the tests read. What a relay catches up
//! is in `relay_catch_up`.

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
pub(crate) async fn wait_for_subscribers(app: &TestApp, count: usize) {
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
/// the other tests see working.
async fn without_a_relay_nothing_crosses(backend: Backend) {
    nothing_crosses(backend, RelayMode::Off).await;
}

/// `auto` is no relay on SQLite (the README: "LISTEN/NOTIFY on PostgreSQL,
/// tailing on CockroachDB, none on SQLite"). SQLite only: on PostgreSQL
/// `auto` is LISTEN/NOTIFY, which
/// `listen_notify_carries_posts_between_servers_on_postgres` runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_relays_nothing_on_sqlite() {
    nothing_crosses(Backend::Sqlite, RelayMode::Auto).await;
}

/// Two servers on one database with `relay`, which must carry nothing:
/// each resolved it to no relay (an order window of zero, which only "no
/// relay" has), and a post on one never reaches a subscriber on the other.
/// The subscriber's own server posts after the other one, as a positive
/// control: its message arrives, so the subscription was live when the
/// other's was committed, and that one never comes (a tail relay, as
/// configured here, would have brought it within its 50 ms interval).
async fn nothing_crosses(backend: Backend, relay: RelayMode) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let clock = TestClock::at(default_start());
    let configure = move |flags: &mut dunder::cli::Flags| {
        flags.live_relay = Some(relay);
        flags.live_tail_interval_ms = Some(50);
    };
    let subscriber_side = TestApp::spawn_on(database.clone(), clock.clone(), configure).await;
    let poster_side = TestApp::spawn_on(database, clock, configure).await;
    for app in [&subscriber_side, &poster_side] {
        assert_eq!(
            app.live.order_window(),
            Duration::ZERO,
            "{relay} resolved to no relay on {backend:?}"
        );
    }
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

/// `notify`: "each write batch sends its ids with pg_notify inside its
/// transaction, so only committed posts are announced". A deferred
/// constraint trigger refuses the text `bad` at COMMIT, after its batch's
/// pg_notify has run: the batch rolls back, and its announcement must go
/// with it. A subscriber on another server could not tell an announced
/// but rolled-back id (its relay reads announced ids from the database,
/// where such a post is not), so the test also listens on the channel
/// itself. PostgreSQL delivers notifications in commit order, so the
/// good post that follows is the positive control: it must be the first
/// announcement heard, and the first message the other server's
/// subscriber gets; the next good post is the next of each. PostgreSQL
/// only: NOTIFY is PostgreSQL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_at_commit_is_not_announced_on_postgres() {
    use sea_orm::sqlx::postgres::PgListener;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let notify = |flags: &mut dunder::cli::Flags| flags.live_relay = Some(RelayMode::Notify);
    let subscriber_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let poster_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let db = poster_side.store.connection();
    for sql in [
        "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN \
         IF NEW.text = 'bad' THEN RAISE EXCEPTION 'a bad post' USING ERRCODE = 'check_violation'; END IF; \
         RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE CONSTRAINT TRIGGER refuse_bad AFTER INSERT ON messages \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_bad()",
    ] {
        db.execute(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("the trigger");
    }
    let mut announcements = PgListener::connect(&database.url)
        .await
        .expect("a LISTEN connection");
    announcements
        .listen(dunder::store::NOTIFY_CHANNEL)
        .await
        .expect("LISTEN");
    let mut socket =
        LiveSocket::connect(&subscriber_side, "graphql-transport-ws", None, true).await;
    socket
        .start("x", "subscription { messagePosted { text } }", json!({}))
        .await;
    wait_for_subscribers(&subscriber_side, 1).await;

    let before = poster_side.footprint().await;
    let (status, body) = poster_side
        .post_message("remote", json!({"text": "bad", "hashtags": []}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        poster_side.footprint().await,
        before,
        "nothing of it stored"
    );
    assert_eq!(poster_side.metric("dunder_failed_posts_total").await, 1);

    for text in ["good", "good again"] {
        let id = poster_side.post_ok("remote", text, &[]).await;
        let heard = tokio::time::timeout(Duration::from_secs(10), announcements.recv())
            .await
            .expect("an announcement within 10 s")
            .expect("a notification");
        assert_eq!(heard.payload(), id, "the next announcement is {text:?}'s");
        let (_, payload) = socket.next_payload().await;
        assert_eq!(payload["data"]["messagePosted"]["text"], text, "{payload}");
    }
}

/// "A LISTEN connection that drops reconnects": every LISTEN backend of
/// the test's database (one per server) is terminated, the test waits until
/// as many new ones are listening, and a post on one server still reaches
/// a subscriber on the other. A post before the drop crosses too (the
/// control that the relay worked to begin with). The post after is sent
/// once both are back; what is announced while a connection is down is
/// caught up, which `relay_catch_up` tests. PostgreSQL only: LISTEN is
/// PostgreSQL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listen_connection_reconnects_on_postgres() {
    use sea_orm::sqlx::{Connection, PgConnection};

    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let notify = |flags: &mut dunder::cli::Flags| flags.live_relay = Some(RelayMode::Notify);
    let subscriber_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let poster_side = TestApp::spawn_on(database.clone(), TestClock::system(), notify).await;
    let mut admin = PgConnection::connect(&database.url)
        .await
        .expect("an admin connection");
    let dropped = listening_backends(&mut admin).await;
    assert_eq!(dropped.len(), 2, "one LISTEN connection per server");

    let mut socket =
        LiveSocket::connect(&subscriber_side, "graphql-transport-ws", None, true).await;
    socket
        .start("x", "subscription { messagePosted { text } }", json!({}))
        .await;
    wait_for_subscribers(&subscriber_side, 1).await;
    poster_side.post_ok("remote", "before", &[]).await;
    let (_, payload) = socket.next_payload().await;
    assert_eq!(payload["data"]["messagePosted"]["text"], "before");

    for pid in &dropped {
        let terminated: bool = sea_orm::sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&mut admin)
            .await
            .expect("pg_terminate_backend");
        assert!(terminated, "backend {pid} terminated");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let listening = listening_backends(&mut admin).await;
        if listening.len() == 2 && listening.iter().all(|pid| !dropped.contains(pid)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the LISTEN connections did not come back (listening: {listening:?}, dropped: {dropped:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    poster_side.post_ok("remote", "after", &[]).await;
    let (_, payload) = socket.next_payload().await;
    assert_eq!(payload["data"]["messagePosted"]["text"], "after");
    let _ = admin.close().await;
}

/// The backends of this database, other than `admin`'s own, whose last
/// statement was a LISTEN that has finished: the relays' LISTEN
/// connections, listening.
pub(crate) async fn listening_backends(admin: &mut sea_orm::sqlx::PgConnection) -> Vec<i32> {
    let mut pids: Vec<i32> = sea_orm::sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND state = 'idle' AND query LIKE 'LISTEN %'",
    )
    .fetch_all(admin)
    .await
    .expect("read pg_stat_activity");
    pids.sort();
    pids
}
