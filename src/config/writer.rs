//! The write path's own limits: how long a post may wait for the
//! group-commit writer before it is refused (nothing written), and how many
//! database connections are kept for the writer alone, so that reads cannot
//! starve writes.

use super::section::settings_section;

settings_section! {
    /// Write path settings.
    section "writer", WriterSettings, WriterFlags, FileWriter;
    post_timeout_ms: u64 = 5000, 100..=600000, "writer.post-timeout-ms", "DUNDER_WRITER_POST_TIMEOUT_MS", "MS",
        "Writer: how long a post may wait to be written before it is refused with 503 (nothing is written)";
    connections: u32 = 2, 1..=64, "writer.connections", "DUNDER_WRITER_CONNECTIONS", "N",
        "Writer: database connections kept for writes, which reads cannot take";
}
