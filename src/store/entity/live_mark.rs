//! `live_marks`: each running process's low-water mark, for the tail relay
//! (see `live::marks`). One row per process, keyed by its random id.

use sea_orm::entity::prelude::*;

use super::Index;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_marks")]
pub struct Model {
    /// The process's random id, chosen when it starts.
    #[sea_orm(primary_key, auto_increment = false)]
    pub process_id: i64,
    /// The smallest message id the process may still commit, as text.
    #[sea_orm(column_type = "String(StringLen::N(26))")]
    pub mark: String,
    /// Milliseconds since the Unix epoch on the writing process's clock:
    /// readers only watch it change.
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Read whole at every poll; a handful of rows needs no index.
pub const INDEXES: &[Index<Column>] = &[];
