//! The JSON shapes of the historical service: `{"data": ...}` envelopes,
//! messages with `created_at` in RFC 3339 UTC with microseconds.

use serde::Serialize;

use crate::domain::time::format_timestamp;
use crate::domain::trend::TrendBucket;
use crate::domain::Message;

/// `{"data": ...}`, the envelope of every success.
#[derive(Serialize)]
pub struct Data<T> {
    pub data: T,
}

#[derive(Serialize)]
pub struct MessageJson {
    pub id: String,
    pub user: UserJson,
    pub text: String,
    pub hashtags: Vec<String>,
    pub created_at: String,
}

#[derive(Serialize)]
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

#[derive(Serialize)]
pub struct Posted {
    pub id: String,
}

#[derive(Serialize)]
pub struct OneMessage {
    pub message: MessageJson,
}

#[derive(Serialize)]
pub struct MessagePage {
    pub messages: Vec<MessageJson>,
    /// Given whenever the page is not empty: pass it back for the next,
    /// older page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct Trends {
    pub trends: Vec<TrendJson>,
}

#[derive(Serialize)]
pub struct TrendJson {
    pub from_date: String,
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
