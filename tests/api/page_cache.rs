//! The first-page cache: its three consistency rules (a poster sees its own
//! post next; a cached page is never behind the live feeds; with the relay
//! off or down the cache is bypassed), answers identical to the store's,
//! and what a warm first page costs. A resumed feed's replay feeds the
//! cache as the relay does.
//!
//! Two servers share one database, as two processes would. The relay that
//! keeps the cache usable is LISTEN/NOTIFY on PostgreSQL and the tail relay
//! on SQLite (which has nothing else).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dunder::config::RelayMode;
use serde_json::{json, Value};

use crate::helpers::{Backend, SseClient, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

/// A server on `database` with `relay`, the tail relay polling every
/// `tail_ms`, and the cache on or off.
async fn server(
    database: &Arc<TestDatabase>,
    relay: RelayMode,
    tail_ms: u64,
    cache: bool,
) -> TestApp {
    TestApp::spawn_on(database.clone(), TestClock::system(), |flags| {
        flags.live_relay = Some(relay);
        flags.live_tail_interval_ms = Some(tail_ms);
        flags.live_page_cache = Some(cache);
    })
    .await
}

/// Waits until `app`'s relay is healthy (the tail relay's first poll).
async fn wait_healthy(app: &TestApp) {
    wait_until("the relay is healthy", || app.live.relay_health().healthy()).await;
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn statements(app: &TestApp) -> u64 {
    app.store.stats().statements.load(Ordering::SeqCst)
}

/// The ids of a REST page's messages.
async fn page_ids(app: &TestApp, query: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/message?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The raw body of `GET /message?query`.
async fn raw(app: &TestApp, query: &str) -> String {
    let response = app
        .client
        .get(app.url(&format!("/message?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

const FIRST_PAGES: [&str; 4] = [
    "limit=5",
    "hashtag=Rust&limit=5",
    "hashtag=%23rust&limit=5",
    "user_name=alice&limit=5",
];

/// Rule 1: the post is in the very next first page from the same server,
/// for every key it belongs to, and those pages came from the cache, kept
/// current by the post's own publish. (Statements are not counted here: on
/// PostgreSQL the relay may read a post of this server back when its
/// notification outruns the writer's own publish.)
async fn a_poster_sees_its_own_post_next(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    // A long tail interval: the relay, healthy after its first poll, stays
    // so for the whole test without polling again.
    let app = server(&database, backend.relay(), 60_000, true).await;
    wait_healthy(&app).await;
    app.post_ok("alice", "first #rust", &[]).await;
    for query in FIRST_PAGES {
        page_ids(&app, query).await; // fills the key
    }
    for n in 0..20 {
        let id = app.post_ok("alice", &format!("post {n}"), &["RUST"]).await;
        let served = app.live.pages_from_cache();
        for query in FIRST_PAGES {
            let ids = page_ids(&app, query).await;
            assert_eq!(ids.first(), Some(&id), "{query} after post {n}");
        }
        assert_eq!(
            app.live.pages_from_cache() - served,
            FIRST_PAGES.len() as u64,
            "the pages came from the cache"
        );
    }
}

/// Rule 2 and the relay's part: a post made on the other server reaches
/// this one's live feed through the relay; once the feed has delivered it,
/// this server's cached first pages hold it.
async fn a_cached_page_is_never_behind_the_live_feed(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let relay = backend.relay();
    let reader = server(&database, relay, 200, true).await;
    let poster = server(&database, relay, 200, true).await;
    wait_healthy(&reader).await;
    let mut feed = SseClient::open(&reader, "hashtag=rust", None).await;
    wait_until("the feed subscribed", || {
        reader.live.hub().subscriber_count() == 1
    })
    .await;
    for query in FIRST_PAGES {
        page_ids(&reader, query).await;
    }
    for n in 0..10 {
        let id = poster
            .post_ok("alice", &format!("remote {n} #rust"), &[])
            .await;
        let event = feed.next_message().await;
        let delivered: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(delivered["id"], id.as_str());
        for query in FIRST_PAGES {
            let ids = page_ids(&reader, query).await;
            assert_eq!(ids.first(), Some(&id), "{query} after remote post {n}");
        }
    }
    // The cache answered (a late tail poll may have sent a few to the store).
    assert!(reader.live.pages_from_cache() > 0);
}

/// Rule 3, relay off: another server's posts never arrive, so every page
/// reads the store (statements are spent) and shows them at once. `auto`
/// on SQLite is `off`, and counts the same.
async fn with_the_relay_off_the_cache_is_bypassed(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let modes: &[RelayMode] = match backend {
        Backend::Sqlite => &[RelayMode::Off, RelayMode::Auto],
        _ => &[RelayMode::Off],
    };
    for &mode in modes {
        let reader = server(&database, mode, 50, true).await;
        let poster = server(&database, mode, 50, true).await;
        assert!(!reader.live.relay_health().healthy());
        for n in 0..5 {
            let id = poster
                .post_ok("bob", &format!("unrelayed {mode} {n} #rust"), &[])
                .await;
            let before = statements(&reader);
            for query in FIRST_PAGES {
                let ids = page_ids(&reader, query).await;
                if !query.starts_with("user_name") {
                    assert_eq!(ids.first(), Some(&id), "{query} with relay {mode}");
                }
            }
            assert!(statements(&reader) > before, "the store answered");
            assert_eq!(reader.live.pages_from_cache(), 0);
        }
    }
}

/// Rule 3, relay down: the LISTEN connection is cut; the cache is not used
/// until the relay is back, and what it held before is not used again, so
/// a post announced while the connection was down still shows at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_listen_connection_down_the_cache_is_bypassed_on_postgres() {
    use sea_orm::sqlx::{Connection, PgConnection};

    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let reader = server(&database, RelayMode::Notify, 50, true).await;
    let poster = server(&database, RelayMode::Off, 50, true).await;
    wait_healthy(&reader).await;
    for query in FIRST_PAGES {
        page_ids(&reader, query).await;
    }
    let misses = reader.live.relay_health().misses();
    let mut admin = PgConnection::connect(&database.url).await.unwrap();
    let pids: Vec<i32> = sea_orm::sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND query LIKE 'LISTEN %'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(pids.len(), 1, "the reader's LISTEN connection");
    let _: bool = sea_orm::sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pids[0])
        .fetch_one(&mut admin)
        .await
        .unwrap();
    wait_until("the relay noticed", || {
        reader.live.relay_health().misses() > misses
    })
    .await;
    // The poster does not notify (relay off): this post reaches the reader
    // only through the store.
    let id = poster.post_ok("alice", "while down #rust", &[]).await;
    for query in FIRST_PAGES {
        let ids = page_ids(&reader, query).await;
        assert_eq!(ids.first(), Some(&id), "{query} after the drop");
    }
    let _ = admin.close().await;
}

/// The same requests answered with the cache and without it, on the same
/// data, are the same bytes (REST) and the same JSON (GraphQL): messages,
/// hashtags in their order and spelling, `next_cursor`, `pageInfo`. Posts
/// come from both servers, so the cache holds messages of both kinds: as
/// its own writer made them, and as the relay read them.
async fn answers_match_the_store(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let relay = backend.relay();
    let cached = server(&database, relay, 50, true).await;
    let plain = server(&database, relay, 50, false).await;
    wait_healthy(&cached).await;
    let queries: Vec<String> = [
        "",
        "hashtag=rust",
        "hashtag=RUST",
        "hashtag=go",
        "user_name=alice",
        "user_name=bob",
        "hashtag=none",
        "user_name=nobody",
    ]
    .iter()
    .flat_map(|filter| {
        ["", "&limit=1", "&limit=7", "&limit=100", "&limit=101"]
            .map(|limit| format!("{filter}{limit}"))
    })
    .collect();
    let graphql_filters = [
        "",
        "filter: {hashtag: \"Rust\"}",
        "filter: {userName: \"bob\"}",
        "filter: {hashtag: \"none\"}",
    ];
    let graphql = |filter: &str, first: &str| {
        let args = [first, filter]
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({args})")
        };
        format!(
            "{{ messages{args} {{ edges {{ cursor node {{ id text hashtags createdAt user {{ id name }} }} }} \
             pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
        )
    };
    // Warm every key before the posts, so that the cache is built from
    // what is published, not only from store reads.
    for query in &queries {
        raw(&cached, query).await;
    }
    let mut last = String::new();
    for n in 0..130 {
        let (app, user) = if n % 3 == 0 {
            (&plain, "bob")
        } else {
            (&cached, "alice")
        };
        let tags: &[&str] = match n % 4 {
            0 => &["Rust", "go"],
            1 => &["GO", "rust"],
            2 => &[],
            _ => &["rUsT"],
        };
        last = app.post_ok(user, &format!("m{n} #Extra"), tags).await;
    }
    // The relay has brought the other server's posts.
    let deadline = Instant::now() + Duration::from_secs(15);
    while page_ids(&cached, "limit=1").await.first() != Some(&last) {
        assert!(Instant::now() < deadline, "the last post never showed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_healthy(&cached).await;
    for query in &queries {
        assert_eq!(
            raw(&cached, query).await,
            raw(&plain, query).await,
            "GET /message?{query}"
        );
    }
    for filter in graphql_filters {
        for first in ["", "first: 1", "first: 20", "first: 100"] {
            let query = graphql(filter, first);
            assert_eq!(
                cached.graphql_data(&query, json!({})).await,
                plain.graphql_data(&query, json!({})).await,
                "{query}"
            );
        }
    }
    // The cache answered (a late tail poll may have sent a few to the store).
    assert!(cached.live.pages_from_cache() > queries.len() as u64 / 2);
    assert_eq!(plain.live.pages_from_cache(), 0);
}

/// With the cache warm, a REST first page by hashtag and a GraphQL first
/// page with users and hashtags cost no statement; the same server with
/// the cache off spends one. A user's `messages` is a user's key too: only
/// the user's own lookup is left.
async fn a_warm_first_page_costs_no_statement(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let relay = backend.relay();
    // Long tail interval: no poll runs while statements are counted.
    let cached = server(&database, relay, 60_000, true).await;
    // No relay: it would read the other server's posts while this counts.
    let plain = server(&database, RelayMode::Off, 60_000, false).await;
    wait_healthy(&cached).await;
    for i in 0..30 {
        cached
            .post_ok(&format!("user{}", i % 3), &format!("n{i}"), &["all"])
            .await;
    }
    // Let the relay read back whatever notification outran a publish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = "hashtag=all&limit=20";
    let graphql = "{ messages(first: 20, filter: {hashtag: \"all\"}) {
                     edges { cursor node { id text hashtags createdAt user { id name } } }
                     pageInfo { hasNextPage hasPreviousPage } } }";
    let by_user = "{ user(name: \"user1\") { messages(first: 10) {
                     edges { node { id text hashtags } } pageInfo { hasNextPage } } } }";
    for app in [&cached, &plain] {
        raw(app, rest).await;
        app.graphql_data(graphql, json!({})).await;
        app.graphql_data(by_user, json!({})).await;
    }
    let mut used = Vec::new();
    for app in [&cached, &plain] {
        let before = statements(app);
        raw(app, rest).await;
        let after_rest = statements(app);
        let data = app.graphql_data(graphql, json!({})).await;
        assert_eq!(data["messages"]["edges"].as_array().unwrap().len(), 20);
        let after_graphql = statements(app);
        let data = app.graphql_data(by_user, json!({})).await;
        assert_eq!(
            data["user"]["messages"]["edges"].as_array().unwrap().len(),
            10
        );
        used.push((
            after_rest - before,
            after_graphql - after_rest,
            statements(app) - after_graphql,
        ));
    }
    assert_eq!(
        used,
        [(0, 0, 1), (1, 1, 2)],
        "(REST, GraphQL, a user's messages): cached, then not"
    );
}

/// Rule 2 for a resumed feed: its replay reads the store, where another
/// server's post can be found before the relay brings it. Once the feed has
/// delivered that post, this server's cached first pages hold it too.
async fn a_replayed_message_is_in_the_cached_pages(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    // The reader's tail relay polls once (and is healthy from then on),
    // then not again during the test: the other server's post reaches the
    // reader only through the feed's replay.
    let reader = server(&database, RelayMode::Tail, 60_000, true).await;
    let poster = server(&database, RelayMode::Off, 60_000, true).await;
    wait_healthy(&reader).await;
    let cursor = reader.post_ok("alice", "before #rust", &[]).await;
    for query in FIRST_PAGES {
        page_ids(&reader, query).await; // fills the key
    }
    let remote = poster.post_ok("alice", "remote #rust", &[]).await;
    let served = reader.live.pages_from_cache();
    for query in FIRST_PAGES {
        let ids = page_ids(&reader, query).await;
        assert_eq!(ids.first(), Some(&cursor), "{query}: the relay has not run");
    }
    assert_eq!(
        reader.live.pages_from_cache() - served,
        FIRST_PAGES.len() as u64,
        "the pages came from the cache"
    );
    let mut feed = SseClient::open(&reader, "hashtag=rust", Some(&cursor)).await;
    let event = feed.next_message().await;
    let delivered: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(delivered["id"], remote.as_str(), "replayed from the store");
    for query in FIRST_PAGES {
        let ids = page_ids(&reader, query).await;
        assert_eq!(ids.first(), Some(&remote), "{query} after the replay");
    }
}

on_every_backend!(
    a_poster_sees_its_own_post_next,
    a_cached_page_is_never_behind_the_live_feed,
    a_replayed_message_is_in_the_cached_pages,
    with_the_relay_off_the_cache_is_bypassed,
    answers_match_the_store,
    a_warm_first_page_costs_no_statement,
);
