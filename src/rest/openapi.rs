//! `GET /openapi.json`: the OpenAPI 3.1 document of the REST routes and
//! the operational ones, derived from the handlers' own parameter and
//! answer types. The GraphQL endpoint describes itself (`schema.graphql`,
//! introspection) and is not in it.
//!
//! The refusals every route shares (`{"error": "..."}` with 400, 401, 404,
//! 413, 422, 429 and 503) are named responses, so each operation lists the ones
//! it can give and their headers are written once.

use std::sync::OnceLock;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::json::{
    Data, ErrorJson, Listing, MessageJson, MessagePage, OneMessage, Posted, TrendJson, Trends,
    UserJson,
};
use super::messages::PostBody;
use super::params::{AggregationText, Instant};
use super::MaxTextChars;

/// The document as derived; [`document`] adapts it to the settings.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Dunder",
        description = "The REST routes of Dunder, a message API: post short messages with \
                       hashtags, read them back by user, hashtag and date, page by page, as \
                       per-interval trends, and live as Server-Sent Events. Every JSON answer \
                       is `{\"data\": ...}` on success and `{\"error\": \"...\"}` on failure, \
                       where the message names the parameter or field at fault. GraphQL is at \
                       `/graphql` (its schema is its own description)."
    ),
    paths(
        super::messages::post,
        super::messages::list,
        super::messages::get_one,
        super::trend::trend,
        super::stream::stream,
        healthz,
        readyz,
        metrics,
        openapi_json,
    ),
    components(
        schemas(
            ErrorJson,
            MessageJson,
            UserJson,
            Posted,
            OneMessage,
            MessagePage,
            Listing,
            Trends,
            TrendJson,
            PostBody,
            Instant,
            AggregationText,
            Status
        ),
        responses(
            BadRequest,
            Unauthorized,
            NotFound,
            PayloadTooLarge,
            KeyReused,
            TooManyRequests,
            Unavailable
        )
    ),
    modifiers(&BearerToken),
    tags(
        (name = "messages", description = "Post, list and fetch messages"),
        (name = "trends", description = "Messages per aggregation bucket"),
        (name = "live", description = "New messages as they are posted"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

/// The name of the security scheme `POST /message` requires.
pub const BEARER: &str = "bearer";

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut Document) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                BEARER,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "The standard base64 of the user name (`echo -n $USER | base64 \
                             -w0`); users are created on first use.",
                        ))
                        .build(),
                ),
            );
    }
}

/// The document for an application whose texts may have up to
/// `max_text_chars` characters.
pub fn document(max_text_chars: usize) -> Value {
    static DERIVED: OnceLock<Value> = OnceLock::new();
    let mut document = DERIVED
        .get_or_init(|| {
            let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
            camel_case_links(&mut document);
            document
        })
        .clone();
    if let Some(text) = document
        .pointer_mut("/components/schemas/PostBody/properties/text")
        .and_then(Value::as_object_mut)
    {
        text.insert("maxLength".to_owned(), Value::from(max_text_chars));
    }
    document
}

/// utoipa (5.5) writes the fields of a response's links in snake case
/// (`operation_id`); OpenAPI spells them in camel case (`operationId`).
fn camel_case_links(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let responses = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("responses"))
        .filter_map(Value::as_object_mut)
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let Some(links) = response.get_mut("links").and_then(Value::as_object_mut) else {
            continue;
        };
        for link in links.values_mut().filter_map(Value::as_object_mut) {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
}

/// Serves [`document`] for this application's settings.
pub async fn serve(State(MaxTextChars(max)): State<MaxTextChars>) -> Json<Value> {
    Json(document(max))
}

/// `{"status": ...}`, what the health routes answer in `data`.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    #[schema(example = "ok")]
    pub status: String,
}

// The operational routes are the server's (`server.rs`); these stand-ins
// only carry their descriptions into the document.

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses(
        (status = 200, description = "`{\"data\": {\"status\": \"ok\"}}`", body = Data<Status>),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn healthz() {}

/// The database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "`{\"data\": {\"status\": \"ready\"}}`", body = Data<Status>),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics.
///
/// Posts, group-commit batches, transaction retries, failed posts, SQL
/// statements, live subscribers, refusals by limit.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses(
        (
            status = 200,
            description = "Prometheus text exposition format 0.0.4",
            body = String,
            content_type = "text/plain; version=0.0.4"
        ),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    responses(
        (status = 200, description = "OpenAPI 3.1", body = Object, content_type = "application/json"),
    )
)]
#[allow(dead_code)]
fn openapi_json() {}

/// A response whose body is `{"error": "..."}`.
fn error_response(description: &str, headers: &[(&str, Header)]) -> ResponseDoc {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(RefOr::Ref(Ref::from_schema_name("Error"))))
            .build(),
    );
    for (name, header) in headers {
        response = response.header(*name, header.clone());
    }
    response.build()
}

fn header(schema: Type, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Object::with_type(schema))
        .description(Some(description))
        .build()
}

fn retry_after(description: &str) -> (&'static str, Header) {
    (
        "Retry-After",
        HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .description(Some(description))
            .build(),
    )
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $body:expr;)*) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<ResponseDoc>) {
                    (stringify!($name), $body.into())
                }
            }
        )*
    };
}

error_responses! {
    /// 400.
    BadRequest => error_response(
        "Bad input: the message names the parameter or field at fault",
        &[],
    );
    /// 401.
    Unauthorized => error_response(
        "Missing or bad bearer token",
        &[("WWW-Authenticate", header(Type::String, "`Bearer`"))],
    );
    /// 404.
    NotFound => error_response("No such message", &[]);
    /// 413.
    PayloadTooLarge => error_response("The request body is over 64 KiB", &[]);
    /// 422.
    KeyReused => error_response(
        "The `Idempotency-Key` was already used by this user for a post with another body \
         (text or hashtags). Nothing was written; a new message needs a new key.",
        &[],
    );
    /// 429.
    TooManyRequests => error_response(
        "Rate limited: a budget of this user or client address is spent, or the address holds \
         as many live streams as it may. Nothing was done.",
        &[
            retry_after("Whole seconds until a request would pass"),
            (
                "RateLimit-Policy",
                header(
                    Type::String,
                    "The budget that ran out, e.g. `\"writes-per-user\";q=300;w=60` (rate \
                     limits only)",
                ),
            ),
            (
                "RateLimit",
                header(
                    Type::String,
                    "What is left of it, e.g. `\"writes-per-user\";r=0;t=1` (rate limits only)",
                ),
            ),
        ],
    );
    /// 503.
    Unavailable => error_response(
        "The server cannot answer now: the database is unavailable, a post could not be \
         written in time (and was not stored), the request took longer than the request \
         timeout, or every live-stream slot is taken. Nothing was written; try again.",
        &[retry_after(
            "Whole seconds to wait before trying again, when the server knows",
        )],
    );
}
