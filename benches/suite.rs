//! The read and write suite: Dunder over realistic data, against baselines
//! measured in the same run, on SQLite and on PostgreSQL.
//!
//! - **Seeding:** 1,000 users, 400 hashtags and N messages (1 to 3 hashtags
//!   each, spread over 30 days) written in bulk straight into Dunder's
//!   tables, trend counters (minutes, hours and days) included, then
//!   `ANALYZE`.
//! - **Filtered listing:** the newest 20 messages with a given hashtag, with
//!   their user and hashtags, for a fixed time from 16 concurrent clients:
//!   REST `GET /message?hashtag=…&limit=20` and GraphQL
//!   `messages(first: 20, filter: {hashtag})`, against the same page as one
//!   prepared statement (`pgbench -M prepared`) and against PostGraphile 4
//!   serving it from the same tables (PostgreSQL only).
//! - **Listing depth:** page 1 against a page 100,000 messages deep, p50/p99.
//! - **Trends:** 30 days at `1m` and at `1h` through `GET /trend`, against
//!   `count(*) … GROUP BY` over the raw rows.
//! - **Posts per second** at 1, 16 and 64 clients, against pgbench doing
//!   the same post as one transaction (PostgreSQL only).
//!
//! Run: `cargo bench --bench suite`. Settings, all optional:
//! `DUNDER_BENCH_MESSAGES` (1000000), `DUNDER_BENCH_SECONDS` per load
//! (10), `DUNDER_BENCH_BACKENDS` (`sqlite,postgres`),
//! `DUNDER_BENCH_POSTGRAPHILE=0` to skip PostGraphile (it is installed with
//! npm at run time), `DUNDER_BENCH_MEASURES` to run only some measures
//! (`listing,depth,trends,posts`, all by default: one measure alone is the
//! quick way to compare two builds), `DUNDER_BENCH_KEEP=1` to keep the
//! seeded databases,
//! `DUNDER_BENCH_OUT` for the JSON result (default `bench-suite.json` in
//! Cargo's target directory, the chart beside it). PostgreSQL comes from
//! `DUNDER_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; it needs `pgbench` on the
//! PATH, and `node` and `npm` for PostGraphile.
//!
//! Figures are printed as ratios against the baselines, never asserted:
//! machines differ, ratios travel.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait, TREND_DAY_ROWS, TREND_HOUR_ROWS};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use serde_json::{json, Value};

mod support;
use support::{drop_database, fresh_database, Server};

const USERS: usize = 1_000;
const HASHTAGS: usize = 400;
const DAYS: i64 = 30;
/// How deep the deep page of the listing-depth measure starts.
const DEPTH: usize = 100_000;
const PAGE: usize = 20;
const LISTING_CLIENTS: usize = 16;
const POST_CLIENTS: [usize; 3] = [1, 16, 64];
/// Dunder's key for the trend counter of every message.
const ALL_MESSAGES: i64 = 0;
/// The most buckets one `GET /trend` may ask for.
const MAX_TREND_BUCKETS: i64 = 10_000;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let messages: usize = setting("DUNDER_BENCH_MESSAGES", "1000000")
        .replace('_', "")
        .parse()
        .expect("DUNDER_BENCH_MESSAGES is a number");
    let seconds: u64 = setting("DUNDER_BENCH_SECONDS", "10").parse().unwrap();
    let backends = setting("DUNDER_BENCH_BACKENDS", "sqlite,postgres");
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for (n, backend) in backends.split(',').map(str::trim).enumerate() {
        let (url, database) = fresh_database(backend, &dir, n).await;
        let result = bench_backend(backend, &url, messages, Duration::from_secs(seconds)).await;
        // Kept on request, to look at plans over the same data afterwards.
        if setting("DUNDER_BENCH_KEEP", "0") == "1" {
            println!("{backend}: database kept: {url}");
        } else {
            drop_database(database).await;
        }
        results.push(result);
    }
    let report = json!({
        "messages": messages,
        "users": USERS,
        "hashtags": HASHTAGS,
        "seconds_per_load": seconds,
        "backends": results,
    });
    if setting("DUNDER_BENCH_KEEP", "0") == "1" {
        // The SQLite files live in this directory.
        let _ = dir.keep();
    }
    let out = std::env::var("DUNDER_BENCH_OUT")
        .unwrap_or_else(|_| format!("{}/../bench-suite.json", env!("CARGO_TARGET_TMPDIR")));
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    let chart = Path::new(&out).with_extension("svg");
    std::fs::write(&chart, svg(&report)).unwrap();
    println!("\n{}", markdown(&report));
    println!("JSON result: {out}\nchart: {}", chart.display());
}

/// Every measure on one backend, as a JSON object.
async fn bench_backend(backend: &str, url: &str, messages: usize, duration: Duration) -> Value {
    let postgres = backend == "postgres";
    let db = Database::connect(url).await.expect("connect for seeding");
    Migrator::up(&db, None).await.expect("migrate");
    let seed = Seed::new(messages);
    let started = Instant::now();
    seed.write(&db, postgres).await;
    let seeded = started.elapsed();
    // Without statistics the planner guesses row counts, and on these
    // tables it guesses wrong: before the tables were analyzed every system
    // measured here (Dunder, the prepared SQL, PostGraphile) ran 4 to 8
    // times slower. Operators who bulk-load must do the same.
    let started = Instant::now();
    db.execute_unprepared("ANALYZE").await.unwrap();
    let analyzed = started.elapsed();
    println!(
        "{backend}: seeded {messages} messages in {:.1} s, ANALYZE {:.1} s",
        seeded.as_secs_f64(),
        analyzed.as_secs_f64()
    );

    // The server starts after seeding, so nothing it keeps in memory can
    // predate the rows.
    let server = Server::start(&server_args(url)).await;
    let base = server.http();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();

    let mut out = json!({ "backend": backend, "seed_seconds": seeded.as_secs_f64() });
    let measures = setting("DUNDER_BENCH_MEASURES", "listing,depth,trends,posts");
    let wanted = |measure: &str| measures.split(',').any(|m| m.trim() == measure);

    if wanted("listing") {
        listing(&mut out, backend, url, &client, &base, duration).await;
    }
    if wanted("depth") {
        depth(&mut out, backend, &db, &client, &base).await;
    }
    if wanted("trends") {
        trends(&mut out, backend, &db, &seed, &client, &base).await;
    }
    if wanted("posts") {
        posts(&mut out, backend, url, &client, &base, server, duration).await;
    }
    db.close().await.ok();
    out
}

/// Filtered listing: REST and GraphQL, against the prepared statement and
/// PostGraphile on PostgreSQL.
async fn listing(
    out: &mut Value,
    backend: &str,
    url: &str,
    client: &reqwest::Client,
    base: &str,
    duration: Duration,
) {
    let postgres = backend == "postgres";
    let rest = load(LISTING_CLIENTS, duration, rest_page(client, base)).await;
    let graphql = load(LISTING_CLIENTS, duration, graphql_page(client, base)).await;
    println!(
        "{backend}: REST page {:.0} req/s, GraphQL page {:.0} req/s",
        rest.rate, graphql.rate
    );
    out["listing"] =
        json!({ "clients": LISTING_CLIENTS, "rest": rest.json(), "graphql": graphql.json() });
    if postgres {
        let prepared = pgbench(url, PAGE_SQL, LISTING_CLIENTS, duration);
        println!("{backend}: prepared SQL page {prepared:.0} req/s");
        out["listing"]["prepared_sql"] = json!({ "rate": prepared });
        if setting("DUNDER_BENCH_POSTGRAPHILE", "1") != "0" {
            match PostGraphile::start(url).await {
                Some(pgl) => {
                    let rate = load(
                        LISTING_CLIENTS,
                        duration,
                        postgraphile_page(client, &pgl.url),
                    )
                    .await;
                    println!("{backend}: PostGraphile page {:.0} req/s", rate.rate);
                    out["listing"]["postgraphile"] = rate.json();
                }
                None => println!("{backend}: PostGraphile could not be started; skipped"),
            }
        }
    }
}

/// Listing depth: the same listing (every message, newest first) from the
/// top and from DEPTH messages down.
async fn depth(
    out: &mut Value,
    backend: &str,
    db: &DatabaseConnection,
    client: &reqwest::Client,
    base: &str,
) {
    let postgres = backend == "postgres";
    let deep_id = deep_message(db, postgres).await;
    let cursor = {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&deep_id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    // Page 1 is asked for with a cursor past every id (the largest ULID,
    // which `cursor` takes as a message id), so that both pages are read
    // from the database: without a cursor the first page comes from the
    // first-page cache, and the ratio would measure the cache, not depth.
    let first = latencies(
        client,
        &format!("{base}/message?limit={PAGE}&cursor=7ZZZZZZZZZZZZZZZZZZZZZZZZZ"),
        500,
    )
    .await;
    let deep = latencies(
        client,
        &format!("{base}/message?limit={PAGE}&cursor={cursor}"),
        500,
    )
    .await;
    println!(
        "{backend}: page 1 p50 {:.2} ms p99 {:.2} ms; {DEPTH} deep p50 {:.2} ms p99 {:.2} ms",
        ms(first.0),
        ms(first.1),
        ms(deep.0),
        ms(deep.1)
    );
    out["depth"] = json!({
        "depth": DEPTH,
        "page1_p50_ms": ms(first.0), "page1_p99_ms": ms(first.1),
        "deep_p50_ms": ms(deep.0), "deep_p99_ms": ms(deep.1),
    });
}

/// Trends over the seeded 30 days, every message and one hashtag.
async fn trends(
    out: &mut Value,
    backend: &str,
    db: &DatabaseConnection,
    seed: &Seed,
    client: &reqwest::Client,
    base: &str,
) {
    let postgres = backend == "postgres";
    // On PostgreSQL the counters are vacuumed first, as autovacuum keeps a
    // live counter table (its old minutes never change again): an
    // index-only scan needs the visibility map, which a bulk load leaves
    // unset. Only Dunder's counters: the raw rows are left as they were.
    if postgres {
        db.execute_unprepared("VACUUM trend_counts").await.unwrap();
    }
    let mut trends = Vec::new();
    for hashtag in [None, Some(7usize)] {
        for minutes in [1i64, 60] {
            let dunder = trend_time(client, base, seed, hashtag, minutes).await;
            let raw = raw_trend_time(db, postgres, seed, hashtag, minutes).await;
            println!(
                "{backend}: trend {} at {minutes}m: Dunder {:.2} ms, raw rows {:.2} ms",
                hashtag.map_or("all".to_owned(), |h| format!("tag{h}")),
                ms(dunder),
                ms(raw)
            );
            trends.push(json!({
                "hashtag": hashtag.map(|h| format!("tag{h}")),
                "aggregation_minutes": minutes,
                "dunder_ms": ms(dunder),
                "raw_rows_ms": ms(raw),
            }));
        }
    }
    out["trends"] = Value::Array(trends);
}

/// Posts per second at each client count, then pgbench's one post per
/// transaction on PostgreSQL; stops `server` in between.
async fn posts(
    out: &mut Value,
    backend: &str,
    url: &str,
    client: &reqwest::Client,
    base: &str,
    server: Server,
    duration: Duration,
) {
    let postgres = backend == "postgres";
    // Posts per second, Dunder first; the server is stopped before pgbench
    // posts, so that its relay never sees rows it did not write.
    // The writer's counters around each load say how the posts were
    // written: posts per group commit, and statements per commit.
    let mut posts = Vec::new();
    for clients in POST_CLIENTS {
        let before = writer_counters(client, base).await;
        let rate = load(clients, duration, post(client, base)).await;
        let after = writer_counters(client, base).await;
        let [posted, batches, statements] =
            std::array::from_fn(|n| after[n] - before[n]).map(|d| d.max(0.0));
        let per_batch = |count: f64| count / batches.max(1.0);
        println!(
            "{backend}: {clients} clients post {:.0} posts/s ({:.1} posts and {:.1} statements per batch)",
            rate.rate,
            per_batch(posted),
            per_batch(statements)
        );
        posts.push(json!({
            "clients": clients,
            "dunder": rate.json(),
            "posts_per_batch": per_batch(posted),
            "statements_per_batch": per_batch(statements),
        }));
    }
    drop(server);
    if postgres {
        // The script's rollup keys are literals (pgbench has no constants).
        assert!(
            POST_SQL.contains(&TREND_HOUR_ROWS.to_string())
                && POST_SQL.contains(&TREND_DAY_ROWS.to_string()),
            "the pgbench post writes the rollups at Dunder's keys"
        );
        for (n, clients) in POST_CLIENTS.into_iter().enumerate() {
            let rate = pgbench(url, POST_SQL, clients, duration);
            println!(
                "{backend}: pgbench one post per transaction, {clients} clients: {rate:.0} posts/s"
            );
            posts[n]["pgbench"] = json!({ "rate": rate });
        }
    }
    out["posts"] = Value::Array(posts);
}

fn server_args(url: &str) -> Vec<&str> {
    vec![
        "--database_url",
        url,
        // Every client here is 127.0.0.1: no rate limits.
        "--rate_limit.writes_per_user=0",
        "--rate_limit.writes_per_address=0",
        "--rate_limit.reads_per_user=0",
        "--rate_limit.reads_per_address=0",
    ]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------- seeding

/// The seeded data, generated from a fixed seed so that the same rows come
/// out on every pass (the messages and their links are written in two
/// passes over the same sequence, instead of held in memory).
struct Seed {
    messages: usize,
    /// The seeded range, `[start_ms, end_ms)`, 30 days ending on the hour
    /// before now.
    start_ms: i64,
    end_ms: i64,
}

struct SeedMessage {
    id: [u8; 16],
    at_ms: i64,
    user: usize,
    hashtags: Vec<usize>,
}

impl Seed {
    fn new(messages: usize) -> Seed {
        let hour = 3_600_000;
        let end_ms = Utc::now().timestamp_millis() / hour * hour;
        Seed {
            messages,
            start_ms: end_ms - DAYS * 24 * hour,
            end_ms,
        }
    }

    /// Messages oldest first, evenly spread over the range; authors and
    /// hashtags uniform, 1 to 3 distinct hashtags each (so about 5,000
    /// messages per hashtag for a million).
    fn iter(&self) -> impl Iterator<Item = SeedMessage> + '_ {
        let mut rng = fastrand::Rng::with_seed(10);
        let span = (self.end_ms - self.start_ms) as i128;
        (0..self.messages).map(move |i| {
            let at_ms = self.start_ms + (i as i128 * span / self.messages as i128) as i64;
            let random = rng.u128(..) & ((1u128 << 80) - 1);
            let id = ulid::Ulid::from_parts(at_ms as u64, random).to_bytes();
            let user = rng.usize(1..=USERS);
            let count = rng.usize(1..=3);
            let mut hashtags: Vec<usize> = Vec::with_capacity(count);
            while hashtags.len() < count {
                let h = rng.usize(1..=HASHTAGS);
                if !hashtags.contains(&h) {
                    hashtags.push(h);
                }
            }
            SeedMessage {
                id,
                at_ms,
                user,
                hashtags,
            }
        })
    }

    /// Writes users, hashtags, messages, links and trend counters the way
    /// Dunder's write path stores them: ids as the ULID's 16 bytes,
    /// counters per (hashtag, minute since the epoch) plus one per minute
    /// under hashtag id 0 for every message, and the same per hour and per
    /// day in the rollups' key ranges.
    async fn write(&self, db: &DatabaseConnection, postgres: bool) {
        let now = Utc::now();
        let users: Vec<String> = (1..=USERS)
            .map(|u| format!("({u}, 'user{u}', {})", timestamp_sql(now, postgres)))
            .collect();
        let hashtags: Vec<String> = (1..=HASHTAGS)
            .map(|h| format!("({h}, 'tag{h}', 'Tag{h}')"))
            .collect();
        db.execute_unprepared(&format!(
            "INSERT INTO users (id, name, created_at) VALUES {}",
            users.join(",")
        ))
        .await
        .unwrap();
        db.execute_unprepared(&format!(
            "INSERT INTO hashtags (id, name, display) VALUES {}",
            hashtags.join(",")
        ))
        .await
        .unwrap();
        if postgres {
            // The ids were given, so the sequences must move past them for
            // the posts that follow.
            for table in ["users", "hashtags"] {
                db.execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                ))
                .await
                .unwrap();
            }
        }

        let mut counts: HashMap<(i64, i64), i64> = HashMap::new();
        let mut messages =
            Rows::new(db, postgres, "messages (id, user_id, text, created_at)").await;
        for m in self.iter() {
            let at = DateTime::from_timestamp_millis(m.at_ms).unwrap();
            let text = format!(
                "seed message from user{} about {} things",
                m.user,
                m.hashtags.len()
            );
            messages
                .push(&[
                    bytes_literal(&m.id, postgres),
                    m.user.to_string(),
                    text_literal(&text, postgres),
                    timestamp_field(at, postgres),
                ])
                .await;
            let minute = m.at_ms.div_euclid(60_000);
            *counts.entry((ALL_MESSAGES, minute)).or_default() += 1;
            for h in &m.hashtags {
                *counts.entry((*h as i64, minute)).or_default() += 1;
            }
        }
        messages.finish().await;

        let mut links = Rows::new(
            db,
            postgres,
            "message_hashtags (hashtag_id, message_id, user_id, position)",
        )
        .await;
        for m in self.iter() {
            for (position, h) in m.hashtags.iter().enumerate() {
                links
                    .push(&[
                        h.to_string(),
                        bytes_literal(&m.id, postgres),
                        m.user.to_string(),
                        position.to_string(),
                    ])
                    .await;
            }
        }
        links.finish().await;

        // The hour and day rollups beside the minutes, as the write path
        // keeps them.
        let minutes: Vec<((i64, i64), i64)> = counts.iter().map(|(k, c)| (*k, *c)).collect();
        for ((h, minute), count) in minutes {
            for (grain, first_key) in [(60, TREND_HOUR_ROWS), (24 * 60, TREND_DAY_ROWS)] {
                *counts
                    .entry((h, first_key + minute - minute % grain))
                    .or_default() += count;
            }
        }
        let mut counters =
            Rows::new(db, postgres, "trend_counts (hashtag_id, minute, count)").await;
        for ((h, minute), count) in counts {
            counters
                .push(&[h.to_string(), minute.to_string(), count.to_string()])
                .await;
        }
        counters.finish().await;
    }
}

/// A table's rows on their way in: `COPY … FROM STDIN` on PostgreSQL (the
/// fastest bulk path it has), multi-row INSERTs of 500 rows in one
/// transaction on SQLite.
enum Rows {
    Copy {
        copy: sea_orm::sqlx::postgres::PgCopyIn<
            sea_orm::sqlx::pool::PoolConnection<sea_orm::sqlx::Postgres>,
        >,
        buffer: String,
    },
    Insert {
        txn: sea_orm::DatabaseTransaction,
        into: String,
        values: Vec<String>,
    },
}

impl Rows {
    async fn new(db: &DatabaseConnection, postgres: bool, into: &str) -> Rows {
        if postgres {
            let copy = sea_orm::sqlx::postgres::PgPoolCopyExt::copy_in_raw(
                db.get_postgres_connection_pool(),
                &format!("COPY {into} FROM STDIN"),
            )
            .await
            .unwrap();
            Rows::Copy {
                copy,
                buffer: String::new(),
            }
        } else {
            Rows::Insert {
                txn: db.begin().await.unwrap(),
                into: into.to_owned(),
                values: Vec::new(),
            }
        }
    }

    /// One row of literals (COPY text fields on PostgreSQL, SQL literals
    /// on SQLite).
    async fn push(&mut self, fields: &[String]) {
        match self {
            Rows::Copy { copy, buffer } => {
                buffer.push_str(&fields.join("\t"));
                buffer.push('\n');
                if buffer.len() > 1 << 20 {
                    copy.send(std::mem::take(buffer).into_bytes())
                        .await
                        .unwrap();
                }
            }
            Rows::Insert { txn, into, values } => {
                values.push(format!("({})", fields.join(",")));
                if values.len() == 500 {
                    flush_insert(txn, into, values).await;
                }
            }
        }
    }

    async fn finish(self) {
        match self {
            Rows::Copy { mut copy, buffer } => {
                if !buffer.is_empty() {
                    copy.send(buffer.into_bytes()).await.unwrap();
                }
                copy.finish().await.unwrap();
            }
            Rows::Insert {
                txn,
                into,
                mut values,
            } => {
                flush_insert(&txn, &into, &mut values).await;
                txn.commit().await.unwrap();
            }
        }
    }
}

async fn flush_insert(txn: &sea_orm::DatabaseTransaction, into: &str, values: &mut Vec<String>) {
    if values.is_empty() {
        return;
    }
    txn.execute_unprepared(&format!("INSERT INTO {into} VALUES {}", values.join(",")))
        .await
        .unwrap();
    values.clear();
}

/// A 16-byte id: a COPY text field (`\\x…`, the backslash escaped for
/// COPY) or an SQLite blob literal.
fn bytes_literal(id: &[u8; 16], postgres: bool) -> String {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    if postgres {
        format!("\\\\x{hex}")
    } else {
        format!("X'{hex}'")
    }
}

fn text_literal(text: &str, postgres: bool) -> String {
    if postgres {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "''"))
    }
}

/// A timestamp as an SQL literal. PostgreSQL parses it into a
/// `timestamptz`; SQLite keeps text, so it is the RFC 3339 form the driver
/// writes for Dunder (and compares in time order as text).
fn timestamp_sql(t: DateTime<Utc>, postgres: bool) -> String {
    if postgres {
        format!("'{}'", t.format("%Y-%m-%d %H:%M:%S%.3f+00"))
    } else {
        format!("'{}'", t.format("%Y-%m-%dT%H:%M:%S%.3f+00:00"))
    }
}

/// A timestamp for a row of [`Rows`]: a COPY text field on PostgreSQL, an
/// SQL literal on SQLite.
fn timestamp_field(t: DateTime<Utc>, postgres: bool) -> String {
    if postgres {
        t.format("%Y-%m-%d %H:%M:%S%.3f+00").to_string()
    } else {
        timestamp_sql(t, postgres)
    }
}

// -------------------------------------------------------------- load

type Pending = Pin<Box<dyn Future<Output = ()> + Send>>;
type Request = Arc<dyn Fn() -> Pending + Send + Sync>;

struct Load {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

impl Load {
    fn json(&self) -> Value {
        json!({ "rate": self.rate, "p50_ms": ms(self.p50), "p99_ms": ms(self.p99) })
    }
}

/// `clients` tasks each sending `request` back to back for `duration`,
/// after a warm-up of a tenth of it; requests per second and latencies.
async fn load(clients: usize, duration: Duration, request: Request) -> Load {
    run_load(clients, duration / 10, request.clone()).await;
    run_load(clients, duration, request).await
}

async fn run_load(clients: usize, duration: Duration, request: Request) -> Load {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let request = request.clone();
            tokio::spawn(async move {
                let mut times = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    request().await;
                    times.push(sent.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    times.sort();
    Load {
        rate: times.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&times, 0.50),
        p99: percentile(&times, 0.99),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn random_hashtag() -> String {
    format!("tag{}", fastrand::usize(1..=HASHTAGS))
}

async fn expect_ok(response: reqwest::Response, what: &str) {
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert!(
        status.is_success(),
        "{what}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    // GraphQL answers errors with 200.
    assert!(
        !body.windows(9).any(|w| w == br#""errors":"#),
        "{what}: {}",
        String::from_utf8_lossy(&body)
    );
}

fn rest_page(client: &reqwest::Client, base: &str) -> Request {
    let (client, base) = (client.clone(), base.to_owned());
    Arc::new(move || -> Pending {
        let url = format!("{base}/message?hashtag={}&limit={PAGE}", random_hashtag());
        let client = client.clone();
        Box::pin(async move { expect_ok(client.get(url).send().await.unwrap(), "REST page").await })
    })
}

const DUNDER_PAGE: &str = "query($tag: String!) { messages(first: 20, filter: {hashtag: $tag}) \
    { edges { node { id text createdAt hashtags user { id name } } } } }";

fn graphql_page(client: &reqwest::Client, base: &str) -> Request {
    let (client, url) = (client.clone(), format!("{base}/graphql"));
    Arc::new(move || -> Pending {
        let body = json!({ "query": DUNDER_PAGE, "variables": { "tag": random_hashtag() } });
        let request = client.post(&url).json(&body);
        Box::pin(async move { expect_ok(request.send().await.unwrap(), "GraphQL page").await })
    })
}

/// The same page in PostGraphile's generated schema: the hashtag by its
/// unique name, its newest 20 links by message id (the link table's primary
/// key walked backwards, as Dunder walks it), each with its message, the
/// message's user and the message's hashtags in written order.
const POSTGRAPHILE_PAGE: &str = "query($tag: String!) { hashtagByName(name: $tag) { \
    messageHashtagsByHashtagId(first: 20, orderBy: MESSAGE_ID_DESC) { nodes { \
    messageByMessageId { id text createdAt userByUserId { id name } \
    messageHashtagsByMessageId(orderBy: POSITION_ASC) { nodes { hashtagByHashtagId { display } } } } } } } }";

fn postgraphile_page(client: &reqwest::Client, url: &str) -> Request {
    let (client, url) = (client.clone(), url.to_owned());
    Arc::new(move || -> Pending {
        let body = json!({ "query": POSTGRAPHILE_PAGE, "variables": { "tag": random_hashtag() } });
        let request = client.post(&url).json(&body);
        Box::pin(async move { expect_ok(request.send().await.unwrap(), "PostGraphile page").await })
    })
}

fn post(client: &reqwest::Client, base: &str) -> Request {
    let (client, url) = (client.clone(), format!("{base}/message"));
    Arc::new(move || -> Pending {
        let user = format!("user{}", fastrand::usize(1..=USERS));
        let token = base64::engine::general_purpose::STANDARD.encode(user);
        let request = client
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "text": "bench post", "hashtags": [random_hashtag()] }));
        Box::pin(async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "post");
            response.bytes().await.unwrap();
        })
    })
}

/// Posts written, group commits and SQL statements so far, from the
/// server's `/metrics`.
async fn writer_counters(client: &reqwest::Client, base: &str) -> [f64; 3] {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics:\n{text}"))
    };
    [
        read("dunder_messages_posted_total"),
        read("dunder_write_batches_total"),
        read("dunder_sql_statements_total"),
    ]
}

/// p50 and p99 of `n` sequential GETs of `url`.
async fn latencies(client: &reqwest::Client, url: &str, n: usize) -> (Duration, Duration) {
    for _ in 0..20 {
        expect_ok(client.get(url).send().await.unwrap(), url).await;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = Instant::now();
        expect_ok(client.get(url).send().await.unwrap(), url).await;
        times.push(sent.elapsed());
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// The id DEPTH messages below the newest (or the oldest, for fewer).
async fn deep_message(db: &DatabaseConnection, _postgres: bool) -> Vec<u8> {
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT id FROM (SELECT id FROM messages ORDER BY id DESC LIMIT {}) t ORDER BY id LIMIT 1",
                DEPTH + 1
            ),
        ))
        .await
        .unwrap()
        .expect("a message");
    row.try_get::<Vec<u8>>("", "id").unwrap()
}

// -------------------------------------------------------------- trends

/// The median time of Dunder answering the seeded 30 days at `minutes`:
/// one `GET /trend`, or several when the range needs more buckets than one
/// request may ask for (30 days at 1m is 43,200; a request takes 10,000).
async fn trend_time(
    client: &reqwest::Client,
    base: &str,
    seed: &Seed,
    hashtag: Option<usize>,
    minutes: i64,
) -> Duration {
    let step = MAX_TREND_BUCKETS / (24 * 60 / minutes).max(1) * 24 * 60 * minutes * 60;
    let (start, end) = (seed.start_ms / 1000, seed.end_ms / 1000);
    let mut urls = Vec::new();
    let mut from = start;
    while from < end {
        let to = (from + step).min(end);
        let mut url = format!("{base}/trend?from_date={from}&to_date={to}&aggregation={minutes}m");
        if let Some(h) = hashtag {
            url.push_str(&format!("&hashtag=tag{h}"));
        }
        urls.push(url);
        from = to;
    }
    let mut times = Vec::new();
    for run in 0..12 {
        let sent = Instant::now();
        for url in &urls {
            expect_trends(client.get(url).send().await.unwrap(), url).await;
        }
        // The first two runs warm up.
        if run >= 2 {
            times.push(sent.elapsed());
        }
    }
    times.sort();
    percentile(&times, 0.5)
}

/// Reads a `GET /trend` answer whole and checks it is one. Unlike
/// [`expect_ok`], it does not search the body for a GraphQL `"errors":`
/// key (REST refuses with a 4xx): over the five answers of 30 days at 1m,
/// about 4 MB, that byte-by-byte search would be counted as Dunder's time.
async fn expect_trends(response: reqwest::Response, what: &str) {
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert!(
        status.is_success() && body.starts_with(br#"{"data":{"trends":["#),
        "{what}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
}

/// The median time of the same buckets counted from the raw rows.
async fn raw_trend_time(
    db: &DatabaseConnection,
    postgres: bool,
    seed: &Seed,
    hashtag: Option<usize>,
    minutes: i64,
) -> Duration {
    let (start, end) = (
        DateTime::from_timestamp_millis(seed.start_ms).unwrap(),
        DateTime::from_timestamp_millis(seed.end_ms).unwrap(),
    );
    let bucket = if postgres {
        format!("floor(extract(epoch FROM m.created_at) / {})", minutes * 60)
    } else {
        format!(
            "CAST(strftime('%s', m.created_at) AS INTEGER) / {}",
            minutes * 60
        )
    };
    let (from, to) = (timestamp_sql(start, postgres), timestamp_sql(end, postgres));
    let source = match hashtag {
        Some(h) => format!(
            "message_hashtags k JOIN messages m ON m.id = k.message_id WHERE k.hashtag_id = {h} AND"
        ),
        None => "messages m WHERE".to_owned(),
    };
    let sql = format!(
        "SELECT {bucket} AS bucket, count(*) AS total FROM {source} \
         m.created_at >= {from} AND m.created_at < {to} GROUP BY 1 ORDER BY 1"
    );
    let mut times = Vec::new();
    for run in 0..5 {
        let sent = Instant::now();
        let rows = db
            .query_all(sea_orm::Statement::from_string(
                db.get_database_backend(),
                sql.clone(),
            ))
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{sql}");
        if run >= 1 {
            times.push(sent.elapsed());
        }
    }
    times.sort();
    percentile(&times, 0.5)
}

// -------------------------------------------------------------- pgbench

/// Dunder's page as one prepared statement: its keyset walk on the link
/// table's primary key (hashtag_id, message_id) with the message and user
/// joined, the hashtag's id looked up by name in the same statement, and
/// each message's hashtags in written order aggregated alongside. This is
/// the ceiling: the whole page in one round trip, with no HTTP or JSON.
const PAGE_SQL: &str = "\\set h random(1, 400)
SELECT p.id, p.text, p.user_id, p.user_name,
  (SELECT array_agg(h.display ORDER BY l.position) FROM message_hashtags l
     JOIN hashtags h ON h.id = l.hashtag_id WHERE l.message_id = p.id) AS hashtags
FROM (SELECT m.id, m.text, u.id AS user_id, u.name AS user_name
      FROM message_hashtags k
      JOIN messages m ON m.id = k.message_id
      JOIN users u ON u.id = m.user_id
      WHERE k.hashtag_id = (SELECT id FROM hashtags WHERE name = 'tag' || :h)
      ORDER BY k.message_id DESC LIMIT 20) p
ORDER BY p.id DESC;
";

/// One post as Dunder's write path stores it, one transaction per post:
/// the author and the hashtag ensured and looked up, the message (a
/// ULID-shaped id: 6 bytes of milliseconds, 10 random), its link, both
/// trend counters upserted with their hour and day rollups (keys from 2^40
/// and 2^41, `TREND_HOUR_ROWS` and `TREND_DAY_ROWS`: six rows, as Dunder's
/// one counter upsert writes), and the NOTIFY other processes listen for.
const POST_SQL: &str = "\\set u random(1, 1000)
\\set h random(1, 400)
BEGIN;
INSERT INTO users (name, created_at) VALUES ('user' || :u, now()) ON CONFLICT (name) DO NOTHING;
SELECT id AS uid FROM users WHERE name = 'user' || :u \\gset
INSERT INTO hashtags (name, display) VALUES ('tag' || :h, 'Tag' || :h) ON CONFLICT (name) DO NOTHING;
SELECT id AS hid, display FROM hashtags WHERE name = 'tag' || :h \\gset
SELECT lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20) AS mid, floor(extract(epoch FROM clock_timestamp()) / 60)::bigint AS minute, 1099511627776 + floor(extract(epoch FROM clock_timestamp()) / 3600)::bigint * 60 AS hour, 2199023255552 + floor(extract(epoch FROM clock_timestamp()) / 86400)::bigint * 1440 AS day \\gset
INSERT INTO messages (id, user_id, text, created_at) VALUES (decode(:mid, 'hex'), :uid, 'bench post', now());
INSERT INTO message_hashtags (hashtag_id, message_id, user_id, position) VALUES (:hid, decode(:mid, 'hex'), :uid, 0);
INSERT INTO trend_counts (hashtag_id, minute, count) VALUES (0, :minute, 1), (:hid, :minute, 1), (0, :hour, 1), (:hid, :hour, 1), (0, :day, 1), (:hid, :day, 1) ON CONFLICT (hashtag_id, minute) DO UPDATE SET count = trend_counts.count + excluded.count;
SELECT pg_notify('dunder_messages', :mid);
END;
";

/// Transactions per second of `script` under `pgbench -M prepared` with
/// `clients` connections (threads at most 2, the cores here).
fn pgbench(url: &str, script: &str, clients: usize, duration: Duration) -> f64 {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(script.as_bytes()).unwrap();
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared"])
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.min(2).to_string(),
        ])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(file.path())
        .arg(url)
        .output()
        .expect("run pgbench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pgbench: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output: {stdout}"))
}

// -------------------------------------------------------------- PostGraphile

/// PostGraphile 4, installed with npm into a temporary directory and run
/// over the same database, killed when dropped.
struct PostGraphile {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl PostGraphile {
    async fn start(database_url: &str) -> Option<PostGraphile> {
        let dir = tempfile::tempdir().unwrap();
        let installed = Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "postgraphile@4",
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .status()
            .ok()?;
        if !installed.success() {
            return None;
        }
        // A port picked here and released: PostGraphile says nothing
        // machine-readable about the port it bound.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let cli = Path::new("node_modules/postgraphile/cli.js");
        let child = Command::new("node")
            .arg(cli)
            .args([
                "-c",
                database_url,
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(["--schema", "public", "--disable-query-log"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let pgl = PostGraphile {
            child,
            url: format!("http://127.0.0.1:{port}/graphql"),
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let probe = client
                .post(&pgl.url)
                .json(&json!({ "query": POSTGRAPHILE_PAGE, "variables": { "tag": "tag1" } }))
                .send()
                .await;
            if let Ok(response) = probe {
                let body = response.text().await.unwrap_or_default();
                if body.contains("\"errors\"") {
                    println!("PostGraphile refused the page: {body}");
                    return None;
                }
                if body.contains("hashtagByName") {
                    return Some(pgl);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// -------------------------------------------------------------- report

enum Target {
    None,
    AtLeast(f64),
    AtMost(f64),
}

/// The table printed at the end: each figure with its baseline and ratio.
fn markdown(report: &Value) -> String {
    let mut out = format!(
        "{} messages, {} users, {} hashtags; {} s per load\n\n\
         | backend | measure | Dunder | baseline | ratio | target |\n|---|---|---|---|---|---|\n",
        report["messages"], report["users"], report["hashtags"], report["seconds_per_load"]
    );
    let rate = |v: &Value| v["rate"].as_f64().unwrap_or(f64::NAN);
    for b in report["backends"].as_array().unwrap() {
        let name = b["backend"].as_str().unwrap();
        let l = &b["listing"];
        // The issue's targets: a ratio at least (or, for depth, at most)
        // this much.
        let mut row =
            |measure: &str, dunder: String, baseline: String, ratio: f64, target: Target| {
                let verdict = match target {
                    _ if ratio.is_nan() => "-".to_owned(),
                    Target::None => "-".to_owned(),
                    Target::AtLeast(t) => {
                        format!("≥ {t}: {}", if ratio >= t { "met" } else { "missed" })
                    }
                    Target::AtMost(t) => {
                        format!("≤ {t}: {}", if ratio <= t { "met" } else { "missed" })
                    }
                };
                let ratio = if ratio.is_nan() {
                    "-".to_owned()
                } else {
                    format!("{ratio:.2}")
                };
                out.push_str(&format!(
                    "| {name} | {measure} | {dunder} | {baseline} | {ratio} | {verdict} |\n"
                ));
            };
        for (face, key) in [("REST", "rest"), ("GraphQL", "graphql")] {
            if !l[key].is_object() {
                continue;
            }
            let d = rate(&l[key]);
            if l["prepared_sql"].is_object() {
                let p = rate(&l["prepared_sql"]);
                row(
                    &format!("{face} hashtag page, 16 clients, vs prepared SQL"),
                    format!("{d:.0} req/s"),
                    format!("{p:.0} req/s"),
                    d / p,
                    Target::AtLeast(if key == "rest" { 1.2 } else { 1.0 }),
                );
            } else {
                row(
                    &format!("{face} hashtag page, 16 clients"),
                    format!("{d:.0} req/s"),
                    "-".into(),
                    f64::NAN,
                    Target::None,
                );
            }
        }
        if l["postgraphile"].is_object() {
            let d = rate(&l["graphql"]);
            let p = rate(&l["postgraphile"]);
            row(
                "GraphQL hashtag page vs PostGraphile 4",
                format!("{d:.0} req/s"),
                format!("{p:.0} req/s"),
                d / p,
                Target::AtLeast(2.0),
            );
        }
        let d = &b["depth"];
        for q in ["p50", "p99"].into_iter().filter(|_| d.is_object()) {
            let deep = d[format!("deep_{q}_ms")].as_f64().unwrap();
            let first = d[format!("page1_{q}_ms")].as_f64().unwrap();
            row(
                &format!("page {} deep vs page 1, {q}", d["depth"]),
                format!("{deep:.2} ms"),
                format!("{first:.2} ms"),
                deep / first,
                Target::AtMost(1.2),
            );
        }
        for t in b["trends"].as_array().into_iter().flatten() {
            let dunder = t["dunder_ms"].as_f64().unwrap();
            let raw = t["raw_rows_ms"].as_f64().unwrap();
            let what = t["hashtag"].as_str().unwrap_or("all messages");
            let minutes = t["aggregation_minutes"].as_i64().unwrap();
            let agg = if minutes == 60 {
                "1h".to_owned()
            } else {
                format!("{minutes}m")
            };
            row(
                &format!("trend 30 days at {agg}, {what}: raw rows / Dunder"),
                format!("{dunder:.2} ms"),
                format!("{raw:.2} ms"),
                raw / dunder,
                Target::AtLeast(20.0),
            );
        }
        let posts = b["posts"].as_array().map_or(&[][..], Vec::as_slice);
        let best = posts
            .iter()
            .map(|p| rate(&p["pgbench"]))
            .fold(f64::NAN, f64::max);
        for p in posts {
            let clients = p["clients"].as_u64().unwrap();
            let d = rate(&p["dunder"]);
            if best.is_nan() {
                row(
                    &format!("posts/s, {clients} clients"),
                    format!("{d:.0}"),
                    "-".into(),
                    f64::NAN,
                    Target::None,
                );
            } else {
                let own = rate(&p["pgbench"]);
                row(
                    &format!("posts/s, {clients} clients, vs pgbench's best (pgbench at {clients}: {own:.0})"),
                    format!("{d:.0}"),
                    format!("{best:.0}"),
                    d / best,
                    if clients == 64 { Target::AtLeast(5.0) } else { Target::None },
                );
            }
        }
    }
    out
}

/// Posts per second against clients, one line per system and backend, as
/// a self-contained SVG (clients on an even scale of the three counts).
fn svg(report: &Value) -> String {
    let mut lines: Vec<(String, Vec<f64>)> = Vec::new();
    for b in report["backends"].as_array().unwrap() {
        let name = b["backend"].as_str().unwrap();
        let posts = b["posts"].as_array().map_or(&[][..], Vec::as_slice);
        for (system, key) in [("Dunder", "dunder"), ("pgbench", "pgbench")] {
            let rates: Vec<f64> = posts
                .iter()
                .filter_map(|p| p[key]["rate"].as_f64())
                .collect();
            if rates.len() == POST_CLIENTS.len() {
                lines.push((format!("{system}, {name}"), rates));
            }
        }
    }
    let top = lines
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let (width, height, left, bottom) = (640.0, 400.0, 70.0, 40.0);
    let x = |i: usize| left + i as f64 * (width - left - 40.0) / (POST_CLIENTS.len() - 1) as f64;
    let y = |v: f64| height - bottom - v / top * (height - bottom - 20.0);
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n\
         <line x1=\"{left}\" y1=\"20\" x2=\"{left}\" y2=\"{}\" stroke=\"black\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">clients</text>\n\
         <text x=\"12\" y=\"14\">posts/s</text>\n",
        height - bottom, width - 40.0, height - bottom, height - bottom, width / 2.0, height - 5.0
    );
    for (i, clients) in POST_CLIENTS.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{clients}</text>\n",
            x(i),
            height - bottom + 16.0
        ));
    }
    for tick in 0..=4 {
        let v = top / 4.0 * tick as f64;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.0}</text>\n",
            left - 6.0,
            y(v) + 4.0
        ));
    }
    for (n, (label, rates)) in lines.iter().enumerate() {
        let color = colors[n % colors.len()];
        let points: Vec<String> = rates
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(*r)))
            .collect();
        svg.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <text x=\"{}\" y=\"{}\" fill=\"{color}\">{label}</text>\n",
            points.join(" "),
            left + 10.0,
            30.0 + 16.0 * n as f64
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
