//! The entities and the migrations describe the same schema. On each backend
//! a fresh database is migrated, then asked what it holds (SQLite through its
//! pragmas, PostgreSQL through its catalogs), and that is compared, table by
//! table, with what the entity module declares: columns in order with a
//! type class and nullability, the primary key and whether the database
//! numbers it, unique columns, foreign keys and secondary indexes (name and
//! columns in order). A second test creates the tables from the entities
//! themselves and finds the same, so the entities are also a schema SeaORM
//! can build, and a third reads through the relations on migrated tables.
//!
//! Types are compared as classes, not spellings: the two backends name the
//! same type differently, and SQLite keeps whatever the DDL wrote.

use std::collections::BTreeSet;

use dunder::store::entity::{
    hashtag, idempotency_key, live_mark, message, message_hashtag, trend_count, user, Index,
};
use migration::run_pending;
use sea_orm::sea_query::{ColumnType, StringLen, TableRef};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, Iden, Iterable, ModelTrait, PaginatorTrait, PrimaryKeyToColumn, PrimaryKeyTrait,
    QueryResult, RelationTrait, Schema, Set, Statement,
};

use crate::helpers::{Backend, TestDatabase};
use crate::on_every_backend;

/// A column type as far as the code can rely on it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TypeClass {
    SmallInt,
    Int,
    BigInt,
    /// With its length limit, which PostgreSQL enforces.
    VarChar(Option<u32>),
    Text,
    /// No length: neither backend enforces one on bytes.
    Bytes,
    TimestampTz,
    Other(String),
}

#[derive(Debug, PartialEq, Eq)]
struct ColumnShape {
    name: String,
    class: TypeClass,
    nullable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct IndexShape {
    name: String,
    columns: Vec<String>,
    unique: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKeyShape {
    columns: Vec<String>,
    to_table: String,
    to_columns: Vec<String>,
}

/// One table, as declared or as found.
#[derive(Debug, Default, PartialEq, Eq)]
struct TableShape {
    columns: Vec<ColumnShape>,
    primary_key: Vec<String>,
    /// The database numbers new rows (auto-increment, serial).
    numbered: bool,
    /// Single- or multi-column unique constraints, besides the primary key.
    unique: BTreeSet<Vec<String>>,
    foreign_keys: BTreeSet<ForeignKeyShape>,
    /// Secondary indexes: those not made by a key or unique constraint.
    indexes: BTreeSet<IndexShape>,
}

/// The schema as the entity module declares it, table by table.
fn declared(backend: DbBackend) -> Vec<(String, TableShape)> {
    vec![
        declared_table(user::Entity, backend, user::INDEXES),
        declared_table(hashtag::Entity, backend, hashtag::INDEXES),
        declared_table(message::Entity, backend, message::INDEXES),
        declared_table(message_hashtag::Entity, backend, message_hashtag::INDEXES),
        declared_table(trend_count::Entity, backend, trend_count::INDEXES),
        declared_table(live_mark::Entity, backend, live_mark::INDEXES),
        declared_table(idempotency_key::Entity, backend, idempotency_key::INDEXES),
    ]
}

fn declared_table<E: EntityTrait>(
    entity: E,
    backend: DbBackend,
    indexes: &[Index<E::Column>],
) -> (String, TableShape) {
    let columns = E::Column::iter()
        .map(|column| {
            let def = column.def();
            ColumnShape {
                name: column.to_string(),
                class: entity_class(def.get_column_type(), backend),
                nullable: def.is_null(),
            }
        })
        .collect();
    let unique = E::Column::iter()
        .filter(|column| column.def().is_unique())
        .map(|column| vec![column.to_string()])
        .collect();
    // A relation that is not the owner's side is the one holding the
    // foreign key (`belongs_to`).
    let foreign_keys = E::Relation::iter()
        .map(|relation| relation.def())
        .filter(|relation| !relation.is_owner)
        .map(|relation| ForeignKeyShape {
            columns: relation
                .from_col
                .into_iter()
                .map(|c| c.to_string())
                .collect(),
            to_table: table_name(&relation.to_tbl),
            to_columns: relation.to_col.into_iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    let indexes = indexes
        .iter()
        .map(|index| IndexShape {
            name: index.name.to_owned(),
            columns: index.column_names(),
            unique: false,
        })
        .collect();
    let shape = TableShape {
        columns,
        primary_key: E::PrimaryKey::iter()
            .map(|key| key.into_column().to_string())
            .collect(),
        numbered: E::PrimaryKey::auto_increment(),
        unique,
        foreign_keys,
        indexes,
    };
    (entity.table_name().to_owned(), shape)
}

fn table_name(table: &TableRef) -> String {
    match table {
        TableRef::Table(name) | TableRef::SchemaTable(_, name) => name.to_string(),
        other => panic!("an entity refers to {other:?}, not a table"),
    }
}

fn entity_class(column_type: &ColumnType, backend: DbBackend) -> TypeClass {
    match column_type {
        ColumnType::SmallInteger => TypeClass::SmallInt,
        // SQLite has one INTEGER, 64 bits wide, whatever the DDL called it.
        ColumnType::Integer if backend == DbBackend::Sqlite => TypeClass::BigInt,
        ColumnType::Integer => TypeClass::Int,
        ColumnType::BigInteger => TypeClass::BigInt,
        ColumnType::String(StringLen::N(length)) => TypeClass::VarChar(Some(*length)),
        ColumnType::String(_) => TypeClass::VarChar(None),
        ColumnType::Text => TypeClass::Text,
        ColumnType::Binary(_) | ColumnType::VarBinary(_) | ColumnType::Blob => TypeClass::Bytes,
        ColumnType::TimestampWithTimeZone => TypeClass::TimestampTz,
        other => TypeClass::Other(format!("{other:?}")),
    }
}

/// A declared SQLite type, as sea-query writes them.
fn sqlite_class(declared: &str) -> TypeClass {
    let declared = declared.to_ascii_lowercase();
    let (base, length) = match declared.split_once('(') {
        Some((base, rest)) => (base.trim(), rest.trim_end_matches(')').trim().parse().ok()),
        None => (declared.trim(), None),
    };
    match base {
        "smallint" => TypeClass::SmallInt,
        "integer" | "bigint" => TypeClass::BigInt,
        "varchar" => TypeClass::VarChar(length),
        "text" => TypeClass::Text,
        "blob" | "varbinary_blob" => TypeClass::Bytes,
        "timestamp_with_timezone_text" => TypeClass::TimestampTz,
        _ => TypeClass::Other(declared),
    }
}

fn postgres_class(data_type: &str, length: Option<i32>) -> TypeClass {
    match data_type {
        "smallint" => TypeClass::SmallInt,
        "integer" => TypeClass::Int,
        "bigint" => TypeClass::BigInt,
        "character varying" => TypeClass::VarChar(length.map(|l| l as u32)),
        "text" => TypeClass::Text,
        "bytea" => TypeClass::Bytes,
        "timestamp with time zone" => TypeClass::TimestampTz,
        other => TypeClass::Other(other.to_owned()),
    }
}

async fn rows(db: &DatabaseConnection, sql: &str, table: &str) -> Vec<QueryResult> {
    db.query_all(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        [table.into()],
    ))
    .await
    .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> T {
    row.try_get("", column)
        .unwrap_or_else(|error| panic!("{column}: {error}"))
}

/// Groups `(group, item)` rows, in row order, into the items of each group.
fn grouped<K: PartialEq, V>(pairs: Vec<(K, V)>) -> Vec<(K, Vec<V>)> {
    let mut groups: Vec<(K, Vec<V>)> = Vec::new();
    for (key, value) in pairs {
        match groups.last_mut() {
            Some((last, values)) if *last == key => values.push(value),
            _ => groups.push((key, vec![value])),
        }
    }
    groups
}

/// The tables the application owns (the migration runner's own excluded).
async fn found_tables(db: &DatabaseConnection) -> Vec<String> {
    let mut tables = crate::helpers::table_names(db).await;
    tables.retain(|name| name != "seaql_migrations");
    tables
}

async fn found_table(db: &DatabaseConnection, table: &str) -> TableShape {
    match db.get_database_backend() {
        DbBackend::Sqlite => sqlite_table(db, table).await,
        _ => postgres_table(db, table).await,
    }
}

async fn sqlite_table(db: &DatabaseConnection, table: &str) -> TableShape {
    let mut shape = TableShape::default();
    let mut key = Vec::new();
    for row in rows(
        db,
        r#"SELECT name, type, "notnull" AS not_null, pk FROM pragma_table_info(?) ORDER BY cid"#,
        table,
    )
    .await
    {
        let name: String = get(&row, "name");
        let position: i64 = get(&row, "pk");
        if position > 0 {
            key.push((position, name.clone()));
        }
        shape.columns.push(ColumnShape {
            class: sqlite_class(&get::<String>(&row, "type")),
            nullable: get::<i64>(&row, "not_null") == 0,
            name,
        });
    }
    key.sort();
    shape.primary_key = key.into_iter().map(|(_, name)| name).collect();

    // SQLite numbers every rowid table; AUTOINCREMENT is what promises a
    // number is never reused, and what the migrations ask for.
    let ddl: String = get(
        &rows(
            db,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            table,
        )
        .await[0],
        "sql",
    );
    shape.numbered = ddl.to_ascii_uppercase().contains("AUTOINCREMENT");

    for row in rows(
        db,
        r#"SELECT name, "unique" AS is_unique, origin FROM pragma_index_list(?) ORDER BY name"#,
        table,
    )
    .await
    {
        let name: String = get(&row, "name");
        let columns: Vec<String> = rows(
            db,
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
            &name,
        )
        .await
        .iter()
        .map(|row| get(row, "name"))
        .collect();
        match get::<String>(&row, "origin").as_str() {
            // The primary key's own index: the key is read from table_info.
            "pk" => {}
            "u" => {
                shape.unique.insert(columns);
            }
            _ => {
                shape.indexes.insert(IndexShape {
                    name,
                    columns,
                    unique: get::<i64>(&row, "is_unique") != 0,
                });
            }
        }
    }

    let links = rows(
        db,
        r#"SELECT id, "table" AS to_table, "from" AS from_column, "to" AS to_column
           FROM pragma_foreign_key_list(?) ORDER BY id, seq"#,
        table,
    )
    .await
    .iter()
    .map(|row| {
        (
            (get::<i64>(row, "id"), get::<String>(row, "to_table")),
            (
                get::<String>(row, "from_column"),
                get::<String>(row, "to_column"),
            ),
        )
    })
    .collect();
    for ((_, to_table), pairs) in grouped(links) {
        let (columns, to_columns) = pairs.into_iter().unzip();
        shape.foreign_keys.insert(ForeignKeyShape {
            columns,
            to_table,
            to_columns,
        });
    }
    shape
}

async fn postgres_table(db: &DatabaseConnection, table: &str) -> TableShape {
    let mut shape = TableShape::default();
    let mut defaults = Vec::new();
    for row in rows(
        db,
        "SELECT column_name::text AS name, data_type::text AS data_type, \
                character_maximum_length::int4 AS length, is_nullable::text AS nullable, \
                column_default::text AS default_value, is_identity::text AS identity \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    .await
    {
        let name: String = get(&row, "name");
        let default: Option<String> = get(&row, "default_value");
        let identity: String = get(&row, "identity");
        defaults.push((
            name.clone(),
            identity == "YES" || default.is_some_and(|d| d.starts_with("nextval(")),
        ));
        shape.columns.push(ColumnShape {
            class: postgres_class(&get::<String>(&row, "data_type"), get(&row, "length")),
            nullable: get::<String>(&row, "nullable") == "YES",
            name,
        });
    }

    let keys = rows(
        db,
        "SELECT con.conname::text AS name, con.contype::text AS kind, a.attname::text AS column_name \
         FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
         CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         WHERE ns.nspname = 'public' AND cl.relname = $1 AND con.contype IN ('p', 'u') \
         ORDER BY con.conname, k.ord",
        table,
    )
    .await
    .iter()
    .map(|row| {
        (
            (get::<String>(row, "name"), get::<String>(row, "kind")),
            get::<String>(row, "column_name"),
        )
    })
    .collect();
    for ((_, kind), columns) in grouped(keys) {
        if kind == "p" {
            shape.primary_key = columns;
        } else {
            shape.unique.insert(columns);
        }
    }
    shape.numbered = defaults
        .iter()
        .any(|(name, numbered)| *numbered && shape.primary_key.contains(name));

    let links = rows(
        db,
        "SELECT con.conname::text AS name, target.relname::text AS to_table, \
                a.attname::text AS from_column, ta.attname::text AS to_column \
         FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
         JOIN pg_class target ON target.oid = con.confrelid \
         CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, target_attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
         JOIN pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.target_attnum \
         WHERE ns.nspname = 'public' AND cl.relname = $1 AND con.contype = 'f' \
         ORDER BY con.conname, k.ord",
        table,
    )
    .await
    .iter()
    .map(|row| {
        (
            (get::<String>(row, "name"), get::<String>(row, "to_table")),
            (get::<String>(row, "from_column"), get::<String>(row, "to_column")),
        )
    })
    .collect();
    for ((_, to_table), pairs) in grouped(links) {
        let (columns, to_columns) = pairs.into_iter().unzip();
        shape.foreign_keys.insert(ForeignKeyShape {
            columns,
            to_table,
            to_columns,
        });
    }

    // Indexes of the table's own, that no key or unique constraint made.
    let indexes = rows(
        db,
        "SELECT ic.relname::text AS name, i.indisunique AS is_unique, a.attname::text AS column_name \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class tc ON tc.oid = i.indrelid \
         JOIN pg_namespace ns ON ns.oid = tc.relnamespace \
         CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
         WHERE ns.nspname = 'public' AND tc.relname = $1 \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
                           WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY ic.relname, k.ord",
        table,
    )
    .await
    .iter()
    .map(|row| {
        (
            (get::<String>(row, "name"), get::<bool>(row, "is_unique")),
            get::<String>(row, "column_name"),
        )
    })
    .collect();
    for ((name, unique), columns) in grouped(indexes) {
        shape.indexes.insert(IndexShape {
            name,
            columns,
            unique,
        });
    }
    shape
}

/// Every table of `db` is one the entities declare, and each agrees with
/// its entity.
async fn assert_agrees_with_entities(db: &DatabaseConnection) {
    let declared = declared(db.get_database_backend());
    let mut names: Vec<String> = declared.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    assert_eq!(
        found_tables(db).await,
        names,
        "the database has exactly the tables the entities declare"
    );
    for (table, expected) in declared {
        let found = found_table(db, &table).await;
        // Part by part, so that a failure names what differs.
        let part = |what: &str| format!("{table}: {what} (left: the database, right: the entity)");
        assert_eq!(found.columns, expected.columns, "{}", part("columns"));
        assert_eq!(
            found.primary_key,
            expected.primary_key,
            "{}",
            part("primary key")
        );
        assert_eq!(
            found.numbered,
            expected.numbered,
            "{}",
            part("key numbered by the database")
        );
        assert_eq!(found.unique, expected.unique, "{}", part("unique columns"));
        assert_eq!(
            found.foreign_keys,
            expected.foreign_keys,
            "{}",
            part("foreign keys")
        );
        assert_eq!(found.indexes, expected.indexes, "{}", part("indexes"));
        assert_eq!(found, expected);
    }
}

async fn migrated_schema_agrees_with_the_entities(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await.expect("connect");
    run_pending(&db).await.expect("migrate");
    assert_agrees_with_entities(&db).await;
}

/// The same comparison on a database built from the entities alone (tables
/// in an order that satisfies the foreign keys, then their indexes): the
/// entities are a complete schema, not only a reading of one.
async fn entities_create_the_same_schema(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await.expect("connect");
    let backend = db.get_database_backend();
    let schema = Schema::new(backend);
    let tables = [
        schema.create_table_from_entity(user::Entity),
        schema.create_table_from_entity(hashtag::Entity),
        schema.create_table_from_entity(message::Entity),
        schema.create_table_from_entity(message_hashtag::Entity),
        schema.create_table_from_entity(trend_count::Entity),
        schema.create_table_from_entity(live_mark::Entity),
        schema.create_table_from_entity(idempotency_key::Entity),
    ];
    for table in &tables {
        db.execute(backend.build(table))
            .await
            .expect("create a table");
    }
    create_indexes(&db, user::INDEXES).await;
    create_indexes(&db, hashtag::INDEXES).await;
    create_indexes(&db, message::INDEXES).await;
    create_indexes(&db, message_hashtag::INDEXES).await;
    create_indexes(&db, trend_count::INDEXES).await;
    create_indexes(&db, live_mark::INDEXES).await;
    create_indexes(&db, idempotency_key::INDEXES).await;
    assert_agrees_with_entities(&db).await;
}

async fn create_indexes<C: ColumnTrait>(db: &DatabaseConnection, indexes: &[Index<C>]) {
    let backend = db.get_database_backend();
    for index in indexes {
        db.execute(backend.build(&index.create_statement()))
            .await
            .expect("create an index");
    }
}

/// The relations join what the migrated tables hold: a message's author and
/// its hashtags (many-to-many, through the links), and a hashtag's messages.
async fn relations_join_the_migrated_tables(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let db = Database::connect(&database.url).await.expect("connect");
    run_pending(&db).await.expect("migrate");
    let now = chrono::Utc::now();

    let author = user::ActiveModel {
        name: Set("ada".to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .expect("a user");
    let mut tags = Vec::new();
    for name in ["rust", "sql"] {
        let tag = hashtag::ActiveModel {
            name: Set(name.to_owned()),
            display: Set(name.to_uppercase()),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("a hashtag");
        tags.push(tag);
    }
    let id = ulid::Ulid::new().to_bytes().to_vec();
    message::ActiveModel {
        id: Set(id.clone()),
        user_id: Set(author.id),
        text: Set("hello".to_owned()),
        created_at: Set(now),
    }
    .insert(&db)
    .await
    .expect("a message");
    for (position, tag) in tags.iter().enumerate() {
        message_hashtag::ActiveModel {
            hashtag_id: Set(tag.id),
            message_id: Set(id.clone()),
            user_id: Set(author.id),
            position: Set(position as i16),
        }
        .insert(&db)
        .await
        .expect("a link");
    }

    let found = message::Entity::find_by_id(id.clone())
        .find_also_related(user::Entity)
        .one(&db)
        .await
        .expect("a message with its author")
        .expect("the message");
    assert_eq!(found.0.text, "hello");
    assert_eq!(found.1.map(|u| u.name).as_deref(), Some("ada"));

    let with_tags = message::Entity::find()
        .find_with_related(hashtag::Entity)
        .all(&db)
        .await
        .expect("messages with their hashtags");
    let names: BTreeSet<String> = with_tags[0].1.iter().map(|h| h.name.clone()).collect();
    assert_eq!(with_tags.len(), 1);
    assert_eq!(names, BTreeSet::from(["rust".to_owned(), "sql".to_owned()]));

    let tagged = tags[1]
        .find_related(message::Entity)
        .all(&db)
        .await
        .expect("a hashtag's messages");
    assert_eq!(tagged.iter().map(|m| &m.id).collect::<Vec<_>>(), [&id]);
    let by_author = author
        .find_related(message::Entity)
        .count(&db)
        .await
        .expect("a user's messages");
    assert_eq!(by_author, 1);
}

on_every_backend!(
    migrated_schema_agrees_with_the_entities,
    entities_create_the_same_schema,
    relations_join_the_migrated_tables,
);
