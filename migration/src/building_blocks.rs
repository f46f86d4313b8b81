//! The pieces every migration repeats: an auto-increment id column, a
//! re-runnable index, dropping a table or an index, rolling the trend
//! counters' minutes up into hours or days.

use sea_orm_migration::prelude::*;

use crate::m20261127_000008_create_trend_counts::TrendCounts;

/// A `BIGINT` auto-increment primary key (on CockroachDB, `unique_rowid()`).
pub fn serial_id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// `CREATE INDEX IF NOT EXISTS name ON table (columns...)`.
pub async fn create_index<C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    columns: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table).if_not_exists();
    for column in columns {
        index.col(column);
    }
    manager.create_index(index).await
}

pub async fn drop_index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .drop_index(Index::drop().name(name).table(table).to_owned())
        .await
}

pub async fn drop_table(
    manager: &SchemaManager<'_>,
    table: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .drop_table(Table::drop().table(table).if_exists().to_owned())
        .await
}

/// Writes every rollup of `period` minutes (at `minute` = `offset` + the
/// rollup's first minute) as the sum of its minute rows (those below the
/// first rollup key), overwriting what is there: one statement, which
/// gives the same rows however often it runs.
///
/// `%`, never `/` (integer division is DECIMAL on CockroachDB), and SUM
/// cast back to BIGINT for the same reason. Grouped by the output name,
/// as the bucket expression's bound values would not match a repeated
/// expression on PostgreSQL.
pub async fn roll_up_minutes(
    manager: &SchemaManager<'_>,
    period: i64,
    offset: i64,
) -> Result<(), DbErr> {
    let start = Alias::new("rollup_key");
    let minute = || Expr::col(TrendCounts::Minute);
    let sums = Query::select()
        .column(TrendCounts::HashtagId)
        .expr_as(
            minute().sub(minute().modulo(period)).add(offset),
            start.clone(),
        )
        .expr(
            Expr::col(TrendCounts::Count)
                .sum()
                .cast_as(Alias::new("BIGINT")),
        )
        .from(TrendCounts::Table)
        // The minutes only (real minutes are below every rollup key); a
        // WHERE also keeps SQLite from reading the upsert's ON as a join's.
        .and_where(minute().gte(0))
        .and_where(minute().lt(FIRST_ROLLUP_KEY))
        .group_by_col(TrendCounts::HashtagId)
        .group_by_col(start)
        .to_owned();
    let insert = Query::insert()
        .into_table(TrendCounts::Table)
        .columns([
            TrendCounts::HashtagId,
            TrendCounts::Minute,
            TrendCounts::Count,
        ])
        .select_from(sums)
        .map_err(|error| DbErr::Custom(error.to_string()))?
        .on_conflict(
            OnConflict::columns([TrendCounts::HashtagId, TrendCounts::Minute])
                .update_column(TrendCounts::Count)
                .to_owned(),
        )
        .to_owned();
    manager.exec_stmt(insert).await
}

/// Deletes the counters keyed in `[from, to)`.
pub async fn delete_counters(manager: &SchemaManager<'_>, from: i64, to: i64) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(TrendCounts::Table)
        .and_where(Expr::col(TrendCounts::Minute).gte(from))
        .and_where(Expr::col(TrendCounts::Minute).lt(to))
        .to_owned();
    manager.exec_stmt(delete).await
}

/// Where the rollups' keys begin.
const FIRST_ROLLUP_KEY: i64 = crate::m20261201_000010_roll_trend_counts_up_by_hour::HOUR_ROWS;
