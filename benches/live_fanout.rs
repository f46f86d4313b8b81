//! Live fan-out on one process: for 100, 1,000 and 10,000 concurrent
//! GraphQL subscribers (graphql-transport-ws), the delivery latency from
//! post to receipt (p50, p99) with posts paced at 10 a second, and the
//! messages delivered per second when posts come in a burst.
//!
//! Run: `cargo bench --bench live_fanout`. The server is the real `dunder`
//! binary in its own process (on a temporary SQLite file), the subscribers
//! live in this one: each side then needs one file descriptor per
//! subscriber, which keeps 10,000 within the usual limits. Both share the
//! machine's cores, so the figures include the clients' own work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::Server;

const PACED_POSTS: usize = 20;
const BURST_POSTS: usize = 50;
const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// The server: subscribers in a queue of 4096, one operation per socket;
/// every subscriber is 127.0.0.1, so the per-address and total caps are
/// lifted past 10,000 and the rate limits are off.
async fn start_server() -> Server {
    Server::start(&[
        "--live.subscriber_queue=4096",
        "--live.max_operations=1",
        "--http.max_connections=20000",
        "--http.max_streams=20000",
        "--http.max_streams_per_address=20000",
        "--rate_limit.reads_per_address=0",
        "--rate_limit.writes_per_address=0",
        "--rate_limit.reads_per_user=0",
        "--rate_limit.writes_per_user=0",
    ])
    .await
}

/// One subscriber: connects, subscribes, waits at the barrier, then
/// records the receipt time of each message (by its number) until it has
/// `expected` of them.
async fn subscriber(
    base: String,
    ready: Arc<Barrier>,
    start: Instant,
    expected: usize,
) -> Vec<(usize, Duration)> {
    let mut request = format!("ws://{base}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let send = |value: Value| Message::Text(value.to_string().into());
    socket
        .send(send(json!({"type": "connection_init", "payload": {}})))
        .await
        .unwrap();
    socket
        .send(send(json!({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { messagePosted(filter: {hashtag: \"bench\"}) { text } }"
        }})))
        .await
        .unwrap();
    // The ack, then the first (warm-up) message proves the subscription is live.
    let mut warmed = false;
    let mut receipts = Vec::with_capacity(expected);
    ready.wait().await;
    while let Some(Ok(frame)) = socket.next().await {
        let Message::Text(text) = frame else { continue };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] != "next" {
            continue;
        }
        let text = message["payload"]["data"]["messagePosted"]["text"]
            .as_str()
            .unwrap_or("");
        if text == "warm-up" {
            warmed = true;
            continue;
        }
        if let Some(n) = text.strip_prefix("m").and_then(|n| n.parse::<usize>().ok()) {
            receipts.push((n, start.elapsed()));
        }
        if warmed && receipts.len() == expected {
            break;
        }
    }
    let _ = socket.close(None).await;
    receipts
}

async fn post(client: &reqwest::Client, base: &str, text: &str) {
    let token = base64::engine::general_purpose::STANDARD.encode("bench");
    let response = client
        .post(format!("http://{base}/message"))
        .bearer_auth(token)
        .json(&json!({"text": text, "hashtags": ["bench"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Paced posts (latency), then a burst (throughput), for `count` subscribers.
async fn run(server: &Server, count: usize) -> (Duration, Duration, f64, f64) {
    let client = reqwest::Client::new();
    let total = PACED_POSTS + BURST_POSTS;
    let ready = Arc::new(Barrier::new(count + 1));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        tasks.push(tokio::spawn(subscriber(
            server.address.clone(),
            ready.clone(),
            start,
            total,
        )));
    }
    ready.wait().await;
    // Subscriptions register as the server first polls them: post warm-ups
    // until they have had time to, then measure.
    tokio::time::sleep(Duration::from_millis(500 + count as u64 / 5)).await;
    post(&client, &server.address, "warm-up").await;
    tokio::time::sleep(Duration::from_millis(500 + count as u64 / 5)).await;

    let mut sent = vec![Duration::ZERO; total];
    for (n, at) in sent.iter_mut().enumerate().take(PACED_POSTS) {
        *at = start.elapsed();
        post(&client, &server.address, &format!("m{n}")).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let burst_started = start.elapsed();
    let burst = (PACED_POSTS..total).map(|n| {
        let client = client.clone();
        let base = server.address.clone();
        async move { post(&client, &base, &format!("m{n}")).await }
    });
    for at in &mut sent[PACED_POSTS..] {
        *at = burst_started;
    }
    futures::future::join_all(burst).await;

    let mut latencies = Vec::with_capacity(count * PACED_POSTS);
    let mut burst_done = burst_started;
    let mut delivered_in_burst = 0usize;
    for task in tasks {
        for (n, received) in task.await.unwrap() {
            if n < PACED_POSTS {
                latencies.push(received.saturating_sub(sent[n]));
            } else {
                delivered_in_burst += 1;
                burst_done = burst_done.max(received);
            }
        }
    }
    latencies.sort();
    let burst_seconds = (burst_done - burst_started).as_secs_f64().max(1e-6);
    let delivered_per_second = delivered_in_burst as f64 / burst_seconds;
    let completeness = (delivered_in_burst + latencies.len()) as f64 / (count * total) as f64;
    (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        delivered_per_second,
        completeness,
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = start_server().await;
        println!("{PACED_POSTS} paced posts (10/s) for latency, then a burst of {BURST_POSTS} for throughput\n");
        println!("{:>12} {:>10} {:>10} {:>14} {:>16} {:>10}", "subscribers", "p50", "p99", "p50 vs 100", "delivered/s", "received");
        let mut baseline = None;
        for count in SIZES {
            let (p50, p99, rate, completeness) = run(&server, count).await;
            let base = *baseline.get_or_insert(p50);
            println!(
                "{count:>12} {:>8.2}ms {:>8.2}ms {:>13.1}x {:>16.0} {:>9.1}%",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3,
                p50.as_secs_f64() / base.as_secs_f64(),
                rate,
                completeness * 100.0
            );
        }
    });
}
