//! The statements of the `live_marks` table: each process upserts its own
//! row while it runs and deletes it when it stops; the tail relay reads
//! them all at each poll (see `live::marks`).

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::entity::live_mark;
use super::own_mark::MarkNotice;
use crate::domain::MessageId;

/// One process's row, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkRow {
    pub process_id: u64,
    pub mark: MessageId,
    /// On the writing process's clock: only compared with its own earlier
    /// values, to see whether the row still changes.
    pub updated_at: i64,
}

/// `INSERT … ON CONFLICT (process_id) DO UPDATE SET mark, updated_at`.
pub(super) fn upsert(backend: DbBackend, notice: &MarkNotice, updated_at: i64) -> Statement {
    let insert = Query::insert()
        .into_table(live_mark::Entity)
        .columns([
            live_mark::Column::ProcessId,
            live_mark::Column::Mark,
            live_mark::Column::UpdatedAt,
        ])
        .values_panic([
            // The column is signed; the id's bits are kept as they are.
            (notice.process_id as i64).into(),
            notice.mark.to_string().into(),
            updated_at.into(),
        ])
        .on_conflict(
            OnConflict::column(live_mark::Column::ProcessId)
                .update_columns([live_mark::Column::Mark, live_mark::Column::UpdatedAt])
                .to_owned(),
        )
        .to_owned();
    backend.build(&insert)
}

pub(super) fn delete(backend: DbBackend, process_id: u64) -> Statement {
    let delete = Query::delete()
        .from_table(live_mark::Entity)
        .and_where(Expr::col(live_mark::Column::ProcessId).eq(process_id as i64))
        .to_owned();
    backend.build(&delete)
}

/// Every row; one whose mark does not parse (not written by Dunder) is
/// skipped.
pub(super) async fn read<C: ConnectionTrait>(db: &C) -> Result<Vec<MarkRow>, DbErr> {
    let select = Query::select()
        .columns([
            live_mark::Column::ProcessId,
            live_mark::Column::Mark,
            live_mark::Column::UpdatedAt,
        ])
        .from(live_mark::Entity)
        .to_owned();
    let rows = db
        .query_all(db.get_database_backend().build(&select))
        .await?;
    let mut marks = Vec::with_capacity(rows.len());
    for row in rows {
        let mark: String = row.try_get("", "mark")?;
        let Ok(mark) = MessageId::parse("mark", &mark) else {
            continue;
        };
        marks.push(MarkRow {
            process_id: row.try_get::<i64>("", "process_id")? as u64,
            mark,
            updated_at: row.try_get("", "updated_at")?,
        });
    }
    Ok(marks)
}
