//! The pieces every migration repeats: an auto-increment id column, a
//! re-runnable index, dropping a table or an index.

use sea_orm_migration::prelude::*;

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
