//! GraphQL over HTTP, following the GraphQL-over-HTTP specification:
//! `POST /graphql` with `application/json`, `GET /graphql?query=` for
//! queries only (a mutation over GET is 405), answers in
//! `application/graphql-response+json` or `application/json` as the
//! `Accept` header asks, with the status codes the specification gives.
//! A browser asking for HTML gets the GraphiQL playground.
//!
//! Every operation is admitted (rate limits, the document's cost; see
//! `admission`) before its type is looked at or anything runs. A batch is
//! admitted whole, then its cost is added up without running any of it:
//! a batch over its rate limits (429) or its request's cost (400) runs
//! nothing. A rate-limited answer is 429 with `Retry-After` and the
//! `RateLimit` headers, whichever the media type.

use std::net::IpAddr;

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response as GraphqlResponse, Variables};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

mod batch;

use super::admission::{self, Asker, ClientAddress};
use super::analysis::Shape;
use super::budget::{CostPhase, RequestCost};
use super::errors::{BAD_REQUEST, PAYLOAD_TOO_LARGE, RATE_LIMITED};
use super::{GraphqlState, Viewer};
use crate::guard::client_address;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
const JSON: &str = "application/json; charset=utf-8";

/// The two response media types of the specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    /// `application/graphql-response+json`: request errors answer 4xx.
    GraphqlResponse,
    /// `application/json` (the legacy type): every GraphQL answer is 200.
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
            Media::Json => JSON,
        }
    }
}

/// The first acceptable type the client lists; `application/json` when it
/// lists none (no `Accept`, `*/*`).
fn negotiate(headers: &HeaderMap) -> Result<Media, Refusal> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Media::Json);
    };
    if accept.trim().is_empty() {
        return Ok(Media::Json);
    }
    for range in accept.split(',') {
        let media = range
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/graphql-response+json" => return Ok(Media::GraphqlResponse),
            "application/json" | "application/*" | "*/*" => return Ok(Media::Json),
            _ => {}
        }
    }
    Err(Refusal::new(
        Media::Json,
        StatusCode::NOT_ACCEPTABLE,
        "Accept must allow application/graphql-response+json or application/json",
        BAD_REQUEST,
    ))
}

/// A refusal before any GraphQL ran, answered as a GraphQL response.
#[derive(Debug)]
struct Refusal {
    media: Media,
    status: StatusCode,
    message: String,
    code: &'static str,
    /// The methods to name in `Allow` (with 405).
    allow: Option<&'static str>,
}

impl Refusal {
    fn new(
        media: Media,
        status: StatusCode,
        message: impl Into<String>,
        code: &'static str,
    ) -> Self {
        Refusal {
            media,
            status,
            message: message.into(),
            code,
            allow: None,
        }
    }

    fn bad_request(media: Media, message: impl Into<String>) -> Self {
        Refusal::new(media, StatusCode::BAD_REQUEST, message, BAD_REQUEST)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body =
            json!({ "errors": [{ "message": self.message, "extensions": { "code": self.code } }] });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.media.content_type())],
            body.to_string(),
        )
            .into_response();
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// The parameters of a GraphQL request, as JSON (POST) or as strings (GET).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    /// Checked to be a map, as the specification requires; Dunder defines
    /// no extensions of its own, so their content is not used.
    extensions: Option<Value>,
}

impl Params {
    /// A GraphQL request, or why the parameters do not make one.
    fn into_request(self) -> Result<Request, String> {
        let query = match self.query {
            Some(Value::String(query)) => query,
            Some(_) => return Err("query: must be a string".into()),
            None => return Err("query: is required".into()),
        };
        let mut request = Request::new(query);
        match self.operation_name {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) => request = request.operation_name(name),
            Some(_) => return Err("operationName: must be a string".into()),
        }
        if !matches!(
            self.extensions,
            None | Some(Value::Null) | Some(Value::Object(_))
        ) {
            return Err("extensions: must be an object".into());
        }
        match self.variables {
            None | Some(Value::Null) => {}
            Some(variables @ Value::Object(_)) => {
                request = request.variables(Variables::from_json(variables))
            }
            Some(_) => return Err("variables: must be an object".into()),
        }
        Ok(request)
    }
}

fn viewer(headers: &HeaderMap) -> Viewer {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    Viewer::from_authorization(authorization)
}

/// Who is asking: the bearer token's viewer and the client's address.
struct Client {
    viewer: Viewer,
    address: Option<IpAddr>,
}

impl Client {
    fn new(headers: &HeaderMap, extensions: &Extensions) -> Client {
        Client {
            viewer: viewer(headers),
            address: client_address(extensions),
        }
    }

    fn asker<'a>(&'a self, state: &'a GraphqlState) -> Asker<'a> {
        Asker {
            guards: Some(&state.guards),
            viewer: Some(&self.viewer),
            address: self.address,
        }
    }

    /// `request` with what resolvers and the request guard read.
    fn attach(&self, state: &GraphqlState, request: Request) -> Request {
        request
            .data(self.viewer.clone())
            .data(ClientAddress(self.address))
            .data(state.guards.clone())
    }
}

pub async fn get(
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    extensions: Extensions,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !raw.split('&').any(|pair| pair.starts_with("query=")) {
        return super::playground::page();
    }
    let client = Client::new(&headers, &extensions);
    get_query(&state, &headers, &client, &raw)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// Over GET every parameter is a string; variables and extensions are JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

async fn get_query(
    state: &GraphqlState,
    headers: &HeaderMap,
    client: &Client,
    raw: &str,
) -> Result<Response, Refusal> {
    let media = negotiate(headers)?;
    let params: GetParams = serde_urlencoded::from_str(raw)
        .map_err(|error| Refusal::bad_request(media, format!("query string: {error}")))?;
    let json_param = |name: &str, text: Option<String>| -> Result<Option<Value>, Refusal> {
        text.filter(|t| !t.is_empty())
            .map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| Refusal::bad_request(media, format!("{name}: not JSON: {e}")))
            })
            .transpose()
    };
    let mut request = Params {
        query: params.query.map(Value::String),
        operation_name: params.operation_name.map(Value::String),
        variables: json_param("variables", params.variables)?,
        extensions: json_param("extensions", params.extensions)?,
    }
    .into_request()
    .map_err(|message| Refusal::bad_request(media, message))?;
    let asker = client.asker(state);
    let shape = match admission::check(&mut request, &state.limits, &asker) {
        Ok(shape) => shape,
        Err(refused) => return Ok(single_response(media, refused.into_response())),
    };
    if shape.operation == Some(OperationType::Mutation) {
        let mut refusal = Refusal::new(
            media,
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations are only accepted over POST",
            BAD_REQUEST,
        );
        refusal.allow = Some("POST");
        return Err(refusal);
    }
    refuse_subscription(media, &shape)?;
    Ok(run_single(state, client, media, request).await)
}

/// Runs one admitted operation, its cost checked against the request's.
async fn run_single(
    state: &GraphqlState,
    client: &Client,
    media: Media,
    request: Request,
) -> Response {
    let request = client
        .attach(state, request)
        .data(RequestCost::new(state.limits.max_request_complexity))
        .data(CostPhase::Check);
    single_response(media, state.schema.execute(request).await)
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
    State(state): State<GraphqlState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = Client::new(&headers, &extensions);
    post_query(&state, &headers, &client, body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn post_query(
    state: &GraphqlState,
    headers: &HeaderMap,
    client: &Client,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let media = negotiate(headers)?;
    check_content_type(headers).map_err(|message| {
        Refusal::new(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message,
            BAD_REQUEST,
        )
    })?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            state.guards.refusals.count(PAYLOAD_TOO_LARGE);
            let message = format!(
                "request body is larger than {} bytes",
                crate::rest::MAX_BODY_BYTES
            );
            Refusal::new(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                message,
                PAYLOAD_TOO_LARGE,
            )
        } else {
            Refusal::new(
                media,
                rejection.status(),
                rejection.body_text(),
                BAD_REQUEST,
            )
        }
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        Refusal::bad_request(media, format!("request body is not JSON: {error}"))
    })?;
    match value {
        Value::Array(items) => batch::post(state, client, media, items).await,
        single => {
            let mut request =
                parse_params(single).map_err(|message| Refusal::bad_request(media, message))?;
            let asker = client.asker(state);
            let shape = match admission::check(&mut request, &state.limits, &asker) {
                Ok(shape) => shape,
                Err(refused) => return Ok(single_response(media, refused.into_response())),
            };
            refuse_subscription(media, &shape)?;
            if let Err(refused) = admission::spend_writes(&shape, &asker) {
                return Ok(single_response(media, refused.into_response()));
            }
            Ok(run_single(state, client, media, request).await)
        }
    }
}

fn parse_params(value: Value) -> Result<Request, String> {
    if !value.is_object() {
        return Err("the body must be a JSON object (or an array of them)".into());
    }
    let params: Params = serde_json::from_value(value).map_err(|e| format!("request body: {e}"))?;
    params.into_request()
}

/// POST bodies must be `application/json`, in UTF-8 when a charset is named.
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or("Content-Type must be application/json")?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(format!(
            "Content-Type must be application/json, not {media}"
        ));
    }
    for parameter in parts {
        if let Some((name, charset)) = parameter.split_once('=') {
            let charset = charset.trim().trim_matches('"');
            if name.trim().eq_ignore_ascii_case("charset") && !charset.eq_ignore_ascii_case("utf-8")
            {
                return Err(format!("charset {charset} is not supported, use utf-8"));
            }
        }
    }
    Ok(())
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
    let mut refusal = Refusal::new(
        Media::Json,
        StatusCode::METHOD_NOT_ALLOWED,
        "/graphql takes GET (queries) and POST",
        BAD_REQUEST,
    );
    refusal.allow = Some("GET, POST");
    refusal.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_first_acceptable_media_type_wins() {
        assert_eq!(negotiate(&headers(&[])).unwrap(), Media::Json);
        assert_eq!(
            negotiate(&headers(&[("accept", "*/*")])).unwrap(),
            Media::Json
        );
        assert_eq!(
            negotiate(&headers(&[(
                "accept",
                "application/graphql-response+json, application/json"
            )]))
            .unwrap(),
            Media::GraphqlResponse
        );
        assert_eq!(
            negotiate(&headers(&[("accept", "text/html, application/json;q=0.9")])).unwrap(),
            Media::Json
        );
        assert_eq!(
            negotiate(&headers(&[("accept", "text/plain")]))
                .unwrap_err()
                .status,
            StatusCode::NOT_ACCEPTABLE
        );
    }

    #[test]
    fn content_type_must_be_json_in_utf8() {
        assert!(check_content_type(&headers(&[("content-type", "application/json")])).is_ok());
        assert!(check_content_type(&headers(&[(
            "content-type",
            "application/json; charset=UTF-8"
        )]))
        .is_ok());
        assert!(check_content_type(&headers(&[(
            "content-type",
            "application/json; charset=latin1"
        )]))
        .is_err());
        assert!(check_content_type(&headers(&[("content-type", "text/plain")])).is_err());
        assert!(check_content_type(&headers(&[])).is_err());
    }

    #[test]
    fn null_parameters_are_allowed_and_wrong_types_refused() {
        let params: Params = serde_json::from_value(
            json!({"query": "{a}", "operationName": null, "variables": null, "extensions": null}),
        )
        .unwrap();
        assert!(params.into_request().is_ok());
        let params: Params = serde_json::from_value(json!({"query": 1})).unwrap();
        assert_eq!(
            params.into_request().unwrap_err(),
            "query: must be a string"
        );
        let params: Params =
            serde_json::from_value(json!({"query": "{a}", "variables": "x"})).unwrap();
        assert_eq!(
            params.into_request().unwrap_err(),
            "variables: must be an object"
        );
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
