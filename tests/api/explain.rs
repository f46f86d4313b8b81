//! A listing's cost does not grow with the cursor's depth: on PostgreSQL,
//! every listing's plan walks an index in key order and stops at the page
//! size (no sort of the matching rows, no OFFSET), deep in the table as on
//! the first page, newest first and oldest first, with and without date
//! bounds. PostgreSQL only: the plans are PostgreSQL's (SQLite's are
//! checked by the listing benchmark's page-depth ratios).

use dunder::domain::listing::{MessageFilter, PageRequest};
use dunder::domain::{Cursor, Hashtag, MessageId, UserName};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_walk_indexes_at_any_depth_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // Enough rows that the planner prefers indexes for what they are good at.
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
    let deep = Cursor::new(
        MessageId::from_bytes(&{
            let mut bytes = [0u8; 16];
            bytes[14..].copy_from_slice(&5000u16.to_be_bytes());
            bytes
        })
        .unwrap(),
    );
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
