//! `POST /message`, `GET /message` (listing, or one message by `ulid`) and
//! `GET /message/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Author, JsonBody, QueryParams};
use super::json::{Data, MessageJson, MessagePage, OneMessage, Posted};
use super::params::{given, FilterParams};
use super::RestState;
use crate::domain::listing::PageRequest;
use crate::domain::{parse_limit, Cursor, MessageId, NewMessage, DEFAULT_LIMIT};

#[derive(Debug, Deserialize)]
pub struct PostBody {
    text: String,
    #[serde(default)]
    hashtags: Vec<String>,
}

#[tracing::instrument(skip_all, fields(user = %author))]
pub async fn post(
    State(state): State<RestState>,
    Author(author): Author,
    JsonBody(body): JsonBody<PostBody>,
) -> Result<(StatusCode, Json<Data<Posted>>), ApiError> {
    let post = NewMessage::parse(author, &body.text, &body.hashtags, state.max_text_chars)?;
    let message = state.store.post(post).await?;
    Ok((
        StatusCode::CREATED,
        Json(Data {
            data: Posted {
                id: message.id.to_string(),
            },
        }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    #[serde(flatten)]
    filter: FilterParams,
    limit: Option<String>,
    cursor: Option<String>,
    /// The historical way to fetch one message.
    ulid: Option<String>,
}

/// A page of messages, newest first; or one message when `ulid` is given.
#[tracing::instrument(skip_all)]
pub async fn list(
    State(state): State<RestState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    if let Some(id) = given(&params.ulid) {
        let message = one_message(&state, "ulid", id).await?;
        return Ok(Json(message).into_response());
    }
    let filter = params.filter.parse()?;
    let limit = given(&params.limit)
        .map(parse_limit)
        .transpose()?
        .unwrap_or(DEFAULT_LIMIT);
    let cursor = given(&params.cursor)
        .map(|raw| Cursor::parse("cursor", raw))
        .transpose()?;
    let messages = state
        .store
        .list(&filter, &PageRequest::older(cursor, limit))
        .await?;
    let next_cursor = messages.last().map(|m| Cursor::new(m.id).encode());
    Ok(Json(Data {
        data: MessagePage {
            messages: messages.into_iter().map(MessageJson::from).collect(),
            next_cursor,
        },
    })
    .into_response())
}

#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_one(
    State(state): State<RestState>,
    Path(id): Path<String>,
) -> Result<Json<Data<OneMessage>>, ApiError> {
    Ok(Json(one_message(&state, "id", &id).await?))
}

async fn one_message(
    state: &RestState,
    field: &str,
    raw_id: &str,
) -> Result<Data<OneMessage>, ApiError> {
    let id = MessageId::parse(field, raw_id)?;
    let message = state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message with id {id}")))?;
    Ok(Data {
        data: OneMessage {
            message: message.into(),
        },
    })
}
