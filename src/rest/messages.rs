//! `POST /message`, `GET /message` (listing, or one message by `ulid`) and
//! `GET /message/{id}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::extract::{Author, IdempotencyHeader, JsonBody, QueryParams, IDEMPOTENT_REPLAYED};
use super::json::{Data, Listing, MessageJson, MessagePage, OneMessage, Posted};
use super::openapi::{
    BadRequest, KeyReused, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, Unavailable,
};
use super::params::{given, FilterParams};
use super::MaxTextChars;
use crate::domain::listing::PageRequest;
use crate::domain::{parse_limit, Cursor, Idempotency, MessageId, NewMessage, DEFAULT_LIMIT};
use crate::live::Live;
use crate::store::Store;

/// A new message. Whatever its content type, the body is read as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"text": "Hello #dunder", "hashtags": ["first"]}))]
pub struct PostBody {
    /// 1 to `max_text_length` (500 by default) characters after trimming;
    /// no NUL. `#tags` in it join `hashtags`.
    #[schema(min_length = 1)]
    text: String,
    /// Letters of any script, digits and `_`, 1 to 64 characters each, an
    /// optional leading `#`; at most 10 distinct tags per message, those of
    /// the text included.
    #[serde(default)]
    hashtags: Vec<String>,
}

/// Posts a message as the user of the bearer token.
///
/// With an `Idempotency-Key`, the post is written at most once per key of
/// its user: a retry with the same key and body (within the retention, 24 h
/// by default) is answered as the first post was, 201 with the same id and
/// `Idempotent-Replayed: true`, and writes nothing; the same key with
/// another body is a 422.
#[utoipa::path(
    post,
    path = "/message",
    tag = "messages",
    operation_id = "postMessage",
    request_body(content = PostBody, content_type = "application/json"),
    params(
        (
            "Idempotency-Key" = Option<String>,
            Header,
            description = "A key of the client's choosing (1 to 255 visible ASCII characters) \
                           that makes a retry of this post safe: the same key and body from \
                           the same user get the first answer back; nothing is written twice."
        )
    ),
    security(("bearer" = [])),
    responses(
        (
            status = 201,
            description = "Stored (or, for a retry with an `Idempotency-Key`, stored before); \
                           the message's id",
            body = Data<Posted>,
            headers(
                (
                    "Idempotent-Replayed" = String,
                    description = "`true` when the answer is a replay of the first post with \
                                   this `Idempotency-Key` (nothing was written now)"
                )
            ),
            links(
                (
                    "GetMessage" = (
                        operation_id = "getMessage",
                        parameters(("id" = "$response.body#/data/id")),
                        description = "The message just stored"
                    )
                ),
                (
                    "GetMessageByUlid" = (
                        operation_id = "listMessages",
                        parameters(("ulid" = "$response.body#/data/id")),
                        description = "The message just stored, the historical way"
                    )
                )
            )
        ),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = KeyReused),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(skip_all, fields(user = %author))]
pub async fn post(
    State(store): State<Store>,
    State(MaxTextChars(max_text_chars)): State<MaxTextChars>,
    Author(author): Author,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody(body): JsonBody<PostBody>,
) -> Result<(StatusCode, HeaderMap, Json<Data<Posted>>), ApiError> {
    let idempotency = key
        .map(|key| Idempotency::parse(&key, &body.text, &body.hashtags))
        .transpose()?;
    let post = NewMessage::parse(author, &body.text, &body.hashtags, max_text_chars)?
        .with_idempotency(idempotency);
    let (message, replayed) = store.post_once(post).await?.into_message()?;
    let mut headers = HeaderMap::new();
    if replayed {
        headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok((
        StatusCode::CREATED,
        headers,
        Json(Data {
            data: Posted {
                id: message.id.to_string(),
            },
        }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterParams,
    /// How many messages a page holds.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<String>,
    /// A `next_cursor` from an earlier page: the page after it. A message
    /// id works too (the historical form): the messages older than it.
    #[param(value_type = Option<String>, example = "AQGiHwbREd5dsyLdtYV7wjk")]
    cursor: Option<String>,
    /// The historical way to fetch one message: with it, the answer is
    /// that message (or 404) and the other parameters are ignored.
    #[param(
        value_type = Option<String>,
        pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
        example = "01M8FGDM8HVSEV68PXPP2QQGHS"
    )]
    ulid: Option<String>,
}

/// A page of messages, newest first; or one message when `ulid` is given.
#[utoipa::path(
    get,
    path = "/message",
    tag = "messages",
    operation_id = "listMessages",
    params(FilterParams, ListParams),
    responses(
        (
            status = 200,
            description = "A page of messages, newest first (`next_cursor` whenever the page is \
                           not empty; a page past the end is `{\"messages\": []}`); with `ulid`, \
                           that message",
            body = Data<Listing>
        ),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn list(
    State(store): State<Store>,
    State(live): State<Live>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Data<Listing>>, ApiError> {
    if let Some(id) = given(&params.ulid) {
        let Data { data } = one_message(&store, "ulid", id).await?;
        return Ok(Json(Data {
            data: Listing::One(data),
        }));
    }
    let filter = params.filter.parse()?;
    let limit = given(&params.limit)
        .map(parse_limit)
        .transpose()?
        .unwrap_or(DEFAULT_LIMIT);
    let cursor = given(&params.cursor)
        .map(|raw| Cursor::parse_token_or_id("cursor", raw))
        .transpose()?;
    // A first page may come from the first-page cache, as the store would
    // answer it.
    let messages = live
        .list(&store, &filter, &PageRequest::older(cursor, limit))
        .await?;
    let next_cursor = messages.last().map(|m| Cursor::new(m.id).encode());
    Ok(Json(Data {
        data: Listing::Page(MessagePage {
            messages: messages.into_iter().map(MessageJson::from).collect(),
            next_cursor,
        }),
    }))
}

/// One message by id.
#[utoipa::path(
    get,
    path = "/message/{id}",
    tag = "messages",
    operation_id = "getMessage",
    params(
        (
            "id" = String,
            Path,
            description = "The message id (a ULID, as `POST /message` answers)",
            pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
            example = "01M8FGDM8HVSEV68PXPP2QQGHS"
        )
    ),
    responses(
        (status = 200, description = "The message", body = Data<OneMessage>),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_one(
    State(store): State<Store>,
    Path(id): Path<String>,
) -> Result<Json<Data<OneMessage>>, ApiError> {
    Ok(Json(one_message(&store, "id", &id).await?))
}

async fn one_message(
    store: &Store,
    field: &str,
    raw_id: &str,
) -> Result<Data<OneMessage>, ApiError> {
    let id = MessageId::parse(field, raw_id)?;
    let message = store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message with id {id}")))?;
    Ok(Data {
        data: OneMessage {
            message: message.into(),
        },
    })
}
