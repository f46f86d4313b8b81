//! Trend queries, answered from the counters: each bucket is summed from the
//! coarsest counter rows that tile it (days, hours or minutes, see
//! [`super::trend_rollup`]), so the cost follows the range and the period,
//! never the number of messages.
//!
//! | period                     | rows read per bucket | statement                          |
//! |----------------------------|----------------------|------------------------------------|
//! | `1m`, `1h`, `24h`          | one                  | a range of keys, in key order      |
//! | other multiples of those   | period / grain       | the same range, summed by bucket   |
//!
//! Both shapes read one series' range of keys with their counts from the
//! covering index `(hashtag_id, minute, count)` alone (the table's rows of
//! one series are spread one to a page); the EXPLAIN tests in the API tests
//! pin that plan on PostgreSQL and SQLite. The buckets come back packed in
//! one row (see [`TrendPlan::packed_buckets`]).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, SelectStatement, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityName, Statement};

use super::entity::{hashtag, trend_count};
use super::names::NameCache;
use super::trend_rollup::{Grain, HOUR_ROWS};
use super::write_batch::ALL_MESSAGES;
use super::{Store, StoreError};
use crate::domain::trend::{HashtagCount, TrendBucket, TrendQuery, TrendingQuery};

/// The non-empty buckets of `query`, oldest first: one statement (two the
/// first time the hashtag's name is looked up).
pub(crate) async fn trend<C: ConnectionTrait>(
    db: &C,
    names: &NameCache,
    query: &TrendQuery,
) -> Result<Vec<TrendBucket>, DbErr> {
    let Some(plan) = TrendPlan::resolve(db, names, query).await? else {
        return Ok(Vec::new());
    };
    plan.packed_buckets(db).await
}

/// One trend query with its hashtag resolved: what to read and how to turn
/// the rows into buckets.
struct TrendPlan {
    hashtag_id: i64,
    period: i64,
    grain: Grain,
    /// The half-open range of `minute` keys to read, in `grain`'s rows.
    keys: (i64, i64),
}

impl TrendPlan {
    /// `None` when the hashtag has never been used (nothing to count).
    async fn resolve<C: ConnectionTrait>(
        db: &C,
        names: &NameCache,
        query: &TrendQuery,
    ) -> Result<Option<TrendPlan>, DbErr> {
        let hashtag_id = match &query.hashtag {
            None => ALL_MESSAGES,
            Some(hashtag) => match names.hashtag_id(db, hashtag).await? {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        let period = query.aggregation.minutes();
        let grain = Grain::for_period(period);
        // Aligned to the period, so to the grain, which divides it.
        let (first_minute, end_minute) = query.minute_range();
        Ok(Some(TrendPlan {
            hashtag_id,
            period,
            grain,
            keys: (grain.key(first_minute), grain.key(end_minute)),
        }))
    }

    /// `bucket` (its first key) and `total` per non-empty bucket, ascending.
    ///
    /// When a bucket is one row, the rows are the answer, in key order.
    /// Otherwise rows are summed per bucket; the bucket's first key is
    /// found with `%`, never `/` (integer division is DECIMAL on
    /// CockroachDB), and SUM is cast back to BIGINT for the same reason.
    /// Keys minus the grain's offset are minutes since 1970, never
    /// negative, so `%` floors.
    fn statement(&self) -> SelectStatement {
        use trend_count::Column;
        let bucket = Alias::new("bucket");
        let total = Alias::new("total");
        let mut select = Query::select();
        select
            .from(trend_count::Entity)
            .and_where(Expr::col(Column::HashtagId).eq(self.hashtag_id))
            .and_where(Expr::col(Column::Minute).gte(self.keys.0))
            .and_where(Expr::col(Column::Minute).lt(self.keys.1));
        if self.period == self.grain.minutes() {
            select
                .expr_as(Expr::col(Column::Minute), bucket)
                .expr_as(Expr::col(Column::Count), total)
                .order_by(Column::Minute, Order::Asc);
        } else {
            let start = Expr::col(Column::Minute).sub(
                Expr::col(Column::Minute)
                    .sub(self.grain.offset())
                    .modulo(self.period),
            );
            select
                .expr_as(start, bucket.clone())
                .expr_as(
                    Expr::col(Column::Count).sum().cast_as(Alias::new("BIGINT")),
                    total,
                )
                .group_by_col(bucket.clone())
                .order_by(bucket, Order::Asc);
        }
        select
    }

    fn bucket_at(&self, key: i64, count: i64) -> Result<TrendBucket, DbErr> {
        let start = key - self.grain.offset();
        Ok(TrendBucket {
            from: minute_to_time(start)?,
            to: minute_to_time(start + self.period)?,
            count,
        })
    }

    /// [`Self::statement`] packed into one row (see
    /// [`Self::packed_buckets`]): `group_concat` on SQLite, `string_agg`
    /// (PostgreSQL and CockroachDB). SQLite is also told to read the
    /// covering index: SQLite 3.46 (the one linked in) otherwise walked the
    /// primary key's index on the suite's data, which lacks `count`, and
    /// read the table row of every key, seven times slower for six days of
    /// minutes. SeaORM cannot say
    /// `INDEXED BY` (its index hints are MySQL's), so it is put into the
    /// built text here; a missing index would be an error, not a slow
    /// plan.
    fn packed_statement(&self, backend: DbBackend) -> Statement {
        let rows = Alias::new("buckets");
        let packed = |column: &str| -> SimpleExpr {
            let column = Expr::col((rows.clone(), Alias::new(column)));
            match backend {
                DbBackend::Sqlite => Func::cust(Alias::new("group_concat")).arg(column).into(),
                _ => Func::cust(Alias::new("string_agg"))
                    .args([column.cast_as(Alias::new("TEXT")), Expr::val(",").into()])
                    .into(),
            }
        };
        let select = Query::select()
            .expr(packed("bucket"))
            .expr(packed("total"))
            .from_subquery(self.statement(), rows.clone())
            .to_owned();
        let mut statement = backend.build(&select);
        if backend != DbBackend::Sqlite {
            return statement;
        }
        let table = format!(r#"FROM "{}" "#, trend_count::Entity.table_name());
        let hinted = format!(r#"{table}INDEXED BY "{}" "#, trend_count::COVERING_INDEX);
        debug_assert!(statement.sql.contains(&table), "{}", statement.sql);
        statement.sql = statement.sql.replacen(&table, &hinted, 1);
        statement
    }

    /// The buckets read as one row: the keys and the counts each packed
    /// into one comma-separated text. sqlx hands SQLite's rows over one at
    /// a time from its worker thread, a few µs a row (8,640 rows for six
    /// days of minutes), and decodes PostgreSQL's one by one; one row
    /// crosses once. Both aggregates see the rows in the same order, so
    /// the n-th key goes with the n-th count; the pairs are sorted here,
    /// since an aggregate does not promise its input's order.
    async fn packed_buckets<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<TrendBucket>, DbErr> {
        let row = db
            .query_one(self.packed_statement(db.get_database_backend()))
            .await?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let keys: Option<String> = row.try_get_by_index(0)?;
        let counts: Option<String> = row.try_get_by_index(1)?;
        let (Some(keys), Some(counts)) = (keys, counts) else {
            return Ok(Vec::new());
        };
        let numbers = |text: &str| -> Result<Vec<i64>, DbErr> {
            text.split(',')
                .map(|n| {
                    n.parse()
                        .map_err(|_| DbErr::Custom(format!("trend: {n:?} is not a number")))
                })
                .collect()
        };
        let (keys, counts) = (numbers(&keys)?, numbers(&counts)?);
        if keys.len() != counts.len() {
            return Err(DbErr::Custom(
                "trend: as many keys as counts were expected".into(),
            ));
        }
        let mut pairs: Vec<(i64, i64)> = keys.into_iter().zip(counts).collect();
        pairs.sort_unstable_by_key(|(key, _)| *key);
        pairs
            .into_iter()
            .map(|(key, count)| self.bucket_at(key, count))
            .collect()
    }
}

/// The most used hashtags of a window, most used first (ties by name), from
/// the minute counters: the cost follows the window's minutes and live tags.
pub(crate) async fn trending<C: ConnectionTrait>(
    db: &C,
    query: &TrendingQuery,
    now: DateTime<Utc>,
) -> Result<Vec<HashtagCount>, DbErr> {
    use trend_count::Column;
    let (counts, tags) = (Alias::new("t"), Alias::new("h"));
    let total = Alias::new("total");
    // Minute rows only: the rollups above them count the same messages.
    let per_tag = Query::select()
        .column(Column::HashtagId)
        .expr_as(
            Expr::col(Column::Count).sum().cast_as(Alias::new("BIGINT")),
            total.clone(),
        )
        .from(trend_count::Entity)
        .and_where(Expr::col(Column::Minute).gte(query.first_minute(now)))
        .and_where(Expr::col(Column::Minute).lt(HOUR_ROWS))
        .and_where(Expr::col(Column::HashtagId).ne(ALL_MESSAGES))
        .group_by_col(Column::HashtagId)
        .to_owned();
    let statement = Query::select()
        .column((tags.clone(), hashtag::Column::Display))
        .column((counts.clone(), total.clone()))
        .from_subquery(per_tag, counts.clone())
        .join_as(
            sea_orm::sea_query::JoinType::InnerJoin,
            hashtag::Entity,
            tags.clone(),
            Expr::col((tags.clone(), hashtag::Column::Id))
                .equals((counts.clone(), Column::HashtagId)),
        )
        .order_by((counts, total), Order::Desc)
        .order_by((tags, hashtag::Column::Name), Order::Asc)
        .limit(query.first)
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&statement))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(HashtagCount {
                hashtag: row.try_get_by_index(0)?,
                count: row.try_get_by_index(1)?,
            })
        })
        .collect()
}

fn minute_to_time(minute: i64) -> Result<DateTime<Utc>, DbErr> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0)
        .ok_or_else(|| DbErr::Custom(format!("trend minute {minute} is out of range")))
}

// Beside the trend statement it explains, rather than in the store's module.
impl Store {
    /// The database's plan for a trend query (see [`Store::explain`]), one
    /// line per plan node; empty when the hashtag has never been used. For
    /// the tests that pin which index a trend walks.
    pub async fn explain_trend(&self, query: &TrendQuery) -> Result<Vec<String>, StoreError> {
        let Some(plan) = TrendPlan::resolve(&self.db, &self.shared.names, query).await? else {
            return Ok(Vec::new());
        };
        self.explain(plan.packed_statement(self.db.get_database_backend()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite is told which index to read (see `packed_statement`).
    #[test]
    fn the_sqlite_trend_names_its_index() {
        for (period, grain) in [(1, Grain::for_period(1)), (90, Grain::for_period(90))] {
            let plan = TrendPlan {
                hashtag_id: 7,
                period,
                grain,
                keys: (100, 200),
            };
            let sql = plan.packed_statement(DbBackend::Sqlite).sql;
            assert!(
                sql.contains(
                    r#"FROM "trend_counts" INDEXED BY "trend_counts_hashtag_minute_count" WHERE"#
                ),
                "{sql}"
            );
            assert!(sql.starts_with("SELECT group_concat("), "{sql}");
        }
    }
}
