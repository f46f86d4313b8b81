//! The test harness: a real Dunder server on port 0, on a fresh database of
//! the chosen backend, spoken to over HTTP; plus a clock the test sets, so
//! that posts land at known times.
//!
//! PostgreSQL is reached through `DUNDER_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); every PostgreSQL test creates
//! its own database there and drops it when it ends. An unreachable server
//! fails the test: it is never skipped.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use chrono::{DateTime, Utc};
use dunder::cli::Flags;
use dunder::config::DeliveryPriority;
use dunder::config::RateLimitFlags;
use dunder::config::Settings;
use dunder::server::Application;
use dunder::store::{Store, StoreOptions};

use reqwest::StatusCode;
use sea_orm::sqlx::{Connection, Executor, PgConnection};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;
use tokio::sync::oneshot;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL with `default_transaction_isolation = serializable`, as
    /// CockroachDB runs every transaction.
    PostgresSerializable,
}

impl Backend {
    /// The relay that carries posts between servers on this backend:
    /// LISTEN/NOTIFY where there is one, the tail relay on SQLite.
    pub fn relay(self) -> dunder::config::RelayMode {
        match self {
            Backend::Sqlite => dunder::config::RelayMode::Tail,
            _ => dunder::config::RelayMode::Notify,
        }
    }
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A test-controlled clock: starts at a fixed instant and moves only when told.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

/// The stored value that means "follow the system clock".
const SYSTEM_TIME: i64 = i64::MIN;

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        TestClock(Arc::new(AtomicI64::new(t.timestamp_millis())))
    }

    /// A clock that is the system clock, for tests that mix this server's
    /// posts with another process's.
    pub fn system() -> Self {
        TestClock(Arc::new(AtomicI64::new(SYSTEM_TIME)))
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.0.store(t.timestamp_millis(), Ordering::SeqCst);
    }

    fn as_store_clock(&self) -> dunder::store::Clock {
        let millis = self.0.clone();
        Arc::new(move || match millis.load(Ordering::SeqCst) {
            SYSTEM_TIME => std::time::SystemTime::now(),
            at => UNIX_EPOCH + Duration::from_millis(at as u64),
        })
    }
}

/// A fresh database: a temporary SQLite file, or a new PostgreSQL database
/// that is dropped when this value is.
pub struct TestDatabase {
    pub url: String,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> TestDatabase {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite:{}/dunder.db?mode=rwc", dir.path().display());
                TestDatabase {
                    url,
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres | Backend::PostgresSerializable => {
                let admin_url = postgres_admin_url();
                let name = format!(
                    "dunder_test_{}",
                    ulid::Ulid::new().to_string().to_lowercase()
                );
                let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|error| {
                    panic!("PostgreSQL at {admin_url} is unreachable ({error}); set DUNDER_TEST_POSTGRES_URL")
                });
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                if backend == Backend::PostgresSerializable {
                    admin
                        .execute(
                            format!("ALTER DATABASE {name} SET default_transaction_isolation = 'serializable'")
                                .as_str(),
                        )
                        .await
                        .expect("make test database serializable");
                }
                let _ = admin.close().await;
                TestDatabase {
                    url: replace_database(&admin_url, &name),
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on:
        // a thread of its own drops the database.
        let admin_url = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin
                            .execute(
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("DUNDER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let slash = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..slash], database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub live: dunder::live::Live,
    pub clock: TestClock,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Declared last: dropped after the server has been told to stop.
    _database: Arc<TestDatabase>,
}

/// The flags of a test server on `database_url`: port 0 on 127.0.0.1.
/// Every test client is 127.0.0.1, so rate limits and the per-address
/// stream cap are off unless a test asks for them (the tests of the limits
/// themselves do).
///
/// Delivery runs at the usual CPU priority. This process runs many servers
/// and their clients side by side on every core, a load no deployment
/// has, and the subscribers' runtime, with the priority its threads took
/// when it started, is the whole process's: at a lower priority a feed
/// here waited seconds for a frame behind the other tests. The default
/// (`low`) and the other choices are pinned against the real binary
/// (`live::fanout`), whose processes the relay tests also run at the
/// default.
pub fn test_flags(database_url: &str) -> Flags {
    let mut flags = Flags {
        database_url: Some(database_url.to_owned()),
        port: Some(0),
        listen_address: Some("127.0.0.1".parse().expect("address")),
        ..Flags::default()
    };
    flags.rate_limit = RateLimitFlags {
        writes_per_user: Some(0),
        writes_per_address: Some(0),
        reads_per_user: Some(0),
        reads_per_address: Some(0),
    };
    flags.http.max_streams_per_address = Some(1_000_000);
    flags.live_delivery_priority = Some(DeliveryPriority::Normal);
    flags
}

/// The instant test clocks start at, unless a test says otherwise.
pub fn default_start() -> DateTime<Utc> {
    "2019-09-23T10:00:00Z".parse().expect("valid instant")
}

impl TestApp {
    /// A server on a fresh database of `backend`, its clock at [`default_start`].
    pub async fn spawn(backend: Backend) -> TestApp {
        let database = Arc::new(TestDatabase::create(backend).await);
        TestApp::spawn_on(database, TestClock::at(default_start()), |_| {}).await
    }

    /// A server on `database` (which may be shared with other servers), with
    /// `configure` applied to its flags.
    pub async fn spawn_on(
        database: Arc<TestDatabase>,
        clock: TestClock,
        configure: impl FnOnce(&mut Flags),
    ) -> TestApp {
        let mut flags = test_flags(&database.url);
        configure(&mut flags);
        let settings = Settings::from_layers(None, &flags).expect("valid test settings");
        let options = StoreOptions {
            migrate: settings.database.should_migrate,
            clock: clock.as_store_clock(),
            ..StoreOptions::default()
        };
        let application = Application::build_with_options(&settings, options)
            .await
            .expect("build application");
        let store = application.store().clone();
        let live = application.live().clone();
        let address = format!("http://{}", application.address());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            client: reqwest::Client::new(),
            store,
            live,
            clock,
            shutdown: Some(shutdown),
            server: Some(server),
            _database: database,
        }
    }

    /// Stops the server as SIGTERM would and waits until it has returned.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops within 10 s")
                .expect("the server task")
                .expect("the server returns cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `POST /message` as `user` (historical token), returning status and body.
    pub async fn post_message(&self, user: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/message"))
            .bearer_auth(token(user))
            .json(&body)
            .send()
            .await
            .expect("POST /message");
        read(response).await
    }

    /// Posts `text` with `hashtags` as `user`, expecting 201; returns the id.
    pub async fn post_ok(&self, user: &str, text: &str, hashtags: &[&str]) -> String {
        let (status, body) = self
            .post_message(
                user,
                serde_json::json!({ "text": text, "hashtags": hashtags }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]["id"].as_str().expect("id").to_owned()
    }

    /// `GET path`, returning status and JSON body.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        read(response).await
    }

    /// Rows in every table and the sum of all trend counters: what a refused
    /// request must leave unchanged.
    pub async fn footprint(&self) -> Footprint {
        let db = self.store.connection();
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM hashtags",
            "SELECT COUNT(*) FROM messages",
            "SELECT COUNT(*) FROM message_hashtags",
            "SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) FROM trend_counts",
        ] {
            let row = db
                .query_one(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect("count query")
                .expect("a row");
            counts.push(row.try_get_by_index::<i64>(0).expect("a count"));
        }
        Footprint {
            users: counts[0],
            hashtags: counts[1],
            messages: counts[2],
            links: counts[3],
            counted: counts[4],
        }
    }

    /// Walks `GET /message?{query}` page by page with `limit`, returning
    /// every message in order, and checks the walk ends with an empty page.
    pub async fn walk(&self, query: &str, limit: u64) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/message?limit={limit}");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            let messages = body["data"]["messages"]
                .as_array()
                .expect("messages")
                .clone();
            if messages.is_empty() {
                assert!(
                    body["data"].get("next_cursor").is_none(),
                    "empty page has no cursor: {body}"
                );
                return all;
            }
            assert!(messages.len() as u64 <= limit, "page larger than limit");
            cursor = Some(
                body["data"]["next_cursor"]
                    .as_str()
                    .expect("next_cursor")
                    .to_owned(),
            );
            all.extend(messages);
        }
        panic!("the walk over {query} did not end");
    }

    /// The value of a counter on `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = metrics_text(&self.client, &self.url("/metrics")).await;
        metric_in(&text, name).unwrap_or_else(|| panic!("metric {name} missing from:\n{text}"))
    }
}

/// The text of `/metrics` at `url`, read with `client`.
pub async fn metrics_text(client: &reqwest::Client, url: &str) -> String {
    client
        .get(url)
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The value of the metric `name` (with its labels, if any) in a
/// `/metrics` text.
pub fn metric_in(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub users: i64,
    pub hashtags: i64,
    pub messages: i64,
    pub links: i64,
    pub counted: i64,
}

/// The historical token: standard base64 of the user name.
pub fn token(user: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(user)
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("response body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// Ids of a list of REST messages.
pub fn ids(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["id"].as_str().expect("id").to_owned())
        .collect()
}

/// GraphQL over HTTP, the way a GraphQL client speaks it.
impl TestApp {
    /// `POST /graphql` with `query` and `variables`, as `user` when given.
    pub async fn graphql(
        &self,
        user: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .header("Accept", "application/graphql-response+json")
            .json(&serde_json::json!({ "query": query, "variables": variables }));
        if let Some(user) = user {
            request = request.bearer_auth(token(user));
        }
        read(request.send().await.expect("POST /graphql")).await
    }

    /// The `data` of a query that must succeed.
    pub async fn graphql_data(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(None, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }

    /// Runs one operation over `/graphql/ws` with `protocol`
    /// (`graphql-transport-ws` or the legacy `graphql-ws`), sending
    /// `connection_init` with the user's token when given; returns the
    /// payload of the result message.
    pub async fn graphql_ws(&self, protocol: &str, user: Option<&str>, query: &str) -> Value {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message as Frame;

        let url = format!("{}/graphql/ws", self.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocol.parse().expect("protocol header"),
        );
        let (mut socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some(protocol)
        );
        let payload = match user {
            Some(user) => serde_json::json!({ "Authorization": format!("Bearer {}", token(user)) }),
            None => serde_json::json!({}),
        };
        let send = |value: Value| Frame::Text(value.to_string().into());
        socket
            .send(send(
                serde_json::json!({ "type": "connection_init", "payload": payload }),
            ))
            .await
            .unwrap();
        let start = if protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        socket
            .send(send(
                serde_json::json!({ "id": "1", "type": start, "payload": { "query": query } }),
            ))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let frame = tokio::time::timeout_at(deadline, socket.next())
                .await
                .expect("a websocket answer in time")
                .expect("the socket stays open")
                .expect("a frame");
            let Frame::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(&text).expect("JSON frame");
            match message["type"].as_str() {
                Some("connection_ack") | Some("ka") | Some("ping") | Some("pong") => continue,
                Some("next") | Some("data") => {
                    let _ = socket.close(None).await;
                    return message["payload"].clone();
                }
                other => panic!("unexpected websocket message {other:?}: {message}"),
            }
        }
    }
}

/// The `extensions.code` of every error in a GraphQL response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// POSTs `body` over a plain TCP connection, writing it in the background
/// while reading the answer: a server that refuses a large body early
/// answers before the client has finished sending, which an HTTP client
/// library reports as a broken pipe instead of the answer.
pub async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let address = app.address.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let sender = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            for chunk in body.chunks(64 * 1024) {
                if writer.write_all(chunk).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    sender.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

/// A GraphQL WebSocket client for subscriptions: one connection, any
/// number of operations, frames read one at a time.
pub struct LiveSocket {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub protocol: String,
}

/// What a [`LiveSocket`] reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `next` (or legacy `data`) for an operation id, with its payload.
    Next(String, Value),
    /// `complete` for an operation id.
    Complete(String),
    /// A server keepalive (`ping` or legacy `ka`).
    Keepalive,
    /// The server closed the socket, with this code.
    Closed(u16),
    /// Any other protocol message.
    Other(Value),
}

impl LiveSocket {
    /// Connects to `/graphql/ws` with `protocol` and, unless `init` is
    /// false, sends `connection_init` (with `user`'s token) and waits for
    /// the acknowledgement.
    pub async fn connect(
        app: &TestApp,
        protocol: &str,
        user: Option<&str>,
        init: bool,
    ) -> LiveSocket {
        Self::connect_on(app, protocol, user, init, None).await
    }

    /// Like `connect`, over a socket whose receive buffer is `recv_buffer`
    /// bytes: a client that stops reading then pushes back within a few
    /// kilobytes instead of megabytes.
    pub async fn connect_on(
        app: &TestApp,
        protocol: &str,
        user: Option<&str>,
        init: bool,
        recv_buffer: Option<u32>,
    ) -> LiveSocket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let address: std::net::SocketAddr = app
            .address
            .trim_start_matches("http://")
            .parse()
            .expect("address");
        let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(size) = recv_buffer {
            tcp.set_recv_buffer_size(size).expect("receive buffer");
        }
        let stream = tcp.connect(address).await.expect("tcp connect");
        let mut request = format!("ws://{address}/graphql/ws")
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocol.parse().expect("protocol header"),
        );
        let (socket, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("ws handshake");
        let mut live = LiveSocket {
            socket,
            protocol: protocol.to_owned(),
        };
        if init {
            let payload = match user {
                Some(user) => {
                    serde_json::json!({ "Authorization": format!("Bearer {}", token(user)) })
                }
                None => serde_json::json!({}),
            };
            live.send(serde_json::json!({ "type": "connection_init", "payload": payload }))
                .await;
            match live.next_frame().await {
                Frame::Other(message) if message["type"] == "connection_ack" => {}
                other => panic!("expected connection_ack, got {other:?}"),
            }
        }
        live
    }

    pub async fn send(&mut self, message: Value) {
        use futures::SinkExt;
        use tokio_tungstenite::tungstenite::Message as WsFrame;
        self.socket
            .send(WsFrame::Text(message.to_string().into()))
            .await
            .expect("send a frame");
    }

    /// Starts operation `id` (a subscription, query or mutation).
    pub async fn start(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" {
            "start"
        } else {
            "subscribe"
        };
        self.send(serde_json::json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next frame, within ten seconds.
    pub async fn next_frame(&mut self) -> Frame {
        self.next_frame_within(Duration::from_secs(10))
            .await
            .expect("a websocket frame within 10 s")
    }

    /// The next frame, or `None` if nothing comes within `wait`.
    pub async fn next_frame_within(&mut self, wait: Duration) -> Option<Frame> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message as WsFrame;
        loop {
            let frame = match tokio::time::timeout(wait, self.socket.next()).await {
                Err(_) => return None,
                Ok(None) => return Some(Frame::Closed(1006)),
                Ok(Some(Err(_))) => return Some(Frame::Closed(1006)),
                Ok(Some(Ok(frame))) => frame,
            };
            let text = match frame {
                WsFrame::Text(text) => text,
                WsFrame::Close(close) => {
                    return Some(Frame::Closed(close.map_or(1005, |c| c.code.into())))
                }
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).expect("JSON frame");
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            return Some(match message["type"].as_str() {
                Some("next") | Some("data") => Frame::Next(id, message["payload"].clone()),
                Some("complete") => Frame::Complete(id),
                Some("ping") | Some("ka") => Frame::Keepalive,
                _ => Frame::Other(message),
            });
        }
    }

    /// The next `next` payload, skipping keepalives.
    pub async fn next_payload(&mut self) -> (String, Value) {
        loop {
            match self.next_frame().await {
                Frame::Next(id, payload) => return (id, payload),
                Frame::Keepalive => continue,
                other => panic!("expected a result, got {other:?}"),
            }
        }
    }
}

/// A Server-Sent Events client over `GET /message/stream`.
///
/// No SSE parser is among the dependencies and the format is small, so it
/// is read here, after the specification's "event stream interpretation":
/// bytes are buffered and a line is decoded only once its end has come, so
/// a character the network splits across chunks arrives whole.
pub struct SseClient {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    /// Received bytes not yet making up a whole line.
    buffer: Vec<u8>,
    /// The fields of the event being read, until the blank line ends it.
    pending: SseEvent,
    /// Whether a field or comment has come since the last blank line.
    started: bool,
}

/// What reading a stream gave: an event (or comment), or why none came.
#[derive(Debug, Clone, PartialEq)]
pub enum SseNext {
    Event(SseEvent),
    /// The server ended the stream.
    End,
    /// The stream failed (a reset connection, a malformed chunk).
    Error(String),
    /// Nothing came within the wait.
    Timeout,
}

/// One SSE event (comments are returned too, as heartbeats).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub comment: Option<String>,
}

impl SseClient {
    /// Opens the stream with `query` and, when given, `Last-Event-ID`.
    pub async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = app.client.get(app.url(&format!("/message/stream?{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("GET /message/stream");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        SseClient::over(response.bytes_stream())
    }

    /// Reads events from `body`, a stream of chunks cut anywhere.
    fn over(
        body: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    ) -> SseClient {
        SseClient {
            body: Box::pin(body),
            buffer: Vec::new(),
            pending: SseEvent::default(),
            started: false,
        }
    }

    /// The next event or comment, or why there is none: the stream ended,
    /// failed, or sent nothing within `wait`. An event the stream ends in
    /// the middle of is dropped, as the specification says.
    pub async fn next_within(&mut self, wait: Duration) -> SseNext {
        use futures::StreamExt;
        loop {
            while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]);
                // The server ends lines with LF; CRLF is read too.
                if let Some(event) = self.read_line(line.strip_suffix('\r').unwrap_or(&line)) {
                    return SseNext::Event(event);
                }
            }
            match tokio::time::timeout(wait, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Some(Err(error))) => return SseNext::Error(error.to_string()),
                Ok(None) => return SseNext::End,
                Err(_) => return SseNext::Timeout,
            }
        }
    }

    /// Takes one line into the pending event; a blank line ends it.
    fn read_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if !std::mem::take(&mut self.started) {
                return None;
            }
            let mut event = std::mem::take(&mut self.pending);
            // Each data line added a newline; the last one is not data.
            if event.data.ends_with('\n') {
                event.data.pop();
            }
            return Some(event);
        }
        self.started = true;
        if let Some(comment) = line.strip_prefix(':') {
            self.pending.comment = Some(comment.trim().to_owned());
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.pending.id = Some(value.to_owned()),
            "event" => self.pending.event = Some(value.to_owned()),
            "data" => {
                self.pending.data.push_str(value);
                self.pending.data.push('\n');
            }
            _ => {}
        }
        None
    }

    /// The next message event (skipping heartbeats), as REST JSON.
    pub async fn next_message(&mut self) -> SseEvent {
        loop {
            match self.next_within(Duration::from_secs(10)).await {
                SseNext::Event(event) if event.comment.is_none() => return event,
                SseNext::Event(_) => continue,
                other => panic!("expected an event within 10 s, got {other:?}"),
            }
        }
    }
}

/// The SSE reader on its own, fed chunks cut where the network may cut them.
mod sse_reader {
    use super::*;

    fn reader(chunks: Vec<Vec<u8>>) -> SseClient {
        let chunks = chunks.into_iter().map(|c| Ok(bytes::Bytes::from(c)));
        SseClient::over(futures::stream::iter(chunks))
    }

    /// `bytes` one byte per chunk: every multi-byte character is split.
    fn bytewise(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes.iter().map(|&b| vec![b]).collect()
    }

    #[tokio::test]
    async fn a_character_split_across_chunks_arrives_whole() {
        let data = r#"{"text":"héllo #東京 🦀 नमस्ते"}"#;
        let wire = format!("id: 01A\nevent: message\ndata: {data}\n\n");
        let mut sse = reader(bytewise(wire.as_bytes()));
        let expected = SseEvent {
            id: Some("01A".to_owned()),
            event: Some("message".to_owned()),
            data: data.to_owned(),
            comment: None,
        };
        assert_eq!(sse.next_message().await, expected);
        assert_eq!(sse.next_within(Duration::from_secs(1)).await, SseNext::End);
    }

    #[tokio::test]
    async fn comments_data_lines_and_line_endings_follow_the_specification() {
        let wire = b": heartbeat\n\ndata: one\r\ndata:two\r\n\r\n\n\nevent: x\ndata: cut";
        let mut sse = reader(vec![wire[..20].to_vec(), wire[20..].to_vec()]);
        let wait = Duration::from_secs(1);
        let heartbeat = SseEvent {
            comment: Some("heartbeat".to_owned()),
            ..SseEvent::default()
        };
        assert_eq!(sse.next_within(wait).await, SseNext::Event(heartbeat));
        let event = sse.next_message().await;
        assert_eq!((event.id, event.data), (None, "one\ntwo".to_owned()));
        // Blank lines alone dispatch nothing; an unfinished event is dropped.
        assert_eq!(sse.next_within(wait).await, SseNext::End);
    }
}

/// The tables of the database `db` is connected to, by name (the
/// migration runner's own `seaql_migrations` included), on either backend.
pub async fn table_names(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    };
    let rows = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("list tables");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
        .collect()
}
