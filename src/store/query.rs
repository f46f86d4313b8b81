//! What the store's statements have in common: they are built with
//! sea-query (on the entities' idents), and a statement about a batch of
//! items has one text whatever the batch's size.
//!
//! On PostgreSQL (and so CockroachDB) the items travel as bind arrays, one
//! array per column: a lookup is `column = ANY(CAST($1 AS type[]))`, a
//! multi-row insert is `INSERT … SELECT … FROM UNNEST(CAST($1 AS type[]),
//! …)`. The text does not depend on the number of items, so the driver's
//! prepared statement is reused and the server plans it once, instead of
//! one text (parsed, planned and cached apart) per batch size.
//!
//! SQLite has no arrays: there a lookup is `IN (?, ?, …)` and an insert has
//! a `VALUES` list, one text per size. It is embedded, so a statement costs
//! no round trip to prepare.

use std::fmt;

use sea_orm::sea_query::{
    Alias, ArrayType, Expr, Func, Iden, InsertStatement, IntoColumnRef, IntoIden, IntoTableRef,
    Query, Quote, SimpleExpr,
};
use sea_orm::{DbBackend, Value};

/// Whether `backend` takes bind arrays.
pub(crate) fn has_arrays(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

/// The SQL name of an array of `element`s, for the casts that say what a
/// bound array holds. Only the element types the store binds.
fn array_type_name(element: &ArrayType) -> &'static str {
    match element {
        ArrayType::Bytes => "BYTEA[]",
        ArrayType::SmallInt => "INT2[]",
        ArrayType::BigInt => "INT8[]",
        ArrayType::String => "TEXT[]",
        ArrayType::ChronoDateTimeUtc => "TIMESTAMPTZ[]",
        other => unreachable!("the store binds no array of {other:?}"),
    }
}

/// `values` as one bound array of `element`s, cast to its SQL type.
fn bound_array(element: ArrayType, values: Vec<Value>) -> SimpleExpr {
    let name = array_type_name(&element);
    Expr::val(Value::Array(element, Some(Box::new(values)))).cast_as(Alias::new(name))
}

/// `column` is one of `values` (whose type is `element`): `= ANY` of one
/// bound array where the backend has arrays, an `IN` list where not.
pub(crate) fn is_one_of(
    backend: DbBackend,
    column: impl IntoColumnRef,
    element: ArrayType,
    values: Vec<Value>,
) -> SimpleExpr {
    if has_arrays(backend) {
        Expr::col(column).eq(Func::cust(Alias::new("ANY")).arg(bound_array(element, values)))
    } else {
        Expr::col(column).is_in(values)
    }
}

/// `INSERT INTO table (columns) …` of `rows`, each with a value per
/// column (of that column's element type), in the order given.
///
/// With arrays: `SELECT r.c1, … FROM UNNEST(CAST($1 AS t1[]), …) AS
/// r(c1, …)`, one array per column. CockroachDB documents the same
/// variadic `unnest` and column aliases on a function in `FROM`. Without:
/// `VALUES (…), (…)`.
pub(crate) fn insert_rows<C, const N: usize>(
    backend: DbBackend,
    table: impl IntoTableRef,
    columns: [(C, ArrayType); N],
    rows: impl IntoIterator<Item = [Value; N]>,
) -> InsertStatement
where
    C: IntoIden + Copy + 'static,
{
    let mut insert = Query::insert();
    insert
        .into_table(table)
        .columns(columns.iter().map(|(column, _)| *column));
    if !has_arrays(backend) {
        for row in rows {
            insert.values_panic(row.map(SimpleExpr::from));
        }
        return insert;
    }
    let mut arrays: [Vec<Value>; N] = std::array::from_fn(|_| Vec::new());
    for row in rows {
        for (array, value) in arrays.iter_mut().zip(row) {
            array.push(value);
        }
    }
    let rows = Alias::new(UNNESTED);
    let mut select = Query::select();
    select
        .columns(columns.iter().map(|(column, _)| (rows.clone(), *column)))
        .from_function(
            Func::cust(Alias::new("UNNEST")).args(
                columns
                    .iter()
                    .zip(arrays)
                    .map(|((_, element), values)| bound_array(element.clone(), values)),
            ),
            NamedColumns {
                table: UNNESTED,
                columns: columns
                    .iter()
                    .map(|(column, _)| column.into_iden().to_string())
                    .collect(),
            },
        );
    insert
        .select_from(select)
        .expect("one array per inserted column");
    insert
}

/// The alias of the rows an `UNNEST` makes.
const UNNESTED: &str = "r";

/// A table alias that names its columns too, `"r"("a", "b")`: the columns
/// of a multi-array `UNNEST` are otherwise all called `unnest`, and
/// sea-query's aliases name the table only.
struct NamedColumns {
    table: &'static str,
    columns: Vec<String>,
}

impl Iden for NamedColumns {
    fn prepare(&self, s: &mut dyn fmt::Write, q: Quote) {
        Alias::new(self.table).prepare(s, q);
        s.write_char('(').unwrap();
        for (index, column) in self.columns.iter().enumerate() {
            if index > 0 {
                s.write_str(", ").unwrap();
            }
            Alias::new(column).prepare(s, q);
        }
        s.write_char(')').unwrap();
    }

    fn unquoted(&self, s: &mut dyn fmt::Write) {
        s.write_str(self.table).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entity::hashtag;

    fn insert(backend: DbBackend, rows: usize) -> String {
        let rows = (0..rows).map(|n| [Value::from(format!("tag{n}")), Value::from("Tag")]);
        let columns = [
            (hashtag::Column::Name, ArrayType::String),
            (hashtag::Column::Display, ArrayType::String),
        ];
        backend
            .build(&insert_rows(backend, hashtag::Entity, columns, rows))
            .sql
    }

    #[test]
    fn an_insert_has_one_text_on_postgres_whatever_its_rows() {
        let one = insert(DbBackend::Postgres, 1);
        assert_eq!(
            one,
            r#"INSERT INTO "hashtags" ("name", "display") SELECT "r"."name", "r"."display" FROM UNNEST(CAST($1 AS TEXT[]), CAST($2 AS TEXT[])) AS "r"("name", "display")"#
        );
        assert_eq!(insert(DbBackend::Postgres, 50), one);
        // SQLite has no arrays: a VALUES list, one text per size.
        assert_eq!(
            insert(DbBackend::Sqlite, 2),
            r#"INSERT INTO "hashtags" ("name", "display") VALUES (?, ?), (?, ?)"#
        );
    }

    #[test]
    fn a_lookup_has_one_text_on_postgres_whatever_its_values() {
        let lookup = |backend: DbBackend, n: i64| {
            let select = Query::select()
                .column(hashtag::Column::Id)
                .from(hashtag::Entity)
                .and_where(is_one_of(
                    backend,
                    hashtag::Column::Id,
                    ArrayType::BigInt,
                    (0..n).map(Value::from).collect(),
                ))
                .to_owned();
            backend.build(&select).sql
        };
        let one = lookup(DbBackend::Postgres, 1);
        assert_eq!(
            one,
            r#"SELECT "id" FROM "hashtags" WHERE "id" = ANY(CAST($1 AS INT8[]))"#
        );
        assert_eq!(lookup(DbBackend::Postgres, 50), one);
        assert_eq!(
            lookup(DbBackend::Sqlite, 2),
            r#"SELECT "id" FROM "hashtags" WHERE "id" IN (?, ?)"#
        );
    }
}
