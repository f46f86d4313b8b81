//! Trend queries, answered from the per-minute counters: the database sums
//! the minutes of each aligned bucket, so the cost follows the range, never
//! the number of messages.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::names;
use super::sql::Sql;
use super::write_batch::ALL_MESSAGES;
use crate::domain::trend::{HashtagCount, TrendBucket, TrendQuery, TrendingQuery};

/// The non-empty buckets of `query`, oldest first.
pub(crate) async fn trend<C: ConnectionTrait>(
    db: &C,
    query: &TrendQuery,
) -> Result<Vec<TrendBucket>, DbErr> {
    let backend = db.get_database_backend();
    let hashtag_id = match &query.hashtag {
        None => ALL_MESSAGES,
        Some(hashtag) => match names::hashtag_id(db, hashtag).await? {
            Some(id) => id,
            None => return Ok(Vec::new()),
        },
    };
    let period = query.aggregation.minutes();
    let (first_minute, end_minute) = query.minute_range();

    // Bucket numbers with `%`, never `/`: integer division is DECIMAL on
    // CockroachDB. SUM is cast back for the same reason. Minutes are whole
    // minutes since 1970, never negative, so `%` floors.
    let mut sql = Sql::new(backend);
    sql.push("SELECT minute - (minute % ")
        .bind(period)
        .push(") AS bucket, CAST(SUM(count) AS BIGINT) AS total FROM trend_counts WHERE hashtag_id = ")
        .bind(hashtag_id)
        .push(" AND minute >= ")
        .bind(first_minute)
        .push(" AND minute < ")
        .bind(end_minute)
        .push(" GROUP BY 1 ORDER BY 1");
    let rows = db.query_all(sql.build()).await?;
    rows.iter()
        .map(|row| {
            let bucket: i64 = row.try_get("", "bucket")?;
            let count: i64 = row.try_get("", "total")?;
            Ok(TrendBucket {
                from: minute_to_time(bucket)?,
                to: minute_to_time(bucket + period)?,
                count,
            })
        })
        .collect()
}

/// The most used hashtags of a window, most used first (ties by name), from
/// the counters: the cost follows the window's minutes and live tags.
pub(crate) async fn trending<C: ConnectionTrait>(
    db: &C,
    query: &TrendingQuery,
    now: DateTime<Utc>,
) -> Result<Vec<HashtagCount>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT h.display, t.total FROM (\
           SELECT hashtag_id, CAST(SUM(count) AS BIGINT) AS total FROM trend_counts \
           WHERE minute >= ",
    )
    .bind(query.first_minute(now))
    .push(" AND hashtag_id <> ")
    .bind(ALL_MESSAGES)
    .push(
        " GROUP BY hashtag_id) t JOIN hashtags h ON h.id = t.hashtag_id \
         ORDER BY t.total DESC, h.name LIMIT ",
    )
    .bind(query.first as i64);
    let rows = db.query_all(sql.build()).await?;
    rows.iter()
        .map(|row| {
            Ok(HashtagCount {
                hashtag: row.try_get("", "display")?,
                count: row.try_get("", "total")?,
            })
        })
        .collect()
}

fn minute_to_time(minute: i64) -> Result<DateTime<Utc>, DbErr> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0)
        .ok_or_else(|| DbErr::Custom(format!("trend minute {minute} is out of range")))
}
