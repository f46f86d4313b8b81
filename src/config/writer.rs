//! The write path's own limits: how long a post may wait for the
//! group-commit writer before it is refused (nothing written), how many
//! database connections are kept for the writer alone, so that reads cannot
//! starve writes, and how long idempotency keys are remembered.

use super::section::settings_section;

settings_section! {
    /// Write path settings.
    section "writer", WriterSettings, WriterFlags;
    post_timeout_ms: u64 = 5000, 100..=600000, "writer.post-timeout-ms", "DUNDER_WRITER_POST_TIMEOUT_MS", "MS",
        "Writer: how long a post may wait to be written before it is refused with 503 (nothing is written)";
    connections: u32 = 2, 1..=64, "writer.connections", "DUNDER_WRITER_CONNECTIONS", "N",
        "Writer: database connections kept for writes, which reads cannot take";
    idempotency_retention_hours: u64 = 24, 24..=8760, "writer.idempotency-retention-hours", "DUNDER_WRITER_IDEMPOTENCY_RETENTION_HOURS", "HOURS",
        "Writer: how long an idempotency key is remembered (a retry within it gets the first answer)";
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{check_every_source, settings, with_file};
    use crate::config::{Settings, WriterSettings};

    /// The README: "`--writer.post_timeout_ms`, `--writer.connections` |
    /// 5000, 2", and "a post waits at most 5 s for the writer".
    #[test]
    fn defaults_without_file_or_flags() {
        let expected = WriterSettings {
            post_timeout_ms: 5_000,
            connections: 2,
            idempotency_retention_hours: 24,
        };
        assert_eq!(WriterSettings::default(), expected);
        assert_eq!(settings(&[]).writer, expected);
        // An empty section sets nothing.
        assert_eq!(with_file("writer: {}\n", &[]).unwrap().writer, expected);
    }

    #[test]
    fn each_setting_comes_from_the_file_a_variable_or_a_flag() {
        check_every_source(
            &WriterSettings::declared(),
            &[
                ("writer.post_timeout_ms", [1_000, 2_000, 3_000]),
                ("writer.connections", [11, 21, 31]),
                ("writer.idempotency_retention_hours", [25, 48, 72]),
            ],
            |s: &Settings| s.writer,
            [(1_000, 11, 25), (2_000, 21, 48), (3_000, 31, 72)].map(
                |(post_timeout_ms, connections, idempotency_retention_hours)| WriterSettings {
                    post_timeout_ms,
                    connections,
                    idempotency_retention_hours,
                },
            ),
        );
    }
}
