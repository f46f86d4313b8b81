//! Batched GraphQL over HTTP: a JSON array of operations in one POST,
//! answered as an array. The whole batch is admitted and costed before any
//! of it runs, so that a batch over its rate limits or its request's cost
//! writes nothing.

use async_graphql::{Request, Response as GraphqlResponse};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{refuse_subscription, required_query, response_json, Client, Engine, Media, Refusal};
use crate::graphql::admission::{self, Refused};
use crate::graphql::budget::{CostPhase, RequestCost};
use crate::graphql::errors::{BATCH_TOO_LARGE, REQUEST_TOO_COMPLEX};
use crate::graphql::limits::request_too_complex;

/// Several operations in one request (async-graphql's batching), answered
/// as an array; at most `max_batch` of them. Every operation is admitted
/// first, then the batch's cost added up without running anything (a
/// first pass through validation); only a batch within its rate limits and
/// its request's cost runs, each operation in turn. An operation refused
/// on its own (a parse error, a limit of its document) is answered in its
/// place and the others run.
pub(super) async fn post(
    engine: Engine<'_>,
    client: &Client,
    media: Media,
    items: Vec<Request>,
) -> Result<Response, Refusal> {
    let max = engine.limits.max_batch;
    if items.is_empty() || items.len() > max {
        engine.guards.refusals.count(BATCH_TOO_LARGE);
        let message = format!(
            "a batch must hold 1 to {max} operations, this one holds {}",
            items.len()
        );
        return Err(Refusal::new(
            media,
            StatusCode::BAD_REQUEST,
            message,
            BATCH_TOO_LARGE,
        ));
    }
    /// Where one operation of the batch stands.
    enum Slot {
        Answered(Box<GraphqlResponse>),
        /// Admitted: the request for the first pass, and its twin to run.
        Admitted(Box<(Request, Request)>),
        /// Through the first pass: the twin to run.
        Ready(Box<Request>),
    }
    let asker = client.asker(engine);
    let mut slots = Vec::with_capacity(items.len());
    for (index, mut request) in items.into_iter().enumerate() {
        request.query = required_query(media, Some(request.query)).map_err(|refusal| {
            Refusal::bad_request(media, format!("[{index}] {}", refusal.message))
        })?;
        let shape = match admission::check(&mut request, engine.limits, &asker) {
            Ok(shape) => shape,
            Err(refused) if refused.rate_limited.is_some() => {
                return Ok(whole_batch_refused(media, refused))
            }
            Err(refused) => {
                slots.push(Slot::Answered(Box::new(refused.into_response())));
                continue;
            }
        };
        refuse_subscription(media, &shape)?;
        if let Err(refused) = admission::spend_writes(&shape, &asker) {
            return Ok(whole_batch_refused(media, refused));
        }
        let twin = twin(&mut request);
        slots.push(Slot::Admitted(Box::new((request, twin))));
    }

    // The first pass: validation and cost only.
    let cost = RequestCost::new(engine.limits.max_request_complexity);
    let mut admitted = Vec::with_capacity(slots.len());
    for slot in slots {
        admitted.push(match slot {
            Slot::Admitted(pair) => {
                let (first, twin) = *pair;
                let first = client
                    .attach(engine, first)
                    .data(cost.clone())
                    .data(CostPhase::Preflight);
                let response = engine.schema.execute(first).await;
                if response.errors.is_empty() {
                    Slot::Ready(Box::new(twin))
                } else {
                    Slot::Answered(Box::new(response))
                }
            }
            answered => answered,
        });
    }
    if cost.spent() > cost.limit() {
        engine.guards.refusals.count(REQUEST_TOO_COMPLEX);
        let refused = Refused {
            error: Box::new(request_too_complex(cost.spent(), cost.limit())),
            rate_limited: None,
        };
        return Ok(whole_batch_refused(media, refused));
    }

    // The second pass: each operation runs, in order.
    let mut parts = Vec::with_capacity(admitted.len());
    for slot in admitted {
        let response = match slot {
            Slot::Answered(response) => *response,
            // Every admitted operation went through the first pass.
            Slot::Admitted(_) => continue,
            Slot::Ready(twin) => {
                let twin = client
                    .attach(engine, *twin)
                    .data(cost.clone())
                    .data(CostPhase::Run);
                engine.schema.execute(twin).await
            }
        };
        parts.push(response_json(media, response).1);
    }
    let body = format!("[{}]", parts.join(","));
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, media.content_type())],
        body,
    )
        .into_response())
}

/// A copy of an admitted request to run after its first pass (a request is
/// consumed by running it): the same parameters and the document already
/// parsed, never parsed again.
fn twin(request: &mut Request) -> Request {
    let mut twin = Request::new(request.query.clone()).variables(request.variables.clone());
    twin.operation_name = request.operation_name.clone();
    twin.extensions = request.extensions.clone();
    if let Ok(document) = request.parsed_query() {
        twin.set_parsed_query(document.clone());
    }
    twin.data.insert(admission::Admitted);
    twin
}

/// A batch refused as a whole before any of it ran: one GraphQL error,
/// 429 for a rate limit (with its headers), else 400, in either media type.
fn whole_batch_refused(media: Media, refused: Refused) -> Response {
    let status = if refused.rate_limited.is_some() {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    let response = refused.into_response();
    let body = json!({ "errors": response.errors }).to_string();
    let mut answer = (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
    answer.headers_mut().extend(response.http_headers);
    answer
}
