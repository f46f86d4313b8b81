//! `dunder tail`: messages posted after it started, and, across dropped
//! connections, those posted while it was cut off: each exactly once, in
//! order.

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use super::client_command;
use super::proxy::Proxy;
use crate::helpers::{default_start, Backend, TestApp, TestClock, TestDatabase};
use crate::on_every_backend;

on_every_backend!(
    tail_resumes_across_dropped_connections_without_loss_or_repeat,
    tail_resumes_from_the_servers_lagged_and_replay_limit_cursors
);

/// A running `dunder tail --json`, its stdout lines on a channel.
struct Tailing {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
}

impl Tailing {
    fn start(server: &str, filter: &[&str]) -> Tailing {
        let mut args = vec!["tail", "--json", "--server", server];
        args.extend(filter);
        let mut child = client_command(&args, &[]).spawn().expect("start tail");
        let (send, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        let (send, stderr) = mpsc::channel();
        let mut err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            let _ = send.send(text);
        });
        Tailing {
            child,
            lines,
            stderr,
        }
    }

    /// The id of the next message printed, within `wait`.
    async fn next_id(&self, wait: Duration) -> Option<String> {
        let line = tokio::task::block_in_place(|| self.lines.recv_timeout(wait)).ok()?;
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        Some(json["id"].as_str().expect("an id").to_owned())
    }

    /// Stops the client and returns what it wrote on stderr.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default()
    }
}

impl Drop for Tailing {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Posts until the tail prints one, so that it surely listens; returns
/// once it has printed the last one posted.
async fn until_listening(app: &TestApp, tail: &mut Tailing) {
    for attempt in 0..40 {
        let id = app
            .post_ok("warm", &format!("warm-up {attempt}"), &["rust"])
            .await;
        if let Some(first) = tail.next_id(Duration::from_millis(500)).await {
            if first == id {
                return;
            }
            // Posted after one that arrived: it arrives too.
            loop {
                match tail.next_id(Duration::from_secs(10)).await {
                    Some(printed) if printed == id => return,
                    Some(_) => continue,
                    None => panic!("warm-up {id} never printed: {}", tail.stop()),
                }
            }
        }
    }
    panic!("tail printed nothing: {}", tail.stop());
}

async fn tail_resumes_across_dropped_connections_without_loss_or_repeat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = Proxy::start(app.address.trim_start_matches("http://").to_owned()).await;
    let mut tail = Tailing::start(&proxy.url, &["--hashtag", "rust"]);
    until_listening(&app, &mut tail).await;

    let mut expected = Vec::new();
    for i in 0..2 {
        expected.push(
            app.post_ok("alice", &format!("before {i}"), &["rust"])
                .await,
        );
    }
    // Filtered out: never printed.
    app.post_ok("alice", "other", &["go"]).await;

    // Cut off: what is posted meanwhile comes after the reconnection.
    proxy.down();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        expected.push(
            app.post_ok("bob", &format!("while cut {i}"), &["rust"])
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.up();
    expected.push(app.post_ok("bob", "after", &["rust"]).await);

    // A second cut, right away, with nothing missed in between.
    let mut printed = Vec::new();
    while printed.len() < expected.len() {
        match tail.next_id(Duration::from_secs(20)).await {
            Some(id) => printed.push(id),
            None => break,
        }
    }
    proxy.down();
    expected.push(app.post_ok("carol", "cut again", &["rust"]).await);
    proxy.up();
    while printed.len() < expected.len() {
        match tail.next_id(Duration::from_secs(20)).await {
            Some(id) => printed.push(id),
            None => break,
        }
    }
    // Nothing more: no repeat arrives late.
    if let Some(extra) = tail.next_id(Duration::from_secs(1)).await {
        printed.push(extra);
    }
    let stderr = tail.stop();
    assert_eq!(printed, expected, "stderr: {stderr}");
    assert!(stderr.contains("reconnecting"), "{stderr}");
    assert!(stderr.contains("dunder: reconnected"), "{stderr}");
}

/// The server's own handovers: a `tail` that stops reading (the process is
/// stopped with SIGSTOP) while big messages are posted fills its sockets,
/// then its queue of four, and the server ends its stream with `event:
/// lagged` and a cursor. Resumed from that cursor, the replay of what it
/// missed is longer than `live.max_replay` (20), so the server hands over
/// again with `event: replay_limit`, part after part. Every message is
/// printed once, in order.
async fn tail_resumes_from_the_servers_lagged_and_replay_limit_cursors(backend: Backend) {
    const TOTAL: usize = 1500;
    let database = std::sync::Arc::new(TestDatabase::create(backend).await);
    let app = TestApp::spawn_on(database, TestClock::at(default_start()), |flags| {
        flags.live_subscriber_queue = Some(4);
        flags.live_max_replay = Some(20);
        flags.max_text_length = Some(10_000);
    })
    .await;
    let mut tail = Tailing::start(&app.address, &["--user", "big"]);
    // Listening: posts until one is printed, then until the last one is.
    let mut warm_up = None;
    for attempt in 0..40 {
        let id = post_big(&app, attempt).await;
        if let Some(first) = tail.next_id(Duration::from_millis(500)).await {
            let mut printed = first;
            while printed != id {
                printed = match tail.next_id(Duration::from_secs(10)).await {
                    Some(next) => next,
                    None => panic!("warm-up {id} never printed: {}", tail.stop()),
                };
            }
            warm_up = Some(attempt);
            break;
        }
    }
    assert!(warm_up.is_some(), "tail printed nothing: {}", tail.stop());

    let pid = tail.child.id() as libc::pid_t;
    // SAFETY: signals to the child this test started and still holds.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut posted = Vec::with_capacity(TOTAL);
    for n in 0..TOTAL {
        posted.push(post_big(&app, n).await);
    }
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);

    let mut printed = Vec::with_capacity(TOTAL);
    while printed.len() < TOTAL {
        match tail.next_id(Duration::from_secs(30)).await {
            Some(id) => printed.push(id),
            None => break,
        }
    }
    // Nothing more: no repeat arrives late.
    if let Some(extra) = tail.next_id(Duration::from_secs(1)).await {
        printed.push(extra);
    }
    let stderr = tail.stop();
    assert_eq!(printed.len(), posted.len(), "stderr: {stderr}");
    assert!(
        printed == posted,
        "printed out of order or not the posts; stderr: {stderr}"
    );
    assert!(stderr.contains("fell behind the feed"), "{stderr}");
    assert!(stderr.contains("catching up in parts"), "{stderr}");
}

/// Posts message `n` of about 10 KB as `big`, through the store (the HTTP
/// layer is not under test here); returns its id.
async fn post_big(app: &TestApp, n: usize) -> String {
    let author = dunder::domain::UserName::parse("user", "big").expect("a name");
    let text = format!("b{n:04} {}", "x".repeat(9_900));
    let post = dunder::domain::NewMessage::parse(author, &text, &[], 10_000).expect("a post");
    app.store.post(post).await.expect("stored").id.to_string()
}
