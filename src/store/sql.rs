//! A small builder for portable SQL text with bound values: the statement is
//! written once, with `bind` where a value goes, and gets `?` placeholders on
//! SQLite and `$n` on PostgreSQL/CockroachDB.

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

    /// Appends `(v1, v2, ...)`, e.g. for `IN` lists.
    pub(crate) fn bind_list<V: Into<Value>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        self.push("(");
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
        self.push(")")
    }

    /// Appends `(a, b), (c, d), ...`: the VALUES of a multi-row insert.
    pub(crate) fn bind_rows<R>(&mut self, rows: impl IntoIterator<Item = R>) -> &mut Self
    where
        R: IntoIterator<Item = Value>,
    {
        for (index, row) in rows.into_iter().enumerate() {
            if index > 0 {
                self.push(", ");
            }
            self.bind_list(row);
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
            .push(" AND b IN ")
            .bind_list([2i64, 3]);
        assert_eq!(sql.build().sql, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");

        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("INSERT INTO t VALUES ").bind_rows([
            vec![Value::from(1i64), Value::from("x")],
            vec![2i64.into(), "y".into()],
        ]);
        assert_eq!(sql.build().sql, "INSERT INTO t VALUES (?, ?), (?, ?)");
    }
}
