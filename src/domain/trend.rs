//! Trend queries: messages per aligned time bucket, for one hashtag or all.

use chrono::{DateTime, Utc};

use super::duration::MAX_TREND_BUCKETS;
use super::error::{Field, Reason};
use super::{Aggregation, DomainError, Hashtag};

/// A validated trend query over `[from, to)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrendQuery {
    pub hashtag: Option<Hashtag>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub aggregation: Aggregation,
}

impl TrendQuery {
    /// Refuses an empty or reversed range and one of more than
    /// [`MAX_TREND_BUCKETS`] buckets, naming the fields.
    pub fn new(
        hashtag: Option<Hashtag>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        aggregation: Aggregation,
    ) -> Result<Self, DomainError> {
        if to <= from {
            return Err(DomainError::InvalidInput {
                field: Field::ToDate,
                reason: Reason::LaterThan(Field::FromDate),
            });
        }
        let buckets = aggregation.bucket_count(from, to);
        if buckets > MAX_TREND_BUCKETS {
            return Err(DomainError::invalid(
                "aggregation",
                format!(
                    "the range would need {buckets} buckets, at most {MAX_TREND_BUCKETS} are allowed: use a longer aggregation or a shorter range"
                ),
            ));
        }
        Ok(TrendQuery {
            hashtag,
            from,
            to,
            aggregation,
        })
    }

    /// The whole minutes since the epoch that the buckets cover: from the
    /// start of the first bucket to the end of the last, half-open.
    pub fn minute_range(&self) -> (i64, i64) {
        let period = self.aggregation.minutes();
        let first_start = self.aggregation.bucket_start(self.from).timestamp() / 60;
        // The last instant inside the range is just before `to`.
        let last_start = self
            .aggregation
            .bucket_start(self.to - chrono::Duration::nanoseconds(1))
            .timestamp()
            / 60;
        (first_start, last_start + period)
    }
}

/// Messages created in `[from, to)`, one aligned bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrendBucket {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub count: i64,
}

/// How many of a hashtag's messages fall in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashtagCount {
    /// As first written.
    pub hashtag: String,
    pub count: i64,
}

/// The most used hashtags of the last `window_minutes` (the current minute
/// included), at most `first` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrendingQuery {
    pub window_minutes: i64,
    pub first: u64,
}

/// Most hashtags one trending query may list.
pub const MAX_TRENDING: u64 = 100;

impl TrendingQuery {
    /// `window` is a duration such as `1h` (whole minutes, counters being
    /// per minute); `first` is 1..=[`MAX_TRENDING`].
    pub fn new(window: &str, first: i64) -> Result<Self, DomainError> {
        let window = Aggregation::parse("window", window)?;
        if !(1..=MAX_TRENDING as i64).contains(&first) {
            return Err(DomainError::invalid(
                "first",
                format!("must be between 1 and {MAX_TRENDING}"),
            ));
        }
        Ok(TrendingQuery {
            window_minutes: window.minutes(),
            first: first as u64,
        })
    }

    /// The first minute (since the epoch) inside the window ending at `now`.
    pub fn first_minute(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp().div_euclid(60) - self.window_minutes + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2019, 9, 23, h, m, 0).unwrap()
    }

    #[test]
    fn buckets_cover_the_range_from_aligned_starts() {
        let query = TrendQuery::new(
            None,
            at(10, 5),
            at(12, 10),
            Aggregation::from_minutes(90).unwrap(),
        )
        .unwrap();
        let (start, end) = query.minute_range();
        // 1h30m buckets from the epoch: 09:00, 10:30, 12:00 on that day.
        assert_eq!(start * 60, at(9, 0).timestamp());
        assert_eq!(end * 60, at(13, 30).timestamp());
    }

    #[test]
    fn a_trending_window_ends_with_the_current_minute() {
        let query = TrendingQuery::new("1h", 10).unwrap();
        let now = at(10, 30) + chrono::Duration::seconds(15);
        // 09:31 .. 10:30 inclusive: sixty minutes.
        assert_eq!(query.first_minute(now) * 60, at(9, 31).timestamp());
    }

    #[test]
    fn trending_refuses_bad_windows_and_sizes() {
        assert!(TrendingQuery::new("30s", 10)
            .unwrap_err()
            .to_string()
            .starts_with("window:"));
        assert!(TrendingQuery::new("1h", 0)
            .unwrap_err()
            .to_string()
            .starts_with("first:"));
        assert!(TrendingQuery::new("1h", 101).is_err());
        assert!(TrendingQuery::new("1h", 100).is_ok());
    }

    #[test]
    fn an_empty_range_is_refused() {
        let error = TrendQuery::new(
            None,
            at(10, 0),
            at(10, 0),
            Aggregation::from_minutes(1).unwrap(),
        )
        .unwrap_err();
        assert_eq!(error.to_string(), "to_date: must be later than from_date");
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let from = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
        let error =
            TrendQuery::new(None, from, to, Aggregation::from_minutes(1).unwrap()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("aggregation: the range would need"),
            "{error}"
        );
    }
}
