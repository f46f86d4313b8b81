//! `GET /message/stream`: new messages as Server-Sent Events, for `curl -N`
//! and `EventSource`. Each event is the REST message JSON with the message
//! id as the event id, so a client that reconnects with `Last-Event-ID`
//! (or `?cursor=`) gets everything it missed, then the live feed, with no
//! gap and no duplicate. A comment line keeps idle connections open; a
//! subscriber that falls behind gets one `lagged` event carrying the cursor
//! to resume from, and the stream ends; so does a resume from further back
//! than `live.max_replay` messages, with one `replay_limit` event. Each
//! stream holds a slot under the live-stream caps (503 or 429 past them).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::{Future, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::extract::QueryParams;
use super::json::MessageJson;
use super::params::{given, FilterParams};
use crate::domain::{Cursor, Message, MessageId};
use crate::guard::{client_address, Guards, StreamRefusal};
use crate::live::{message_feed, FeedEvent, Format, Live};
use crate::store::Store;

/// The key of the one format all SSE streams share: a message's event is
/// the same bytes on every stream, whatever its filter.
const SSE_FORMAT: &str = "sse";

/// The comment that keeps an idle stream open.
const HEARTBEAT: &[u8] = b": heartbeat\n\n";

#[derive(Debug, Deserialize)]
pub struct StreamParams {
    #[serde(flatten)]
    filter: FilterParams,
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/message/stream",
    tag = "live",
    operation_id = "streamMessages",
    summary = "New messages as Server-Sent Events, filtered like `GET /message`",
    params(
        super::params::FilterParams,
        (
            "cursor" = Option<String>,
            Query,
            description = "A `next_cursor` or a message id: first replay every message posted \
                           after it, then continue live",
            example = "AQGiHwbREd5dsyLdtYV7wjk"
        ),
        super::params::LastEventId,
    ),
    responses(
        (
            status = 200,
            description = "Server-Sent Events, without end: each message as an event whose id \
                           is the message id and whose data is the message JSON (as in \
                           `GET /message`); a `:heartbeat` comment every 15 s; a subscriber \
                           that falls behind gets one `lagged` event with \
                           `{\"error\", \"cursor\"}` to resume from, and the stream ends",
            body = String,
            content_type = "text/event-stream"
        ),
        (status = 400, response = super::openapi::BadRequest),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 503, response = super::openapi::Unavailable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn stream(
    State(store): State<Store>,
    State(live): State<Live>,
    State(guards): State<Guards>,
    headers: HeaderMap,
    extensions: Extensions,
    QueryParams(params): QueryParams<StreamParams>,
) -> Result<Response, ApiError> {
    let filter = params.filter.parse()?;
    // A reconnecting EventSource sends the last id it saw; it wins over
    // the cursor the stream was first opened with.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let after = match last_event_id {
        Some(id) => Some(Cursor::new(MessageId::parse("Last-Event-ID", id)?)),
        None => given(&params.cursor)
            .map(|raw| Cursor::parse_token_or_id("cursor", raw))
            .transpose()?,
    };
    // The stream's slot under the live-stream caps, held for its life.
    let slot = guards
        .streams
        .try_open(client_address(&extensions))
        .map_err(|refusal| {
            guards.refusals.count("TOO_MANY_STREAMS");
            ApiError::new(refusal.status(), refusal.message())
                .retry_after(StreamRefusal::RETRY_AFTER)
        })?;
    let keepalive_interval = live.settings().keepalive_interval;
    let format = live.encodings().format(SSE_FORMAT);
    let feed = message_feed(
        store,
        live.hub().clone(),
        filter,
        after,
        live.order(),
        live.feed_limits(),
    );
    let frames = frames(feed, format)
        .take_until(async move { live.shutting_down().await })
        .map(move |frame| {
            let _held = &slot;
            frame
        });
    let body = Heartbeats::new(frames.boxed(), keepalive_interval).map(Ok::<_, Infallible>);
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// Feed events as SSE frames; the stream ends after a `lagged` event or a
/// store failure (the client reconnects with its last id). A message's
/// frame is built once, by the first stream to send it, and its bytes
/// shared by every stream (see `live::Encodings`).
fn frames(
    feed: impl Stream<Item = Result<FeedEvent, crate::store::StoreError>> + Send + 'static,
    format: Arc<Format>,
) -> impl Stream<Item = Bytes> + Send {
    async_stream::stream! {
        futures::pin_mut!(feed);
        while let Some(event) = feed.next().await {
            match event {
                Ok(FeedEvent::Message(message)) => {
                    let built = message.clone();
                    yield format.frame(message.id, move || async move { message_frame(&built) }).await;
                }
                Ok(FeedEvent::ReplayLimit { resume_after, max }) => {
                    let cursor = resume_after.encode();
                    yield named_frame("replay_limit", json!({
                        "error": format!("more than {max} messages were posted after the cursor: list the rest with GET /message (from_date), then reconnect after the newest"),
                        "cursor": cursor,
                    }));
                    return;
                }
                Ok(FeedEvent::Lagged { resume_after }) => {
                    let cursor = resume_after.encode();
                    yield named_frame("lagged", json!({
                        "error": "the subscriber fell behind and was disconnected; reconnect with this cursor",
                        "cursor": cursor,
                    }));
                    return;
                }
                Err(error) => {
                    tracing::error!(%error, "live feed failed");
                    yield named_frame("error", json!({"error": "internal server error"}));
                    return;
                }
            }
        }
    }
}

/// A message's event: its id, and its REST JSON as data (one line: the
/// JSON is compact, and a newline inside a string is escaped).
fn message_frame(message: &Message) -> Bytes {
    let body = serde_json::to_string(&MessageJson::from(message.clone())).unwrap_or_default();
    Bytes::from(format!("id: {}\ndata: {body}\n\n", message.id))
}

/// An event of type `name` with `data`.
fn named_frame(name: &str, data: serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Frames, with a heartbeat comment whenever none was sent for
/// `interval` (the timer restarts with every frame).
struct Heartbeats {
    frames: futures::stream::BoxStream<'static, Bytes>,
    timer: Pin<Box<tokio::time::Sleep>>,
    interval: Duration,
}

impl Heartbeats {
    fn new(frames: futures::stream::BoxStream<'static, Bytes>, interval: Duration) -> Heartbeats {
        Heartbeats {
            frames,
            timer: Box::pin(tokio::time::sleep(interval)),
            interval,
        }
    }

    fn restart(&mut self) {
        let next = tokio::time::Instant::now() + self.interval;
        self.timer.as_mut().reset(next);
    }
}

impl Stream for Heartbeats {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.frames.poll_next_unpin(cx) {
            Poll::Ready(Some(frame)) => {
                self.restart();
                Poll::Ready(Some(frame))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.timer.as_mut().poll(cx));
                self.restart();
                Poll::Ready(Some(Bytes::from_static(HEARTBEAT)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use futures::StreamExt;
    use tokio::time::Instant;
    use tower::ServiceExt;

    use crate::config::{GraphqlLimits, HttpLimits, LiveSettings, RateLimits};
    use crate::guard::Guards;
    use crate::live::Live;
    use crate::rest::router;
    use crate::server::AppState;
    use crate::store::{Store, StoreOptions};

    /// The README's "`:heartbeat` (a comment every 15 s keeps idle
    /// connections open)", with the default settings: an idle stream gets
    /// nothing for 15 s, then the comment, then the next one 15 s later.
    /// The interval is `live.keepalive_interval_ms`, shared with the
    /// WebSocket keepalive; the integration test `live::*` sets it small.
    /// Time is paused once the store is open, so the 15 s pass at once and
    /// the instants are exact (to the timer wheel's millisecond).
    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_stream_gets_a_heartbeat_comment_every_15_s_by_default() {
        const HEARTBEAT: Duration = Duration::from_secs(15);
        let store = Store::open("sqlite::memory:", StoreOptions::default())
            .await
            .expect("an in-memory store");
        tokio::time::pause();
        let state = AppState::new(
            store,
            Live::new(LiveSettings::default()),
            Guards::new(RateLimits::default(), HttpLimits::default()),
            500,
            GraphqlLimits::default(),
        );
        let request = Request::get("/message/stream")
            .body(Body::empty())
            .expect("a request");
        let response = router()
            .with_state(state)
            .oneshot(request)
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body().into_data_stream();
        let opened = Instant::now();

        let quiet = HEARTBEAT - Duration::from_millis(1);
        assert!(
            tokio::time::timeout(quiet, body.next()).await.is_err(),
            "nothing before 15 s"
        );
        for beat in 1..=2u32 {
            let chunk = tokio::time::timeout(Duration::from_secs(60), body.next())
                .await
                .expect("a heartbeat within a minute")
                .expect("the stream goes on")
                .expect("a chunk");
            let after = opened.elapsed();
            // A comment line: axum writes a space after the colon.
            assert_eq!(&chunk[..], b": heartbeat\n\n", "heartbeat {beat}");
            let due = HEARTBEAT * beat;
            assert!(
                due <= after && after <= due + Duration::from_millis(2),
                "heartbeat {beat} came {after:?} after the stream opened"
            );
        }
    }
}
