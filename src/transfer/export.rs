//! `dunder export`: the messages a filter selects, oldest first, one JSON
//! line each (see [`super::line`]), read in bounded keyset pages so that
//! memory stays flat however many there are.

use std::io::Write;

use anyhow::Context as _;

use super::line::Line;
use super::progress::Progress;
use crate::domain::listing::MessageFilter;
use crate::domain::MessageId;
use crate::store::TransferDb;

/// Messages read per page.
pub const PAGE: u64 = 500;

/// Writes every message of `filter` to `out`, oldest first; returns how
/// many.
pub async fn write_lines(
    db: &TransferDb,
    filter: &MessageFilter,
    out: &mut dyn Write,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let mut after: Option<MessageId> = None;
    let mut written = 0;
    loop {
        let page = db
            .page(filter, after, PAGE)
            .await
            .context("cannot read messages")?;
        for message in &page {
            serde_json::to_writer(&mut *out, &Line::of(message))
                .and_then(|()| out.write_all(b"\n").map_err(serde_json::Error::io))
                .context("cannot write the export")?;
        }
        written += page.len() as u64;
        progress.add(page.len() as u64);
        match page.last() {
            Some(last) if page.len() as u64 == PAGE => after = Some(last.id),
            _ => break,
        }
    }
    out.flush().context("cannot write the export")?;
    Ok(written)
}
