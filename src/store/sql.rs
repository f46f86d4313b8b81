//! A small builder for SQL text with bound values, kept only for the trend
//! queries (every other statement is built with sea-query): the statement
//! is written once, with `bind` where a value goes, and gets `?`
//! placeholders on SQLite and `$n` on PostgreSQL/CockroachDB.

use sea_orm::{DbBackend, Statement, Value};

pub(crate) struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Sql {
            backend,
            text: String::new(),
            values: Vec::new(),
        }
    }

    /// Appends SQL text as written.
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub(crate) fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let mut sql = Sql::new(DbBackend::Postgres);
        sql.push("SELECT 1 WHERE a = ")
            .bind(1i64)
            .push(" AND b = ")
            .bind(2i64);
        assert_eq!(sql.build().sql, "SELECT 1 WHERE a = $1 AND b = $2");

        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("SELECT 1 WHERE a = ").bind(1i64);
        assert_eq!(sql.build().sql, "SELECT 1 WHERE a = ?");
    }
}
