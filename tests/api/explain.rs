//! A listing's cost does not grow with the cursor's depth: on PostgreSQL,
//! every listing's plan walks an index in key order and stops at the page
//! size (no sort of the matching rows, no OFFSET), deep in the table as on
//! the first page, newest first and oldest first, with and without date
//! bounds. A lookup by ids (the relay's, the writer's read-back) is one
//! statement with one bound array whatever the number of ids, and walks
//! the primary key. PostgreSQL only: the plans are PostgreSQL's (SQLite's
//! are checked by the listing benchmark's page-depth ratios).

use dunder::domain::listing::{MessageFilter, PageRequest};
use dunder::domain::{Cursor, Hashtag, MessageId, UserName};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestApp};

/// A message id whose last two bytes are `n` (the ids of [`seed`]).
fn id(n: u16) -> MessageId {
    let mut bytes = [0u8; 16];
    bytes[14..].copy_from_slice(&n.to_be_bytes());
    MessageId::from_bytes(&bytes).unwrap()
}

/// Enough rows that the planner prefers indexes for what they are good at.
async fn seed(app: &TestApp) {
    let db = app.store.connection();
    for sql in [
        "INSERT INTO users (name, created_at) SELECT 'user' || g, now() FROM generate_series(1, 8) g",
        "INSERT INTO hashtags (name, display) SELECT 'tag' || g, 'tag' || g FROM generate_series(1, 4) g",
        // 20,000 messages with increasing 16-byte ids, by 8 users, each
        // with one of 4 tags, users and tags independent of each other.
        "INSERT INTO messages (id, user_id, text, created_at) \
         SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), 1 + (g / 4) % 8, 'm' || g, now() FROM generate_series(1, 20000) g",
        "INSERT INTO message_hashtags (hashtag_id, message_id, user_id, position) \
         SELECT 1 + g % 4, decode(lpad(to_hex(g), 32, '0'), 'hex'), 1 + (g / 4) % 8, 0 FROM generate_series(1, 20000) g",
        // What autovacuum does for a live table: statistics and the
        // visibility map (which makes index-only scans possible).
        "VACUUM ANALYZE",
    ] {
        db.execute(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_by_ids_walks_the_primary_key_whatever_their_number_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    seed(&app).await;
    for count in [1u16, 50, 256] {
        let ids: Vec<MessageId> = (0..count).map(|n| id(7 + n * 31)).collect();
        let plan = app.store.explain_get_many(&ids).await.unwrap();
        let text = plan.join("\n");
        println!("{count} ids ({} lines):\n{text}\n", plan.len());
        assert!(
            text.contains("messages_pkey") && text.contains("id = ANY"),
            "{count} ids: the primary key is walked for the array of ids:\n{text}"
        );
        assert!(
            text.contains("Index Scan using message_hashtags_message"),
            "{count} ids: each message's hashtags from their index:\n{text}"
        );
        for table in ["messages", "message_hashtags"] {
            assert!(
                !text.contains(&format!("Seq Scan on {table} ")),
                "{count} ids: no scan of {table}:\n{text}"
            );
        }
    }
    // What the plans stand for: the ids that exist, with their hashtags.
    let found = app
        .store
        .get_many(&[id(7), id(20_001), id(38)])
        .await
        .unwrap();
    let mut found: Vec<(MessageId, Vec<String>)> =
        found.into_iter().map(|m| (m.id, m.hashtags)).collect();
    found.sort();
    assert_eq!(
        found,
        [
            (id(7), vec!["tag4".to_owned()]),
            (id(38), vec!["tag3".to_owned()])
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_walk_indexes_at_any_depth_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    seed(&app).await;
    let deep = Cursor::new(id(5000));
    let user = || Some(UserName::parse("user_name", "user1").unwrap());
    let tag = || Some(Hashtag::parse("hashtag", "tag1").unwrap());
    let filters = [
        ("all", MessageFilter::default()),
        (
            "user",
            MessageFilter {
                user: user(),
                ..Default::default()
            },
        ),
        (
            "hashtag",
            MessageFilter {
                hashtag: tag(),
                ..Default::default()
            },
        ),
        (
            "hashtag and user",
            MessageFilter {
                hashtag: tag(),
                user: user(),
                ..Default::default()
            },
        ),
    ];
    // A day that holds every row (their ids carry the time 0): the date
    // bounds become id bounds in the index condition.
    let day = |mut filter: MessageFilter| {
        filter.from = Some(chrono::DateTime::UNIX_EPOCH);
        filter.to = Some(chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(1));
        filter
    };
    let filters: Vec<(String, MessageFilter)> = filters
        .into_iter()
        .flat_map(|(name, filter)| {
            [
                (name.to_owned(), filter.clone()),
                (format!("{name}, within a day"), day(filter)),
            ]
        })
        .collect();
    // Newest first (listings, `first`/`after`) and oldest first (`last`/
    // `before`, and a resume's replay).
    type Page = fn(Option<Cursor>, u64) -> PageRequest;
    let directions: [(&str, Page); 2] = [
        ("newest first", PageRequest::older),
        ("oldest first", PageRequest::newer),
    ];
    for (name, filter) in &filters {
        for (direction, page) in directions {
            for cursor in [None, Some(deep)] {
                let plan = app
                    .store
                    .explain_list(filter, &page(cursor, 100))
                    .await
                    .unwrap();
                let text = plan.join("\n");
                let name = format!("{name}, {direction}, cursor {cursor:?}");
                println!("{name} ({} lines):\n{text}\n", plan.len());
                assert!(
                    plan[0].starts_with("Limit"),
                    "{name}: the plan stops at the page size:\n{text}"
                );
                let walks = plan.iter().any(|line| {
                    let line = line.trim_start().trim_start_matches("->  ");
                    (line.starts_with("Index Scan") || line.starts_with("Index Only Scan"))
                        && (line.contains(" on messages ")
                            || line.contains(" on message_hashtags "))
                });
                assert!(
                    walks,
                    "{name}: walks an index of messages or their links:\n{text}"
                );
                assert!(
                    !text.contains("Sort"),
                    "{name}: no sort of the matching rows:\n{text}"
                );
                assert!(
                    !text.contains("Seq Scan on messages"),
                    "{name}: no scan of messages:\n{text}"
                );
                assert!(
                    !text.contains("Seq Scan on message_hashtags"),
                    "{name}: no scan of links:\n{text}"
                );
                if filter.from.is_some() {
                    assert!(
                        text.contains("Index Cond") && text.contains(">="),
                        "{name}: the date bounds are index bounds:\n{text}"
                    );
                }
            }
        }
    }
}
