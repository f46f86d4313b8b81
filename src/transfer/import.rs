//! `dunder import`: JSON lines (as `dunder export` writes them) read back
//! into the database, a bounded batch of lines per transaction.
//!
//! A batch is read and validated whole before anything of it is written,
//! so a bad line stops the import with nothing of its batch written; the
//! batches before it are committed. Messages already stored are skipped,
//! so running the same import again (after fixing the line, or after an
//! interruption) finishes the work without counting anything twice.

use std::io::BufRead;

use super::line;
use super::progress::Progress;
use crate::store::{RestoreOutcome, Restored, TransferDb};

/// How an import ended, for its summary.
pub struct Imported {
    pub outcome: RestoreOutcome,
}

/// Reads `input` to its end, restoring `batch` lines per transaction.
/// With `count`, restored messages are added to the trend counters.
pub async fn read_lines(
    db: &TransferDb,
    input: &mut dyn BufRead,
    batch: usize,
    max_text_chars: usize,
    count: bool,
    progress: &Progress,
) -> anyhow::Result<Imported> {
    let mut total = RestoreOutcome::default();
    let mut pending: Vec<Restored> = Vec::with_capacity(batch);
    // The line number of the batch's first line: what is not yet written.
    let mut batch_start = 1;
    let mut number = 0u64;
    let mut text = String::new();
    loop {
        text.clear();
        number += 1;
        let read = input.read_line(&mut text).map_err(|error| {
            refused(
                number,
                batch_start,
                &total,
                &format!("cannot read: {error}"),
            )
        })?;
        if read == 0 {
            break;
        }
        if text.trim().is_empty() {
            continue;
        }
        let message = line::parse(text.trim_end_matches(['\n', '\r']), max_text_chars)
            .map_err(|reason| refused(number, batch_start, &total, &reason))?;
        pending.push(message);
        if pending.len() == batch {
            write(db, &mut pending, &mut total, count, progress)
                .await
                .map_err(|error| refused_batch(batch_start, number, &total, &error))?;
            batch_start = number + 1;
        }
    }
    write(db, &mut pending, &mut total, count, progress)
        .await
        .map_err(|error| refused_batch(batch_start, number - 1, &total, &error))?;
    Ok(Imported { outcome: total })
}

async fn write(
    db: &TransferDb,
    pending: &mut Vec<Restored>,
    total: &mut RestoreOutcome,
    count: bool,
    progress: &Progress,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let done = db.restore(pending, count).await?;
    total.inserted += done.inserted;
    total.skipped += done.skipped;
    progress.add(pending.len() as u64);
    pending.clear();
    Ok(())
}

/// A bad line: its number and why, and what was written before its batch.
fn refused(number: u64, batch_start: u64, total: &RestoreOutcome, reason: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "line {number}: {reason} ({}; nothing from line {batch_start} on was written)",
        written_before(batch_start, total)
    )
}

/// A batch the database refused.
fn refused_batch(
    first: u64,
    last: u64,
    total: &RestoreOutcome,
    error: &anyhow::Error,
) -> anyhow::Error {
    anyhow::anyhow!(
        "lines {first} to {last} could not be written: {error:#} ({}; nothing from line {first} on was written)",
        written_before(first, total)
    )
}

fn written_before(batch_start: u64, total: &RestoreOutcome) -> String {
    if batch_start <= 1 {
        return "no line before it was written".to_owned();
    }
    format!(
        "lines 1 to {} were imported: {} new, {} already there",
        batch_start - 1,
        total.inserted,
        total.skipped
    )
}
