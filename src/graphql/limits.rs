//! The request guard, an async-graphql extension on every operation:
//! admission (rate limits, the lexical and structural passes; see
//! [`super::admission`]) before async-graphql parses anything, unless the
//! HTTP adapter admitted the request already; the cost limits once
//! async-graphql has counted the operation's complexity; the cap on
//! operations in flight on one WebSocket; an `extensions.code` on every
//! error that leaves; and the one log line of each store failure behind
//! an error (see [`log_cause`]).
//!
//! Complexity is async-graphql's count (a list field counts the items it
//! can return times its children; see the `complexity` attributes), which
//! stays cheap because admission bounded the document's expansion. The
//! limits are compared here, by number, not by async-graphql's messages.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures::stream::BoxStream;
use futures::StreamExt;

use super::admission::{admit, request_data, Admitted, Asker, ClientAddress};
use super::budget::{CostPhase, OperationBudget, RequestCost};
use super::errors::{
    extend_from_source, log_cause, BAD_USER_INPUT, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
    INTERNAL_SERVER_ERROR, QUERY_TOO_COMPLEX, REQUEST_TOO_COMPLEX, TOO_MANY_OPERATIONS,
};
use super::Viewer;
use crate::config::GraphqlLimits;
use crate::guard::Guards;

/// Installs [`RequestGuard`] on a schema.
pub struct RequestGuardFactory(pub GraphqlLimits);

impl ExtensionFactory for RequestGuardFactory {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGuard(self.0))
    }
}

struct RequestGuard(GraphqlLimits);

impl RequestGuard {
    fn count(ctx: &ExtensionContext<'_>, code: &'static str) {
        if let Some(guards) = ctx.data_opt::<Guards>() {
            guards.refusals.count(code);
        }
    }
}

#[async_trait::async_trait]
impl Extension for RequestGuard {
    /// On a WebSocket every operation, whatever its kind, takes a place in
    /// the connection's budget for as long as it runs (a subscription: until
    /// it ends or is stopped). Taken when the operation arrives, so the one
    /// past the cap is the one refused.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let stream = stream.map(code_errors).boxed();
        let Some(budget) = ctx.data_opt::<OperationBudget>() else {
            return next.run(ctx, stream);
        };
        match budget.try_take() {
            Some(permit) => next.run(
                ctx,
                stream
                    .map(move |response| {
                        let _held = &permit;
                        response
                    })
                    .boxed(),
            ),
            None => {
                Self::count(ctx, TOO_MANY_OPERATIONS);
                let error = coded_error(
                    format!(
                        "this connection has {} operations in flight, as many as it may (live.max_operations); wait for one to end or stop one",
                        budget.limit()
                    ),
                    TOO_MANY_OPERATIONS,
                );
                futures::stream::once(async move { Response::from_errors(vec![error]) }).boxed()
            }
        }
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        code_errors(next.run(ctx).await)
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if request_data::<Admitted>(&request).is_none() {
            // Connection data (WebSocket) or the request's own.
            let guards = request_data::<Guards>(&request)
                .or(ctx.data_opt::<Guards>())
                .cloned();
            let viewer = request_data::<Viewer>(&request)
                .or(ctx.data_opt::<Viewer>())
                .cloned();
            let address = request_data::<ClientAddress>(&request)
                .or(ctx.data_opt::<ClientAddress>())
                .and_then(|address| address.0);
            let asker = Asker {
                guards: guards.as_ref(),
                viewer: viewer.as_ref(),
                address,
            };
            // The document alone answers (the Response's headers are for
            // HTTP, which admits its requests itself).
            admit(&mut request, &self.0, &asker).map_err(|refused| *refused.error)?;
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, GRAPHQL_PARSE_FAILED))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| {
                    let code = input_or(&error, GRAPHQL_VALIDATION_FAILED);
                    with_code(error, code)
                })
                .collect::<Vec<_>>()
        })?;
        let limits = &self.0;
        if result.complexity > limits.max_complexity {
            Self::count(ctx, QUERY_TOO_COMPLEX);
            return Err(vec![coded_error(
                format!(
                    "the query costs {}; at most {} is allowed (graphql.max_complexity): ask for smaller pages or fewer items",
                    result.complexity, limits.max_complexity
                ),
                QUERY_TOO_COMPLEX,
            )]);
        }
        let phase = ctx
            .data_opt::<CostPhase>()
            .copied()
            .unwrap_or(CostPhase::Check);
        if let Some(cost) = ctx.data_opt::<Arc<RequestCost>>() {
            match phase {
                CostPhase::Check => {
                    if let Err(total) = cost.spend(result.complexity) {
                        Self::count(ctx, REQUEST_TOO_COMPLEX);
                        return Err(vec![request_too_complex(total, cost.limit())]);
                    }
                }
                CostPhase::Preflight => {
                    let _ = cost.spend(result.complexity);
                }
                CostPhase::Run => {}
            }
        }
        Ok(result)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if ctx.data_opt::<CostPhase>() == Some(&CostPhase::Preflight) {
            return Response::new(Value::Null);
        }
        code_errors(next.run(ctx, operation_name).await)
    }
}

/// Gives every error of `response` a code, and logs the store failures
/// behind them. Resolvers code their own (a domain or store error returned
/// with a plain `?` is coded from its source, see [`extend_from_source`]).
/// Without data, nothing ran: the request could not run as sent (no such
/// operation, say). async-graphql refuses a scalar it cannot parse (a
/// malformed DateTime) only as the field runs, without a code: that is the
/// client's input. Anything else is unexpected.
///
/// Every response passes here at least once (an HTTP request twice, as
/// `execute` runs inside `request`): [`log_cause`] forgets the cause it
/// logs, so it is logged once.
fn code_errors(mut response: Response) -> Response {
    let ran = response.data != Value::Null;
    for error in &mut response.errors {
        extend_from_source(error);
        log_cause(error);
        if has_code(error) {
            continue;
        }
        let code = match input_or(error, INTERNAL_SERVER_ERROR) {
            INTERNAL_SERVER_ERROR if !ran => GRAPHQL_VALIDATION_FAILED,
            code => code,
        };
        if code == INTERNAL_SERVER_ERROR {
            tracing::error!(message = %error.message, "uncoded GraphQL error");
        }
        *error = with_code(error.clone(), code);
    }
    response
}

/// The refusal of a request whose operations cost `total` in all.
pub fn request_too_complex(total: usize, limit: usize) -> ServerError {
    coded_error(
        format!(
            "the operations of this request cost {total} together; at most {limit} is allowed (graphql.max_request_complexity)"
        ),
        REQUEST_TOO_COMPLEX,
    )
}

/// How async-graphql begins the message of a value it could not read as
/// its type (`InputValueError::custom`, e.g. a malformed `DateTime`):
/// `Failed to parse "DateTime": ...`.
///
/// async-graphql gives that error no code, no source and no type of its
/// own once it is a `ServerError`: the words are all there is to tell it
/// from a fault. They are pinned here, once, and the test
/// `async_graphql_still_words_input_errors_as_pinned` fails if a new
/// async-graphql words them otherwise (the client's mistakes would then
/// be answered as internal errors).
const INPUT_VALUE_ERROR_PREFIX: &str = "Failed to parse \"";

/// Whether `error` is async-graphql's refusal of an input value.
fn is_input_value_error(error: &ServerError) -> bool {
    error.message.starts_with(INPUT_VALUE_ERROR_PREFIX)
}

/// `BAD_USER_INPUT` for a value async-graphql could not read as its type
/// (the only errors it leaves uncoded that are the client's input), else
/// `otherwise`.
fn input_or(error: &ServerError, otherwise: &'static str) -> &'static str {
    if is_input_value_error(error) {
        BAD_USER_INPUT
    } else {
        otherwise
    }
}

pub fn coded_error(message: String, code: &'static str) -> ServerError {
    with_code(ServerError::new(message, None), code)
}

/// Sets `code` unless the error already has one.
pub fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    if !has_code(&error) {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    error
}

pub fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some())
}

#[cfg(test)]
mod tests;
