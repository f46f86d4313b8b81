//! The writer's own connections (`writer.connections`): "reads cannot
//! starve it". The test takes every connection of the read pool and holds
//! it, so that no read can run; a post is still written and answered 201
//! at once, while a read sent before it waits for a connection, and gets
//! one (and sees the post) once the test lets them go. On both backends:
//! each has its own pools (SQLite's two open one file).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{Database, Pool};

use crate::helpers::{Backend, TestApp};
use crate::on_every_backend;

/// Far less than a starved post would take: the read pool's wait for a
/// connection (10 s) or the post timeout (5 s, then 503).
const PROMPTLY: Duration = Duration::from_secs(2);

/// Takes every connection `pool` may hold and checks that none is left.
async fn take_every_connection<DB: Database>(pool: &Pool<DB>) -> Vec<PoolConnection<DB>> {
    let most = pool.options().get_max_connections();
    let mut held = Vec::new();
    for _ in 0..most {
        let connection = tokio::time::timeout(Duration::from_secs(10), pool.acquire())
            .await
            .expect("a read connection within 10 s")
            .expect("a read connection");
        held.push(connection);
    }
    assert_eq!(pool.size(), most);
    assert_eq!(pool.num_idle(), 0);
    assert!(pool.try_acquire().is_none(), "no read connection is left");
    held
}

async fn a_post_is_written_while_every_read_connection_is_taken(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reads = app.store.connection();
    // The read pool's connections, held until dropped (one list is empty).
    let held = match backend {
        Backend::Sqlite => (
            take_every_connection(reads.get_sqlite_connection_pool()).await,
            Vec::new(),
        ),
        _ => (
            Vec::new(),
            take_every_connection(reads.get_postgres_connection_pool()).await,
        ),
    };

    // A read now has to wait for a connection.
    let read = {
        let url = app.url("/message");
        let client = app.client.clone();
        tokio::spawn(async move {
            crate::helpers::read(client.get(url).send().await.expect("GET /message")).await
        })
    };
    let started = Instant::now();
    let id = app.post_ok("alice", "written all the same", &[]).await;
    let took = started.elapsed();
    assert!(
        took < PROMPTLY,
        "the post took {took:?} with every read connection taken"
    );
    assert!(!read.is_finished(), "the read waits for a connection");

    drop(held);
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the read answered once connections are free")
        .expect("the read task");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        crate::helpers::ids(body["data"]["messages"].as_array().expect("messages")),
        [id]
    );
}

on_every_backend!(a_post_is_written_while_every_read_connection_is_taken);
