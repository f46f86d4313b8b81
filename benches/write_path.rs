//! The write path's throughput and the listing's cost at depth, measured
//! against baselines taken in the same run, on SQLite and PostgreSQL:
//!
//! - posts per second with group commit, against one post per transaction
//!   (the same server with batches capped at one post);
//! - reading a page deep in a listing, against reading the first page.
//!
//! Run: `cargo bench --bench write_path` (PostgreSQL from
//! `DUNDER_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Figures are printed, not asserted: machines differ, ratios travel.

use std::time::{Duration, Instant};

use base64::Engine;
use dunder::cli::Flags;
use dunder::config::RelayMode;
use dunder::config::{RateLimitFlags, Settings};
use dunder::server::Application;
use dunder::store::{StoreOptions, MAX_BATCH};
use futures::future::join_all;

mod support;
use support::{drop_database, fresh_database};

const CLIENTS: usize = 64;
const POSTS_PER_CLIENT: usize = 50;
const PAGE_READS: usize = 200;

struct Server {
    base: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A server with batches of at most `max_batch` posts and the live relay
/// as given (`Auto` is LISTEN/NOTIFY on PostgreSQL: a NOTIFY per batch).
async fn start(url: &str, max_batch: usize, relay: RelayMode) -> Server {
    let flags = Flags {
        database_url: Some(url.to_owned()),
        port: Some(0),
        listen_address: Some("127.0.0.1".parse().unwrap()),
        live_relay: Some(relay),
        // Every benchmark client is 127.0.0.1: no rate limits here.
        rate_limit: RateLimitFlags {
            writes_per_user: Some(0),
            writes_per_address: Some(0),
            reads_per_user: Some(0),
            reads_per_address: Some(0),
        },
        ..Flags::default()
    };
    let settings = Settings::from_layers(None, &flags).unwrap();
    let options = StoreOptions {
        max_batch,
        ..StoreOptions::default()
    };
    let app = Application::build_with_options(&settings, options)
        .await
        .unwrap();
    let base = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Server {
        base,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

async fn post(server: &Server, user: &str, n: usize) {
    let token = base64::engine::general_purpose::STANDARD.encode(user);
    let response = server
        .client
        .post(format!("{}/message", server.base))
        .bearer_auth(token)
        .body(format!(
            r#"{{"text": "bench post {n} #bench", "hashtags": ["load", "tag{}"]}}"#,
            n % 8
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "post failed");
}

/// Posts from CLIENTS concurrent clients; returns posts per second.
async fn posts_per_second(server: &Server) -> f64 {
    let started = Instant::now();
    join_all((0..CLIENTS).map(|c| async move {
        for n in 0..POSTS_PER_CLIENT {
            post(server, &format!("user{}", c % 4), n).await;
        }
    }))
    .await;
    (CLIENTS * POSTS_PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

/// Mean time to read one page of 100 messages of `query` starting at `cursor`.
async fn page_time(server: &Server, query: &str, cursor: Option<&str>) -> Duration {
    let url = page_url(server, query, cursor);
    let started = Instant::now();
    for _ in 0..PAGE_READS {
        let response = server.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    started.elapsed() / PAGE_READS as u32
}

fn page_url(server: &Server, query: &str, cursor: Option<&str>) -> String {
    let mut url = format!("{}/message?limit=100&{query}", server.base);
    if let Some(cursor) = cursor {
        url.push_str("&cursor=");
        url.push_str(cursor);
    }
    url
}

/// The cursor that starts the last full page of `query`, and its depth in pages.
async fn deepest_cursor(server: &Server, query: &str) -> (String, usize) {
    let mut cursors: Vec<String> = Vec::new();
    loop {
        let url = page_url(server, query, cursors.last().map(String::as_str));
        let body: serde_json::Value = server
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["data"]["messages"].as_array().map_or(0, Vec::len) < 100 {
            break;
        }
        cursors.push(body["data"]["next_cursor"].as_str().unwrap().to_owned());
    }
    // The last cursor leads past the end; the one before it starts the
    // last full page.
    assert!(cursors.len() >= 2, "{query}: needs at least two full pages");
    let index = cursors.len() - 2;
    (cursors.swap_remove(index), index + 2)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        println!("{CLIENTS} clients x {POSTS_PER_CLIENT} posts, pages of 100 read {PAGE_READS} times\n");
        for (n, backend) in ["sqlite", "postgres"].into_iter().enumerate() {
            let (baseline_url, baseline_db) = fresh_database(backend, &dir, 2 * n).await;
            let baseline = start(&baseline_url, 1, RelayMode::Auto).await;
            posts_per_second(&baseline).await; // warm-up: users, hashtags, caches
            let one_per_transaction = posts_per_second(&baseline).await;
            drop(baseline);

            let (url, db) = fresh_database(backend, &dir, 2 * n + 1).await;
            let server = start(&url, MAX_BATCH, RelayMode::Auto).await;
            posts_per_second(&server).await;
            let grouped = posts_per_second(&server).await;
            println!(
                "{backend:8} posts/s: one post per transaction {one_per_transaction:8.0}, group commit {grouped:8.0}, ratio {:.2}",
                grouped / one_per_transaction
            );
            if backend == "postgres" {
                // What announcing each batch to other processes costs.
                let (quiet_url, quiet_db) = fresh_database(backend, &dir, 10).await;
                let quiet = start(&quiet_url, MAX_BATCH, RelayMode::Off).await;
                posts_per_second(&quiet).await;
                let without_notify = posts_per_second(&quiet).await;
                drop(quiet);
                drop_database(quiet_db).await;
                println!(
                    "{backend:8} posts/s: group commit without the relay's NOTIFY {without_notify:8.0}, with it {grouped:8.0}, ratio {:.2}",
                    grouped / without_notify
                );
            }

            // 6,400 messages are stored now: compare the first page with the
            // last full one.
            for query in ["", "hashtag=load", "user_name=user1", "hashtag=tag3", "user_name=user1&hashtag=load"] {
                let first = page_time(&server, query, None).await;
                let (cursor, depth) = deepest_cursor(&server, query).await;
                let deep = page_time(&server, query, Some(&cursor)).await;
                println!(
                    "{backend:8} {:30} page 1 {:6.2} ms, page {:2} {:6.2} ms, ratio {:.2}",
                    format!("[{query}]"),
                    first.as_secs_f64() * 1e3,
                    depth,
                    deep.as_secs_f64() * 1e3,
                    deep.as_secs_f64() / first.as_secs_f64()
                );
            }
            drop(server);
            drop_database(baseline_db).await;
            drop_database(db).await;
        }
    });
}
