//! Graceful shutdown of the real `dunder` binary, as the README promises
//! it: on SIGTERM the server stops accepting, finishes the requests in
//! flight, ends the live feeds (Server-Sent Events streams end, GraphQL
//! WebSockets close with 1001) and exits 0. Once over plain HTTP, once over
//! TLS.
//!
//! The request in flight is a `POST /message` whose body the test holds
//! back: it asks `Expect: 100-continue`, so the server's `100 Continue`
//! says the handler is reading the body (the request is dispatched, not
//! waiting in a socket buffer); half the body goes before the signal, the
//! rest only after the feeds have ended and a new connection has been
//! refused. While that body is missing the server cannot have finished
//! draining, so every check after the signal runs against a live process
//! that is shutting down, and none depends on a sleep. (That held request
//! also keeps the process alive while the socket writes its close frame;
//! a socket with nothing else open is a test of its own.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsFrame;

use crate::helpers::{token, Backend, TestDatabase};
use crate::process::{DunderProcess, START};

/// How long anything the server promises after SIGTERM may take, exiting
/// included: generous, so that a loaded machine does not fail the test.
const AFTER_SIGNAL: Duration = Duration::from_secs(20);

/// On the embedded default (a SQLite file in the working directory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_http_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    shutdown_drains(dir.path(), None, None).await;
}

/// On PostgreSQL, whose live relay holds a LISTEN connection of its own
/// that shutdown must also end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_http_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(Backend::Postgres).await;
    shutdown_drains(dir.path(), None, Some(&database.url)).await;
}

/// TLS changes only the transport, which is the same whatever the
/// database: SQLite is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_https_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let tls = Tls::create(dir.path());
    shutdown_drains(dir.path(), Some(tls), None).await;
}

/// A SIGTERM sent the moment the server says it is listening stops it
/// cleanly (exit 0): the handlers are installed before that line. They
/// used to be installed when the shutdown future was first polled, just
/// after it, and a signal in between killed the process (signal 15).
/// Several rounds, since one may win the race by luck. SQLite only: no
/// database takes part in the race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_the_listening_line_exits_0_on_sqlite() {
    for round in 1..=10 {
        let dir = tempfile::tempdir().unwrap();
        let mut server = start_server(dir.path(), None, None);
        server.signal("TERM");
        let status = server
            .wait_exit(Instant::now() + AFTER_SIGNAL)
            .await
            .expect("the server should exit within 20 s of SIGTERM");
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: exit status {status}"
        );
    }
}

/// With a WebSocket the only thing open, the process still waits for the
/// socket's 1001: an upgraded connection leaves hyper's drain (which
/// watches the HTTP connection, ended at the upgrade), so the server waits
/// on the open live streams after it; without that, the client saw the
/// connection drop without a close frame (1006) in about one round in
/// three. Several rounds, since one may win the race by luck. On SQLite
/// only: the race is between the socket and the process's exit, which no
/// database takes part in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_a_lone_websocket_with_1001_on_sqlite() {
    for round in 1..=20 {
        let dir = tempfile::tempdir().unwrap();
        let mut server = start_server(dir.path(), None, None);
        let target = Target::new(server.port, None);
        let mut socket = target.subscribed_socket().await;
        // A client of its own, dropped before the signal: no other
        // connection stays open.
        wait_for_metric(&target.client(), &target, "dunder_live_subscribers", 1).await;
        server.signal("TERM");
        let close = tokio::time::timeout(AFTER_SIGNAL, close_code(&mut socket))
            .await
            .expect("the socket should close after SIGTERM");
        let status = server
            .wait_exit(Instant::now() + AFTER_SIGNAL)
            .await
            .expect("the server should exit within 20 s of SIGTERM");
        assert_eq!(close, 1001, "round {round}: the socket's close code");
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: exit status {status}"
        );
    }
}

async fn shutdown_drains(dir: &Path, tls: Option<Tls>, database_url: Option<&str>) {
    let started = Instant::now();
    let mut server = start_server(dir, tls.as_ref(), database_url);
    let target = Target::new(server.port, tls);
    let client = target.client();
    eprintln!(
        "[shutdown] {} server up after {:?}",
        target.scheme(),
        started.elapsed()
    );

    // A Server-Sent Events stream: open once its headers arrived, and
    // subscribed once the gauge counts it.
    let response = client
        .get(target.url("/message/stream"))
        .send()
        .await
        .expect("GET /message/stream");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut sse = response.bytes_stream();
    wait_for_metric(&client, &target, "dunder_live_subscribers", 1).await;

    // A GraphQL WebSocket with a live subscription.
    let mut socket = target.subscribed_socket().await;
    wait_for_metric(&client, &target, "dunder_live_subscribers", 2).await;

    // A POST whose handler is reading its body, half of which has come.
    let text = format!("posted across a {} shutdown", target.scheme());
    let body = json!({"text": text, "hashtags": ["shutdown"]}).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut post = target.connect().await.expect("connect for the POST");
    let head = format!(
        "POST /message HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        token("drainer"),
        body.len()
    );
    post.write_all(head.as_bytes()).await.unwrap();
    post.flush().await.unwrap();
    let mut received = Vec::new();
    let interim = tokio::time::timeout(START, read_head(&mut post, &mut received))
        .await
        .expect("100 Continue in time");
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "the server should ask for the body: {interim:?}"
    );
    post.write_all(first_half.as_bytes()).await.unwrap();
    post.flush().await.unwrap();

    let signalled = Instant::now();
    server.signal("TERM");

    // The live feeds end: the SSE body completes (its last chunk, not a
    // cut connection), the socket gets a close frame with 1001.
    let (sse_end, close) = tokio::join!(
        async {
            tokio::time::timeout(AFTER_SIGNAL, async {
                let mut tail = Vec::new();
                while let Some(chunk) = sse.next().await {
                    match chunk {
                        Ok(bytes) => tail.extend_from_slice(&bytes),
                        Err(error) => return Err(format!("{error:?}")),
                    }
                }
                Ok(String::from_utf8_lossy(&tail).into_owned())
            })
            .await
        },
        tokio::time::timeout(AFTER_SIGNAL, close_code(&mut socket)),
    );
    let sse_tail = sse_end
        .expect("the event stream should end after SIGTERM")
        .unwrap_or_else(|error| panic!("the event stream was cut, not ended: {error}"));
    assert!(
        !sse_tail.contains("data:"),
        "no message was posted, none may be streamed: {sse_tail:?}"
    );
    let close = close.expect("the socket should close after SIGTERM");
    assert_eq!(close, 1001, "the socket's close code");
    eprintln!(
        "[shutdown] {} feeds ended {:?} after SIGTERM",
        target.scheme(),
        signalled.elapsed()
    );

    // The body is still missing, so the server is still draining; but it
    // takes no new connection.
    assert!(
        server.exited().is_none(),
        "the server exited with a request in flight"
    );
    let fresh = target
        .client_builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
        .get(target.url("/healthz"))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a request after SIGTERM was answered: {:?}",
        fresh.map(|r| r.status())
    );
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", target.port)).await;
    assert_eq!(
        refused.as_ref().map_err(std::io::Error::kind).err(),
        Some(std::io::ErrorKind::ConnectionRefused),
        "the listening socket should be closed after SIGTERM: {refused:?}"
    );

    // The request in flight completes and its message is written.
    post.write_all(second_half.as_bytes()).await.unwrap();
    post.flush().await.unwrap();
    let (status, answer) = tokio::time::timeout(AFTER_SIGNAL, read_response(&mut post, received))
        .await
        .expect("the POST in flight should be answered after SIGTERM");
    assert_eq!(status, 201, "the POST in flight: {answer}");
    let id = answer["data"]["id"].as_str().expect("an id").to_owned();

    let status = server
        .wait_exit(signalled + AFTER_SIGNAL)
        .await
        .expect("the server should exit within 20 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    eprintln!(
        "[shutdown] {} exited 0 {:?} after SIGTERM",
        target.scheme(),
        signalled.elapsed()
    );
    drop(server);

    // The same database, read by a new process: the message was stored.
    let mut again = start_server(dir, target.tls.as_ref(), database_url);
    let target = Target::new(again.port, target.tls);
    let response = target
        .client()
        .get(target.url(&format!("/message/{id}")))
        .send()
        .await
        .expect("GET /message/{id}");
    assert_eq!(response.status(), StatusCode::OK);
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["data"]["message"]["id"], id.as_str(), "{stored}");
    assert_eq!(stored["data"]["message"]["text"], text.as_str(), "{stored}");
    again.signal("TERM");
    let status = again
        .wait_exit(Instant::now() + AFTER_SIGNAL)
        .await
        .expect("the idle server should exit within 20 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    eprintln!(
        "[shutdown] {} test took {:?}",
        target.scheme(),
        started.elapsed()
    );
}

/// A `dunder` process in `dir` on `database_url` (by default the SQLite
/// file `dir/dunder.db`), over TLS when `tls` is given.
fn start_server(dir: &Path, tls: Option<&Tls>, database_url: Option<&str>) -> DunderProcess {
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if let Some(url) = database_url {
        args.push("--database_url".into());
        args.push(url.into());
    }
    if let Some(tls) = tls {
        args.push("--use_tls".into());
        args.push("--tls.crt".into());
        args.push(tls.crt.clone().into());
        args.push("--tls.key".into());
        args.push(tls.key.clone().into());
    }
    DunderProcess::start(dir, args, tls.is_some())
}

/// A throwaway certificate for `localhost` and its key, as files in `dir`.
#[derive(Clone)]
struct Tls {
    crt: PathBuf,
    key: PathBuf,
    pem: String,
}

impl Tls {
    fn create(dir: &Path) -> Tls {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let tls = Tls {
            crt: dir.join("tls.crt"),
            key: dir.join("tls.key"),
            pem: certified.cert.pem(),
        };
        std::fs::File::create(&tls.crt)
            .unwrap()
            .write_all(tls.pem.as_bytes())
            .unwrap();
        std::fs::File::create(&tls.key)
            .unwrap()
            .write_all(certified.key_pair.serialize_pem().as_bytes())
            .unwrap();
        tls
    }

    /// A client configuration that trusts only this certificate, offering
    /// no ALPN (so HTTP/1.1, as a WebSocket or a raw request needs).
    fn connector(&self) -> tokio_rustls::TlsConnector {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            roots.add(cert.expect("certificate")).expect("a root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// A byte stream to the server, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Where the server listens and how to reach it: `http://127.0.0.1:PORT`,
/// or `https://localhost:PORT` (the certificate's name) resolved to
/// 127.0.0.1.
struct Target {
    port: u16,
    tls: Option<Tls>,
}

impl Target {
    fn new(port: u16, tls: Option<Tls>) -> Target {
        Target { port, tls }
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn url(&self, path: &str) -> String {
        match self.tls {
            None => format!("http://127.0.0.1:{}{path}", self.port),
            Some(_) => format!("https://localhost:{}{path}", self.port),
        }
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().no_proxy();
        match &self.tls {
            None => builder,
            Some(tls) => builder
                .add_root_certificate(reqwest::Certificate::from_pem(tls.pem.as_bytes()).unwrap())
                .resolve(
                    "localhost",
                    std::net::SocketAddr::from(([127, 0, 0, 1], self.port)),
                ),
        }
    }

    fn client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// A new connection, after its TLS handshake when there is TLS.
    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                Ok(Box::new(tls.connector().connect(name, tcp).await?))
            }
        }
    }

    /// A `graphql-transport-ws` socket on `/graphql/ws`.
    async fn websocket(&self) -> Socket {
        let stream = self.connect().await.expect("connect for the socket");
        let mut request = format!("ws://localhost:{}/graphql/ws", self.port)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (socket, response) = tokio_tungstenite::client_async(request, stream)
            .await
            .expect("websocket handshake");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        socket
    }

    /// A socket past `connection_init` (payload `{}`) with a
    /// `messagePosted` subscription sent.
    async fn subscribed_socket(&self) -> Socket {
        let mut socket = self.websocket().await;
        send_json(
            &mut socket,
            json!({"type": "connection_init", "payload": {}}),
        )
        .await;
        let ack = next_json(&mut socket).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        send_json(
            &mut socket,
            json!({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { messagePosted { id text } }"
            }}),
        )
        .await;
        socket
    }
}

async fn send_json(socket: &mut Socket, message: Value) {
    socket
        .send(WsFrame::Text(message.to_string().into()))
        .await
        .expect("send a frame");
}

/// The next text frame, as JSON.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(START, socket.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .expect("a frame");
        if let WsFrame::Text(text) = frame {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}

/// The code of the close frame that ends the socket, skipping keepalives;
/// 1006 when the connection ends without one.
async fn close_code(socket: &mut Socket) -> u16 {
    while let Some(frame) = socket.next().await {
        match frame {
            Ok(WsFrame::Close(close)) => return close.map_or(1005, |c| c.code.into()),
            Ok(WsFrame::Text(text)) => {
                let message: Value = serde_json::from_str(&text).expect("JSON frame");
                assert!(
                    message["type"] == "ping" || message["type"] == "complete",
                    "unexpected frame while shutting down: {message}"
                );
            }
            Ok(_) => {}
            Err(_) => return 1006,
        }
    }
    1006
}

/// Waits until the gauge `name` on `/metrics` reads `value`.
async fn wait_for_metric(client: &reqwest::Client, target: &Target, name: &str, value: u64) {
    let deadline = Instant::now() + START;
    let mut last = String::new();
    while Instant::now() < deadline {
        let text = crate::helpers::metrics_text(client, &target.url("/metrics")).await;
        last = text
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} on /metrics:\n{text}"))
            .to_owned();
        if last == value.to_string() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} stayed at {last}, not {value}");
}

/// Reads one response head (through the blank line) from `stream` into
/// `buffer`, returns it and leaves in `buffer` only what follows it.
async fn read_head(stream: &mut Box<dyn Io>, buffer: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buffer.drain(..end + 4).collect();
            return String::from_utf8_lossy(&head).into_owned();
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read a response");
        assert!(
            n > 0,
            "the connection closed before a response head: {:?}",
            String::from_utf8_lossy(buffer)
        );
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// The final response on `stream` (a `Content-Length` body, as Dunder's
/// JSON answers have): its status and JSON body.
async fn read_response(stream: &mut Box<dyn Io>, mut buffer: Vec<u8>) -> (u16, Value) {
    let head = read_head(stream, &mut buffer).await;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    while buffer.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read a body");
        assert!(n > 0, "the connection closed inside the body of {head:?}");
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buffer[..length]).unwrap_or_else(|error| {
        panic!(
            "{error}: {head}{}",
            String::from_utf8_lossy(&buffer[..length])
        )
    });
    (status, body)
}
