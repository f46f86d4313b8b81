//! The JSON shapes of the historical service: `{"data": ...}` envelopes,
//! messages with `created_at` in RFC 3339 UTC with microseconds. Each
//! derives its schema for `/openapi.json` from the same type it is
//! answered with, so the document cannot drift from the answers.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::time::format_timestamp;
use crate::domain::trend::TrendBucket;
use crate::domain::Message;

/// `{"data": ...}`, the envelope of every success.
#[derive(Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// `{"error": "..."}`, the envelope of every failure; the message names
/// the parameter or field at fault. `ApiError` writes this shape; the type
/// describes it in the document.
#[derive(Serialize, ToSchema)]
#[schema(as = Error, example = json!({"error": "limit: must be a whole number between 1 and 1000"}))]
pub struct ErrorJson {
    pub error: String,
}

/// A message as every REST answer (and each Server-Sent Event) shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageJson {
    #[schema(
        pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
        example = "01M8FGDM8HVSEV68PXPP2QQGHS"
    )]
    pub id: String,
    pub user: UserJson,
    pub text: String,
    /// The message's distinct hashtags, as first written, without `#`.
    pub hashtags: Vec<String>,
    /// RFC 3339 in UTC with exactly six fractional digits.
    #[schema(format = DateTime, example = "2019-09-23T10:04:05.123000Z")]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserJson {
    pub id: i64,
    pub name: String,
}

impl From<Message> for MessageJson {
    fn from(message: Message) -> Self {
        MessageJson {
            id: message.id.to_string(),
            user: UserJson {
                id: message.user.id,
                name: message.user.name,
            },
            text: message.text,
            hashtags: message.hashtags,
            created_at: format_timestamp(&message.created_at),
        }
    }
}

/// The id of a message just stored.
#[derive(Serialize, ToSchema)]
pub struct Posted {
    #[schema(
        pattern = "^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$",
        example = "01M8FGDM8HVSEV68PXPP2QQGHS"
    )]
    pub id: String,
}

/// One message, by id.
#[derive(Serialize, ToSchema)]
pub struct OneMessage {
    pub message: MessageJson,
}

/// A page of messages, newest first.
#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageJson>,
    /// Given whenever the page is not empty: pass it back for the next,
    /// older page.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, example = "AQGiHwbREd5dsyLdtYV7wjk")]
    pub next_cursor: Option<String>,
}

/// What `GET /message` answers: a page, or one message when `ulid` is given.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Listing {
    Page(MessagePage),
    One(OneMessage),
}

#[derive(Serialize, ToSchema)]
pub struct Trends {
    /// Ascending; only the buckets that counted something.
    pub trends: Vec<TrendJson>,
}

/// One aggregation bucket, `[from_date, to_date)`.
#[derive(Serialize, ToSchema)]
#[schema(as = Trend)]
pub struct TrendJson {
    #[schema(format = DateTime, example = "2019-09-23T10:00:00.000000Z")]
    pub from_date: String,
    #[schema(format = DateTime, example = "2019-09-23T11:00:00.000000Z")]
    pub to_date: String,
    pub count: i64,
}

impl From<TrendBucket> for TrendJson {
    fn from(bucket: TrendBucket) -> Self {
        TrendJson {
            from_date: format_timestamp(&bucket.from),
            to_date: format_timestamp(&bucket.to),
            count: bucket.count,
        }
    }
}
