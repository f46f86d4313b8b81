//! Logging (a tracing subscriber, set up once) and the metrics exported on
//! `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use tracing_subscriber::EnvFilter;

use crate::config::LogLevel;
use crate::store::StoreStats;

/// Installs the global subscriber at `level`; `RUST_LOG`, when set, wins so
/// that a developer can raise one module's level without a config change.
pub fn init(level: LogLevel) {
    // sqlx's own chatter stays at warn, but its statement log (info, and
    // only on with `cockroach.debug`) must get through: that flag is how
    // an operator sees the SQL.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{},sqlx=warn,sqlx::query=info", level.as_filter()))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// The store's counters and the number of live subscribers, in the
/// Prometheus text exposition format.
pub fn render_metrics(stats: &StoreStats, live_subscribers: usize) -> String {
    let mut out = String::new();
    let counters = [
        (
            "dunder_messages_posted_total",
            "Messages committed.",
            &stats.posts,
        ),
        (
            "dunder_write_batches_total",
            "Group-commit transactions committed.",
            &stats.batches,
        ),
        (
            "dunder_transaction_retries_total",
            "Transactions retried after a serialization failure or deadlock.",
            &stats.transaction_retries,
        ),
        (
            "dunder_failed_posts_total",
            "Posts that could not be written.",
            &stats.failed_posts,
        ),
        (
            "dunder_sql_statements_total",
            "SQL statements sent to the database (one call of several, separated by semicolons, counts once).",
            &stats.statements,
        ),
        (
            "dunder_posts_unavailable_total",
            "Posts refused with 503 because they could not be written within the post timeout (nothing written).",
            &stats.posts_unavailable,
        ),
        (
            "dunder_write_attempts_unreachable_total",
            "Write attempts that could not reach the database or did not finish within the post timeout.",
            &stats.unreachable_attempts,
        ),
        (
            "dunder_commits_uncertain_total",
            "Commits whose outcome was lost with the connection, settled by writing again or reading back.",
            &stats.uncertain_commits,
        ),
        (
            "dunder_writer_restarts_total",
            "Times the writer task panicked and was started again.",
            &stats.writer_restarts,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
    }
    let _ = writeln!(
        out,
        "# HELP dunder_writer_healthy Whether posts can be written: the writer runs and reaches the database (1) or not (0)."
    );
    let _ = writeln!(out, "# TYPE dunder_writer_healthy gauge");
    let _ = writeln!(
        out,
        "dunder_writer_healthy {}",
        u8::from(stats.writer_healthy())
    );
    let _ = writeln!(
        out,
        "# HELP dunder_live_subscribers Live feeds open on this process."
    );
    let _ = writeln!(out, "# TYPE dunder_live_subscribers gauge");
    let _ = writeln!(out, "dunder_live_subscribers {live_subscribers}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_rendered_with_help_and_type() {
        let stats = StoreStats::default();
        stats.posts.store(3, Ordering::Relaxed);
        let text = render_metrics(&stats, 2);
        assert!(text.contains(
            "# TYPE dunder_messages_posted_total counter\ndunder_messages_posted_total 3\n"
        ));
        assert!(text.contains("# TYPE dunder_live_subscribers gauge\ndunder_live_subscribers 2\n"));
        for name in [
            "dunder_posts_unavailable_total",
            "dunder_writer_restarts_total",
            "dunder_write_attempts_unreachable_total",
            "dunder_commits_uncertain_total",
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} counter\n{name} 0\n")),
                "{name}"
            );
        }
        // A writer that is not running is not healthy.
        assert!(text.contains("dunder_writer_healthy 0\n"));
    }
}
