//! `GET /trend`: messages per aligned bucket, for one hashtag or all.
//!
//! An answer may hold 10,000 buckets, so they are written straight from the
//! store's buckets: each bound is formatted on the stack (see
//! [`BucketTime`]) instead of as two strings per bucket.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::ser::{Error as _, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use utoipa::IntoParams;

use super::error::ApiError;
use super::extract::QueryParams;
use super::json::{Data, Trends};
use super::openapi::{BadRequest, TooManyRequests, Unavailable};
use super::params::{given, AggregationText, Instant};
use crate::domain::time::format_timestamp;
use crate::domain::trend::{TrendBucket, TrendQuery};
use crate::domain::{parse_date, Aggregation, DomainError, Hashtag};
use crate::store::Store;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// The start of the range; buckets are those overlapping
    /// `[from_date, to_date)`.
    #[param(value_type = Instant, example = "2019-09-23")]
    from_date: Option<String>,
    /// The end of the range, later than `from_date`.
    #[param(value_type = Instant, example = "2019-09-24")]
    to_date: Option<String>,
    /// The bucket length, a Go duration (`1m`, `15m`, `1h30m`, `24h`): a
    /// whole number of minutes, from one minute to 366 days, and at most
    /// 10,000 buckets in the range. Buckets are aligned to whole multiples
    /// of it since the Unix epoch.
    #[param(value_type = AggregationText, example = "1h")]
    aggregation: Option<String>,
    /// Count only the messages with this hashtag (as for `GET /message`);
    /// all messages otherwise.
    #[param(value_type = Option<String>, example = "dunder")]
    hashtag: Option<String>,
}

/// Messages per aggregation bucket, ascending, non-empty buckets only.
#[utoipa::path(
    get,
    path = "/trend",
    tag = "trends",
    operation_id = "getTrend",
    params(TrendParams),
    responses(
        (status = 200, description = "The non-empty buckets, ascending", body = Data<Trends>),
        (status = 400, response = BadRequest),
        (status = 429, response = TooManyRequests),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn trend(
    State(store): State<Store>,
    QueryParams(params): QueryParams<TrendParams>,
) -> Result<Json<Data<TrendsOut>>, ApiError> {
    let from = parse_date("from_date", required(&params.from_date, "from_date")?)?;
    let to = parse_date("to_date", required(&params.to_date, "to_date")?)?;
    let aggregation =
        Aggregation::parse("aggregation", required(&params.aggregation, "aggregation")?)?;
    let hashtag = given(&params.hashtag)
        .map(|raw| Hashtag::parse("hashtag", raw))
        .transpose()?;
    let query = TrendQuery::new(hashtag, from, to, aggregation)?;
    let buckets = store.trend(&query).await?;
    Ok(Json(Data {
        data: TrendsOut {
            trends: buckets.into_iter().map(BucketOut).collect(),
        },
    }))
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, DomainError> {
    given(value).ok_or_else(|| DomainError::invalid(field, "is required"))
}

/// [`Trends`] as written: the same JSON, from the buckets themselves.
#[derive(Serialize)]
pub struct TrendsOut {
    trends: Vec<BucketOut>,
}

/// One bucket as [`super::json::TrendJson`] writes it.
struct BucketOut(TrendBucket);

impl Serialize for BucketOut {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut bucket = serializer.serialize_struct("Trend", 3)?;
        bucket.serialize_field("from_date", &BucketTime(&self.0.from))?;
        bucket.serialize_field("to_date", &BucketTime(&self.0.to))?;
        bucket.serialize_field("count", &self.0.count)?;
        bucket.end()
    }
}

/// A bucket bound, written as [`format_timestamp`] writes it
/// (`2019-09-23T10:04:00.000000Z`). Bounds are whole minutes: those of
/// years 0 to 9999 are formatted here into a buffer on the stack; any
/// other goes through [`format_timestamp`].
struct BucketTime<'a>(&'a DateTime<Utc>);

impl BucketTime<'_> {
    fn format(&self) -> Option<[u8; 27]> {
        // The naive UTC time: a `DateTime<Utc>`'s own accessors add the
        // (zero) offset first, each time.
        let t = self.0.naive_utc();
        let year = t.year();
        if !(0..=9999).contains(&year) || t.second() != 0 || t.nanosecond() != 0 {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        let mut put = |at: usize, value: u32, digits: usize| {
            let mut value = value;
            for i in (at..at + digits).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, year as u32, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        Some(out)
    }
}

impl Serialize for BucketTime<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.format() {
            Some(bytes) => {
                serializer.serialize_str(std::str::from_utf8(&bytes).map_err(S::Error::custom)?)
            }
            None => serializer.serialize_str(&format_timestamp(self.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::json::TrendJson;

    /// Written as the documented `Trend` (`TrendJson`) writes it, for
    /// bounds across years, leap days, the ends of the formatted range and
    /// past them.
    #[test]
    fn buckets_are_written_as_the_documented_trend() {
        use chrono::TimeZone;
        let bounds = [
            (1970, 1, 1, 0, 0),
            (2019, 9, 23, 10, 4),
            (2019, 12, 31, 23, 59),
            (2020, 2, 29, 12, 30),
            (2100, 3, 1, 0, 1),
            (0, 1, 1, 0, 0),
            (9999, 12, 31, 23, 59),
            (10000, 1, 1, 0, 0),
            (-1, 12, 31, 23, 59),
        ];
        for (year, month, day, hour, minute) in bounds {
            let from = Utc
                .with_ymd_and_hms(year, month, day, hour, minute, 0)
                .unwrap();
            let bucket = TrendBucket {
                from,
                to: from + chrono::Duration::minutes(90),
                count: 7,
            };
            assert_eq!(
                serde_json::to_string(&BucketOut(bucket)).unwrap(),
                serde_json::to_string(&TrendJson::from(bucket)).unwrap(),
                "{from}"
            );
        }
    }
}
