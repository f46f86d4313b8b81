//! A listing's cost does not grow with the cursor's depth: on PostgreSQL,
//! every listing's plan walks an index in key order and stops at the page
//! size (no sort of the matching rows, no OFFSET), deep in the table as on
//! the first page.

use dunder::domain::listing::{MessageFilter, PageRequest};
use dunder::domain::{Cursor, Hashtag, MessageId, UserName};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_walk_indexes_at_any_depth() {
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
    for (name, filter) in filters {
        for cursor in [None, Some(deep)] {
            let plan = app
                .store
                .explain_list(&filter, &PageRequest::older(cursor, 100))
                .await
                .unwrap();
            let text = plan.join("\n");
            println!(
                "{name}, cursor {cursor:?} ({} lines):\n{text}\n",
                plan.len()
            );
            assert!(
                plan[0].starts_with("Limit"),
                "{name}: the plan stops at the page size:\n{text}"
            );
            assert!(text.contains("Index"), "{name}: walks an index:\n{text}");
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
        }
    }
}
