//! Admission: what every operation passes before async-graphql parses or
//! validates it, over HTTP (each operation of a batch too) and WebSocket.
//! In order: one read from the rate limits of the viewer and the client
//! address; the lexical pass; the one parse; the structural pass; then one
//! write per root mutation field the operation would run. The parsed
//! document is handed to async-graphql, which does not parse it again.
//!
//! Every refusal by a limit is counted in `/metrics` under its code.

use std::any::{Any, TypeId};
use std::net::IpAddr;

use async_graphql::{Request, Response, ServerError};
use axum::http::HeaderMap;

use super::analysis::{self, Rejection, Shape};
use super::errors::{GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, RATE_LIMITED};
use super::limits::{coded_error, with_code};
use super::Viewer;
use crate::config::GraphqlLimits;
use crate::guard::{Access, Guards, RateLimited};

/// The client's address, in request data (HTTP) or connection data
/// (WebSocket): the key of the per-address rate limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub Option<IpAddr>);

/// Marks a request already admitted (by the HTTP adapter, which needs the
/// operation type before running it), so that it is not admitted twice.
pub(super) struct Admitted;

/// Who is asking, for the rate limits; no guards, no rate limits (a schema
/// run outside the server).
pub(super) struct Asker<'a> {
    pub guards: Option<&'a Guards>,
    pub viewer: Option<&'a Viewer>,
    pub address: Option<IpAddr>,
}

impl Asker<'_> {
    fn spend(&self, access: Access) -> Result<(), Refused> {
        let Some(guards) = self.guards else {
            return Ok(());
        };
        let user = self.viewer.and_then(|viewer| viewer.user().ok());
        guards
            .rate
            .check(access, user.as_ref().map(|u| u.as_str()), self.address)
            .map_err(|limited| {
                guards.refusals.count(RATE_LIMITED);
                Refused::rate_limited(limited)
            })
    }

    fn count(&self, code: &'static str) {
        if let Some(guards) = self.guards {
            guards.refusals.count(code);
        }
    }
}

/// An operation that was not admitted.
#[derive(Debug)]
pub struct Refused {
    pub error: Box<ServerError>,
    /// Set for a rate limit: what `Retry-After` and `RateLimit` say.
    pub rate_limited: Option<RateLimited>,
}

impl Refused {
    fn rate_limited(limited: RateLimited) -> Refused {
        let seconds = limited.retry_after_secs();
        let policy = limited.policy;
        let mut error = coded_error(limited.message(), RATE_LIMITED);
        if let Some(extensions) = error.extensions.as_mut() {
            extensions.set("retryAfter", seconds);
            extensions.set("policy", policy);
        }
        Refused {
            error: Box::new(error),
            rate_limited: Some(limited),
        }
    }

    /// The GraphQL response: the error, with the rate limit's headers.
    pub fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(limited) = &self.rate_limited {
            headers.extend(limited.headers());
        }
        Response::from_errors(vec![*self.error]).http_headers(headers)
    }
}

/// Admits `request`: spends one read and checks its document, leaving the
/// parsed document in it; then the writes its mutation asks for. Returns
/// what the structural pass found.
pub(super) fn admit(
    request: &mut Request,
    limits: &GraphqlLimits,
    asker: &Asker<'_>,
) -> Result<Shape, Refused> {
    let shape = check(request, limits, asker)?;
    spend_writes(&shape, asker)?;
    Ok(shape)
}

/// Admission without the writes: for an adapter that may still refuse the
/// operation for its type (a mutation over GET) before spending them.
pub(super) fn check(
    request: &mut Request,
    limits: &GraphqlLimits,
    asker: &Asker<'_>,
) -> Result<Shape, Refused> {
    asker.spend(Access::Read)?;
    let analysed = analysis::check(
        &request.query,
        &request.variables,
        request.operation_name.as_deref(),
        limits,
    )
    .map_err(|rejection| match rejection {
        Rejection::Limit(refusal) => {
            // A fragment cycle is invalid, not over a limit.
            if refusal.code != GRAPHQL_VALIDATION_FAILED {
                asker.count(refusal.code);
            }
            Refused {
                error: Box::new(coded_error(refusal.message, refusal.code)),
                rate_limited: None,
            }
        }
        Rejection::Parse(error) => Refused {
            error: Box::new(with_code(error, GRAPHQL_PARSE_FAILED)),
            rate_limited: None,
        },
    })?;
    tracing::debug!(
        tokens = analysed.lexed.tokens,
        fields = analysed.shape.fields,
        visits = analysed.shape.visits,
        "query admitted"
    );
    request.set_parsed_query(analysed.document);
    request.data.insert(Admitted);
    Ok(analysed.shape)
}

/// One write per root field of the mutation to run: a refused operation
/// runs none of them.
pub(super) fn spend_writes(shape: &Shape, asker: &Asker<'_>) -> Result<(), Refused> {
    for _ in 0..shape.writes {
        asker.spend(Access::Write)?;
    }
    Ok(())
}

/// Data the request itself carries (what `Request::data` added).
pub(super) fn request_data<T: Any + Send + Sync>(request: &Request) -> Option<&T> {
    request
        .data
        .get(&TypeId::of::<T>())
        .and_then(|data| data.downcast_ref::<T>())
}
