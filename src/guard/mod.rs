//! What protects the server from clients that ask too much, shared by the
//! REST and GraphQL faces: per-user and per-address rate limits, and the
//! slots that cap live streams (Server-Sent Events and WebSockets) in total
//! and per client address. The transport's own limits (timeouts, the
//! connection cap) are the server's; query cost is GraphQL's.

mod rate;
mod refusals;
mod streams;

use crate::auth::Authenticator;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use std::fmt::Write;

use axum::extract::ConnectInfo;
use axum::http::Extensions;
use tokio::sync::Semaphore;

pub use rate::{Access, RateLimited, RateLimiter};
pub use refusals::Refusals;
pub use streams::{StreamRefusal, StreamSlot, StreamSlots};

use crate::config::{HttpLimits, RateLimits};

/// The guards of one application; cheap to clone.
#[derive(Clone)]
pub struct Guards {
    pub rate: Arc<RateLimiter>,
    pub streams: Arc<StreamSlots>,
    /// Every refusal by a limit, counted by its code for `/metrics`.
    pub refusals: Arc<Refusals>,
    /// One permit per open connection (`http.max_connections`), held by
    /// the connection's socket until it closes.
    pub connections: Arc<Semaphore>,
    max_connections: usize,
    /// Reads bearer tokens (`auth.*`); the historical token only unless
    /// [`Guards::with_auth`] sets another.
    pub auth: Arc<Authenticator>,
}

impl Guards {
    pub fn new(rate: RateLimits, http: HttpLimits) -> Guards {
        Guards {
            rate: Arc::new(RateLimiter::new(rate)),
            streams: Arc::new(StreamSlots::new(
                http.max_streams,
                http.max_streams_per_address,
            )),
            refusals: Arc::new(Refusals::default()),
            connections: Arc::new(Semaphore::new(http.max_connections)),
            max_connections: http.max_connections,
            auth: Arc::new(Authenticator::default()),
        }
    }

    /// The same guards, reading tokens with `auth`.
    pub fn with_auth(mut self, auth: Authenticator) -> Guards {
        self.auth = Arc::new(auth);
        self
    }

    /// The gauges of what is open now, in the Prometheus text format.
    pub fn render_gauges(&self, out: &mut String) {
        let open = self.max_connections - self.connections.available_permits();
        let gauges = [
            (
                "dunder_http_connections",
                "Client connections open now.",
                open,
            ),
            (
                "dunder_live_streams",
                "Live streams (Server-Sent Events and WebSockets) open now.",
                self.streams.open(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} gauge");
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// The client's address, as the server put it on the request (the TCP peer;
/// a proxy in front is one address for all its clients). `None` for
/// requests that did not come over a socket (`Router::oneshot` in tests).
pub fn client_address(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}
