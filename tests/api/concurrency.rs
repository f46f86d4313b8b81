//! Concurrent posts: every one stored once, the trend counters adding up;
//! and, on a serializable PostgreSQL shared by several servers (as
//! CockroachDB runs), conflicts that really happen and are retried.

use std::sync::Arc;

use futures::future::join_all;
use reqwest::StatusCode;

use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

const CLIENTS: usize = 16;
const POSTS_PER_CLIENT: usize = 25;
const TOTAL: usize = CLIENTS * POSTS_PER_CLIENT;

/// 16 clients each post 25 messages, one after another, spread over the
/// given servers; returns every id they were answered.
async fn post_from_clients(apps: &[TestApp]) -> Vec<String> {
    let clients = (0..CLIENTS).map(|client| async move {
        let mut ids = Vec::new();
        for n in 0..POSTS_PER_CLIENT {
            let app = &apps[(client + n) % apps.len()];
            ids.push(
                app.post_ok(&format!("client{client}"), &format!("post {n}"), &["load"])
                    .await,
            );
        }
        ids
    });
    join_all(clients).await.into_iter().flatten().collect()
}

async fn assert_all_stored(app: &TestApp, ids: &[String]) {
    let mut answered = ids.to_vec();
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), TOTAL, "every post got its own id");

    let mut listed = crate::helpers::ids(&app.walk("", 1000).await);
    listed.sort();
    assert_eq!(
        listed, answered,
        "every answered post is stored, nothing else"
    );

    let footprint = app.footprint().await;
    assert_eq!(footprint.messages, TOTAL as i64);
    assert_eq!(footprint.links, TOTAL as i64);
    assert_eq!(footprint.users, CLIENTS as i64);

    // Every post is stamped by the test clock, on 2019-09-23.
    for query in [
        "/trend?from_date=2019-09-23&to_date=2019-09-24&aggregation=24h",
        "/trend?hashtag=load&from_date=2019-09-23&to_date=2019-09-24&aggregation=1m",
    ] {
        let (status, body) = app.get(query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let sum: i64 = body["data"]["trends"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["count"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, TOTAL as i64, "trend counts add up: {query}");
    }
}

async fn concurrent_posts_all_land(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = post_from_clients(std::slice::from_ref(&app)).await;
    assert_all_stored(&app, &ids).await;
    assert_eq!(
        app.metric("dunder_messages_posted_total").await,
        TOTAL as u64
    );
    assert!(
        app.metric("dunder_write_batches_total").await <= TOTAL as u64,
        "group commit never takes more transactions than posts"
    );
}

on_every_backend!(
    concurrent_posts_all_land,
    a_burst_is_written_in_few_batches,
    a_bad_post_fails_alone,
    known_names_cost_no_statements_to_post
);

/// Group commit itself: a burst of posts, all waiting at once, is written
/// in a few transactions; the same burst with batches capped at one post
/// (the write benchmark's baseline) takes one transaction per post, which
/// shows the batch counter counts.
async fn a_burst_is_written_in_few_batches(backend: Backend) {
    const BURST: usize = 200;
    let database = TestDatabase::create(backend).await;
    for (max_batch, fewest, most) in [(1, BURST, BURST), (dunder::store::MAX_BATCH, 1, 10)] {
        let store = dunder::store::Store::open(
            &database.url,
            dunder::store::StoreOptions {
                max_batch,
                // This test counts transactions, not deadlines: one post
                // per transaction on a loaded machine may take longer than
                // the default 5 s for the last of 200, which would refuse
                // it (503) instead of writing it.
                post_timeout: std::time::Duration::from_secs(120),
                ..dunder::store::StoreOptions::default()
            },
        )
        .await
        .expect("open the store");
        let before = store
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed);
        // Every post is queued in the first poll of join_all, before the
        // writer has finished its first transaction.
        let posts = (0..BURST).map(|n| {
            let store = store.clone();
            async move {
                let author = dunder::domain::UserName::parse("user", "burst").expect("name");
                let post =
                    dunder::domain::NewMessage::parse(author, &format!("burst {n}"), &[], 500)
                        .expect("post");
                store.post(post).await.expect("stored")
            }
        });
        let stored = join_all(posts).await;
        assert_eq!(stored.len(), BURST);
        let batches = store
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            - before;
        assert!(
            (fewest as u64..=most as u64).contains(&batches),
            "{BURST} posts with batches of at most {max_batch}: {batches} transactions"
        );
    }
}

/// Four servers on one PostgreSQL database whose transactions are all
/// SERIALIZABLE: their group commits touch the same counter and user rows,
/// PostgreSQL answers 40001, and the write path retries until every post
/// lands exactly once. PostgreSQL only: SQLite has one writer at a time,
/// so it never has a serialization conflict to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serializable_conflicts_are_retried_on_postgres() {
    let database = Arc::new(TestDatabase::create(Backend::PostgresSerializable).await);
    // One clock for all, so every post shares the same counter minute.
    let clock = TestClock::at(default_start());
    let mut apps = Vec::new();
    for _ in 0..4 {
        apps.push(TestApp::spawn_on(database.clone(), clock.clone(), |_| {}).await);
    }
    let ids = post_from_clients(&apps).await;
    assert_all_stored(&apps[0], &ids).await;

    let mut retries = 0;
    let mut posted = 0;
    for app in &apps {
        retries += app.metric("dunder_transaction_retries_total").await;
        posted += app.metric("dunder_messages_posted_total").await;
        assert_eq!(app.metric("dunder_failed_posts_total").await, 0);
    }
    assert_eq!(posted, TOTAL as u64);
    println!("serializable run: {retries} transaction retries for {TOTAL} posts over 4 servers");
    assert!(
        retries > 0,
        "the serializable run should have hit SQLSTATE 40001 at least once"
    );
}

/// One bad post cannot sink the others: a batch that the database refuses
/// because of one post's data is written again post by post, and only that
/// post fails. The database is made to refuse one text with a trigger.
async fn a_bad_post_fails_alone(backend: Backend) {
    const BURST: usize = 40;
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn(backend).await;
    let db = app.store.connection();
    let refuse_bad = match backend {
        Backend::Sqlite => vec![
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON messages WHEN NEW.text = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'a bad post'); END",
        ],
        _ => vec![
            "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN \
             IF NEW.text = 'bad' THEN RAISE EXCEPTION 'a bad post' USING ERRCODE = 'check_violation'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_bad()",
        ],
    };
    for sql in refuse_bad {
        db.execute(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("trigger");
    }
    let batches_before = app.metric("dunder_write_batches_total").await;
    // All queued at once, so that the bad post shares a batch with others.
    let posts = (0..BURST).map(|n| {
        let store = app.store.clone();
        async move {
            let author = dunder::domain::UserName::parse("user", "poster").expect("name");
            let text = if n == BURST / 2 {
                "bad".to_owned()
            } else {
                format!("good {n}")
            };
            let post = dunder::domain::NewMessage::parse(author, &text, &[], 500).expect("post");
            (text, store.post(post).await)
        }
    });
    let results = join_all(posts).await;
    for (text, result) in &results {
        assert_eq!(result.is_ok(), text != "bad", "{text}: {result:?}");
    }
    assert_eq!(app.metric("dunder_failed_posts_total").await, 1);
    assert_eq!(
        app.metric("dunder_messages_posted_total").await,
        BURST as u64 - 1
    );
    assert_eq!(app.footprint().await.messages, BURST as i64 - 1);
    // The good posts of the refused batch were written one by one.
    assert!(app.metric("dunder_write_batches_total").await - batches_before > 1);
}

/// A post whose author and hashtags the writer already knows is written
/// without creating or reading back the names: on PostgreSQL as one
/// statement (its own transaction), on SQLite as one call (the message,
/// its hashtag links and the trend counters, separated by semicolons, in
/// a transaction). A new name is created and read back first: two more
/// for the authors, two for the hashtags. The relay is off, so that
/// nothing else counts while the test measures.
async fn known_names_cost_no_statements_to_post(backend: Backend) {
    let database = Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_relay = Some(dunder::config::RelayMode::Off);
    })
    .await;
    let statements = || app.metric("dunder_sql_statements_total");
    let mut costs = Vec::new();
    for (user, tags) in [
        ("ann", vec!["rust"]),
        ("ann", vec!["rust"]),
        ("ann", vec!["Rust", "go"]),
        ("bob", vec!["go"]),
        ("bob", vec![]),
    ] {
        let before = statements().await;
        app.post_ok(user, "hello", &tags).await;
        costs.push(statements().await - before);
    }
    // New author and tag; both known; a new tag; a new author; no tags
    // (no links to write either).
    let expected = match backend {
        Backend::Sqlite => [5, 1, 3, 3, 1],
        _ => [7, 1, 5, 5, 1],
    };
    assert_eq!(costs, expected, "statements per post");
    // What a post answers and stores is the same either way: the stored
    // display form of a tag is its first spelling.
    let (status, page) = app.get("/message?user_name=ann&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["data"]["messages"][0]["hashtags"],
        serde_json::json!(["rust", "go"])
    );
}
