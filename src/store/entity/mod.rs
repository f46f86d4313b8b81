//! The schema's one description in Rust: a SeaORM entity per table, with its
//! relations, and the secondary indexes each table carries (which
//! `DeriveEntityModel` cannot declare, so they sit beside each entity as
//! data, in [`Index`] lists).
//!
//! The migrations create the tables; these entities say what the code may
//! assume about them. They are kept honest by a test that migrates a fresh
//! database (SQLite and PostgreSQL) and compares what it reports — columns,
//! type classes, nullability, primary, unique and foreign keys, indexes —
//! with what is declared here.
//!
//! What is still raw SQL, and why:
//! - On CockroachDB the `messages` table is created by hand-written DDL, to
//!   declare its time-ordered primary key `USING HASH` (hash-sharded, so
//!   inserts do not all land on one range). sea-query has no way to say it.
//!   The columns are the same as everywhere else, so this entity stands.
//! - The migration runner records each migration with an `INSERT` of its own,
//!   as it runs every DDL statement outside a transaction.
//!
//! The store's reads and writes are built with sea-query on these entities'
//! idents (see `store::query`). Functions sea-query has no word for (the
//! JSON aggregate of a page's hashtags, `UNNEST`, `pg_notify`) are called
//! by name with `Func::cust`, each with a comment saying why.

pub mod hashtag;
pub mod idempotency_key;
pub mod live_mark;
pub mod message;
pub mod message_hashtag;
pub mod trend_count;
pub mod user;

use sea_orm::sea_query::{self, IndexCreateStatement};
use sea_orm::{ColumnTrait, EntityName};

/// A secondary index of the table whose columns are `C`: its name and its
/// columns, in order. The primary key and unique columns are declared on the
/// entity itself; these are the others, the ones listings walk.
#[derive(Clone, Copy, Debug)]
pub struct Index<C: 'static> {
    pub name: &'static str,
    pub columns: &'static [C],
}

impl<C: ColumnTrait> Index<C> {
    /// The column names, in the index's order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.to_string()).collect()
    }

    /// `CREATE INDEX IF NOT EXISTS` for this index, as the migrations make it.
    pub fn create_statement(&self) -> IndexCreateStatement {
        let mut index = sea_query::Index::create();
        index
            .name(self.name)
            .table(C::EntityName::default().table_ref())
            .if_not_exists();
        for column in self.columns {
            index.col(*column);
        }
        index
    }
}
