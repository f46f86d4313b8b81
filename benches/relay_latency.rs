//! How long a post takes to reach a live subscriber, from the POST sent to
//! the Server-Sent Event received: on the process that took the post, and
//! on another process sharing the database through each relay (with two
//! and with four processes on one PostgreSQL database). The
//! baseline, measured in the same run, is one process with the relay off
//! (no order window to wait for); each other figure is also given as a
//! ratio to it.
//!
//! Run: `cargo bench --bench relay_latency` (PostgreSQL from
//! `DUNDER_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//! Every server is the real `dunder` binary in a process of its own; posts
//! go one at a time (the next once the last has arrived), from 1,000 users
//! over 400 hashtags, to a subscriber that takes every message. Figures are
//! printed, not asserted.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

mod support;
use support::{drop_database, fresh_database, Server};

const POSTS: usize = 200;
const WARM_UP: usize = 5;

/// One way of running the servers.
struct Scenario {
    name: &'static str,
    backend: &'static str,
    relay: &'static str,
    /// Dunder processes on the database. With one, the subscriber is on
    /// the poster's own; with more, the subscriber is on the last and the
    /// posts go round the others, so every post crosses processes (and
    /// every process is one whose order the subscriber's must respect).
    processes: usize,
}

const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "one process, relay off (baseline)",
        backend: "postgres",
        relay: "off",
        processes: 1,
    },
    Scenario {
        name: "one process, relay notify",
        backend: "postgres",
        relay: "notify",
        processes: 1,
    },
    Scenario {
        name: "two processes, notify",
        backend: "postgres",
        relay: "notify",
        processes: 2,
    },
    Scenario {
        name: "four processes, notify",
        backend: "postgres",
        relay: "notify",
        processes: 4,
    },
    Scenario {
        name: "two processes, tail (250 ms)",
        backend: "postgres",
        relay: "tail",
        processes: 2,
    },
    Scenario {
        name: "one process, SQLite, relay off",
        backend: "sqlite",
        relay: "off",
        processes: 1,
    },
    Scenario {
        name: "two processes, SQLite, tail (250 ms)",
        backend: "sqlite",
        relay: "tail",
        processes: 2,
    },
];

fn server_args<'a>(url: &'a str, relay: &'a str) -> Vec<&'a str> {
    vec![
        "--database_url",
        url,
        "--live.relay",
        relay,
        "--rate_limit.writes_per_user=0",
        "--rate_limit.writes_per_address=0",
        "--rate_limit.reads_per_user=0",
        "--rate_limit.reads_per_address=0",
    ]
}

/// Reads `base`'s SSE stream of every message and sends each message's
/// text with the moment it arrived.
async fn subscribe(base: String, arrivals: mpsc::UnboundedSender<(String, Instant)>) {
    let response = reqwest::Client::new()
        .get(format!("{base}/message/stream"))
        .send()
        .await
        .expect("open the stream");
    assert!(response.status().is_success());
    let mut body = response.bytes_stream();
    let mut pending = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { return };
        let now = Instant::now();
        pending.extend_from_slice(&chunk);
        // Whole lines only: a multi-byte character may be split across chunks.
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                if let Ok(message) = serde_json::from_str::<Value>(data.trim()) {
                    if let Some(text) = message["text"].as_str() {
                        let _ = arrivals.send((text.to_owned(), now));
                    }
                }
            }
        }
    }
}

async fn post(client: &reqwest::Client, base: &str, n: usize, text: &str) {
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("user{}", (n * 7919) % 1000));
    let response = client
        .post(format!("{base}/message"))
        .bearer_auth(token)
        .json(&json!({"text": text, "hashtags": [format!("tag{}", (n * 31) % 400)]}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
}

/// Delivery latencies for one scenario, sorted.
async fn run(scenario: &Scenario, dir: &tempfile::TempDir, n: usize) -> Vec<Duration> {
    let (url, database) = fresh_database(scenario.backend, dir, n).await;
    let mut servers = Vec::with_capacity(scenario.processes);
    for _ in 0..scenario.processes {
        servers.push(Server::start(&server_args(&url, scenario.relay)).await);
    }
    let listener = servers.last().expect("at least one process");
    let posters: Vec<String> = match servers.len() {
        1 => vec![listener.http()],
        n => servers[..n - 1].iter().map(Server::http).collect(),
    };
    let (arrivals, mut arrived) = mpsc::unbounded_channel();
    let reader = tokio::spawn(subscribe(listener.http(), arrivals));
    let client = reqwest::Client::new();
    let base = |n: usize| posters[n % posters.len()].as_str();

    // Warm-up, which also proves the subscription is live: post until one
    // arrives.
    let mut warmed = false;
    for attempt in 0..200 {
        post(
            &client,
            base(attempt),
            attempt,
            &format!("warm-up {attempt}"),
        )
        .await;
        if tokio::time::timeout(Duration::from_secs(2), arrived.recv())
            .await
            .is_ok()
        {
            warmed = true;
            break;
        }
    }
    assert!(warmed, "{}: nothing ever arrived", scenario.name);
    for attempt in 0..WARM_UP {
        post(&client, base(attempt), attempt, &format!("warm {attempt}")).await;
    }

    let mut sent: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::with_capacity(POSTS);
    for n in 0..POSTS {
        let text = format!("timed {n}");
        sent.insert(text.clone(), Instant::now());
        post(&client, base(n), n, &text).await;
        loop {
            let (text, at) = tokio::time::timeout(Duration::from_secs(10), arrived.recv())
                .await
                .expect("delivered within 10 s")
                .expect("the stream stays open");
            if let Some(start) = sent.remove(&text) {
                latencies.push(at - start);
                if text == format!("timed {n}") {
                    break;
                }
            }
        }
    }
    reader.abort();
    drop(servers);
    drop_database(database).await;
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        println!("{POSTS} posts, one at a time, post to SSE receipt\n");
        println!(
            "{:<40} {:>9} {:>9} {:>9} {:>10}",
            "scenario", "p50 ms", "p99 ms", "max ms", "p50 ratio"
        );
        let mut baseline = None;
        for (n, scenario) in SCENARIOS.iter().enumerate() {
            let latencies = run(scenario, &dir, n).await;
            let p50 = percentile(&latencies, 0.5);
            let base = *baseline.get_or_insert(p50);
            println!(
                "{:<40} {:>9.1} {:>9.1} {:>9.1} {:>9.1}x",
                scenario.name,
                p50.as_secs_f64() * 1e3,
                percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                latencies.last().unwrap().as_secs_f64() * 1e3,
                p50.as_secs_f64() / base.as_secs_f64()
            );
        }
    });
}
