//! GraphQL over HTTP, following the GraphQL-over-HTTP specification:
//! `POST /graphql` with `application/json` (read by async-graphql-axum's
//! extractor), `GET /graphql?query=` for queries only (a mutation over GET
//! is 405), answers in `application/graphql-response+json` or
//! `application/json` as the `Accept` header asks, with the status codes
//! the specification gives. A browser asking for HTML gets the GraphiQL
//! playground. What async-graphql-axum leaves to the server is here: media
//! negotiation (`media`), those status codes, refusals in GraphQL's error
//! shape (`refusal`), and admission.
//!
//! Every operation is admitted (rate limits, the document's cost; see
//! `admission`, which parses the document, once) before its type is looked
//! at or anything runs. A batch is admitted whole, then its cost is added
//! up without running any of it: a batch over its rate limits (429) or its
//! request's cost (400) runs nothing. A rate-limited answer is 429 with
//! `Retry-After` and the `RateLimit` headers, whichever the media type.

use std::net::IpAddr;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, Request, Response as GraphqlResponse, Variables};
use axum::extract::{RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

mod batch;
mod media;
mod refusal;

use super::admission::{self, Asker, ClientAddress};
use super::analysis::Shape;
use super::budget::{CostPhase, RequestCost};
use super::errors::{BAD_REQUEST, RATE_LIMITED};
use super::{DunderSchema, Viewer};
use crate::config::GraphqlLimits;
use crate::guard::{client_address, Guards};
use media::{check_content_type, negotiate, wants_html, Media};
use refusal::{read_body, Refusal};

/// The parts of the application state a request runs with, borrowed.
#[derive(Clone, Copy)]
struct Engine<'a> {
    schema: &'a DunderSchema,
    limits: &'a GraphqlLimits,
    guards: &'a Guards,
}

/// Who is asking: the bearer token's viewer and the client's address.
struct Client {
    viewer: Viewer,
    address: Option<IpAddr>,
}

impl Client {
    fn new(guards: &Guards, headers: &HeaderMap, extensions: &Extensions) -> Client {
        Client {
            viewer: Viewer::from_header(&guards.auth, headers.get(header::AUTHORIZATION)),
            address: client_address(extensions),
        }
    }

    fn asker<'a>(&'a self, engine: Engine<'a>) -> Asker<'a> {
        Asker {
            guards: Some(engine.guards),
            viewer: Some(&self.viewer),
            address: self.address,
        }
    }

    /// `request` with what resolvers and the request guard read.
    fn attach(&self, engine: Engine<'_>, request: Request) -> Request {
        request
            .data(self.viewer.clone())
            .data(ClientAddress(self.address))
            .data(engine.guards.clone())
    }
}

/// The playground page, for a browser opening `/graphql`.
fn playground() -> Response {
    super::playground::page()
}

/// The media type the client accepts, or 406.
fn media(headers: &HeaderMap) -> Result<Media, Refusal> {
    negotiate(headers).ok_or_else(|| {
        Refusal::new(
            Media::Json,
            StatusCode::NOT_ACCEPTABLE,
            "Accept must allow application/graphql-response+json or application/json",
            BAD_REQUEST,
        )
    })
}

pub async fn get(
    State(schema): State<DunderSchema>,
    State(limits): State<GraphqlLimits>,
    State(guards): State<Guards>,
    headers: HeaderMap,
    extensions: Extensions,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    if wants_html(&headers) && !raw.split('&').any(|pair| pair.starts_with("query=")) {
        return playground();
    }
    let engine = Engine {
        schema: &schema,
        limits: &limits,
        guards: &guards,
    };
    let client = Client::new(&guards, &headers, &extensions);
    get_query(engine, &headers, &client, &raw)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Over GET every parameter is a string; variables and extensions are JSON
/// text. Read here rather than by async-graphql's query-string parser,
/// which looks for `operation_name` and so drops the `operationName` the
/// specification names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// The GraphQL request a GET query string makes.
fn get_request(media: Media, raw: &str) -> Result<Request, Refusal> {
    let params: GetParams = serde_urlencoded::from_str(raw)
        .map_err(|error| Refusal::bad_request(media, format!("query string: {error}")))?;
    let given = |text: Option<String>| text.filter(|text| !text.is_empty());
    let mut request = Request::new(required_query(media, given(params.query))?);
    if let Some(name) = given(params.operation_name) {
        request = request.operation_name(name);
    }
    if let Some(text) = given(params.variables) {
        let variables: Variables = serde_json::from_str(&text).map_err(|error| {
            Refusal::bad_request(media, format!("variables: not a JSON object: {error}"))
        })?;
        request = request.variables(variables);
    }
    // Checked to be a map, as the specification requires; Dunder defines
    // no extensions of its own, so their content is not used.
    if let Some(text) = given(params.extensions) {
        serde_json::from_str::<Option<serde_json::Map<String, serde_json::Value>>>(&text).map_err(
            |error| Refusal::bad_request(media, format!("extensions: not a JSON object: {error}")),
        )?;
    }
    Ok(request)
}

/// A request must carry a document: async-graphql reads a missing `query`
/// as an empty one, which would be answered as a parse error (200 in
/// `application/json`), where the specification wants 400.
fn required_query(media: Media, query: Option<String>) -> Result<String, Refusal> {
    query
        .filter(|query| !query.is_empty())
        .ok_or_else(|| Refusal::bad_request(media, "query: is required"))
}

async fn get_query(
    engine: Engine<'_>,
    headers: &HeaderMap,
    client: &Client,
    raw: &str,
) -> Result<Response, Refusal> {
    let media = media(headers)?;
    let mut request = get_request(media, raw)?;
    let asker = client.asker(engine);
    let shape = match admission::check(&mut request, engine.limits, &asker) {
        Ok(shape) => shape,
        Err(refused) => return Ok(single_response(media, refused.into_response())),
    };
    if shape.operation == Some(OperationType::Mutation) {
        return Err(Refusal::method_not_allowed(
            media,
            "mutations are only accepted over POST",
            "POST",
        ));
    }
    refuse_subscription(media, &shape)?;
    Ok(run_single(engine, client, media, request).await)
}

/// Runs one admitted operation, its cost checked against the request's.
async fn run_single(
    engine: Engine<'_>,
    client: &Client,
    media: Media,
    request: Request,
) -> Response {
    let request = client
        .attach(engine, request)
        .data(RequestCost::new(engine.limits.max_request_complexity))
        .data(CostPhase::Check);
    single_response(media, engine.schema.execute(request).await)
}

/// Subscriptions need a connection that stays open: refused over plain
/// HTTP with where to go instead.
fn refuse_subscription(media: Media, shape: &Shape) -> Result<(), Refusal> {
    if shape.operation == Some(OperationType::Subscription) {
        return Err(Refusal::bad_request(
            media,
            "subscriptions run over WebSocket at /graphql/ws (or Server-Sent Events at /message/stream)",
        ));
    }
    Ok(())
}

pub async fn post(
    State(schema): State<DunderSchema>,
    State(limits): State<GraphqlLimits>,
    State(guards): State<Guards>,
    request: axum::extract::Request,
) -> Response {
    let engine = Engine {
        schema: &schema,
        limits: &limits,
        guards: &guards,
    };
    post_query(engine, request)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The checks on the request's head come first (406, 415), so that a body
/// of another type is never read.
async fn post_query(
    engine: Engine<'_>,
    request: axum::extract::Request,
) -> Result<Response, Refusal> {
    let headers = request.headers();
    let media = media(headers)?;
    check_content_type(headers).map_err(|message| {
        Refusal::new(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message,
            BAD_REQUEST,
        )
    })?;
    let client = Client::new(engine.guards, headers, request.extensions());
    match read_body(request, media, engine.guards).await? {
        BatchRequest::Batch(requests) => batch::post(engine, &client, media, requests).await,
        BatchRequest::Single(mut request) => {
            request.query = required_query(media, Some(request.query))?;
            let asker = client.asker(engine);
            let shape = match admission::check(&mut request, engine.limits, &asker) {
                Ok(shape) => shape,
                Err(refused) => return Ok(single_response(media, refused.into_response())),
            };
            refuse_subscription(media, &shape)?;
            if let Err(refused) = admission::spend_writes(&shape, &asker) {
                return Ok(single_response(media, refused.into_response()));
            }
            Ok(run_single(engine, &client, media, request).await)
        }
    }
}

fn single_response(media: Media, mut response: GraphqlResponse) -> Response {
    let headers = std::mem::take(&mut response.http_headers);
    let (status, body) = response_json(media, response);
    let mut answer = (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
    answer.headers_mut().extend(headers);
    answer
}

/// The status and JSON text of one GraphQL response, fields in the order
/// the query asked for them. A request error (nothing executed: the
/// document did not parse or validate, or a limit refused it) is 400
/// without `data` in `application/graphql-response+json`, and 200 in
/// `application/json`, as the specification says. A rate-limited request
/// is 429 in both.
fn response_json(media: Media, response: GraphqlResponse) -> (StatusCode, String) {
    let rate_limited = response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            == Some(&async_graphql::Value::from(RATE_LIMITED))
    });
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    /// A response without `data`, its errors in the order built.
    #[derive(serde::Serialize)]
    struct ErrorsOnly<'a> {
        errors: &'a [async_graphql::ServerError],
    }
    let serialized = if media == Media::GraphqlResponse && request_error {
        serde_json::to_string(&ErrorsOnly {
            errors: &response.errors,
        })
    } else {
        serde_json::to_string(&response)
    };
    // Serializing values async-graphql built cannot fail; should it, the
    // client still gets a well-formed GraphQL error.
    let body = serialized.unwrap_or_else(|error| {
        tracing::error!(%error, "GraphQL response not serializable");
        json!({"errors": [{"message": "internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]})
            .to_string()
    });
    let status = if rate_limited {
        StatusCode::TOO_MANY_REQUESTS
    } else if media == Media::GraphqlResponse && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, body)
}

pub async fn method_not_allowed() -> Response {
    Refusal::method_not_allowed(
        Media::Json,
        "/graphql takes GET (queries) and POST",
        "GET, POST",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_parameters_make_a_request() {
        let request = get_request(
            Media::Json,
            "query=query%20A%7Ba%7D&operationName=A&variables=%7B%22x%22%3A1%7D&extensions=%7B%7D",
        )
        .unwrap();
        assert_eq!(request.query, "query A{a}");
        assert_eq!(request.operation_name.as_deref(), Some("A"));
        assert_eq!(request.variables.len(), 1);
        assert!(get_request(Media::Json, "query={a}&variables=null").is_ok());
        let refused = |raw| get_request(Media::Json, raw).unwrap_err().message;
        assert_eq!(refused("variables=%7B%7D"), "query: is required");
        assert!(refused("query={a}&variables=x").starts_with("variables:"));
        assert!(refused("query={a}&variables=%5B%5D").starts_with("variables:"));
        assert!(refused("query={a}&extensions=1").starts_with("extensions:"));
    }

    #[test]
    fn subscriptions_are_refused_over_http() {
        let shape = |ty| Shape {
            operation: ty,
            ..Shape::default()
        };
        assert!(
            refuse_subscription(Media::Json, &shape(Some(OperationType::Subscription))).is_err()
        );
        assert!(refuse_subscription(Media::Json, &shape(Some(OperationType::Query))).is_ok());
        assert!(refuse_subscription(Media::Json, &shape(None)).is_ok());
    }
}
