//! Live fan-out on one process, measured from outside it: the server is the
//! real `dunder` binary in a process of its own, the subscribers (GraphQL
//! over `graphql-transport-ws`, one WebSocket each) and the poster live in
//! this one. It reports:
//!
//! - the server's resident size (`VmRSS`) with 0, 1,000 and 10,000 idle
//!   subscribers;
//! - for 0 (the baseline), 100, 1,000 and 10,000 subscribers, with 300
//!   posts paced at 10 a second (`DUNDER_BENCH_PACED_POSTS` to change
//!   the count): the delivery latency from POST to receipt (p50,
//!   p99), the POST's own latency (p50, p99, and p99 against the
//!   baseline's) and the CPU time each process spent per post; then, with
//!   a burst of posts, the messages delivered per second;
//! - the same at 1,000 subscribers on PostgreSQL (one process, the relay
//!   as configured by default), if `DUNDER_TEST_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`) can be reached; then again
//!   with a second, idle process on the same database (`pg 1000+peer`),
//!   whose low-water marks hold each message until they pass it.
//!
//! Run: `cargo bench --bench live_fanout`. To run part of it (when
//! profiling, say): `DUNDER_BENCH_PARTS` is a comma-separated choice of
//! `idle`, `sqlite` and `postgres` (all three by default), and
//! `DUNDER_BENCH_SUBSCRIBERS` the subscriber counts of the SQLite runs
//! (`0,100,1000,10000` by default; 0, the baseline, is always run first).
//!
//! Both processes share the machine's two cores, which clients on other
//! machines would not. Two things keep the clients' share from being
//! counted as the server's. The poster has a runtime and a thread of its
//! own, so a POST's answer never waits behind the subscribers' tasks in
//! this process. The subscribers' threads run at the server's delivery
//! priority, `low` by default (nice 10 and the batch policy: a client
//! thread that wakes never takes a core from a running server thread; see
//! [`subscribers_priority`];
//! `DUNDER_BENCH_CLIENT_PRIORITY=normal` keeps the usual one). A client
//! speaks WebSocket itself, without a library, and finds the message's
//! text in the frame without parsing it (see [`Subscriber`]). The
//! server's own settings can be changed through its `DUNDER_*` variables,
//! which it inherits (`DUNDER_LIVE_DELIVERY_PRIORITY=idle`, say).
//! Figures are printed, not asserted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

mod support;
use support::{drop_database, fresh_database, raise_open_files, Server};

/// Paced posts per run unless `DUNDER_BENCH_PACED_POSTS` says otherwise.
/// The POST's p99 is their third-slowest. With 100 it was the
/// second-slowest of 100, and one stall set it: its ratio to the
/// baseline's swung from 0.9x to 10x between runs of one build.
const PACED_POSTS: usize = 300;
const BURST_POSTS: usize = 50;
const SIZES: [usize; 4] = [0, 100, 1_000, 10_000];
const IDLE: [usize; 3] = [0, 1_000, 10_000];
const POSTGRES_SIZE: usize = 1_000;
/// Each subscriber's read buffer (it grows for a larger frame); the
/// frames are well under it.
const CLIENT_READ_BUFFER: usize = 4 * 1024;
/// Files each process needs: a socket per subscriber and some to spare.
const OPEN_FILES: u64 = 10_000 + 512;

/// The server on `database_url` (a temporary SQLite file if `None`):
/// subscribers in a queue of 4096, one operation per socket; every
/// subscriber is 127.0.0.1, so the per-address and total caps are lifted
/// past 10,000 and the rate limits are off.
async fn start_server(database_url: Option<&str>) -> Server {
    let mut args = vec![
        "--live.subscriber_queue=4096",
        "--live.max_operations=1",
        "--http.max_connections=20000",
        "--http.max_streams=20000",
        "--http.max_streams_per_address=20000",
        "--rate_limit.reads_per_address=0",
        "--rate_limit.writes_per_address=0",
        "--rate_limit.reads_per_user=0",
        "--rate_limit.writes_per_user=0",
    ];
    if let Some(url) = database_url {
        args.extend(["--database_url", url]);
    }
    Server::start(&args).await
}

/// What the subscribers of one run share with the benchmark.
#[derive(Clone)]
struct Shared {
    address: String,
    start: Instant,
    /// Subscribers connected and subscribed.
    subscribed: Arc<AtomicUsize>,
    /// Subscribers that have received the warm-up message.
    warmed: Arc<AtomicUsize>,
    /// Set once the subscribers may stop (idle ones close then).
    stop: watch::Receiver<bool>,
}

/// The text of a `next` frame's message, found without parsing the frame
/// (the benchmark's selection is `{ text }`).
fn text_of(frame: &str) -> Option<&str> {
    if !frame.starts_with(r#"{"type":"next""#) {
        return None;
    }
    let start = frame.find(r#""text":""#)? + r#""text":""#.len();
    let end = start + frame[start..].find('"')?;
    Some(&frame[start..end])
}

/// One subscriber: connects, subscribes, then (unless `idle`) records the
/// receipt time of each numbered message until it has `expected` of them;
/// an idle one reads nothing and waits to be stopped.
async fn subscriber(shared: Shared, expected: usize, idle: bool) -> Vec<(usize, Duration)> {
    let mut socket = Subscriber::connect(&shared.address).await;
    socket
        .send(&json!({"type": "connection_init", "payload": {}}))
        .await;
    socket
        .send(&json!({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription { messagePosted(filter: {hashtag: \"bench\"}) { text } }"
        }}))
        .await;
    shared.subscribed.fetch_add(1, Ordering::Relaxed);
    let mut stop = shared.stop.clone();
    if idle {
        let _ = stop.wait_for(|stop| *stop).await;
        return Vec::new();
    }
    let mut receipts = Vec::with_capacity(expected);
    let stopped = stop.wait_for(|stop| *stop);
    tokio::pin!(stopped);
    while receipts.len() < expected {
        let read = tokio::select! {
            biased;
            read = socket.read() => read,
            _ = &mut stopped => break,
        };
        if !read {
            break;
        }
        while let Some(frame) = socket.next_text() {
            match text_of(frame) {
                Some("warm-up") => {
                    shared.warmed.fetch_add(1, Ordering::Relaxed);
                }
                Some(text) => {
                    if let Some(n) = text.strip_prefix('m').and_then(|n| n.parse().ok()) {
                        receipts.push((n, shared.start.elapsed()));
                    }
                }
                None => {}
            }
        }
    }
    receipts
}

/// A subscriber's end of its WebSocket, spoken without a WebSocket
/// library: the upgrade by hand, the client's frames masked (with a zero
/// key), the server's frames parsed in place.
///
/// The subscribers stand for clients on other machines, yet here they
/// share the server's two cores: every microsecond a client spends on a
/// frame is taken from the server. A library client (tokio-tungstenite)
/// cost about 8 µs of CPU per frame received, half of it its own work
/// (zeroing its read buffer, splitting it, a string per frame); this one
/// does only the socket's reads and a scan of the frame.
struct Subscriber {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
    /// The unread bytes are `buffer[start..end]`.
    start: usize,
    end: usize,
}

impl Subscriber {
    /// Connects to `/graphql/ws` at `address`, asking for
    /// `graphql-transport-ws`, and reads the upgrade's answer.
    async fn connect(address: &str) -> Subscriber {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        let upgrade = format!(
            "GET /graphql/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        );
        stream.write_all(upgrade.as_bytes()).await.unwrap();
        let mut socket = Subscriber {
            stream,
            buffer: vec![0; CLIENT_READ_BUFFER],
            start: 0,
            end: 0,
        };
        let head_end = loop {
            let unread = &socket.buffer[..socket.end];
            if let Some(at) = unread.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            assert!(socket.read().await, "the server closed during the upgrade");
        };
        let head = String::from_utf8_lossy(&socket.buffer[..head_end]);
        assert!(
            head.starts_with("HTTP/1.1 101"),
            "the upgrade was refused: {head}"
        );
        // Whatever followed the answer's head is the first frames.
        socket.start = head_end;
        socket
    }

    /// Sends `value` as a text frame. A client's frames are masked; with a
    /// zero key the payload goes as it is.
    async fn send(&mut self, value: &serde_json::Value) {
        let payload = value.to_string().into_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            len @ 0..=125 => frame.push(0x80 | len as u8),
            len => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&payload);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads what the socket has; false once it is closed.
    async fn read(&mut self) -> bool {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buffer.len() {
            // Room for the rest of a frame: what is unread moves to the
            // front, and the buffer grows if that is all of it.
            self.buffer.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.end == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
        }
        match self.stream.read(&mut self.buffer[self.end..]).await {
            Ok(0) | Err(_) => false,
            Ok(read) => {
                self.end += read;
                true
            }
        }
    }

    /// The next whole text frame read, if any; other frames are skipped
    /// (the server sends no others to a subscriber that keeps up).
    fn next_text(&mut self) -> Option<&str> {
        loop {
            let unread = &self.buffer[self.start..self.end];
            let (header, length) = match *unread {
                [_, 126, a, b, ..] => (4, u16::from_be_bytes([a, b]) as usize),
                [_, 127, ref rest @ ..] if rest.len() >= 8 => (
                    10,
                    u64::from_be_bytes(rest[..8].try_into().unwrap()) as usize,
                ),
                [_, length, ..] if length < 126 => (2, length as usize),
                _ => return None,
            };
            if unread.len() < header + length {
                return None;
            }
            let opcode = unread[0] & 0x0f;
            let frame = self.start + header..self.start + header + length;
            self.start = frame.end;
            if opcode == 1 {
                return std::str::from_utf8(&self.buffer[frame]).ok();
            }
        }
    }
}

/// The poster: posts to #bench from a runtime (one thread) of its own.
///
/// The subscribers' 10,000 tasks share this process's main runtime; a
/// POST awaited there would wait behind whichever of them are queued
/// when its answer arrives, and its time would be the client's queue, not
/// the server. On its own thread the poster only shares the cores.
#[derive(Clone)]
struct Poster {
    client: reqwest::Client,
    base: String,
    start: Instant,
}

impl Poster {
    fn new(server: &Server, start: Instant) -> Poster {
        Poster {
            client: reqwest::Client::new(),
            base: server.address.clone(),
            start,
        }
    }

    /// Posts `text`; when it was sent (since `start`) and how long the
    /// POST took, both taken on the poster's thread.
    async fn post(&self, text: String) -> (Duration, Duration) {
        let poster = self.clone();
        poster_runtime()
            .spawn(async move {
                let token = base64::engine::general_purpose::STANDARD.encode("bench");
                let sent_at = poster.start.elapsed();
                let sent = Instant::now();
                let response = poster
                    .client
                    .post(format!("http://{}/message", poster.base))
                    .bearer_auth(token)
                    .json(&json!({"text": text, "hashtags": ["bench"]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                (sent_at, sent.elapsed())
            })
            .await
            .expect("the poster's task")
    }
}

/// The poster's runtime: one worker thread, for the whole benchmark.
fn poster_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("poster")
            .enable_all()
            .build()
            .unwrap()
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Waits until `done` holds, polling every 50 ms, for at most two minutes.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the server holds exactly `count` live subscribers.
async fn until_subscribers(server: &Server, client: &reqwest::Client, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let held = server.metric(client, "dunder_live_subscribers").await;
        if held == count as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server holds {held} subscribers, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Subscribers of one run, and how to stop them.
struct Crowd {
    shared: Shared,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<(usize, Duration)>>>,
}

impl Crowd {
    fn new(server: &Server) -> Crowd {
        let (stop, stopped) = watch::channel(false);
        Crowd {
            shared: Shared {
                address: server.address.clone(),
                start: Instant::now(),
                subscribed: Arc::new(AtomicUsize::new(0)),
                warmed: Arc::new(AtomicUsize::new(0)),
                stop: stopped,
            },
            stop,
            tasks: Vec::new(),
        }
    }

    /// Opens `count` more subscribers and waits until the server holds
    /// every one.
    async fn grow(
        &mut self,
        server: &Server,
        client: &reqwest::Client,
        count: usize,
        expected: usize,
        idle: bool,
    ) {
        for _ in 0..count {
            let shared = self.shared.clone();
            self.tasks
                .push(tokio::spawn(subscriber(shared, expected, idle)));
        }
        let total = self.tasks.len();
        let subscribed = self.shared.subscribed.clone();
        until("the subscriptions", || {
            subscribed.load(Ordering::Relaxed) == total
        })
        .await;
        until_subscribers(server, client, total).await;
    }

    /// Stops every subscriber; their receipts.
    async fn finish(
        self,
        server: &Server,
        client: &reqwest::Client,
    ) -> Vec<Vec<(usize, Duration)>> {
        let _ = self.stop.send(true);
        let mut all = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            all.push(task.await.unwrap());
        }
        until_subscribers(server, client, 0).await;
        all
    }
}

/// The server's resident size with 0, 1,000 and 10,000 idle subscribers.
async fn idle_memory() {
    let server = start_server(None).await;
    let client = reqwest::Client::new();
    // One post first, so that the write path's buffers are counted in the
    // baseline too.
    let mut crowd = Crowd::new(&server);
    Poster::new(&server, crowd.shared.start)
        .post("warm-up".to_owned())
        .await;
    println!("{:>12} {:>14} {:>18}", "idle", "resident", "per subscriber");
    let base = server.resident_kib();
    for count in IDLE {
        let more = count - crowd.tasks.len();
        crowd.grow(&server, &client, more, 0, true).await;
        // Let the sockets' first reads settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let resident = server.resident_kib();
        let per = if count == 0 {
            "-".to_owned()
        } else {
            format!(
                "{:.1} KiB",
                (resident.saturating_sub(base)) as f64 / count as f64
            )
        };
        println!(
            "{count:>12} {:>10.1} MiB {per:>18}",
            resident as f64 / 1024.0
        );
    }
    crowd.finish(&server, &client).await;
}

/// What one run measured.
struct Figures {
    delivery_p50: Duration,
    delivery_p99: Duration,
    post_p50: Duration,
    post_p99: Duration,
    delivered_per_second: f64,
    completeness: f64,
    /// CPU time (user and system) per paced post, of the server and of
    /// this process (the clients).
    server_cpu_per_post: Duration,
    clients_cpu_per_post: Duration,
}

/// Paced posts (latency of delivery and of the POST itself), then a burst
/// (throughput), for `count` subscribers.
async fn run(server: &Server, count: usize) -> Figures {
    let client = reqwest::Client::new();
    let paced = paced_posts();
    let total = paced + BURST_POSTS;
    let mut crowd = Crowd::new(server);
    crowd.grow(server, &client, count, total, false).await;
    let poster = Poster::new(server, crowd.shared.start);
    // A first message through every subscriber warms the path.
    poster.post("warm-up".to_owned()).await;
    let warmed = crowd.shared.warmed.clone();
    until("the warm-up message", || {
        warmed.load(Ordering::Relaxed) == count
    })
    .await;

    let start = crowd.shared.start;
    let mut sent = vec![Duration::ZERO; total];
    let mut post_latencies = Vec::with_capacity(paced);
    let cpu_before = (server.cpu_time(), support::own_cpu_time());
    for (n, at) in sent.iter_mut().enumerate().take(paced) {
        let (sent_at, took) = poster.post(format!("m{n}")).await;
        *at = sent_at;
        post_latencies.push(took);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server_cpu_per_post = (server.cpu_time() - cpu_before.0) / paced as u32;
    let clients_cpu_per_post = (support::own_cpu_time() - cpu_before.1) / paced as u32;
    let burst_started = start.elapsed();
    let burst = (paced..total).map(|n| poster.post(format!("m{n}")));
    for at in &mut sent[paced..] {
        *at = burst_started;
    }
    futures::future::join_all(burst).await;
    if count > 0 {
        // Every subscriber stops by itself once it has every message.
        let tasks = std::mem::take(&mut crowd.tasks);
        crowd.tasks = Vec::with_capacity(tasks.len());
        let mut latencies = Vec::with_capacity(count * paced);
        let mut burst_done = burst_started;
        let mut delivered = 0usize;
        let mut delivered_in_burst = 0usize;
        for task in tasks {
            for (n, received) in task.await.unwrap() {
                delivered += 1;
                if n < paced {
                    latencies.push(received.saturating_sub(sent[n]));
                } else {
                    delivered_in_burst += 1;
                    burst_done = burst_done.max(received);
                }
            }
        }
        latencies.sort();
        post_latencies.sort();
        crowd.finish(server, &client).await;
        let burst_seconds = (burst_done - burst_started).as_secs_f64().max(1e-6);
        return Figures {
            delivery_p50: percentile(&latencies, 0.50),
            delivery_p99: percentile(&latencies, 0.99),
            post_p50: percentile(&post_latencies, 0.50),
            post_p99: percentile(&post_latencies, 0.99),
            delivered_per_second: delivered_in_burst as f64 / burst_seconds,
            completeness: delivered as f64 / (count * total) as f64,
            server_cpu_per_post,
            clients_cpu_per_post,
        };
    }
    post_latencies.sort();
    crowd.finish(server, &client).await;
    Figures {
        delivery_p50: Duration::ZERO,
        delivery_p99: Duration::ZERO,
        post_p50: percentile(&post_latencies, 0.50),
        post_p99: percentile(&post_latencies, 0.99),
        delivered_per_second: 0.0,
        completeness: 1.0,
        server_cpu_per_post,
        clients_cpu_per_post,
    }
}

/// The paced posts of each run: `DUNDER_BENCH_PACED_POSTS`, else
/// [`PACED_POSTS`].
fn paced_posts() -> usize {
    std::env::var("DUNDER_BENCH_PACED_POSTS")
        .map(|n| n.trim().parse().expect("DUNDER_BENCH_PACED_POSTS: a count"))
        .unwrap_or(PACED_POSTS)
}

fn print_header() {
    println!(
        "{:>12} {:>13} {:>13} {:>10} {:>10} {:>12} {:>13} {:>9} {:>12} {:>12}",
        "subscribers",
        "delivery p50",
        "delivery p99",
        "POST p50",
        "POST p99",
        "POST p99 vs 0",
        "delivered/s",
        "received",
        "server CPU",
        "clients CPU"
    );
}

fn print_row(label: &str, figures: &Figures, post_baseline: Duration) {
    println!(
        "{label:>12} {:>11.2}ms {:>11.2}ms {:>8.2}ms {:>8.2}ms {:>12.2}x {:>13.0} {:>8.1}% {:>7.1}ms/msg {:>7.1}ms/msg",
        ms(figures.delivery_p50),
        ms(figures.delivery_p99),
        ms(figures.post_p50),
        ms(figures.post_p99),
        figures.post_p99.as_secs_f64() / post_baseline.as_secs_f64().max(1e-9),
        figures.delivered_per_second,
        figures.completeness * 100.0,
        ms(figures.server_cpu_per_post),
        ms(figures.clients_cpu_per_post)
    );
}

/// The subscriber counts of the SQLite runs: `DUNDER_BENCH_SUBSCRIBERS`
/// or [`SIZES`], always with the baseline (0) first.
fn sizes() -> Vec<usize> {
    let mut sizes: Vec<usize> = match std::env::var("DUNDER_BENCH_SUBSCRIBERS") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("DUNDER_BENCH_SUBSCRIBERS: counts"))
            .collect(),
        Err(_) => SIZES.to_vec(),
    };
    sizes.retain(|&n| n > 0);
    sizes.insert(0, 0);
    sizes
}

/// Whether the part `name` of the benchmark runs (`DUNDER_BENCH_PARTS`).
fn part(name: &str) -> bool {
    std::env::var("DUNDER_BENCH_PARTS")
        .map(|parts| parts.split(',').any(|p| p.trim() == name))
        .unwrap_or(true)
}

async fn on_sqlite() {
    let server = start_server(None).await;
    let mut baseline = None;
    for count in sizes() {
        let figures = run(&server, count).await;
        let base = *baseline.get_or_insert(figures.post_p99);
        print_row(&count.to_string(), &figures, base);
    }
}

/// One process on PostgreSQL, at [`POSTGRES_SIZE`] subscribers (and its
/// own POST baseline with none).
async fn on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let admin = std::env::var("DUNDER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    use sea_orm::sqlx::Connection;
    if sea_orm::sqlx::PgConnection::connect(&admin).await.is_err() {
        println!("(PostgreSQL at {admin} cannot be reached: its row is left out)");
        return;
    }
    let (url, database) = fresh_database("postgres", &dir, 0).await;
    {
        let server = start_server(Some(&url)).await;
        let baseline = run(&server, 0).await;
        let figures = run(&server, POSTGRES_SIZE).await;
        print_row(&format!("pg {POSTGRES_SIZE}"), &figures, baseline.post_p99);
        // A second, idle process on the same database: its marks now hold
        // every message until they pass it, as on a deployment of several
        // nodes. Its clients are still all on the first process.
        let _peer = start_server(Some(&url)).await;
        let figures = run(&server, POSTGRES_SIZE).await;
        print_row(
            &format!("pg {POSTGRES_SIZE}+peer"),
            &figures,
            baseline.post_p99,
        );
    }
    drop_database(database).await;
}

/// Puts a thread of the subscribers' runtime at the server's delivery
/// priority: `DUNDER_BENCH_CLIENT_PRIORITY` if set, else the server's
/// `DUNDER_LIVE_DELIVERY_PRIORITY` (which it inherits), else its default,
/// `low` (`low`: ten nice steps down; `idle`: `SCHED_IDLE`; `normal`: as
/// is).
///
/// The subscribers stand for clients on other machines, whose work never
/// competes with the server's. Here they share its two cores; at the
/// usual priority they would take turns with the threads that answer the
/// POST, which the server's own delivery does less, and the POST's
/// latency would measure the benchmark's clients. At delivery's priority
/// they compete with the server's delivery as evenly as before. The
/// poster keeps the usual priority, as a client whose request the server
/// answers.
fn subscribers_priority() {
    let chosen = std::env::var("DUNDER_BENCH_CLIENT_PRIORITY")
        .or_else(|_| std::env::var("DUNDER_LIVE_DELIVERY_PRIORITY"))
        .unwrap_or_else(|_| "low".to_owned());
    // SAFETY: pid and who 0 name the calling thread; `param` outlives the
    // call. No privilege is needed to lower one's own priority.
    let set = match chosen.to_ascii_lowercase().as_str() {
        "normal" => 0,
        "low" => unsafe {
            let usual = libc::getpriority(libc::PRIO_PROCESS, 0);
            let nice = (usual + 10).min(19);
            // And at the batch policy, as the server's delivery threads
            // (see its `live::priority`): a client thread that wakes never
            // takes a core from a running server thread.
            let param = libc::sched_param { sched_priority: 0 };
            match libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) {
                0 => libc::setpriority(libc::PRIO_PROCESS, 0, nice),
                failed => failed,
            }
        },
        "idle" => unsafe {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_IDLE, &param)
        },
        other => panic!("DUNDER_BENCH_CLIENT_PRIORITY: {other} is not low, idle or normal"),
    };
    assert_eq!(set, 0, "the subscribers' threads at the {chosen} priority");
}

fn main() {
    raise_open_files(OPEN_FILES);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(subscribers_priority)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if part("idle") {
            println!("Resident size of the server with idle subscribers (SQLite):\n");
            idle_memory().await;
        }
        println!(
            "\n{} paced posts (10/s) for latency, then a burst of {BURST_POSTS} for throughput (SQLite; \"pg\": PostgreSQL):\n",
            paced_posts()
        );
        print_header();
        if part("sqlite") {
            on_sqlite().await;
        }
        if part("postgres") {
            on_postgres().await;
        }
    });
}
