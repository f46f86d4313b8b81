//! The application: binds the listener (port 0 works, for tests), assembles
//! the router (REST routes, GraphQL, the dashboard, health, metrics) with its guards
//! (request timeout, rate limits), serves plain HTTP or HTTPS through rustls
//! under the transport limits, and shuts down gracefully.

mod connection;
mod middleware;
mod serve;
mod tls;

use std::future::Future;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::{GraphqlLimits, HttpLimits, Settings};
use crate::graphql::{self, DunderSchema};
use crate::guard::Guards;
use crate::live::Live;
use crate::rest::{self, ApiError, MaxTextChars};
use crate::store::{Store, StoreOptions};
use crate::telemetry::render_metrics;

/// How long requests in flight may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Why the application could not start; each names what is at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open database {url}: {source}")]
    Database { url: String, source: sea_orm::DbErr },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the live relay (--live.relay): {0}")]
    Relay(crate::store::StoreError),
    #[error("auth: {0}")]
    Auth(String),
    #[error("--tls.crt {crt} / --tls.key {key}: {source}")]
    Tls {
        crt: String,
        key: String,
        source: std::io::Error,
    },
}

/// The one application state: every handle the routes share, held once.
/// Each face takes the parts it needs with `State<Part>` through
/// [`FromRef`] (the REST routes the store, the live hub, the guards and the
/// text limit; GraphQL the schema, its limits, the hub and the guards), so
/// that no face keeps a copy of its own. The handles are reference-counted:
/// cloning the state per request clones pointers.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub live: Live,
    /// Rate limits, live stream slots, refusal counters.
    pub guards: Guards,
    pub max_text_chars: MaxTextChars,
    /// Built once over the same store and hub.
    pub schema: DunderSchema,
    pub graphql_limits: GraphqlLimits,
}

impl AppState {
    /// The state over these handles, with the GraphQL schema built on them.
    pub fn new(
        store: Store,
        live: Live,
        guards: Guards,
        max_text_chars: usize,
        graphql_limits: GraphqlLimits,
    ) -> AppState {
        let schema =
            graphql::build_schema(store.clone(), live.clone(), max_text_chars, graphql_limits);
        AppState {
            store,
            live,
            guards,
            max_text_chars: MaxTextChars(max_text_chars),
            schema,
            graphql_limits,
        }
    }
}

/// `State<Part>` for each part of [`AppState`].
macro_rules! parts {
    ($($field:ident: $part:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $part {
            fn from_ref(state: &AppState) -> $part {
                state.$field.clone()
            }
        }
    )*};
}

parts! {
    store: Store,
    live: Live,
    guards: Guards,
    max_text_chars: MaxTextChars,
    schema: DunderSchema,
    graphql_limits: GraphqlLimits,
}

/// A built application, bound to its port, not yet serving.
pub struct Application {
    listener: StdTcpListener,
    address: SocketAddr,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Reloaded on SIGHUP while serving.
    certificate: Option<Arc<tls::ServerCertificate>>,
    state: AppState,
    http: HttpLimits,
}

impl Application {
    /// Binds the listener and loads TLS material (so that a bad port or
    /// certificate fails before the database is touched), then opens the
    /// store, migrating it unless switched off, and starts the live relay.
    pub async fn build(settings: &Settings) -> Result<Application, StartError> {
        let options = StoreOptions {
            migrate: settings.database.should_migrate,
            log_statements: settings.database.debug,
            ..StoreOptions::default()
        };
        Self::build_with_options(settings, options).await
    }

    /// Like [`Application::build`] with the store options given (tests set
    /// a clock they control); the commit hook is the application's own,
    /// and the writer's timeout and connections come from `settings`.
    pub async fn build_with_options(
        settings: &Settings,
        mut options: StoreOptions,
    ) -> Result<Application, StartError> {
        // The token key is checked before anything else is opened.
        let auth = Authenticator::from_settings(&settings.auth).map_err(StartError::Auth)?;
        let (listener, tls) = listen(settings).await?;
        let (tls, certificate) = tls.unzip();
        options.post_timeout = Duration::from_millis(settings.writer.post_timeout_ms);
        options.write_connections = settings.writer.connections;
        options.idempotency_retention =
            Duration::from_secs(settings.writer.idempotency_retention_hours * 3600);
        let url = &settings.database.url;
        let live = Live::new(settings.live);
        options.on_commit = Some(live.commit_hook());
        options.on_marks = Some(live.marks_hook());
        let store = Store::open(url, options)
            .await
            .map_err(|source| StartError::Database {
                url: redact_password(url),
                source,
            })?;
        live.start_relay(&store).await.map_err(StartError::Relay)?;
        let address = listener.local_addr().map_err(|source| StartError::Listen {
            address: settings.listen_socket(),
            source,
        })?;
        let guards = Guards::new(settings.rate_limit, settings.http).with_auth(auth);
        guards.rate.start_housekeeping();
        let state = AppState::new(
            store,
            live,
            guards,
            settings.max_text_length,
            settings.graphql,
        );
        let router = router(
            state.clone(),
            Duration::from_millis(settings.http.request_timeout_ms),
        );
        // Once everything opened: a server that fails to start says only why.
        if let Some(warning) =
            crate::auth::network_warning(settings.auth.mode, settings.listen_address)
        {
            tracing::warn!(mode = %settings.auth.mode, address = %settings.listen_address, "{warning}");
        }
        Ok(Application {
            listener,
            address,
            router,
            tls,
            certificate,
            state,
            http: settings.http,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn live(&self) -> &Live {
        &self.state.live
    }

    /// Serves until `shutdown` completes, then ends the live feeds (their
    /// streams close cleanly), stops accepting, lets requests in flight
    /// finish within the grace period, and returns.
    pub async fn run_until<F>(self, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let live = self.state.live.clone();
        let shutdown = async move {
            shutdown.await;
            live.shutdown();
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        tracing::info!(address = %self.address, "dunder listening on {scheme}://{}", self.address);
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        // Stopped when serving ends: the handle aborts the task on drop.
        #[cfg(unix)]
        let _reloader = self
            .certificate
            .as_ref()
            .and_then(|certificate| certificate.reload_on_hangup())
            .map(AbortOnDrop);
        let guards = &self.state.guards;
        let streams = guards.streams.clone();
        let transport = serve::Transport {
            limits: self.http,
            connections: guards.connections.clone(),
            tls: self.tls,
            refusals: guards.refusals.clone(),
            grace: SHUTDOWN_GRACE,
        };
        let served = serve::serve(listener, self.router, transport, shutdown).await;
        // A WebSocket runs in a task of its own once upgraded, which the
        // connection drain does not wait for: give each the moment it needs
        // to send its 1001 close before the process exits, within a bound
        // (a client that does not read is closed by the send timeout).
        let grace = Duration::from_millis(self.http.sockets_close_grace_ms);
        let deadline = tokio::time::Instant::now() + grace;
        while streams.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        served
    }
}

/// Binds the listening socket and, with `use_tls`, loads the certificate
/// and key.
async fn listen(
    settings: &Settings,
) -> Result<
    (
        StdTcpListener,
        Option<(tokio_rustls::TlsAcceptor, Arc<tls::ServerCertificate>)>,
    ),
    StartError,
> {
    let requested = settings.listen_socket();
    let listen_error = |source| StartError::Listen {
        address: requested,
        source,
    };
    let listener = StdTcpListener::bind(requested).map_err(listen_error)?;
    listener.set_nonblocking(true).map_err(listen_error)?;
    if !settings.use_tls {
        return Ok((listener, None));
    }
    let acceptor =
        tls::acceptor(&settings.tls_crt, &settings.tls_key).map_err(|source| StartError::Tls {
            crt: settings.tls_crt.display().to_string(),
            key: settings.tls_key.display().to_string(),
            source,
        })?;
    Ok((listener, Some(acceptor)))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed
/// when this is called, not when the future is first polled: the server
/// says it is listening before it polls this, and a SIGTERM sent right
/// after that line must stop it cleanly (exit 0), not by the signal's
/// default action. Call it inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (terminate, interrupt) = signals;
            tokio::select! {
                _ = received(terminate) => {},
                _ = received(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down");
    }
}

/// Completes when `signal` is received; never if it could not be
/// installed.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The application's routes over the one state, with the layers every
/// request passes.
fn router(state: AppState, request_timeout: Duration) -> Router {
    let guards = state.guards.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(rest::router())
        .merge(graphql::router())
        .merge(graphql::playground::router())
        .merge(crate::dashboard::router())
        .fallback(no_route)
        .with_state(state)
        .layer(from_fn_with_state(
            guards.clone(),
            middleware::rest_rate_limit,
        ))
        .layer(from_fn_with_state(
            (request_timeout, guards),
            middleware::request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "data": { "status": "ok" } }))
}

async fn readyz(State(store): State<Store>) -> Result<Json<serde_json::Value>, ApiError> {
    if !store.writer_healthy() {
        tracing::warn!("readiness check failed: the writer cannot write");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the writer cannot write",
        ));
    }
    match store.ping().await {
        Ok(()) => Ok(Json(serde_json::json!({ "data": { "status": "ready" } }))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable",
            ))
        }
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        {
            let mut text = render_metrics(state.store.stats(), state.live.hub().subscriber_count());
            state.guards.render_gauges(&mut text);
            state.guards.refusals.render(&mut text);
            text
        },
    )
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

/// The URL with any password (in the credentials or a `password`
/// parameter) replaced, for messages and logs. A URL that does not parse
/// is shown by its scheme only, since where its secret sits is unknown.
fn redact_password(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        let scheme = raw.split(':').next().unwrap_or("database");
        return format!("{scheme}:(unparsable URL)");
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url
        .query_pairs()
        .any(|(key, _)| key.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if key.eq_ignore_ascii_case("password") {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact_password("postgres://bob:secret@db:5432/dunder"),
            "postgres://bob:***@db:5432/dunder"
        );
        assert_eq!(
            redact_password("postgres://bob@db/dunder"),
            "postgres://bob@db/dunder"
        );
        assert_eq!(redact_password("sqlite:dunder.db"), "sqlite:dunder.db");
        assert_eq!(
            redact_password("postgres://bob:se@cret@db/x"),
            "postgres://bob:***@db/x"
        );
        assert_eq!(
            redact_password("postgres://bob@db/x?sslmode=disable&password=hunter2"),
            "postgres://bob@db/x?sslmode=disable&password=***"
        );
    }
}
