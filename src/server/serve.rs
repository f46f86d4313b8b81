//! The accept loop: plain HTTP or HTTPS (rustls), HTTP/1.1 and HTTP/2,
//! each connection under the transport limits.
//!
//! axum's own `serve` has no header-read or idle timeout and no connection
//! cap, so connections are served here with hyper's builder:
//! - at most `http.max_connections` at once; past that a connection gets a
//!   503 with `Retry-After` and is closed (a bounded number of refusals run
//!   at a time; beyond those the socket is closed at once), never accepted
//!   and then left waiting;
//! - each connection is watched ([`super::connection`]): slow headers,
//!   idle keep-alive and unread writes close it;
//! - the client's address goes on every request (`ConnectInfo`), for the
//!   rate limits and stream caps;
//! - on shutdown: stop accepting, let requests in flight finish within the
//!   grace period, then close whatever is left.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::connection::{watchdog, Activity, GuardedIo, TrackedBody};
use crate::config::HttpLimits;
use crate::guard::Refusals;

/// Connections refused at once, each with a short 503; more are closed
/// without a word.
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is given to take its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// What serving needs besides the listener and the router.
pub struct Transport {
    pub limits: HttpLimits,
    /// One permit per open connection (`http.max_connections`).
    pub connections: Arc<Semaphore>,
    pub tls: Option<TlsAcceptor>,
    pub refusals: Arc<Refusals>,
    /// How long requests in flight may take to finish after shutdown.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let limits = transport.limits;
    let connections = transport.connections.clone();
    let refusing = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    // The watchdog times headers and idleness; hyper's own header timer
    // would also close idle keep-alive connections at the header timeout.
    builder
        .http1()
        .header_read_timeout(None)
        .timer(TokioTimer::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_millis(limits.idle_timeout_ms)))
        .max_concurrent_streams(256);
    let builder = Arc::new(builder);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors, or a connection reset
                        // before it was accepted: wait a moment, go on.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Nagle stays on, as with axum::serve: live feeds write many
                // small frames, and coalescing them halves the packets a
                // subscriber has to read under load.
                match connections.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let activity = Activity::new();
                        let io = GuardedIo::new(
                            stream,
                            activity.clone(),
                            Duration::from_millis(limits.send_timeout_ms),
                            slot,
                        );
                        let connection = serve_connection(
                            io,
                            peer,
                            activity,
                            router.clone(),
                            builder.clone(),
                            transport.tls.clone(),
                            limits,
                            graceful.watcher(),
                        );
                        tasks.spawn(connection);
                    }
                    Err(_) => {
                        transport.refusals.count("TOO_MANY_CONNECTIONS");
                        if let Ok(refusal) = refusing.clone().try_acquire_owned() {
                            let tls = transport.tls.clone();
                            tasks.spawn(async move {
                                let _ = tokio::time::timeout(REFUSAL_TIME, refuse(stream, tls)).await;
                                drop(refusal);
                            });
                        }
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(transport.grace) => {
            tracing::warn!(grace = ?transport.grace, "requests still in flight after the grace period; closing them");
        }
    }
    tasks.shutdown().await;
    Ok(())
}

/// Serves one accepted connection (after its TLS handshake, if any) until
/// it ends, the watchdog finds it stalled, or shutdown closes it.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    io: GuardedIo<TcpStream>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    router: Router,
    builder: Arc<Builder<TokioExecutor>>,
    tls: Option<TlsAcceptor>,
    limits: HttpLimits,
    graceful: hyper_util::server::graceful::Watcher,
) {
    let header_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let idle_timeout = Duration::from_millis(limits.idle_timeout_ms);
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let in_flight = service_activity.request_began();
        let activity = service_activity.clone();
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router
                .oneshot(request.map(axum::body::Body::new))
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                activity.upgraded();
            }
            Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
        }
    });
    let stall = watchdog(activity, header_timeout, idle_timeout);
    match tls {
        None => {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
            let connection = graceful.watch(connection.into_owned());
            tokio::select! {
                result = connection => log_connection_end(peer, result),
                reason = stall => tracing::debug!(%peer, ?reason, "connection closed by the watchdog"),
            }
        }
        Some(acceptor) => {
            // The handshake is part of the headers: it gets the same time.
            let stream = match tokio::time::timeout(header_timeout, acceptor.accept(io)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake too slow");
                    return;
                }
            };
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let connection = graceful.watch(connection.into_owned());
            tokio::select! {
                result = connection => log_connection_end(peer, result),
                reason = stall => tracing::debug!(%peer, ?reason, "connection closed by the watchdog"),
            }
        }
    }
}

fn log_connection_end(
    peer: SocketAddr,
    result: Result<(), Box<dyn std::error::Error + Send + Sync>>,
) {
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The answer to a connection past the cap: 503 with `Retry-After`, then
/// close. The request is read (briefly) first so that closing does not
/// reset the connection before the client has read the answer.
async fn refuse(stream: TcpStream, tls: Option<TlsAcceptor>) {
    match tls {
        None => refuse_on(stream).await,
        Some(acceptor) => {
            if let Ok(stream) = acceptor.accept(stream).await {
                refuse_on(stream).await;
            }
        }
    }
}

async fn refuse_on<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let body = r#"{"error":"the server has as many connections as it may hold; retry later"}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut request = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    if stream.write_all(answer.as_bytes()).await.is_ok() {
        let _ = stream.shutdown().await;
        // Drain what the client still sends until it closes.
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while matches!(stream.read(&mut request).await, Ok(n) if n > 0) {}
        })
        .await;
    }
}
