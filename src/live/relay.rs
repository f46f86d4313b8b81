//! Relays: how a post accepted by another Dunder process on the same
//! database reaches this process's subscribers. The database stays the one
//! source of truth; a relay only learns which ids are new, reads them from
//! the store and publishes them to the hub (which drops ids it has already
//! published, such as this process's own posts).
//!
//! - `notify` (PostgreSQL): each write batch runs `pg_notify` with its ids in
//!   its transaction; a LISTEN connection hears them on commit.
//! - `tail` (CockroachDB, which has no LISTEN/NOTIFY; usable on PostgreSQL
//!   and SQLite too): every interval, read the ids newer than a watermark a
//!   few seconds back, because rows can commit out of id order, then the
//!   messages not published yet.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DbBackend, DbErr, RuntimeErr};
use tokio::sync::watch;

use super::hub::Hub;
use crate::config::RelayMode;
use crate::domain::MessageId;
use crate::store::{Store, StoreError, NOTIFY_CHANNEL};

/// How far back the tail relay re-reads, for rows that commit late.
const TAIL_LOOKBACK: chrono::Duration = chrono::Duration::seconds(5);
/// Ids the tail relay reads per statement.
const TAIL_PAGE: u64 = 1000;

/// The relay a process runs, once `auto` is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveRelay {
    Notify,
    Tail,
    Off,
}

/// Resolves `mode` against the database and starts the relay task; it
/// stops when `shutdown` turns true.
pub async fn start(
    mode: RelayMode,
    store: Store,
    hub: Arc<Hub>,
    tail_interval: Duration,
    shutdown: watch::Receiver<bool>,
) -> Result<ActiveRelay, StoreError> {
    let relay = match mode {
        RelayMode::Off => ActiveRelay::Off,
        RelayMode::Notify => ActiveRelay::Notify,
        RelayMode::Tail => ActiveRelay::Tail,
        RelayMode::Auto => match store.backend() {
            DbBackend::Postgres if store.is_cockroach().await? => ActiveRelay::Tail,
            DbBackend::Postgres => ActiveRelay::Notify,
            _ => ActiveRelay::Off,
        },
    };
    match relay {
        ActiveRelay::Off => {}
        ActiveRelay::Notify => {
            if store.backend() != DbBackend::Postgres {
                return Err(StoreError::from(DbErr::Custom(
                    "live.relay notify needs PostgreSQL (use tail)".into(),
                )));
            }
            let mut listener = PgListener::connect(store.url()).await.map_err(sqlx_error)?;
            listener.listen(NOTIFY_CHANNEL).await.map_err(sqlx_error)?;
            store.enable_notify();
            tokio::spawn(run_notify(listener, store, hub, shutdown));
        }
        ActiveRelay::Tail => {
            tokio::spawn(run_tail(store, hub, tail_interval, shutdown));
        }
    }
    tracing::info!(?relay, "live relay started");
    Ok(relay)
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> StoreError {
    StoreError::from(DbErr::Conn(RuntimeErr::SqlxError(error)))
}

async fn run_notify(
    mut listener: PgListener,
    store: Store,
    hub: Arc<Hub>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let notification = tokio::select! {
            _ = shutdown.changed() => return,
            received = listener.recv() => received,
        };
        let payload = match notification {
            Ok(notification) => notification.payload().to_owned(),
            Err(error) => {
                // sqlx reconnects on the next recv; what was sent meanwhile
                // is lost to this relay (subscribers can resume from a cursor).
                tracing::warn!(%error, "LISTEN connection failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let ids: Vec<MessageId> = payload
            .split(',')
            .filter_map(|id| MessageId::parse("id", id).ok())
            .collect();
        publish(&store, &hub, &ids).await;
    }
}

/// Reads the `ids` not yet published from the store and publishes them in
/// id order.
async fn publish(store: &Store, hub: &Hub, ids: &[MessageId]) {
    let ids = hub.unpublished(ids);
    if ids.is_empty() {
        return;
    }
    match store.get_many(&ids).await {
        Ok(mut messages) => {
            messages.sort_by_key(|m| m.id);
            for message in messages {
                hub.publish(Arc::new(message));
            }
        }
        Err(error) => tracing::warn!(%error, "relay could not read new messages"),
    }
}

async fn run_tail(
    store: Store,
    hub: Arc<Hub>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut seen: HashSet<MessageId> = HashSet::new();
    let mut newest = store.now();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticker.tick() => {}
        }
        // Ids only, over the lookback window (an index-only read); whole
        // messages only for the few not seen yet.
        let watermark = newest - TAIL_LOOKBACK;
        let mut after = MessageId::lowest_at_or_after(watermark).predecessor();
        loop {
            let ids = match store.ids_after(after, TAIL_PAGE).await {
                Ok(ids) => ids,
                Err(error) => {
                    tracing::warn!(%error, "tail relay could not read message ids");
                    break;
                }
            };
            let full = ids.len() as u64 == TAIL_PAGE;
            if let Some(last) = ids.last() {
                after = *last;
                newest = newest.max(last.created_at());
            }
            let new: Vec<MessageId> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
            publish(&store, &hub, &new).await;
            if !full {
                break;
            }
        }
        // Only ids inside the lookback can be read again.
        let horizon = newest - TAIL_LOOKBACK - chrono::Duration::seconds(1);
        seen.retain(|id| id.created_at() >= horizon);
    }
}
