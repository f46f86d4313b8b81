//! Hostile clients against the real server: how fast each attack is
//! refused, and how `/healthz` fares while it runs, against `/healthz`
//! with no attack measured in the same run.
//!
//! Run: `cargo bench --bench hostile`. The server is the release `dunder`
//! binary in its own process (temporary SQLite file, default limits); the
//! attackers and the `/healthz` prober live in this one. Each attack runs
//! for a few seconds from four clients at once while a fifth client asks
//! `/healthz` in a loop on a connection of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

mod support;
use support::Server;

const ATTACKERS: usize = 4;
const ATTACK_TIME: Duration = Duration::from_secs(4);

/// The server with default limits, but unlimited reads per address: the
/// attackers share one address, and each attack must reach the limit it
/// is meant to meet.
async fn start_server() -> Server {
    Server::start(&["--rate_limit.reads_per_address=0"]).await
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `/healthz` in a loop on one keep-alive connection until `stop`.
async fn probe_health(base: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let ok = client
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        samples.push(if ok {
            started.elapsed()
        } else {
            Duration::from_secs(30)
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    samples
}

/// One GraphQL attack document and the code it should be refused with.
struct GraphqlAttack {
    name: &'static str,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

/// The fragment fan-out: each fragment spreads the next twice.
fn fragment_fan_out(levels: usize) -> String {
    let mut document = String::from("query { ...F0 }\n");
    for level in 0..levels {
        document.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n",
            next = level + 1
        ));
    }
    document.push_str(&format!("fragment F{levels} on Query {{ __typename }}\n"));
    document
}

/// Selections nested as deep as 16 KiB allows.
fn deep_nesting(bytes: usize) -> String {
    let levels = bytes / 4;
    format!("{}{}", "{a".repeat(levels), "}".repeat(levels))
}

/// As many tokens as 16 KiB holds.
fn many_tokens(bytes: usize) -> String {
    format!("{{{}}}", " a".repeat(bytes / 2 - 2))
}

/// Thirty aliased trends of 10,000 one-minute buckets each.
fn aliased_trends() -> String {
    let fields: String = (0..30)
        .map(|i| {
            format!(
                "t{i}: trend(fromDate: \"2019-01-01T00:00:00Z\", toDate: \"2019-01-07T22:40:00Z\", aggregation: \"1m\") {{ count }} "
            )
        })
        .collect();
    format!("{{ {fields} }}")
}

/// Thirty aliased posts.
fn aliased_posts() -> String {
    let fields: String = (0..30)
        .map(|i| {
            format!("p{i}: postMessage(input: {{text: \"spam {i}\", hashtags: []}}) {{ id }} ")
        })
        .collect();
    format!("mutation {{ {fields} }}")
}

/// graphql-js `getIntrospectionQuery` with every option on.
const INTROSPECTION: &str = include_str!("../tests/introspection/query.graphql");

async fn run_graphql_attack(
    base: &str,
    attack: &GraphqlAttack,
) -> (Vec<Duration>, Vec<Duration>, String) {
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe_health(base.to_owned(), stop.clone()));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let url = format!("{base}/graphql");
            let body = attack.body.clone();
            let headers = attack.headers.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let until = Instant::now() + ATTACK_TIME;
                let mut samples = Vec::new();
                let mut outcome = String::new();
                while Instant::now() < until {
                    let started = Instant::now();
                    let mut request = client.post(&url).json(&body);
                    for (name, value) in &headers {
                        request = request.header(*name, value);
                    }
                    let response = request.send().await.expect("answered");
                    let status = response.status();
                    let body: Value = response.json().await.unwrap_or(Value::Null);
                    samples.push(started.elapsed());
                    let first = if body.is_array() { &body[0] } else { &body };
                    outcome = match first["errors"][0]["extensions"]["code"].as_str() {
                        Some(code) => format!("{status} {code}"),
                        None => format!("{status} ok"),
                    };
                }
                (samples, outcome)
            })
        })
        .collect();
    let mut refusals = Vec::new();
    let mut outcome = String::new();
    for attacker in attackers {
        let (samples, last) = attacker.await.unwrap();
        refusals.extend(samples);
        outcome = last;
    }
    stop.store(true, Ordering::Relaxed);
    (refusals, prober.await.unwrap(), outcome)
}

/// Slow headers from 200 connections, a byte every 100 ms.
async fn run_slowloris(base: &str) -> Vec<Duration> {
    let address = base.trim_start_matches("http://").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe_health(base.to_owned(), stop.clone()));
    let attackers: Vec<_> = (0..200)
        .map(|_| {
            let address = address.clone();
            tokio::spawn(async move {
                let until = Instant::now() + ATTACK_TIME;
                while Instant::now() < until {
                    let Ok(mut stream) = TcpStream::connect(&address).await else {
                        continue;
                    };
                    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nX-Slow: ").await;
                    while Instant::now() < until && stream.write_all(b"a").await.is_ok() {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect();
    for attacker in attackers {
        let _ = attacker.await;
    }
    stop.store(true, Ordering::Relaxed);
    prober.await.unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = start_server().await;
        let base = server.http();
        let token = base64::engine::general_purpose::STANDARD.encode("mallory");

        let stop = Arc::new(AtomicBool::new(false));
        let baseline = tokio::spawn(probe_health(base.clone(), stop.clone()));
        tokio::time::sleep(ATTACK_TIME).await;
        stop.store(true, Ordering::Relaxed);
        let mut baseline = baseline.await.unwrap();
        let baseline_p50 = percentile(&mut baseline, 0.5);
        let baseline_p99 = percentile(&mut baseline, 0.99);
        println!("/healthz with no attack: p50 {}, p99 {} ({} requests)", ms(baseline_p50), ms(baseline_p99), baseline.len());
        println!();
        println!("| attack | answer | answer p50 | answer p99 | /healthz p50 | /healthz p99 | /healthz p99 vs no attack |");
        println!("|---|---|---|---|---|---|---|");

        let fan_out = fragment_fan_out(26);
        let attacks = [
            GraphqlAttack { name: "fragment fan-out, 26 levels", body: json!({"query": fan_out}), headers: vec![] },
            GraphqlAttack { name: "selections nested 4,096 deep", body: json!({"query": deep_nesting(16_384)}), headers: vec![] },
            GraphqlAttack { name: "8,190 tokens", body: json!({"query": many_tokens(16_384)}), headers: vec![] },
            GraphqlAttack { name: "30 aliased 10,000-bucket trends", body: json!({"query": aliased_trends()}), headers: vec![] },
            GraphqlAttack {
                name: "batch of 10 x 30 aliased posts",
                body: Value::Array(vec![json!({"query": aliased_posts()}); 10]),
                headers: vec![("authorization", format!("Bearer {token}"))],
            },
            GraphqlAttack { name: "standard introspection query (accepted)", body: json!({"query": INTROSPECTION}), headers: vec![] },
        ];
        for attack in &attacks {
            let (mut answers, mut health, outcome) = run_graphql_attack(&base, attack).await;
            let health_p99 = percentile(&mut health, 0.99);
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.1} |",
                attack.name,
                outcome,
                ms(percentile(&mut answers, 0.5)),
                ms(percentile(&mut answers, 0.99)),
                ms(percentile(&mut health, 0.5)),
                ms(health_p99),
                health_p99.as_secs_f64() / baseline_p99.as_secs_f64()
            );
        }
        let mut health = run_slowloris(&base).await;
        let health_p99 = percentile(&mut health, 0.99);
        println!(
            "| 200 slow-header connections | closed at the header timeout | - | - | {} | {} | {:.1} |",
            ms(percentile(&mut health, 0.5)),
            ms(health_p99),
            health_p99.as_secs_f64() / baseline_p99.as_secs_f64()
        );
        drop(server);
    });
}
