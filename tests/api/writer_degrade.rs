//! The write path when the database goes away and comes back (PostgreSQL
//! only): a throwaway PostgreSQL cluster of the test's own is stopped hard
//! (`pg_ctl stop -m immediate`) under a steady stream of posts, then started
//! again. Every post must be answered 201 (and be stored) or 503 with
//! Retry-After (and not be stored), the refusals must come within about the
//! post timeout, never a 500, and posting must resume by itself. And
//! `/readyz` across the same kind of outage: 503 while the database is
//! gone and the writer cannot write, 200 again by itself once it is back.
//!
//! The cluster is made with the PostgreSQL binaries under
//! /usr/lib/postgresql/*/bin, run as the `postgres` user when the tests run
//! as root. Missing binaries fail the test; they never skip it.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dunder::config::Settings;
use dunder::server::Application;
use dunder::store::StoreOptions;
use reqwest::StatusCode;
use sea_orm::sqlx::{Connection, Executor, PgConnection, Row};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::helpers::token;

const POST_TIMEOUT: Duration = Duration::from_secs(1);
const CLIENTS: usize = 8;
/// How long the database stays down.
const OUTAGE: Duration = Duration::from_secs(4);
/// The latest a refusal may come, from when its request was sent.
const REFUSAL_BOUND: Duration = Duration::from_secs(4); // 2 × POST_TIMEOUT + 2 s
/// The latest posting may resume after the database is back.
const RESUME_BOUND: Duration = Duration::from_secs(30);

/// A PostgreSQL cluster in a temporary directory, stopped and removed when
/// dropped (also when the test fails).
struct ThrowawayCluster {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    as_postgres: bool,
    // Declared last: removed after the cluster has been stopped.
    _dir: tempfile::TempDir,
}

impl ThrowawayCluster {
    fn create() -> ThrowawayCluster {
        let bin = postgres_bin();
        let dir = tempfile::Builder::new()
            .prefix("dunder-degrade-")
            .tempdir()
            .expect("temporary directory");
        let as_postgres = running_as_root();
        if as_postgres {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        let port = free_port();
        let cluster = ThrowawayCluster {
            data,
            socket_dir: dir.path().to_owned(),
            port,
            as_postgres,
            _dir: dir,
            bin,
        };
        run(cluster
            .command("initdb")
            .arg("-D")
            .arg(&cluster.data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]));
        cluster.start();
        cluster
    }

    /// A PostgreSQL tool, run as the `postgres` user when we are root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start(&self) {
        let options = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1",
            self.socket_dir.display(),
            self.port
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.socket_dir.join("server.log"))
            .args(["-w", "-t", "60", "-o", &options, "start"]));
    }

    /// Stops the server at once, as a crash would: no checkpoint, clients
    /// cut off mid-statement.
    fn stop_immediately(&self) {
        run(self.command("pg_ctl").arg("-D").arg(&self.data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]));
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates the database `dunder` in the cluster; returns its URL.
    async fn create_dunder_database(&self) -> String {
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the throwaway cluster");
        admin
            .execute("CREATE DATABASE dunder")
            .await
            .expect("create database");
        let _ = admin.close().await;
        self.url("dunder")
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        // Whatever state it is in; errors (already stopped) do not matter.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// The newest PostgreSQL's binaries under /usr/lib/postgresql.
fn postgres_bin() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "this test needs PostgreSQL's initdb and pg_ctl under {}/<version>/bin \
             (install the postgresql server package); none found",
            root.display()
        ),
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A port for the throwaway cluster, picked by binding and releasing: the
/// one place the tests do so. PostgreSQL cannot bind port 0 and say which
/// it got, and the cluster must come back on the same port after its crash,
/// so it needs a fixed one. Another process taking it in between makes
/// `pg_ctl start` fail loudly, never pass wrongly.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One answered post, as the client saw it.
#[derive(Debug, Clone)]
struct Outcome {
    sent: Instant,
    took: Duration,
    status: Option<StatusCode>,
    retry_after: Option<String>,
    id: Option<String>,
    error: Option<String>,
}

/// Posts from one client, one after another, until told to stop; every
/// request started is finished and recorded.
async fn keep_posting(
    client: reqwest::Client,
    url: String,
    user: String,
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let body = serde_json::json!({ "text": format!("post {n}"), "hashtags": ["degrade"] });
        let sent = Instant::now();
        let response = client
            .post(&url)
            .bearer_auth(token(&user))
            .json(&body)
            .send()
            .await;
        let mut outcome = Outcome {
            sent,
            took: Duration::ZERO,
            status: None,
            retry_after: None,
            id: None,
            error: None,
        };
        match response {
            Ok(response) => {
                outcome.status = Some(response.status());
                outcome.retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let json: serde_json::Value = response.json().await.unwrap_or_default();
                outcome.id = json["data"]["id"].as_str().map(str::to_owned);
            }
            Err(error) => outcome.error = Some(error.to_string()),
        }
        outcome.took = sent.elapsed();
        let refused = outcome.status == Some(StatusCode::SERVICE_UNAVAILABLE);
        outcomes.lock().unwrap().push(outcome);
        if refused {
            // A real client would honour Retry-After; a short pause keeps
            // the pressure on without flooding the log.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn successes_sent_after(outcomes: &Mutex<Vec<Outcome>>, after: Instant) -> Vec<Outcome> {
    outcomes
        .lock()
        .unwrap()
        .iter()
        .filter(|o| o.sent >= after && o.status == Some(StatusCode::CREATED))
        .cloned()
        .collect()
}

async fn wait_for(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_survives_a_database_outage_on_postgres() {
    let cluster = tokio::task::spawn_blocking(ThrowawayCluster::create)
        .await
        .expect("cluster set-up");
    let url = cluster.create_dunder_database().await;

    let server = DegradeServer::start(&url, POST_TIMEOUT).await;
    let store = server.store.clone();
    let base = server.base.clone();

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client");
    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Vec::<Outcome>::new()));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(keep_posting(
                client.clone(),
                format!("{base}/message"),
                format!("client{n}"),
                stop.clone(),
                outcomes.clone(),
            ))
        })
        .collect();

    // Posting works; then the database goes away mid-stream.
    wait_for("posts before the outage", Duration::from_secs(30), || {
        successes_sent_after(&outcomes, started).len() >= 200
    })
    .await;
    assert!(store.writer_healthy());
    let cluster = Arc::new(cluster);
    let stopping = cluster.clone();
    let stop_at = Instant::now();
    tokio::task::spawn_blocking(move || stopping.stop_immediately())
        .await
        .unwrap();
    let down_at = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let healthy_during_outage = store.writer_healthy();
    let starting = cluster.clone();
    let start_at = Instant::now();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .unwrap();
    let up_at = Instant::now();

    // Posting resumes by itself.
    wait_for(
        "posts succeeding again after the restart",
        RESUME_BOUND,
        || successes_sent_after(&outcomes, up_at).len() >= 50,
    )
    .await;
    let resumed_after = successes_sent_after(&outcomes, up_at)
        .iter()
        .map(|o| o.sent + o.took - up_at)
        .min()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("client task");
    }
    let metrics = crate::helpers::metrics_text(&client, &format!("{base}/metrics")).await;
    let healthy_after = store.writer_healthy();
    server.stop().await;

    let outcomes = outcomes.lock().unwrap().clone();
    let created: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status == Some(StatusCode::CREATED))
        .collect();
    let refused: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    let slowest_refusal = refused.iter().map(|o| o.took).max().unwrap_or_default();
    let mut refusal_times: Vec<Duration> = refused.iter().map(|o| o.took).collect();
    refusal_times.sort();
    let slowest_success_in_outage = created
        .iter()
        .filter(|o| o.sent + o.took > down_at && o.sent < up_at)
        .map(|o| o.took)
        .max()
        .unwrap_or_default();
    println!(
        "database stopped in {:?}, down {:?}, started (recovery included) in {:?}",
        down_at - stop_at,
        start_at - down_at,
        up_at - start_at
    );
    println!(
        "posts: {} answered, {} created, {} refused (503); refusals took median {:?}, max {:?}; \
         slowest 201 overlapping the outage {:?}; first success {:?} after the restart; \
         writer healthy during the outage: {healthy_during_outage}, after: {healthy_after}",
        outcomes.len(),
        created.len(),
        refused.len(),
        refusal_times
            .get(refusal_times.len() / 2)
            .copied()
            .unwrap_or_default(),
        slowest_refusal,
        slowest_success_in_outage,
        resumed_after,
    );
    for line in metrics.lines().filter(|l| {
        l.starts_with("dunder_")
            && (l.contains("unavailable")
                || l.contains("unreachable")
                || l.contains("uncertain")
                || l.contains("restarts")
                || l.contains("failed")
                || l.contains("healthy"))
    }) {
        println!("  {line}");
    }

    // Every answer is a 201 or a 503: no 500, no transport error.
    let other: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            !matches!(
                o.status,
                Some(StatusCode::CREATED) | Some(StatusCode::SERVICE_UNAVAILABLE)
            )
        })
        .collect();
    assert!(other.is_empty(), "answers other than 201/503: {other:#?}");
    assert!(
        !refused.is_empty(),
        "the outage was noticed (some posts refused)"
    );
    for outcome in &refused {
        assert!(
            outcome.retry_after.is_some(),
            "a 503 without Retry-After: {outcome:?}"
        );
        assert!(
            outcome.took <= REFUSAL_BOUND,
            "a refusal that took {:?} (bound {REFUSAL_BOUND:?}): {outcome:?}",
            outcome.took
        );
    }
    assert!(!healthy_during_outage, "the writer reports the outage");
    assert!(healthy_after, "the writer reports the recovery");

    // Every 201 is stored, and nothing refused is: the stored ids are
    // exactly the ids answered 201 (every request finished before this).
    let mut answered: Vec<String> = created
        .iter()
        .map(|o| o.id.clone().expect("a 201 carries its id"))
        .collect();
    answered.sort();
    let mut db = PgConnection::connect(&url)
        .await
        .expect("connect after the restart");
    let rows = db
        .fetch_all("SELECT id FROM messages")
        .await
        .expect("read stored ids");
    let mut stored: Vec<String> = rows
        .iter()
        .map(|row| {
            let bytes: Vec<u8> = row.get(0);
            dunder::domain::MessageId::from_bytes(&bytes)
                .expect("a 16-byte id")
                .to_string()
        })
        .collect();
    stored.sort();
    let _ = db.close().await;
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| stored.binary_search(id).is_err())
        .collect();
    assert!(
        missing.is_empty(),
        "answered 201 but not stored: {missing:?}"
    );
    let unanswered: Vec<&String> = stored
        .iter()
        .filter(|id| answered.binary_search(id).is_err())
        .collect();
    assert!(
        unanswered.is_empty(),
        "stored but answered 503: {unanswered:?}"
    );
    drop(cluster);
}

/// A server on `url` with its own post timeout, built as
/// `helpers::TestApp::spawn_on` builds one; it stops when told to, or when
/// this value is dropped (its shutdown sender with it).
struct DegradeServer {
    base: String,
    store: dunder::store::Store,
    shutdown: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl DegradeServer {
    async fn start(url: &str, post_timeout: Duration) -> DegradeServer {
        let mut flags = crate::helpers::test_flags(url);
        flags.writer.post_timeout_ms = Some(post_timeout.as_millis() as u64);
        let settings = Settings::from_layers(None, &flags).expect("valid settings");
        let application = Application::build_with_options(&settings, StoreOptions::default())
            .await
            .expect("build application");
        let store = application.store().clone();
        let base = format!("http://{}", application.address());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async {
            let _ = stopped.await;
        }));
        DegradeServer {
            base,
            store,
            shutdown,
            server,
        }
    }

    async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }
}

/// `GET /readyz`: its status and JSON body.
async fn readiness(client: &reqwest::Client, base: &str) -> (StatusCode, serde_json::Value) {
    let response = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("GET /readyz");
    crate::helpers::read(response).await
}

/// A post as `alice`: its status and whether it came with Retry-After.
async fn post_once(client: &reqwest::Client, base: &str, text: &str) -> (StatusCode, bool) {
    let response = client
        .post(format!("{base}/message"))
        .bearer_auth(token("alice"))
        .json(&serde_json::json!({ "text": text, "hashtags": [] }))
        .send()
        .await
        .expect("POST /message");
    let retry_after = response
        .headers()
        .contains_key(reqwest::header::RETRY_AFTER);
    (response.status(), retry_after)
}

/// The README's "`/readyz` answers 503 while it cannot write": the
/// throwaway cluster is stopped under an idle server, then started again.
/// Before any post tries, `/readyz` finds the database gone by itself
/// (`database unavailable`); once posts have failed to reach it, the writer
/// counts as unable to write (`dunder_writer_healthy 0`) and `/readyz`
/// says so (`the writer cannot write`). Every answer while the database
/// is down is a 503 with one of those two errors; after the restart
/// `/readyz` answers 200 again by itself (the writer's probe finds the
/// database), and posting works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_a_database_outage_on_postgres() {
    const DATABASE_GONE: &str = "database unavailable";
    const CANNOT_WRITE: &str = "the writer cannot write";
    let cluster = Arc::new(
        tokio::task::spawn_blocking(ThrowawayCluster::create)
            .await
            .expect("cluster set-up"),
    );
    let url = cluster.create_dunder_database().await;
    let server = DegradeServer::start(&url, POST_TIMEOUT).await;
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let healthy = |text: String| crate::helpers::metric_in(&text, "dunder_writer_healthy");
    let metrics_url = format!("{base}/metrics");

    assert_eq!(
        readiness(&client, &base).await,
        (
            StatusCode::OK,
            serde_json::json!({"data": {"status": "ready"}})
        )
    );
    assert_eq!(
        post_once(&client, &base, "before").await,
        (StatusCode::CREATED, false)
    );

    let stopping = cluster.clone();
    tokio::task::spawn_blocking(move || stopping.stop_immediately())
        .await
        .unwrap();
    assert_eq!(
        readiness(&client, &base).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": DATABASE_GONE})
        )
    );
    // Posts now cannot be written: each is refused, and after a few (two
    // write attempts in a row that could not reach the database) the
    // writer counts as unable to write.
    let mut refused = 0;
    while server.store.writer_healthy() {
        assert!(
            refused < 10,
            "{refused} posts refused, the writer still healthy"
        );
        assert_eq!(
            post_once(&client, &base, "during").await,
            (StatusCode::SERVICE_UNAVAILABLE, true)
        );
        refused += 1;
    }
    assert_eq!(
        healthy(crate::helpers::metrics_text(&client, &metrics_url).await),
        Some(0)
    );
    assert_eq!(
        readiness(&client, &base).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": CANNOT_WRITE})
        )
    );

    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.start())
        .await
        .unwrap();
    let up_at = Instant::now();
    loop {
        let (status, body) = readiness(&client, &base).await;
        if status == StatusCode::OK {
            assert_eq!(body, serde_json::json!({"data": {"status": "ready"}}));
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            body == serde_json::json!({"error": DATABASE_GONE})
                || body == serde_json::json!({"error": CANNOT_WRITE}),
            "{body}"
        );
        assert!(
            up_at.elapsed() < RESUME_BOUND,
            "/readyz still {status} {RESUME_BOUND:?} after the restart: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        healthy(crate::helpers::metrics_text(&client, &metrics_url).await),
        Some(1)
    );
    assert_eq!(
        post_once(&client, &base, "after").await,
        (StatusCode::CREATED, false)
    );
    server.stop().await;
    drop(cluster);
}
