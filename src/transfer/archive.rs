//! `dunder archive`: the messages older than a date written to a file, the
//! file flushed to disk, then exactly those messages deleted.
//!
//! The delete takes its ids from the file it wrote, never from a date: a
//! message posted meanwhile (even one stamped before the date, that
//! committed after its page was read) is not in the file and so stays.
//! Each batch of ids is deleted in one transaction, with the messages'
//! hashtag links and idempotency records. Users, hashtags and the trend
//! counters (and their rollups) stay, so trends over archived days are
//! still true and the ids other code caches never change.

use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

use super::progress::Progress;
use crate::domain::MessageId;
use crate::store::TransferDb;

/// Ids deleted per transaction.
pub const DELETE_BATCH: usize = 500;

/// Only the id of a line: what the delete needs from the archive.
#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// Deletes the messages listed in the archive `path`, in batches; returns
/// how many were deleted.
pub async fn delete_archived(
    db: &TransferDb,
    path: &Path,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read back {}", path.display()))?;
    let mut deleted = 0;
    let mut ids = Vec::with_capacity(DELETE_BATCH);
    for (index, text) in BufReader::new(file).lines().enumerate() {
        let text = text.with_context(|| format!("cannot read back {}", path.display()))?;
        let line: IdOnly = serde_json::from_str(&text)
            .with_context(|| format!("{} line {}", path.display(), index + 1))?;
        let id = MessageId::parse("id", &line.id)
            .map_err(|error| anyhow::anyhow!("{} line {}: {error}", path.display(), index + 1))?;
        ids.push(id);
        if ids.len() == DELETE_BATCH {
            deleted += delete(db, path, &mut ids, progress).await?;
        }
    }
    deleted += delete(db, path, &mut ids, progress).await?;
    Ok(deleted)
}

async fn delete(
    db: &TransferDb,
    path: &Path,
    ids: &mut Vec<MessageId>,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let deleted = db.delete(ids).await.with_context(|| {
        format!(
            "cannot delete the archived messages; keep {}: it holds every message deleted so far \
             (archive the rest to another file)",
            path.display()
        )
    })?;
    progress.add(ids.len() as u64);
    ids.clear();
    Ok(deleted)
}
